"""``python -m bench.transfer [--rows N] [--rounds R]``: import a Mailchimp audience export of
N rows (default 1,000,000: 90% subscribed with opt-in evidence, 8% unsubscribed, 2% cleaned,
in the current four-file zip layout) into a fresh SQLite store, as a ratio to a bare
``csv.reader`` pass over the same CSV data in the same run (the issue's target: >= 0.3), and
the import's peak memory (RSS of a child process; target < 300 MB). Also the dry run (read,
canonicalise, decide, write nothing) to show where the time goes. Benchmarks print; they never
assert timings.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

AUDIENCE = "b3nch00001"
SYSTEM = ["MEMBER_RATING", "OPTIN_TIME", "OPTIN_IP", "CONFIRM_TIME", "CONFIRM_IP", "LEID", "EUID"]


def make_export(path: Path, rows: int) -> int:
    """The zip; returns the number of CSV bytes in it."""
    total = 0
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        parts = {
            "subscribed": (0, int(rows * 0.90)),
            "unsubscribed": (int(rows * 0.90), int(rows * 0.98)),
            "cleaned": (int(rows * 0.98), rows),
        }
        for status, (start, end) in parts.items():
            extra = {"unsubscribed": ["UNSUB_TIME", "UNSUB_REASON"], "cleaned": ["CLEAN_TIME"]}
            header = ["Email Address", "First Name", *SYSTEM, *extra.get(status, [])]
            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator="\r\n")
            writer.writerow(header)
            for i in range(start, end):
                row = [
                    f"Member.{i}@example{i % 97}.org",
                    f"Name {i}",
                    "3",
                    "2026-03-01 10:00:00",
                    f"198.51.{i % 250}.{i % 200}",
                    "2026-03-01 10:05:00",
                    f"198.51.{i % 250}.{i % 200}",
                    str(i),
                    f"{i:010x}",
                ]
                if status == "unsubscribed":
                    row += ["2026-06-01 09:00:00", "no longer interested"]
                elif status == "cleaned":
                    row += ["2026-05-01 09:00:00"]
                writer.writerow(row)
            data = buffer.getvalue().encode()
            total += len(data)
            z.writestr(f"{status}_email_audience_export_{AUDIENCE}.csv", data)
    return total


def bare_csv(path: Path) -> float:
    """Seconds for csv.reader over every member of the zip (the reference)."""
    start = time.perf_counter()
    with zipfile.ZipFile(path) as z:
        for name in z.namelist():
            with z.open(name) as raw:
                for _ in csv.reader(io.TextIOWrapper(raw, encoding="utf-8", newline="")):
                    pass
    return time.perf_counter() - start


CHILD = r"""
import json, resource, sys, time
from pathlib import Path
sys.path.insert(0, ".")
from consentry.bootstrap import SystemClock
from consentry.store.sqlite import SQLiteStore
from consentry.services.transfer_import import import_file
from tests.support.audience import organised, LIST
work, export, dry = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3] == "1"
ctx = organised(SQLiteStore(work / "s.sqlite", lean=True), work / "home", SystemClock())
start = time.perf_counter()
report = import_file(ctx, export, list_id=LIST, dry_run=dry)
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "read": report.read, "applied": report.applied,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run_import(export: Path, dry: bool) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(
            [sys.executable, "-c", CHILD, tmp, str(export), "1" if dry else "0"],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.transfer")
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        export = Path(tmp) / f"audience_export_{AUDIENCE}.zip"
        size = make_export(export, args.rows)
        print(f"export: {args.rows:,} rows, {size / 1e6:.0f} MB of CSV in a zip")
        bare = [bare_csv(export) for _ in range(args.rounds)]
        dry = [run_import(export, True) for _ in range(args.rounds)]
        real = [run_import(export, False) for _ in range(args.rounds)]
    ref = statistics.median(bare)

    def line(name: str, runs: list[dict[str, float]]) -> None:
        secs = [r["seconds"] for r in runs]
        med = statistics.median(secs)
        print(f"{name:<28} {args.rows / med:>10,.0f} rows/s  ratio {ref / med:.3f} "
              f"(range {ref / max(secs):.3f}-{ref / min(secs):.3f})  "
              f"peak RSS {max(r['rss_mb'] for r in runs):.0f} MB")  # fmt: skip

    print(f"{'csv.reader (reference)':<28} {args.rows / ref:>10,.0f} rows/s  "
          f"(range {args.rows / max(bare):,.0f}-{args.rows / min(bare):,.0f})")  # fmt: skip
    line("import --dry-run", dry)
    line("import (SQLite, durable)", real)


if __name__ == "__main__":
    main()
