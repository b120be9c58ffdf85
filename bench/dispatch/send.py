"""One measured send: the real CLI in subprocesses, timed and watched from outside.

``consentry campaign send NAME --smtp smtp://127.0.0.1:PORT --base-url https://bench.example
--json --connections 10 --batch 1000`` runs with ``CONSENTRY_HOME``, ``CONSENTRY_DATABASE_URL``
and ``CONSENTRY_APPROVAL_THRESHOLD=100000000`` (no approvals needed). ``workers`` such processes
start at once on the same campaign (PostgreSQL shares the queue between them). The wall time runs
from just before the first start to the moment the last one has exited, so it includes
interpreter start-up, opening the store, queueing, recovery and the final report: nothing is
excluded. Each process's JSON summary (with the dispatcher's own ``rate_per_second``) is kept.

Each process is watched through ``/proc`` (:mod:`bench.dispatch.procfs`): its peak RSS
(``VmHWM``, the memory figure reported), the peak RSS of its whole tree, and the CPU seconds of
the process and of its helpers (the signing pool); the sink's CPU seconds over the run are taken
too. ``ru_maxrss`` from ``os.wait4`` is kept in the JSON but is not a measure of consentry: Linux
carries into it the high-water mark of the image ``exec`` replaced, this benchmark's own process
at the fork, so it reads the same ~145 MB for every run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.dispatch import workload
from bench.dispatch.procfs import TreeWatch
from bench.dispatch.seed import Seeded, opened
from bench.dispatch.sink import Sink

CLI = Path(sys.executable).parent / "consentry"
THRESHOLD = "100000000"


@dataclass(frozen=True)
class SendRun:
    """What one measured send did, from outside the processes and from their JSON."""

    workers: int
    wall_s: float
    status: dict[str, Any]  # campaign_status after the last process exited
    summaries: list[dict[str, Any]]
    max_rss_kb: list[int]  # os.wait4 ru_maxrss, per process (see the module docstring)
    hwm_kb: list[int]  # sampled VmHWM, per process
    tree_peak_kb: list[int]  # sampled peak RSS of each process's tree
    received: int  # by the sink's counter
    load_before: float  # the 1-minute load average when the run started (a shared machine)
    cpu_main_s: float  # CPU seconds of the sending process(es)
    cpu_helpers_s: float  # of their descendants (the DKIM signing pool)
    cpu_sink_s: float  # of smtp-sink during the run
    rss_split_kb: list[dict[str, int]]  # per process: peak RssAnon ("anon") and RssFile ("file")

    @property
    def sent(self) -> int:
        return int(self.status.get("sent", 0))

    @property
    def rate(self) -> float:
        """Messages sent per second of wall time around the subprocesses."""
        return self.sent / self.wall_s

    @property
    def dispatcher_rate(self) -> float:
        """The dispatchers' own figure: the sum of the processes' ``rate_per_second``."""
        return float(sum(s.get("rate_per_second", 0.0) for s in self.summaries))

    def to_json(self) -> dict[str, Any]:
        return {
            "workers": self.workers,
            "wall_s": self.wall_s,
            "sent": self.sent,
            "rate": self.rate,
            "dispatcher_rate": self.dispatcher_rate,
            "received_by_sink": self.received,
            "status": self.status,
            "summaries": self.summaries,
            "vm_hwm_kb": self.hwm_kb,
            "tree_peak_rss_kb": self.tree_peak_kb,
            "rss_peaks_kb": self.rss_split_kb,
            "wait4_maxrss_kb_not_ours": self.max_rss_kb,
            "load_before": self.load_before,
            "cpu_s": {
                "sender": self.cpu_main_s,
                "helpers": self.cpu_helpers_s,
                "sink": self.cpu_sink_s,
            },
        }


def command(campaign: str, sink: Sink, wrapper: Sequence[str] = ()) -> list[str]:
    """The ``campaign send`` command line; ``wrapper`` (a profiler) replaces the ``consentry``
    script with its own command that runs ``consentry.cli.main``."""
    args = ["campaign", "send", campaign, "--smtp", sink.url, "--base-url", workload.BASE_URL,
            "--json", "--connections", "10", "--batch", "1000"]  # fmt: skip
    if wrapper:
        return [*wrapper, *args]
    return [str(CLI), *args]


def environment(seeded: Seeded) -> dict[str, str]:
    return dict(
        os.environ,
        CONSENTRY_HOME=str(seeded.home),
        CONSENTRY_DATABASE_URL=seeded.url,
        CONSENTRY_APPROVAL_THRESHOLD=THRESHOLD,
    )


def _summary(out: Path, err: Path, code: int) -> dict[str, Any]:
    text = out.read_text()
    if code != 0:
        raise RuntimeError(f"campaign send exited with {code}: {err.read_text()[-2000:]}")
    try:
        # The first JSON object printed (a profiler may print around it).
        parsed: dict[str, Any] = json.JSONDecoder().raw_decode(text[text.index("{") :])[0]
    except ValueError as exc:
        raise RuntimeError(f"campaign send printed no JSON summary: {text[-1000:]!r}") from exc
    return parsed


def send(
    seeded: Seeded,
    campaign: str,
    sink: Sink,
    logs: Path,
    workers: int = 1,
    wrapper: Sequence[str] = (),
) -> SendRun:
    """Run ``workers`` ``campaign send`` processes on ``campaign`` at once and wait for all."""
    logs.mkdir(parents=True, exist_ok=True)
    env = environment(seeded)
    before = sink.settled()
    load = os.getloadavg()[0]
    sink_cpu = sink.cpu_seconds()
    procs: list[tuple[subprocess.Popen[bytes], TreeWatch, Path, Path]] = []
    start = time.perf_counter()
    for n in range(workers):
        out, err = logs / f"send-{n}.out", logs / f"send-{n}.err"
        with out.open("wb") as o, err.open("wb") as e:
            proc = subprocess.Popen(command(campaign, sink, wrapper), env=env, stdout=o, stderr=e)
        procs.append((proc, TreeWatch(proc.pid).start(), out, err))
    rss: list[int] = []
    codes: list[int] = []
    for proc, sampler, _, _ in procs:
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        sampler.stop()
        codes.append(proc.returncode)
        rss.append(int(usage.ru_maxrss))
    wall = time.perf_counter() - start
    sink_cpu = sink.cpu_seconds() - sink_cpu
    summaries = [_summary(o, e, c) for (_, _, o, e), c in zip(procs, codes, strict=True)]
    from consentry.services.campaigns import campaign_status

    with opened(seeded.url, seeded.home) as ctx:
        final = campaign_status(ctx, campaign)
    return SendRun(
        workers=workers,
        wall_s=wall,
        status=final,
        summaries=summaries,
        max_rss_kb=rss,
        hwm_kb=[w.hwm_kb for _, w, _, _ in procs],
        tree_peak_kb=[w.tree_peak_kb for _, w, _, _ in procs],
        received=sink.settled() - before,
        load_before=load,
        cpu_main_s=sum(w.main_cpu_s for _, w, _, _ in procs),
        cpu_helpers_s=sum(w.helpers_cpu_s for _, w, _, _ in procs),
        cpu_sink_s=sink_cpu,
        rss_split_kb=[{"anon": w.anon_peak_kb, "file": w.file_peak_kb} for _, w, _, _ in procs],
    )
