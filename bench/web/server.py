"""``consentry serve`` as a user runs it (uvicorn, one process, 127.0.0.1, a free port) on the
benchmark's home and database, optionally under a profiler; its output goes to a log file."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.dispatch.procfs import cpu_seconds

MAIN = "consentry.cli.main"
REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Server:
    origin: str
    process: subprocess.Popen[bytes]
    log: Path

    def cpu_seconds(self) -> float:
        """User + system CPU seconds of the server process so far."""
        return cpu_seconds(self.process.pid) or 0.0


def _up(port: int) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
    try:
        conn.request("GET", "/healthz")
        return conn.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


@contextmanager
def serve(home: Path, url: str, log: Path, wrapper: Sequence[str] = ()) -> Iterator[Server]:
    """The server, answering ``/healthz`` before this yields and stopped (SIGTERM) after.

    ``wrapper``: a command the server runs under (a profiler), ending where ``python -m
    consentry.cli.main`` would start."""
    port = free_port()
    env = {
        "CONSENTRY_HOME": str(home),
        "CONSENTRY_DATABASE_URL": url,
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    }
    command = [*wrapper] if wrapper else [sys.executable, "-m", MAIN]
    command += ["serve", "--port", str(port)]
    with log.open("ab") as out:
        process = subprocess.Popen(command, env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
    server = Server(f"http://127.0.0.1:{port}", process, log)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not _up(port):
            if process.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"consentry serve did not come up; its log:\n{tail}")
            time.sleep(0.1)  # polling the start-up
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
