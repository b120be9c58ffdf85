"""One measured process (wall time and peak resident memory through ``wait4``), and the
reference: pyrage alone decrypting our backup to a plain dump and encrypting that dump again,
in its own process, in the same run."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Run:
    """A finished process: exit code, output, wall seconds, the peak resident memory (MiB) of
    the largest process of its tree (``VmHWM``) and the peak of the tree's total (``VmRSS``
    summed), both sampled from /proc every 20 ms. (``ru_maxrss`` would not do: Linux carries a
    forked child's high-water mark over from its parent, this benchmark's own process.)"""

    code: int
    out: str
    err: str
    wall: float
    peak_mib: float
    tree_mib: float

    def json(self) -> dict[str, Any]:
        if self.code != 0:
            raise RuntimeError(f"exit {self.code}: {self.err.strip()[-2000:]}")
        parsed: dict[str, Any] = json.loads(self.out)
        return parsed


def _tree(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                todo += [int(p) for p in task.read_text().split()]
            except OSError:
                continue
    return out


def _memory(pid: int) -> tuple[int, int]:
    """(VmHWM, VmRSS) in KiB; zeros once the process is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0, 0
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)

    def kib(name: str) -> int:
        return int(fields.get(name, "0 kB").split()[0])

    return kib("VmHWM"), kib("VmRSS")


def measured(command: list[str], env: dict[str, str]) -> Run:
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=err)
        peak = tree = 0
        while proc.poll() is None:
            sizes = [_memory(pid) for pid in _tree(proc.pid)]
            peak = max([peak, *(hwm for hwm, _ in sizes)])
            tree = max(tree, sum(rss for _, rss in sizes))
            time.sleep(0.02)
        wall = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        return Run(
            proc.returncode, out.read().decode(), err.read().decode(), wall, peak / 1024,
            tree / 1024,
        )  # fmt: skip


_REFERENCE = """
import json, sys, time
import pyrage
backup, plain, again, secret = sys.argv[1:5]
identity = pyrage.x25519.Identity.from_str(secret)
started = time.perf_counter()
pyrage.decrypt_file(backup, plain, [identity])
decrypt = time.perf_counter() - started
started = time.perf_counter()
pyrage.encrypt_file(plain, again, [identity.to_public()])
encrypt = time.perf_counter() - started
print(json.dumps({"decrypt_s": decrypt, "encrypt_s": encrypt}))
"""


def reference(backup: Path, secret: str, work: Path, env: dict[str, str]) -> dict[str, Any]:
    """pyrage's own speed on a plain dump of exactly the backup's plaintext: decrypt_file of
    the backup to a file, then encrypt_file of that file (each timed inside the process)."""
    plain, again = work / "plain.dump", work / "plain.dump.age"
    try:
        run = measured([sys.executable, "-c", _REFERENCE, str(backup), str(plain), str(again),
                        secret], env)  # fmt: skip
        result = run.json()
        result["plain_bytes"] = plain.stat().st_size
        result["peak_mib"], result["tree_mib"] = run.peak_mib, run.tree_mib
        return result
    finally:
        plain.unlink(missing_ok=True)
        again.unlink(missing_ok=True)
