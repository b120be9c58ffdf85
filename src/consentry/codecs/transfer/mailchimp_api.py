"""Mailchimp Marketing API v3 members (``mailchimp-api-json``), streamed.

Accepted shapes, in any mix, one after another in the file: a ``GET /lists/{id}/members`` page
document (``{"members": [...], "list_id": ..., "total_items": ..., "_links": [...]}``, the
members array streamed element by element, whatever its size), a bare JSON array of member
objects, and JSON Lines (one member object, or one page document, per line). Fields (hexdocs
``Mailchimp.Member``, konfig-sdks ``ListMembers1``): ``email_address``, ``status`` (subscribed,
unsubscribed, cleaned, pending, transactional, archived), ``timestamp_signup`` / ``ip_signup``
(sign-up), ``timestamp_opt`` / ``ip_opt`` ("confirmed their opt-in status"; for single opt-in
members the only time), ``last_changed``, ``unsubscribe_reason``, ``marketing_permissions``
(``[{marketing_permission_id, text, enabled}]``), ``tags`` (``[{id, name}]``), ``source`` and
``list_id`` (the scope). A subscribed member whose every marketing permission is refused is
still read as consented (that is its Mailchimp status) but with ``review=True``.

A member's ``line`` is its record number (1-based) when it comes from an array, else the
physical line where its object starts (JSON Lines: the line). A bad JSON Lines line is rejected
with its line and the next line read; a syntax error inside a multi-line document (a cut-off
download) refuses the file (InputError).
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from typing import Any, BinaryIO

from consentry.codecs.transfer.mailchimp_fields import (
    API_STATUSES,
    PROVIDER,
    STATES,
    SURROGATE,
    Actor,
    audience,
    audience_id,
    clean,
    opt_in_evidence,
    put,
    tags_text,
    unsubscribe_actor,
)
from consentry.codecs.transfer.source import Source
from consentry.codecs.transfer.times import parse_time
from consentry.domain.errors import InputError
from consentry.domain.transfer import Item, RejectedRow, State, TransferRecord

CHUNK = 1 << 16
MAX_VALUE = 64 << 20
_WS = re.compile(r"[ \t\r\n]*")
_DECODER = json.JSONDecoder()
_MARKERS = ('"unique_email_id"', '"timestamp_opt"', '"list_id"', '"web_id"', '"ip_opt"')


class JsonSyntax(Exception):
    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.line = line


class JsonStream:
    """JSON values read one at a time from a byte stream, in bounded memory: the buffer holds
    at most one value (up to ``MAX_VALUE``) plus one chunk."""

    def __init__(self, stream: BinaryIO, chunk: int = CHUNK) -> None:
        self.text = io.TextIOWrapper(
            stream, encoding="utf-8-sig", errors="surrogateescape", newline=""
        )
        self.chunk = chunk
        self.buf = ""
        self.pos = 0
        self.eof = False
        self.line_base = 1  # the line number of buf[0]
        self.before = "\n"  # the character before buf[0]

    def at_line_start(self) -> bool:
        return (self.buf[self.pos - 1] if self.pos else self.before) == "\n"

    def _more(self, size: int) -> bool:
        data = self.text.read(size)
        if not data:
            self.eof = True
            return False
        self.line_base += self.buf.count("\n", 0, self.pos)
        self.before = self.buf[self.pos - 1] if self.pos else self.before
        self.buf = self.buf[self.pos :] + data
        self.pos = 0
        return True

    def line(self, pos: int | None = None) -> int:
        return self.line_base + self.buf.count("\n", 0, self.pos if pos is None else pos)

    def peek(self) -> str:
        """The next character after whitespace ("" at the end)."""
        while True:
            self.pos = _WS.match(self.buf, self.pos).end()  # type: ignore[union-attr]
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self._more(self.chunk):
                return ""

    def take(self, char: str) -> None:
        found = self.peek()
        if found != char:
            raise JsonSyntax(f"expected {char!r}, found {found or 'the end'!r}", self.line())
        self.pos += 1

    def value(self) -> Any:
        self.peek()
        size = self.chunk
        while True:
            try:
                value, end = _DECODER.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as exc:
                # Cut off by the end of the buffer (an unterminated string is reported where it
                # starts; a cut literal, number or escape a few characters before the end)?
                cut = len(self.buf) - exc.pos <= 64 or exc.msg.startswith("Unterminated string")
                if self.eof or not cut:
                    raise JsonSyntax(exc.msg, self.line(min(exc.pos, len(self.buf)))) from exc
                if len(self.buf) - self.pos > MAX_VALUE:
                    raise JsonSyntax("a value larger than 64 MB", self.line()) from exc
                self._more(size)
                size = min(size * 2, 1 << 24)
                continue
            if end < len(self.buf) or self.eof:
                self.pos = end
                return value
            self._more(size)

    def array(self) -> Iterator[Any]:
        """The elements of the array that starts here."""
        self.take("[")
        if self.peek() == "]":
            self.pos += 1
            return
        while True:
            yield self.value()
            found = self.peek()
            if found not in (",", "]"):
                raise JsonSyntax(f"expected ',' or ']', found {found or 'the end'!r}", self.line())
            self.pos += 1
            if found == "]":
                return

    def skip_line(self) -> None:
        while True:
            newline = self.buf.find("\n", self.pos)
            if newline >= 0:
                self.pos = newline + 1
                return
            self.pos = len(self.buf)
            if not self._more(self.chunk):
                return


def _members_of(stream: JsonStream) -> Iterator[tuple[Any, bool]]:
    """The object that starts here: its ``members`` streamed (``True``: from an array), or the
    object itself when it has none (a member)."""
    stream.take("{")
    obj: dict[str, Any] = {}
    paged = False
    if stream.peek() == "}":
        stream.pos += 1
        yield obj, False
        return
    while True:
        key = stream.value()
        if not isinstance(key, str):
            raise JsonSyntax("an object key that is not a string", stream.line())
        stream.take(":")
        if key == "members" and stream.peek() == "[":
            paged = True
            yield from ((member, True) for member in stream.array())
        else:
            obj[key] = stream.value()
        found = stream.peek()
        if found not in (",", "}"):
            raise JsonSyntax(f"expected ',' or '}}', found {found or 'the end'!r}", stream.line())
        stream.pos += 1
        if found == "}":
            break
    if not paged:
        yield obj, False


def _expand(value: Any) -> Iterator[tuple[Any, bool]]:
    """Array elements that are page documents stand for their members."""
    if isinstance(value, dict) and isinstance(value.get("members"), list):
        for member in value["members"]:
            yield member, True
    else:
        yield value, True


class MailchimpApiReader:
    """Marketing API v3 member objects (see the module docstring)."""

    def __init__(self) -> None:
        self.name = "mailchimp-api-json"
        self.provider = PROVIDER
        self.description = (
            "Mailchimp Marketing API v3 members: a members page document, an array of members, "
            "or JSON Lines"
        )

    def sniff(self, source: Source) -> int:
        if source.is_zip:
            return 0
        head = source.head().decode("utf-8", "replace").lstrip("\ufeff \t\r\n")
        if not head.startswith(("{", "[")) or '"email_address"' not in head:
            return 0
        score = 30 + (30 if '"members"' in head else 0) + (10 if '"status"' in head else 0)
        if any(marker in head for marker in _MARKERS):
            score += 30
        return min(score, 100)

    def read(self, source: Source) -> Iterator[Item]:
        if source.is_zip:
            raise InputError(f"{source.name}: a zip archive, not Mailchimp API JSON")
        file = source.label()
        fallback = audience_id(source.name)
        with source.open() as raw:
            stream = JsonStream(raw)
            try:
                if stream.peek() not in ("{", "["):
                    raise InputError(f"{file}: not JSON (it should start with '{{' or '[')")
                yield from self._read(stream, file, fallback)
            finally:
                stream.text.detach()

    def _read(self, stream: JsonStream, file: str, fallback: str | None) -> Iterator[Item]:
        record = 0
        lines_only = True  # every top-level value so far sat on one line: JSON Lines
        while (first := stream.peek()) != "":
            start = stream.line()
            try:
                if first == "{":
                    values = _members_of(stream)
                elif first == "[":
                    values = (m for v in stream.array() for m in _expand(v))
                else:
                    raise JsonSyntax(f"expected an object or an array, found {first!r}", start)
                for value, in_array in values:
                    record += 1
                    yield member_record(value, file, record if in_array else start, fallback)
            except JsonSyntax as exc:
                # JSON Lines: the bad line is rejected and reading goes on at the next line
                # (already there when the error was found at its start: an unclosed object).
                own_line = exc.line == start
                next_line = stream.at_line_start() and stream.peek() == "{"
                if not (lines_only and (own_line or next_line)):
                    raise InputError(
                        f"{file}: unreadable JSON at line {exc.line}: {exc}; "
                        "was the download cut off?"
                    ) from exc
                yield RejectedRow(file, start, f"line {start} is not JSON: {exc}")
                if own_line:
                    stream.skip_line()
                continue
            if stream.line() != start:
                lines_only = False


def member_record(member: Any, file: str, line: int, fallback: str | None) -> Item:
    """One API member object as a record (or the reason it cannot be read)."""
    if not isinstance(member, dict):
        return RejectedRow(file, line, f"record {line} is not a JSON object", str(member)[:300])
    raw = json.dumps(member, ensure_ascii=False)[:300]
    email = member.get("email_address")
    if not isinstance(email, str) or not email.strip():
        return RejectedRow(file, line, "no address in 'email_address'", raw)
    status = member.get("status")
    if not isinstance(status, str) or not status.strip():
        return RejectedRow(file, line, "no 'status'", raw)
    if SURROGATE.search(email + status):
        return RejectedRow(file, line, "'email_address' or 'status' is not UTF-8", raw)
    word = status.strip().lower()
    if word not in API_STATUSES:
        return RejectedRow(file, line, f"unknown status {status!r} in 'status'", raw)
    signup, opt = clean(member.get("timestamp_signup")), clean(member.get("timestamp_opt"))
    evidence = opt_in_evidence(
        signup, clean(member.get("ip_signup")), opt, clean(member.get("ip_opt"))
    )
    permissions = _permissions(member.get("marketing_permissions"))
    tags = member.get("tags")
    names = (
        (clean(t.get("name")) for t in tags if isinstance(t, dict))
        if isinstance(tags, list)
        else ()
    )
    put(
        evidence, source=clean(member.get("source")),
        last_changed=clean(member.get("last_changed")),
        euid=clean(member.get("unique_email_id")),
        reason_text=clean(member.get("unsubscribe_reason")), tags=tags_text(names),
        marketing_permissions="; ".join(f"{t}={'yes' if on else 'no'}" for t, on in permissions),
        permission_text="; ".join(text for text, on in permissions if on),
    )  # fmt: skip
    state = STATES[word]
    actor: Actor = "unknown"
    if word == "unsubscribed":
        actor = unsubscribe_actor(evidence.get("reason_text", ""))
    elif word == "cleaned":
        actor = "system"
    if state is State.CONSENTED:
        when = opt or signup
    elif state is State.PENDING:
        when = signup or clean(member.get("last_changed"))
    else:
        when = clean(member.get("last_changed"))
    list_id = clean(member.get("list_id")) or fallback
    review = word == "archived" or (
        state is State.CONSENTED and bool(permissions) and not any(on for _, on in permissions)
    )
    return TransferRecord(
        email=email.strip(), state=state, scope=audience(list_id), file=file, line=line,
        original_status=word, occurred=parse_time(when), actor=actor, evidence=evidence,
        review=review,
    )  # fmt: skip


def _permissions(value: Any) -> list[tuple[str, bool]]:
    if not isinstance(value, list):
        return []
    found = []
    for item in value:
        if isinstance(item, dict):
            text = clean(item.get("text")) or clean(item.get("marketing_permission_id"))
            found.append((text, item.get("enabled") is True))
    return found
