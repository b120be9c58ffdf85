"""Checkpoints (c2sp.org/tlog-checkpoint) and signed notes (c2sp.org/signed-note), as text.

A checkpoint commits to the ledger's size and RFC 9162 root. Its body is three lines and
optional extension lines, each ending in a newline::

    <origin>
    <tree size, decimal, no leading zeroes>
    <base64 of the 32-byte root hash>

A signed note is a text ending in a newline, a blank line, and one or more signature lines::

    — <key name> <base64(4-byte key ID || signature)>

(U+2014 EM DASH, a space, the name, a space, the base64). The signature is over the text,
final newline included, blank line excluded. Names are non-empty and contain neither Unicode
spaces nor '+'; the whole note is UTF-8 without ASCII control characters other than newline.

For Ed25519 the key ID is SHA-256(name || 0x0A || 0x01 || 32-byte public key)[:4] and a
verifier key is written ``<name>+<key ID, 8 hex digits>+<base64(0x01 || public key)>``.

This module only formats and parses; signing and verifying live in ``consentry.keys.notes``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from consentry.domain.errors import InputError

ROOT_SIZE = 32
KEY_ID_SIZE = 4
ED25519_KEY_SIZE = 32
ALG_ED25519 = 0x01
MAX_SIGNATURES = 100
MAX_TREE_SIZE = 2**64 - 1

SIGNATURE_PREFIX = "\u2014 "
_DECIMAL = re.compile(r"(0|[1-9][0-9]*)")
_KEY_ID_HEX = re.compile(r"[0-9a-fA-F]{8}")


def b64encode(data: bytes) -> str:
    """Standard base64 (RFC 4648 §4), padded."""
    return base64.b64encode(data).decode("ascii")


def b64decode(text: str, what: str) -> bytes:
    """Strict standard base64: right alphabet, right padding, canonical. ``InputError`` if not."""
    try:
        data = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise InputError(f"{what} is not valid base64: {text!r}") from None
    if base64.b64encode(data).decode("ascii") != text:
        raise InputError(f"{what} is not canonical base64: {text!r}")
    return data


def _control_char(text: str) -> str | None:
    for ch in text:
        if ch < " " and ch != "\n":
            return ch
    return None


def _check_line(text: str, what: str) -> None:
    if not text:
        raise InputError(f"{what} is empty")
    if "\n" in text:
        raise InputError(f"{what} contains a newline")
    bad = _control_char(text)
    if bad is not None:
        raise InputError(f"{what} contains the control character {bad!r}")


def is_valid_key_name(name: str) -> bool:
    """Signed-note key names: non-empty, no Unicode spaces, no '+', no control characters."""
    return (
        bool(name)
        and not any(ch.isspace() or ch == "+" or ch < " " for ch in name)
        and _is_utf8(name)
    )


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@dataclass(frozen=True)
class Checkpoint:
    """A log's signed statement of its size and root (c2sp.org/tlog-checkpoint)."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_line(self.origin, "checkpoint origin")
        if isinstance(self.size, bool) or not isinstance(self.size, int):
            raise InputError(f"checkpoint size must be an integer, got {self.size!r}")
        if not 0 <= self.size <= MAX_TREE_SIZE:
            raise InputError(f"checkpoint size {self.size} is not in 0..2**64-1")
        if not isinstance(self.root, bytes) or len(self.root) != ROOT_SIZE:
            raise InputError(f"checkpoint root must be {ROOT_SIZE} bytes, got {self.root!r}")
        for number, line in enumerate(self.extensions, start=4):
            _check_line(line, f"checkpoint extension line {number}")

    def body(self) -> str:
        """The note text: origin, size, base64 root, then the extension lines."""
        lines = [self.origin, str(self.size), b64encode(self.root), *self.extensions]
        return "".join(line + "\n" for line in lines)


def parse_checkpoint(body: str) -> Checkpoint:
    """Parse a checkpoint body (the note text, not the signed note). ``InputError`` if bad."""
    if not body.endswith("\n"):
        raise InputError("checkpoint body must end with a newline")
    lines = body[:-1].split("\n")
    if len(lines) < 3:
        raise InputError(
            f"checkpoint body has {len(lines)} line(s); it needs origin, size and root hash"
        )
    origin, size_text, root_text, *extensions = lines
    if not origin:
        raise InputError("checkpoint line 1 (origin) is empty")
    if not _DECIMAL.fullmatch(size_text):
        raise InputError(
            f"checkpoint line 2 (tree size) {size_text!r} is not a decimal number "
            "without leading zeroes"
        )
    size = int(size_text)
    if size > MAX_TREE_SIZE:
        raise InputError(f"checkpoint line 2 (tree size) {size_text} is larger than 2**64-1")
    root = b64decode(root_text, "checkpoint line 3 (root hash)")
    if len(root) != ROOT_SIZE:
        raise InputError(
            f"checkpoint line 3 (root hash) decodes to {len(root)} bytes, not {ROOT_SIZE}"
        )
    for number, line in enumerate(extensions, start=4):
        if not line:
            raise InputError(f"checkpoint line {number} (extension) is empty")
    return Checkpoint(origin, size, root, tuple(extensions))


