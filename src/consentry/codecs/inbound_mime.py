"""The MIME plumbing of the inbound mail codec: parse bytes into a message without trusting them,
decode header text (RFC 2047 encoded words, raw UTF-8 under SMTPUTF8), pull addresses out of
header fields, read ``Name: value`` field blocks (RFC 3464 §2.1, RFC 5965 §3), and find our
unsubscribe tokens in a List-Unsubscribe value.

Everything here is lenient about what real mail does (folded fields, missing charsets, raw
8-bit bytes) and turns what it cannot read into :class:`InputError` naming the part or field.
Pure: stdlib ``email``, ``re``, ``base64``, ``quopri`` only.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import quopri
import re
from dataclasses import dataclass
from email import message_from_bytes, message_from_string
from email.errors import MessageError
from email.header import decode_header, make_header
from email.message import Message
from email.utils import getaddresses
from typing import Any, Final

from consentry.domain.errors import InputError

MAX_TEXT: Final = 256 * 1024  # characters of a decoded part that the classifier looks at

#: A list name as ``consent.create_list`` allows it, and the token of ``domain.tokens``.
LIST_PATTERN: Final = r"[a-z0-9][a-z0-9._-]{0,63}"
TOKEN_PATTERN: Final = r"[A-Za-z0-9_-]{1,64}\.[A-Za-z0-9_-]{64}(?![A-Za-z0-9_-])"  # noqa: S105
_URL_TOKEN = re.compile(rf"/u/(?P<list>{LIST_PATTERN})/(?P<token>{TOKEN_PATTERN})")
_MAILTO_TOKEN = re.compile(
    rf"(?i:unsubscribe)(?:%20|\+|\s)+(?P<list>{LIST_PATTERN})(?:%20|\+|\s)+(?P<token>{TOKEN_PATTERN})"
)
_FOLD = re.compile(r"\r?\n[ \t]+")
_FIELD = re.compile(r"([!-9;-~]+)[ \t]*:(.*)")
_UNSAFE_CHARS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@dataclass(frozen=True)
class ListToken:
    """An unsubscribe token and the list it names, as found in a message: not yet verified
    (``services.unsubscribe.subject_of_token`` does that)."""

    list_id: str
    token: str


def parse_message(data: bytes) -> Message:
    """The message in ``data`` (compat32: structure only; text is decoded on demand here)."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise InputError(f"message must be bytes, got {type(data).__name__}")
    raw = bytes(data)
    if not raw.strip():
        raise InputError("message is empty")
    head = raw.lstrip()[:1000]
    if b":" not in head.split(b"\n", 1)[0] and not head.startswith(b"From "):
        raise InputError("message does not start with a header field")
    try:
        return message_from_bytes(raw)
    except (MessageError, ValueError, IndexError, LookupError, TypeError) as exc:
        raise InputError(f"message cannot be parsed: {exc}") from exc


def unfold(value: str) -> str:
    return _FOLD.sub(" ", value).strip()


def _unescape(value: str) -> str:
    """Raw 8-bit header bytes (parsed as surrogate escapes) read as UTF-8."""
    if any("\udc80" <= ch <= "\udcff" for ch in value):
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return value


def raw_values(msg: Message, name: str) -> list[str]:
    """Every ``name`` field's value as it came (the parser's own accessors turn raw 8-bit bytes
    into replacement characters; SMTPUTF8 mail has UTF-8 there)."""
    wanted = name.lower()
    return [str(v) for k, v in msg.raw_items() if k.lower() == wanted]


def header_text(msg: Message, name: str) -> str:
    """The decoded, unfolded text of the first ``name`` field ('' when absent)."""
    values = raw_values(msg, name)
    return decode_words(values[0]) if values else ""


def decode_words(value: str) -> str:
    text = unfold(_unescape(value))
    if "=?" in text:
        # an unreadable encoded word is kept as it came: it is still text
        with contextlib.suppress(MessageError, LookupError, UnicodeError, ValueError):
            text = str(make_header(decode_header(text)))
    return _UNSAFE_CHARS.sub(" ", text)


def addresses(msg: Message, name: str) -> list[str]:
    """The addr-specs in every ``name`` field (only those with an @), in order."""
    values = [unfold(_unescape(v)) for v in raw_values(msg, name)]
    try:
        pairs = getaddresses(values)
    except (ValueError, IndexError, TypeError) as exc:
        raise InputError(f"{name} field cannot be parsed: {exc}") from exc
    return [a for _, addr in pairs if (a := clean_address(addr))]


