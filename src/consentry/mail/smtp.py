"""One SMTP client session on asyncio streams, with PIPELINING (RFC 2920).

``connect`` reads the greeting, says EHLO (HELO if refused), upgrades with STARTTLS as the target
asks, EHLOs again and authenticates (AUTH PLAIN, else LOGIN). ``send`` hands a list of envelopes
over, one recipient each, and returns one ``Handoff`` per envelope. With PIPELINING each turn is one
write: the previous message's content and final dot, an RSET if the last transaction failed, then
``MAIL FROM``, ``RCPT TO`` and ``DATA`` of the next message; then the replies are read in order.
The content is only sent after ``354``, and never when MAIL or RCPT failed (a lone dot closes the
DATA a server accepted regardless). Without PIPELINING the commands go in lock-step.

The caller's ``gate`` is asked immediately before a message's ``MAIL FROM`` is written. If the
connection breaks, messages whose final dot was written are ``uncertain`` (the server may have
them); the others are ``deferred``; nothing is ever resent here.
"""

from __future__ import annotations

import asyncio
import base64
import ssl
from collections.abc import Callable, Sequence

from consentry.domain.errors import TransportError
from consentry.mail.smtp_url import SMTPTarget
from consentry.mail.smtp_wire import (
    DATA,
    DOT,
    MAIL,
    RCPT,
    RSET,
    STAGES,
    Flight,
    Gate,
    Pace,
    client_ssl_context,
    decided,
    is_fatal,
    new_event_loop,
    prepare,
    stuff,
)
from consentry.mail.smtp_wire import (
    local_handoff as _local,
)
from consentry.ports import Envelope, Handoff

__all__ = [
    "Envelope",
    "Gate",
    "Handoff",
    "Pace",
    "SMTPConnection",
    "client_ssl_context",
    "new_event_loop",
    "stuff",
]


class _Broken(Exception):
    """The session can no longer be used; the message says why."""


