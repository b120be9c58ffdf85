"""Unsubscribe tokens: the opaque part of the one-click URL (R18, R19, RFC 8058 §6).

A token names a subject and is bound to one list by an HMAC, so the unsubscribe endpoint needs no
cookie, login or database lookup to know who asked and for what, and nobody can forge one for
another person or list::

    <key_id>.<base64url-no-padding(subject(32) || tag(16))>
    tag = HMAC-SHA256(key, "consentry-unsubscribe-v1" NUL list_id(UTF-8) NUL subject)[:16]

* ``subject`` is the 32 raw bytes of the 64-hex subject ref (``domain.addresses.subject_ref``),
  which is already a keyed pseudonym: the token carries no address.
* The tag is 128 bits (the R18 minimum); the message is injective because the subject is a fixed
  32 bytes at the end, so no choice of list id can collide with another (list, subject) pair.
* Tokens never expire (R19): there is no time in them, and a key id stays readable for as long as
  the key ring keeps the key. Rotating means minting new tokens under a new key id while keeping
  the old key for reading, forever.
* Every character is in ``[A-Za-z0-9_.-]``, safe in a URL path without escaping; the 48 payload
  bytes are exactly 64 base64 characters, so the encoding is canonical (no padding, no spare bits).

Double opt-in confirmation tokens (:func:`make_confirm_token`) have the same shape with the day
they were issued between the subject and the tag, and their own HMAC domain, so that one kind of
token is never accepted as the other::

    <key_id>.<base64url-no-padding(subject(32) || day(3) || tag(16))>
    tag = HMAC-SHA256(key, "consentry-confirm-v1" NUL list_id NUL subject || day)[:16]

``day`` is the issue date as days since 1970-01-01, big-endian; the caller decides how long a
confirmation link stays valid.

Pure: stdlib ``hmac``, ``hashlib`` and ``base64`` only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping
from datetime import date, timedelta
from typing import Final

from consentry.domain.errors import InputError

__all__ = [
    "MIN_TOKEN_KEY_BYTES",
    "TAG_BYTES",
    "make_confirm_token",
    "make_unsubscribe_token",
    "read_confirm_token",
    "read_unsubscribe_token",
]

TAG_BYTES: Final = 16
SUBJECT_BYTES: Final = 32
MIN_TOKEN_KEY_BYTES: Final = 32
_DOMAIN: Final = b"consentry-unsubscribe-v1\0"
_KEY_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_SUBJECT = re.compile(r"[0-9a-f]{64}")
_PAYLOAD_CHARS = (SUBJECT_BYTES + TAG_BYTES) * 4 // 3
_PAYLOAD = re.compile(rf"[A-Za-z0-9_-]{{{_PAYLOAD_CHARS}}}")
_MAX_TOKEN_CHARS = 64 + 1 + _PAYLOAD_CHARS
_CONFIRM_DOMAIN: Final = b"consentry-confirm-v1\0"
_DAY_BYTES: Final = 3
_EPOCH: Final = date(1970, 1, 1)
_CONFIRM_CHARS = (SUBJECT_BYTES + _DAY_BYTES + TAG_BYTES) * 4 // 3
_CONFIRM_PAYLOAD = re.compile(rf"[A-Za-z0-9_-]{{{_CONFIRM_CHARS}}}")


def make_unsubscribe_token(key_id: str, key: bytes, subject: str, list_id: str) -> str:
    """The token for ``subject`` (a 64-hex subject ref) on ``list_id``, under ``key``.

    ``ValueError`` for arguments our own code got wrong: a key id outside ``[A-Za-z0-9_-]{1,64}``,
    a key shorter than 32 bytes, or a subject that is not 64 lower-case hex digits."""
    _check_arguments(key_id, key, subject)
    raw = bytes.fromhex(subject)
    payload = raw + _tag(key, list_id, raw)
    return f"{key_id}.{base64.urlsafe_b64encode(payload).decode('ascii')}"


def _check_arguments(key_id: str, key: bytes, subject: str) -> None:
    if not _KEY_ID.fullmatch(key_id):
        raise ValueError(f"key id {key_id!r} must be 1-64 characters of [A-Za-z0-9_-]")
    if len(key) < MIN_TOKEN_KEY_BYTES:
        raise ValueError(f"token key must be at least {MIN_TOKEN_KEY_BYTES} bytes, got {len(key)}")
    if not _SUBJECT.fullmatch(subject):
        raise ValueError("subject must be a subject ref: 64 lower-case hex digits")


def read_unsubscribe_token(keys: Mapping[str, bytes], token: str, list_id: str) -> str:
    """The subject ref a valid token for ``list_id`` names; ``InputError`` otherwise.

    The MAC is compared in constant time. The error says whether the token is malformed, names a
    key this ring does not hold, or fails to verify (forged, altered, or for another list), and
    never echoes more than the key id."""
    if not isinstance(token, str) or len(token) > _MAX_TOKEN_CHARS:
        raise InputError("unsubscribe token is malformed")
    key_id, dot, encoded = token.partition(".")
    if not dot or not _KEY_ID.fullmatch(key_id) or not _PAYLOAD.fullmatch(encoded):
        raise InputError("unsubscribe token is malformed")
    key = keys.get(key_id)
    if key is None:
        raise InputError(f"unsubscribe token names an unknown key id {key_id!r}")
    payload = base64.urlsafe_b64decode(encoded)
    raw, tag = payload[:SUBJECT_BYTES], payload[SUBJECT_BYTES:]
    if not hmac.compare_digest(tag, _tag(key, list_id, raw)):
        raise InputError("unsubscribe token does not verify for this list")
    return raw.hex()


def _tag(key: bytes, list_id: str, subject: bytes) -> bytes:
    message = _DOMAIN + list_id.encode("utf-8") + b"\0" + subject
    return hmac.new(key, message, hashlib.sha256).digest()[:TAG_BYTES]


def make_confirm_token(key_id: str, key: bytes, subject: str, list_id: str, issued: date) -> str:
    """The double opt-in confirmation token for ``subject`` on ``list_id``, issued on ``issued``
    (``ValueError`` for the same programming errors as :func:`make_unsubscribe_token`)."""
    _check_arguments(key_id, key, subject)
    days = (issued - _EPOCH).days
    if not 0 <= days < 1 << (8 * _DAY_BYTES):
        raise ValueError(f"issue date {issued} is out of range")
    body = bytes.fromhex(subject) + days.to_bytes(_DAY_BYTES, "big")
    payload = body + _confirm_tag(key, list_id, body)
    return f"{key_id}.{base64.urlsafe_b64encode(payload).decode('ascii')}"


def read_confirm_token(keys: Mapping[str, bytes], token: str, list_id: str) -> tuple[str, date]:
    """The subject ref and issue date of a valid confirmation token for ``list_id``;
    ``InputError`` otherwise (malformed, unknown key id, or failing to verify)."""
    if not isinstance(token, str) or len(token) > 64 + 1 + _CONFIRM_CHARS:
        raise InputError("confirmation token is malformed")
    key_id, dot, encoded = token.partition(".")
    if not dot or not _KEY_ID.fullmatch(key_id) or not _CONFIRM_PAYLOAD.fullmatch(encoded):
        raise InputError("confirmation token is malformed")
    key = keys.get(key_id)
    if key is None:
        raise InputError(f"confirmation token names an unknown key id {key_id!r}")
    payload = base64.urlsafe_b64decode(encoded)
    body, tag = payload[: SUBJECT_BYTES + _DAY_BYTES], payload[SUBJECT_BYTES + _DAY_BYTES :]
    if not hmac.compare_digest(tag, _confirm_tag(key, list_id, body)):
        raise InputError("confirmation token does not verify for this list")
    days = int.from_bytes(body[SUBJECT_BYTES:], "big")
    return body[:SUBJECT_BYTES].hex(), _EPOCH + timedelta(days=days)


def _confirm_tag(key: bytes, list_id: str, body: bytes) -> bytes:
    message = _CONFIRM_DOMAIN + list_id.encode("utf-8") + b"\0" + body
    return hmac.new(key, message, hashlib.sha256).digest()[:TAG_BYTES]
