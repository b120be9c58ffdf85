"""``python -m bench.dispatch``: campaign dispatch against smtp-sink, smtp-source and openssl.

One run starts Postfix's ``smtp-sink`` on a free loopback port (only the sink; it is killed at
the end), sizes the templates with a probe, then measures (see ``bench/dispatch/measure.py``):

1. unsigned 2 KB and 20 KB campaigns on SQLite against ``smtp-source -s 10`` to the same sink
   (target: ours / smtp-source >= 1.0);
2. an RSA-2048-signed 2 KB campaign against one core's raw RSA-2048 sign/s times the cores
   (target >= 0.6), and against the naive smtplib + EmailMessage + dkimpy loop (target >= 30);
3. PostgreSQL with 2 ``campaign send`` workers against 1 (the scaling is reported);
4. with ``--memory``, the peak RSS of sending a 1,000,000-recipient campaign (target < 500 MB).

Every send is the real ``consentry campaign send`` in a subprocess, with every decision and
handoff leaf durable (SQLite WAL + synchronous=FULL; PostgreSQL synchronous_commit=on). Figures
are medians with their ranges; the JSON goes to ``--out`` (``bench/out/dispatch.json``, or
``dispatch-only-<parts>.json`` with ``--only``). ``docs/benchmarks.md`` explains the figures.
Benchmarks print; they never assert timings.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console

from bench.common import DEFAULT_PG, postgres_problem
from bench.dispatch.machine import machine, postgres_settings, sqlite_settings
from bench.dispatch.measure import Measure, Plan
from bench.dispatch.probe import probe
from bench.dispatch.profiles import profile_sends
from bench.dispatch.report import render, verdicts
from bench.dispatch.sink import Sink
from bench.ledger import Log, source_state

OUT_DIR = Path(__file__).resolve().parent.parent / "out"
QUICK = 5_000
PARTS = ("sqlite", "naive", "postgres", "memory")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.dispatch", description=(__doc__ or "").split("\n")[0]
    )
    p.add_argument("--quick", action="store_true", help=f"{QUICK:,} recipients everywhere")
    p.add_argument(
        "--memory",
        action="store_true",
        help="also the peak-memory run of a 1,000,000-recipient campaign",
    )
    p.add_argument(
        "--runs",
        type=int,
        help="runs of each measurement (default: 1 for >= 100,000 recipients, 3 for smaller ones)",
    )
    p.add_argument("--recipients", type=int, default=200_000, help="SQLite runs (%(default)s)")
    p.add_argument(
        "--pg-recipients", type=int, default=50_000, help="PostgreSQL runs (%(default)s)"
    )
    p.add_argument("--naive", type=int, default=2_000, help="naive messages (%(default)s)")
    p.add_argument(
        "--memory-recipients", type=int, default=1_000_000, help="the memory run (%(default)s)"
    )
    p.add_argument(
        "--postgres",
        default=DEFAULT_PG,
        help="server; a schema bench_dispatch_<random>_<n> per run (%(default)s)",
    )
    p.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL runs")
    p.add_argument(
        "--only",
        action="append",
        choices=PARTS,
        help="run only this part (repeatable; 'memory' implies --memory); the JSON then goes "
        "to dispatch-only-<parts>.json",
    )
    p.add_argument(
        "--profile",
        action="store_true",
        help="an extra untimed profiled send, unsigned and signed (py-spy, else cProfile)",
    )
    p.add_argument("--py-spy", help="the py-spy binary for --profile (default: on the PATH)")
    p.add_argument("--out", type=Path, default=OUT_DIR, help="directory for dispatch.json")
    p.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    return p.parse_args(argv)


def parts_of(args: argparse.Namespace) -> set[str]:
    """The parts to run: ``--only``'s, or all but the memory run unless ``--memory``."""
    if args.only:
        return set(args.only)
    return {"sqlite", "naive", "postgres"} | ({"memory"} if args.memory else set())


