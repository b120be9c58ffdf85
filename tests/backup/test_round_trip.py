"""Backup and restore on both backends and across them: the restored store's state, root and
checkpoints equal the source's, and its ledger verifies."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

import pytest
from tests.backup.conftest import Source, make_source, open_url, target_url
from tests.backup.support import Keys, backup, state_of

from consentry.backup.age_keys import Opening, Sealing
from consentry.backup.read import verify_backup
from consentry.backup.restore import restore_backup

PAIRS = [
    ("sqlite", "sqlite"),
    pytest.param("postgres", "postgres", marks=pytest.mark.postgres),
    pytest.param("sqlite", "postgres", marks=pytest.mark.postgres),
    pytest.param("postgres", "sqlite", marks=pytest.mark.postgres),
]


@pytest.mark.parametrize(("source_kind", "target_kind"), PAIRS)
def test_restore_reproduces_the_state_roots_and_checkpoints(
    source_kind: str, target_kind: str, tmp_path: Path, keys: Keys,
    pg_urls: Callable[[], str],
) -> None:  # fmt: skip
    source = make_source(source_kind, tmp_path, keys, pg_urls)
    try:
        before = state_of(source.store, keys.home)
        made = backup(source.url, tmp_path / "b.age", keys)
    finally:
        source.store.close()
    assert made.survey.size == before["size"] and made.survey.root == before["root"]
    verified = verify_backup(made.file, keys.opening, keys.trust(), keys.facts.auth_key)
    assert verified.authenticated and verified.size == before["size"]
    assert verified.checkpoints == len(before["checkpoints"])

    url = target_url(target_kind, tmp_path, pg_urls)
    result = restore_backup(
        made.file, keys.opening, url, keys.trust(), partial(open_url, url), keys.ring(),
        subject_key=keys.ring().subject_key(), auth_key=keys.facts.auth_key,
    )  # fmt: skip
    assert result.problems == []
    assert result.ledger is not None and result.ledger.ok
    assert result.addresses_checked == len(before["people"]) - 1  # one was erased
    restored = open_url(url)
    try:
        after = state_of(restored, keys.home)
    finally:
        restored.close()
    for key in before:
        assert after[key] == before[key], key
    assert after["halted"] == "backup drill" and after["tokens"][0].name == "ci"
    assert after["messages"] and after["approvals"]


def test_a_passphrase_backup_round_trips(
    sqlite_source: Source, tmp_path: Path, keys: Keys, pg_urls: Callable[[], str]
) -> None:
    source = sqlite_source
    before = state_of(source.store, keys.home)
    sealing = Sealing(passphrase="correct horse battery staple", work_factor=12)
    made = backup(source.url, tmp_path / "p.age", keys, sealing)
    assert made.file.read_bytes().startswith(b"age-encryption.org/v1\n-> scrypt ")
    opening = Opening(passphrase="correct horse battery staple")
    url = target_url("sqlite", tmp_path, pg_urls, "p")
    result = restore_backup(
        made.file, opening, url, keys.trust(), partial(open_url, url), keys.ring()
    )
    assert result.problems == []
    restored = open_url(url)
    try:
        assert state_of(restored, keys.home) == before
    finally:
        restored.close()


def test_an_empty_ledger_backs_up_and_restores(tmp_path: Path, keys: Keys) -> None:
    from consentry.keys.ring import FileKeyRing

    FileKeyRing.create(keys.home, "consentry.local/empty")
    url = f"sqlite:///{tmp_path / 'empty.sqlite'}"
    open_url(url).close()
    made = backup(url, tmp_path / "e.age", keys)
    assert made.survey.size == 0
    target = f"sqlite:///{tmp_path / 'e2.sqlite'}"
    result = restore_backup(
        made.file, keys.opening, target, keys.trust(), partial(open_url, target), keys.ring()
    )
    assert result.problems == [] and result.backup.size == 0


def test_a_restore_whose_subject_cache_overflows_still_maps_every_leaf(
    sqlite_source: Source, tmp_path: Path, keys: Keys, pg_urls: Callable[[], str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """The restore's subject-id cache is cleared when full; a batch must still find its ids."""
    from consentry.backup import read, restore

    monkeypatch.setattr(restore, "ID_CACHE", 3)
    monkeypatch.setattr(read, "BATCH", 7)
    before = state_of(sqlite_source.store, keys.home)
    made = backup(sqlite_source.url, tmp_path / "b.age", keys)
    url = target_url("sqlite", tmp_path, pg_urls, "small")
    result = restore_backup(
        made.file, keys.opening, url, keys.trust(), partial(open_url, url), keys.ring()
    )
    assert result.problems == []
    restored = open_url(url)
    try:
        assert state_of(restored, keys.home) == before
    finally:
        restored.close()
