"""The SMTP wire vocabulary: reply parsing, dot-stuffing, outcomes.

``Envelope`` and ``Handoff`` are the transport port's value types (``consentry.ports``), re-exported
here and from ``consentry.mail.smtp``. ``Handoff.outcome`` is one of:

- ``accepted``: 2xx after the final dot;
- ``rejected``: 5xx at MAIL, RCPT, DATA or after the dot;
- ``deferred``: 4xx anywhere, or the connection failed before the final dot was sent (nothing was
  delivered; the caller may retry later);
- ``uncertain``: the final dot was sent but no (sensible) reply came; the server may have the
  message, so it must never be resent automatically;
- ``withheld``: the caller's gate said no just before MAIL FROM;
- ``failed``: a local reason (SMTPUTF8 or 8BITMIME needed but not offered, over SIZE, bad data).
"""

from __future__ import annotations

import asyncio
import re
import ssl
import time
from collections.abc import Awaitable, Callable

from consentry.ports import Envelope, Handoff

Gate = Callable[[Envelope], bool]
Pace = Callable[[Envelope], Awaitable[None] | None]

_ENHANCED = re.compile(rb"([245])\.(\d{1,3})\.(\d{1,3})(?=\s|$)")
MAIL, RCPT, DATA, DOT, RSET = range(5)
STAGES = ("mail", "rcpt", "data", "dot")


class Flight:
    """A message whose transaction is under way on a session."""

    __slots__ = ("dot_sent", "env", "failure", "payload", "stage")

    def __init__(self, env: Envelope, payload: bytes) -> None:
        self.env = env
        self.payload = payload
        self.stage = MAIL  # the next reply expected
        self.failure: tuple[int, bytes, int] | None = None
        self.dot_sent = False


def parse_reply(raw: bytes) -> tuple[str | None, str]:
    """The enhanced status code (RFC 3463) and the text of a possibly multiline reply."""
    if raw.count(b"\n") == 1:  # the usual single line reply
        text = raw[4:].strip()
        match = _ENHANCED.match(text)
        if match and match.group(1) == raw[:1]:
            return match.group(0).decode(), text[match.end() :].strip().decode("utf-8", "replace")
        return None, text.decode("utf-8", "replace")
    enhanced: str | None = None
    texts: list[str] = []
    for line in raw.splitlines():
        text = line[4:].strip()
        match = _ENHANCED.match(text)
        if match and match.group(1) == line[:1]:
            enhanced = enhanced or match.group(0).decode()
            text = text[match.end() :].strip()
        texts.append(text.decode("utf-8", "replace"))
    return enhanced, " ".join(t for t in texts if t)


def outcome_of(code: int, final: bool) -> str:
    """After the final dot 2xx accepts, 5xx rejects, 4xx defers and anything else leaves the
    message uncertain; before it, 5xx rejects and anything else defers."""
    kind = code // 100
    if kind == 5:
        return "rejected"
    if kind == 4:
        return "deferred"
    if final:
        return "accepted" if kind == 2 else "uncertain"
    return "deferred"


def is_fatal(code: int, kind: int) -> bool:
    """A reply after which the session cannot go on (421, or out of protocol)."""
    if code == 421:
        return True
    if kind == DATA:
        return code != 354 and code // 100 not in (4, 5)
    return code // 100 not in (2, 4, 5)


def decided(fl: Flight, code: int, raw: bytes, kind: int) -> Handoff:
    """The handoff of a message whose transaction ended with the reply ``code`` at ``kind``."""
    if fl.failure is not None:
        code, raw, kind = fl.failure
    return from_reply(fl.env, outcome_of(code, kind == DOT), code, raw, STAGES[kind])


def from_reply(env: Envelope, outcome: str, code: int | None, raw: bytes, stage: str) -> Handoff:
    enhanced, text = parse_reply(raw) if raw else (None, "")
    return Handoff(env.key, outcome, code, enhanced, text, stage, time.time())


def local_handoff(env: Envelope, outcome: str, reason: str, stage: str = "local") -> Handoff:
    return Handoff(env.key, outcome, None, None, reason, stage, time.time())


def stuff(data: bytes) -> bytes:
    """Dot-stuff ``data`` and append the end-of-data marker (adding a final CRLF if missing)."""
    if not data:
        return b".\r\n"
    body = data.replace(b"\r\n.", b"\r\n..")
    if body[:1] == b".":
        body = b"." + body
    if body[-2:] != b"\r\n":
        body += b"\r\n"
    return body + b".\r\n"


def client_ssl_context(verify: bool) -> ssl.SSLContext:
    """A client context; ``verify=False`` accepts any certificate (self-signed test servers)."""
    context = ssl.create_default_context()
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def new_event_loop() -> asyncio.AbstractEventLoop:
    """A uvloop loop when uvloop is installed, else the default asyncio loop."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency off Windows
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def _failed(env: Envelope, reason: str) -> Handoff:
    return local_handoff(env, "failed", reason)


def prepare(env: Envelope, ext: dict[str, str]) -> tuple[bytes, bytes] | Handoff:
    """The MAIL/RCPT/DATA commands and the stuffed content, or a ``failed`` handoff."""
    sender, recipient, data = env.sender, env.recipient, env.data
    params = ""
    if env.smtputf8 or not (sender.isascii() and recipient.isascii()):
        if "SMTPUTF8" not in ext:
            return _failed(env, "SMTPUTF8 needed but the server does not offer it")
        params = " SMTPUTF8"
    if not data.isascii():
        if "8BITMIME" not in ext:
            return _failed(env, "8-bit content but the server does not offer 8BITMIME")
        params += " BODY=8BITMIME"
    if "SIZE" in ext:
        limit = ext["SIZE"]
        if limit.isdigit() and 0 < int(limit) < len(data):
            return _failed(env, f"message of {len(data)} bytes over SIZE {limit}")
        params += f" SIZE={len(data)}"
    if any(c in sender or c in recipient for c in "\r\n<>"):
        return _failed(env, "CR, LF or angle bracket in an envelope address")
    if not data.count(b"\r") == data.count(b"\n") == data.count(b"\r\n"):
        return _failed(env, "bare CR or LF in message data (CRLF line endings needed)")
    commands = f"MAIL FROM:<{sender}>{params}\r\nRCPT TO:<{recipient}>\r\nDATA\r\n"
    return commands.encode(), stuff(data)
