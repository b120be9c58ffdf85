"""Fixtures of the backup tests: stores of both backends, populated; keys; fresh targets."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.backup.support import Keys, make_keys, populate, require_pyrage
from tests.conftest import require_postgres

from consentry.ports import Store
from consentry.services.context import Context


@pytest.fixture(autouse=True)
def _needs_pyrage() -> None:
    require_pyrage()


@pytest.fixture
def keys(tmp_path: Path) -> Keys:
    return make_keys(tmp_path / "home")


@pytest.fixture
def pg_urls() -> Iterator[Callable[[], str]]:
    """Makes PostgreSQL store URLs, each in a fresh schema dropped at the end."""
    import psycopg

    schemas: list[str] = []
    base = ""

    def make() -> str:
        nonlocal base
        base = require_postgres()
        schema = f"t_{uuid.uuid4().hex[:12]}"
        schemas.append(schema)
        return f"{base}?schema={schema}"

    yield make
    if schemas:
        with psycopg.connect(base, autocommit=True) as conn:
            for schema in schemas:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def open_url(url: str) -> Store:
    from consentry.bootstrap import open_store

    return open_store(url)


@dataclass
class Source:
    url: str
    store: Store
    ctx: Context


def make_source(kind: str, tmp_path: Path, keys: Keys, pg_urls: Callable[[], str]) -> Source:
    url = f"sqlite:///{tmp_path / 'source.sqlite'}" if kind == "sqlite" else pg_urls()
    store = open_url(url)
    return Source(url, store, populate(store, keys.home))


@pytest.fixture
def sqlite_source(tmp_path: Path, keys: Keys, pg_urls: Callable[[], str]) -> Iterator[Source]:
    source = make_source("sqlite", tmp_path, keys, pg_urls)
    yield source
    source.store.close()


def target_url(kind: str, tmp_path: Path, pg_urls: Callable[[], str], name: str = "t") -> str:
    return f"sqlite:///{tmp_path / (name + '.sqlite')}" if kind == "sqlite" else pg_urls()
