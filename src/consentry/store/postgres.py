"""PostgresStore: the store on PostgreSQL (psycopg 3), for many processes and hosts.

URL: ``postgresql://user@host:port/db[?schema=NAME]``; ``schema`` keeps a consentry store in its
own schema (the tests use one per test). Appends take a transaction-scoped advisory lock, so any
number of processes append with gap-free indexes.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import islice
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg

from consentry.domain.errors import AppendOnlyViolation, ConsentryError, StoreError
from consentry.domain.policy_bulk import AudienceRow
from consentry.store.migrate import apply_migrations
from consentry.store.sql_base import CHUNK, SQLStore
from consentry.store.sql_queries import load_queries
from consentry.store.sql_tokens import SQLTokens

T = TypeVar("T")

_SCHEMA = re.compile(r"[a-z_][a-z0-9_]{0,62}\Z")
_COPY_SPECIAL = ("\\", "\n", "\r", "\t")  # what COPY's text format would need escaped


def split_url(url: str) -> tuple[str, str | None]:
    """(libpq URL without our ``schema`` parameter, schema or None)."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    schema = query.pop("schema", None)
    if schema is not None and not _SCHEMA.match(schema):
        raise StoreError(f"schema name {schema!r} must be a lower-case SQL identifier")
    scheme = "postgresql"
    return urlunsplit((scheme, parts.netloc, parts.path, urlencode(query), "")), schema


def _redact(url: str) -> str:
    return re.sub(r"//([^:@/]+):[^@/]*@", r"//\1:***@", url)


