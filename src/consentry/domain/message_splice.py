"""Campaign messages serialised once and spliced per recipient (R17, R27; RFC 5322, 2045, 8058).

A campaign sends one message to millions of people; only a few bytes differ between them. So
:meth:`SplicedMessage.build` does all the work once: it validates and folds the shared headers
(``message_headers``), picks a MIME boundary, and quoted-printable encodes the static stretches of
the text and HTML bodies into byte segments. :meth:`SplicedMessage.render` then joins those
segments with the recipient's headers (To, Date, Message-ID, List-Unsubscribe) and merge values,
using plain ``bytes`` operations and no ``email`` package.

Splicing quoted-printable without re-encoding the whole body works because every merge value is
put on lines of its own with soft line breaks (RFC 2045 §6.7 rule 5)::

    ...static text=\\r\\n<value, QP-encoded, wrapped at 76>=\\r\\nstatic text...

A soft line break decodes to nothing, so the decoded body is exactly the static text with the
value in place, and every encoded line stays within 76 characters wherever the value falls.

The static encoder also encodes trailing white space, a ``.`` starting a line and a ``From ``
starting a line, so that the body survives careless transports and mbox files unchanged. The
boundary is ``=_`` and a hash of the content: ``=_`` never occurs in quoted-printable output.
(SMTP dot-stuffing remains the transport's job, RFC 5321 §4.5.2.)

:meth:`SplicedMessage.reference_render` builds the same message for one recipient entirely with
``EmailMessage``; the tests hold the two equivalent.
"""

from __future__ import annotations

import hashlib
import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from types import MappingProxyType
from typing import Final

from consentry.domain.errors import InputError, TemplateError
from consentry.domain.message_headers import (
    CampaignHeaders,
    check_date,
    check_header_block,
    check_header_value,
    check_https_url,
    check_message_id,
    check_round_trip,
    header_address,
    header_policy,
    list_unsubscribe_value,
    serialise_headers,
)

__all__ = ["RECIPIENT_FIELDS", "Recipient", "Slot", "SplicedMessage"]

#: Per-recipient merge fields. ``confirm_url`` exists only in double opt-in confirmations.
RECIPIENT_FIELDS: Final = ("email", "unsubscribe_url", "confirm_url")
RECIPIENT_HEADERS: Final = ("To", "Date", "Message-ID", "List-Unsubscribe")
QP_WIDTH: Final = 75  # characters before a soft line break's "=", so lines are at most 76

_QP_TOKENS: Final = tuple(
    chr(b) if (33 <= b <= 126 and b != 61) or b in (9, 32) else f"={b:02X}" for b in range(256)
)
_CRLF: Final = b"\r\n"
_SOFT: Final = b"=\r\n"


@dataclass(frozen=True, slots=True)
class Slot:
    """The place of a per-recipient merge field in a body: one of :data:`RECIPIENT_FIELDS`."""

    name: str


@dataclass(frozen=True, slots=True)
class Recipient:
    """One recipient's part of a message.

    ``address`` is the literal for To:, ``message_id`` has no angle brackets, ``unsubscribe_url``
    is the one-click https URL (it also fills ``Slot("unsubscribe_url")``), and ``values`` holds
    the other merge values; ``email`` defaults to ``address`` when absent."""

    address: str
    message_id: str
    unsubscribe_url: str
    unsubscribe_mailto: str | None = None
    values: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


def _hex(byte: int) -> str:
    return f"={byte:02X}"


def _starts_badly(data: bytes, index: int) -> bool:
    """A ``.`` or ``From `` at ``index`` would start an encoded line: encode its first byte."""
    return data[index] == 0x2E or data.startswith(b"From ", index)


def qp_static(text: str) -> bytes:
    """Quoted-printable for a static body stretch (``\\n`` line breaks become CRLF)."""
    out: list[str] = []
    for line in text.split("\n"):
        data = line.encode("utf-8")
        tokens = [_QP_TOKENS[b] for b in data]
        if tokens and data[-1] in (9, 32):
            tokens[-1] = _hex(data[-1])
        physical: list[str] = []
        current = ""
        for index, token in enumerate(tokens):
            if len(current) + len(token) > QP_WIDTH:
                physical.append(current)
                current = ""
            if not current and _starts_badly(data, index):
                token = _hex(data[index])
            current += token
        physical.append(current)
        out.append("=\r\n".join(physical))
    return "\r\n".join(out).encode("ascii")


