"""Who can open a backup and whose checkpoints it must carry; what a restore refuses: a store
that is not empty, a rollback past the exported checkpoint, another history."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

import pytest
from tests.backup.conftest import Source, open_url, target_url
from tests.backup.support import Keys, backup, more_leaves

from consentry.backup.age_keys import Opening, Sealing, new_identity
from consentry.backup.read import verify_backup
from consentry.backup.restore import restore_backup
from consentry.backup.trust import EXPORTED, Trust, export_checkpoint
from consentry.cli.backup_cmds import TrustedKeys, make_trust, verify_note
from consentry.domain.errors import InputError, VerificationFailed
from consentry.keys.ring import FileKeyRing
from consentry.services.ledger import issue_checkpoint


def test_the_wrong_identity_is_refused(sqlite_source: Source, tmp_path: Path, keys: Keys) -> None:
    made = backup(sqlite_source.url, tmp_path / "b.age", keys)
    other = Opening(identities=(new_identity()[0],))
    with pytest.raises(InputError, match="none of the identities given opens this backup"):
        verify_backup(made.file, other, keys.trust())
    with pytest.raises(InputError, match="not passphrase-encrypted; use --identity"):
        verify_backup(made.file, Opening(passphrase="guess"), keys.trust())


def test_the_wrong_passphrase_is_refused(sqlite_source: Source, tmp_path: Path, keys: Keys) -> None:
    sealing = Sealing(passphrase="right one", work_factor=10)
    made = backup(sqlite_source.url, tmp_path / "p.age", keys, sealing)
    with pytest.raises(InputError, match="wrong passphrase"):
        verify_backup(made.file, Opening(passphrase="wrong one"), keys.trust())
    with pytest.raises(InputError, match="use --passphrase-file"):
        verify_backup(made.file, keys.opening, keys.trust())
    assert verify_backup(made.file, Opening(passphrase="right one"), keys.trust()).size > 0


def test_not_an_age_file_is_refused(tmp_path: Path, keys: Keys) -> None:
    junk = tmp_path / "junk.age"
    junk.write_bytes(b"PK\x03\x04 not a backup")
    with pytest.raises(InputError, match="not an age file"):
        verify_backup(junk, keys.opening, Trust(verify_note))
    with pytest.raises(InputError, match="does not exist"):
        verify_backup(tmp_path / "missing.age", keys.opening, Trust(verify_note))


def test_checkpoints_signed_by_another_key_ring_are_refused(
    sqlite_source: Source, tmp_path: Path, keys: Keys
) -> None:
    made = backup(sqlite_source.url, tmp_path / "b.age", keys)
    elsewhere = tmp_path / "elsewhere"
    FileKeyRing.create(elsewhere, "consentry.local/other")
    trust, _ring, facts = make_trust(elsewhere)
    with pytest.raises(VerificationFailed, match=r"signed with the verifier key .* but the key"):
        verify_backup(made.file, keys.opening, trust, facts.auth_key if facts else None)
    # the published key of the ledger, given explicitly, is trusted instead
    trust, _ring, _facts = make_trust(elsewhere, verifier_keys=[keys.ring().verifier_key()])
    report = verify_backup(made.file, keys.opening, trust)
    assert report.size == sqlite_source.store.size() and not report.authenticated


def test_without_a_key_ring_it_verifies_with_the_manifests_key_and_warns(
    sqlite_source: Source, tmp_path: Path, keys: Keys, pg_urls: Callable[[], str]
) -> None:
    made = backup(sqlite_source.url, tmp_path / "b.age", keys)
    trust, ring, _facts = make_trust(tmp_path / "no-home")
    assert ring is None
    report = verify_backup(made.file, keys.opening, trust)
    assert any("no key ring here" in w for w in report.warnings)
    assert any("not authenticated" in w for w in report.warnings)
    url = target_url("sqlite", tmp_path, pg_urls)
    result = restore_backup(
        made.file, keys.opening, url, trust, partial(open_url, url), TrustedKeys(trust)
    )  # type: ignore[arg-type]
    assert result.problems == [] and result.ledger is not None and result.ledger.ok


def test_a_restore_into_a_store_that_is_not_empty_is_refused(
    sqlite_source: Source, tmp_path: Path, keys: Keys
) -> None:
    made = backup(sqlite_source.url, tmp_path / "b.age", keys)
    size = sqlite_source.store.size()
    with pytest.raises(InputError, match=r"is not empty \(subjects: \d+ rows, ledger_leaves"):
        restore_backup(
            made.file, keys.opening, sqlite_source.url, keys.trust(),
            partial(open_url, sqlite_source.url), keys.ring(),
        )  # fmt: skip
    assert sqlite_source.store.size() == size


def test_restoring_a_backup_older_than_the_exported_checkpoint_is_a_rollback(
    sqlite_source: Source, tmp_path: Path, keys: Keys, pg_urls: Callable[[], str]
) -> None:
    old = backup(sqlite_source.url, tmp_path / "old.age", keys)
    more_leaves(sqlite_source.ctx, 5)
    note = issue_checkpoint(sqlite_source.ctx)
    assert export_checkpoint(keys.home, note)
    url = target_url("sqlite", tmp_path, pg_urls, "rolled")
    with pytest.raises(VerificationFailed, match=r"rollback: the backup holds \d+ leaves but"):
        restore_backup(old.file, keys.opening, url, keys.trust(), partial(open_url, url),
                       keys.ring())  # fmt: skip
    target = open_url(url)
    assert target.size() == 0  # refused before anything was written
    target.close()
    # verify only warns: the file itself is intact
    report = verify_backup(old.file, keys.opening, keys.trust())
    assert report.rollback and report.rollback["rolled_back"]
    assert any("rollback" in w for w in report.warnings)
    result = restore_backup(
        old.file, keys.opening, url, keys.trust(allow_rollback=True), partial(open_url, url),
        keys.ring(),
    )  # fmt: skip
    assert result.problems == [] and result.backup.rollback["rolled_back"]  # type: ignore[index]


def test_an_explicit_checkpoint_file_is_held_against_too(
    sqlite_source: Source, tmp_path: Path, keys: Keys, pg_urls: Callable[[], str]
) -> None:
    old = backup(sqlite_source.url, tmp_path / "old.age", keys)
    more_leaves(sqlite_source.ctx, 3)
    witness = tmp_path / "witness.note"
    witness.write_text(issue_checkpoint(sqlite_source.ctx))
    assert not (keys.home / EXPORTED).exists()
    url = target_url("sqlite", tmp_path, pg_urls, "w")
    with pytest.raises(VerificationFailed, match="rollback"):
        restore_backup(old.file, keys.opening, url, keys.trust(checkpoint=witness),
                       partial(open_url, url), keys.ring())  # fmt: skip
    newer = backup(sqlite_source.url, tmp_path / "new.age", keys)
    report = verify_backup(newer.file, keys.opening, keys.trust(checkpoint=witness))
    assert report.rollback == {
        "exported_checkpoint": str(witness), "exported_size": report.size,
        "backup_size": report.size, "rolled_back": False,
    }  # fmt: skip


def test_a_backup_of_another_history_is_refused_against_the_exported_checkpoint(
    sqlite_source: Source, tmp_path: Path, keys: Keys
) -> None:
    """A checkpoint signed with the same key at a size the backup covers, with another root
    (a forked ledger): the backup's first leaves do not hash to it."""
    made = backup(sqlite_source.url, tmp_path / "b.age", keys)
    witness = tmp_path / "fork.note"
    witness.write_text(keys.ring().sign_checkpoint(5, bytes(range(32))))
    with pytest.raises(VerificationFailed, match="another history"):
        verify_backup(made.file, keys.opening, keys.trust(checkpoint=witness))
    with pytest.raises(VerificationFailed, match="another history"):
        verify_backup(made.file, keys.opening, keys.trust(checkpoint=witness, allow_rollback=True))


