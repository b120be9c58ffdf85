"""``--profile``: where a send's time goes, from one extra untimed unsigned and signed 2 KB send
(20,000 recipients at most).

With py-spy on the PATH (``pip install py-spy``; ``--py-spy PATH`` to name it) the send runs
under ``py-spy record --subprocesses --format raw``: every thread of the sending process (the
decide and record threads, the event loop, the watcher) and the signing pool's processes are
sampled, and the raw stacks are summed here into each process's share and the top functions by
own time. Without py-spy it falls back to ``python -m cProfile``, which sees only the main
thread (the event loop): the decide and record threads and the pool are missing from it.
Files go to ``<out>/profile/``.
"""

from __future__ import annotations

import pstats
import re
import shutil
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from bench.dispatch import seed
from bench.dispatch.measure import Measure
from bench.dispatch.send import CLI, send
from bench.profiling import hot_spots

MAIN = "consentry.cli.main"
_LINE = re.compile(r":\d+\)$")


def summarise_raw(path: Path, top: int = 15) -> dict[str, Any]:
    """Shares of py-spy's raw samples: by process (sender or pool) and by own-time function."""
    own: Counter[str] = Counter()
    processes: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        total += n
        frames = stack.split(";")
        procs = [f for f in frames if f.startswith("process ")]
        processes["signing pool" if procs and "multiprocessing" in procs[-1] else "sender"] += n
        code = [f for f in frames if not f.startswith(("process ", "thread "))]
        if code:
            own[_LINE.sub(")", code[-1])] += n
    share = {k: v / total for k, v in processes.items()} if total else {}
    return {
        "samples": total,
        "process_share": share,
        "own": [{"function": f, "share": c / total} for f, c in own.most_common(top)],
    }


def _cprofile(path: Path) -> dict[str, Any]:
    stats = pstats.Stats(str(path))
    return {
        "total_s": float(stats.total_tt),  # type: ignore[attr-defined]
        "own": [
            {"function": f"{h.function} ({h.where})", "share": h.own_share}
            for h in hot_spots(stats, top=15)
        ],
    }


def profile_sends(m: Measure, out: Path, py_spy: str | None) -> dict[str, Any]:
    """Profile one unsigned and one signed send; see the module docstring."""
    count = min(m.plan.sqlite, 20_000)
    template = m.seed_sqlite(count)
    out.mkdir(parents=True, exist_ok=True)
    found: dict[str, Any] = {}
    try:
        for label, signed in (("unsigned", False), ("signed", True)):
            where = m.run_dir(f"profile-{label}")
            seeded = seed.copy_home(template, where / "home")
            if signed:
                seed.dkim_keygen(CLI, seeded)
            seed.create_campaign(seeded, "bench", m.texts[m.plan.small])
            if py_spy:
                path = out / f"dispatch-{label}.py-spy.txt"
                wrapper = [py_spy, "record", "--subprocesses", "--rate", "200", "--format", "raw",
                           "-o", str(path), "--", sys.executable, "-m", MAIN]  # fmt: skip
            else:
                path = out / f"dispatch-{label}.prof"
                wrapper = [sys.executable, "-m", "cProfile", "-o", str(path), "-m", MAIN]
            run = send(seeded, "bench", m.sink, where / "logs", wrapper=wrapper)
            shutil.rmtree(where / "home", ignore_errors=True)
            summary = summarise_raw(path) if py_spy else _cprofile(path)
            found[label] = {"tool": "py-spy" if py_spy else "cProfile (main thread only)",
                            "file": str(path), "messages": run.sent, "wall_s": run.wall_s,
                            **summary}  # fmt: skip
            m.log(f"  profiled {label}: {run.sent:,} in {run.wall_s:.1f} s -> {path}")
    finally:
        shutil.rmtree(template.home.parent, ignore_errors=True)
    return found