def qp_value(value: str) -> bytes:
    """Quoted-printable for a merge value, wrapped at 75 characters plus soft breaks. The value
    holds no line break, and is always followed by a soft break, so white space may stay."""
    if value.isascii() and value.isprintable():
        encoded = value.replace("=", "=3D")
    else:
        encoded = "".join([_QP_TOKENS[b] for b in value.encode("utf-8")])
    if len(encoded) <= QP_WIDTH:
        return encoded.encode("ascii")
    lines: list[str] = []
    start, size = 0, len(encoded)
    while size - start > QP_WIDTH:
        end = start + QP_WIDTH
        escape = encoded.rfind("=", end - 2, end)  # an "=XX" that would straddle the break
        if escape != -1:
            end = escape
        lines.append(encoded[start:end])
        start = end
    lines.append(encoded[start:])
    return "=\r\n".join(lines).encode("ascii")


def _normalised_parts(parts: Sequence[str | Slot], which: str) -> list[str | Slot]:
    """Parts with adjacent strings merged, then CRLF and CR read as LF, empty strings dropped,
    and a final line break, which is what ``EmailMessage.set_content`` does to a body too."""
    merged: list[str | Slot] = []
    for part in parts:
        if isinstance(part, Slot):
            if part.name not in RECIPIENT_FIELDS:
                raise TemplateError(f"{which}: unknown recipient field {part.name!r}")
            merged.append(part)
        elif isinstance(part, str):
            if merged and isinstance(merged[-1], str):
                merged[-1] += part
            else:
                merged.append(part)
        else:
            raise TypeError(f"{which}: parts must be str or Slot, not {type(part).__name__}")
    out: list[str | Slot] = [
        p.replace("\r\n", "\n").replace("\r", "\n") if isinstance(p, str) else p
        for p in merged
        if p != ""
    ]
    if Slot("unsubscribe_url") not in out:
        raise TemplateError(f"the {which} body has no visible unsubscribe link (R17)")
    last = out[-1]
    if isinstance(last, str) and last.endswith("\n"):
        return out
    if isinstance(last, str):
        out[-1] = last + "\n"
    else:
        out.append("\n")
    return out


def _fill(parts: Sequence[str | Slot], values: Mapping[str, str], escape: bool) -> str:
    if escape:
        return "".join(p if isinstance(p, str) else html.escape(values[p.name]) for p in parts)
    return "".join(p if isinstance(p, str) else values[p.name] for p in parts)


