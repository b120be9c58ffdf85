"""The backup's own connections to a store's database, one class per dialect.

A backup reads through its own connection in one read transaction (SQLite: a deferred
transaction, whose first read fixes the snapshot in WAL mode; PostgreSQL: REPEATABLE READ, READ
ONLY, with server-side cursors), and a restore writes through its own connection in one write
transaction. Both speak SQL directly to the tables ``backup.tables`` names; nothing goes through
the Store port, so a snapshot is consistent however many calls it takes.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from consentry.domain.errors import ConsentryError, InputError, StoreError

CHUNK = 5000
_SCHEMA = re.compile(r"[a-z_][a-z0-9_]{0,62}\Z")
#: The lock appends take on PostgreSQL (store/sql/postgres/queries.sql, begin_write): a restore
#: takes it too, so nothing appends to the store while it is being filled.
PG_APPEND_LOCK = (
    "SELECT pg_advisory_xact_lock(7310252771364861001 # hashtext(current_schema())::bigint)"
)


@dataclass(frozen=True)
class Location:
    """Where a store is: ``sqlite:///path`` or ``postgresql://...[?schema=NAME]``."""

    dialect: str
    url: str
    path: Path | None = None
    libpq_url: str | None = None
    schema: str | None = None

    @property
    def shown(self) -> str:
        return re.sub(r"//([^:@/]+):[^@/]*@", r"//\1:***@", self.url)


def locate(url: str) -> Location:
    if url.startswith("sqlite:///"):
        return Location("sqlite", url, path=Path(url.removeprefix("sqlite:///")))
    if url.startswith(("postgresql://", "postgres://")):
        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query))
        schema = query.pop("schema", None)
        if schema is not None and not _SCHEMA.match(schema):
            raise InputError(f"schema name {schema!r} must be a lower-case SQL identifier")
        libpq = urlunsplit(("postgresql", parts.netloc, parts.path, urlencode(query), ""))
        return Location("postgresql", url, libpq_url=libpq, schema=schema)
    if url == "memory:":
        raise InputError("a memory: store cannot be backed up or restored; use SQLite or Postgres")
    raise InputError(f"database URL {url!r} is not sqlite:///PATH or postgresql://...")


class Database(ABC):
    """What the backup needs of a connection, whatever the dialect."""

    dialect = ""
    placeholder = "?"
    driver_errors: tuple[type[Exception], ...] = ()

    def __init__(self, location: Location) -> None:
        self.location = location

    # --- per dialect ----------------------------------------------------------------------------
    @abstractmethod
    def begin_read(self) -> None: ...

    @abstractmethod
    def begin_write(self) -> None: ...

    @abstractmethod
    def tables(self) -> set[str]: ...

    @abstractmethod
    def columns(self, table: str) -> list[str]: ...

    def text_key(self, column: str) -> str:
        """An ORDER BY term that compares text byte by byte on every dialect."""
        return column

    @abstractmethod
    def stream(self, sql: str, params: Sequence[Any] = ()) -> Iterator[Sequence[Sequence[Any]]]:
        """Rows of a query a chunk at a time, without holding the result in memory."""
        ...

    @abstractmethod
    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None: ...

    @abstractmethod
    def subject_ids(self, subjects: Sequence[str]) -> dict[str, int]: ...

    # --- shared ---------------------------------------------------------------------------------
    conn: Any

    def fail(self, exc: Exception, doing: str) -> ConsentryError:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "full" in text.lower():
            return StoreError(f"{self.location.shown}: the disk is full while {doing}: {text}")
        return StoreError(f"{self.location.shown}: database error while {doing}: {text}")

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return list(self.conn.execute(sql, tuple(params)).fetchall())

    def one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.conn.execute(sql, tuple(params)).fetchone()

    def count(self, table: str) -> int:
        return int(self.one(f"SELECT COUNT(*) FROM {table}")[0])

    def has_rows(self, table: str) -> bool:
        return self.one(f"SELECT 1 FROM {table} LIMIT 1") is not None

    def commit(self) -> None:
        self.conn.execute("COMMIT")

    def rollback(self) -> None:
        with contextlib.suppress(*self.driver_errors):
            self.conn.execute("ROLLBACK")

    def close(self) -> None:
        with contextlib.suppress(*self.driver_errors):
            self.conn.close()


