"""``--profile``: where the server's time goes during one-click POSTs, from one extra untimed
POST run (paths set aside for it). py-spy, when installed, attaches to the running server for
the run (``py-spy record --pid --format raw``); without it the server runs under
:mod:`bench.web.sampler`, which records between SIGUSR1 and SIGUSR2 (the same format). Either
way start-up is left out. The collapsed stacks are summed here, per thread: each thread's share
of the busy samples, own time by package and by function, and inclusive time of the project's
functions (below the CLI's frames, which every sample has). Files go to ``<out>/profile/``.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import signal
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from bench.web.prepare import Prepared
from bench.web.server import serve
from bench.web.wrk import run_wrk

_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>.*?)(?::(?P<line>\d+))?\)$")
SAMPLER = "bench.web.sampler (stdlib stack sampling every 2 ms, idle threads left out)"


def find_py_spy(given: str | None) -> str | None:
    """The py-spy binary: ``given``, the one beside this interpreter, or on the PATH."""
    if given:
        return given
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


def package_of(path: str) -> str:
    """A short name for where a frame's code lives: ``consentry.store``, ``starlette``, ..."""
    if "/consentry/" in path:
        parts = path.split("/consentry/", 1)[1].split("/")
        return "consentry." + parts[0].removesuffix(".py")
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1].split("/")[0].removesuffix(".py")
    if "/python3" in path:
        rest = path.rsplit("/python3", 1)[1].split("/", 1)
        return "stdlib " + (rest[1].split("/")[0].removesuffix(".py") if len(rest) > 1 else "?")
    return path


def _short(func: str, path: str) -> str:
    if "/consentry/" in path:
        path = path.split("/consentry/", 1)[1]
    elif "site-packages/" in path:
        path = path.split("site-packages/", 1)[1]
    elif "/python3" in path:
        path = path.rsplit("/python3", 1)[1].split("/", 1)[-1]
    return f"{func} ({path})"


def _thread_label(frame: str) -> str:
    name = frame.removeprefix("thread ").strip("()")
    if name.startswith("0x"):  # py-spy names threads by id; the loop runs in the main thread
        return "a thread"
    return "event loop (main thread)" if name == "MainThread" else f"pool thread ({name})"


def summarise(path: Path, top: int = 12) -> dict[str, Any]:
    """Shares of the collapsed stacks in ``path`` (py-spy raw or the sampler's), per thread."""
    total = 0
    per: dict[str, dict[str, Counter[str]]] = defaultdict(
        lambda: {"samples": Counter(), "packages": Counter(), "own": Counter(),
                 "inclusive": Counter()}
    )  # fmt: skip
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        named = [f for f in frames if f.startswith("thread ")]
        t = per[_thread_label(named[0]) if named else "a thread"]
        t["samples"]["all"] += n
        code = [m for f in frames if (m := _FRAME.match(f)) and not f.startswith("thread ")]
        if not code:
            continue
        leaf = code[-1]
        t["own"][_short(leaf["func"], leaf["file"])] += n
        t["packages"][package_of(leaf["file"])] += n
        ours = [m for m in code if "/consentry/" in m["file"] and "/cli/" not in m["file"]]
        for name in {_short(m["func"], m["file"]) for m in ours}:
            t["inclusive"][name] += n

    def shares(counter: Counter[str]) -> list[dict[str, Any]]:
        return [{"name": k, "share": v / total} for k, v in counter.most_common(top)]

    threads = sorted(per.items(), key=lambda kv: -kv[1]["samples"]["all"])
    meta = path.with_suffix(".meta.json")
    ticks = json.loads(meta.read_text())["ticks"] if meta.exists() else None
    return {
        "samples": total,
        "ticks": ticks,
        "threads": [
            {
                "thread": name,
                "share": c["samples"]["all"] / total if total else math.nan,
                # the share of the run's wall time this thread was busy (sampler only)
                "busy": c["samples"]["all"] / ticks if ticks else None,
                "packages": shares(c["packages"]),
                "own": shares(c["own"]),
                "inclusive_consentry": shares(c["inclusive"]),
            }
            for name, c in threads
        ],
    }


def profile_posts(
    prepared: Prepared, work: Path, out: Path, connections: int, window_s: float,
    py_spy: str | None,
) -> dict[str, Any]:  # fmt: skip
    """One untimed POST run over the paths set aside, the server profiled; its summary."""
    out.mkdir(parents=True, exist_ok=True)
    raw = out / "web-one-click.collapsed.txt"
    raw.unlink(missing_ok=True)
    raw.with_suffix(".meta.json").unlink(missing_ok=True)
    wrapper = [] if py_spy else [sys.executable, "-m", "bench.web.sampler", str(raw), "--"]
    paths = prepared.aside["profile"]
    with serve(prepared.home, prepared.url, work / "server-profiled.log", wrapper) as server:
        pid = server.process.pid
        spy = None
        if py_spy:
            spy = subprocess.Popen(
                [py_spy, "record", "--pid", str(pid), "--rate", "250", "--format", "raw",
                 "--threads", "-o", str(raw), "--duration", str(math.ceil(window_s) + 2)],
                stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
            )  # fmt: skip
        else:
            server.process.send_signal(signal.SIGUSR1)
        run = run_wrk(server.origin, paths, "POST", window_s, connections, pid, work / "wrk-p.log")
        if spy is not None:
            spy.wait(timeout=120)
        else:
            server.process.send_signal(signal.SIGUSR2)
    summary = summarise(raw) if raw.exists() else {"error": f"the profiler wrote no {raw}"}
    return {"tool": "py-spy" if py_spy else SAMPLER, "file": str(raw), "run": run.to_json(),
            **summary}  # fmt: skip