def plan_for(args: argparse.Namespace) -> Plan:
    with_memory = "memory" in parts_of(args)
    if args.quick:
        memory = QUICK if with_memory else None
        return Plan(QUICK, QUICK, min(args.naive, QUICK), memory, args.runs)
    memory = args.memory_recipients if with_memory else None
    return Plan(args.recipients, args.pg_recipients, args.naive, memory, args.runs)


def _terminate(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # run the finally blocks: kill the sink, drop the schemas


def measure_all(
    args: argparse.Namespace, plan: Plan, fig: dict[str, Any], work: Path, log: Log
) -> None:
    """Everything measured with the one sink; the figures go into ``fig`` as they come."""
    with Sink(work) as sink:
        log(f"smtp-sink on {sink.address} (log {sink.log})")
        log("probe: sizing the templates with 20 real messages ...")
        found = probe(work / "probe", plan.small, plan.big)
        fig["probe"] = found.to_json()
        log(f"  overhead {found.overhead} B; wire sizes {found.sizes}")
        m = Measure(plan, work, sink, found.overhead, log)
        parts = parts_of(args)
        try:
            if "sqlite" in parts:
                log(f"[bold]SQLite[/], {plan.sqlite:,} recipients:")
                fig["sqlite"] = m.sqlite()
            if "naive" in parts:
                log(f"[bold]naive baseline[/], {plan.naive:,} messages:")
                fig["naive"] = m.naive()
            if "postgres" in parts and "skipped" not in fig["postgres"]:
                log(f"[bold]PostgreSQL[/], {plan.postgres:,} recipients, 1 and 2 workers:")
                fig["postgres"] = m.postgres(args.postgres)
            if plan.memory:
                log(f"[bold]memory[/], {plan.memory:,} recipients:")
                fig["memory"] = m.memory()
            if args.profile:
                log("[bold]profiles[/]:")
                py_spy = args.py_spy or shutil.which("py-spy")
                fig["profiles"] = profile_sends(m, args.out / "profile", py_spy)
        finally:
            fig["references"] = m.references()


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _terminate)
    args = parse_args(argv)
    plan = plan_for(args)
    console = Console() if sys.stdout.isatty() else Console(width=160)
    log = Log(console)
    work = Path(tempfile.mkdtemp(prefix="consentry-bench-dispatch-"))
    work.chmod(0o755)  # the sink runs as postfix and writes the probe's dumps below it
    durability: dict[str, Any] = {"sqlite": sqlite_settings(work / "settings.sqlite")}
    fig: dict[str, Any] = {
        "meta": {
            "started_at": datetime.now(UTC).isoformat(),
            "argv": sys.argv[1:] if argv is None else argv,
            "source": source_state(),
            "machine": machine(),
            "plan": plan.to_json(),
            "durability": durability,
        },
        "postgres": {},
    }
    mach = fig["meta"]["machine"]
    log(f"machine: {mach['cores']} cores, {mach['cpu_model']}; plan {fig['meta']['plan']}")
    if args.no_postgres:
        fig["postgres"] = {"skipped": "--no-postgres"}
    elif (problem := postgres_problem(args.postgres)) is not None:
        fig["postgres"] = {"skipped": f"{args.postgres} unreachable: {problem}"}
        console.print(f"[yellow]PostgreSQL skipped: {problem}[/]")
    else:
        durability["postgres"] = postgres_settings(args.postgres)
    try:
        measure_all(args, plan, fig, work, log)
    finally:
        if args.keep:
            log(f"work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    fig["verdicts"] = verdicts(fig)
    fig["meta"]["elapsed_s"] = time.perf_counter() - log.t0
    fig["meta"]["source_at_end"] = source_state()
    if fig["meta"]["source"]["src_sha256"] != fig["meta"]["source_at_end"]["src_sha256"]:
        console.print("[yellow]src changed while the benchmark ran (meta.source_at_end)[/]")
    args.out.mkdir(parents=True, exist_ok=True)
    only = "-".join(sorted(args.only or []))
    path = args.out / (f"dispatch-only-{only}.json" if only else "dispatch.json")
    path.write_text(json.dumps(fig, indent=2) + "\n")
    render(console, fig)
    console.print(f"figures written to {path} ({fig['meta']['elapsed_s']:.0f} s in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