class SplicedMessage:
    """A campaign message, encoded once; :meth:`render` per recipient. Build with :meth:`build`."""

    __slots__ = (
        "_boundary",
        "_from_utf8",
        "_headers",
        "_html",
        "_last_date",
        "_plan",
        "_slots",
        "_static_names",
        "_text",
    )

    _boundary: str
    _from_utf8: bool
    _headers: CampaignHeaders
    _html: tuple[str | Slot, ...] | None
    _last_date: str | None
    _plan: list[bytes]
    _slots: tuple[tuple[int, str, bool], ...]
    _static_names: tuple[str, ...]
    _text: tuple[str | Slot, ...]

    @classmethod
    def build(
        cls,
        headers: CampaignHeaders,
        text: Sequence[str | Slot],
        html: Sequence[str | Slot] | None,
    ) -> SplicedMessage:
        """Validate the campaign headers (``HeaderInjection``, ``InvalidAddress``,
        ``InputError``) and the bodies (``TemplateError``: an unknown slot, or no
        ``Slot("unsubscribe_url")`` in a body), and serialise everything static once."""
        return cls(headers, text, html)

    def __init__(
        self,
        headers: CampaignHeaders,
        text: Sequence[str | Slot],
        html: Sequence[str | Slot] | None,
    ) -> None:
        """Same as :meth:`build`."""
        self._headers = headers.checked()
        self._from_utf8 = self._headers.needs_smtputf8()
        self._text = tuple(_normalised_parts(text, "text"))
        self._html = None if html is None else tuple(_normalised_parts(html, "html"))
        self._last_date = None
        digest = hashlib.sha256(repr((self._headers, self._text, self._html)).encode())
        self._boundary = "=_" + digest.hexdigest()[:32]

        msg = EmailMessage(policy=header_policy(self._from_utf8))
        self._headers.set_on(msg)
        msg["MIME-Version"] = "1.0"
        if self._html is None:
            msg["Content-Type"] = 'text/plain; charset="utf-8"'
            msg["Content-Transfer-Encoding"] = "quoted-printable"
        else:
            msg["Content-Type"] = f'multipart/alternative; boundary="{self._boundary}"'
        static = serialise_headers(msg)
        self._static_names = tuple(name for name, _ in msg.raw_items())
        check_header_block(static, self._static_names)
        check_round_trip(static, self._headers)

        plan: list[bytes] = [b"", static + _CRLF]
        slots: list[tuple[int, str, bool]] = []
        delimiter = f"--{self._boundary}".encode("ascii")
        bodies = [(self._text, "plain", False)]
        if self._html is not None:
            bodies.append((self._html, "html", True))
        for number, (parts, subtype, escape) in enumerate(bodies):
            if self._html is not None:
                # The CRLF before a delimiter belongs to the delimiter (RFC 2046 §5.1.1).
                plan.append(
                    (_CRLF if number else b"")
                    + delimiter
                    + f'\r\nContent-Type: text/{subtype}; charset="utf-8"\r\n'
                    "Content-Transfer-Encoding: quoted-printable\r\n\r\n".encode("ascii")
                )
            for part in parts:
                if isinstance(part, Slot):
                    slots.append((len(plan), part.name, escape))
                    plan.append(b"")
                else:
                    segment = qp_static(part)
                    if delimiter in segment:  # cannot happen: "=_" is never QP output
                        raise ValueError("MIME boundary occurs in the content")
                    plan.append(segment)
        if self._html is not None:
            plan.append(_CRLF + delimiter + b"--" + _CRLF)
        self._plan = plan
        self._slots = tuple(slots)

    @property
    def headers(self) -> CampaignHeaders:
        """The campaign headers as checked and normalised."""
        return self._headers

    @staticmethod
    def _values(r: Recipient) -> dict[str, str]:
        """The merge values; the unsubscribe URL is checked with the List-Unsubscribe header."""
        email = r.values.get("email", r.address)
        check_header_value("recipient value 'email'", email)
        values = {"email": email, "unsubscribe_url": r.unsubscribe_url}
        confirm = r.values.get("confirm_url")
        if confirm is not None:
            values["confirm_url"] = check_https_url("recipient value 'confirm_url'", confirm)
        return values

    def _recipient_headers(self, r: Recipient, date: str) -> tuple[bytes, bool]:
        if date != self._last_date:
            self._last_date = check_date(date)
        to, utf8 = header_address("recipient address", r.address)
        message_id = check_message_id(r.message_id)
        unsubscribe = list_unsubscribe_value(r.unsubscribe_url, r.unsubscribe_mailto)
        if len(unsubscribe) > 60 and r.unsubscribe_mailto is not None:
            unsubscribe = unsubscribe.replace(">, <", ">,\r\n <", 1)
        block = (
            f"To: {to}\r\nDate: {date}\r\nMessage-ID: <{message_id}>\r\n"
            f"List-Unsubscribe: {unsubscribe}\r\n"
        ).encode()
        return block, utf8 or self._from_utf8

    def render(self, r: Recipient, date: str) -> bytes:
        """The whole message for ``r``, CRLF line ends. ``date`` is an RFC 5322 date-time
        (:func:`message_headers.format_date`), computed once per batch by the caller.
        ``HeaderInjection`` for CR/LF/NUL in any recipient value, ``InvalidAddress`` or
        ``InputError`` for a value of the wrong shape."""
        block, _ = self._recipient_headers(r, date)
        check_header_block(block, RECIPIENT_HEADERS)
        values = self._values(r)
        out = self._plan.copy()
        out[0] = block
        encoded: dict[tuple[str, bool], bytes] = {}
        for index, name, escape in self._slots:
            key = (name, escape)
            piece = encoded.get(key)
            if piece is None:
                value = values.get(name)
                if value is None:
                    raise InputError(f"recipient value {name!r} is missing")
                piece = _SOFT + qp_value(html.escape(value) if escape else value) + _SOFT
                encoded[key] = piece
            out[index] = piece
        return b"".join(out)

    def needs_smtputf8(self, r: Recipient) -> bool:
        """Whether the message for ``r`` carries raw UTF-8 addresses (RFC 6532), so that the
        caller must send it with SMTPUTF8 (RFC 6531): a non-ASCII local part in To or From."""
        return self._from_utf8 or header_address("recipient address", r.address)[1]

    def reference_render(self, r: Recipient, date: str) -> bytes:
        """The same message built for ``r`` entirely with ``EmailMessage``: the slow, obvious
        path that the tests hold :meth:`render` equivalent to. Not for sending: it folds a long
        List-Unsubscribe into encoded-words, which RFC 2369 clients do not decode."""
        _, utf8 = self._recipient_headers(r, date)
        values = self._values(r)
        msg = EmailMessage(policy=header_policy(utf8))
        msg["To"] = header_address("recipient address", r.address)[0]
        msg["Date"] = date
        msg["Message-ID"] = f"<{r.message_id}>"
        msg["List-Unsubscribe"] = list_unsubscribe_value(r.unsubscribe_url, r.unsubscribe_mailto)
        self._headers.set_on(msg)
        msg.set_content(_fill(self._text, values, False), cte="quoted-printable")
        if self._html is not None:
            html_body = _fill(self._html, values, True)
            msg.add_alternative(html_body, subtype="html", cte="quoted-printable")
        data = msg.as_bytes()
        head = data[: data.index(b"\r\n\r\n") + 2]
        check_header_block(head, (*RECIPIENT_HEADERS, *self._static_names))
        return data
