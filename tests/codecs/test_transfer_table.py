"""The defensive CSV reader and timestamp parser every provider codec stands on: BOM, semicolon
and tab delimiters, repeated header names, CRLF inside quoted fields, non-UTF-8 bytes, wrong
field counts; each bad row rejected with its line, never the file."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from consentry.codecs.transfer.table import Row, header_of, read_rows, split_list
from consentry.codecs.transfer.times import parse_time
from consentry.domain.transfer import RejectedRow


def _rows(data: bytes, required: tuple[str, ...] = ("email address",)) -> list[Row | RejectedRow]:
    return list(read_rows(io.BytesIO(data), "f.csv", required))


def test_bom_crlf_and_quoted_newlines_keep_physical_line_numbers() -> None:
    data = (
        b'\xef\xbb\xbf"Email Address",NOTES\r\n'
        b'a@example.org,"two\r\nlines"\r\n'
        b"b@example.org,plain\r\n"
    )
    rows = _rows(data)
    assert [(r.first("email address"), r.line) for r in rows if isinstance(r, Row)] == [
        ("a@example.org", 2), ("b@example.org", 4),
    ]  # fmt: skip
    assert isinstance(rows[0], Row) and rows[0].first("notes") == "two\r\nlines"


def test_semicolon_and_tab_delimiters_are_taken_from_the_header() -> None:
    for sep in (b";", b"\t"):
        rows = _rows(b"Email Address" + sep + b"Name\na@example.org" + sep + b"A, B\n")
        assert isinstance(rows[0], Row) and rows[0].first("name") == "A, B"


def test_repeated_header_names_keep_every_occurrence() -> None:
    rows = _rows(b"Email Address,UNSUB_REASON,UNSUB_REASON\na@example.org,merge,system\n")
    row = rows[0]
    assert isinstance(row, Row)
    assert row.all("unsub_reason") == ["merge", "system"] and row.last("UNSUB_REASON") == "system"


def test_bad_rows_are_rejected_with_their_line_and_the_rest_read() -> None:
    data = b"Email Address,Name\na@example.org,\xff\xfeBob\nb@example.org\n\nc@example.org,C\n"
    rows = _rows(data)
    rejected = [(r.line, r.reason) for r in rows if isinstance(r, RejectedRow)]
    assert rejected == [
        (2, "column 'Name' is not UTF-8 (byte 0xFF)"), (3, "1 fields where the header has 2"),
    ]  # fmt: skip
    assert [r.first("email address") for r in rows if isinstance(r, Row)] == ["c@example.org"]


def test_a_missing_required_column_rejects_the_file_at_line_1() -> None:
    (only,) = _rows(b"mail,name\na@example.org,A\n")
    assert isinstance(only, RejectedRow) and only.line == 1 and "email address" in only.reason
    (empty,) = _rows(b"")
    assert isinstance(empty, RejectedRow) and "empty" in empty.reason


def test_header_sniffing_and_list_fields() -> None:
    assert header_of(b'\xef\xbb\xbf"Email Address";OPTIN_TIME\r\nx') == [
        "email address",
        "optin_time",
    ]
    assert split_list('"VIP", "Early bird, 2024"') == ["VIP", "Early bird, 2024"]


def test_timestamps_keep_raw_text_and_zone_assumption() -> None:
    naive = parse_time("2013-06-25 17:38:27")
    assert naive is not None and naive.assumption == "utc_assumed"
    assert naive.at == datetime(2013, 6, 25, 17, 38, 27, tzinfo=UTC)
    offset = parse_time("2024-03-01T10:00:00-05:00")
    assert offset is not None and offset.assumption == "explicit" and offset.at is not None
    assert offset.at.hour == 15
    assert parse_time("1709290800") == parse_time("1709290800000").__class__(  # type: ignore[union-attr]
        "1709290800", datetime(2024, 3, 1, 11, 0, tzinfo=UTC), "explicit"
    )
    rfc = parse_time("Fri, 01 Mar 2024 11:00:00 -0000")
    assert rfc is not None and rfc.assumption == "utc_assumed"
    go = parse_time("2024-03-01 11:00:00.123456 +0000 UTC")
    assert go is not None and go.assumption == "explicit" and go.at is not None
    junk = parse_time("yesterday")
    assert junk is not None and junk.at is None and junk.raw == "yesterday"
    assert parse_time("  ") is None
