"""What only the SQL stores can show: the database refuses changes, files survive, writers
serialise, bad files are named."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import psycopg
import pytest

from consentry.domain.errors import CorruptStore, StoreError
from consentry.domain.merkle import MemoryTree
from consentry.domain.policy_bulk import ROW_COLUMNS, given_ok
from consentry.ports import Batch
from consentry.store.sqlite import SQLiteStore
from tests.support import builders as b

SQL_KINDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=SQL_KINDS)
def sql_store(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    from tests.conftest import make_store

    s = make_store(request.param, tmp_path, request)
    yield s
    s.close()


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE ledger_leaves SET kind = 'x'",
        "DELETE FROM ledger_leaves",
        "UPDATE ledger_nodes SET hash = hash",
        "DELETE FROM ledger_nodes",
        "UPDATE ledger_checkpoints SET note = 'forged'",
        "DELETE FROM ledger_checkpoints",
        "UPDATE subjects SET subject = 'x'",
        "DELETE FROM subjects",
    ],
)
def test_the_database_refuses_update_and_delete_on_ledger_tables(
    sql_store: Any, statement: str
) -> None:
    sql_store.append(
        Batch(leaves=[b.given(b.subject(i)) for i in range(40)]), seal=lambda s, r: "n"
    )
    with pytest.raises((sqlite3.IntegrityError, psycopg.Error), match="append-only"):
        sql_store._conn.execute(statement)
    assert sql_store.size() == 40


def test_a_statement_failing_in_the_database_mid_append_writes_nothing(sql_store: Any) -> None:
    """The database refuses the last statement of an append (on PostgreSQL the statements
    before it were sent without waiting for answers): a StoreError, nothing written, and the
    store appends as before afterwards, with the same root a memory tree gives."""
    first = sql_store.append(b.grant_batch(b.subject(1)), seal=lambda s, r: f"{s}\n")
    queries = sql_store._queries
    saved = queries["insert_checkpoint"]
    mark = sql_store._placeholder
    queries["insert_checkpoint"] = [
        f"INSERT INTO no_such_table VALUES ({mark}, {mark}, {mark}, {mark})"
    ]
    try:
        with pytest.raises(StoreError, match="no_such_table"):
            sql_store.append(b.grant_batch(b.subject(2)), seal=lambda s, r: f"{s}\n")
    finally:
        queries["insert_checkpoint"] = saved
    assert sql_store.size() == 1 and sql_store.subject_state(b.subject(2)) is None
    assert sql_store.latest_checkpoint().root == first.root
    again = sql_store.append(b.grant_batch(b.subject(3)), seal=lambda s, r: f"{s}\n")
    reference = MemoryTree()
    for stored in sql_store.iter_leaves():
        reference.append_leaf(stored.raw)
    assert again.size == 2 and again.root == reference.root()


def test_postgres_refuses_truncate(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    from tests.conftest import make_store

    store = make_store("postgres", tmp_path, request)
    try:
        with pytest.raises(psycopg.Error, match="append-only"):
            store._conn.execute("TRUNCATE ledger_leaves")
    finally:
        store.close()


def test_postgres_plans_each_execution_for_its_parameters(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """A generic plan is made once, from the statistics of its moment; one made while a table
    was small kept scanning all of it as it grew (a 30-subject state read went from 3 to 7.5
    ms over 45,000 unsubscribes, autovacuum being off). The store's connection plans every
    execution of its prepared statements for the parameters and the tables as they are."""
    from tests.conftest import make_store

    store = make_store("postgres", tmp_path, request)
    try:
        setting = store._conn.execute("SHOW plan_cache_mode").fetchone()[0]
        assert setting == "force_custom_plan"
        subjects = [b.subject(i) for i in range(200)]
        store.append(Batch(leaves=[b.suppressed(s, "unsubscribe", "news") for s in subjects]))
        for _ in range(12):  # prepared by psycopg from the fifth, planned afresh every time
            states = store.subject_states(subjects[:10])
            assert all(states[s].suppressions for s in subjects[:10])
    finally:
        store.close()


def test_sqlite_store_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    store = SQLiteStore(path)
    result = store.append(b.grant_batch(b.subject(1)), seal=lambda s, r: f"{s}\n")
    store.close()
    again = SQLiteStore(path)
    try:
        assert again.size() == 1
        assert again.latest_checkpoint().root == result.root
        assert again.subject_state(b.subject(1)) is not None
    finally:
        again.close()


def test_sqlite_uses_wal(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "w.sqlite")
    try:
        assert store._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        store.close()


def test_a_file_that_is_not_sqlite_is_named(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("these are my notes, not a database\n")
    with pytest.raises(CorruptStore, match=r"notes.txt is not a consentry database"):
        SQLiteStore(path)
    assert path.read_text() == "these are my notes, not a database\n"


def test_a_truncated_sqlite_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.sqlite"
    store = SQLiteStore(path)
    store.append(Batch(leaves=[b.given(b.subject(i)) for i in range(500)]))
    store.close()
    data = path.read_bytes()
    path.write_bytes(data[:4096] + b"\x00" * 100)
    with pytest.raises(StoreError):
        SQLiteStore(path).size()


def _hammer(store_factory: Any, worker: int, batches: int, errors: list[BaseException]) -> None:
    try:
        store = store_factory()
        try:
            for i in range(batches):
                drafts = [b.given(b.subject(f"{worker}-{i}-{j}")) for j in range(1 + (i % 5))]
                store.append(Batch(leaves=drafts), seal=lambda s, r: f"{s} {r.hex()}\n")
        finally:
            store.close()
    except BaseException as exc:  # pragma: no cover - reported below
        errors.append(exc)


@pytest.mark.parametrize("kind", SQL_KINDS)
def test_concurrent_writers_get_gap_free_indexes(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Four connections append at once: every index is used once and the tree is right."""
    from tests.conftest import make_store

    first = make_store(kind, tmp_path, request)
    url_or_path: Any = getattr(first, "path", None) or first.url  # type: ignore[attr-defined]

    def factory() -> Any:
        if kind == "sqlite":
            return SQLiteStore(url_or_path)
        from consentry.store.postgres import PostgresStore

        return PostgresStore(url_or_path)

    errors: list[BaseException] = []
    threads = [threading.Thread(target=_hammer, args=(factory, w, 15, errors)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    try:
        leaves = list(first.iter_leaves())
        assert [leaf.index for leaf in leaves] == list(range(len(leaves)))
        assert len(leaves) == 4 * sum(1 + (i % 5) for i in range(15))
        tree = MemoryTree()
        for leaf in leaves:
            tree.append_leaf(leaf.raw)
        assert first.latest_checkpoint().root == tree.root()
    finally:
        first.close()


def test_a_second_store_in_the_process_never_costs_the_first_its_locks(tmp_path: Path) -> None:
    """Opening another store on the same file in this process (as ``consentry serve`` does for
    the dispatcher's watcher) must not drop the first connection's locks: else another process
    closing its own connection takes itself for the last one, deletes the WAL under the live
    writer, and acknowledged appends are lost."""
    import subprocess
    import sys

    from consentry.store.sqlite import SQLiteStore

    path = tmp_path / "s.sqlite"
    writer = SQLiteStore(path)
    try:
        writer.append(Batch(leaves=[b.list_created("news")]))
        SQLiteStore(path).close()  # a second store in this process, opened and closed
        other = "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); " \
                "c.execute('select count(*) from ledger_leaves').fetchone(); c.close()"  # fmt: skip
        subprocess.run([sys.executable, "-c", other, str(path)], check=True)
        writer.append(Batch(leaves=[b.list_created("offers")]))
        check = sqlite3.connect(path)
        try:
            assert check.execute("SELECT count(*) FROM ledger_leaves").fetchone()[0] == 2
        finally:
            check.close()
    finally:
        writer.close()


def test_background_checkpoints_take_over_and_lose_nothing(tmp_path: Path) -> None:
    """``consentry serve`` moves WAL checkpoints off the commit path: commits stop checkpointing,
    a thread checkpoints instead, and everything committed is in the database after close."""
    from consentry.store.sqlite import SQLiteStore

    path = tmp_path / "s.sqlite"
    store = SQLiteStore(path)
    store.checkpoint_in_background(interval=0.01)
    try:
        for n in range(30):
            store.append(Batch(leaves=[b.list_created(f"list-{n}")]))
        assert store._conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
        assert store._checkpointer is not None and store._checkpointer.is_alive()
    finally:
        store.close()
    check = sqlite3.connect(path)
    try:
        assert check.execute("SELECT count(*) FROM ledger_leaves").fetchone()[0] == 30
    finally:
        check.close()


#: Spellings of a consent's given_at: the one the store writes, and what a damaged row may hold.
GIVEN_AT = [
    "2026-01-31T23:59:59.123456Z", "2026-01-31T00:00:00.000000Z", "2026-01-31T19:59:59.999999Z",
    "2026-13-45T09:00:00.000000Z", "2026-01-31T24:00:00.000000Z", "2026-01-31T30:00:00.000000Z",
    "2026-01-31T12:60:00.000000Z", "2026-01-31T12:00:60.000000Z", "2026-01-31T12:00:00Z",
    "2026-01-31 12:00:00.000000Z", "2026-01-31T12:00:00.000000+00:00",
    "2026-01-31T1a:00:00.000000Z",
    "2026-01-31T12:00:00.0000000Z", "2026-01-31T12:00:00.000000Zx", "x026-01-31T12:00:00.000000Z",
    "2026--1-31T12:00:00.000000Z", "2026-01-31T12:00:00,000000Z", "٢٠٢٦-01-31T12:00:00.000000Z",
    "2026-01-31T12:00:00.00000\u0660Z", "", "2026-01-31T12:00:00.000000z",
]  # fmt: skip


def test_the_given_ok_column_is_given_ok_of_the_stored_time(sql_store: Any) -> None:
    """The database's given_ok (audience and list rows) says what ``policy_bulk.given_ok``
    says of the same text, for the spelling the store writes and for damaged ones."""
    subjects = [b.subject(f"given-{i}") for i in range(len(GIVEN_AT))]
    sql_store.append(Batch(leaves=[b.given(s) for s in subjects]), seal=lambda s, r: "n")
    mark = sql_store._placeholder
    for subject, text in zip(subjects, GIVEN_AT, strict=True):
        sql_store._conn.execute(
            f"UPDATE proj_consent SET given_at = {mark} WHERE subject = {mark}", (text, subject)
        )
    ok = ROW_COLUMNS.index("given_ok")
    chunks = sql_store.audience_rows("news", subjects)
    audience = {row[0]: row for _, rows in chunks for row in rows}
    listed = {row[0]: row for rows in sql_store.list_rows("news") for row in rows}
    for subject, text in zip(subjects, GIVEN_AT, strict=True):
        assert bool(audience[subject][ok]) is given_ok(text), text
        assert bool(listed[subject][ok]) is given_ok(text), text
