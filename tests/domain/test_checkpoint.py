"""Checkpoint bodies (c2sp.org/tlog-checkpoint) and signed-note text (c2sp.org/signed-note)."""

from __future__ import annotations

import base64
import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consentry.domain.checkpoint import (
    Checkpoint,
    NoteSignature,
    SignedNote,
    ed25519_key_id,
    format_note,
    parse_checkpoint,
    parse_note,
    parse_verifier_key,
    verifier_key,
)
from consentry.domain.errors import InputError

# The example key and note of golang.org/x/mod/sumdb/note's tests (note_test.go).
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
PETER_B64 = (
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="
)
PETER_SIG = f"— PeterNeumann {PETER_B64}\n"
ENOCH_SIG = (
    "— EnochRoot "
    "rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n"
)

ROOT = bytes(range(32))


def test_checkpoint_body_layout() -> None:
    cp = Checkpoint("example.com/behind-the-sofa", 20852163, ROOT)
    assert cp.body() == (
        "example.com/behind-the-sofa\n20852163\n" + base64.b64encode(ROOT).decode() + "\n"
    )
    with_ext = Checkpoint("o", 0, ROOT, ("ext one", "ext two"))
    assert with_ext.body().endswith("\next one\next two\n")
    assert parse_checkpoint(with_ext.body()) == with_ext


def test_parse_c2sp_example_checkpoint() -> None:
    body = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    cp = parse_checkpoint(body)
    assert (cp.origin, cp.size, cp.extensions) == ("example.com/behind-the-sofa", 20852163, ())
    assert cp.root == base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")
    assert cp.body() == body


origins = st.text(st.characters(codec="utf-8", min_codepoint=0x20), min_size=1, max_size=30)


@given(
    origins,
    st.integers(0, 2**64 - 1),
    st.binary(min_size=32, max_size=32),
    st.lists(origins, max_size=3).map(tuple),
)
def test_checkpoint_round_trip(origin: str, size: int, root: bytes, ext: tuple[str, ...]) -> None:
    cp = Checkpoint(origin, size, root, ext)
    assert parse_checkpoint(cp.body()) == cp


R64 = base64.b64encode(ROOT).decode()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (f"log\n1\n{R64}", "must end with a newline"),
        ("log\n1\n", "has 2 line(s)"),
        (f"\n1\n{R64}\n", "line 1 (origin) is empty"),
        (f"log\n01\n{R64}\n", "line 2 (tree size) '01' is not a decimal"),
        (f"log\n-1\n{R64}\n", "line 2 (tree size) '-1' is not a decimal"),
        (f"log\n+1\n{R64}\n", "not a decimal"),
        (f"log\n 1\n{R64}\n", "not a decimal"),
        ("log\n\u0663\n" + R64 + "\n", "not a decimal"),  # an Arabic-Indic three
        (f"log\n\n{R64}\n", "line 2 (tree size) '' is not a decimal"),
        (f"log\n18446744073709551616\n{R64}\n", "larger than 2**64-1"),
        ("log\n1\nnot base64!\n", "line 3 (root hash) is not valid base64"),
        (f"log\n1\n{R64[:-1]}\n", "line 3 (root hash) is not valid base64"),
        ("log\n1\n" + base64.b64encode(b"x" * 31).decode() + "\n", "decodes to 31 bytes"),
        ("log\n1\n" + base64.b64encode(b"x" * 33).decode() + "\n", "decodes to 33 bytes"),
        (f"log\n1\n{R64[:-2]}B=\n", "not canonical base64"),
        (f"log\n1\n{R64}\n\n", "line 4 (extension) is empty"),
        (f"log\n1\n{R64}\next\n\n", "line 5 (extension) is empty"),
        (f"lo\tg\n1\n{R64}\n", "control character"),
    ],
)
def test_parse_checkpoint_errors(body: str, message: str) -> None:
    with pytest.raises(InputError) as err:
        parse_checkpoint(body)
    assert message in str(err.value)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"origin": ""},
        {"origin": "a\nb"},
        {"size": -1},
        {"size": 2**64},
        {"size": True},
        {"root": b"short"},
        {"extensions": ("",)},
        {"extensions": ("a\nb",)},
    ],
)
def test_checkpoint_refuses_what_it_could_not_write(kwargs: dict[str, object]) -> None:
    fields: dict[str, object] = {"origin": "log", "size": 1, "root": ROOT, **kwargs}
    with pytest.raises(InputError):
        Checkpoint(**fields)  # type: ignore[arg-type]


def test_go_note_parses_and_formats_back() -> None:
    note_text = TEXT + "\n" + PETER_SIG + ENOCH_SIG
    note = parse_note(note_text)
    assert note.text == TEXT
    assert [(s.name, s.key_id.hex()) for s in note.signatures] == [
        ("PeterNeumann", "c74f20a3"),
        ("EnochRoot", "af0cfe78"),
    ]
    assert len(note.signatures[0].signature) == 64
    assert format_note(note) == note_text


