"""Append: leaves per second through ``append_sealed`` against plain INSERTs of the same rows.

Ours is the product path: leaf encoding and validation, leaf hashes, Merkle nodes, projection
rows, address and evidence side rows, and a signed checkpoint, in one transaction per batch.
The reference inserts the very rows ours stored (same seq, kind, subject, at, leaf bytes and
hash) into ``bench_plain_leaves``: the columns, primary key and subject index of
``ledger_leaves`` without its triggers, in the same database with the same durability settings,
one transaction per batch. Runs alternate ours and plain so that drift hits both alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bench import data
from bench.common import Backend, PlainConn, Sample, WallClock, timed
from bench.profiling import Profiler
from consentry.ports import Batch, KeyRing
from consentry.services.context import Context
from consentry.services.ledger import append_sealed

PURPOSE = "append"
_COLUMNS = "seq, kind, subject, at, leaf, leaf_hash"


def plain_ddl(placeholder: str) -> list[str]:
    big, blob = ("BIGINT", "BYTEA") if placeholder == "%s" else ("INTEGER", "BLOB")
    return [
        f"CREATE TABLE bench_plain_leaves (seq {big} PRIMARY KEY, kind TEXT NOT NULL, "
        f"subject TEXT, at TEXT NOT NULL, leaf {blob} NOT NULL, leaf_hash {blob} NOT NULL)",
        "CREATE INDEX bench_plain_leaves_subject ON bench_plain_leaves (subject) "
        "WHERE subject IS NOT NULL",
    ]


@dataclass(frozen=True)
class AppendPlan:
    """How many batches of each size make one run."""

    batches: dict[int, int]  # batch size -> batches per run
    runs: int


@dataclass
class AppendResult:
    batch: int
    batches_per_run: int
    ours: Sample
    plain: Sample

    @property
    def ratio(self) -> float:
        return self.ours.median / self.plain.median

    def to_json(self) -> dict[str, Any]:
        return {
            "batch": self.batch,
            "batches_per_run": self.batches_per_run,
            "leaves_per_run": self.batch * self.batches_per_run,
            "ours": self.ours.to_json(),
            "plain": self.plain.to_json(),
            "ratio_ours_over_plain": self.ratio,
        }


def _stored_rows(plain: PlainConn, start: int, end: int) -> list[tuple[Any, ...]]:
    p = plain.placeholder
    # The same rows, with the subject ref itself (the store keeps a dense id instead).
    sql = (
        "SELECT l.seq, l.kind, s.subject, l.at, l.leaf, l.leaf_hash FROM ledger_leaves l "
        f"LEFT JOIN subjects s ON s.id = l.subject_id WHERE l.seq >= {p} AND l.seq < {p} "
        "ORDER BY l.seq"
    )
    return [tuple(r) for r in plain.fetch_all(sql, (start, end))]


def _chunks(rows: Sequence[tuple[Any, ...]], size: int) -> list[Sequence[tuple[Any, ...]]]:
    return [rows[i : i + size] for i in range(0, len(rows), size)]


class AppendBench:
    def __init__(self, backend: Backend, keys: KeyRing, plan: AppendPlan) -> None:
        self.backend = backend
        self.keys = keys
        self.plan = plan
        self._next_person = 10_000_000  # away from the audience's people

    def _batches(self, size: int, count: int) -> list[Batch]:
        people = data.make_people(self.keys.subject_key(), size * count, self._next_person)
        self._next_person += size * count
        at = datetime.now(UTC)
        return list(data.grant_batches(people, size, at))

    def run(self, profiler: Profiler, log: Any) -> list[AppendResult]:
        store = self.backend.open_store(PURPOSE)
        plain = self.backend.connect(PURPOSE)
        ctx = Context(store, self.keys, WallClock())
        marks = ", ".join([plain.placeholder] * 6)
        insert = f"INSERT INTO bench_plain_leaves ({_COLUMNS}) VALUES ({marks})"
        try:
            plain.script(plain_ddl(plain.placeholder))
            out: list[AppendResult] = []
            for size, count in self.plan.batches.items():
                result = AppendResult(size, count, Sample("leaves/s"), Sample("leaves/s"))
                for run in range(self.plan.runs):
                    batches = self._batches(size, count)
                    start = store.size()

                    def ours(batches: list[Batch] = batches) -> None:
                        for batch in batches:
                            append_sealed(ctx, batch)

                    t_ours = timed(ours)
                    chunks = _chunks(_stored_rows(plain, start, store.size()), size)

                    def reference(chunks: list[Sequence[tuple[Any, ...]]] = chunks) -> None:
                        for chunk in chunks:
                            plain.insert_many(insert, chunk)

                    t_plain = timed(reference)
                    leaves = size * count
                    result.ours.values.append(leaves / t_ours)
                    result.plain.values.append(leaves / t_plain)
                    log(
                        f"  append batch {size:>5} run {run + 1}: ours {leaves / t_ours:>9,.0f} "
                        f"leaves/s, plain {leaves / t_plain:>9,.0f} leaves/s"
                    )
                if profiler.enabled:
                    batches = self._batches(size, count)

                    def profiled(batches: list[Batch] = batches) -> None:
                        for batch in batches:
                            append_sealed(ctx, batch)

                    profiler.run(f"{self.backend.name.lower()}-append-{size}", profiled)
                out.append(result)
            return out
        finally:
            plain.close()
            store.close()
