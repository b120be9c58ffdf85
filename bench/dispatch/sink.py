"""Postfix's ``smtp-sink`` on a free loopback port: the mail server every measurement sends to.

Only the sink is started (never the mail system on port 25). It accepts everything, pipelining
included, and throws the mail away. With ``-c`` it keeps running counters (``sess=… quit=…
mesg=…``) on its standard output; they go to a log file (a pipe would fill and stall the sink)
and :meth:`Sink.messages` reads the last ``mesg=`` from it, so each run can check that the sink
really received every message it claims to have sent.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

from bench.dispatch.procfs import cpu_seconds

SINK = "/usr/sbin/smtp-sink"
_COUNTER = re.compile(rb"mesg=(\d+)")


def free_port() -> int:
    """A loopback TCP port nobody listens on (the kernel's choice)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class Sink:
    """``smtp-sink -c -u postfix 127.0.0.1:PORT 1000``, started on enter and killed on exit.

    ``dump_dir``: also write each received message to a file there (``-d``), for measuring the
    size of what consentry really sends; only for a handful of messages.
    """

    def __init__(self, log_dir: Path, dump_dir: Path | None = None) -> None:
        self.port = free_port()
        self.log = log_dir / f"smtp-sink-{self.port}.log"
        self.dump_dir = dump_dir
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> Sink:
        binary = shutil.which("smtp-sink") or SINK
        cmd = [binary, "-c", "-u", "postfix"]
        if self.dump_dir is not None:
            self.dump_dir.mkdir(parents=True, exist_ok=True)
            shutil.chown(self.dump_dir, "postfix")
            cmd += ["-d", f"{self.dump_dir}/%M."]
        cmd += [self.address, "1000"]
        with self.log.open("wb") as log:
            self._proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while not _listening(self.port):
            if self._proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"smtp-sink did not start: {self.log.read_text()[-500:]}")
            time.sleep(0.05)
        return self

    def messages(self) -> int:
        """Messages received so far (the sink's ``mesg=`` counter)."""
        try:
            with self.log.open("rb") as f:
                f.seek(0, 2)
                f.seek(max(0, f.tell() - 4096))
                tail = f.read()
        except OSError:
            return 0
        found = _COUNTER.findall(tail)
        return int(found[-1]) if found else 0

    def cpu_seconds(self) -> float:
        """CPU seconds the sink has used so far (0 when it is not running)."""
        if self._proc is None:
            return 0.0
        return cpu_seconds(self._proc.pid) or 0.0

    def settled(self, timeout: float = 5.0) -> int:
        """The counter once it stops moving (the sink updates it when a session ends)."""
        last, deadline = -1, time.monotonic() + timeout
        while time.monotonic() < deadline:
            now = self.messages()
            if now == last:
                return now
            last = now
            time.sleep(0.2)
        return last

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None

    def __enter__(self) -> Sink:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
