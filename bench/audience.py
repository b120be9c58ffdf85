"""Bulk decisions: ``decide_audience`` over M subjects against a plain SQL join.

Ours takes a ``send_context`` for the list and decides every subject of the audience (the
store's flat audience rows, then the policy once per row key: ``policy_bulk.decide_rows``).
The reference puts the same subject refs, in the same order, in a table ``bench_audience`` and
fetches ``bench_audience LEFT JOIN proj_consent`` (the consent columns the store reads) for the
list into Python: one row per audience member, no suppressions, no policy.

As extra information (no target), ``decide_list`` decides everyone with a record on the list,
streamed from the store without an audience.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bench import data
from bench.common import PlainConn, Sample, timed
from bench.profiling import Profiler
from consentry.services.context import Context
from consentry.services.gate import decide_audience, decide_list, send_context

_CONSENT_COLUMNS = (
    "subject, list_id, status, basis, jurisdiction, method, source, notice, evidence, given_at, "
    "valid_until, confirmed, grant_index, grant_hash, justifying_index, justifying_hash, "
    "changed_index, changed_hash, facts, record_id"
)
_INSERT_CHUNK = 10_000


@dataclass
class AudienceResult:
    subjects: int
    ours: Sample = field(default_factory=lambda: Sample("decisions/s"))
    plain: Sample = field(default_factory=lambda: Sample("rows/s"))
    reasons: dict[str, int] = field(default_factory=dict)
    plain_rows: int = 0
    by_list: Sample = field(default_factory=lambda: Sample("decisions/s"))
    by_list_decisions: int = 0

    @property
    def ratio(self) -> float:
        return self.ours.median / self.plain.median

    def to_json(self) -> dict[str, Any]:
        return {
            "subjects": self.subjects,
            "ours": self.ours.to_json(),
            "plain_join": self.plain.to_json(),
            "ratio_ours_over_plain": self.ratio,
            "decision_reasons": self.reasons,
            "plain_rows": self.plain_rows,
            "decide_list": {
                "decisions": self.by_list_decisions,
                "ours": self.by_list.to_json(),
                "ratio_over_plain_join": self.by_list.median / self.plain.median,
            },
        }


def load_audience(plain: PlainConn, subjects: Sequence[str], analyze: bool) -> None:
    p = plain.placeholder
    plain.script(["CREATE TABLE bench_audience (pos INTEGER PRIMARY KEY, subject TEXT NOT NULL)"])
    insert = f"INSERT INTO bench_audience (pos, subject) VALUES ({p}, {p})"
    rows = list(enumerate(subjects))
    for i in range(0, len(rows), _INSERT_CHUNK):
        plain.insert_many(insert, rows[i : i + _INSERT_CHUNK])
    if analyze:  # what autovacuum does after a bulk load; the planner needs the row counts
        plain.script(
            [f"ANALYZE {t}" for t in ("bench_audience", "proj_consent", "proj_suppression")]
        )


def run_audience(
    ctx: Context,
    plain: PlainConn,
    subjects: Sequence[str],
    runs: int,
    profiler: Profiler,
    label: str,
    log: Any,
) -> AudienceResult:
    load_audience(plain, subjects, analyze=plain.placeholder == "%s")
    p = plain.placeholder
    join = (
        f"SELECT a.subject, {', '.join('c.' + c.strip() for c in _CONSENT_COLUMNS.split(','))} "
        f"FROM bench_audience a LEFT JOIN subjects s ON s.subject = a.subject "
        f"LEFT JOIN proj_consent c ON c.subject_id = s.id AND c.list_id = {p}"
    )
    result = AudienceResult(len(subjects))
    reasons: Counter[str] = Counter()

    def ours() -> None:
        reasons.clear()
        context = send_context(ctx, data.LIST_ID)
        for _, decision in decide_audience(ctx, context, subjects):
            reasons[decision.reason] += 1

    def whole_list() -> None:
        context = send_context(ctx, data.LIST_ID)
        result.by_list_decisions = sum(1 for _ in decide_list(ctx, context))

    def reference() -> None:
        result.plain_rows = len(plain.fetch_all(join, (data.LIST_ID,)))

    for run in range(runs):
        t_ours = timed(ours)
        t_plain = timed(reference)
        t_list = timed(whole_list)
        result.ours.values.append(len(subjects) / t_ours)
        result.plain.values.append(len(subjects) / t_plain)
        result.by_list.values.append(result.by_list_decisions / t_list)
        log(
            f"  audience run {run + 1}: decide_audience {t_ours:.2f} s "
            f"({len(subjects) / t_ours:,.0f}/s), join {t_plain:.2f} s "
            f"({len(subjects) / t_plain:,.0f}/s), decide_list {t_list:.2f} s "
            f"({result.by_list_decisions / t_list:,.0f}/s)"
        )
    result.reasons = dict(reasons.most_common())
    profiler.run(f"{label}-audience", ours)
    return result
