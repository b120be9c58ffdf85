"""The R17 header linter: what is wrong with a rendered marketing message, as a list of problems.

It reads the raw bytes itself for everything about the header block (line ends, line lengths,
field names, how often each field occurs, the exact List-Unsubscribe and List-Unsubscribe-Post
values), and uses ``email.parser`` only to walk the MIME parts and decode the bodies. Checks:

* the header block: CRLF lines of ``Name: value`` or continuations, no bare CR/LF or NUL, no line
  over 998 octets (RFC 5322 §2.1.1);
* From, To, Subject, Date, Message-ID, List-Unsubscribe, List-Unsubscribe-Post, List-Id and
  Feedback-ID present (R17, R28), and none of the single-instance fields more than once;
* List-Unsubscribe: angle-bracketed URIs separated by commas, exactly one ``https:`` URI and
  otherwise only ``mailto:`` (RFC 8058 §3.1); List-Unsubscribe-Post exactly
  ``List-Unsubscribe=One-Click``; a Message-ID of the form ``<left@right>``; a parseable Date;
* every text part shows the https unsubscribe URL (R17's visible link; HTML may escape ``&``);
* body lines within 998 octets, and within 76 in quoted-printable parts (RFC 2045 §6.7).

An empty list means clean. It never raises on malformed input; that is a problem to report.
"""

from __future__ import annotations

import email.policy
import email.utils
import html
import re
from collections import Counter
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Final

from consentry.domain.message_headers import LIST_UNSUBSCRIBE_POST, MAX_LINE_OCTETS

__all__ = ["lint_headers"]

REQUIRED: Final = (
    "from", "to", "subject", "date", "message-id", "list-unsubscribe",
    "list-unsubscribe-post", "list-id", "feedback-id",
)  # fmt: skip
SINGLE: Final = (
    *REQUIRED, "reply-to", "sender", "cc", "bcc", "in-reply-to", "references",
    "mime-version", "content-type", "content-transfer-encoding",
)  # fmt: skip
_FIELD_LINE = re.compile(rb"([\x21-\x39\x3b-\x7e]+):")
_URI_LIST = re.compile(r"\s*<([^<>]*)>\s*(?:,|$)")
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_MESSAGE_ID = re.compile(rf"\s*<{_ATEXT}+(?:\.{_ATEXT}+)*@{_ATEXT}+(?:\.{_ATEXT}+)*>\s*")


def lint_headers(message: bytes) -> list[str]:
    """Problems found in a rendered marketing message; an empty list means it is clean."""
    problems: list[str] = []
    head, blank, _ = message.partition(b"\r\n\r\n")
    if not blank:
        problems.append("no empty line (CRLF CRLF) ends the header block")
    fields = _read_fields(head, problems)
    counts = Counter(name for name, _ in fields)
    values = {name: value for name, value in fields}
    problems += [f"{name} is missing" for name in REQUIRED if not counts[name]]
    problems += [f"{name} occurs {counts[name]} times" for name in SINGLE if counts[name] > 1]
    https = _check_list_unsubscribe(values.get("list-unsubscribe"), problems)
    post = values.get("list-unsubscribe-post")
    if post is not None and post.strip() != LIST_UNSUBSCRIBE_POST:
        problems.append(f"list-unsubscribe-post is {post.strip()!r}, not {LIST_UNSUBSCRIBE_POST!r}")
    message_id = values.get("message-id")
    if message_id is not None and not _MESSAGE_ID.fullmatch(message_id):
        problems.append(f"message-id {message_id.strip()!r} is not <left@right>")
    date = values.get("date")
    if date is not None:
        try:
            email.utils.parsedate_to_datetime(date.strip())
        except (TypeError, ValueError):
            problems.append(f"date {date.strip()!r} is not an RFC 5322 date-time")
    if blank:
        _check_bodies(message, https, problems)
    return problems


def _read_fields(head: bytes, problems: list[str]) -> list[tuple[str, str]]:
    """(lower-case name, unfolded raw value) of each field, reporting malformed lines."""
    fields: list[tuple[str, str]] = []
    for number, line in enumerate(head.split(b"\r\n"), 1):
        if b"\r" in line or b"\n" in line or b"\0" in line:
            problems.append(f"header line {number} holds a bare CR, LF or NUL")
        if len(line) > MAX_LINE_OCTETS:
            problems.append(f"header line {number} is over {MAX_LINE_OCTETS} octets")
        text = line.decode("utf-8", errors="replace")
        if line[:1] in (b" ", b"\t"):
            if fields:
                fields[-1] = (fields[-1][0], fields[-1][1] + text)
            else:
                problems.append("the header block starts with a continuation line")
            continue
        match = _FIELD_LINE.match(line)
        if match is None:
            problems.append(f"header line {number} is not 'Name: value'")
            continue
        name = match.group(1).decode("ascii").lower()
        fields.append((name, text[match.end() :]))
    return fields


def _check_list_unsubscribe(value: str | None, problems: list[str]) -> str | None:
    """The one https URI, or None after reporting what is wrong."""
    if value is None:
        return None
    uris: list[str] = []
    rest = value.strip()
    while rest:
        match = _URI_LIST.match(rest)
        if match is None:
            problems.append(f"list-unsubscribe is not a list of <URI>: {value.strip()!r}")
            return None
        uris.append(match.group(1))
        rest = rest[match.end() :].strip()
    https = [u for u in uris if u.lower().startswith("https://")]
    others = [u for u in uris if not u.lower().startswith(("https://", "mailto:"))]
    if len(https) != 1:
        problems.append(f"list-unsubscribe has {len(https)} https URIs, not exactly one")
    if others:
        problems.append(f"list-unsubscribe has URIs that are neither https nor mailto: {others}")
    return https[0] if len(https) == 1 else None


def _check_bodies(message: bytes, https: str | None, problems: list[str]) -> None:
    body = message.partition(b"\r\n\r\n")[2]
    for number, line in enumerate(body.split(b"\r\n"), 1):
        if len(line) > MAX_LINE_OCTETS:
            problems.append(f"body line {number} is over {MAX_LINE_OCTETS} octets")
    try:
        parsed = BytesParser(policy=email.policy.default).parsebytes(message)
    except Exception as exc:  # the parser is lenient; this is belt and braces
        problems.append(f"the message cannot be parsed: {exc}")
        return
    assert isinstance(parsed, EmailMessage)
    parts = [p for p in parsed.walk() if p.get_content_maintype() == "text"]
    if not parts:
        problems.append("the message has no text part")
    for part in parts:
        kind = part.get_content_type()
        if str(part.get("Content-Transfer-Encoding", "")).lower() == "quoted-printable":
            raw = part.get_payload(decode=False)
            if isinstance(raw, str) and any(len(x) > 76 for x in raw.splitlines()):
                problems.append(f"{kind} has quoted-printable lines over 76 characters")
        if https is None:
            continue
        try:
            content = part.get_content()
        except (LookupError, ValueError) as exc:
            problems.append(f"{kind} cannot be decoded: {exc}")
            continue
        shown = html.unescape(content) if kind == "text/html" else content
        if https not in shown:
            problems.append(f"{kind} does not show the unsubscribe link {https}")