class SQLiteDatabase(Database):
    dialect = "sqlite"
    driver_errors = (sqlite3.Error,)

    def __init__(self, location: Location, create: bool = False) -> None:
        super().__init__(location)
        path = location.path
        assert path is not None
        if not create and not path.is_file():
            raise InputError(f"no consentry store at {path} (the file does not exist)")
        try:
            self.conn = sqlite3.connect(
                path, isolation_level=None, check_same_thread=False, timeout=30.0
            )
            self.conn.execute("PRAGMA busy_timeout=30000")
            self.conn.execute("PRAGMA cache_size=-65536")
        except sqlite3.Error as exc:
            raise self.fail(exc, "opening it") from exc

    def begin_read(self) -> None:
        self.conn.execute("PRAGMA query_only=ON")
        self.conn.execute("BEGIN")

    def begin_write(self) -> None:
        self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.execute("BEGIN IMMEDIATE")

    def tables(self) -> set[str]:
        rows = self.all("SELECT name FROM sqlite_master WHERE type = 'table'")
        return {r[0] for r in rows if not r[0].startswith("sqlite_")}

    def columns(self, table: str) -> list[str]:
        return [r[1] for r in self.all(f"PRAGMA table_info({table})")]

    def stream(self, sql: str, params: Sequence[Any] = ()) -> Iterator[Sequence[Sequence[Any]]]:
        cursor = self.conn.execute(sql, tuple(params))
        try:
            while rows := cursor.fetchmany(CHUNK):
                yield rows
        finally:
            with contextlib.suppress(sqlite3.Error):  # the connection may be closed already
                cursor.close()

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        marks = ", ".join("?" * len(columns))
        self.conn.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)

    def subject_ids(self, subjects: Sequence[str]) -> dict[str, int]:
        out: dict[str, int] = {}
        for i in range(0, len(subjects), 500):
            chunk = subjects[i : i + 500]
            marks = ", ".join("?" * len(chunk))
            rows = self.all(f"SELECT subject, id FROM subjects WHERE subject IN ({marks})", chunk)
            out.update({s: int(sid) for s, sid in rows})
        return out


class PostgresDatabase(Database):
    dialect = "postgresql"
    placeholder = "%s"

    def __init__(self, location: Location) -> None:
        super().__init__(location)
        import psycopg

        self.driver_errors = (psycopg.Error,)
        self._cursors = 0
        try:
            self.conn = psycopg.connect(location.libpq_url or "", connect_timeout=10)
            if location.schema:
                self.conn.execute(f'SET search_path TO "{location.schema}"')
            self.conn.commit()
        except psycopg.Error as exc:
            raise self.fail(exc, "connecting") from exc

    def begin_read(self) -> None:
        from psycopg import IsolationLevel

        # psycopg begins the transaction with these at the next statement
        self.conn.isolation_level = IsolationLevel.REPEATABLE_READ
        self.conn.read_only = True

    def begin_write(self) -> None:
        self.conn.execute(PG_APPEND_LOCK)

    def tables(self) -> set[str]:
        rows = self.all(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
        )
        return {r[0] for r in rows}

    def columns(self, table: str) -> list[str]:
        rows = self.all(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = "
            "current_schema() AND table_name = %s ORDER BY ordinal_position",
            (table,),
        )
        return [r[0] for r in rows]

    def text_key(self, column: str) -> str:
        return f'{column} COLLATE "C"'

    def stream(self, sql: str, params: Sequence[Any] = ()) -> Iterator[Sequence[Sequence[Any]]]:
        self._cursors += 1
        cursor = self.conn.cursor(name=f"backup_{self._cursors}", binary=True)
        try:
            cursor.execute(sql.replace("?", "%s"), tuple(params))
            while rows := cursor.fetchmany(CHUNK):
                yield rows
        finally:
            with contextlib.suppress(*self.driver_errors):
                cursor.close()

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return super().all(sql.replace("?", "%s"), params)

    def one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return super().one(sql.replace("?", "%s"), params)

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        with self.conn.cursor() as cursor:
            statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
            with cursor.copy(statement) as copy:
                for row in rows:
                    copy.write_row(row)

    def subject_ids(self, subjects: Sequence[str]) -> dict[str, int]:
        rows = self.all("SELECT subject, id FROM subjects WHERE subject = ANY(%s)", [subjects])
        return {s: int(sid) for s, sid in rows}

    def commit(self) -> None:
        self.conn.commit()

    def rollback(self) -> None:
        with contextlib.suppress(*self.driver_errors):
            self.conn.rollback()


def open_database(location: Location, create: bool = False) -> Database:
    """A connection of the right dialect (``create``: SQLite may make the file)."""
    if location.dialect == "sqlite":
        return SQLiteDatabase(location, create)
    return PostgresDatabase(location)
