"""What every benchmark shares: samples and their medians, the clock, and the two backends.

A backend opens fresh consentry stores (SQLite: a file in a temporary directory; PostgreSQL: a
schema ``bench_<random>_<purpose>`` that is dropped at the end) and plain connections to the same
database with the same durability settings, for the plain-SQL references.
"""

from __future__ import annotations

import shutil
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, Protocol

from consentry.ports import Store
from consentry.store.postgres import PostgresStore
from consentry.store.sql_base import SQLStore
from consentry.store.sqlite import SQLiteStore

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"


class WallClock:
    """The Clock port on the system clock (``bootstrap.SystemClock``, without the import)."""

    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class Sample:
    """Repeated measurements of one quantity (seconds, or a rate)."""

    unit: str
    values: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.values) if self.values else float("nan")

    @property
    def low(self) -> float:
        return min(self.values) if self.values else float("nan")

    @property
    def high(self) -> float:
        return max(self.values) if self.values else float("nan")

    def to_json(self) -> dict[str, Any]:
        return {
            "unit": self.unit,
            "median": self.median,
            "min": self.low,
            "max": self.high,
            "runs": list(self.values),
        }


def timed(fn: Callable[[], object]) -> float:
    """Seconds that ``fn()`` took."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


class PlainConn(Protocol):
    """A plain DB-API connection for the reference queries (autocommit between calls)."""

    placeholder: str

    def script(self, statements: Sequence[str]) -> None: ...
    def insert_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...
    def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]: ...
    def close(self) -> None: ...


class Backend(Protocol):
    name: str

    def open_store(self, purpose: str) -> SQLStore: ...
    def reader(self, purpose: str) -> Callable[[], Store]:
        """Opens another connection to the store of ``purpose`` (picklable, for workers)."""
        ...

    def connect(self, purpose: str) -> PlainConn: ...
    def durability(self) -> dict[str, str]: ...
    def cleanup(self) -> None: ...


# --- SQLite ---------------------------------------------------------------------------------------


class SQLitePlain:
    placeholder = "?"

    def __init__(self, path: Path) -> None:
        # The same settings as SQLiteStore: WAL, synchronous=FULL, autocommit between batches.
        self._conn = sqlite3.connect(path, isolation_level=None, timeout=30.0)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute("PRAGMA busy_timeout=30000")

    def script(self, statements: Sequence[str]) -> None:
        for statement in statements:
            self._conn.execute(statement)

    def insert_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            self._conn.executemany(sql, rows)
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise

    def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return self._conn.execute(sql, tuple(params)).fetchall()

    def close(self) -> None:
        self._conn.close()


class SQLiteBackend:
    name = "SQLite"

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="consentry-bench-"))

    def _path(self, purpose: str) -> Path:
        return self.dir / f"{purpose}.sqlite"

    def open_store(self, purpose: str) -> SQLStore:
        return SQLiteStore(self._path(purpose))

    def reader(self, purpose: str) -> Callable[[], Store]:
        return partial(SQLiteStore, self._path(purpose))

    def connect(self, purpose: str) -> PlainConn:
        return SQLitePlain(self._path(purpose))

    def durability(self) -> dict[str, str]:
        conn = SQLitePlain(self._path("durability"))
        try:
            mode = conn.fetch_all("PRAGMA journal_mode")[0][0]
            sync = conn.fetch_all("PRAGMA synchronous")[0][0]
        finally:
            conn.close()
        names = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}
        return {
            "journal_mode": str(mode),
            "synchronous": names.get(int(sync), str(sync)),
            "sqlite": sqlite3.sqlite_version,
            "dir": str(self.dir),
        }

    def cleanup(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


# --- PostgreSQL -----------------------------------------------------------------------------------


def postgres_problem(url: str) -> str | None:
    """Why the server at ``url`` cannot be used, or None."""
    import psycopg

    try:
        psycopg.connect(url, connect_timeout=5).close()
    except Exception as exc:
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return None


class PostgresPlain:
    placeholder = "%s"

    def __init__(self, url: str, schema: str) -> None:
        import psycopg

        self._conn = psycopg.connect(url, autocommit=True)
        self._conn.execute(f'SET search_path TO "{schema}"')

    def script(self, statements: Sequence[str]) -> None:
        for statement in statements:
            self._conn.execute(statement)

    def insert_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        with self._conn.transaction():
            self._conn.cursor().executemany(sql, rows)

    def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return self._conn.execute(sql, tuple(params)).fetchall()

    def close(self) -> None:
        self._conn.close()


class PostgresBackend:
    name = "PostgreSQL"

    def __init__(self, url: str) -> None:
        self.url = url.split("?", 1)[0]
        self.prefix = f"bench_{uuid.uuid4().hex[:10]}"
        self._schemas: list[str] = []

    def _schema(self, purpose: str) -> str:
        schema = f"{self.prefix}_{purpose}"
        if schema not in self._schemas:
            self._schemas.append(schema)
        return schema

    def _store_url(self, purpose: str) -> str:
        return f"{self.url}?schema={self._schema(purpose)}"

    def open_store(self, purpose: str) -> SQLStore:
        return PostgresStore(self._store_url(purpose))

    def reader(self, purpose: str) -> Callable[[], Store]:
        return partial(PostgresStore, self._store_url(purpose))

    def connect(self, purpose: str) -> PlainConn:
        return PostgresPlain(self.url, self._schema(purpose))

    def durability(self) -> dict[str, str]:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            out = {
                name: str(conn.execute(f"SHOW {name}").fetchone()[0])  # type: ignore[index]
                for name in ("synchronous_commit", "fsync", "wal_sync_method", "server_version")
            }
        out["schema_prefix"] = self.prefix
        return out

    def cleanup(self) -> None:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            for schema in self._schemas:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
