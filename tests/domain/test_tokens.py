"""Unsubscribe tokens (R18, R19): HMAC-bound to subject and list, URL-safe, never expiring."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consentry.domain.errors import InputError
from consentry.domain.tokens import (
    TAG_BYTES,
    make_unsubscribe_token,
    read_unsubscribe_token,
)

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
KEYS = {"t1": KEY, "t2": OTHER_KEY}
SUBJECT = hashlib.sha256(b"alice").hexdigest()


def test_round_trip() -> None:
    token = make_unsubscribe_token("t1", KEY, SUBJECT, "news")
    assert read_unsubscribe_token(KEYS, token, "news") == SUBJECT


def test_format_and_url_path_safe() -> None:
    token = make_unsubscribe_token("t1", KEY, SUBJECT, "news")
    key_id, _, payload = token.partition(".")
    assert key_id == "t1"
    assert re.fullmatch(r"[A-Za-z0-9_-]{64}", payload)
    raw = base64.urlsafe_b64decode(payload)
    assert raw[:32] == bytes.fromhex(SUBJECT)
    expected = hmac.new(
        KEY, b"consentry-unsubscribe-v1\0news\0" + bytes.fromhex(SUBJECT), hashlib.sha256
    ).digest()[:16]
    assert raw[32:] == expected


def test_tag_is_at_least_128_bits() -> None:
    assert TAG_BYTES * 8 >= 128
    token = make_unsubscribe_token("t1", KEY, SUBJECT, "news")
    assert len(base64.urlsafe_b64decode(token.partition(".")[2])) - 32 >= 16


def test_deterministic_and_never_expires() -> None:
    """No time goes into a token: the one minted three years ago is the one read today (R19)."""
    assert make_unsubscribe_token("t1", KEY, SUBJECT, "news") == make_unsubscribe_token(
        "t1", KEY, SUBJECT, "news"
    )


def test_wrong_list_fails() -> None:
    token = make_unsubscribe_token("t1", KEY, SUBJECT, "news")
    with pytest.raises(InputError, match="does not verify"):
        read_unsubscribe_token(KEYS, token, "offers")


def test_wrong_key_fails() -> None:
    token = make_unsubscribe_token("t1", OTHER_KEY, SUBJECT, "news")
    with pytest.raises(InputError, match="does not verify"):
        read_unsubscribe_token(KEYS, token, "news")


def test_unknown_key_id_fails() -> None:
    token = make_unsubscribe_token("t9", KEY, SUBJECT, "news")
    with pytest.raises(InputError, match="unknown key id 't9'"):
        read_unsubscribe_token(KEYS, token, "news")


def test_rotated_key_still_reads() -> None:
    old = make_unsubscribe_token("t1", KEY, SUBJECT, "news")
    new = make_unsubscribe_token("t2", OTHER_KEY, SUBJECT, "news")
    assert read_unsubscribe_token(KEYS, old, "news") == SUBJECT
    assert read_unsubscribe_token(KEYS, new, "news") == SUBJECT


def test_subject_swap_fails() -> None:
    """A tag from one subject does not validate another's (the subject is MACed)."""
    mine = make_unsubscribe_token("t1", KEY, SUBJECT, "news")
    other = hashlib.sha256(b"bob").hexdigest()
    raw = base64.urlsafe_b64decode(mine.partition(".")[2])
    forged = bytes.fromhex(other) + raw[32:]
    token = "t1." + base64.urlsafe_b64encode(forged).decode()
    with pytest.raises(InputError):
        read_unsubscribe_token(KEYS, token, "news")


@pytest.mark.parametrize(
    "token",
    [
        "",
        "t1",
        "t1.",
        ".abc",
        "t1.abc",
        "t1." + "A" * 63,
        "t1." + "A" * 65,
        "t1." + "A" * 63 + "=",
        "t1." + "A" * 63 + "+",
        "t 1." + "A" * 64,
        "t1." + "A" * 64 + "\n",
        "x" * 100 + "." + "A" * 64,
    ],
)
def test_malformed_tokens_fail(token: str) -> None:
    with pytest.raises(InputError, match="malformed"):
        read_unsubscribe_token(KEYS, token, "news")


