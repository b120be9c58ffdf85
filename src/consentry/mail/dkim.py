"""DKIM signing of outgoing mail (RFC 6376), RSA-SHA256 and Ed25519-SHA256 (RFC 8463).

``DKIMSigner.sign(message)`` returns the DKIM-Signature header field(s) to put in front of an
RFC 5322 message (CRLF line ends): one per key, RSA first, so a domain with an RSA and an Ed25519
key is dual-signed and receivers that do not know Ed25519 still find a signature they can check.

What is signed: ``c=relaxed/relaxed`` (canonicalisation in ``consentry.mail.dkim_canon``), the
whole body (never ``l=``, so nothing can be appended), a ``t=`` timestamp, no ``x=``. ``h=`` names
every present instance of the signed header fields, bottom-up as RFC 6376 §5.4.2 selects them,
and each over-signed name once more than it occurs, so that a copy added in transit (a second
List-Unsubscribe, From or Subject) breaks the signature instead of riding on it; an over-signed
name absent from the message is listed once, which signs "there is no such field".

The work is split so a process pool can carry the expensive part: ``prepare`` does the hashing
(body hash, canonical header data, the SHA-256 digest to sign), ``sign_with_key`` the private-key
operation over that 32-byte digest (RSA PKCS#1 v1.5 over the pre-hashed SHA-256, which is exactly
RSA-SHA256 of the data; Ed25519 signs the digest itself, as RFC 8463 says), and ``finish`` the
assembly. ``consentry.mail.dkim_pool.SigningPool`` runs the signing in worker processes.
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, utils
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from consentry.domain.errors import KeyMaterialError
from consentry.mail.dkim_canon import (
    canonicalize_body_relaxed,
    canonicalize_header_relaxed,
    parse_header_block,
    split_message,
)

__all__ = [
    "ALGORITHMS",
    "DEFAULT_OVERSIGNED",
    "DEFAULT_SIGNED",
    "DKIMKey",
    "DKIMKeyLike",
    "DKIMSigner",
    "Prepared",
    "load_private_key",
]

ALGORITHMS = ("rsa-sha256", "ed25519-sha256")
MIN_RSA_BITS = 2048
DEFAULT_SIGNED = (
    "From", "To", "Subject", "Date", "Message-ID", "Reply-To", "List-Id", "List-Unsubscribe",
    "List-Unsubscribe-Post", "Feedback-ID", "MIME-Version", "Content-Type",
)  # fmt: skip
DEFAULT_OVERSIGNED = (
    "From", "To", "Subject", "Date", "Message-ID", "Reply-To", "List-Id", "List-Unsubscribe",
    "List-Unsubscribe-Post", "Feedback-ID",
)  # fmt: skip
CHUNK_MESSAGES = 100

PrivateKey = RSAPrivateKey | Ed25519PrivateKey
Prepared = list[tuple[int, bytes, bytes]]  # per key: (key index, header up to "b=", digest)

_FOLD = b"\r\n\t"
_B64_LINE = 72
_NAME = re.compile(r"[\x21-\x39\x3b-\x7e]+")
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_DOMAIN = re.compile(rf"(?:{_LABEL}\.)+[a-z0-9-]{{2,63}}")
_SELECTOR = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")


class DKIMKeyLike(Protocol):
    """What the signer needs of a key; ``DKIMKey`` and the key store's records both fit."""

    @property
    def domain(self) -> str: ...
    @property
    def selector(self) -> str: ...
    @property
    def algorithm(self) -> str: ...
    @property
    def private_pem(self) -> bytes: ...


@dataclass(frozen=True, slots=True)
class DKIMKey:
    """A signing key: ``d=`` domain (lower-case A-labels), ``s=`` selector, ``a=`` algorithm
    (``rsa-sha256`` or ``ed25519-sha256``) and the PKCS#8 PEM private key."""

    domain: str
    selector: str
    algorithm: str
    private_pem: bytes = field(repr=False)


def load_private_key(key: DKIMKeyLike) -> PrivateKey:
    """The private key of ``key``, checked against its algorithm; ``KeyMaterialError`` if not."""
    where = f"DKIM key {key.selector}._domainkey.{key.domain}"
    if key.algorithm not in ALGORITHMS:
        raise KeyMaterialError(f"{where}: unknown algorithm {key.algorithm!r}")
    try:
        private = serialization.load_pem_private_key(key.private_pem, password=None)
    except (ValueError, TypeError) as exc:
        raise KeyMaterialError(f"{where}: not an unencrypted PEM private key: {exc}") from exc
    if key.algorithm == "rsa-sha256":
        if not isinstance(private, RSAPrivateKey):
            raise KeyMaterialError(f"{where}: rsa-sha256 needs an RSA key")
        if private.key_size < MIN_RSA_BITS:
            raise KeyMaterialError(f"{where}: RSA key of {private.key_size} bits; 2048 needed")
        return private
    if not isinstance(private, Ed25519PrivateKey):
        raise KeyMaterialError(f"{where}: ed25519-sha256 needs an Ed25519 key")
    return private


def _raw_sign(private: PrivateKey, digest: bytes) -> bytes:
    if isinstance(private, RSAPrivateKey):
        return private.sign(digest, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))
    return private.sign(digest)


def _fold_b64(value: bytes) -> bytes:
    return _FOLD.join(value[i : i + _B64_LINE] for i in range(0, len(value), _B64_LINE))


