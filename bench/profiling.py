"""``--profile``: one extra, untimed run of each measured call of ours under cProfile.

The stats go to ``bench/out/profile/<backend>-<measurement>.prof`` (open them with
``python -m pstats`` or snakeviz) and the top functions by own time are kept for the report.
"""

from __future__ import annotations

import cProfile
import pstats
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_SRC_MARK = "/src/consentry/"


@dataclass(frozen=True)
class HotSpot:
    function: str
    where: str  # file:line, shortened to the project (or the module for the stdlib)
    calls: int
    own_s: float
    cum_s: float
    own_share: float  # own time / the profiled run's total
    cum_share: float

    def to_json(self) -> dict[str, Any]:
        return {
            "function": self.function,
            "where": self.where,
            "calls": self.calls,
            "own_s": self.own_s,
            "cum_s": self.cum_s,
            "own_share": self.own_share,
            "cum_share": self.cum_share,
        }


def _where(filename: str, line: int) -> str:
    if _SRC_MARK in filename:
        return f"src/consentry/{filename.split(_SRC_MARK, 1)[1]}:{line}"
    if filename.startswith("~") or filename.startswith("<"):
        return filename
    parts = Path(filename).parts
    return f"{'/'.join(parts[-2:])}:{line}"


def hot_spots(stats: pstats.Stats, top: int = 12, ours_only: bool = False) -> list[HotSpot]:
    """The ``top`` functions by own time (``ours_only``: in src/consentry) with their shares."""
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total = float(stats.total_tt) or 1.0  # type: ignore[attr-defined]
    rows: list[HotSpot] = []
    for (filename, line, name), (_, calls, own, cum, _) in raw.items():
        if ours_only and _SRC_MARK not in filename:
            continue
        rows.append(
            HotSpot(name, _where(filename, line), int(calls), own, cum, own / total, cum / total)
        )
    rows.sort(key=lambda h: h.own_s, reverse=True)
    return rows[:top]


class Profiler:
    """Profiles one call per label when enabled; otherwise does nothing."""

    def __init__(self, out_dir: Path | None) -> None:
        self.out_dir = out_dir
        self.results: dict[str, dict[str, Any]] = {}

    @property
    def enabled(self) -> bool:
        return self.out_dir is not None

    def run(self, label: str, fn: Callable[[], object]) -> None:
        if self.out_dir is None:
            return
        self.out_dir.mkdir(parents=True, exist_ok=True)
        profile = cProfile.Profile()
        profile.enable()
        try:
            fn()
        finally:
            profile.disable()
        path = self.out_dir / f"{label}.prof"
        profile.dump_stats(path)
        stats = pstats.Stats(profile)
        self.results[label] = {
            "file": str(path),
            "total_s": float(stats.total_tt),  # type: ignore[attr-defined]
            "ours": [h.to_json() for h in hot_spots(stats, ours_only=True)],
            "all": [h.to_json() for h in hot_spots(stats)],
        }
