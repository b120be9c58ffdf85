"""The SQL stores' campaign tables and dispatch queue (schema 2), mixed into :class:`SQLStore`.

Queue rows change only inside the write transaction that appends the leaf justifying the change
(``Batch.messages``), except claiming, releasing and worker bookkeeping, which write no leaf. A
claim takes the rows in one statement: SQLite serialises it with ``BEGIN IMMEDIATE``; PostgreSQL
uses ``FOR UPDATE SKIP LOCKED`` (``sql/postgres/queries.sql``) so that any number of workers on
any number of hosts claim disjoint rows without waiting for each other.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from consentry.domain.leaves import Leaf, format_time, parse_time
from consentry.ports import ApprovalRow, Batch, CampaignRow, ClaimedMessage


class SQLDispatch:
    """Campaign and queue methods; relies on SQLStore's plumbing (``_exec``, ``_all``, ...)."""

    _exec: Callable[..., Any]
    _all: Callable[..., list[Any]]
    _one: Callable[..., Any]
    _many: Callable[..., None]
    _write: Callable[..., Any]
    _run: Callable[..., Any]
    _sql: Callable[[str], str]
    _placeholder: str
    _ids_of: Callable[[Sequence[str]], dict[str, int]]

    # --- inside append's transaction --------------------------------------------------------------

    def _write_dispatch(self, batch: Batch, placed: Sequence[Leaf], ids: dict[str, int]) -> None:
        self._many("put_campaign", [
            (c.campaign_id, c.list_id, c.template_class, c.jurisdiction, c.state,
             json.dumps(c.spec, sort_keys=True), c.content_hash, format_time(c.created_at),
             _index_of_kind(placed, "campaign-created", c.campaign_id))
            for c in batch.campaigns
        ])  # fmt: skip
        self._many("put_approval", [
            (a.campaign_id, a.actor, a.report, a.recipients, placed[a.leaf_index].seq)
            for a in batch.approvals
        ])  # fmt: skip
        rows = []
        for m in batch.messages:
            leaf = placed[m.leaf] if m.leaf is not None else None
            kind, seq = (leaf.kind, leaf.seq) if leaf is not None else (None, None)
            not_before = format_time(m.not_before) if m.not_before is not None else None
            rows.append((m.state, m.attempts, not_before, m.reply, kind, seq, kind, seq, m.state,
                         m.campaign_id, ids[m.subject]))  # fmt: skip
        self._many("update_message", rows)
        self._many("enqueue_message", [(c, ids[s]) for c, s in batch.enqueue])
        for name, value in batch.controls:
            if value is None:
                self._exec("drop_control", (name,))
            else:
                self._exec("put_control", (name, value))

    # --- campaigns --------------------------------------------------------------------------------

    @staticmethod
    def _campaign(row: Sequence[Any]) -> CampaignRow:
        return CampaignRow(
            row[0], row[1], row[2], row[3], row[4], json.loads(row[5]), row[6],
            parse_time(row[7]), int(row[8]),
        )  # fmt: skip

    def campaign(self, campaign_id: str) -> CampaignRow | None:
        row = self._one("campaign", (campaign_id,))
        return self._campaign(row) if row else None

    def campaign_state(self, campaign_id: str) -> str | None:
        row = self._one("campaign_state", (campaign_id,))
        return None if row is None else str(row[0])

    def campaigns(self) -> list[CampaignRow]:
        return [self._campaign(r) for r in self._all("campaigns")]

    def set_campaign_state(self, campaign_id: str, state: str, allowed_from: Sequence[str]) -> str:
        def work() -> str:
            row = self._exec("campaign_state", (campaign_id,)).fetchone()
            if row is None:
                return ""
            if row[0] in allowed_from:
                self._exec("set_campaign_state", (state, campaign_id))
            return str(row[0])

        result: str = self._write(work)
        return result

    def approvals(self, campaign_id: str) -> list[ApprovalRow]:
        return [
            ApprovalRow(r[0], r[1], r[2], int(r[3]), int(r[4]))
            for r in self._all("approvals", (campaign_id,))
        ]

    # --- the queue --------------------------------------------------------------------------------

    def enqueue_campaign(self, campaign_id: str, list_id: str) -> int:
        def work() -> int:
            cursor = self._exec("enqueue_campaign", (campaign_id, list_id))
            return int(cursor.rowcount or 0)

        added: int = self._write(work)
        return added

    @staticmethod
    def _claimed(campaign_id: str, row: Sequence[Any]) -> ClaimedMessage:
        decided = None if row[5] is None else int(row[5])
        return ClaimedMessage(campaign_id, row[1], int(row[4]), row[2], row[3], decided)

    def claim_messages(
        self, campaign_id: str, worker_id: str, limit: int, now: datetime
    ) -> list[ClaimedMessage]:
        def work() -> list[ClaimedMessage]:
            params = (worker_id, campaign_id, campaign_id, format_time(now), limit)
            ids = [int(r[0]) for r in self._exec("claim_messages", params).fetchall()]
            if not ids:
                return []
            sql = self._sql("claimed_details")
            if "{ids}" in sql:  # one placeholder per id (SQLite; at most `limit` of them)
                marks = ", ".join([self._placeholder] * len(ids))
                cursor = self._run(sql.format(ids=marks), (campaign_id, *ids))
            else:  # one array parameter (PostgreSQL)
                cursor = self._run(sql, (campaign_id, ids))
            return [self._claimed(campaign_id, r) for r in cursor.fetchall()]

        claimed: list[ClaimedMessage] = self._write(work, False)
        return claimed

    def release_messages(self, campaign_id: str, subjects: Sequence[str]) -> None:
        if not subjects:
            return

        def work() -> None:
            ids = self._ids_of(list(subjects))
            self._many("release_message", [(campaign_id, ids[s]) for s in subjects if s in ids])

        self._write(work, False)

    def mark_handing(self, campaign_id: str, subjects: Sequence[str]) -> None:
        if not subjects:
            return

        def work() -> None:
            ids = self._ids_of(list(subjects))
            self._many("mark_handing", [(campaign_id, ids[s]) for s in subjects if s in ids])

        self._write(work, False)

    def message_counts(self, campaign_id: str) -> dict[str, int]:
        return {r[0]: int(r[1]) for r in self._all("message_counts", (campaign_id,))}

    def messages_in_state(self, campaign_id: str, state: str) -> list[ClaimedMessage]:
        rows = self._all("messages_in_state", (campaign_id, state))
        return [self._claimed(campaign_id, r) for r in rows]

    # --- workers ----------------------------------------------------------------------------------

    def heartbeat(self, worker_id: str, campaign_id: str, now: datetime) -> None:
        params = (worker_id, campaign_id, format_time(now))
        self._write(lambda: self._exec("heartbeat", params), False)

    def stale_workers(self, campaign_id: str, seen_before: datetime) -> list[str]:
        rows = self._all("stale_workers", (campaign_id, format_time(seen_before), campaign_id))
        return sorted(r[0] for r in rows)

    def orphaned_messages(self, campaign_id: str, workers: Sequence[str]) -> list[ClaimedMessage]:
        def work() -> list[ClaimedMessage]:
            out: list[ClaimedMessage] = []
            for worker in workers:
                self._exec("requeue_orphans", (campaign_id, worker))
                rows = self._exec("orphaned_decided", (campaign_id, worker)).fetchall()
                out += [self._claimed(campaign_id, r) for r in rows]
            return out

        orphans: list[ClaimedMessage] = self._write(work)
        return orphans

    def forget_workers(self, workers: Sequence[str]) -> None:
        if workers:
            self._write(lambda: self._many("forget_worker", [(w,) for w in workers]))

    # --- what the dispatcher watches --------------------------------------------------------------

    def objections_since(self, index: int) -> tuple[int, list[tuple[int, str]]]:
        # Size first: an objection appended after this read is seen by the next poll.
        size = int(self._one("size")[0])
        rows = self._all("objections_since", (index,))
        return size, [(int(r[0]), r[1]) for r in rows if int(r[0]) < size]

    def control(self, name: str) -> str | None:
        row = self._one("control", (name,))
        return None if row is None else str(row[0])


def _index_of_kind(placed: Sequence[Leaf], kind: str, campaign_id: str) -> int:
    for leaf in placed:
        if leaf.kind == kind and leaf.fields.get("campaign") == campaign_id:
            return leaf.seq
    return -1
