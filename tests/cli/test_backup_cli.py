"""``consentry backup create | verify | restore`` through the real command line, in process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import tests.backup.cli_entry  # noqa: F401  (the backup commands, registered if main lacks them)
from consentry.backup.age_keys import new_identity
from tests.backup.support import require_pyrage
from tests.cli.conftest import Runner, grant


@pytest.fixture(autouse=True)
def _needs_pyrage() -> None:
    require_pyrage()


@pytest.fixture
def identity(tmp_path: Path) -> tuple[Path, str]:
    secret, recipient = new_identity()
    path = tmp_path / "backup-identity.txt"
    path.write_text(f"# made by the test\n{secret}\n")
    path.chmod(0o600)
    return path, recipient


@pytest.fixture
def people(run: Runner, ready: str) -> str:
    for email in ("a@example.org", "b@bücher.example", "c@example.org"):
        assert grant(run, ready, email, "--confirmed").code == 0
    assert run("consent", "withdraw", "c@example.org", "--channel", "web").code == 0
    return ready


def test_create_verify_restore(
    run: Runner, people: str, identity: tuple[Path, str], tmp_path: Path
) -> None:
    ident, recipient = identity
    file = tmp_path / "b.age"
    made = run("backup", "create", "--to", str(file), "--recipient", recipient)
    assert made.code == 0, made.err
    assert "backup written" in made.out and file.stat().st_mode & 0o777 == 0o600
    verified = run("backup", "verify", str(file), "--identity", str(ident), "--json")
    assert verified.code == 0, verified.err
    report = verified.json()
    assert report["ok"] and report["authenticated"] and report["leaves"] > 5
    target = f"sqlite:///{tmp_path / 'restored.sqlite'}"
    restored = run("backup", "restore", str(file), "--database", target, "--identity", str(ident))
    assert restored.code == 0, restored.err
    assert "the ledger verifies" in restored.out and "3 addresses match" in restored.out
    again = run("backup", "restore", str(file), "--database", target, "--identity", str(ident))
    assert again.code == 3 and "is not empty" in again.err
    checked = run("--database", target, "ledger", "verify", "--json")
    assert checked.code == 0 and checked.json()["tree_size"] == report["leaves"]


def test_usage_errors_are_named(
    run: Runner, people: str, identity: tuple[Path, str], tmp_path: Path, home: Path
) -> None:
    _ident, recipient = identity
    (home / "keys" / "backup-recipients.txt").unlink()  # no default recipient left
    missing = run("backup", "create", "--to", str(tmp_path / "x.age"))
    assert missing.code == 3 and "give --recipient" in missing.err
    bad = run("backup", "create", "--to", str(tmp_path / "x.age"), "--recipient", "age1bad")
    assert bad.code == 3 and "'age1bad' is not an age X25519 recipient" in bad.err
    file = tmp_path / "b.age"
    assert run("backup", "create", "--to", str(file), "--recipient", recipient).code == 0
    twice = run("backup", "create", "--to", str(file), "--recipient", recipient)
    assert twice.code == 3 and "exists already" in twice.err
    other = tmp_path / "other.txt"
    other.write_text(new_identity()[0] + "\n")
    other.chmod(0o600)
    wrong = run("backup", "verify", str(file), "--identity", str(other))
    assert wrong.code == 3 and "none of the identities given opens this backup" in wrong.err
    neither = run("backup", "verify", str(file))
    assert neither.code == 3 and "--identity FILE or --passphrase-file FILE" in neither.err


def test_a_tampered_file_exits_40(
    run: Runner, people: str, identity: tuple[Path, str], tmp_path: Path
) -> None:
    ident, recipient = identity
    file = tmp_path / "b.age"
    assert run("backup", "create", "--to", str(file), "--recipient", recipient).code == 0
    data = bytearray(file.read_bytes())
    data[-40] ^= 0x80
    file.write_bytes(bytes(data))
    bad = run("backup", "verify", str(file), "--identity", str(ident))
    assert bad.code == 40 and "damaged or cut short" in bad.err


def test_a_passphrase_backup(run: Runner, people: str, tmp_path: Path) -> None:
    secret = tmp_path / "pass.txt"
    secret.write_text("a long and memorable passphrase\n")
    secret.chmod(0o600)
    file = tmp_path / "p.age"
    made = run("backup", "create", "--to", str(file), "--passphrase-file", str(secret),
               "--scrypt-work-factor", "10")  # fmt: skip
    assert made.code == 0, made.err
    ok = run("backup", "verify", str(file), "--passphrase-file", str(secret), "--json")
    assert ok.code == 0 and ok.json()["ok"]


def test_restoring_an_older_backup_is_a_rollback(
    run: Runner, people: str, identity: tuple[Path, str], tmp_path: Path, home: Path
) -> None:
    ident, recipient = identity
    old, new = tmp_path / "old.age", tmp_path / "new.age"
    assert run("backup", "create", "--to", str(old), "--recipient", recipient).code == 0
    assert grant(run, people, "d@example.org").code == 0
    assert run("backup", "create", "--to", str(new), "--recipient", recipient).code == 0
    assert (home / "checkpoints" / "latest.note").exists()
    target = f"sqlite:///{tmp_path / 'r.sqlite'}"
    refused = run("backup", "restore", str(old), "--database", target, "--identity", str(ident))
    assert refused.code == 40 and "rollback" in refused.err
    allowed = run("backup", "restore", str(old), "--database", target, "--identity", str(ident),
                  "--allow-rollback", "--json")  # fmt: skip
    assert allowed.code == 0, allowed.err
    assert allowed.json()["backup"]["rollback"]["rolled_back"] is True


def test_scheduled_backups_keep_the_newest(
    run: Runner, people: str, identity: tuple[Path, str], tmp_path: Path
) -> None:
    ident, recipient = identity
    directory = tmp_path / "scheduled"
    directory.mkdir()
    for old in ("consentry-20200101T000000.000000Z.age", "consentry-20210101T000000.000000Z.age"):
        (directory / old).write_bytes(b"an old backup")
    done = run("backup", "create", "--to", str(directory), "--recipient", recipient,
               "--every", "1h", "--keep", "2", "--runs", "1")  # fmt: skip
    assert done.code == 0, done.err
    names = sorted(p.name for p in directory.iterdir())
    assert names[0] == "consentry-20210101T000000.000000Z.age" and len(names) == 2
    assert "removed consentry-20200101T000000.000000Z.age" in done.out
    verified = run("backup", "verify", str(directory / names[1]), "--identity", str(ident))
    assert verified.code == 0, verified.err
    assert json.loads(run("backup", "verify", str(directory / names[1]), "--identity",
                          str(ident), "--json").out)["ok"]  # fmt: skip


def test_keygen_makes_a_private_identity_and_prints_its_recipient(
    run: Runner, tmp_path: Path
) -> None:
    path = tmp_path / "id.txt"
    made = run("backup", "keygen", "--to", str(path))
    assert made.code == 0 and made.out.strip().startswith("age1")
    assert path.stat().st_mode & 0o777 == 0o600 and "AGE-SECRET-KEY-1" in path.read_text()
    again = run("backup", "keygen", "--to", str(path))
    assert again.code == 3 and "never overwrites" in again.err


def test_init_makes_the_backup_keys_and_create_uses_them(
    run: Runner, people: str, home: Path, tmp_path: Path
) -> None:
    """'consentry init' writes an age identity (0600, to be moved off the server) and its
    recipient; 'backup create' with no recipient encrypts to that one."""
    keys = home / "keys"
    assert (keys / "backup-identity.txt").stat().st_mode & 0o777 == 0o600
    recipients = (keys / "backup-recipients.txt").read_text().split()
    assert any(r.startswith("age1") for r in recipients)
    file = tmp_path / "default.age"
    made = run("backup", "create", "--to", str(file))
    assert made.code == 0, made.err
    ident = keys / "backup-identity.txt"
    assert run("backup", "verify", str(file), "--identity", str(ident)).code == 0
