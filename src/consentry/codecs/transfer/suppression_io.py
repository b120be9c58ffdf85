"""Streaming readers shared by the suppression-list codecs (SendGrid, Amazon SES, Mailgun,
Postmark).

* ``csv_rows``: the rows of a CSV file (``table.read_rows``) that must carry some columns; a file
  without them is not the format and raises InputError naming what is missing.
* ``json_elements``: the elements of JSON arrays, one at a time, in constant memory: a bare array
  (SendGrid's API pages) or the array under one key of an object (Mailgun ``items``, Postmark
  ``Suppressions``, SES ``SuppressedDestinationSummaries``). Several documents may follow one
  another (API pages appended to one file, or one per line); elements are numbered from 1
  across the file. A syntax error ends the file with one rejected record naming where it was.
* ``json_lines``: JSON Lines, each value with its line number; a line that is not JSON is
  rejected by line.
* ``not_utf8``: the first string of a decoded value holding bytes that were not UTF-8 (files are
  decoded with ``surrogateescape``, so a bad byte rejects its record, never the file).
* ``time_note``: a suppression's time is not required (it holds without one), so a time that
  cannot be read keeps its record, with the raw text in ``occurred`` and a note as evidence.
"""

from __future__ import annotations

import codecs
import io
import json
import re
from collections.abc import Iterator, Sequence
from typing import BinaryIO

from consentry.codecs.transfer.source import Source
from consentry.codecs.transfer.table import Row, read_rows
from consentry.domain.errors import InputError
from consentry.domain.transfer import RejectedRow, TimeValue

CHUNK = 1 << 16
#: One JSON record larger than this is refused (a real suppression record is < 2 KiB).
MAX_RECORD = 8 << 20
RAW_CHARS = 300
_SURROGATE = re.compile("[\udc80-\udcff]")
_DECODER = json.JSONDecoder()
_WHITESPACE = " \t\r\n"

Element = tuple[int, object]
_NOT_THIS = ("the header has no", "the file is empty", "unreadable header")


def parts(source: Source) -> Iterator[tuple[str | None, str]]:
    """(member, label) of each file to read: the zip's members, or the file itself."""
    if not source.is_zip:
        yield None, source.label()
        return
    for member in source.members():
        yield member, source.label(member)


def head_text(source: Source, size: int = 8192) -> str:
    """The first bytes of a plain file as text (BOM removed; "" for a zip)."""
    if source.is_zip:
        return ""
    return source.head(size=size).decode("utf-8", "replace").lstrip("\ufeff")


def csv_rows(
    stream: BinaryIO, label: str, required: Sequence[str], fmt: str, header: bytes = b""
) -> Iterator[Row | RejectedRow]:
    """``table.read_rows``, with a file whose header lacks a ``required`` column (or an empty
    file) refused as a whole: it is not ``fmt``. ``header``: a header line of our own for a
    file that has none (its rows' line numbers are then one too high)."""
    rows = read_rows(lent(stream, header), label, required)
    for item in rows:
        if isinstance(item, RejectedRow) and item.line == 1 and item.reason.startswith(_NOT_THIS):
            raise InputError(f"{label}: not a {fmt} file: {item.reason}")
        yield item


def printable(text: str, limit: int = RAW_CHARS) -> str:
    return _SURROGATE.sub("\ufffd", text[:limit])


def raw_json(value: object) -> str:
    """A record's text for a rejected row (cut, bad bytes shown as U+FFFD)."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return printable(text)


def not_utf8(value: object, where: str = "") -> str | None:
    """The path of the first string in ``value`` that held non-UTF-8 bytes, or None."""
    if isinstance(value, str):
        return (where or "value") if _SURROGATE.search(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            found = not_utf8(key, where) or not_utf8(item, f"{where}.{key}" if where else key)
            if found:
                return found
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found = not_utf8(item, f"{where}[{i}]")
            if found:
                return found
    return None


def time_note(field: str, value: TimeValue | None) -> dict[str, str]:
    """Evidence for a time that could not be read: the record is kept (a suppression holds
    without its time; the raw text stays in ``occurred``), the problem said."""
    if value is None or value.at is not None:
        return {}
    return {"time_unreadable": f"{field!r} value {value.raw[:100]!r} is not a time"}


def scalar(value: object) -> str:
    """A JSON string or number as trimmed text ("" for null, booleans and containers)."""
    if isinstance(value, bool) or value is None:
        return ""
    if isinstance(value, int | float | str):
        return str(value).strip()
    return ""


class _Syntax(Exception):
    pass


class _Scanner:
    """JSON text read in chunks: one value at a time from a sliding buffer."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._decoder = codecs.getincrementaldecoder("utf-8")("surrogateescape")
        self.buf = ""
        self.pos = 0
        self.before = 0  # characters dropped from the front of the buffer
        self.eof = False
        self._started = False

    def _more(self) -> None:
        data = self._stream.read(CHUNK)
        text = self._decoder.decode(data, final=not data)
        if not self._started and text:
            text = text.lstrip("\ufeff")
            self._started = True
        if self.pos:
            self.before += self.pos
            self.buf = self.buf[self.pos :]
            self.pos = 0
        self.buf += text
        if not data:
            self.eof = True

    def peek(self) -> str:
        """The next character that is not whitespace ("" at the end of the file)."""
        while True:
            while self.pos < len(self.buf) and self.buf[self.pos] in _WHITESPACE:
                self.pos += 1
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if self.eof:
                return ""
            self._more()

    def take(self, char: str) -> None:
        found = self.peek()
        if found != char:
            seen = repr(found) if found else "the end"
            raise _Syntax(f"expected {char!r} at character {self.offset}, found {seen}")
        self.pos += 1

    @property
    def offset(self) -> int:
        return self.before + self.pos

    def value(self) -> object:
        """The JSON value that starts at the next character that is not whitespace."""
        self.peek()
        while True:
            try:
                value, end = _DECODER.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as exc:
                cut = exc.msg.startswith("Unterminated string") or exc.pos >= len(self.buf) - 16
                if cut and not self.eof:
                    if len(self.buf) - self.pos > MAX_RECORD:
                        raise _Syntax(f"a record larger than {MAX_RECORD >> 20} MiB") from exc
                    self._more()
                    continue
                where = self.before + exc.pos
                raise _Syntax(f"{exc.msg} at character {where}") from exc
            if end >= len(self.buf) and not self.eof:
                self._more()  # a number or literal may go on in the next chunk
                continue
            self.pos = end
            return value


