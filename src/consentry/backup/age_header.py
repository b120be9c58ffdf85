"""The age v1 header (c2sp.org/age): stanzas, the header MAC, and the X25519 and scrypt
recipient stanzas, on the ``cryptography`` primitives.

pyrage streams the payload (``age_worker``) but offers a passphrase only for data held in
memory. A passphrase backup is therefore made by letting pyrage encrypt to a throw-away X25519
identity and swapping the header for an scrypt one that wraps the same file key (and opened the
other way round); the payload, which pyrage wrote, is untouched. The result is an ordinary age
file that ``age -d`` opens with the passphrase.
"""

from __future__ import annotations

import base64
import hmac
import os
from collections.abc import Callable
from dataclasses import dataclass
from hashlib import sha256

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

VERSION_LINE = b"age-encryption.org/v1\n"
X25519_INFO = b"age-encryption.org/v1/X25519"
SCRYPT_LABEL = b"age-encryption.org/v1/scrypt"
MAX_HEADER = 1 << 16
_ZERO_NONCE = bytes(12)


class HeaderProblem(ValueError):
    """A header that cannot be read or does not open with what was given."""


@dataclass(frozen=True)
class Stanza:
    args: tuple[str, ...]
    body: bytes


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    padded = text + "=" * (-len(text) % 4)
    try:
        data = base64.b64decode(padded, validate=True)
    except ValueError as exc:
        raise HeaderProblem("the age header holds invalid base64") from exc
    if _b64(data) != text:
        raise HeaderProblem("the age header holds non-canonical base64")
    return data


def _hkdf(ikm: bytes, salt: bytes, info: bytes) -> bytes:
    return HKDF(hashes.SHA256(), 32, salt, info).derive(ikm)


def read_header(read_line: Callable[[], bytes]) -> tuple[list[Stanza], bytes, bytes]:
    """Parse a header line by line: (stanzas, the bytes the MAC covers, the MAC)."""
    covered = bytearray()
    first = read_line()
    if first != VERSION_LINE:
        raise HeaderProblem("not an age file (no 'age-encryption.org/v1' line)")
    covered += first
    stanzas: list[Stanza] = []
    line = read_line()
    while line.startswith(b"-> "):
        covered += line
        args = tuple(line[3:].rstrip(b"\n").decode("ascii", "replace").split(" "))
        body = bytearray()
        while True:
            chunk = read_line()
            if not chunk.endswith(b"\n") or len(covered) > MAX_HEADER:
                raise HeaderProblem("the age header is truncated or too long")
            covered += chunk
            text = chunk[:-1]
            body += _unb64(text.decode("ascii", "replace"))
            if len(text) < 64:
                break
        stanzas.append(Stanza(args, bytes(body)))
        line = read_line()
    if not line.startswith(b"--- ") or not line.endswith(b"\n") or not stanzas:
        raise HeaderProblem("the age header has no MAC line")
    covered += b"---"
    return stanzas, bytes(covered), _unb64(line[4:-1].decode("ascii", "replace"))


def format_header(stanzas: list[Stanza], file_key: bytes) -> bytes:
    out = bytearray(VERSION_LINE)
    for stanza in stanzas:
        out += b"-> " + " ".join(stanza.args).encode("ascii") + b"\n"
        text = _b64(stanza.body)
        lines = [text[i : i + 64] for i in range(0, len(text), 64)]
        if not lines or len(lines[-1]) == 64:
            lines.append("")
        out += "".join(line + "\n" for line in lines).encode("ascii")
    out += b"---"
    mac = hmac.new(_hkdf(file_key, b"", b"header"), bytes(out), sha256).digest()
    return bytes(out) + b" " + _b64(mac).encode("ascii") + b"\n"


def check_mac(covered: bytes, mac: bytes, file_key: bytes) -> None:
    want = hmac.new(_hkdf(file_key, b"", b"header"), covered, sha256).digest()
    if not hmac.compare_digest(want, mac):
        raise HeaderProblem("the age header MAC does not match (the header was altered)")


def x25519_wrap(file_key: bytes, recipient: bytes) -> Stanza:
    ephemeral = X25519PrivateKey.generate()
    share = ephemeral.public_key().public_bytes_raw()
    shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(recipient))
    key = _hkdf(shared, share + recipient, X25519_INFO)
    body = ChaCha20Poly1305(key).encrypt(_ZERO_NONCE, file_key, None)
    return Stanza(("X25519", _b64(share)), body)


def x25519_unwrap(stanza: Stanza, secret: bytes) -> bytes | None:
    """The file key if the stanza is for this identity, else None."""
    if stanza.args[:1] != ("X25519",) or len(stanza.args) != 2 or len(stanza.body) != 32:
        return None
    share = _unb64(stanza.args[1])
    identity = X25519PrivateKey.from_private_bytes(secret)
    recipient = identity.public_key().public_bytes_raw()
    shared = identity.exchange(X25519PublicKey.from_public_bytes(share))
    key = _hkdf(shared, share + recipient, X25519_INFO)
    try:
        return ChaCha20Poly1305(key).decrypt(_ZERO_NONCE, stanza.body, None)
    except InvalidTag:
        return None


def _scrypt_key(passphrase: str, salt: bytes, work_factor: int) -> bytes:
    kdf = Scrypt(SCRYPT_LABEL + salt, 32, 1 << work_factor, 8, 1)
    return kdf.derive(passphrase.encode("utf-8"))


def scrypt_wrap(file_key: bytes, passphrase: str, work_factor: int) -> Stanza:
    salt = os.urandom(16)
    key = _scrypt_key(passphrase, salt, work_factor)
    body = ChaCha20Poly1305(key).encrypt(_ZERO_NONCE, file_key, None)
    return Stanza(("scrypt", _b64(salt), str(work_factor)), body)


def scrypt_unwrap(stanzas: list[Stanza], passphrase: str, max_work_factor: int) -> bytes:
    """The file key of a passphrase-encrypted header (its only stanza must be scrypt)."""
    if not any(s.args[:1] == ("scrypt",) for s in stanzas):
        raise HeaderProblem("the backup is not passphrase-encrypted; use --identity")
    if len(stanzas) != 1:
        raise HeaderProblem("an scrypt stanza must be the only one in an age header")
    stanza = stanzas[0]
    if len(stanza.args) != 3 or len(stanza.body) != 32:
        raise HeaderProblem("the scrypt stanza is malformed")
    salt, factor = _unb64(stanza.args[1]), stanza.args[2]
    if len(salt) != 16 or not factor.isdigit() or factor.startswith("0"):
        raise HeaderProblem("the scrypt stanza is malformed")
    if int(factor) > max_work_factor:
        raise HeaderProblem(f"the scrypt work factor {factor} is above the limit {max_work_factor}")
    key = _scrypt_key(passphrase, salt, int(factor))
    try:
        return ChaCha20Poly1305(key).decrypt(_ZERO_NONCE, stanza.body, None)
    except InvalidTag:
        raise HeaderProblem("wrong passphrase") from None
