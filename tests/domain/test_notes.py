"""Ed25519 signed notes and checkpoints: the Go reference vector, round trips, refusals."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from consentry.domain.checkpoint import (
    Checkpoint,
    NoteSignature,
    SignedNote,
    format_note,
    parse_note,
    parse_verifier_key,
)
from consentry.domain.errors import InputError, VerificationFailed
from consentry.domain.merkle import EMPTY_ROOT, MemoryTree
from consentry.keys import notes
from consentry.keys.notes import (
    parse_signer_key,
    sign_checkpoint,
    sign_note,
    signer_key,
    verifier_key_for,
    verify_checkpoint_note,
    verify_note,
)

# golang.org/x/mod/sumdb/note's test vectors (note_test.go).
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
PETER_B64 = (
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="
)
ENOCH_B64 = (
    "rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ="
)
PETER_SIG = f"— PeterNeumann {PETER_B64}\n"
ENOCH_SIG = f"— EnochRoot {ENOCH_B64}\n"
GO_NOTE = TEXT + "\n" + PETER_SIG


def names(note: SignedNote) -> list[str]:
    return [s.name for s in note.signatures]


def test_go_reference_note_verifies() -> None:
    note = verify_note(GO_NOTE, [PETER_VKEY])
    assert note.text == TEXT
    assert names(note) == ["PeterNeumann"]
    assert note.signatures[0].key_id.hex() == "c74f20a3"


def test_go_signer_key_reproduces_the_reference_note_byte_for_byte() -> None:
    name, private_key = parse_signer_key(PETER_SKEY)
    assert name == "PeterNeumann"
    assert verifier_key_for(name, private_key) == PETER_VKEY
    assert signer_key(name, private_key) == PETER_SKEY
    sig = sign_note(TEXT, name, private_key)
    assert format_note(SignedNote(TEXT, (sig,))) == GO_NOTE  # Ed25519 is deterministic


def test_go_open_cases() -> None:
    two = TEXT + "\n" + PETER_SIG + ENOCH_SIG
    assert names(verify_note(two, [PETER_VKEY])) == ["PeterNeumann"]  # Enoch's is ignored
    assert names(verify_note(two, [PETER_VKEY, ENOCH_VKEY])) == ["PeterNeumann", "EnochRoot"]
    with pytest.raises(VerificationFailed, match="no signature by a known key"):
        verify_note(two, [])
    # the same key twice is not ambiguous; an unused key is never a problem
    assert names(verify_note(TEXT + "\n" + ENOCH_SIG, [ENOCH_VKEY, PETER_VKEY, ENOCH_VKEY])) == [
        "EnochRoot"
    ]
    with pytest.raises(InputError):
        verify_note(TEXT + "\n" + PETER_SIG * 101, [PETER_VKEY])
    # an invalid signature by a known key refuses the whole note
    widened = PETER_SIG[:60] + "ABCD" + PETER_SIG[60:]
    with pytest.raises(VerificationFailed, match=r"PeterNeumann\+c74f20a3"):
        verify_note(TEXT + "\n" + widened, [PETER_VKEY])
    # repeated signatures, and unverifiable ones by unknown keys
    enoch_abcd = ENOCH_SIG[:60] + "ABCD" + ENOCH_SIG[60:]
    many = TEXT + "\n" + PETER_SIG + PETER_SIG + ENOCH_SIG + ENOCH_SIG + enoch_abcd
    assert names(verify_note(many, [PETER_VKEY])) == ["PeterNeumann"]


def test_a_bad_signature_by_a_known_key_refuses_the_note_even_beside_a_good_one() -> None:
    bad_enoch = ENOCH_SIG[:60] + "ABCD" + ENOCH_SIG[60:]  # key ID kept, signature too long
    with pytest.raises(VerificationFailed, match="EnochRoot"):
        verify_note(TEXT + "\n" + PETER_SIG + bad_enoch, [PETER_VKEY, ENOCH_VKEY])


def test_tampered_text_is_refused() -> None:
    tampered = GO_NOTE.replace("cryptography", "cryptographY")
    with pytest.raises(VerificationFailed, match="invalid signature"):
        verify_note(tampered, [PETER_VKEY])


def test_truncated_signature_is_refused() -> None:
    raw = base64.b64decode(PETER_B64)
    for cut in (1, 3, 32, 60):
        short = base64.b64encode(raw[: len(raw) - cut]).decode()
        with pytest.raises(VerificationFailed, match="64"):
            verify_note(f"{TEXT}\n— PeterNeumann {short}\n", [PETER_VKEY])
    with pytest.raises(InputError):
        verify_note(f"{TEXT}\n— PeterNeumann {base64.b64encode(raw[:4]).decode()}\n", [PETER_VKEY])


def test_signatures_by_other_keys_are_ignored_and_do_not_count() -> None:
    other = Ed25519PrivateKey.generate()
    # same name, another key: another key ID, so the signature is not Peter's
    impostor = format_note(SignedNote(TEXT, (sign_note(TEXT, "PeterNeumann", other),)))
    with pytest.raises(VerificationFailed, match="no signature by a known key"):
        verify_note(impostor, [PETER_VKEY])
    # Peter's name and key ID on a signature made with another key
    peter_id = parse_verifier_key(PETER_VKEY)[1]
    forged = NoteSignature("PeterNeumann", peter_id, other.sign(TEXT.encode()))
    with pytest.raises(VerificationFailed, match="invalid signature"):
        verify_note(format_note(SignedNote(TEXT, (forged,))), [PETER_VKEY])
    # Peter's key ID under another name is an unknown key
    renamed = NoteSignature("PeterNeuman", peter_id, base64.b64decode(PETER_B64)[4:])
    assert names(verify_note(format_note(SignedNote(TEXT, (renamed,))) + PETER_SIG, [PETER_VKEY]))
    with pytest.raises(VerificationFailed):
        verify_note(format_note(SignedNote(TEXT, (renamed,))), [PETER_VKEY])


def test_ambiguous_verifier_keys_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    key_id = parse_verifier_key(PETER_VKEY)[1]
    other = verifier_key_for("PeterNeumann", Ed25519PrivateKey.generate())

    def same_id(text: str) -> tuple[str, bytes, bytes]:
        got = parse_verifier_key(text)
        return got[0], key_id, got[2]

    monkeypatch.setattr(notes, "parse_verifier_key", same_id)
    with pytest.raises(VerificationFailed, match="ambiguous key"):
        verify_note(GO_NOTE, [PETER_VKEY, other])


def test_malformed_verifier_keys_are_input_errors() -> None:
    with pytest.raises(InputError):
        verify_note(GO_NOTE, ["PeterNeumann+c74f20a3"])
    with pytest.raises(InputError):
        verify_note(GO_NOTE, [PETER_VKEY.replace("c74f20a3", "c74f20a4")])


def test_signer_key_manglings_are_refused() -> None:
    raw = PETER_SKEY.encode()
    for i in range(len(raw) + 1):
        for j in range(i + 1, len(raw) + 1):
            if (i, j) != (0, len(raw)):
                with pytest.raises(InputError):
                    parse_signer_key(raw[i:j].decode())
    for i in range(len(raw)):
        with pytest.raises(InputError):
            parse_signer_key((raw[:i] + bytes([raw[i] + 1]) + raw[i + 1 :]).decode())


def test_sign_note_needs_a_final_newline() -> None:
    with pytest.raises(InputError):
        sign_note("abc", "name", Ed25519PrivateKey.generate())


# --- checkpoints ---------------------------------------------------------------------------------


def _checkpoint(size: int = 3) -> Checkpoint:
    tree = MemoryTree()
    for i in range(size):
        tree.append_leaf(f"leaf {i}".encode())
    return Checkpoint("consentry.example/ledger", size, tree.root())


def test_checkpoint_round_trip() -> None:
    key = Ed25519PrivateKey.generate()
    cp = _checkpoint()
    signed = sign_checkpoint(cp, "consentry.example/ledger", key)
    assert signed.startswith(cp.body() + "\n— consentry.example/ledger ")
    vkey = verifier_key_for("consentry.example/ledger", key)
    assert verify_checkpoint_note(signed, [vkey]) == cp
    assert verify_checkpoint_note(signed, [vkey], origin="consentry.example/ledger") == cp
    with pytest.raises(VerificationFailed, match="not 'elsewhere'"):
        verify_checkpoint_note(signed, [vkey], origin="elsewhere")
    empty = Checkpoint("consentry.example/ledger", 0, EMPTY_ROOT, ("ext",))
    assert verify_checkpoint_note(sign_checkpoint(empty, "k", key), [verifier_key_for("k", key)])


def test_checkpoint_notes_are_refused_when_tampered_or_signed_by_others() -> None:
    key = Ed25519PrivateKey.generate()
    vkey = verifier_key_for("log", key)
    signed = sign_checkpoint(_checkpoint(3), "log", key)
    bigger = signed.replace("\n3\n", "\n4\n", 1)
    with pytest.raises(VerificationFailed, match="invalid signature"):
        verify_checkpoint_note(bigger, [vkey])
    with pytest.raises(VerificationFailed, match="no signature by a known key"):
        verify_checkpoint_note(signed, [verifier_key_for("log", Ed25519PrivateKey.generate())])
    with pytest.raises(VerificationFailed, match="no signature by a known key"):
        verify_checkpoint_note(signed, [PETER_VKEY])
    note = parse_note(signed)
    cut = NoteSignature(note.signatures[0].name, note.signatures[0].key_id, b"x" * 63)
    with pytest.raises(VerificationFailed):
        verify_checkpoint_note(format_note(SignedNote(note.text, (cut,))), [vkey])


def test_cosigned_checkpoint_needs_only_one_known_key() -> None:
    log_key, witness = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    cp = _checkpoint(5)
    note = parse_note(sign_checkpoint(cp, "log", log_key))
    cosigned = SignedNote(note.text, (*note.signatures, sign_note(note.text, "witness", witness)))
    text = format_note(cosigned)
    assert verify_checkpoint_note(text, [verifier_key_for("witness", witness)]) == cp
    assert names(verify_note(text, [verifier_key_for("log", log_key)])) == ["log"]


def test_a_signed_note_that_is_not_a_checkpoint_is_an_input_error() -> None:
    with pytest.raises(InputError, match="checkpoint"):
        verify_checkpoint_note(GO_NOTE, [PETER_VKEY])
