"""A wall-clock stack sampler for the server when py-spy is not installed:
``python -m bench.web.sampler OUT [--interval S] -- <consentry arguments>`` runs
``consentry.cli.main`` in this process with a thread that reads every other thread's stack
(``sys._current_frames``) every ``S`` seconds, and writes the counts of identical stacks to
``OUT`` in py-spy's raw (collapsed) format when the server exits (on SIGTERM), and the number of
sampling rounds to ``OUT`` with the suffix ``.meta.json`` (a thread seen busy in every round was
busy all the time). It records only between SIGUSR1 and SIGUSR2 (or exit), so start-up is left
out.

Like py-spy without ``--idle``, samples of threads that are only waiting (the event loop in
epoll, worker threads on their queue) are left out. A thread inside C code that releases the
GIL (a query, an fsync) is seen at the Python line that called it, so the counts are the wall
time of threads doing something (running or waiting on the database), not CPU time. Each sample
needs the GIL, so a thread running Python is seen at its next switch point (the switch interval
is 5 ms): attribution within Python code is coarser than py-spy's. And the event loop's own C
work (uvloop, httptools) happens under the frame that started the loop, which looks idle: the
loop's busy share is a lower bound.
"""

from __future__ import annotations

import argparse
import json
import runpy
import signal
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from types import FrameType

# The innermost frames of a thread that is waiting for work, not doing any.
IDLE = frozenset(
    {
        ("threading.py", "wait"),
        ("queue.py", "get"),
        ("selectors.py", "select"),
        ("runners.py", "run"),
        ("base_events.py", "run_until_complete"),
        ("base_events.py", "run_forever"),
        ("threading.py", "_wait_for_tstate_lock"),
        ("thread.py", "_worker"),  # concurrent.futures: a pool thread waiting for work
    }
)


def _frames(frame: FrameType | None) -> list[str]:
    out = []
    while frame is not None:
        code = frame.f_code
        out.append(f"{code.co_name} ({code.co_filename}:{frame.f_lineno})")
        frame = frame.f_back
    out.reverse()
    return out


def _idle(frame: FrameType) -> bool:
    return (Path(frame.f_code.co_filename).name, frame.f_code.co_name) in IDLE


class Sampler:
    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.stacks: Counter[str] = Counter()
        self.samples = 0
        self.ticks = 0  # sampling rounds while recording: a thread busy in all of them is 100 %
        self.recording = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="bench-sampler", daemon=True)

    def _loop(self) -> None:
        me = threading.get_ident()
        while not self._stop.is_set():
            if not self.recording:
                time.sleep(self.interval)
                continue
            self.ticks += 1
            names = {t.ident: t.name for t in threading.enumerate()}
            for ident, frame in sys._current_frames().items():
                if ident == me:
                    continue
                self.samples += 1
                if _idle(frame):
                    continue
                name = names.get(ident, str(ident))
                self.stacks[";".join([f"thread ({name})", *_frames(frame)])] += 1
            time.sleep(self.interval)

    def start(self) -> None:
        self._thread.start()

    def record(self, signum: int, frame: object) -> None:
        """SIGUSR1: forget what was sampled so far and record; SIGUSR2: stop recording."""
        if signum == signal.SIGUSR1:
            self.stacks.clear()
            self.samples = self.ticks = 0
        self.recording = signum == signal.SIGUSR1

    def stop(self, out: Path) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        out.write_text("".join(f"{stack} {n}\n" for stack, n in self.stacks.items()))
        meta = {"ticks": self.ticks, "samples": self.samples, "interval_s": self.interval}
        out.with_suffix(".meta.json").write_text(json.dumps(meta) + "\n")


def _exit_on_signal(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.web.sampler")
    parser.add_argument("out", type=Path)
    parser.add_argument("--interval", type=float, default=0.002)
    parser.add_argument("rest", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    rest = args.rest[1:] if args.rest[:1] == ["--"] else args.rest
    sampler = Sampler(args.interval)
    sys.argv = ["consentry", *rest]
    # uvicorn restores the handler it found and raises the signal again after its shutdown: with
    # this one, that ends in the finally below instead of killing the process before it writes.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    signal.signal(signal.SIGUSR1, sampler.record)
    signal.signal(signal.SIGUSR2, sampler.record)
    sampler.start()
    try:
        runpy.run_module("consentry.cli.main", run_name="__main__", alter_sys=True)
    finally:
        sampler.stop(args.out)


if __name__ == "__main__":
    main()
