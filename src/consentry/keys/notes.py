"""Ed25519 signed notes and checkpoints (c2sp.org/signed-note, c2sp.org/tlog-checkpoint).

The text format lives in ``consentry.domain.checkpoint``; this adapter adds the cryptography:
signing a note text with an Ed25519 key, and verifying a note against a list of verifier keys
(``<name>+<key ID hex>+<base64(0x01 || public key)>``, the golang.org/x/mod/sumdb/note format,
so any Go-ecosystem witness or verifier can check consentry's checkpoints).

Verification follows the signed-note rules: a signature whose (key name, key ID) matches no
known key is ignored; one that matches a known key must verify, or the whole note is refused;
and at least one signature by a known key must verify.
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from consentry.domain.checkpoint import (
    ALG_ED25519,
    ED25519_KEY_SIZE,
    Checkpoint,
    NoteSignature,
    SignedNote,
    b64decode,
    b64encode,
    ed25519_key_id,
    format_note,
    is_valid_key_name,
    parse_checkpoint,
    parse_note,
    parse_verifier_key,
    verifier_key,
)
from consentry.domain.errors import InputError, VerificationFailed

ED25519_SIGNATURE_SIZE = 64
_SIGNER_PREFIX = "PRIVATE+KEY+"


def public_key_bytes(private_key: Ed25519PrivateKey) -> bytes:
    """The raw 32-byte public key of ``private_key``."""
    return private_key.public_key().public_bytes_raw()


def verifier_key_for(name: str, private_key: Ed25519PrivateKey) -> str:
    """The verifier key text that checks signatures made by ``private_key`` under ``name``."""
    return verifier_key(name, public_key_bytes(private_key))


def signer_key(name: str, private_key: Ed25519PrivateKey) -> str:
    """The Go note signer key text ``PRIVATE+KEY+<name>+<key ID hex>+<base64(0x01 || seed)>``."""
    key_id = ed25519_key_id(name, public_key_bytes(private_key)).hex()
    seed = bytes([ALG_ED25519]) + private_key.private_bytes_raw()
    return f"{_SIGNER_PREFIX}{name}+{key_id}+{b64encode(seed)}"


def parse_signer_key(text: str) -> tuple[str, Ed25519PrivateKey]:
    """Parse a Go note signer key into (name, private key), checking its key ID."""
    if not text.startswith(_SIGNER_PREFIX):
        raise InputError("signer key must start with PRIVATE+KEY+")
    parts = text[len(_SIGNER_PREFIX) :].split("+", 2)
    if len(parts) != 3:
        raise InputError("signer key must be PRIVATE+KEY+<name>+<key id>+<base64 key>")
    name, id_hex, key_b64 = parts
    if not is_valid_key_name(name):
        raise InputError(f"signer key name {name!r} is empty or has a space")
    raw = b64decode(key_b64, "signer key material")
    if len(raw) != 1 + ED25519_KEY_SIZE or raw[0] != ALG_ED25519:
        raise InputError("signer key is not an Ed25519 seed (0x01 and 32 bytes)")
    private_key = Ed25519PrivateKey.from_private_bytes(raw[1:])
    if ed25519_key_id(name, public_key_bytes(private_key)).hex() != id_hex.lower():
        raise InputError(f"signer key ID {id_hex!r} does not match its name and key")
    return name, private_key


def sign_note(text: str, name: str, private_key: Ed25519PrivateKey) -> NoteSignature:
    """Sign a note text (which must end in a newline) as key ``name``."""
    if not text.endswith("\n"):
        raise InputError("note text must end with a newline")
    key_id = ed25519_key_id(name, public_key_bytes(private_key))
    return NoteSignature(name, key_id, private_key.sign(text.encode("utf-8")))


def sign_checkpoint(checkpoint: Checkpoint, name: str, private_key: Ed25519PrivateKey) -> str:
    """The signed note of ``checkpoint``, signed by ``private_key`` as ``name``."""
    text = checkpoint.body()
    return format_note(SignedNote(text, (sign_note(text, name, private_key),)))


def _load_verifiers(
    verifier_keys: Sequence[str],
) -> dict[tuple[str, bytes], list[Ed25519PublicKey]]:
    known: dict[tuple[str, bytes], list[Ed25519PublicKey]] = {}
    raw_seen: dict[tuple[str, bytes], set[bytes]] = {}
    for text in verifier_keys:
        name, key_id, public_key = parse_verifier_key(text)
        seen = raw_seen.setdefault((name, key_id), set())
        if public_key not in seen:
            seen.add(public_key)
            known.setdefault((name, key_id), []).append(
                Ed25519PublicKey.from_public_bytes(public_key)
            )
    return known


def verify_note(note_text: str, verifier_keys: Sequence[str]) -> SignedNote:
    """Parse a signed note and verify it against ``verifier_keys``.

    Returns the note with only the signatures that verified. Raises ``InputError`` when the
    note or a verifier key is malformed, and ``VerificationFailed`` when a signature by a
    known key does not verify or no signature by a known key is present.
    """
    note = parse_note(note_text)
    known = _load_verifiers(verifier_keys)
    message = note.text.encode("utf-8")
    verified: list[NoteSignature] = []
    for sig in note.signatures:
        keys = known.get((sig.name, sig.key_id))
        if keys is None:
            continue
        label = f"{sig.name}+{sig.key_id.hex()}"
        if len(keys) > 1:
            raise VerificationFailed(f"ambiguous key {label}: several verifier keys match it")
        if len(sig.signature) != ED25519_SIGNATURE_SIZE:
            raise VerificationFailed(
                f"signature by {label} is {len(sig.signature)} bytes; Ed25519 signatures are 64"
            )
        try:
            keys[0].verify(sig.signature, message)
        except InvalidSignature:
            raise VerificationFailed(f"invalid signature for key {label}") from None
        if sig not in verified:
            verified.append(sig)
    if not verified:
        names = ", ".join(sorted({f"{s.name}+{s.key_id.hex()}" for s in note.signatures}))
        raise VerificationFailed(f"note has no signature by a known key (it is signed by {names})")
    return SignedNote(note.text, tuple(verified))


def verify_checkpoint_note(
    note_text: str, verifier_keys: Sequence[str], *, origin: str | None = None
) -> Checkpoint:
    """Verify a signed checkpoint (see ``verify_note``) and parse its body. With ``origin``,
    also refuse a checkpoint of any other log."""
    checkpoint = parse_checkpoint(verify_note(note_text, verifier_keys).text)
    if origin is not None and checkpoint.origin != origin:
        raise VerificationFailed(f"checkpoint is for log {checkpoint.origin!r}, not {origin!r}")
    return checkpoint