class PostgresStore(SQLTokens, SQLStore):
    driver_errors = (psycopg.Error,)

    def __init__(self, url: str) -> None:
        self.url = url
        libpq_url, schema = split_url(url)
        try:
            conn = psycopg.connect(libpq_url, autocommit=True, connect_timeout=10)
            # Plan each execution of a prepared statement for its parameters. A generic plan
            # is made once, from the statistics of the moment: one made while a table was
            # small (a new store) scans the whole table for ever after if nothing analyses it
            # (autovacuum off, or a table growing faster than it runs); a state read of 30
            # subjects went from 3 to 7.5 ms as 45,000 suppressions were written.
            conn.execute("SET plan_cache_mode TO force_custom_plan")
            if schema:
                conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
                conn.execute(f'SET search_path TO "{schema}"')
            yoyo_url = libpq_url.replace("postgresql://", "postgresql+psycopg://", 1)
            if schema:
                sep = "&" if "?" in yoyo_url else "?"
                yoyo_url = f"{yoyo_url}{sep}schema={schema}"
            apply_migrations(yoyo_url, "postgres")
        except ConsentryError:
            raise
        except Exception as exc:
            raise StoreError(f"cannot open PostgreSQL store {_redact(url)}: {exc}") from exc
        self._libpq_url, self._schema = libpq_url, schema
        super().__init__(conn, load_queries("postgres", "%s"), "%s")

    #: Statements whose rows must be unique per key inside one statement, with whether the
    #: last row per key wins (an update, as row by row) or the first (DO NOTHING): an
    #: ``UPDATE ... FROM unnest`` applies an arbitrary one of duplicates, and an upsert or a
    #: plain insert may not meet its own key twice. (name: (key columns, last wins))
    _KEYS = {
        "put_consent": ((0, 2), True),  # (subject_id, list_id)
        "end_consent_list": ((3, 4), True),  # (subject_id, list_id)
        "end_consent_all": ((3,), True),  # (subject_id,)
        "put_address": ((0,), False),  # (subject_id,)
        "put_evidence": ((0, 1), False),  # (subject_id, hash)
    }

    def _many(
        self, name: str, rows: Sequence[Sequence[Any]], fresh_from: int | None = None
    ) -> None:
        """Rows of one statement: as one ``NAME_unnest`` statement over column arrays where the
        dialect has one, else row by row (psycopg pipelines them). Rows about subjects that
        this append gave their ids go in through ``NAME_fresh_unnest`` where there is one: a
        plain INSERT, with no look for a row to update that cannot exist."""
        if not rows:
            return
        plain = self._queries.get(f"{name}_fresh_unnest") if fresh_from is not None else None
        if plain is not None and len(rows) > 1:  # one row: the row statement (planned faster)
            fresh = [row for row in rows if row[0] >= fresh_from]
            if fresh:
                self._arrays(plain[0], self._unique(name, fresh))
                rows = [row for row in rows if row[0] < fresh_from]
                if not rows:
                    return
        unnest = self._queries.get(f"{name}_unnest")
        if unnest is None or len(rows) < 2:
            super()._many(name, rows)
            return
        self._arrays(unnest[0], self._unique(name, rows))

    def _unique(self, name: str, rows: Sequence[Sequence[Any]]) -> Sequence[Sequence[Any]]:
        spec = self._KEYS.get(name)
        if spec is None:
            return rows
        columns, last_wins = spec
        kept: dict[tuple[Any, ...], Sequence[Any]] = {}
        for row in rows:
            key = tuple(row[i] for i in columns)
            if last_wins or key not in kept:
                kept[key] = row
        return list(kept.values())

    def _arrays(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """One statement over the rows' columns as arrays."""
        columns = [list(column) for column in zip(*rows, strict=True)]
        # %b: arrays go in binary format, which psycopg dumps much faster than text arrays
        self._conn.execute(sql.replace("%s::", "%b::"), columns)

    def _ids_later(
        self, subjects: Sequence[str]
    ) -> Callable[[], tuple[dict[str, int], int | None]]:
        """The refs the id cache does not hold go out at once in one statement that reads the
        ids they have and inserts the next ones for the rest (``ensure_subject_ids``); the
        answer is read when the caller collects it."""
        unique = list(dict.fromkeys(subjects))
        cache = self._id_cache
        ids = {s: cache[s] for s in unique if s in cache}
        missing = [s for s in unique if s not in ids]
        if not missing:
            return lambda: (ids, None)
        cursor = self._exec("ensure_subject_ids", (missing,))

        def collect() -> tuple[dict[str, int], int | None]:
            read: dict[str, int] = {}
            fresh: list[int] = []
            for sid, subject, old in cursor.fetchall():
                ids[subject] = int(sid)
                if old:  # only committed ids may be remembered: this append may roll back
                    read[subject] = int(sid)
                else:
                    fresh.append(int(sid))
            self._remember_ids(read)
            return ids, min(fresh, default=None)

        return collect

    def _pipelined(self, fn: Callable[[], T]) -> Callable[[], T]:
        """An append's statements in psycopg's pipeline mode: the inserts and updates whose
        answers nothing reads go out back to back, and the reads (the ledger's size, new
        subject ids) wait only for what is before them. The pipeline is synced before the
        COMMIT, so an error is raised inside the transaction and rolls it back."""

        def pipelined() -> T:
            with self._conn.pipeline():
                return fn()

        return pipelined

    def _state_rows(self, ids: list[int]) -> list[list[Any]]:
        """The three state reads in one round trip (psycopg's pipeline mode)."""
        with self._lock:
            try:
                with self._conn.pipeline():
                    cursors = [
                        self._conn.execute(self._sql(name), (ids,), binary=True)
                        for name in self._STATE_QUERIES
                    ]
                return [list(c.fetchall()) for c in cursors]
            except self.driver_errors as exc:
                raise self._translate(exc) from exc

    def audience_rows(
        self, list_id: str, subjects: Iterable[str]
    ) -> Iterator[tuple[list[str], list[AudienceRow]]]:
        """The audience is copied into a table made for this read and joined to the projections
        in one statement, as a plain SQL join of it would be: hash joins over the whole audience
        (a probe of the subjects' index per member costs far more), run by parallel workers
        (which a temporary table would forbid). The table is made in the read's transaction,
        which is rolled back at the end, so nothing is ever written."""
        table = f"consentry_audience_{uuid.uuid4().hex}"

        def load(conn: psycopg.Connection[Any]) -> None:
            conn.execute(f"CREATE UNLOGGED TABLE {table} (subject TEXT NOT NULL)")
            with conn.cursor().copy(f"COPY {table} (subject) FROM STDIN") as copy:
                members = iter(subjects)
                while chunk := list(islice(members, CHUNK)):
                    joined = "".join(chunk)
                    if any(c in joined for c in _COPY_SPECIAL):
                        for subject in chunk:  # escaped by psycopg
                            copy.write_row((subject,))
                    else:  # nothing to escape: COPY's text format is the lines themselves
                        copy.write("\n".join(chunk) + "\n")
            conn.execute(f"ANALYZE {table}")  # the join's plan needs the audience's size

        query = self._sql("audience_rows").replace("consentry_audience", table)
        for page in self._stream(query, (list_id, list_id), load):
            yield [r[0] for r in page], [r for r in page if r[23] is not None]

    def list_rows(self, list_id: str) -> Iterator[list[AudienceRow]]:
        """One statement over the whole list (hash joins, parallel workers), streamed."""
        return self._stream(self._sql("list_rows_all"), (list_id, list_id))

    def _stream(
        self,
        query: str,
        params: tuple[Any, ...],
        before: Callable[[psycopg.Connection[Any]], None] | None = None,
    ) -> Iterator[list[Any]]:
        """The rows of one read-only statement, a page at a time, on a connection of its own (so
        that the caller may read from the store between pages), in a transaction rolled back at
        the end."""
        try:
            with psycopg.connect(self._libpq_url, connect_timeout=10) as conn:
                if self._schema:
                    conn.execute(f'SET search_path TO "{self._schema}"')
                if before is not None:
                    before(conn)
                page: list[Any] = []
                for row in conn.cursor(binary=True).stream(query, params, size=CHUNK):
                    page.append(row)
                    if len(page) == CHUNK:
                        yield page
                        page = []
                if page:
                    yield page
                conn.rollback()
        except self.driver_errors as exc:
            raise self._translate(exc) from exc

    def _run(self, sql: str, params: tuple[Any, ...]) -> Any:
        # Binary results: bytea arrives as raw bytes instead of hex text to decode.
        return self._conn.execute(sql, params, binary=True)

    def _translate(self, exc: Exception) -> ConsentryError:
        text = str(exc).strip()
        if "append-only" in text:
            return AppendOnlyViolation(f"PostgreSQL: {text}")
        if isinstance(exc, psycopg.errors.DiskFull):
            return StoreError(f"PostgreSQL: the disk is full: {text}")
        return StoreError(f"PostgreSQL error: {text}")
