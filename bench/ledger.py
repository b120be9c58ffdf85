"""``python -m bench.ledger``: the ledger's speed against plain SQL and plain hashing.

For SQLite and PostgreSQL, in one run:

1. append: leaves/s of ``append_sealed`` in batches of 1, 100 and 1000, against plain INSERTs
   of the same rows (target: ours/plain >= 0.3 at batch 1000);
2. verify: ``verify_ledger`` on a store of N leaves against hashlib SHA-256 of the same bytes
   (target: raw time / our time >= 0.3);
3. bulk decisions: ``decide_audience`` over M subjects against a plain join of the audience to
   ``proj_consent`` (target: ours/join >= 1.0).

Every figure is the median of ``--runs`` runs with its range; the ratios are of the medians.
The figures go to ``bench/out/ledger.json`` too. Benchmarks print; they never assert timings.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console

from bench import data
from bench.append import AppendBench, AppendPlan
from bench.audience import run_audience
from bench.common import (
    DEFAULT_PG,
    Backend,
    PostgresBackend,
    SQLiteBackend,
    postgres_problem,
)
from bench.profiling import Profiler
from bench.report import render
from bench.seed import Seeder, setup_context
from bench.verify import run_verify
from consentry.keys.ring import FileKeyRing
from consentry.ports import KeyRing

OUT_DIR = Path(__file__).resolve().parent / "out"
BIG = "ledger"


@dataclass(frozen=True)
class Sizes:
    append: dict[int, int]  # batch size -> batches per run
    append_runs: int
    verify_leaves: int
    audience: int
    runs: int
    verify_workers: tuple[int, ...]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.ledger", description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    p.add_argument("--verify-leaves", type=int, help="leaves in the verified store (1,000,000)")
    p.add_argument("--audience", type=int, help="subjects in the audience (1,000,000)")
    p.add_argument("--runs", type=int, help="timed runs per measurement (3; appends: >= 5)")
    p.add_argument(
        "--verify-workers",
        type=int,
        default=min(os.cpu_count() or 1, 4),
        help="also time verify_ledger(workers=N) when N > 1 (extra row; %(default)s)",
    )
    p.add_argument("--sqlite-only", action="store_true", help="skip PostgreSQL")
    p.add_argument(
        "--postgres",
        default=os.environ.get("CONSENTRY_TEST_POSTGRES_URL", DEFAULT_PG),
        help="server URL; a fresh schema bench_<random>_* is made and dropped (%(default)s)",
    )
    p.add_argument(
        "--profile",
        action="store_true",
        help="one extra untimed cProfile run of each of ours; stats in bench/out/profile/",
    )
    p.add_argument("--out", type=Path, default=OUT_DIR / "ledger.json", help="JSON figures")
    return p.parse_args(argv)


def sizes_for(args: argparse.Namespace) -> Sizes:
    if args.quick:
        append, verify, audience = {1: 100, 100: 5, 1000: 3}, 20_000, 20_000
    else:
        append, verify, audience = {1: 300, 100: 20, 1000: 10}, 1_000_000, 1_000_000
    runs = max(1, args.runs or 3)
    return Sizes(
        append=append,
        append_runs=max(runs, 5),  # cheap, and the noisiest: at least 5 runs
        verify_leaves=verify if args.verify_leaves is None else args.verify_leaves,
        audience=audience if args.audience is None else args.audience,
        runs=runs,
        verify_workers=(1, args.verify_workers) if args.verify_workers > 1 else (1,),
    )


def source_state() -> dict[str, Any]:
    """The commit and the uncommitted files measured (read-only git; no index refresh)."""
    root = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str:
        try:
            done = subprocess.run(
                ["git", "--no-optional-locks", *args], cwd=root, capture_output=True,
                text=True, timeout=10, check=False,
            )  # fmt: skip
        except OSError:
            return ""
        return done.stdout.rstrip()

    digest = hashlib.sha256()
    for path in sorted((root / "src" / "consentry").rglob("*")):
        if path.suffix in (".py", ".sql") and path.is_file():
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return {
        "src_sha256": digest.hexdigest(),
        "commit": git("rev-parse", "HEAD"),
        "uncommitted": [
            line[3:] for line in git("status", "--porcelain", "--", "src").splitlines()
        ],
    }


class Log:
    def __init__(self, console: Console) -> None:
        self.console = console
        self.t0 = time.perf_counter()

    def __call__(self, message: str) -> None:
        self.console.print(f"[dim]{time.perf_counter() - self.t0:7.1f}s[/] {message}")


def run_backend(
    backend: Backend,
    keys: KeyRing,
    plan: data.AudiencePlan,
    audience: list[str],
    sizes: Sizes,
    profiler: Profiler,
    log: Log,
) -> dict[str, Any]:
    label = backend.name.lower()
    started = time.perf_counter()
    fig: dict[str, Any] = {"durability": backend.durability()}
    log(f"[bold]{backend.name}[/]: {fig['durability']}")
    fig["append"] = [
        r.to_json()
        for r in AppendBench(backend, keys, AppendPlan(sizes.append, sizes.append_runs)).run(
            profiler, log
        )
    ]
    store = backend.open_store(BIG)
    plain = backend.connect(BIG)
    try:
        seeder = Seeder(setup_context(store, keys, backend.reader(BIG)), plan)
        if sizes.verify_leaves > 0:
            log(f"  building a store of {sizes.verify_leaves:,} leaves with append_sealed ...")
            seeder.fill_to(sizes.verify_leaves)
            fig["verify_store"] = seeder.report.to_json()
            log(f"  ... {fig['verify_store']}")
            verified = run_verify(
                seeder.ctx, plain, sizes.verify_workers, sizes.runs, profiler, label, log
            )
            fig["verify"] = [v.to_json() for v in verified]
        if audience:
            log(f"  seeding the rest of the audience of {len(audience):,} subjects ...")
            seeder.finish()
            log(f"  ... {seeder.report.to_json()}")
            fig["audience"] = run_audience(
                seeder.ctx, plain, audience, sizes.runs, profiler, label, log
            ).to_json()
        fig["seed"] = seeder.report.to_json()
    finally:
        plain.close()
        store.close()
    fig["profiles"] = {k: v for k, v in profiler.results.items() if k.startswith(label)}
    fig["elapsed_s"] = time.perf_counter() - started
    return fig


def _terminate(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # run the finally blocks: drop the schemas, remove files


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _terminate)
    args = parse_args(argv)
    sizes = sizes_for(args)
    console = Console()
    if not console.is_terminal:
        console = Console(width=150)
    log = Log(console)
    profiler = Profiler(args.out.parent / "profile" if args.profile else None)
    figures: dict[str, Any] = {
        "meta": {
            "started_at": datetime.now(UTC).isoformat(),
            "argv": sys.argv[1:] if argv is None else argv,
            "runs": sizes.runs,
            "append_runs": sizes.append_runs,
            "source": source_state(),
            "append_batches_per_run": sizes.append,
            "verify_leaves": sizes.verify_leaves,
            "verify_workers": sizes.verify_workers,
            "audience": sizes.audience,
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
        "backends": {},
    }
    home = Path(tempfile.mkdtemp(prefix="consentry-bench-keys-"))
    try:
        keys = FileKeyRing.create(home, "bench.consentry.local/ledger")
        log(f"making {sizes.audience:,} people (addresses and subject refs) ...")
        people = data.make_people(keys.subject_key(), sizes.audience)
        plan = data.plan_audience(people)
        audience = [person.subject for person in people]
        backends: list[Backend] = [SQLiteBackend()]
        if args.sqlite_only:
            figures["backends"]["PostgreSQL"] = {"skipped": "--sqlite-only was given"}
        elif (problem := postgres_problem(args.postgres)) is not None:
            reason = f"the server at {args.postgres} is unreachable ({problem})"
            figures["backends"]["PostgreSQL"] = {"skipped": reason}
            console.print(f"[yellow]PostgreSQL part skipped: {reason}[/]")
        else:
            backends.append(PostgresBackend(args.postgres))
        for backend in backends:
            try:
                figures["backends"][backend.name] = run_backend(
                    backend, keys, plan, audience, sizes, profiler, log
                )
            finally:
                backend.cleanup()
    finally:
        shutil.rmtree(home, ignore_errors=True)
    figures["meta"]["elapsed_s"] = time.perf_counter() - log.t0
    figures["meta"]["source_at_end"] = source_state()
    start_src, end_src = figures["meta"]["source"], figures["meta"]["source_at_end"]
    if start_src["src_sha256"] != end_src["src_sha256"]:
        console.print("[yellow]src changed while the benchmark ran (see meta.source_at_end)[/]")
    # The PostgreSQL entry (when skipped) was added first; print SQLite first all the same.
    order = sorted(figures["backends"], key=lambda n: n != "SQLite")
    figures["backends"] = {n: figures["backends"][n] for n in order}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2) + "\n")
    render(console, figures)
    console.print(f"figures written to {args.out} ({figures['meta']['elapsed_s']:.0f} s in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
