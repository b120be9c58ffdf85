"""The leaves and queue updates the dispatcher writes: one ``send-decided`` leaf per decision,
before any handoff (R10), and one ``send-handed-off`` leaf per handoff with the server's reply.

Replies are recorded without the recipient's address (invariant 5: no personal data in leaves);
a 5xx refusal of the address (a 5.1.x or 5.2.1 status) suppresses it globally as a hard bounce
(R21), while a policy or content refusal fails that message only.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from consentry.domain.leaves import LeafDraft
from consentry.domain.policy import Decision
from consentry.domain.state import GLOBAL_SCOPE
from consentry.ports import ClaimedMessage, Handoff, MessageUpdate


@dataclass(frozen=True, slots=True)
class Pending:
    """An allowed message between its decision and its handoff."""

    claimed: ClaimedMessage
    decided_index: int
    checked_size: int
    attempt: int
    message_id: str


def redact(reply: str, *addresses: str | None) -> str:
    """The reply without the recipient's address (any case)."""
    folded = reply.casefold()
    for address in addresses:
        if address and address.casefold() in folded:
            reply = re.sub(re.escape(address), "<recipient>", reply, flags=re.IGNORECASE)
            folded = reply.casefold()
    return reply[:500]


def decision_leaf(
    at: datetime, campaign_id: str, message_id: str, subject: str, decision: Decision, attempt: int
) -> LeafDraft:
    ref = decision.justifying
    return LeafDraft("send-decided", at, {
        "campaign": campaign_id, "message": message_id, "subject": subject,
        "template_class": decision.template_class, "allowed": decision.allowed,
        "reason": decision.reason, "basis": decision.basis,
        "justifying_index": None if ref is None else ref.index,
        "justifying_hash": None if ref is None else ref.hash,
        "ruleset": decision.ruleset, "jurisdiction": decision.jurisdiction,
        "checked_size": decision.ledger_size, "attempt": attempt,
    })  # fmt: skip


def is_hard_bounce(handoff: Handoff) -> bool:
    """The address itself is refused (R21): an RFC 3463 status 5.1.x (bad mailbox, bad domain)
    or 5.2.1 (mailbox disabled); without an enhanced status, 550, 551 or 553 at RCPT. A policy
    or content refusal (5.7.x, 554 after the data) fails the message but suppresses nobody."""
    if handoff.outcome != "rejected":
        return False
    enhanced = handoff.enhanced
    if enhanced:
        return enhanced.startswith("5.1.") or enhanced == "5.2.1"
    return handoff.stage == "rcpt" and handoff.code in (550, 551, 553)


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    base_seconds: float = 60.0

    def next_at(self, now: datetime, attempt: int) -> datetime:
        """Exponential backoff: base, 2 base, 4 base, ..."""
        return now + timedelta(seconds=self.base_seconds * (2 ** max(0, attempt - 1)))


def outcome_records(
    at: datetime,
    campaign_id: str,
    handoffs: list[Handoff],
    retry: RetryPolicy,
    source: str,
) -> tuple[list[LeafDraft], list[MessageUpdate], dict[str, int]]:
    """Leaves and queue updates for a batch of handoffs, and counts by final state."""
    leaves: list[LeafDraft] = []
    updates: list[MessageUpdate] = []
    counts: dict[str, int] = {}
    for h in handoffs:
        item: Pending = h.key
        subject = item.claimed.subject
        if h.outcome == "withheld":
            updates.append(MessageUpdate(campaign_id, subject, "queued"))
            counts["withheld"] = counts.get("withheld", 0) + 1
            continue
        reply = redact(h.reply, item.claimed.literal, item.claimed.canonical)
        position = len(leaves)
        leaves.append(LeafDraft("send-handed-off", at, {
            "campaign": campaign_id, "message": item.message_id, "subject": subject,
            "decision": item.decided_index, "outcome": h.outcome, "code": h.code,
            "enhanced": h.enhanced, "reply": reply or None, "stage": h.stage,
        }))  # fmt: skip
        state, not_before = _next_state(h, item.attempt, retry, at)
        if state == "rejected" and is_hard_bounce(h):
            leaves.append(_bounce_leaf(at, subject, source))
        updates.append(
            MessageUpdate(campaign_id, subject, state, position, None, not_before, reply or None)
        )
        counts[state] = counts.get(state, 0) + 1
    return leaves, updates, counts


def _next_state(
    h: Handoff, attempt: int, retry: RetryPolicy, at: datetime
) -> tuple[str, datetime | None]:
    if h.outcome == "accepted":
        return "sent", None
    if h.outcome == "rejected":
        return ("rejected" if is_hard_bounce(h) else "failed"), None
    if h.outcome == "uncertain":
        return "uncertain", None
    if h.outcome == "deferred" and attempt < retry.max_attempts:
        return "queued", retry.next_at(at, attempt)
    return "failed", None


def _bounce_leaf(at: datetime, subject: str, source: str) -> LeafDraft:
    return LeafDraft("suppressed", at, {
        "record": uuid.uuid4().hex, "subject": subject, "scope": GLOBAL_SCOPE,
        "reason": "hard-bounce", "channel": "email", "actor": "dispatcher",
        "source": source, "evidence": None,
    })  # fmt: skip


def uncertain_records(
    at: datetime, campaign_id: str, orphans: list[ClaimedMessage], message_ids: dict[str, str]
) -> tuple[list[LeafDraft], list[MessageUpdate]]:
    """A dead worker's decided messages: their handoff may or may not have happened. Recorded
    as uncertain and never resent (invariant 8)."""
    leaves: list[LeafDraft] = []
    updates: list[MessageUpdate] = []
    for m in orphans:
        leaves.append(LeafDraft("send-handed-off", at, {
            "campaign": campaign_id, "message": message_ids[m.subject], "subject": m.subject,
            "decision": _decided(m),
            "outcome": "uncertain", "code": None, "enhanced": None,
            "reply": "the dispatcher stopped after the decision; the handoff may have happened",
            "stage": "recovery",
        }))  # fmt: skip
        updates.append(MessageUpdate(campaign_id, m.subject, "uncertain", len(leaves) - 1))
    return leaves, updates


def summary_counts(counts: dict[str, Any]) -> dict[str, int]:
    return {k: int(v) for k, v in counts.items()}


def _decided(m: ClaimedMessage) -> int:
    if m.decided_index is None:  # a decided row always has its decision's index
        raise ValueError(f"queue row of {m.subject} is decided but names no decision")
    return m.decided_index
