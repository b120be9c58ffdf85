"""CSV as providers write it, read defensively (esp-formats.md: "CSV quirks").

* UTF-8 with or without a BOM; bytes that are not UTF-8 reject their row (naming the column),
  never the file;
* the delimiter (comma, semicolon or tab) is taken from the header line;
* quoted fields may hold CR, LF and the delimiter; each row knows the physical line it starts on;
* header names may repeat (Mailchimp: a merge field named like a system column): every
  occurrence is kept and a reader asks for the first, the last or all of them; names match
  case-insensitively, with surrounding spaces ignored;
* a row with the wrong number of fields, a NUL byte or an oversized field is rejected with its
  line; blank lines are skipped.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO

from consentry.domain.transfer import RejectedRow

DELIMITERS = (",", ";", "\t")
MAX_FIELD = 1 << 20
RAW_CHARS = 300
_SURROGATE = re.compile("[\udc80-\udcff]")


def normalise(name: str) -> str:
    return " ".join(name.replace("\ufeff", "").strip().strip('"').split()).lower()


def sniff_delimiter(header_line: str) -> str:
    """The delimiter that splits the header line into the most fields (outside quotes)."""
    outside, quoted = [], False
    for ch in header_line:
        if ch == '"':
            quoted = not quoted
        elif not quoted:
            outside.append(ch)
    text = "".join(outside)
    return max(DELIMITERS, key=lambda d: (text.count(d), d == ","))


def header_of(head: bytes) -> list[str]:
    """The header names of a CSV file from its first bytes (for format detection)."""
    text = head.decode("utf-8", "replace").lstrip("\ufeff")
    first = text.splitlines()[0] if text else ""
    try:
        row = next(csv.reader([first], delimiter=sniff_delimiter(first)))
    except (csv.Error, StopIteration):
        return []
    return [normalise(c) for c in row]


@dataclass(frozen=True, slots=True)
class Row:
    """One data row: values by header name (case-insensitive)."""

    header: Sequence[str]  # normalised names
    values: Sequence[str]
    line: int

    def all(self, name: str) -> list[str]:
        key = normalise(name)
        return [v for h, v in zip(self.header, self.values, strict=True) if h == key]

    def first(self, *names: str) -> str:
        """The first non-empty value of the first of ``names`` the header has ("" if none)."""
        for name in names:
            for value in self.all(name):
                if value.strip():
                    return value.strip()
        return ""

    def last(self, name: str) -> str:
        """The last non-empty occurrence (system columns come after merge fields)."""
        values = [v for v in self.all(name) if v.strip()]
        return values[-1].strip() if values else ""

    def has(self, name: str) -> bool:
        return normalise(name) in self.header


class _Lines:
    """Text lines from a binary stream, counting them, with the BOM removed."""

    def __init__(self, stream: BinaryIO) -> None:
        self.text = io.TextIOWrapper(stream, encoding="utf-8", errors="surrogateescape", newline="")
        self.count = 0
        self.first = True

    def __iter__(self) -> Iterator[str]:
        for line in self.text:
            self.count += 1
            if self.first:
                line = line.lstrip("\ufeff")
                self.first = False
            yield line


def read_rows(
    stream: BinaryIO, file: str, required: Sequence[str] = ()
) -> Iterator[Row | RejectedRow]:
    """Rows of a CSV stream. The header must hold every name in ``required`` (else one
    RejectedRow for line 1 and nothing more: the file is not this format)."""
    csv.field_size_limit(MAX_FIELD)
    lines = _Lines(stream)
    try:
        yield from _rows(lines, file, required)
    finally:
        lines.text.detach()  # the caller owns (and closes) the stream


def _rows(lines: _Lines, file: str, required: Sequence[str]) -> Iterator[Row | RejectedRow]:
    source = iter(lines)
    try:
        header_line = next(source)
    except StopIteration:
        yield RejectedRow(file, 1, "the file is empty")
        return
    delimiter = sniff_delimiter(header_line)
    try:
        names = next(csv.reader([header_line], delimiter=delimiter))
    except csv.Error as exc:
        yield RejectedRow(file, 1, f"unreadable header: {exc}", header_line[:RAW_CHARS])
        return
    header = [normalise(n) for n in names]
    missing = [r for r in required if normalise(r) not in header]
    if missing:
        yield RejectedRow(
            file, 1, f"the header has no {', '.join(repr(m) for m in missing)} column",
            header_line[:RAW_CHARS],
        )  # fmt: skip
        return
    reader = csv.reader(source, delimiter=delimiter)
    ended = lines.count
    while True:
        start = ended + 1
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            ended = lines.count
            yield RejectedRow(file, start, f"unreadable row: {exc}")
            continue
        ended = lines.count
        if not values or all(not v.strip() for v in values):
            continue
        raw = delimiter.join(values)[:RAW_CHARS]
        if len(values) != len(header):
            yield RejectedRow(
                file, start, f"{len(values)} fields where the header has {len(header)}",
                _printable(raw),
            )  # fmt: skip
            continue
        bad = next((i for i, v in enumerate(values) if _SURROGATE.search(v)), None)
        if bad is not None:
            byte = ord(_SURROGATE.search(values[bad]).group()) - 0xDC00  # type: ignore[union-attr]
            yield RejectedRow(
                file, start, f"column {names[bad]!r} is not UTF-8 (byte 0x{byte:02X})",
                _printable(raw),
            )  # fmt: skip
            continue
        yield Row(header, values, start)


def _printable(text: str) -> str:
    return _SURROGATE.sub("\ufffd", text)


def split_list(value: str) -> list[str]:
    """A field that holds a comma-separated list of (optionally double-quoted) items, e.g.
    Mailchimp's TAGS: parsed with a second CSV pass."""
    if not value.strip():
        return []
    try:
        items = next(csv.reader([value], skipinitialspace=True))
    except (csv.Error, StopIteration):
        return [value.strip()]
    return [i.strip() for i in items if i.strip()]