def _fold_names(names: list[bytes], first: int) -> bytes:
    """``h=`` value, folded after a colon before a line passes 76 characters."""
    out = bytearray()
    column = first
    for i, name in enumerate(names):
        piece = name if i == 0 else b":" + name
        if column + len(piece) > 76 and i:
            out += b":" + _FOLD + name
            column = 8 + len(name)
        else:
            out += piece
            column += len(piece)
    return bytes(out)


class DKIMSigner:
    """Signs messages with one or more keys (RSA first, then Ed25519). Thread-safe; reusable."""

    def __init__(
        self,
        keys: Sequence[DKIMKeyLike],
        signed: Sequence[str] = DEFAULT_SIGNED,
        oversigned: Sequence[str] = DEFAULT_OVERSIGNED,
    ) -> None:
        if not keys:
            raise ValueError("DKIMSigner needs at least one key")
        lowered = [name.lower() for name in signed]
        if len(set(lowered)) != len(lowered):
            raise ValueError("a header field name is listed twice in signed")
        if "from" not in lowered:
            raise ValueError("From must be signed (RFC 6376 §5.4)")
        for name in (*signed, *oversigned):
            if _NAME.fullmatch(name) is None:
                raise ValueError(f"invalid header field name {name!r}")
        over = {name.lower() for name in oversigned}
        if not over <= set(lowered):
            raise ValueError(f"over-signed but not signed: {sorted(over - set(lowered))}")
        given = [DKIMKey(k.domain, k.selector, k.algorithm, k.private_pem) for k in keys]
        loaded = sorted(  # load_private_key checks the algorithm first
            ((key, load_private_key(key)) for key in given),
            key=lambda pair: ALGORITHMS.index(pair[0].algorithm),
        )
        self.keys = tuple(key for key, _ in loaded)
        self.signed = tuple(signed)
        self.oversigned = tuple(oversigned)
        self._private = [private for _, private in loaded]
        self._prefixes = [self._tags(k) for k in self.keys]
        # (lower-case name, name as written in h=, over-signed?) in signing order
        self._plan = [(n.lower().encode(), n.encode(), n.lower() in over) for n in signed]
        self._wanted = frozenset(low for low, _, _ in self._plan)

    @staticmethod
    def _tags(key: DKIMKey) -> bytes:
        if _DOMAIN.fullmatch(key.domain) is None or len(key.domain) > 253:
            raise KeyMaterialError(f"DKIM domain {key.domain!r} is not a lower-case A-label name")
        if _SELECTOR.fullmatch(key.selector) is None:
            raise KeyMaterialError(f"DKIM selector {key.selector!r} is not a lower-case DNS name")
        return (
            f"DKIM-Signature: v=1; a={key.algorithm}; c=relaxed/relaxed; d={key.domain};"
            f" s={key.selector};"
        ).encode("ascii")

    def prepare(self, message: bytes, timestamp: int | None = None) -> Prepared:
        """Hash ``message``: per key, ``(key index, header up to an empty b=, SHA-256 digest to
        sign)``. Raises ``ValueError`` for a message without From or a malformed header block."""
        block, body = split_message(message)
        fields = parse_header_block(block)
        found: dict[bytes, list[bytes]] = {}
        wanted = self._wanted
        for lname, name, value in fields:
            if lname in wanted:
                canonical = canonicalize_header_relaxed(name, value)
                found.setdefault(lname, []).append(canonical)
        if b"from" not in found:
            raise ValueError("the message has no From header field; it cannot be signed")
        names: list[bytes] = []
        hashed: list[bytes] = []
        for lname, name, over in self._plan:
            present = found.get(lname)
            if present:
                names.extend([name] * len(present))
                hashed.extend(reversed(present))
            if over:
                names.append(name)
        body_hash = base64.b64encode(hashlib.sha256(canonicalize_body_relaxed(body)).digest())
        stamp = int(time.time()) if timestamp is None else timestamp
        base = hashlib.sha256(b"".join(hashed))
        line = b"t=%d; h=" % stamp  # starts a line, after a tab (8 columns)
        rest = line + _fold_names(names, 8 + len(line)) + b";" + _FOLD + b"bh=" + body_hash
        rest += b";" + _FOLD + b"b="
        out: Prepared = []
        for index, prefix in enumerate(self._prefixes):
            header = prefix + _FOLD + rest
            canonical = canonicalize_header_relaxed(b"DKIM-Signature", header[15:])
            digest = base.copy()
            digest.update(canonical[:-2])  # hashed without its CRLF (RFC 6376 §3.7)
            out.append((index, header, digest.digest()))
        return out

    def finish(self, prepared: Prepared, signatures: Sequence[bytes]) -> bytes:
        """The DKIM-Signature field(s) of ``prepared`` with their ``b=`` values, CRLF-ended."""
        if len(prepared) != len(signatures):
            raise ValueError(f"{len(prepared)} prepared signatures, {len(signatures)} values")
        return b"".join(
            header + _fold_b64(base64.b64encode(signature)) + b"\r\n"
            for (_, header, _), signature in zip(prepared, signatures, strict=True)
        )

    def sign_digest(self, key_index: int, digest: bytes) -> bytes:
        """The signature of ``digest`` by this signer's key ``key_index``, in this process."""
        return _raw_sign(self._private[key_index], digest)

    def sign(self, message: bytes, timestamp: int | None = None) -> bytes:
        """The DKIM-Signature header field(s) to prepend to ``message``, each ending in CRLF."""
        prepared = self.prepare(message, timestamp)
        return self.finish(prepared, [self.sign_digest(i, d) for i, _, d in prepared])
