"""Verify: ``verify_ledger`` on a store of N leaves against hashing the same leaf bytes alone.

The reference is the floor of any verifier: SHA-256 of each leaf's bytes with hashlib, over the
bytes already in memory (read once, untimed). Ours reads the store, recomputes every leaf hash,
checks every leaf's place, every signed checkpoint and the stored Merkle nodes. The ratio is
raw time / our time: our speed as a fraction of raw hashing speed. ``workers`` > 1 is
``ledger verify --workers``: worker processes read and hash while the main one builds the tree
(measured as extra information; the reference stays single-threaded).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.common import PlainConn, Sample, timed
from bench.profiling import Profiler
from consentry.services.context import Context
from consentry.services.ledger import VerifyReport, verify_ledger


@dataclass
class VerifyResult:
    workers: int
    leaves: int
    leaf_bytes: int
    ours: Sample = field(default_factory=lambda: Sample("s"))
    raw: Sample = field(default_factory=lambda: Sample("s"))
    report: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        return self.raw.median / self.ours.median

    def to_json(self) -> dict[str, Any]:
        return {
            "workers": self.workers,
            "leaves": self.leaves,
            "leaf_bytes": self.leaf_bytes,
            "ours": self.ours.to_json(),
            "raw_sha256": self.raw.to_json(),
            "ratio_raw_over_ours": self.ratio,
            "verify_report": {k: v for k, v in self.report.items() if k != "root_hash"},
        }


def _hash_all(leaves: list[bytes]) -> None:
    sha256 = hashlib.sha256
    for raw in leaves:
        sha256(raw).digest()


def _verify_once(ctx: Context, workers: int) -> tuple[float, VerifyReport]:
    start = time.perf_counter()
    report = verify_ledger(ctx, workers=workers)
    return time.perf_counter() - start, report


def run_verify(
    ctx: Context,
    plain: PlainConn,
    workers: Sequence[int],
    runs: int,
    profiler: Profiler,
    label: str,
    log: Any,
) -> list[VerifyResult]:
    leaves = [bytes(r[0]) for r in plain.fetch_all("SELECT leaf FROM ledger_leaves ORDER BY seq")]
    size = sum(map(len, leaves))
    results = [VerifyResult(n, len(leaves), size) for n in workers]
    for run in range(runs):
        for result in results:
            n = result.workers
            t_ours, report = _verify_once(ctx, n)
            t_raw = timed(lambda: _hash_all(leaves))
            result.ours.values.append(t_ours)
            result.raw.values.append(t_raw)
            result.report = report.to_json()
            log(
                f"  verify (workers={n}) run {run + 1}: ours {t_ours:.2f} s, "
                f"raw sha256 {t_raw:.3f} s"
            )
            if not report.ok or report.size != len(leaves):
                log(f"  [red]verify_ledger did not pass on the bench store: {result.report}[/]")
    profiler.run(f"{label}-verify", lambda: verify_ledger(ctx))
    return results
