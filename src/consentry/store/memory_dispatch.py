"""The memory store's campaign tables and dispatch queue: the reference for the SQL ones."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from consentry.domain.leaves import Leaf
from consentry.domain.state import Projection
from consentry.ports import ApprovalRow, Batch, CampaignRow, ClaimedMessage

OBJECTION_KINDS = frozenset({"consent-withdrawn", "suppressed", "subject-erased"})
FINAL_STATES = frozenset({"sent", "denied", "rejected", "failed", "uncertain"})


@dataclass(slots=True)
class _Row:
    state: str = "queued"
    attempts: int = 0
    not_before: datetime | None = None
    claimed_by: str | None = None
    decided_index: int | None = None
    outcome_index: int | None = None
    reply: str | None = None


class MemoryDispatch:
    _lock: threading.Lock
    _projection: Projection
    _objections: list[tuple[int, str]]

    def _init_dispatch(self) -> None:
        self._campaigns: dict[str, CampaignRow] = {}
        self._approvals: dict[str, list[ApprovalRow]] = {}
        self._queue: dict[str, dict[str, _Row]] = {}
        self._workers: dict[str, tuple[str, datetime]] = {}
        self._controls: dict[str, str] = {}
        self._objections = []

    def _write_dispatch(self, batch: Batch, placed: Sequence[Leaf]) -> None:
        """Inside append's lock, after the leaves are placed."""
        for leaf in placed:
            subject = leaf.subject()
            if leaf.kind in OBJECTION_KINDS and subject is not None:
                self._objections.append((leaf.seq, subject))
        for c in batch.campaigns:
            seq = next(
                (p.seq for p in placed
                 if p.kind == "campaign-created" and p.fields["campaign"] == c.campaign_id), -1,
            )  # fmt: skip
            self._campaigns[c.campaign_id] = replace(c, created_index=seq)
        for a in batch.approvals:
            approval = replace(a, leaf_index=placed[a.leaf_index].seq)
            self._approvals.setdefault(a.campaign_id, []).append(approval)
        for m in batch.messages:
            row = self._queue.setdefault(m.campaign_id, {}).setdefault(m.subject, _Row())
            row.state = m.state
            if m.attempts is not None:
                row.attempts = m.attempts
            row.not_before = m.not_before
            if m.reply is not None:
                row.reply = m.reply
            if m.leaf is not None:
                leaf = placed[m.leaf]
                if leaf.kind == "send-decided":
                    row.decided_index = leaf.seq
                elif leaf.kind == "send-handed-off":
                    row.outcome_index = leaf.seq
            if m.state not in ("claimed", "decided", "handing"):
                row.claimed_by = None
        for campaign_id, subject in batch.enqueue:
            row = self._queue.setdefault(campaign_id, {}).setdefault(subject, _Row())
            if row.state in FINAL_STATES:
                row.state, row.not_before, row.claimed_by, row.reply = "queued", None, None, None
        for name, value in batch.controls:
            if value is None:
                self._controls.pop(name, None)
            else:
                self._controls[name] = value

    def campaign(self, campaign_id: str) -> CampaignRow | None:
        return self._campaigns.get(campaign_id)

    def campaign_state(self, campaign_id: str) -> str | None:
        found = self._campaigns.get(campaign_id)
        return None if found is None else found.state

    def campaigns(self) -> list[CampaignRow]:
        return sorted(self._campaigns.values(), key=lambda c: c.created_index)

    def set_campaign_state(self, campaign_id: str, state: str, allowed_from: Sequence[str]) -> str:
        with self._lock:
            found = self._campaigns.get(campaign_id)
            if found is None:
                return ""
            if found.state in allowed_from:
                self._campaigns[campaign_id] = replace(found, state=state)
            return found.state

    def approvals(self, campaign_id: str) -> list[ApprovalRow]:
        return list(self._approvals.get(campaign_id, []))

    def enqueue_campaign(self, campaign_id: str, list_id: str) -> int:
        with self._lock:
            queue = self._queue.setdefault(campaign_id, {})
            added = 0
            for subject, records in self._projection.consents.items():
                if list_id in records and subject not in queue:
                    queue[subject] = _Row()
                    added += 1
            return added

    def _claimed(self, campaign_id: str, subject: str, row: _Row) -> ClaimedMessage:
        address = self._addresses.get(subject)  # type: ignore[attr-defined]
        literal = address.literal if address is not None else None
        canonical = address.canonical if address is not None else None
        return ClaimedMessage(
            campaign_id, subject, row.attempts, literal, canonical, row.decided_index
        )

    def claim_messages(
        self, campaign_id: str, worker_id: str, limit: int, now: datetime
    ) -> list[ClaimedMessage]:
        with self._lock:
            out: list[ClaimedMessage] = []
            for subject, row in self._queue.get(campaign_id, {}).items():
                if len(out) >= limit:
                    break
                if row.state == "queued" and (row.not_before is None or row.not_before <= now):
                    row.state, row.claimed_by = "claimed", worker_id
                    out.append(self._claimed(campaign_id, subject, row))
            return out

    def release_messages(self, campaign_id: str, subjects: Sequence[str]) -> None:
        with self._lock:
            queue = self._queue.get(campaign_id, {})
            for subject in subjects:
                row = queue.get(subject)
                if row is not None and row.state in ("claimed", "decided", "handing"):
                    row.state, row.claimed_by = "queued", None

    def mark_handing(self, campaign_id: str, subjects: Sequence[str]) -> None:
        with self._lock:
            queue = self._queue.get(campaign_id, {})
            for subject in subjects:
                row = queue.get(subject)
                if row is not None and row.state == "decided":
                    row.state = "handing"

    def message_counts(self, campaign_id: str) -> dict[str, int]:
        counts: dict[str, int] = {}
        for row in self._queue.get(campaign_id, {}).values():
            counts[row.state] = counts.get(row.state, 0) + 1
        return counts

    def messages_in_state(self, campaign_id: str, state: str) -> list[ClaimedMessage]:
        return [
            self._claimed(campaign_id, s, r)
            for s, r in self._queue.get(campaign_id, {}).items()
            if r.state == state
        ]

    def heartbeat(self, worker_id: str, campaign_id: str, now: datetime) -> None:
        self._workers[worker_id] = (campaign_id, now)

    def stale_workers(self, campaign_id: str, seen_before: datetime) -> list[str]:
        stale = {w for w, (c, at) in self._workers.items() if c == campaign_id and at < seen_before}
        claimers = {r.claimed_by for r in self._queue.get(campaign_id, {}).values()}
        stale |= {w for w in claimers if w is not None and w not in self._workers}
        return sorted(stale)

    def orphaned_messages(self, campaign_id: str, workers: Sequence[str]) -> list[ClaimedMessage]:
        with self._lock:
            out: list[ClaimedMessage] = []
            for subject, row in self._queue.get(campaign_id, {}).items():
                if row.claimed_by in workers:
                    if row.state in ("claimed", "decided"):
                        row.state, row.claimed_by = "queued", None
                    elif row.state == "handing":
                        out.append(self._claimed(campaign_id, subject, row))
            return out

    def forget_workers(self, workers: Sequence[str]) -> None:
        for worker in workers:
            self._workers.pop(worker, None)

    def objections_since(self, index: int) -> tuple[int, list[tuple[int, str]]]:
        with self._lock:
            size = len(self._raw)  # type: ignore[attr-defined]
            return size, [(seq, s) for seq, s in self._objections if seq >= index]

    def control(self, name: str) -> str | None:
        return self._controls.get(name)