def test_a_witness_file_or_directory_of_checkpoints_is_held_against(
    sqlite_source: Source, tmp_path: Path, keys: Keys
) -> None:
    """``--checkpoint`` may name a witness's file of notes, or its directory: the newest note
    that verifies counts, and notes of other logs are passed over."""
    old = backup(sqlite_source.url, tmp_path / "old.age", keys)
    first = issue_checkpoint(sqlite_source.ctx)
    more_leaves(sqlite_source.ctx, 2)
    newest = issue_checkpoint(sqlite_source.ctx)
    stranger = FileKeyRing.create(tmp_path / "stranger", "other.example/log")
    foreign = stranger.sign_checkpoint(10_000, bytes(32))
    witness = tmp_path / "witness.log"
    witness.write_text("\n".join([first, foreign, newest]))
    report = verify_backup(old.file, keys.opening, keys.trust(checkpoint=witness))
    assert report.rollback is not None and report.rollback["exported_size"] == (
        sqlite_source.store.size()
    )
    folder = tmp_path / "witness.d"
    folder.mkdir()
    (folder / "a.note").write_text(first)
    (folder / "b.note").write_text(newest)
    report = verify_backup(old.file, keys.opening, keys.trust(checkpoint=folder))
    assert report.rollback is not None and report.rollback["rolled_back"]
    only_foreign = tmp_path / "foreign.note"
    only_foreign.write_text(foreign)
    with pytest.raises(VerificationFailed, match=r"no checkpoint in .* verifies"):
        verify_backup(old.file, keys.opening, keys.trust(checkpoint=only_foreign))
