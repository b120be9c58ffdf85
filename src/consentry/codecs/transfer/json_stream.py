"""JSON as provider APIs hand it out, read record by record in constant memory.

A file may hold one API page (``{"Results": [...], "PageNumber": 1}``), several pages one after
another (concatenated, or one per line: JSON Lines), a bare array, or single objects one per
line. The caller names where its records live (``("contacts",)``, ``("data", "results")``, or
``("contacts", "*")`` for an object keyed by id, as Mautic pages are); the scanner walks the
envelope key by key and parses only one record at a time, so a 2 GB page costs no more memory
than its largest record. An object that holds none of the named collections is itself a record
(``{"recipient": ..., "subscriptionStatuses": [...]}``, one per line).

Records are numbered from 1 in file order: that number is the "line" of a rejected record.
A record that is not valid JSON, or whose bytes are not UTF-8, becomes a :class:`JsonProblem`
and reading goes on; a file cut off in the middle ends with one problem naming the last record
read. A file that does not start with ``{`` or ``[`` is not JSON at all: InputError.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO

from consentry.domain.errors import InputError

CHUNK = 1 << 16
#: The largest single record or envelope value read whole (a record is one subscriber).
MAX_VALUE = 32 << 20
RAW_CHARS = 300
_SURROGATE = re.compile("[\udc80-\udcff]")
_STRUCTURE = re.compile(r'["\[\]{}]')
_IN_STRING = re.compile(r'["\\]')
_SCALAR_END = re.compile(r"[\s,\]}:]")
_SPACE = " \t\r\n"
_DECODER = json.JSONDecoder()

Path = tuple[str, ...]


@dataclass(frozen=True, slots=True)
class JsonRecord:
    number: int
    value: Any


@dataclass(frozen=True, slots=True)
class JsonProblem:
    number: int
    reason: str
    raw: str = ""


class _Broken(Exception):
    """The structure cannot be followed any further (truncated or not JSON)."""


class _Text:
    """Decoded text of a byte stream, read in chunks; bytes that are not UTF-8 survive as
    surrogates so the record holding them can be rejected on its own."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="surrogateescape")
        self.buf = ""
        self.pos = 0
        self.eof = False
        self.started = False

    def _fill(self, keep: int) -> bool:
        """Drop what lies before ``keep`` and read more text; False at the end."""
        self.buf = self.buf[keep:]
        self.pos -= keep
        if self.eof:
            return False
        chunk = self.stream.read(CHUNK)
        text = self.decoder.decode(chunk, final=not chunk)
        if not chunk:
            self.eof = True
        if not self.started and text:
            text = text.lstrip("\ufeff")
            self.started = True
        self.buf += text
        return bool(text) or not self.eof

    def peek(self) -> str:
        """The next character that is not white space ("" at the end), not consumed."""
        while True:
            while self.pos < len(self.buf) and self.buf[self.pos] in _SPACE:
                self.pos += 1
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self._fill(self.pos):
                return ""

    def expect(self, chars: str) -> str:
        ch = self.peek()
        if not ch or ch not in chars:
            found = repr(ch) if ch else "the end of the file"
            raise _Broken(f"expected {' or '.join(repr(c) for c in chars)}, found {found}")
        self.pos += 1
        return ch

    def value(self) -> str:
        """The text of the next complete JSON value, consumed."""
        if not self.peek():
            raise _Broken("the file ends where a value was expected")
        start = self.pos
        first = self.buf[start]
        if first in ",:]}":
            raise _Broken(f"unexpected {first!r} where a value was expected")
        i = start + 1
        depth = 1 if first in "[{" else 0
        in_string = first == '"'
        while True:
            if in_string:
                m = _IN_STRING.search(self.buf, i)
                if m is None:
                    i = len(self.buf)
                elif m.group() == "\\" and m.end() >= len(self.buf):
                    i = m.start()  # the escaped character is in the next chunk
                elif m.group() == "\\":
                    i = m.end() + 1
                    continue
                else:
                    i = m.end()
                    in_string = False
                    if depth == 0:
                        break
                    continue
            elif depth:
                m = _STRUCTURE.search(self.buf, i)
                if m is None:
                    i = len(self.buf)
                else:
                    i = m.end()
                    ch = m.group()
                    if ch == '"':
                        in_string = True
                    elif ch in "[{":
                        depth += 1
                    else:
                        depth -= 1
                        if depth == 0:
                            break
                    continue
            else:
                m = _SCALAR_END.search(self.buf, i)
                if m is not None:
                    i = m.start()
                    break
                i = len(self.buf)
                if self.eof:
                    break
            if i - start > MAX_VALUE:
                raise _Broken(f"a value longer than {MAX_VALUE} characters")
            offset = start
            more = self._fill(start)
            start, i = start - offset, i - offset
            if not more:
                if depth == 0 and not in_string:
                    break
                raise _Broken("the file ends inside a value (cut off?)")
        text = self.buf[start:i]
        self.pos = i
        return text


def _problem(number: int, text: str) -> JsonProblem | None:
    bad = _SURROGATE.search(text)
    if bad is not None:
        byte = ord(bad.group()) - 0xDC00
        return JsonProblem(number, f"not UTF-8 (byte 0x{byte:02X})", _printable(text))
    return None


def _printable(text: str) -> str:
    return _SURROGATE.sub("\ufffd", text)[:RAW_CHARS]


