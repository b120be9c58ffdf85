"""The inbound SMTP listener (``consentry inbound``, aiosmtpd): where the List-Unsubscribe mailto
address, the reply address and the bounce and feedback-loop addresses deliver (R20, R21).

* RCPT is accepted only for the configured addresses (``news@example.com``; a ``+tag`` on the
  local part is ignored) or whole domains (``@bounces.example.com``), compared on the canonical
  key; anything else gets ``550 5.1.1``. At most 50 recipients a message.
* SIZE is advertised and enforced: 1 MiB by default, ``552`` beyond (at MAIL FROM when the
  client declares a SIZE, after DATA otherwise). SMTPUTF8 and 8BITMIME are accepted.
* After DATA the handler (given the message bytes, the envelope sender and the recipients) runs
  in a worker thread, off the event loop, and the answer waits for it: ``250`` only once it has
  returned, so whatever it recorded is durable before the sender lets go of the message, and
  also for mail it understood but ignored; ``554 5.6.0`` naming the problem when it raised
  ``InputError`` (a message that cannot be read: retrying will not help); ``451 4.3.0`` for
  anything else (the database is down: the sender keeps the message and retries).

:class:`InboundListener` is the asyncio core, :class:`InboundServer` runs one on its own event
loop in a thread (``start()``/``stop()``, for tests on a free 127.0.0.1 port), and
:func:`serve_inbound` runs one in the foreground until interrupted (the CLI).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from types import TracebackType
from typing import Any, Final

from aiosmtpd.smtp import SMTP, Envelope, Session

from consentry.domain.addresses import parse_address
from consentry.domain.errors import InputError, InvalidAddress

log = logging.getLogger("consentry.inbound")

MAX_MESSAGE_BYTES: Final = 1024 * 1024
MAX_RECIPIENTS: Final = 50

#: What the listener calls for each message: (data, envelope sender, recipients) -> a result,
#: whose ``str()`` is logged (it must hold no personal data).
InboundHandler = Callable[[bytes, str, list[str]], object]


class AcceptList:
    """The recipient addresses and domains this listener takes mail for."""

    def __init__(self, entries: Sequence[str]) -> None:
        self.addresses: set[str] = set()
        self.domains: set[str] = set()
        for entry in entries:
            text = entry.strip()
            try:
                if text.startswith("@"):
                    self.domains.add(parse_address(f"postmaster{text}").domain)
                else:
                    self.addresses.add(_untagged(parse_address(text).canonical))
            except InvalidAddress as exc:
                raise InputError(
                    f"--accept {entry!r} is neither an address nor @domain: {exc}"
                ) from exc
        if not self.addresses and not self.domains:
            raise InputError("give at least one address or @domain to accept mail for")

    def accepts(self, address: str) -> bool:
        try:
            parsed = parse_address(address)
        except InvalidAddress:
            return False
        return parsed.domain in self.domains or _untagged(parsed.canonical) in self.addresses

    def __str__(self) -> str:
        return ", ".join(sorted(self.addresses) + sorted(f"@{d}" for d in self.domains))


def _untagged(canonical: str) -> str:
    local, _, domain = canonical.rpartition("@")
    return f"{local.split('+', 1)[0] or local}@{domain}"


class _Hooks:
    """aiosmtpd handler hooks."""

    def __init__(self, listener: InboundListener) -> None:
        self.listener = listener

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return "452 4.5.3 Too many recipients"
        if not self.listener.accept.accepts(address):
            return "550 5.1.1 No such recipient here"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        data = bytes(envelope.original_content or b"")
        sender = envelope.mail_from or ""
        recipients = list(envelope.rcpt_tos)
        call = partial(self.listener.handler, data, sender, recipients)
        try:
            result = await asyncio.get_running_loop().run_in_executor(self.listener.pool, call)
        except InputError as exc:
            log.info("refused a message: %s", exc)
            return f"554 5.6.0 Message not understood: {_one_line(str(exc))}"
        except Exception:
            log.exception("inbound handler failed; the sender will retry")
            return "451 4.3.0 Temporary failure, please retry"
        log.info("%s", result)
        return "250 2.0.0 OK"


def _one_line(text: str) -> str:
    return " ".join(text.split())[:200]


class InboundListener:
    """The SMTP listener on an asyncio loop: ``await start()``, then ``serve_forever()`` or
    ``close()``."""

    def __init__(
        self,
        handler: InboundHandler,
        accept: Sequence[str] | AcceptList,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        max_size: int = MAX_MESSAGE_BYTES,
        hostname: str | None = None,
        workers: int = 4,
    ) -> None:
        self.handler = handler
        self.accept = accept if isinstance(accept, AcceptList) else AcceptList(accept)
        self.host, self.port = host, port
        self.max_size = max_size
        self.hostname = hostname or socket.gethostname()
        self.pool = ThreadPoolExecutor(workers, thread_name_prefix="consentry-inbound")
        self._hooks = _Hooks(self)
        self._server: asyncio.AbstractServer | None = None
        self._sessions: weakref.WeakSet[SMTP] = weakref.WeakSet()

    def _protocol(self) -> SMTP:
        smtp = SMTP(self._hooks, data_size_limit=self.max_size, enable_SMTPUTF8=True,
                    decode_data=False, hostname=self.hostname, ident="consentry inbound",
                    timeout=120, loop=asyncio.get_running_loop())  # fmt: skip
        self._sessions.add(smtp)
        return smtp

    async def start(self) -> None:
        server = await asyncio.get_running_loop().create_server(
            self._protocol, self.host, self.port
        )
        self._server = server
        self.port = int(server.sockets[0].getsockname()[1])

    async def serve_forever(self) -> None:
        assert self._server is not None, "start() first"
        await self._server.serve_forever()

    async def close(self) -> None:
        """Stop listening, drop open sessions, and wait for running handlers to finish (what
        they wrote is durable; their senders got no reply and will retry). The sessions' tasks
        end with their connections; the loop's owner reaps them."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for smtp in list(self._sessions):
            if smtp.transport is not None:
                smtp.transport.close()
        await asyncio.sleep(0)  # let connection_lost() run
        await asyncio.to_thread(self.pool.shutdown, True)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


