"""``python -m bench.backup``: backup, verify and restore of a large SQLite store.

The store is seeded through the product path (``bench.seed``; ``--leaves``, default 1,000,000;
the issue's figure is ``--leaves 10000000``) and kept in ``--work`` for later runs. Each run:

1. ``consentry backup create`` (the real command, in its own process) to an X25519 recipient;
2. the reference, in the same run: pyrage alone decrypting that backup to a plain dump of the
   same plaintext, then encrypting the dump again (``decrypt_file`` / ``encrypt_file``);
3. ``consentry backup verify`` of the file;
4. ``consentry backup restore`` into a fresh SQLite store (then removed).

Rates are plaintext MB/s (10^6 bytes), from the seconds each command reports for its own work
(``--json``); wall times include the interpreter's start. Ratios: ours / pyrage encrypting
(backup and restore; target >= 0.5) and ours / pyrage decrypting (verify). Peak memory is the
largest resident set of each command's process tree (target < 300 MB). Figures are printed and
written to ``--out``; benchmarks print, they never assert.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.backup.measure import Run, measured, reference
from bench.backup.seed import seeded
from consentry.backup.age_keys import new_identity

OUT = Path(__file__).resolve().parent.parent / "out" / "backup.json"
CLI = [sys.executable, "-m", "bench.backup.cli"]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.backup", description=__doc__.split("\n")[0])
    p.add_argument("--leaves", type=int, default=1_000_000, help="ledger size (%(default)s)")
    p.add_argument("--runs", type=int, default=1, help="runs of each measurement (%(default)s)")
    p.add_argument(
        "--work",
        type=Path,
        help="where the seeded store is kept (default: a new "
        "directory under the system's temporary directory, removed at the end)",
    )
    p.add_argument("--out", type=Path, default=OUT, help="JSON figures (%(default)s)")
    return p.parse_args(argv)


def mb(n: float) -> float:
    return n / 1e6


def _part(report: dict[str, Any], run: Run) -> dict[str, Any]:
    return {
        "seconds": report["seconds"],
        "wall": run.wall,
        "peak_mib": run.peak_mib,
        "tree_mib": run.tree_mib,
    }


def one_run(n: int, work: Path, home: Path, db: Path, env: dict[str, str]) -> dict[str, Any]:
    secret, recipient = new_identity()
    identity = work / "identity.txt"
    identity.write_text(secret + "\n")
    identity.chmod(0o600)
    env = {**env, "CONSENTRY_HOME": str(home), "CONSENTRY_DATABASE_URL": f"sqlite:///{db}"}
    file = work / f"run{n}.age"
    file.unlink(missing_ok=True)
    made = measured(
        [*CLI, "backup", "create", "--to", str(file), "--recipient", recipient, "--json"], env
    )
    created = made.json()
    plain = created["plaintext_bytes"]
    ref = reference(file, secret, work, env)
    checked = measured(
        [*CLI, "backup", "verify", str(file), "--identity", str(identity), "--json"], env
    )
    verified = checked.json()
    target = work / f"restored{n}.sqlite"
    restore = measured(
        [
            *CLI,
            "backup",
            "restore",
            str(file),
            "--database",
            f"sqlite:///{target}",
            "--identity",
            str(identity),
            "--json",
        ],
        env,
    )
    restored = restore.json()
    for leftover in (
        target,
        Path(f"{target}-wal"),
        Path(f"{target}-shm"),
        Path(f"{target}.migrate-lock"),
        file,
    ):
        leftover.unlink(missing_ok=True)
    encrypt_rate = mb(plain) / ref["encrypt_s"]
    decrypt_rate = mb(plain) / ref["decrypt_s"]
    out = {
        "plaintext_bytes": plain,
        "backup_bytes": created["bytes"],
        "store_bytes": db.stat().st_size,
        "backup": _part(created, made),
        "verify": _part(verified, checked),
        "restore": _part(restored, restore) | {"ok": restored["ok"]},
        "reference": ref,
    }
    for name, rate_ref in (
        ("backup", encrypt_rate),
        ("verify", decrypt_rate),
        ("restore", encrypt_rate),
    ):
        part = out[name]
        part["mb_per_s"] = mb(plain) / part["seconds"]
        part["ratio"] = part["mb_per_s"] / rate_ref
    ref["encrypt_mb_per_s"], ref["decrypt_mb_per_s"] = encrypt_rate, decrypt_rate
    return out


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    def med(path: tuple[str, str]) -> float:
        return statistics.median(r[path[0]][path[1]] for r in runs)

    return {
        name: {key: med((name, key)) for key in ("seconds", "mb_per_s", "ratio", "peak_mib")}
        for name in ("backup", "verify", "restore")
    } | {
        "reference": {
            k: med(("reference", k))
            for k in ("encrypt_mb_per_s", "decrypt_mb_per_s", "encrypt_s", "decrypt_s")
        }
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    temp = None
    if args.work is None:
        temp = tempfile.TemporaryDirectory(prefix="bench-backup-")
        args.work = Path(temp.name)
    args.work.mkdir(parents=True, exist_ok=True)
    try:
        home, db = seeded(args.work, args.leaves, print)
        env = dict(os.environ)
        runs = []
        for n in range(args.runs):
            runs.append(one_run(n, args.work, home, db, env))
            print(json.dumps(runs[-1], indent=1))
        result = {"leaves": args.leaves, "runs": runs, "median": summary(runs)}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
        med = result["median"]
        print(
            f"\n{args.leaves:,} leaves, {mb(runs[0]['plaintext_bytes']):,.0f} MB of plaintext "
            f"({mb(runs[0]['store_bytes']):,.0f} MB SQLite file); medians of {args.runs}:"
        )
        ref = med["reference"]
        print(
            f"  pyrage alone: encrypt {ref['encrypt_mb_per_s']:.0f} MB/s, "
            f"decrypt {ref['decrypt_mb_per_s']:.0f} MB/s"
        )
        for name, target in (("backup", 0.5), ("verify", None), ("restore", 0.5)):
            part = med[name]
            print(
                f"  {name:8} {part['seconds']:7.1f} s  {part['mb_per_s']:7.1f} MB/s  ratio "
                f"{part['ratio']:.2f}"
                + (f" (target >= {target})" if target else "")
                + f"  peak {part['peak_mib']:.0f} MiB (target < 300)"
            )
        print(f"figures written to {args.out}")
    finally:
        if temp is not None:
            temp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
