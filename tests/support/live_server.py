"""A real ``consentry serve`` (uvicorn) on a free 127.0.0.1 port, for tests that need a server
process: browsers, raw HTTP clients. The server's output goes to a log file (a pipe would fill up
and stall it); start-up is polled on ``/healthz``, never slept on."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

START_TIMEOUT = 30.0
_PORT_TAKEN = "address already in use"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on at the moment of asking."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class LiveServer:
    """A running server: its origin (``http://127.0.0.1:<port>``), process and log file."""

    base: str
    process: subprocess.Popen[bytes]
    log: Path

    def url(self, path: str) -> str:
        return self.base + path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def _wait_until_up(server: LiveServer, deadline: float) -> None:
    while True:
        try:
            if httpx.get(server.url("/healthz"), timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if server.process.poll() is not None:
            raise RuntimeError(
                f"consentry serve exited with {server.process.returncode} before answering "
                f"/healthz; its output:\n{server.output()[-3000:]}"
            )
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"consentry serve did not answer {server.url('/healthz')} within "
                f"{START_TIMEOUT:.0f} s; its output:\n{server.output()[-3000:]}"
            )
        time.sleep(0.05)  # poll interval while the server starts


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@contextmanager
def live_server(
    home: Path,
    database_url: str | None = None,
    log: Path | None = None,
    env: Mapping[str, str] | None = None,
    tries: int = 3,
) -> Iterator[LiveServer]:
    """``consentry serve`` on ``home`` (and ``database_url``, else the home's SQLite file) on a
    free port, answering before this yields and stopped (SIGTERM, then SIGKILL) after. ``env``:
    more variables for the server (``CONSENTRY_SMTP_URL``, ...); nothing else is inherited.

    Another process may take the free port between asking and binding; then it tries again
    on another port, ``tries`` times in all."""
    log = log or home.parent / "consentry-serve.log"
    variables = {"CONSENTRY_HOME": str(home), "PATH": "/usr/bin:/bin", **(env or {})}
    if database_url is not None:
        variables["CONSENTRY_DATABASE_URL"] = database_url
    for attempt in range(tries):
        port = free_port()
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "consentry.cli.main", "serve", "--port", str(port)],
                env=variables, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        server = LiveServer(f"http://127.0.0.1:{port}", process, log)
        try:
            _wait_until_up(server, time.monotonic() + START_TIMEOUT)
        except RuntimeError:
            _stop(process)
            if _PORT_TAKEN in server.output().lower() and attempt + 1 < tries:
                continue
            raise
        try:
            yield server
        finally:
            _stop(process)
        return
