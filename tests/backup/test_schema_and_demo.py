"""The backup format knows every table of the current schema (a migration that adds one fails
here first), refuses to back up a table it does not know, and the demo's backup step works."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.backup.conftest import Source
from tests.backup.support import Keys, backup

from consentry.backup.db import locate, open_database
from consentry.backup.dump import check_schema
from consentry.backup.tables import ROW_TABLES
from consentry.bootstrap import open_store
from consentry.cli.demo_backup import demo_backup
from consentry.domain.errors import StoreError
from consentry.settings import Settings


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_every_table_of_a_fresh_store_is_known(
    kind: str, tmp_path: Path, pg_urls: Callable[[], str]
) -> None:
    url = f"sqlite:///{tmp_path / 's.sqlite'}" if kind == "sqlite" else pg_urls()
    open_store(url).close()
    db = open_database(locate(url))
    try:
        db.begin_read()
        tables = check_schema(db)
    finally:
        db.close()
    assert {t.name for t in tables} == {t.name for t in ROW_TABLES}


def test_a_table_the_format_does_not_know_stops_the_backup(
    sqlite_source: Source, tmp_path: Path, keys: Keys
) -> None:
    path = sqlite_source.url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE consent_receipts (id INTEGER PRIMARY KEY)")
    with pytest.raises(StoreError, match="tables this backup format does not know: consent_rec"):
        backup(sqlite_source.url, tmp_path / "b.age", keys)
    assert not (tmp_path / "b.age").exists()


def test_the_demo_step_backs_up_verifies_and_restores(
    sqlite_source: Source, keys: Keys, tmp_path: Path
) -> None:
    settings = Settings(home=keys.home, database_url=sqlite_source.url)
    lines = demo_backup(settings, tmp_path)
    text = "\n".join(lines)
    assert "restored into sqlite:///" in text and "FAILED" not in text, text
    assert "authenticated" in text
    assert (tmp_path / "backup-identity.txt").stat().st_mode & 0o777 == 0o600


def _drop_tokens(url: str) -> None:
    with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
        conn.execute("DROP TABLE api_tokens")


def test_a_store_without_the_api_tokens_table_backs_up_and_restores(
    sqlite_source: Source, tmp_path: Path, keys: Keys
) -> None:
    from functools import partial

    from tests.backup.conftest import open_url

    from consentry.backup.restore import restore_backup

    sqlite_source.store.close()
    _drop_tokens(sqlite_source.url)
    made = backup(sqlite_source.url, tmp_path / "b.age", keys)
    assert "api_tokens" not in made.digests
    url = f"sqlite:///{tmp_path / 'with-tokens.sqlite'}"
    result = restore_backup(
        made.file, keys.opening, url, keys.trust(), partial(open_url, url), keys.ring()
    )
    assert result.problems == [] and "api_tokens" not in result.backup.sections


def test_tokens_are_not_restored_into_a_store_without_their_table(
    sqlite_source: Source, tmp_path: Path, keys: Keys
) -> None:
    from functools import partial

    from tests.backup.conftest import open_url

    from consentry.backup.restore import restore_backup

    made = backup(sqlite_source.url, tmp_path / "b.age", keys)
    url = f"sqlite:///{tmp_path / 'old-schema.sqlite'}"
    open_url(url).close()
    _drop_tokens(url)
    with pytest.raises(StoreError, match="1 rows of api_tokens, but the target store has no"):
        restore_backup(
            made.file, keys.opening, url, keys.trust(), partial(open_url, url), keys.ring()
        )
    store = open_url(url)
    try:
        assert store.size() == 0
    finally:
        store.close()