class SMTPConnection:
    """One SMTP session. Not safe for concurrent ``send`` calls; the pool gives each its own."""

    def __init__(self) -> None:
        self.extensions: dict[str, str] = {}
        self.target: SMTPTarget | None = None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._timeout = 60.0
        self._broken: str | None = "not connected"

    @property
    def usable(self) -> bool:
        """True while the session is open and in a clean state between transactions."""
        if self._broken is not None or self._reader is None or self._writer is None:
            return False
        return not (self._reader.at_eof() or self._writer.is_closing())

    # -- session setup -------------------------------------------------------------------------

    async def connect(self, target: SMTPTarget, ssl_context: ssl.SSLContext | None = None) -> None:
        """Open the session; raise ``TransportError`` naming host:port and the failed stage.

        ``ssl_context`` (for smtps and STARTTLS) wins over ``target.verify_tls``."""
        self.target, self._timeout = target, target.timeout
        stage = "connect"
        try:
            async with asyncio.timeout(target.timeout):
                tls = None
                if target.scheme == "smtps":
                    tls = ssl_context or client_ssl_context(target.verify_tls)
                self._reader, self._writer = await asyncio.open_connection(
                    target.host, target.port, ssl=tls, server_hostname=target.host if tls else None
                )
                stage = "greeting"
                self._expect(220, await self._reply())
                stage = "ehlo"
                await self._hello(target)
                if target.scheme == "smtp" and target.starttls != "never":
                    stage = "starttls"
                    await self._starttls(target, ssl_context)
                    stage = "ehlo"
                    await self._hello(target)
                if target.username is not None:
                    stage = "auth"
                    await self._auth(target.username, target.password or "")
        except asyncio.CancelledError:
            self.close()
            raise
        except (OSError, TimeoutError, EOFError, ValueError, _Broken, ssl.SSLError) as exc:
            self.close()
            detail = str(exc) or type(exc).__name__
            raise TransportError(f"SMTP {target.where}: {stage} failed: {detail}") from None
        self._broken = None

    @staticmethod
    def _expect(code: int, reply: tuple[int, bytes]) -> None:
        if reply[0] != code:
            raise _Broken(f"server replied {reply[1].decode('utf-8', 'replace').strip()!r}")

    async def _hello(self, target: SMTPTarget) -> None:
        name = target.local_hostname
        if name is None:
            assert self._writer is not None
            sockname = self._writer.get_extra_info("sockname")
            ip = sockname[0] if sockname else "127.0.0.1"
            name = f"[IPv6:{ip}]" if ":" in ip else f"[{ip}]"
        code, raw = await self._command(f"EHLO {name}\r\n".encode())
        self.extensions = {}
        if code == 250:
            for line in raw.splitlines()[1:]:
                keyword, _, params = line[4:].decode("utf-8", "replace").strip().partition(" ")
                if keyword:
                    self.extensions[keyword.upper()] = params.strip()
            return
        self._expect(250, await self._command(f"HELO {name}\r\n".encode()))

    async def _starttls(self, target: SMTPTarget, context: ssl.SSLContext | None) -> None:
        if "STARTTLS" not in self.extensions:
            if target.starttls == "require":
                raise _Broken("server does not offer STARTTLS and the URL requires it")
            return
        self._expect(220, await self._command(b"STARTTLS\r\n"))
        assert self._reader is not None and self._writer is not None
        if getattr(self._reader, "_buffer", b""):  # RFC 3207 §5: nothing may precede the handshake
            raise _Broken("server sent data before the TLS handshake (command injection?)")
        context = context or client_ssl_context(target.verify_tls)
        await self._writer.start_tls(context, server_hostname=target.host)

    async def _auth(self, username: str, password: str) -> None:
        mechanisms = self.extensions.get("AUTH", "").upper().split()
        user, secret = username.encode(), password.encode()
        if "PLAIN" in mechanisms:
            token = base64.b64encode(b"\0" + user + b"\0" + secret)
            reply = await self._command(b"AUTH PLAIN " + token + b"\r\n")
        elif "LOGIN" in mechanisms:
            self._expect(334, await self._command(b"AUTH LOGIN\r\n"))
            self._expect(334, await self._command(base64.b64encode(user) + b"\r\n"))
            reply = await self._command(base64.b64encode(secret) + b"\r\n")
        else:
            offered = " ".join(mechanisms) or "no AUTH"
            raise _Broken(f"credentials given but the server offers {offered}, not PLAIN or LOGIN")
        self._expect(235, reply)

    # -- wire ----------------------------------------------------------------------------------

    async def _reply(self) -> tuple[int, bytes]:
        """Read one reply: its code and raw bytes (all lines of a multiline reply)."""
        assert self._reader is not None
        line = await self._reader.readline()
        if line[3:4] == b"-":
            lines = [line]
            while line[3:4] == b"-":
                line = await self._reader.readline()
                lines.append(line)
            raw = b"".join(lines)
        else:
            raw = line
        if not line.endswith(b"\n"):
            raise EOFError("connection closed by the server")
        if not line[:3].isdigit():
            raise ValueError(f"malformed reply {line[:80]!r}")
        return int(line[:3]), raw

    async def _command(self, line: bytes) -> tuple[int, bytes]:
        assert self._writer is not None
        self._writer.write(line)
        await self._writer.drain()
        return await self._reply()

    # -- sending -------------------------------------------------------------------------------

    async def send(self, envelopes: Sequence[Envelope], gate: Gate) -> list[Handoff]:
        """Hand the envelopes over; one ``Handoff`` per envelope, in order of decision."""
        out: list[Handoff] = []
        rest = await self.send_some(envelopes, gate, out)
        reason = f"connection lost before the message was started: {self._broken}"
        out.extend(_local(env, "deferred", reason, "connect") for env in rest)
        return out

    async def send_some(
        self,
        envelopes: Sequence[Envelope],
        gate: Gate,
        out: list[Handoff],
        pace: Pace | None = None,
    ) -> list[Envelope]:
        """Like ``send``, appending to ``out``; returns the envelopes never started (the gate was
        not asked for them) when the session broke, so a pool may send them elsewhere."""
        if not self.usable:
            self._broken = self._broken or "connection closed"
            return list(envelopes)
        flights: list[Flight] = []
        index = [0]
        try:
            if "PIPELINING" in self.extensions:
                await self._pipelined(envelopes, gate, pace, out, flights, index)
            else:
                await self._lockstep(envelopes, gate, pace, out, flights, index)
        except asyncio.CancelledError:  # the outcomes in flight are lost with the session
            self._broken = "cancelled"
            self.close()
            raise
        except (OSError, TimeoutError, EOFError, ValueError, _Broken, ssl.SSLError) as exc:
            self._broken = str(exc) or type(exc).__name__
            self.close()
            for fl in flights:
                if fl.failure is not None:
                    out.append(decided(fl, 0, b"", MAIL))
                elif fl.dot_sent:
                    reason = f"no reply after the final dot: {self._broken}"
                    out.append(_local(fl.env, "uncertain", reason, "dot"))
                else:
                    reason = f"connection lost: {self._broken}"
                    out.append(_local(fl.env, "deferred", reason, STAGES[fl.stage]))
            return list(envelopes[index[0] :])
        return []

    @staticmethod
    def _allowed(env: Envelope, gate: Gate, out: list[Handoff]) -> bool:
        try:
            allowed = gate(env)
        except Exception as exc:  # a failing gate withholds: fail closed
            out.append(_local(env, "withheld", f"gate raised {exc!r}", "gate"))
            return False
        if not allowed:
            out.append(_local(env, "withheld", "the gate said no before MAIL FROM", "gate"))
        return bool(allowed)

    async def _next(
        self,
        envelopes: Sequence[Envelope],
        gate: Gate,
        pace: Pace | None,
        out: list[Handoff],
        index: list[int],
        flush: Callable[[], None],
    ) -> tuple[Envelope, bytes, bytes] | None:
        """Advance to the next message that is prepared, paced and allowed by the gate."""
        while index[0] < len(envelopes):
            env = envelopes[index[0]]
            index[0] += 1
            prepared = prepare(env, self.extensions)
            if isinstance(prepared, Handoff):
                out.append(prepared)
                continue
            if pace is not None and (wait := pace(env)) is not None:
                flush()  # what is already composed goes out before waiting for a token
                await wait
            if self._allowed(env, gate, out):
                return env, prepared[0], prepared[1]
        return None

    async def _pipelined(
        self,
        envelopes: Sequence[Envelope],
        gate: Gate,
        pace: Pace | None,
        out: list[Handoff],
        flights: list[Flight],
        index: list[int],
    ) -> None:
        assert self._writer is not None
        writer = self._writer
        content: Flight | None = None
        rset = False
        chunks: list[bytes] = []

        def flush() -> None:
            if chunks:
                writer.write(b"".join(chunks))
                chunks.clear()
            if content is not None:
                content.dot_sent = True

        while True:
            expect: list[tuple[int, Flight | None]] = []
            if content is not None:
                chunks.append(content.payload)
                expect.append((DOT, content))
            if rset:
                chunks.append(b"RSET\r\n")
                expect.append((RSET, None))
                rset = False
            started = await self._next(envelopes, gate, pace, out, index, flush)
            if started is not None:
                fl = Flight(started[0], started[2])
                flights.append(fl)
                chunks.append(started[1])
                expect.extend(((MAIL, fl), (RCPT, fl), (DATA, fl)))
            if not expect:
                return
            flush()
            content = None
            async with asyncio.timeout(self._timeout):
                await writer.drain()
                for kind, flight in expect:
                    code, raw = await self._reply()
                    if flight is None:
                        if code // 100 != 2:
                            raise _Broken(f"RSET refused: {raw!r}")
                    elif kind == DATA and code == 354:
                        flight.stage = DOT
                        if flight.failure is not None:
                            flight.payload = b".\r\n"  # close the DATA without any content
                        content = flight
                    else:
                        if code // 100 != 2 and flight.failure is None and kind != DOT:
                            flight.failure = (code, raw, kind)
                            rset = kind != MAIL  # MAIL succeeded: the transaction is open
                        if kind in (DATA, DOT):
                            flights.remove(flight)
                            out.append(decided(flight, code, raw, kind))
                        else:
                            flight.stage = kind + 1
                        if is_fatal(code, kind):
                            raise _Broken(f"unexpected reply {raw!r}")

    async def _lockstep(
        self,
        envelopes: Sequence[Envelope],
        gate: Gate,
        pace: Pace | None,
        out: list[Handoff],
        flights: list[Flight],
        index: list[int],
    ) -> None:
        while started := await self._next(envelopes, gate, pace, out, index, _nothing):
            env, commands, payload = started
            fl = Flight(env, payload)
            flights.append(fl)
            async with asyncio.timeout(self._timeout):
                for kind, line in zip((MAIL, RCPT, DATA), commands.split(b"\r\n"), strict=False):
                    code, raw = await self._command(line + b"\r\n")
                    if kind == DATA and code == 354:
                        fl.stage = kind = DOT
                        fl.dot_sent = True
                        code, raw = await self._command(payload)
                        break
                    if code // 100 != 2 or kind == DATA:
                        fl.failure = (code, raw, kind)
                        break
                    fl.stage = kind + 1
                flights.clear()
                out.append(decided(fl, code, raw, kind))
                if is_fatal(code, kind):
                    raise _Broken(f"unexpected reply {raw!r}")
                if fl.failure is not None and fl.failure[2] != MAIL:
                    self._expect(250, await self._command(b"RSET\r\n"))

    # -- teardown ------------------------------------------------------------------------------

    async def quit(self) -> None:
        """Say QUIT (if the session is usable) and close the connection."""
        if self.usable:
            try:
                async with asyncio.timeout(min(self._timeout, 5.0)):
                    await self._command(b"QUIT\r\n")
            except (OSError, TimeoutError, EOFError, ValueError, ssl.SSLError):
                pass
        writer = self._writer
        self.close()
        if writer is not None:
            try:
                async with asyncio.timeout(min(self._timeout, 5.0)):
                    await writer.wait_closed()
            except (OSError, TimeoutError, ssl.SSLError):
                pass

    def close(self) -> None:
        """Close the connection at once, without QUIT."""
        self._broken = self._broken or "closed"
        if self._writer is not None:
            self._writer.close()


def _nothing() -> None:
    return None