@pytest.mark.parametrize(
    ("key_id", "key", "subject"),
    [
        ("t.1", KEY, SUBJECT),
        ("", KEY, SUBJECT),
        ("t1", KEY[:31], SUBJECT),
        ("t1", KEY, SUBJECT.upper()),
        ("t1", KEY, SUBJECT[:-1]),
    ],
)
def test_bad_arguments_are_value_errors(key_id: str, key: bytes, subject: str) -> None:
    with pytest.raises(ValueError):
        make_unsubscribe_token(key_id, key, subject, "news")


@given(
    subject=st.binary(min_size=32, max_size=32).map(bytes.hex),
    list_id=st.text(max_size=40),
    key=st.binary(min_size=32, max_size=64),
    key_id=st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True),
)
def test_round_trip_property(subject: str, list_id: str, key: bytes, key_id: str) -> None:
    token = make_unsubscribe_token(key_id, key, subject, list_id)
    assert re.fullmatch(r"[A-Za-z0-9_.-]+", token)
    assert read_unsubscribe_token({key_id: key}, token, list_id) == subject
    with pytest.raises(InputError):
        read_unsubscribe_token({key_id: key}, token, list_id + "x")


@given(
    position=st.integers(min_value=0, max_value=63),
    replacement=st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
)
def test_any_altered_character_fails(position: int, replacement: str) -> None:
    token = make_unsubscribe_token("t1", KEY, SUBJECT, "news")
    head, _, payload = token.partition(".")
    altered = payload[:position] + replacement + payload[position + 1 :]
    if altered == payload:
        return
    with pytest.raises(InputError):
        read_unsubscribe_token(KEYS, f"{head}.{altered}", "news")


# --- double opt-in confirmation tokens ------------------------------------------------------------

from datetime import date  # noqa: E402

from consentry.domain.tokens import make_confirm_token, read_confirm_token  # noqa: E402

_CK = b"c" * 32
_CS = "0f" * 32


def test_a_confirmation_token_round_trips_with_its_issue_day() -> None:
    token = make_confirm_token("t2", _CK, _CS, "news", date(2026, 12, 1))
    assert read_confirm_token({"t2": _CK}, token, "news") == (_CS, date(2026, 12, 1))
    assert len(token) == 3 + 68


def test_confirmation_and_unsubscribe_tokens_are_never_taken_for_each_other() -> None:
    confirm = make_confirm_token("t2", _CK, _CS, "news", date(2026, 12, 1))
    unsubscribe = make_unsubscribe_token("t2", _CK, _CS, "news")
    with pytest.raises(InputError):
        read_unsubscribe_token({"t2": _CK}, confirm, "news")
    with pytest.raises(InputError):
        read_confirm_token({"t2": _CK}, unsubscribe, "news")


@pytest.mark.parametrize("change", ["list", "day", "flip", "key"])
def test_a_tampered_confirmation_token_does_not_verify(change: str) -> None:
    token = make_confirm_token("t2", _CK, _CS, "news", date(2026, 12, 1))
    keys = {"t2": _CK}
    if change == "list":
        args = (keys, token, "offers")
    elif change == "day":
        kid, _, body = token.partition(".")
        raw = bytearray(base64.urlsafe_b64decode(body))
        raw[34] ^= 1  # another issue day under the same tag
        args = (keys, f"{kid}.{base64.urlsafe_b64encode(bytes(raw)).decode()}", "news")
    elif change == "flip":
        i = 10
        args = (keys, token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1 :], "news")
    else:
        args = ({"t2": b"d" * 32}, token, "news")
    with pytest.raises(InputError):
        read_confirm_token(*args)