class _Scanner:
    def __init__(self, text: _Text, paths: Sequence[Path]) -> None:
        self.text = text
        self.paths = [tuple(p) for p in paths]
        self.number = 0

    def _next_record(self) -> JsonRecord | JsonProblem:
        """The next value as a record: parsed in place when it is whole in the buffer (the
        common case, at the C decoder's speed), else found by the scanner first."""
        text = self.text
        if text.peek() in ("{", "["):
            try:
                value, end = _DECODER.raw_decode(text.buf, text.pos)
            except ValueError:
                pass  # cut by the buffer's end, or invalid: the scanner decides
            else:
                raw = text.buf[text.pos : end]
                text.pos = end
                self.number += 1
                return _problem(self.number, raw) or JsonRecord(self.number, value)
        return self._record(text.value())

    def _record(self, raw: str) -> JsonRecord | JsonProblem:
        self.number += 1
        problem = _problem(self.number, raw)
        if problem is not None:
            return problem
        try:
            return JsonRecord(self.number, json.loads(raw))
        except ValueError as exc:
            return JsonProblem(self.number, f"not valid JSON: {exc}", raw[:RAW_CHARS])

    def _parse(self, raw: str) -> Any:
        if _SURROGATE.search(raw):
            raise _Broken("bytes that are not UTF-8 outside a record")
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise _Broken(f"not valid JSON ({exc})") from exc

    def array(self) -> Iterator[JsonRecord | JsonProblem]:
        """The elements of the array whose ``[`` was just consumed, each one a record."""
        if self.text.peek() == "]":
            self.text.pos += 1
            return
        while True:
            yield self._next_record()
            if self.text.expect(",]") == "]":
                return

    def values(self) -> Iterator[JsonRecord | JsonProblem]:
        """The values of the object whose ``{`` was just consumed (keys dropped)."""
        if self.text.peek() == "}":
            self.text.pos += 1
            return
        while True:
            self._parse(self.text.value())
            self.text.expect(":")
            yield self._next_record()
            if self.text.expect(",}") == "}":
                return

    def obj(self, paths: Sequence[Path]) -> Iterator[JsonRecord | JsonProblem]:
        """An object whose ``{`` was just consumed: stream the collections named by ``paths``;
        if it holds none, the object is itself one record."""
        fields: dict[str, Any] = {}
        found = False
        raw_parts: list[str] = []
        if self.text.peek() == "}":
            self.text.pos += 1
        else:
            while True:
                key = self._parse(self.text.value())
                if not isinstance(key, str):
                    raise _Broken("an object key that is not a string")
                self.text.expect(":")
                tails = [p[1:] for p in paths if p and p[0] == key]
                ch = self.text.peek()
                if tails and ch == "[" and () in tails:
                    self.text.pos += 1
                    found = True
                    yield from self.array()
                elif tails and ch == "{" and ("*",) in tails:
                    self.text.pos += 1
                    found = True
                    yield from self.values()
                elif tails and ch == "{" and any(t and t != ("*",) for t in tails):
                    self.text.pos += 1
                    found = True
                    yield from self.obj([t for t in tails if t and t != ("*",)])
                elif tails and ch == "{" and () in tails:
                    found = True
                    yield self._next_record()
                else:
                    raw = self.text.value()
                    raw_parts.append(raw)
                    if not found:
                        fields[key] = raw
                if self.text.expect(",}") == "}":
                    break
        if found:
            return
        self.number += 1
        for raw in raw_parts:
            problem = _problem(self.number, raw)
            if problem is not None:
                yield problem
                return
        try:
            yield JsonRecord(self.number, {k: json.loads(v) for k, v in fields.items()})
        except ValueError as exc:
            yield JsonProblem(self.number, f"not valid JSON: {exc}")

    def top(self) -> Iterator[JsonRecord | JsonProblem]:
        while True:
            ch = self.text.peek()
            if not ch:
                return
            if ch == "[":
                self.text.pos += 1
                for item in self.array():
                    yield from self._expand(item)
            elif ch == "{":
                self.text.pos += 1
                yield from self.obj(self.paths)
            else:
                raise _Broken(f"expected '{{' or '[' at the top level, found {ch!r}")

    def _expand(self, item: JsonRecord | JsonProblem) -> Iterator[JsonRecord | JsonProblem]:
        """An element of a top-level array that is itself a page: its records."""
        if isinstance(item, JsonRecord) and isinstance(item.value, dict):
            for path in self.paths:
                inner = _at(item.value, path)
                if inner is not None:
                    self.number -= 1  # the page is not a record: its elements are
                    for value in inner:
                        self.number += 1
                        yield JsonRecord(self.number, value)
                    return
        yield item


def _at(value: dict[str, Any], path: Path) -> list[Any] | None:
    current: Any = value
    for i, key in enumerate(path):
        if key == "*" and i == len(path) - 1 and isinstance(current, dict):
            return list(current.values())
        if not isinstance(current, dict) or key not in current:
            return None
        current = current[key]
    return current if isinstance(current, list) else None


def json_records(
    stream: BinaryIO, label: str, paths: Sequence[Path]
) -> Iterator[JsonRecord | JsonProblem]:
    """Every record of a JSON file, in order (see the module docstring)."""
    text = _Text(stream)
    first = text.peek()
    if first not in ("{", "["):
        found = repr(first) if first else "nothing"
        raise InputError(f"{label}: not JSON (it starts with {found}, not '{{' or '[')")
    scanner = _Scanner(text, paths)
    try:
        yield from scanner.top()
    except _Broken as exc:
        yield JsonProblem(
            scanner.number + 1,
            f"the JSON cannot be read past record {scanner.number}: {exc}",
        )


def json_head(head: bytes) -> str:
    """The first bytes of a file as text for sniffing (BOM dropped), "" unless it looks like
    JSON."""
    text = head.decode("utf-8", "replace").lstrip("\ufeff").lstrip()
    return text if text[:1] in ("{", "[") else ""