class InboundServer:
    """An :class:`InboundListener` on its own event loop in a thread (tests, embedding)."""

    def __init__(
        self,
        handler: InboundHandler,
        accept: Sequence[str] | AcceptList,
        host: str = "127.0.0.1",
        port: int = 0,
        **options: Any,
    ) -> None:
        self.listener = InboundListener(handler, accept, host, port, **options)
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="consentry-inbound", daemon=True)

    @property
    def host(self) -> str:
        return self.listener.host

    @property
    def port(self) -> int:
        return self.listener.port

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self.listener.start())
        except BaseException as exc:  # reported by start() in the caller's thread
            self._error = exc
            self._ready.set()
            self._loop.close()
            return
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self.listener.close())
        leftover = asyncio.all_tasks(self._loop)
        for task in leftover:
            task.cancel()
        self._loop.run_until_complete(asyncio.gather(*leftover, return_exceptions=True))
        self._loop.run_until_complete(self._loop.shutdown_asyncgens())
        self._loop.run_until_complete(self._loop.shutdown_default_executor())
        self._loop.close()

    def start(self) -> InboundServer:
        self._thread.start()
        if not self._ready.wait(30):
            raise TimeoutError("the inbound listener did not start within 30 s")
        if self._error is not None:
            raise self._error
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(60)

    def __enter__(self) -> InboundServer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def serve_inbound(
    handler: InboundHandler,
    accept: Sequence[str] | AcceptList,
    host: str = "127.0.0.1",
    port: int = 2525,
    on_ready: Callable[[InboundListener], None] | None = None,
    **options: Any,
) -> None:
    """Run the listener in the foreground until interrupted (Ctrl-C, SIGTERM as KeyboardInterrupt
    by the caller)."""
    listener = InboundListener(handler, accept, host, port, **options)

    async def main() -> None:
        await listener.start()
        if on_ready is not None:
            on_ready(listener)
        try:
            await listener.serve_forever()
        finally:
            await listener.close()

    asyncio.run(main())
