"""Schema migrations through yoyo-migrations; the SQL lives in ``sql/<dialect>/migrations``."""

from __future__ import annotations

import fcntl
import os
import sqlite3
from pathlib import Path

from consentry.store.sql_queries import migrations_path


def apply_migrations(yoyo_url: str, dialect: str) -> int:
    """Apply every pending migration; returns how many were applied. Idempotent; concurrent
    callers are serialised by yoyo's lock."""
    from yoyo import get_backend, read_migrations  # only when migrating: a slow import

    backend = get_backend(yoyo_url)
    try:
        migrations = read_migrations(migrations_path(dialect))
        with backend.lock():
            pending = backend.to_apply(migrations)
            backend.apply_migrations(pending)
        return len(pending)
    finally:
        backend.connection.close()


def _migration_ids(dialect: str) -> set[str]:
    return {p.stem for p in Path(migrations_path(dialect)).glob("*.sql")}


def sqlite_is_current(path: Path) -> bool:
    """True when every migration is already applied (read-only check, no lock taken)."""
    if not path.exists() or path.stat().st_size == 0:
        return False
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT migration_id FROM _yoyo_migration").fetchall()
    except sqlite3.OperationalError:
        return False
    finally:
        conn.close()
    return _migration_ids("sqlite") <= {r[0] for r in rows}


def migrate_sqlite(path: Path) -> None:
    """Bring a SQLite file up to date. Processes opening the same new file at once take turns
    on an advisory lock beside it, since SQLite's own locking makes yoyo's lock fail fast."""
    if sqlite_is_current(path):
        return
    lock_path = path.with_name(path.name + ".migrate-lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        if not sqlite_is_current(path):
            apply_migrations(f"sqlite:///{path}", "sqlite")
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
