"""``python -m bench.web``: one-click unsubscribe POSTs against a static endpoint of the same
server, with wrk.

For each backend (SQLite, then PostgreSQL in a fresh schema ``bench_web_<random>`` dropped at
the end): seed the subscribers through the services, write one valid one-click path per
subscriber (shuffled, split into one file per round so no token is sent twice), start the real
``consentry serve`` (uvicorn, one process) on a free loopback port, warm it up, then in each
round run ``wrk -t1 -c50 --latency`` for the window against ``GET /healthz`` and then POST
``List-Unsubscribe=One-Click`` to a different token per request (``one_click.lua``). Every POST
answered 200 is a withdrawal committed before the answer (SQLite WAL + synchronous=FULL;
PostgreSQL synchronous_commit as the server has it), and the run checks it: the ledger grows by
exactly the 200s of each round and holds that many one-click withdrawals at the end; non-2xx
answers, socket errors and unanswered requests must be 0.

Figures are medians over the rounds with their ranges; the ratio is of the medians. The JSON
goes to ``--out`` (``bench/out/web.json``, or ``web-only-<backend>.json`` with ``--only``).
``docs/benchmarks.md`` ("Web") explains the figures. Benchmarks print; they never assert timings.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console

from bench.common import DEFAULT_PG, postgres_problem
from bench.dispatch.machine import machine, postgres_settings, sqlite_settings
from bench.dispatch.seed import drop_schemas, sqlite_url
from bench.ledger import Log, source_state
from bench.web.prepare import count_ledger, ledger_size, prepare
from bench.web.profile import find_py_spy, profile_posts
from bench.web.report import checks, render, summarise_rounds, verdicts
from bench.web.server import serve
from bench.web.wrk import WRK, run_wrk

OUT_DIR = Path(__file__).resolve().parent.parent / "out"
BACKENDS = ("sqlite", "postgres")
WARMUP = 1_000
PROFILE = 10_000


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.web", description=(__doc__ or "").split("\n")[0]
    )
    p.add_argument("--quick", action="store_true", help="20,000 subscribers, 2 rounds of 3 s")
    p.add_argument("--only", choices=BACKENDS, help="one backend only")
    p.add_argument("--subscribers", type=int, help="seeded per backend (150,000)")
    p.add_argument("--rounds", type=int, help="rounds per backend (5)")
    p.add_argument("--window", type=float, help="seconds of requests per wrk run (10)")
    p.add_argument("--connections", type=int, default=50, help="wrk connections (%(default)s)")
    p.add_argument(
        "--postgres", default=DEFAULT_PG, help="server; schema bench_web_<random> (%(default)s)"
    )
    p.add_argument(
        "--profile",
        action="store_true",
        help=f"an extra untimed POST run ({PROFILE:,} tokens) with the server under py-spy "
        "(else bench.web.sampler)",
    )
    p.add_argument("--py-spy", help="the py-spy binary for --profile")
    p.add_argument("--out", type=Path, default=OUT_DIR, help="directory for web.json")
    p.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    args = p.parse_args(argv)
    args.subscribers = args.subscribers or (20_000 if args.quick else 150_000)
    args.rounds = args.rounds or (2 if args.quick else 5)
    args.window = args.window or (3.0 if args.quick else 10.0)
    return args


def _terminate(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # run the finally blocks: stop the server, drop the schema


def run_backend(
    args: argparse.Namespace, name: str, url: str, work: Path, log: Log
) -> dict[str, Any]:
    """Seed, serve, warm up, measure the rounds, check the ledger, and profile if asked."""
    home = work / "home"
    aside = {"warmup": min(WARMUP, args.subscribers // 20)}
    if args.profile:
        aside["profile"] = min(PROFILE, args.subscribers // 6)
    per_round = (args.subscribers - sum(aside.values())) // args.rounds
    if per_round < 4 * args.connections:
        raise SystemExit(
            f"--subscribers {args.subscribers:,} leaves {per_round:,} tokens per round: "
            f"give at least {4 * args.connections:,} per round"
        )
    log(f"[bold]{name}[/]: seeding {args.subscribers:,} subscribers ...")
    prepared = prepare(home, url, args.subscribers, args.rounds, aside, log)
    fig: dict[str, Any] = {"prepare": prepared.to_json(), "rounds": []}
    log(f"  {fig['prepare']}")
    conns = args.connections
    with serve(home, url, work / "server.log") as server:
        pid, wrk_log = server.process.pid, work / "wrk.log"
        log(f"  consentry serve at {server.origin} (pid {pid}); warming up ...")
        run_wrk(server.origin, prepared.healthz, "GET", 1.0, conns, pid, wrk_log)
        run_wrk(server.origin, prepared.aside["warmup"], "POST", 1.0, conns, pid, wrk_log)
        before = count_ledger(prepared).withdrawals
        for i, paths in enumerate(prepared.rounds, 1):
            load = os.getloadavg()[0]
            static = run_wrk(server.origin, prepared.healthz, "GET", args.window, conns, pid,
                             wrk_log)  # fmt: skip
            size = ledger_size(prepared)
            post = run_wrk(server.origin, paths, "POST", args.window, conns, pid, wrk_log)
            added = ledger_size(prepared) - size
            fig["rounds"].append({"round": i, "load_before": load, "static": static.to_json(),
                                  "post": post.to_json(), "leaves_added": added})  # fmt: skip
            log(
                f"  round {i}: static {static.rate:,.0f}/s p99 {static.p99_ms:.1f} ms; "
                f"POST {post.rate:,.0f}/s p99 {post.p99_ms:.1f} ms "
                f"(ratio {post.rate / static.rate:.2f}); {post.n200:,} answered 200, "
                f"{added:,} leaves added; load {load:.2f}"
            )
    fig["summary"] = summarise_rounds(fig["rounds"])
    fig["checks"] = checks(fig["rounds"], count_ledger(prepared).withdrawals, before)
    log(f"  checks: {fig['checks']}")
    if args.profile:
        log("  profiling an extra, untimed POST run ...")
        py_spy = find_py_spy(args.py_spy)
        fig["profile"] = profile_posts(
            prepared, work, args.out / "profile" / name.lower(), conns, args.window, py_spy
        )
    return fig


def _backend_url(name: str, args: argparse.Namespace, work: Path) -> tuple[str, str | None]:
    if name == "sqlite":
        return sqlite_url(work / "home"), None
    schema = f"bench_web_{uuid.uuid4().hex[:10]}"
    return f"{args.postgres.split('?', 1)[0]}?schema={schema}", schema


def measure_all(args: argparse.Namespace, fig: dict[str, Any], root: Path, log: Log) -> None:
    for name in [args.only] if args.only else list(BACKENDS):
        label = {"sqlite": "SQLite", "postgres": "PostgreSQL"}[name]
        if name == "postgres":
            if (problem := postgres_problem(args.postgres)) is not None:
                fig["backends"][label] = {"skipped": f"{args.postgres} unreachable: {problem}"}
                log(f"[yellow]PostgreSQL skipped: {problem}[/]")
                continue
            fig["meta"]["durability"]["postgres"] = postgres_settings(args.postgres)
        work = root / name
        work.mkdir()
        url, schema = _backend_url(name, args, work)
        try:
            fig["backends"][label] = run_backend(args, label, url, work, log)
        finally:
            if schema is not None:
                drop_schemas(args.postgres, [schema])


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _terminate)
    args = parse_args(argv)
    console = Console() if sys.stdout.isatty() else Console(width=160)
    if not os.access(WRK, os.X_OK):
        console.print(f"[red]{WRK} is missing: apt-get install wrk[/]")
        return 2
    log = Log(console)
    root = Path(tempfile.mkdtemp(prefix="consentry-bench-web-"))
    fig: dict[str, Any] = {
        "meta": {
            "started_at": datetime.now(UTC).isoformat(),
            "argv": sys.argv[1:] if argv is None else argv,
            "source": source_state(),
            "machine": machine(),
            "plan": {
                "subscribers": args.subscribers,
                "rounds": args.rounds,
                "window_s": args.window,
                "connections": args.connections,
                "wrk_threads": 1,
            },
            "durability": {"sqlite": sqlite_settings(root / "settings.sqlite")},
        },
        "backends": {},
    }
    mach = fig["meta"]["machine"]
    log(f"machine: {mach['cores']} cores, {mach['cpu_model']}; plan {fig['meta']['plan']}")
    try:
        measure_all(args, fig, root, log)
    finally:
        if args.keep:
            log(f"work directory kept: {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    fig["verdicts"] = verdicts(fig)
    fig["meta"]["elapsed_s"] = time.perf_counter() - log.t0
    fig["meta"]["source_at_end"] = source_state()
    if fig["meta"]["source"]["src_sha256"] != fig["meta"]["source_at_end"]["src_sha256"]:
        console.print("[yellow]src changed while the benchmark ran (meta.source_at_end)[/]")
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / (f"web-only-{args.only}.json" if args.only else "web.json")
    path.write_text(json.dumps(fig, indent=2) + "\n")
    render(console, fig)
    console.print(f"figures written to {path} ({fig['meta']['elapsed_s']:.0f} s in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
