"""The age layer on its own: key texts, identity and passphrase files, and the passphrase header
that replaces pyrage's (whose random "grease" stanzas may come before or after the real one)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from tests.backup.support import pyrage_module

from consentry.backup.age_keys import (
    Opening,
    Sealing,
    bech32_decode,
    new_identity,
    parse_recipient,
    read_identity_file,
    read_passphrase_file,
    recipient_of,
)
from consentry.backup.age_pipe import AgeReader, AgeWriter
from consentry.domain.errors import InputError

pyrage = pyrage_module()

SPEC_RECIPIENT = "age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj"


def test_keys_match_pyrages() -> None:
    assert bech32_decode(SPEC_RECIPIENT) is not None
    assert len(parse_recipient(SPEC_RECIPIENT)) == 32
    identity = pyrage.x25519.Identity.generate()
    assert recipient_of(str(identity)) == str(identity.to_public())
    secret, recipient = new_identity()
    assert str(pyrage.x25519.Identity.from_str(secret).to_public()) == recipient


def test_bad_keys_and_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"--recipient 'age1nope' is not an age X25519"):
        Sealing(recipients=("age1nope",))
    with pytest.raises(InputError, match="not both"):
        Sealing(recipients=(SPEC_RECIPIENT,), passphrase="x")
    with pytest.raises(InputError, match="one of them"):
        Opening()
    ids = tmp_path / "ids.txt"
    ids.write_text("# only a comment\n")
    with pytest.raises(InputError, match=f"identity file {ids} holds no identity"):
        read_identity_file(ids)
    ids.write_text("AGE-SECRET-KEY-1NOTAKEY\n")
    with pytest.raises(InputError, match="not an age identity"):
        read_identity_file(ids)
    with pytest.raises(InputError, match="does not exist"):
        read_identity_file(tmp_path / "missing")
    empty = tmp_path / "pass"
    empty.write_text("\n")
    with pytest.raises(InputError, match="is empty"):
        read_passphrase_file(empty)
    empty.write_text("s3cret\nignored\n")
    assert read_passphrase_file(empty) == "s3cret"


def test_a_readable_identity_file_is_warned_about(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = tmp_path / "ids.txt"
    ids.write_text(new_identity()[0] + "\n")
    ids.chmod(0o644)
    read_identity_file(ids)
    assert "readable by others" in capsys.readouterr().err


def test_passphrase_files_open_with_pyrage_whatever_the_grease(tmp_path: Path) -> None:
    data = os.urandom(70_000) + b"\n"  # more than one age chunk
    for n in range(8):
        path = tmp_path / f"{n}.age"
        writer = AgeWriter(path, Sealing(passphrase=f"pass {n}", work_factor=10))
        writer.write(data)
        writer.close()
        assert pyrage.passphrase.decrypt(path.read_bytes(), f"pass {n}") == data
        reader = AgeReader(path, Opening(passphrase=f"pass {n}"))
        assert reader.stream.read() == data and reader.failure() is None


def test_a_writer_that_is_aborted_leaves_no_file(tmp_path: Path) -> None:
    path = tmp_path / "gone.age"
    writer = AgeWriter(path, Sealing(recipients=(new_identity()[1],)))
    writer.write(b"x" * 200_000)
    writer.abort()
    assert not path.exists()
