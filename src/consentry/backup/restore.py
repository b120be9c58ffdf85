"""``backup restore``: a backup into an empty store, on either backend, then checked.

1. The target store is opened once through the Store port (``open_store``), which creates it and
   applies the migrations; it must be empty, or nothing happens and the error names the tables
   that hold rows.
2. One write transaction (SQLite ``BEGIN IMMEDIATE``; PostgreSQL with the append lock) takes
   every row as ``BackupReader`` checks it: subjects, leaves (with their hash, and the Merkle
   nodes recomputed from them), checkpoints, side and operational tables. It commits only after
   the last check of the whole file passed; any failure rolls it back and the store stays empty.
3. The projections are rebuilt from the leaves (they are never taken from the file), then
   ``services.ledger.verify_ledger`` runs on the restored store, every section is read back and
   must hash as in the backup, the projections' counts and the organisation must equal the
   manifest's, and each address must be the one its subject ref was made from (with the key
   ring's subject key).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from consentry.backup import dump
from consentry.backup.age_keys import Opening
from consentry.backup.age_pipe import AgeReader
from consentry.backup.db import Database, locate, open_database
from consentry.backup.read import BackupReader
from consentry.backup.report import LeafRow, VerifyReport
from consentry.backup.tables import (
    ALL_STORE_TABLES,
    LEDGER_CHECKPOINT_COLUMNS,
    LEDGER_LEAF_COLUMNS,
    Table,
)
from consentry.backup.trust import Trust
from consentry.domain.errors import InputError, StoreError, VerificationFailed
from consentry.ports import KeyRing, Store
from consentry.services.context import Context
from consentry.services.ledger import VerifyReport as LedgerReport
from consentry.services.ledger import verify_ledger

ID_CACHE = 200_000


class _Clock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class RestoreSink:
    """Writes what the reader checked into the target, in its one transaction."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.present = db.tables()
        self._ids: dict[str, int] = {}

    def start(self, table: str, rows: int) -> None:
        if table not in self.present and rows:
            raise StoreError(
                f"the backup holds {rows} rows of {table}, but the target store has no such "
                "table (its schema is older than the backup's); nothing was restored"
            )

    def rows(self, table: Table, rows: Sequence[tuple[Any, ...]]) -> None:
        if table.name in self.present:
            self.db.insert(table.name, table.column_names, rows)

    def _subject_ids(self, refs: set[str]) -> None:
        """Make sure the cache holds the id of every ref of this batch (it is cleared whole when
        full, and then refilled with this batch's refs)."""
        missing = [r for r in refs if r not in self._ids]
        if not missing:
            return
        if len(self._ids) + len(missing) > ID_CACHE:
            self._ids.clear()
            missing = list(refs)
        found = self.db.subject_ids(missing)
        absent = [r for r in missing if r not in found]
        if absent:
            raise VerificationFailed(
                f"a leaf names the subject {absent[0]}, which the backup's subjects lack"
            )
        self._ids.update(found)

    def leaves(self, rows: Sequence[LeafRow], nodes: Sequence[tuple[int, int, bytes]]) -> None:
        self._subject_ids({r[3] for r in rows if r[3] is not None})
        ids = self._ids
        self.db.insert("ledger_leaves", LEDGER_LEAF_COLUMNS, [
            (seq, kind, ids[subject] if subject is not None else None, at, raw, h)
            for seq, kind, at, subject, raw, h in rows
        ])  # fmt: skip
        if nodes:
            self.db.insert("ledger_nodes", ("level", "idx", "hash"), nodes)

    def checkpoints(self, rows: Sequence[tuple[Any, ...]]) -> None:
        if rows:
            self.db.insert("ledger_checkpoints", LEDGER_CHECKPOINT_COLUMNS, rows)


@dataclass
class RestoreReport:
    target: str
    backup: VerifyReport
    ledger: LedgerReport | None = None
    addresses_checked: int = 0
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": not self.problems,
            "target": self.target,
            "backup": self.backup.to_json(),
            "ledger_verify": self.ledger.to_json() if self.ledger else None,
            "addresses_checked": self.addresses_checked,
            "problems": self.problems,
            "seconds": round(self.seconds, 3),
        }


