"""Synthetic campaign ledgers, written fast with ``Store.append`` batches (one transaction and
one signed checkpoint per batch), with the shape a real campaign leaves:

* the organisation, the list, its notice and the campaign, through the services;
* one first-party consent with evidence per recipient (subjects are the real HMAC of
  ``u<i>@example.org``, with address and evidence rows, so a subject pack finds them);
* 1 % of the recipients withdraw before the send (their decisions deny);
* the send: per batch of recipients, the decisions (``checked_size`` the size read before them),
  then the handoffs: 0.5 % rejected, 0.1 % uncertain, the rest accepted;
* 0.05 % of recipients unsubscribe during the campaign, after their handoff.

This is the ledger the dispatcher writes, without the SMTP: the audit only reads leaves.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from consentry.domain.addresses import parse_address, subject_ref
from consentry.domain.leaves import LeafDraft
from consentry.domain.profiles import Jurisdiction, OrganisationType, configure_organisation
from consentry.domain.state import LeafRef
from consentry.ports import AddressRow, Batch, EvidenceBlob
from consentry.services import campaigns, consent
from consentry.services.context import Context

LIST = "news"
CAMPAIGN = "bench-news"
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
Log = Callable[[str], None]


@dataclass
class Built:
    recipients: int
    leaves: int
    seconds: float
    decisions: int
    allowed: int
    delivered: int
    sample: list[str]

    def to_json(self) -> dict[str, Any]:
        return {
            "recipients": self.recipients, "leaves": self.leaves, "build_seconds": self.seconds,
            "decisions": self.decisions, "allowed": self.allowed, "delivered": self.delivered,
        }  # fmt: skip


class FixedTime:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at


def email(i: int) -> str:
    return f"u{i}@example.org"


def _seal(ctx: Context, batch: Batch) -> list[LeafRef]:
    return list(ctx.store.append(batch, seal=ctx.keys.sign_checkpoint).refs)


def setup(ctx: Context) -> str:
    org = configure_organisation("Bench Ltd", OrganisationType.COMMERCIAL, Jurisdiction.UK)
    consent.configure(ctx, org, "bench")
    consent.create_list(ctx, LIST, "News", "bench")
    text = consent.publish_notice(ctx, LIST, "Email me the news.", "bench").notice
    spec = campaigns.CampaignSpec(
        name=CAMPAIGN, list_id=LIST, subject="News", text="Hello {{ email }}\n", html=None,
        from_address="news@example.com", reply_to="help@example.com",
    )  # fmt: skip
    campaigns.create_campaign(ctx, spec, "bench")
    return text


def build(ctx: Context, recipients: int, log: Log, chunk: int = 10_000) -> Built:
    """Write the campaign ledger; ``ctx.clock`` must be a :class:`FixedTime` (moved here)."""
    started = time.perf_counter()
    clock = ctx.clock
    assert isinstance(clock, FixedTime)
    clock.at = T0
    text = setup(ctx)
    key = ctx.keys.subject_key()
    subjects: list[str] = []
    refs: list[LeafRef] = []
    for start in range(0, recipients, chunk):
        batch = Batch()
        for i in range(start, min(start + chunk, recipients)):
            address = parse_address(email(i))
            subject = subject_ref(key, address)
            blob = b'{"items":{"ip":"203.0.113.9","form":"signup-v3"},"n":"%d"}' % i
            evidence = hashlib.sha256(blob).hexdigest()
            batch.leaves.append(LeafDraft("consent-given", T0, {
                "record": uuid.uuid4().hex, "subject": subject, "controller": "Bench Ltd",
                "list": LIST, "channel": "email", "basis": "consent", "jurisdiction": "uk",
                "language": "en", "notice": text, "form_version": None, "method": "web-form",
                "valid_until": None, "actor": "bench", "source": "first-party",
                "evidence": evidence, "facts": {},
            }))  # fmt: skip
            batch.addresses.append(AddressRow(subject, address.literal, address.canonical))
            batch.evidence.append(EvidenceBlob(evidence, subject, blob))
            subjects.append(subject)
        refs.extend(_seal(ctx, batch))
        log(f"  consents {len(subjects):,}/{recipients:,}")
    withdrawn = set(range(0, recipients, 100))
    at = T0 + timedelta(hours=1)
    for start in range(0, recipients, chunk * 5):
        stop = min(start + chunk * 5, recipients)
        _seal(ctx, Batch(leaves=[_withdrawal(subjects[i], at) for i in withdrawn
                                 if start <= i < stop]))  # fmt: skip
    decisions = allowed = delivered = 0
    at = T0 + timedelta(hours=2)
    for start in range(0, recipients, chunk):
        read = ctx.store.size()
        drafts, sent = [], []
        for i in range(start, min(start + chunk, recipients)):
            at += timedelta(milliseconds=2)
            ok = i not in withdrawn
            drafts.append(_decision(subjects[i], refs[i] if ok else None, at, read))
            if ok:
                sent.append(i)
        first = ctx.store.size()
        _seal(ctx, Batch(leaves=drafts))
        decisions += len(drafts)
        allowed += len(sent)
        handoffs, objections = [], []
        for n, i in enumerate(sent):
            outcome = "rejected" if i % 200 == 7 else "uncertain" if i % 1000 == 3 else "accepted"
            delivered += outcome != "rejected"
            handoffs.append(_handoff(subjects[i], first + (i - start), outcome, at))
            if i % 2000 == 11 and n:
                objections.append(_withdrawal(subjects[i], at))
        _seal(ctx, Batch(leaves=handoffs))
        if objections:
            _seal(ctx, Batch(leaves=objections))
        if (start // chunk) % 10 == 0:
            log(f"  decisions {decisions:,}/{recipients:,}, ledger {ctx.store.size():,} leaves")
    clock.at = at + timedelta(minutes=1)
    sample = [email(i) for i in range(5, recipients, max(1, recipients // 20))][:20]
    return Built(recipients, ctx.store.size(), time.perf_counter() - started, decisions,
                 allowed, delivered, sample)  # fmt: skip


def message_id(subject: str) -> str:
    return f"{CAMPAIGN}.{hashlib.sha256(subject.encode()).hexdigest()[:24]}@example.com"


def _decision(subject: str, ref: LeafRef | None, at: datetime, read: int) -> LeafDraft:
    return LeafDraft("send-decided", at, {
        "campaign": CAMPAIGN, "message": message_id(subject), "subject": subject,
        "template_class": "marketing", "allowed": ref is not None,
        "reason": "consent-given" if ref else "suppressed-withdrawal",
        "basis": "consent" if ref else None,
        "justifying_index": ref.index if ref else None,
        "justifying_hash": ref.hash if ref else None,
        "ruleset": "2026.11.1", "jurisdiction": "uk", "checked_size": read, "attempt": 1,
    })  # fmt: skip


def _handoff(subject: str, decision: int, outcome: str, at: datetime) -> LeafDraft:
    code = {"accepted": 250, "rejected": 550}.get(outcome)
    return LeafDraft("send-handed-off", at, {
        "campaign": CAMPAIGN, "message": message_id(subject), "subject": subject,
        "decision": decision, "outcome": outcome, "code": code,
        "enhanced": "5.7.1" if outcome == "rejected" else None,
        "reply": "250 2.0.0 OK" if code == 250 else None, "stage": "dot",
    })  # fmt: skip


def _withdrawal(subject: str, at: datetime) -> LeafDraft:
    return LeafDraft("consent-withdrawn", at, {
        "record": uuid.uuid4().hex, "subject": subject, "list": LIST, "channel": "email",
        "method": "one-click", "actor": "bench", "source": "first-party", "evidence": None,
    })  # fmt: skip
