"""What the contact-export codecs share about cells and CSV files: yes/no flags, times in an
account's unknown zone, JSON scalars as text; opening a CSV member (InputError when its header
is not the format's), picking columns by any of their names, and writing a CSV for a provider
to import."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, BinaryIO

from consentry.codecs.transfer.source import Source
from consentry.codecs.transfer.table import (
    RAW_CHARS,
    Row,
    header_of,
    normalise,
    read_rows,
    sniff_delimiter,
)
from consentry.codecs.transfer.times import parse_time
from consentry.domain.errors import InputError
from consentry.domain.transfer import RejectedRow, TimeValue

_TRUE = frozenset({"true", "yes", "y", "1", "t", "on"})
_FALSE = frozenset({"false", "no", "n", "0", "f", "off", ""})


def flag(value: str) -> bool | None:
    """A yes/no cell (``true``, ``1``, ``yes``... or empty for no); None if it is neither."""
    text = value.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    return None


def zoned(raw: str | None) -> TimeValue | None:
    """A time from a provider that writes naive times in the account's own zone, which the file
    does not name: a value without a zone is marked ``local_assumed`` (its instant is the wall
    time read as UTC, off by the account's offset); a value with a zone is explicit."""
    value = parse_time(raw)
    if value is not None and value.assumption == "utc_assumed":
        return TimeValue(value.raw, value.at, "local_assumed")
    return value


def text(value: Any) -> str:
    """A JSON scalar as text ("" for null or a missing key; numbers and booleans as JSON)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return ""


def evidence(**pairs: str) -> dict[str, str]:
    """Evidence with the empty values left out."""
    return {k: v for k, v in pairs.items() if v}


@contextmanager
def csv_out(out: BinaryIO, delimiter: str = ",") -> Iterator[Any]:
    """A csv writer onto a binary stream (UTF-8, CRLF, no BOM), leaving the stream open."""
    wrapper = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
    try:
        yield csv.writer(wrapper, delimiter=delimiter, lineterminator="\r\n")
    finally:
        wrapper.flush()
        wrapper.detach()


def pick(header: Sequence[str], *names: str) -> str | None:
    """The first of ``names`` (compared as ``table.normalise`` does) that ``header`` holds."""
    for name in names:
        if normalise(name) in header:
            return name
    return None


class _Lent(io.RawIOBase):
    """The file lent to ``read_rows``, which wraps what it is given and leaves its wrapper to
    the garbage collector: closing this wrapper leaves the file to its owner (the ``with``
    that opened it), so nothing is closed twice or left to warn."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def open_csv(
    source: Source, member: str | None, what: str, required: Sequence[str]
) -> Iterator[Row | RejectedRow]:
    """The rows of one CSV member; InputError when the file is empty or its header lacks a
    ``required`` column (the file is not ``what``)."""
    label = source.label(member)
    with source.open(member) as stream:
        lent = io.BufferedReader(_Lent(stream), 1 << 16)
        for item in read_rows(lent, label, required):
            if isinstance(item, RejectedRow) and item.line == 1:
                raise InputError(f"{label}: not {what}: {item.reason}")
            yield item


def row_text(row: Row) -> str:
    """A row's values joined, cut short, for a rejection."""
    return ",".join(row.values)[:RAW_CHARS]


def csv_members(source: Source) -> list[str | None]:
    """The CSV files to read: the file itself, or every ``.csv``/``.txt`` member of a zip."""
    if not source.is_zip:
        return [None]
    members = [m for m in source.members() if m.lower().endswith((".csv", ".txt"))]
    if not members:
        raise InputError(f"{source.name}: the zip archive holds no CSV file")
    return list(members)


def header_names(source: Source) -> tuple[list[str], bytes]:
    """The normalised header names and the raw first bytes of a plain (not zip) file; nothing
    for a zip (formats that are not zips do not sniff one)."""
    if source.is_zip:
        return [], b""
    head = source.head()
    return header_of(head), head


def member_header(source: Source, member: str | None) -> list[str]:
    """The normalised header names of one CSV member (from its first bytes)."""
    return header_of(source.head(member))


def raw_header(source: Source, member: str | None) -> list[str]:
    """The header names of one CSV member as written (case kept, BOM dropped)."""
    text_ = source.head(member).decode("utf-8", "replace").lstrip("\ufeff")
    first = text_.splitlines()[0] if text_ else ""
    try:
        return [n.strip() for n in next(csv.reader([first], delimiter=sniff_delimiter(first)))]
    except (csv.Error, StopIteration):
        return []
