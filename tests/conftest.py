"""Fixtures shared by the suites: stores of every backend, a fixed clock, keys."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"


def postgres_base_url() -> str:
    return os.environ.get("CONSENTRY_TEST_POSTGRES_URL", DEFAULT_PG)


_pg_state: dict[str, str | None] = {}


def require_postgres() -> str:
    """The PostgreSQL URL, or a skip with the reason; in CI (CI set) a missing server fails."""
    url = postgres_base_url()
    if "error" not in _pg_state:
        import psycopg

        try:
            psycopg.connect(url, connect_timeout=3).close()
            _pg_state["error"] = None
        except Exception as exc:
            _pg_state["error"] = str(exc).strip().splitlines()[0]
    error = _pg_state["error"]
    if error is not None:
        message = f"PostgreSQL not reachable at {url} ({error}); set CONSENTRY_TEST_POSTGRES_URL"
        if os.environ.get("CI"):
            pytest.fail(f"{message}. CI must run the PostgreSQL tests.")
        pytest.skip(message)
    return url


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL store URL in a fresh schema, dropped afterwards."""
    import psycopg

    base = require_postgres()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    yield f"{base}?schema={schema}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


class FixedClock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime | None = None) -> None:
        self.at = start or datetime(2026, 3, 1, 9, 0, tzinfo=UTC)

    #: Added after each reading, for tests where time must pass on its own.
    step: timedelta | None = None

    def now(self) -> datetime:
        at = self.at
        if self.step is not None:
            self.at += self.step
        return at

    def advance(self, **kwargs: float) -> datetime:
        self.at += timedelta(**kwargs)
        return self.at


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


def make_store(kind: str, tmp_path: Path, request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    if kind == "memory":
        from consentry.store.memory import MemoryStore

        return MemoryStore()
    if kind == "sqlite":
        from consentry.store.sqlite import SQLiteStore

        return SQLiteStore(tmp_path / "store.sqlite")
    from consentry.store.postgres import PostgresStore

    return PostgresStore(request.getfixturevalue("pg_url"))


STORE_KINDS = ["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=STORE_KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[object]:
    s = make_store(request.param, tmp_path, request)
    yield s
    s.close()