def test_note_text_may_contain_blank_lines() -> None:
    text = "Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n"
    text += "\ned è subito sera.\n"
    sig = NoteSignature("quasimodo.example/salvatore", b"\x01\x02\x03\x04", b"s" * 64)
    note_text = format_note(SignedNote(text, (sig,)))
    assert parse_note(note_text) == SignedNote(text, (sig,))
    odd = SignedNote("ends in a blank line\n\n", (sig,))
    assert parse_note(format_note(odd)) == odd


@pytest.mark.parametrize(
    ("note_text", "message"),
    [
        (TEXT, "no blank line"),
        (TEXT + "\n", "no signature lines"),
        (TEXT + "\n" + PETER_SIG[:-1], "must end with a newline"),
        ("\x01" + TEXT + "\n" + PETER_SIG, "control character"),
        ("\udcff" + TEXT + "\n" + PETER_SIG, "not valid UTF-8"),  # Go's "\xff" byte
        (TEXT + "\n" + f"— Bad Name {PETER_B64}\n", "signature is not valid base64"),
        (TEXT + "\n" + PETER_SIG + "Unexpected line.\n", "line 2 does not start with an em dash"),
        ("no blank line\n— PeterNeumann " + PETER_B64 + "\n", "no blank line"),
        (TEXT + "\n" + f"- PeterNeumann {PETER_B64}\n", "does not start with an em dash"),
        (TEXT + "\n" + f"—PeterNeumann {PETER_B64}\n", "does not start with an em dash"),
        (TEXT + "\n" + "— PeterNeumann\n", "no space between"),
        (TEXT + "\n" + f"—  {PETER_B64}\n", "key name '' is empty"),
        (TEXT + "\n" + f"— Peter+Neumann {PETER_B64}\n", "key name 'Peter+Neumann'"),
        (TEXT + "\n" + f"— Peter\u00a0Neumann {PETER_B64}\n", "key name"),
        (TEXT + "\n" + "— PeterNeumann AAAAAA==\n", "too short for a key ID"),
        (TEXT + "\n" + f"— PeterNeumann {PETER_B64} \n", "not valid base64"),
        (TEXT + "\n" + PETER_SIG * 101, "at most 100"),
        (TEXT + "\r\n" + PETER_SIG, "control character"),
    ],
)
def test_malformed_notes(note_text: str, message: str) -> None:
    with pytest.raises(InputError) as err:
        parse_note(note_text)
    assert message in str(err.value)


def test_sixteen_signatures_are_accepted() -> None:
    note = parse_note(TEXT + "\n" + PETER_SIG * 16 + ENOCH_SIG * 84)
    assert len(note.signatures) == 100


def test_format_note_refuses_malformed_notes() -> None:
    sig = NoteSignature("n", b"\x00" * 4, b"s")
    with pytest.raises(InputError):
        format_note(SignedNote("no newline", (sig,)))
    with pytest.raises(InputError):
        format_note(SignedNote("text\n", ()))
    for name, key_id, signature in [
        ("", b"1234", b"s"),
        ("a b", b"1234", b"s"),
        ("a+b", b"1234", b"s"),
        ("n", b"123", b"s"),
        ("n", b"1234", b""),
    ]:
        with pytest.raises(InputError):
            NoteSignature(name, key_id, signature)


def test_key_id_is_the_spec_hash() -> None:
    name, key_id, public_key = parse_verifier_key(PETER_VKEY)
    assert name == "PeterNeumann"
    assert key_id.hex() == "c74f20a3"
    assert len(public_key) == 32
    spec = hashlib.sha256(b"PeterNeumann" + b"\x0a" + b"\x01" + public_key).digest()[:4]
    assert ed25519_key_id(name, public_key) == spec == key_id
    assert verifier_key(name, public_key) == PETER_VKEY
    assert parse_verifier_key(ENOCH_VKEY)[1].hex() == "af0cfe78"


def test_verifier_key_manglings_are_refused() -> None:
    """As golang.org/x/mod/sumdb/note does: every proper substring and every one-byte change."""
    raw = PETER_VKEY.encode()
    for i in range(len(raw) + 1):
        for j in range(i + 1, len(raw) + 1):
            if (i, j) != (0, len(raw)):
                with pytest.raises(InputError):
                    parse_verifier_key(raw[i:j].decode())
    for i in range(len(raw)):
        mangled = raw[:i] + bytes([raw[i] + 1]) + raw[i + 1 :]
        with pytest.raises(InputError):
            parse_verifier_key(mangled.decode())
    for bad in [
        # wrong key length, with a key ID computed for it
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
        # unknown algorithm, with a key ID computed for it
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    ]:
        with pytest.raises(InputError):
            parse_verifier_key(bad)


def test_verifier_key_refuses_bad_input() -> None:
    with pytest.raises(InputError):
        verifier_key("has space", b"k" * 32)
    with pytest.raises(InputError):
        verifier_key("name", b"k" * 31)