def clean_address(text: str) -> str | None:
    """``text`` stripped of angle brackets and spaces, if it looks like an address."""
    addr = text.strip().strip("<>").strip()
    if "@" not in addr or any(ch.isspace() for ch in addr) or len(addr) > 320:
        return None
    local, _, domain = addr.rpartition("@")
    return addr if local and domain else None


def message_id(msg: Message) -> str | None:
    value = header_text(msg, "Message-ID")
    return value[:200] if value else None


def payload_of(part: Message, decode: bool = False) -> Any:
    """``part.get_payload(decode=...)``, whose failures on damaged parts (a charset name with a
    NUL in it, say) become :class:`InputError` naming the part."""
    try:
        return part.get_payload(decode=True) if decode else part.get_payload()
    except (MessageError, ValueError, LookupError, TypeError, UnicodeError) as exc:
        raise InputError(f"{part.get_content_type()} part cannot be read: {exc}") from exc


def part_text(part: Message, limit: int = MAX_TEXT) -> str:
    """The decoded text of a leaf part (transfer encoding and charset undone)."""
    payload = payload_of(part, decode=True)
    if not isinstance(payload, bytes):
        inner = payload_of(part)
        return inner[:limit] if isinstance(inner, str) else ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, "replace")[:limit]
    except (LookupError, ValueError, TypeError):  # an unknown or nonsensical charset name
        return payload.decode("utf-8", "replace")[:limit]


def report_text(part: Message) -> str:
    """The raw text of a ``message/*`` report part (delivery-status, feedback-report), which the
    parser may have split into header blocks; transfer encodings are undone."""
    payload = payload_of(part)
    if isinstance(payload, list):
        chunks = []
        for block in payload:
            if not isinstance(block, Message):
                continue
            lines = [f"{k}: {v}" for k, v in block.raw_items()]
            body = payload_of(block)
            text = "\n".join(lines)
            if isinstance(body, str) and body.strip():
                text = f"{text}\n\n{body}" if lines else body
            chunks.append(text)
        text = "\n\n".join(chunks)
    else:
        text = payload if isinstance(payload, str) else ""
    encoding = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
    raw = text.encode("utf-8", "surrogateescape")
    try:
        if encoding == "base64":
            raw = base64.b64decode(b"".join(raw.split()), validate=False)
        elif encoding == "quoted-printable":
            raw = quopri.decodestring(raw)
    except (binascii.Error, ValueError) as exc:
        raise InputError(f"{part.get_content_type()} part is not valid {encoding}") from exc
    return raw.decode("utf-8", "replace")[:MAX_TEXT]


def field_blocks(text: str) -> list[list[tuple[str, str]]]:
    """``Name: value`` blocks separated by blank lines; continuation lines are unfolded into the
    field before them and lines that are neither are skipped."""
    blocks: list[list[tuple[str, str]]] = []
    current: list[tuple[str, str]] = []
    for line in text.replace("\r\n", "\n").split("\n"):
        if not line.strip():
            if current:
                blocks.append(current)
                current = []
        elif line[0] in " \t" and current:
            name, value = current[-1]
            current[-1] = (name, f"{value} {line.strip()}".strip())
        elif match := _FIELD.fullmatch(line):
            current.append((match.group(1), match.group(2).strip()))
    if current:
        blocks.append(current)
    return blocks


def headers_of(text: str) -> Message:
    """A header-only message read from ``text`` (a ``text/rfc822-headers`` part)."""
    return message_from_string(text.replace("\r\n", "\n").split("\n\n", 1)[0] + "\n\n")


def list_tokens(msg: Message) -> ListToken | None:
    """The first of our tokens in the message's List-Unsubscribe fields: the one-click URL
    (``/u/<list>/<token>``) or the mailto subject (``unsubscribe <list> <token>``)."""
    for value in raw_values(msg, "List-Unsubscribe"):
        text = unfold(_unescape(value))
        for pattern in (_URL_TOKEN, _MAILTO_TOKEN):
            if match := pattern.search(text):
                return ListToken(match.group("list"), match.group("token"))
    return None


def mailto_token(text: str) -> ListToken | None:
    """``unsubscribe <list> <token>`` anywhere in ``text`` (%20 and + read as spaces)."""
    match = _MAILTO_TOKEN.search(text)
    return ListToken(match.group("list"), match.group("token")) if match else None
