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

Pure: stdlib ``hmac``, ``hashlib`` and ``base64`` only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping
from typing import Final

from consentry.domain.errors import InputError

__all__ = [
    "MIN_TOKEN_KEY_BYTES",
    "TAG_BYTES",
    "make_unsubscribe_token",
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


def make_unsubscribe_token(key_id: str, key: bytes, subject: str, list_id: str) -> str:
    """The token for ``subject`` (a 64-hex subject ref) on ``list_id``, under ``key``.

    ``ValueError`` for arguments our own code got wrong: a key id outside ``[A-Za-z0-9_-]{1,64}``,
    a key shorter than 32 bytes, or a subject that is not 64 lower-case hex digits."""
    if not _KEY_ID.fullmatch(key_id):
        raise ValueError(f"key id {key_id!r} must be 1-64 characters of [A-Za-z0-9_-]")
    if len(key) < MIN_TOKEN_KEY_BYTES:
        raise ValueError(f"token key must be at least {MIN_TOKEN_KEY_BYTES} bytes, got {len(key)}")
    if not _SUBJECT.fullmatch(subject):
        raise ValueError("subject must be a subject ref: 64 lower-case hex digits")
    raw = bytes.fromhex(subject)
    payload = raw + _tag(key, list_id, raw)
    return f"{key_id}.{base64.urlsafe_b64encode(payload).decode('ascii')}"


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
