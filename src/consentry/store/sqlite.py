"""SQLiteStore: the default store, one file in WAL mode, one writer at a time."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from pathlib import Path

from consentry.domain.errors import (
    AppendOnlyViolation,
    ConsentryError,
    CorruptStore,
    StoreError,
)
from consentry.store.migrate import migrate_sqlite
from consentry.store.sql_base import SQLStore
from consentry.store.sql_queries import load_queries
from consentry.store.sql_tokens import SQLTokens

CACHE_KIB = 256 * 1024
MMAP_BYTES = 1 << 30
#: For long-running senders: a smaller page cache and no memory map, so that the process stays
#: small however large the campaign (the memory map counts towards its resident size).
LEAN_CACHE_KIB = 32 * 1024


class SQLiteStore(SQLTokens, SQLStore):
    """A consentry store in one SQLite file (``sqlite:///path``)."""

    driver_errors = (sqlite3.Error,)

    def __init__(self, path: str | Path, lean: bool = False) -> None:
        self.path = Path(path)
        cache_kib, mmap_bytes = (LEAN_CACHE_KIB, 0) if lean else (CACHE_KIB, MMAP_BYTES)
        _check_is_sqlite(self.path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            migrate_sqlite(self.path)
            conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=30.0
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA busy_timeout=30000")
            # A large page cache and memory-mapped reads: the indexes take random keys (subject
            # refs), and verification reads the whole ledger.
            conn.execute(f"PRAGMA cache_size=-{cache_kib}")
            conn.execute(f"PRAGMA mmap_size={mmap_bytes}")
            conn.execute("SELECT count(*) FROM ledger_leaves").fetchone()
        except ConsentryError:
            raise
        except sqlite3.DatabaseError as exc:
            raise _translate(exc, self.path) from exc
        except Exception as exc:
            raise StoreError(f"cannot open {self.path}: {exc}") from exc
        super().__init__(conn, load_queries("sqlite"))

    def _translate(self, exc: Exception) -> ConsentryError:
        return _translate(exc, self.path)

    _checkpointer: threading.Thread | None = None
    _stop_checkpoints: threading.Event | None = None

    def checkpoint_in_background(self, interval: float = 1.0) -> None:
        """Move WAL checkpoints off the commit path (for ``consentry serve``): commits no longer
        run SQLite's automatic checkpoint, which copies the WAL into the database and syncs it
        inside whichever commit crosses the threshold (a latency spike for the requests that
        wait on that commit); a thread with its own connection runs passive checkpoints every
        ``interval`` seconds instead. Durability is unchanged: each commit still syncs the WAL."""
        if self._checkpointer is not None:
            return
        with self._lock:
            self._conn.execute("PRAGMA wal_autocheckpoint=0")
        stop = threading.Event()

        def run() -> None:
            conn = sqlite3.connect(self.path, timeout=30.0, check_same_thread=False)
            try:
                while not stop.wait(interval):
                    with contextlib.suppress(sqlite3.Error):  # busy now: next time
                        conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            finally:
                conn.close()

        self._stop_checkpoints = stop
        self._checkpointer = threading.Thread(target=run, name="consentry-wal-checkpoints")
        self._checkpointer.daemon = True
        self._checkpointer.start()

    def close(self) -> None:
        if self._stop_checkpoints is not None and self._checkpointer is not None:
            self._stop_checkpoints.set()
            self._checkpointer.join(timeout=30)
        super().close()


def _check_is_sqlite(path: Path) -> None:
    """A clear error for a file that is not SQLite, asked of SQLite itself.

    The file must never be opened and closed with plain ``open()`` here: closing any descriptor
    of a file drops every POSIX lock this process holds on it, including the locks of SQLite
    connections this process already has open (the dispatcher's watcher opens a second store
    inside ``consentry serve``). Another process could then take itself for the last
    connection, checkpoint and delete the WAL file under a live writer, and acknowledged
    appends would be lost. SQLite's own connections share their locks per file and close
    descriptors only when that is safe."""
    if not path.exists() or path.stat().st_size == 0:
        return
    probe = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        probe.execute("PRAGMA schema_version").fetchone()
    except sqlite3.DatabaseError as exc:
        raise CorruptStore(f"{path} is not a consentry database (not an SQLite file)") from exc
    finally:
        probe.close()


def _translate(exc: Exception, path: Path) -> ConsentryError:
    text = str(exc)
    if "append-only" in text:
        return AppendOnlyViolation(f"{path}: {text}")
    if isinstance(exc, sqlite3.DatabaseError) and (
        "not a database" in text or "malformed" in text or "no such table" in text
    ):
        return CorruptStore(f"{path} is not a usable consentry database: {text}")
    if "readonly" in text or "read-only" in text:
        return StoreError(f"{path} is read-only: {text}")
    if "full" in text:
        return StoreError(f"{path}: the disk is full: {text}")
    return StoreError(f"{path}: database error: {text}")
