"""The streaming JSON readers under the suppression-list codecs: elements of arrays read one at a
time across chunk boundaries and several documents, in constant memory; syntax errors, bytes
that are not UTF-8 and the wrong shape reported, never raised mid-file."""

from __future__ import annotations

import io
import json
import tracemalloc
from collections.abc import Iterator

import pytest

from consentry.codecs.transfer import suppression_io
from consentry.codecs.transfer.suppression_io import (
    Prefixed,
    json_elements,
    json_lines,
    not_utf8,
)
from consentry.domain.errors import InputError
from consentry.domain.transfer import RejectedRow


def _elements(data: bytes, key: str | None) -> list[object]:
    return list(json_elements(io.BytesIO(data), "f.json", key, "test"))


def test_array_elements_are_numbered_across_appended_pages_and_chunk_boundaries(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(suppression_io, "CHUNK", 3)  # every token split across reads
    page = b'[{"email": "a\xc3\xa9@example.org", "created": 1443651141},\n {"n": 12345678}]'
    data = b"\xef\xbb\xbf" + page + b"\n" + b'["x@example.org", 1.5e3, true, null]'
    assert _elements(data, None) == [
        (1, {"email": "aé@example.org", "created": 1443651141}),
        (2, {"n": 12345678}),
        (3, "x@example.org"), (4, 1500.0), (5, True), (6, None),
    ]  # fmt: skip


def test_the_array_under_a_key_is_found_whatever_comes_before_or_after_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(suppression_io, "CHUNK", 5)
    data = b'{"NextToken": "a\\"b", "nested": {"items": [1]}, "items": [{"a": 1}, {"a": 2}],'
    data += b' "paging": {"next": "x"}}{"items": []}'
    assert _elements(data, "items") == [(1, {"a": 1}), (2, {"a": 2})]


def test_a_file_of_another_shape_is_refused_whole() -> None:
    with pytest.raises(InputError, match="not a test file: it is not a JSON array"):
        _elements(b'{"items": []}', None)
    with pytest.raises(InputError, match="with a 'items' array"):
        _elements(b'{"other": [1]}', "items")
    with pytest.raises(InputError, match="it is empty"):
        _elements(b"  \n", None)
    with pytest.raises(InputError, match="not a JSON array"):
        _elements(b"email,created\na@example.org,1\n", None)


def test_a_syntax_error_rejects_the_rest_with_where_it_was() -> None:
    items = _elements(b'[{"a": 1}, {"a": tru}, {"a": 3}]', None)
    assert items[0] == (1, {"a": 1})
    (bad,) = items[1:]
    assert isinstance(bad, RejectedRow) and bad.line == 2
    assert "JSON syntax error" in bad.reason and "could not be read" in bad.reason
    (cut,) = _elements(b'[{"a": "unterminated', None)
    assert isinstance(cut, RejectedRow) and cut.line == 1 and "Unterminated string" in cut.reason


def test_a_later_document_of_the_wrong_shape_is_rejected_and_skipped() -> None:
    items = _elements(b'{"items": [1]} {"message": "rate limited"} {"items": [2]}', "items")
    assert items[0] == (1, 1) and items[2] == (2, 2)
    assert isinstance(items[1], RejectedRow) and "document 2" in items[1].reason


def test_bytes_that_are_not_utf8_survive_decoding_and_are_found_by_path() -> None:
    (only,) = _elements(b'[{"email": "caf\xe9@example.org", "tags": ["ok"]}]', None)
    assert isinstance(only, tuple) and not_utf8(only[1]) == "email"
    assert not_utf8({"a": [1, {"b": "x\udce9"}]}) == "a[1].b"
    assert not_utf8({"a": "fine"}) is None


def test_json_lines_reject_bad_lines_by_line_number() -> None:
    data = b'{"a": 1}\r\n\n not json\n{"a": 2}'
    items = list(json_lines(io.BytesIO(data), "f.jsonl"))
    assert items[0] == (1, {"a": 1}) and items[2] == (4, {"a": 2})
    assert isinstance(items[1], RejectedRow) and items[1].line == 3


def test_prefixed_puts_a_header_before_a_file_and_drops_its_bom() -> None:
    stream = io.BufferedReader(Prefixed(b"email,reason\n", io.BytesIO(b"\xef\xbb\xbfa@x,BOUNCE\n")))
    assert stream.read() == b"email,reason\na@x,BOUNCE\n"


class _Generated(io.RawIOBase):
    """A large JSON array produced on the fly: nothing of it is ever held whole."""

    def __init__(self, count: int) -> None:
        self._parts = self._produce(count)
        self._left = b""

    @staticmethod
    def _produce(count: int) -> Iterator[bytes]:
        yield b'{"items": ['
        for i in range(count):
            record = {"address": f"user{i}@example.org", "created_at": "Fri, 21 Oct 2011"}
            yield (b"," if i else b"") + json.dumps(record).encode()
        yield b"]}"

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while not self._left:
            self._left = next(self._parts, b"")
            if not self._left:
                return 0
        n = min(len(buffer), len(self._left))
        buffer[:n], self._left = self._left[:n], self._left[n:]
        return n


def test_a_large_array_is_read_in_constant_memory() -> None:
    count = 100_000  # about 7 MB of JSON
    tracemalloc.start()
    try:
        seen = 0
        for item in json_elements(io.BufferedReader(_Generated(count)), "big", "items", "test"):
            assert not isinstance(item, RejectedRow)
            seen += 1
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert seen == count
    assert peak < 2_000_000, f"peak {peak} bytes"