@dataclass(frozen=True)
class NoteSignature:
    """One signature line: the key's name, its 4-byte key ID and the signature proper."""

    name: str
    key_id: bytes
    signature: bytes

    def __post_init__(self) -> None:
        if not is_valid_key_name(self.name):
            raise InputError(f"note key name {self.name!r} is empty or has a space or '+'")
        if not isinstance(self.key_id, bytes) or len(self.key_id) != KEY_ID_SIZE:
            raise InputError(f"note key ID must be {KEY_ID_SIZE} bytes, got {self.key_id!r}")
        if not isinstance(self.signature, bytes) or not self.signature:
            raise InputError("note signature is empty")

    def line(self) -> str:
        """The signature line, newline included."""
        return f"{SIGNATURE_PREFIX}{self.name} {b64encode(self.key_id + self.signature)}\n"


@dataclass(frozen=True)
class SignedNote:
    """A note text and its signatures (c2sp.org/signed-note)."""

    text: str
    signatures: tuple[NoteSignature, ...]


def format_note(note: SignedNote) -> str:
    """The signed note: text, a blank line, one line per signature."""
    _check_text(note.text)
    if not note.signatures:
        raise InputError("a signed note needs at least one signature")
    return note.text + "\n" + "".join(sig.line() for sig in note.signatures)


def _check_text(text: str) -> None:
    if not text.endswith("\n"):
        raise InputError("note text must end with a newline")
    bad = _control_char(text)
    if bad is not None:
        raise InputError(f"note contains the control character {bad!r}")
    if not _is_utf8(text):
        raise InputError("note is not valid UTF-8")


def parse_note(note_text: str) -> SignedNote:
    """Split a signed note into its text and signatures, checking the syntax only (nothing is
    verified here). ``InputError`` if the note is malformed."""
    _check_text(note_text)
    split = note_text.rfind("\n\n")
    if split < 0:
        raise InputError("note has no blank line before its signatures")
    text, sig_block = note_text[: split + 1], note_text[split + 2 :]
    if not sig_block:
        raise InputError("note has no signature lines")
    lines = sig_block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise InputError(f"note has {len(lines)} signatures; at most {MAX_SIGNATURES} are read")
    sigs = tuple(_parse_signature_line(line, number) for number, line in enumerate(lines, start=1))
    return SignedNote(text, sigs)


def _parse_signature_line(line: str, number: int) -> NoteSignature:
    where = f"note signature line {number}"
    if not line.startswith(SIGNATURE_PREFIX):
        raise InputError(f"{where} does not start with an em dash and a space: {line!r}")
    name, space, blob = line[len(SIGNATURE_PREFIX) :].partition(" ")
    if not space:
        raise InputError(f"{where} has no space between key name and signature")
    if not is_valid_key_name(name):
        raise InputError(f"{where}: key name {name!r} is empty or has a space or '+'")
    data = b64decode(blob, f"{where} signature")
    if len(data) <= KEY_ID_SIZE:
        raise InputError(f"{where}: signature is {len(data)} bytes, too short for a key ID")
    return NoteSignature(name, data[:KEY_ID_SIZE], data[KEY_ID_SIZE:])


def ed25519_key_id(name: str, public_key: bytes) -> bytes:
    """SHA-256(name || 0x0A || 0x01 || public key)[:4], as c2sp.org/signed-note recommends."""
    digest = hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([ALG_ED25519]) + public_key)
    return digest.digest()[:KEY_ID_SIZE]


def verifier_key(name: str, public_key: bytes) -> str:
    """The verifier key text ``<name>+<key ID hex>+<base64(0x01 || public key)>``."""
    if not is_valid_key_name(name):
        raise InputError(f"key name {name!r} is empty or has a space or '+'")
    if len(public_key) != ED25519_KEY_SIZE:
        raise InputError(f"an Ed25519 public key is 32 bytes, got {len(public_key)}")
    key_id = ed25519_key_id(name, public_key).hex()
    return f"{name}+{key_id}+{b64encode(bytes([ALG_ED25519]) + public_key)}"


def parse_verifier_key(text: str) -> tuple[str, bytes, bytes]:
    """Parse an Ed25519 verifier key into (name, key ID, 32-byte public key), checking that
    the key ID matches. ``InputError`` if it is malformed or of another algorithm."""
    parts = text.split("+", 2)
    if len(parts) != 3:
        raise InputError("verifier key must be <name>+<key id>+<base64 key>")
    name, id_hex, key_b64 = parts
    if not is_valid_key_name(name):
        raise InputError(f"verifier key name {name!r} is empty or has a space")
    if not _KEY_ID_HEX.fullmatch(id_hex):
        raise InputError(f"verifier key ID {id_hex!r} is not 8 hexadecimal digits")
    key = b64decode(key_b64, "verifier key material")
    if not key or key[0] != ALG_ED25519:
        raise InputError("verifier key is not an Ed25519 key (algorithm byte 0x01)")
    public_key = key[1:]
    if len(public_key) != ED25519_KEY_SIZE:
        raise InputError(f"Ed25519 verifier key is {len(public_key)} bytes, not 32")
    key_id = bytes.fromhex(id_hex)
    if ed25519_key_id(name, public_key) != key_id:
        raise InputError(f"verifier key ID {id_hex} does not match its name and key")
    return name, key_id, public_key
