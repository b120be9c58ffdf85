"""The streaming JSON reader the API-page codecs stand on: records found by path in pages,
arrays, JSON Lines and objects keyed by id; values split across read chunks; bad records
rejected by number and the rest read; a cut-off file reported; constant memory."""

from __future__ import annotations

import io
import json
import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consentry.codecs.transfer import json_stream
from consentry.codecs.transfer.json_stream import JsonProblem, JsonRecord, json_records
from consentry.domain.errors import InputError

Path = tuple[str, ...]


def _read(data: bytes, paths: list[Path], chunk: int = 7) -> list[Any]:
    original = json_stream.CHUNK
    json_stream.CHUNK = chunk
    try:
        items = list(json_records(io.BytesIO(data), "f.json", paths))
    finally:
        json_stream.CHUNK = original
    return [
        (i.number, i.value) if isinstance(i, JsonRecord) else (i.number, "problem", i.reason)
        for i in items
    ]


def test_records_of_a_page_split_across_chunks_keep_their_escapes() -> None:
    page = {"Results": [{"e": 'a\\"]}{', "n": [1, {"x": "]"}]}, {"e": "b"}], "PageNumber": 1}
    for chunk in (1, 2, 3, 5, 64):
        assert _read(json.dumps(page).encode(), [("Results",)], chunk) == [
            (1, page["Results"][0]), (2, page["Results"][1]),
        ]  # fmt: skip


def test_pages_one_per_line_arrays_of_pages_and_bare_arrays() -> None:
    page = {"contacts": [{"a": 1}, {"a": 2}]}
    lines = (json.dumps(page) + "\n" + json.dumps(page) + "\n").encode()
    assert [v for _, v in _read(lines, [("contacts",)])] == [{"a": 1}, {"a": 2}] * 2
    pages = json.dumps([page, page]).encode()
    assert _read(pages, [("contacts",)]) == [
        (1, {"a": 1}),
        (2, {"a": 2}),
        (3, {"a": 1}),
        (4, {"a": 2}),
    ]
    assert _read(b"\xef\xbb\xbf[1, true, null]", []) == [(1, 1), (2, True), (3, None)]


def test_objects_keyed_by_id_nested_paths_and_single_records() -> None:
    keyed = {"total": "2", "contacts": {"47": {"id": 47}, "48": {"id": 48}}}
    assert _read(json.dumps(keyed).encode(), [("contacts", "*")]) == [
        (1, {"id": 47}),
        (2, {"id": 48}),
    ]
    paged = {"data": {"results": [{"id": 1}], "total": 1}}
    paths: list[Path] = [("data", "results"), ("data",)]
    assert _read(json.dumps(paged).encode(), paths) == [(1, {"id": 1})]
    assert _read(b'{"data": {"id": 9}}', paths) == [(1, {"id": 9})]
    lines = b'{"recipient": "a", "s": []}\n{"recipient": "b", "s": [1]}\n'
    assert _read(lines, [("results",)]) == [
        (1, {"recipient": "a", "s": []}),
        (2, {"recipient": "b", "s": [1]}),
    ]
    assert _read(b'{"contacts": []}', [("contacts",)]) == []


def test_bad_records_are_problems_by_number_and_reading_goes_on() -> None:
    data = b'{"contacts": [{"a": 1}, {"a": tru}, {"a": "\xff"}, {"a": 2}]}'
    out = _read(data, [("contacts",)])
    assert out[0] == (1, {"a": 1}) and out[3] == (4, {"a": 2})
    assert out[1][:2] == (2, "problem") and "not valid JSON" in out[1][2]
    assert out[2] == (3, "problem", "not UTF-8 (byte 0xFF)")


def test_a_cut_off_file_ends_with_one_problem_after_the_last_record() -> None:
    out = _read(b'{"contacts": [{"a": 1}, {"a": 2', [("contacts",)])
    assert out[0] == (1, {"a": 1})
    assert out[1][:2] == (2, "problem") and "cannot be read past record 1" in out[1][2]


def test_a_file_that_is_not_json_is_refused() -> None:
    with pytest.raises(InputError, match="not JSON"):
        _read(b"email,name\n", [])
    with pytest.raises(InputError, match="not JSON"):
        _read(b"", [])


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.dictionaries(st.text(max_size=5), st.text(max_size=8), max_size=3), max_size=6),
    st.integers(min_value=1, max_value=40),
)
def test_any_page_reads_back_whatever_the_chunk_size(
    records: list[dict[str, str]], chunk: int
) -> None:
    page = json.dumps({"head": "x", "Results": records, "tail": [1, 2]}, ensure_ascii=False)
    assert [v for _, v in _read(page.encode(), [("Results",)], chunk)] == records


class _Generated(io.RawIOBase):
    """A large page produced on the fly, never held whole."""

    def __init__(self, count: int) -> None:
        self._parts: Iterator[bytes] = self._make(count)
        self._rest = b""

    @staticmethod
    def _make(count: int) -> Iterator[bytes]:
        yield b'{"count": %d, "contacts": [' % count
        for i in range(count):
            sep = b"," if i else b""
            yield sep + b'{"email": "user%d@example.com", "note": "%s"}' % (i, b"x" * 200)
        yield b"]}"

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while len(self._rest) < len(buffer):
            part = next(self._parts, None)
            if part is None:
                break
            self._rest += part
        n = min(len(buffer), len(self._rest))
        buffer[:n] = self._rest[:n]
        self._rest = self._rest[n:]
        return n


def test_a_large_page_is_read_in_constant_memory() -> None:
    count = 40_000  # about 9 MB of JSON
    tracemalloc.start()
    try:
        seen = 0
        for item in json_records(io.BufferedReader(_Generated(count)), "big.json", [("contacts",)]):
            assert isinstance(item, JsonRecord)
            seen += 1
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert seen == count
    assert peak < 2_000_000, peak


def test_problems_carry_the_raw_text_cut_short() -> None:
    items = list(json_records(io.BytesIO(b'[{"a": ' + b"1" * 1000 + b"x}]"), "f", []))
    assert isinstance(items[0], JsonProblem) and len(items[0].raw) <= 300