def json_elements(
    stream: BinaryIO, label: str, key: str | None, fmt: str, empty_ok: bool = False
) -> Iterator[Element | RejectedRow]:
    """Every element of the top-level array (``key`` None) or of the array under ``key`` of each
    top-level object, numbered from 1 across the file. InputError when the first document is
    not that shape (the file is not ``fmt``), or when there is none and not ``empty_ok``."""
    scan = _Scanner(stream)
    number = 0
    document = 0
    shape = "a JSON array" if key is None else f"a JSON object with a {key!r} array"
    try:
        while True:
            start = scan.peek()
            if not start:
                if document == 0 and not empty_ok:
                    raise InputError(f"{label}: not a {fmt} file: it is empty")
                return
            document += 1
            found = False
            if key is None and start == "[":
                found = True
                for value in _array(scan):
                    number += 1
                    yield number, value
            elif key is not None and start == "{":
                scan.take("{")
                while scan.peek() != "}":
                    name = scan.value()
                    scan.take(":")
                    if name == key and scan.peek() == "[":
                        found = True
                        for value in _array(scan):
                            number += 1
                            yield number, value
                    else:
                        scan.value()
                    if scan.peek() == ",":
                        scan.take(",")
                    elif scan.peek() != "}":
                        raise _Syntax(f"expected ',' or '}}' at character {scan.offset}")
                scan.take("}")
            else:
                if document == 1:
                    raise InputError(f"{label}: not a {fmt} file: it is not {shape}")
                scan.value()
            if not found:
                if document == 1:
                    raise InputError(f"{label}: not a {fmt} file: it is not {shape}")
                yield RejectedRow(label, number + 1, f"JSON document {document} is not {shape}")
    except _Syntax as exc:
        yield RejectedRow(
            label, number + 1,
            f"JSON syntax error ({exc}); the rest of the file could not be read",
            printable(scan.buf[scan.pos : scan.pos + 120]),
        )  # fmt: skip


def _array(scan: _Scanner) -> Iterator[object]:
    scan.take("[")
    if scan.peek() == "]":
        scan.take("]")
        return
    while True:
        yield scan.value()
        if scan.peek() == ",":
            scan.take(",")
            continue
        scan.take("]")
        return


def json_lines(stream: BinaryIO, label: str) -> Iterator[Element | RejectedRow]:
    """Each non-blank line's JSON value with its line number; bad lines rejected by line."""
    text = io.TextIOWrapper(lent(stream), encoding="utf-8", errors="surrogateescape", newline="\n")
    for number, line in enumerate(text, 1):
        if number == 1:
            line = line.lstrip("\ufeff")
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError as exc:
            yield RejectedRow(label, number, f"not JSON: {exc}", printable(line.strip()))
            continue
        yield number, value


def lent(stream: BinaryIO, prefix: bytes = b"") -> BinaryIO:
    """``stream`` lent to a text wrapper that the caller will not close: when the wrapper is
    collected it closes the loan, and the owner's file stays for the owner to close."""
    return io.BufferedReader(Prefixed(prefix, stream), CHUNK)


class Prefixed(io.RawIOBase):
    """``prefix`` then ``stream`` (its BOM dropped when a prefix stands before it): lets a
    headerless CSV be read with a header of our own."""

    def __init__(self, prefix: bytes, stream: BinaryIO) -> None:
        self._prefix = prefix
        self._stream = stream
        self._started = not prefix  # only a prefixed stream's BOM needs dropping

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self._prefix:
            n = min(len(buffer), len(self._prefix))
            buffer[:n] = self._prefix[:n]
            self._prefix = self._prefix[n:]
            return n
        data = self._stream.read(len(buffer))
        if not self._started:
            self._started = True
            if data.startswith(codecs.BOM_UTF8):  # no longer at the start of the text
                data = data[len(codecs.BOM_UTF8) :] or self._stream.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)
