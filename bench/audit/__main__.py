"""``python -m bench.audit``: the campaign evidence pack of a 1,000,000-recipient campaign
against a plain SQL count of its decision rows (SQLite, and PostgreSQL), and the subject
evidence pack on a PostgreSQL ledger of ``--leaves`` leaves (default 2,000,000; the issue's 25
million is ``--leaves 25000000``).

Ledgers are built with ``Store.append`` batches of synthetic leaves (``bench/audit/build.py``),
durable as the product writes them. The PostgreSQL ledger is a campaign too (a third of its
leaves are recipients), so its campaign pack is measured as well. Figures are medians with their
ranges; the JSON goes to ``--out`` (``bench/out/audit.json``). Benchmarks print; they never
assert timings.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console

from bench.audit import measure
from bench.audit.build import T0, FixedTime, build
from bench.common import DEFAULT_PG, PostgresBackend, SQLiteBackend, postgres_problem
from consentry.keys.ring import FileKeyRing
from consentry.services.context import Context

OUT = Path(__file__).resolve().parent.parent / "out" / "audit.json"
console = Console(highlight=False)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.audit", description=__doc__.split("\n")[0])
    p.add_argument("--recipients", type=int, default=1_000_000, help="campaign size (SQLite)")
    p.add_argument("--leaves", type=int, default=2_000_000, help="PostgreSQL ledger size")
    p.add_argument("--runs", type=int, default=3, help="runs of each campaign-pack measurement")
    p.add_argument("--subjects", type=int, default=20, help="subject packs measured")
    p.add_argument("--postgres", default=DEFAULT_PG, help="server (a fresh schema is dropped)")
    p.add_argument("--no-postgres", action="store_true")
    p.add_argument("--no-sqlite", action="store_true")
    p.add_argument("--quick", action="store_true", help="20,000 recipients, 60,000 leaves")
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args(argv)
    if args.quick:
        args.recipients, args.leaves, args.runs, args.subjects = 20_000, 60_000, 2, 5
    return args


def log(message: str) -> None:
    console.print(f"[dim]{datetime.now(UTC):%H:%M:%S}[/] {message}", markup=True)


def context(backend: Any, purpose: str, home: Path) -> Context:
    keys = FileKeyRing.create(home, "bench.local/audit")
    return Context(backend.open_store(purpose), keys, FixedTime(T0), backend.reader(purpose))


def run_sqlite(args: argparse.Namespace) -> dict[str, Any]:
    backend = SQLiteBackend()
    try:
        ctx = context(backend, "campaign", backend.dir / "home")
        log(f"SQLite: building a {args.recipients:,}-recipient campaign")
        built = build(ctx, args.recipients, log)
        log(f"  built {built.leaves:,} leaves in {built.seconds:.0f} s")
        conn = backend.connect("campaign")
        try:
            result = measure.campaign(ctx, backend.name, conn, args.runs, log)
        finally:
            conn.close()
            ctx.store.close()
        return {"build": built.to_json(), "campaign_pack": result,
                "durability": backend.durability()}  # fmt: skip
    finally:
        backend.cleanup()


def run_postgres(args: argparse.Namespace) -> dict[str, Any]:
    backend = PostgresBackend(args.postgres)
    home = Path(SQLiteBackend().dir) / "home"
    try:
        ctx = context(backend, "ledger", home)
        recipients = max(1, args.leaves // 3)
        log(f"PostgreSQL: building a ledger of about {args.leaves:,} leaves "
            f"({recipients:,} recipients)")  # fmt: skip
        built = build(ctx, recipients, log)
        log(f"  built {built.leaves:,} leaves in {built.seconds:.0f} s")
        conn = backend.connect("ledger")
        try:
            subject = measure.subjects(ctx, conn, built.sample[: args.subjects], log)
            pack = measure.campaign(ctx, backend.name, conn, args.runs, log)
        finally:
            conn.close()
            ctx.store.close()
        return {"build": built.to_json(), "subject_pack": subject, "campaign_pack": pack,
                "durability": backend.durability()}  # fmt: skip
    finally:
        backend.cleanup()


def report(fig: dict[str, Any]) -> None:
    for name in ("sqlite", "postgres"):
        part = fig.get(name)
        if not part:
            continue
        c = part["campaign_pack"]
        p, q = c["pack_seconds"], c["sql_count_seconds"]
        console.print(
            f"[bold]{name}[/]: campaign pack of {c['recipients']:,} recipients "
            f"({c['leaves']:,} leaves): {p['median']:.2f} s ({p['min']:.2f}-{p['max']:.2f}); "
            f"SQL count of the same {c['sql_count']:,} decision rows {q['median']:.3f} s; "
            f"ratio {c['ratio']:.0f}x; {c['per_recipient_us']:.1f} µs per recipient"
        )
        s = part.get("subject_pack")
        if s:
            sp, sr = s["pack_seconds"], s["sql_read_seconds"]
            console.print(
                f"[bold]{name}[/]: subject pack on {part['build']['leaves']:,} leaves: median "
                f"{sp['median']:.3f} s, max {sp['max']:.3f} s over {s['packs']} packs "
                f"(plain SQL read of the subject's leaves {sr['median'] * 1000:.1f} ms)"
            )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    fig: dict[str, Any] = {
        "meta": {"started": datetime.now(UTC).isoformat(), "args": {
            k: str(v) for k, v in vars(args).items()}, "python": sys.version.split()[0],
            "machine": platform.platform()},
    }  # fmt: skip
    began = time.perf_counter()
    if not args.no_sqlite:
        fig["sqlite"] = run_sqlite(args)
    if not args.no_postgres:
        problem = postgres_problem(args.postgres)
        if problem:
            log(f"PostgreSQL skipped: {problem}")
        else:
            fig["postgres"] = run_postgres(args)
    fig["meta"]["seconds"] = time.perf_counter() - began
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(fig, indent=2) + "\n", encoding="utf-8")
    report(fig)
    log(f"figures in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
