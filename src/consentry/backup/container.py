"""The plaintext inside a backup: JSON Lines, one record per line (``docs/backups.md``).

    {"@backup":{...manifest...}}                       the first line
    {"@section":"subjects","columns":[...],"rows":N}   then, for each section:
    [1,"9f86d0..."]                                    its rows, one JSON array per line
    {"@end":"subjects","rows":N,"sha256":"..."}        SHA-256 of the section's row lines
    {"@end-of-backup":{"bytes":B,"sha256":"...",...}}  the last line

The last line's SHA-256 is that of every control record before it, in order: the end records
hold the sections' SHA-256, so it covers every byte. Control records are JSON objects whose
only key starts with ``@``; their keys are sorted, so such a line starts with ``{"@``, which no
row (an array) and no leaf (an object of schema fields) can. In the ``ledger`` section each leaf
line is exactly the bytes hashed into the Merkle tree (the ``ledger export`` format), and each
checkpoint row follows the leaf that brings the tree to its size. Bytes are standard base64;
booleans are JSON booleans on every backend.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Any

import orjson

from consentry.backup.tables import BOOL, BYTES, INT, TEXT, Column, Table

FORMAT = "consentry-backup"
VERSION = 1
CONTROL_PREFIX = b'{"@'
HEADER_KEY = "@backup"
SECTION_KEY = "@section"
END_KEY = "@end"
FINAL_KEY = "@end-of-backup"
LEDGER = "ledger"
#: The longest line a reader accepts (an evidence blob or a campaign spec): 64 MiB.
MAX_LINE = 64 << 20


class FormatProblem(ValueError):
    """A line that breaks the container format (the reader adds where it is)."""


def control(key: str, value: Any) -> bytes:
    """One control line: ``{"<key>": value}`` with sorted keys, and its newline."""
    return orjson.dumps({key: value}, option=orjson.OPT_SORT_KEYS) + b"\n"


def section_start(name: str, **fields: Any) -> bytes:
    return orjson.dumps({SECTION_KEY: name, **fields}, option=orjson.OPT_SORT_KEYS) + b"\n"


def section_end(name: str, **fields: Any) -> bytes:
    return orjson.dumps({END_KEY: name, **fields}, option=orjson.OPT_SORT_KEYS) + b"\n"


def b64(data: bytes) -> str:
    return binascii.b2a_base64(data, newline=False).decode("ascii")


def unb64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise FormatProblem(f"{what} is not base64") from exc


def encode_rows(table: Table, rows: Sequence[Sequence[Any]]) -> bytes:
    """Rows as they come from either backend, as container lines (one JSON array each): bytes
    become base64 and SQLite's 0/1 booleans JSON booleans; the rest is encoded as it is."""
    if not rows:
        return b""
    dumps = orjson.dumps
    special = [(i, c.type) for i, c in enumerate(table.columns) if c.type in (BYTES, BOOL)]
    if not special:
        return b"\n".join([dumps(row) for row in rows]) + b"\n"
    to_b64 = binascii.b2a_base64
    lines = []
    for row in rows:
        values = list(row)
        for i, kind in special:
            value = values[i]
            if value is not None:
                values[i] = to_b64(value, newline=False).decode() if kind == BYTES else bool(value)
        lines.append(dumps(values))
    return b"\n".join(lines) + b"\n"


def encode_checkpoint(size: int, root: bytes, note: str, created_at: str) -> bytes:
    return orjson.dumps([size, b64(bytes(root)), note, created_at]) + b"\n"


def _decode_value(column: Column, value: Any) -> Any:
    if value is None:
        if column.nullable:
            return None
        raise FormatProblem(f"column {column.name} is null but may not be")
    kind = type(value)
    if column.type == INT:
        if kind is int:
            return value
    elif column.type == TEXT:
        if kind is str:
            return value
    elif column.type == BYTES:
        if kind is str:
            return unb64(value, f"column {column.name}")
    elif column.type == BOOL and kind is bool:
        return value
    raise FormatProblem(f"column {column.name} holds {value!r}, not {column.type}")


def decode_row(columns: Sequence[Column], line: bytes) -> tuple[Any, ...]:
    """A row line back into column values, checking the count and the type of each."""
    try:
        values = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise FormatProblem(f"a row is not JSON: {exc}") from exc
    if not isinstance(values, list):
        raise FormatProblem("a row is not a JSON array")
    if len(values) != len(columns):
        raise FormatProblem(f"a row has {len(values)} values, not {len(columns)}")
    return tuple(_decode_value(c, v) for c, v in zip(columns, values, strict=True))


def parse_control(line: bytes) -> tuple[str, dict[str, Any]]:
    """(key, the whole record) of a control line."""
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise FormatProblem(f"a control record is not JSON: {exc}") from exc
    if not isinstance(record, dict) or not record:
        raise FormatProblem("a control record is not a JSON object")
    keys = [k for k in record if k.startswith("@")]
    if len(keys) != 1:
        raise FormatProblem("a control record must have exactly one key starting with @")
    return keys[0], record