def _require_empty(db: Database) -> None:
    present = db.tables()
    held = [f"{t}" for t in ALL_STORE_TABLES if t in present and db.has_rows(t)]
    if held:
        counts = ", ".join(f"{t}: {db.count(t)} rows" for t in held[:4])
        raise InputError(
            f"the target store {db.location.shown} is not empty ({counts}); a backup is only "
            "restored into a new, empty store"
        )


def _fill(db: Database, reader: BackupReader) -> VerifyReport:
    try:
        db.begin_write()
        _require_empty(db)
        report = reader.run()
        db.commit()
        return report
    except db.driver_errors as exc:
        db.rollback()
        raise db.fail(exc, "restoring into it") from exc
    except BaseException:
        db.rollback()
        raise


def _read_back(db: Database, report: VerifyReport) -> list[str]:
    """Every section read back from the target, against the backup; the projections' counts
    and the organisation against the manifest."""
    problems = []
    db.begin_read()
    try:
        found = dump.survey(db)
        digests = dump.sections(db, found, lambda _data: None)
        for name, want in report.sections.items():
            got = digests.get(name)
            if got is None or got.to_json() != want.to_json():
                problems.append(f"section '{name}' reads back differently from the backup")
        manifest = report.manifest
        if found.state != manifest.get("state"):
            problems.append(
                f"the projections rebuilt from the leaves ({found.state}) differ from the "
                f"source's ({manifest.get('state')})"
            )
        if found.organisation != manifest.get("organisation"):
            problems.append("the organisation settings differ from the source's")
    finally:
        db.rollback()
    return problems


def _check_addresses(db: Database, subject_key: bytes) -> tuple[int, int]:
    """(addresses, those whose subject ref is not HMAC(subject key, canonical))."""
    checked = wrong = 0
    db.begin_read()
    try:
        sql = (
            "SELECT s.subject, a.canonical FROM side_addresses a "
            "JOIN subjects s ON s.id = a.subject_id"
        )
        for rows in db.stream(sql):
            for subject, canonical in rows:
                checked += 1
                ref = hmac.new(subject_key, canonical.encode("utf-8"), hashlib.sha256)
                wrong += ref.hexdigest() != subject
    finally:
        db.rollback()
    return checked, wrong


def restore_backup(
    path: Path,
    opening: Opening,
    url: str,
    trust: Trust,
    open_store: Callable[[], Store],
    keys: KeyRing,
    *,
    subject_key: bytes | None = None,
    auth_key: bytes | None = None,
    reader: Callable[[], Store] | None = None,
) -> RestoreReport:
    """Restore ``path`` into the empty store at ``url``; see the module docstring. ``keys``
    verifies checkpoints for ``verify_ledger`` (the key ring, or one made from the trusted
    verifier key). Raises, restoring nothing, when the backup or the target is refused."""
    started = time.perf_counter()
    location = locate(url)
    open_store().close()  # creates it and applies the migrations
    db = open_database(location)
    try:
        age = AgeReader(path, opening)
        try:
            checked = BackupReader(age, trust, RestoreSink(db), auth_key, refuse_rollback=True)
            backup = _fill(db, checked)
        finally:
            age.close()
        result = RestoreReport(location.shown, backup)
        store = open_store()
        try:
            store.rebuild_projections()
            ctx = Context(store=store, keys=keys, clock=_Clock(), reader=reader)
            workers = 2 if reader is not None and backup.size >= 200_000 else 1
            result.ledger = verify_ledger(ctx, workers)
        finally:
            store.close()
        ledger = result.ledger
        result.problems += [f"ledger verify: {p}" for p in ledger.problems]
        if (ledger.size, ledger.root) != (backup.size, backup.root):
            result.problems.append("the restored ledger's size or root differs from the backup's")
        if ledger.checkpoints_checked != backup.checkpoints:
            result.problems.append(
                f"{ledger.checkpoints_checked} checkpoints verify in the restored store, "
                f"the backup holds {backup.checkpoints}"
            )
        result.problems += _read_back(db, backup)
        if subject_key is not None:
            result.addresses_checked, wrong = _check_addresses(db, subject_key)
            if wrong:
                result.problems.append(
                    f"{wrong} of {result.addresses_checked} addresses are not those their "
                    "subject refs were made from with this key ring's subject key"
                )
    except db.driver_errors as exc:
        raise db.fail(exc, "checking the restored store") from exc
    finally:
        with contextlib.suppress(Exception):
            db.close()
    result.seconds = time.perf_counter() - started
    return result
