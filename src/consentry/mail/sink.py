"""SMTPSink: a local SMTP server that accepts every message and keeps it, for trying consentry
without a mail server (``consentry sink``, and ``consentry demo``). Never for production.

It speaks enough ESMTP for the dispatcher (EHLO with PIPELINING, 8BITMIME, SMTPUTF8 and SIZE;
MAIL, RCPT, DATA, RSET, NOOP, QUIT), handles pipelined commands by reading them in order, and
writes each message as ``<n>.eml`` into a directory when given one. It listens on loopback
unless told otherwise.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from pathlib import Path

MAX_SIZE = 50 * 1024 * 1024


@dataclass
class SinkStats:
    messages: int = 0
    recipients: int = 0
    bytes: int = 0
    by_recipient: dict[str, int] = field(default_factory=dict)


class SMTPSink:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, directory: Path | None = None):
        self.host, self.port = host, port
        self.directory = directory
        self.stats = SinkStats()
        self._server: asyncio.base_events.Server | None = None
        self._lock = threading.Lock()

    async def start(self) -> None:
        if self.directory is not None:
            self.directory.mkdir(parents=True, exist_ok=True)
        self._server = await asyncio.start_server(self._session, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def serve_forever(self) -> None:
        assert self._server is not None
        await self._server.serve_forever()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    @property
    def url(self) -> str:
        return f"smtp://{self.host}:{self.port}"

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        write = writer.write
        write(b"220 consentry-sink ESMTP ready\r\n")
        sender: str | None = None
        rcpts: list[str] = []
        try:
            while line := await reader.readline():
                verb = line[:4].upper()
                if verb in (b"EHLO", b"HELO"):
                    sender, rcpts = None, []
                    write(b"250-consentry-sink\r\n250-PIPELINING\r\n250-8BITMIME\r\n"
                          b"250-SMTPUTF8\r\n250 SIZE %d\r\n" % MAX_SIZE)  # fmt: skip
                elif verb == b"MAIL":
                    sender, rcpts = _path(line), []
                    write(b"250 2.1.0 Ok\r\n")
                elif verb == b"RCPT":
                    if sender is None:
                        write(b"503 5.5.1 MAIL first\r\n")
                    else:
                        rcpts.append(_path(line))
                        write(b"250 2.1.5 Ok\r\n")
                elif verb == b"DATA":
                    if not rcpts:
                        write(b"554 5.5.1 No valid recipients\r\n")
                        continue
                    write(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    data = await reader.readuntil(b"\r\n.\r\n")
                    self._keep(rcpts, data[:-3].replace(b"\r\n..", b"\r\n."))
                    write(b"250 2.0.0 Ok: queued\r\n")
                    sender, rcpts = None, []
                elif verb == b"RSET":
                    sender, rcpts = None, []
                    write(b"250 2.0.0 Ok\r\n")
                elif verb == b"NOOP":
                    write(b"250 2.0.0 Ok\r\n")
                elif verb == b"QUIT":
                    write(b"221 2.0.0 Bye\r\n")
                    break
                else:
                    write(b"502 5.5.2 Command not recognised\r\n")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    def _keep(self, rcpts: list[str], data: bytes) -> None:
        with self._lock:
            self.stats.messages += 1
            self.stats.recipients += len(rcpts)
            self.stats.bytes += len(data)
            for r in rcpts:
                self.stats.by_recipient[r] = self.stats.by_recipient.get(r, 0) + 1
            n = self.stats.messages
        if self.directory is not None:
            (self.directory / f"{n:08d}.eml").write_bytes(data)


def _path(line: bytes) -> str:
    text = line.decode("utf-8", "replace")
    start, end = text.find("<"), text.find(">")
    return text[start + 1 : end] if 0 <= start < end else ""


class SinkThread:
    """The sink on its own event loop in a daemon thread (for the demo and tests)."""

    def __init__(self, directory: Path | None = None) -> None:
        self.sink = SMTPSink(directory=directory)
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="consentry-sink", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self.sink.start())
        self._ready.set()
        self._loop.run_forever()

    def __enter__(self) -> SMTPSink:
        self._thread.start()
        self._ready.wait(10)
        return self.sink

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.sink.close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
