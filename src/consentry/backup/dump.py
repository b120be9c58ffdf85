"""Reading a store for a backup, inside one read transaction: what it holds (``survey``) and its
sections as container lines (``sections``), each with its row count and SHA-256.

The same code reads a restored store back, so that a restore can check that every table it
wrote reads back exactly as the backup held it, whatever the two dialects.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from consentry.backup import container
from consentry.backup.db import Database
from consentry.backup.tables import (
    LEDGER_TABLES,
    ROW_TABLES,
    SUBJECTS,
    Table,
    expected_columns,
    unknown_tables,
)
from consentry.domain.errors import StoreError
from consentry.domain.merkle import TiledSource
from consentry.domain.merkle import root as merkle_root


@dataclass
class Digest:
    """A section as written: rows (leaves, for the ledger), checkpoints, SHA-256 of its rows."""

    rows: int = 0
    checkpoints: int = 0
    sha256: str = ""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"rows": self.rows, "sha256": self.sha256}
        if self.checkpoints:
            out["checkpoints"] = self.checkpoints
        return out


@dataclass
class Survey:
    """What a store holds, read at the start of the snapshot (the manifest's facts)."""

    dialect: str
    size: int
    root: bytes
    checkpoints: int
    latest: dict[str, Any] | None
    tables: list[Table]
    counts: dict[str, int]
    organisation: dict[str, Any] | None
    state: dict[str, Any]
    migrations: list[str] = field(default_factory=list)


def check_schema(db: Database) -> list[Table]:
    """The row tables present; refuses tables and columns the format does not know."""
    present = db.tables()
    if "ledger_leaves" not in present:
        raise StoreError(f"{db.location.shown} is not a consentry store (no ledger_leaves table)")
    unknown = unknown_tables(present)
    if unknown:
        raise StoreError(
            f"{db.location.shown} has tables this backup format does not know: "
            f"{', '.join(unknown)}; a backup would lose them, so none was made "
            "(consentry.backup.tables must learn them first)"
        )
    for table in sorted(present):
        want = expected_columns(table)
        if want is None:
            continue
        have = db.columns(table)
        if set(have) != set(want):
            extra, missing = sorted(set(have) - set(want)), sorted(set(want) - set(have))
            raise StoreError(
                f"table {table} has columns {extra} that the backup format does not know and "
                f"lacks {missing}; no backup was made"
            )
    missing_tables = [t.name for t in ROW_TABLES if not t.optional and t.name not in present]
    missing_tables += [t for t in ("subjects", *LEDGER_TABLES) if t not in present]
    if missing_tables:
        raise StoreError(f"{db.location.shown} lacks the tables {', '.join(missing_tables)}")
    return [t for t in ROW_TABLES if t.name in present]


def tree_root(db: Database, size: int) -> bytes:
    def leaf_hashes(start: int, end: int) -> list[bytes]:
        sql = "SELECT leaf_hash FROM ledger_leaves WHERE seq >= ? AND seq < ? ORDER BY seq"
        return [bytes(r[0]) for r in db.all(sql, (start, end))]

    def stored_nodes(level: int, start: int, end: int) -> list[bytes]:
        sql = "SELECT hash FROM ledger_nodes WHERE level = ? AND idx >= ? AND idx < ? ORDER BY idx"
        return [bytes(r[0]) for r in db.all(sql, (level, start, end))]

    return merkle_root(TiledSource(leaf_hashes, stored_nodes), size)


def state_summary(db: Database) -> dict[str, Any]:
    """Counts of the projections: what a restore's rebuild from the leaves must give again."""
    consents = {s: int(n) for s, n in db.all(
        "SELECT status, COUNT(*) FROM proj_consent GROUP BY status"
    )}  # fmt: skip
    return {
        "consents": dict(sorted(consents.items())),
        "suppressions": db.count("proj_suppression"),
        "erased": db.count("proj_erased"),
        "lists": db.count("proj_lists"),
        "notices": db.count("proj_notices"),
    }


def organisation(db: Database) -> dict[str, Any] | None:
    row = db.one("SELECT settings, leaf_index, leaf_hash FROM proj_organisation WHERE id = 1")
    if row is None:
        return None
    return {"settings": json.loads(row[0]), "leaf_index": int(row[1]), "leaf_hash": row[2]}


def survey(db: Database) -> Survey:
    """The facts of the snapshot; call inside the read transaction, before ``sections``."""
    tables = check_schema(db)
    size = int(db.one("SELECT COALESCE(MAX(seq) + 1, 0) FROM ledger_leaves")[0])
    latest_row = db.one(
        "SELECT size, root, note FROM ledger_checkpoints ORDER BY size DESC LIMIT 1"
    )
    latest = None
    if latest_row is not None:
        latest = {"size": int(latest_row[0]), "root": bytes(latest_row[1]).hex(),
                  "note": latest_row[2]}  # fmt: skip
    counts = {t.name: db.count(t.name) for t in (SUBJECTS, *tables)}
    migrations: list[str] = []
    if "_yoyo_migration" in db.tables():
        migrations = [r[0] for r in db.all("SELECT migration_id FROM _yoyo_migration")]
    return Survey(
        dialect=db.dialect, size=size, root=tree_root(db, size),
        checkpoints=db.count("ledger_checkpoints"), latest=latest, tables=tables,
        counts=counts, organisation=organisation(db), state=state_summary(db),
        migrations=sorted(migrations),
    )  # fmt: skip


def _order(db: Database, table: Table) -> str:
    text = {c.name for c in table.columns if c.type == "text"}
    return ", ".join(db.text_key(k) if k in text else k for k in table.key)


def table_lines(db: Database, table: Table) -> Iterator[bytes]:
    """The rows of a table as container lines, a chunk at a time."""
    sql = f"SELECT {', '.join(table.column_names)} FROM {table.name} ORDER BY {_order(db, table)}"
    for rows in db.stream(sql):
        yield container.encode_rows(table, rows)


def ledger_lines(db: Database, size: int) -> Iterator[tuple[bytes, int, int]]:
    """(lines, leaves, checkpoints) chunks of the ledger section: the leaves in order, each
    checkpoint right after the leaf that brings the tree to its size."""
    cps = (
        row
        for rows in db.stream(
            "SELECT size, root, note, created_at FROM ledger_checkpoints ORDER BY size"
        )
        for row in rows
    )
    cp = next(cps, None)
    expected = 0

    def due(upto: int) -> Iterator[bytes]:
        nonlocal cp
        while cp is not None and int(cp[0]) <= upto:
            yield container.encode_checkpoint(int(cp[0]), bytes(cp[1]), cp[2], cp[3])
            cp = next(cps, None)

    leaves_sql = "SELECT seq, leaf FROM ledger_leaves WHERE seq < ? ORDER BY seq"
    for rows in db.stream(leaves_sql, (size,)):
        first, last = int(rows[0][0]), int(rows[-1][0])
        if first != expected or last - first + 1 != len(rows):
            raise StoreError(
                f"the ledger has a gap near leaf {expected}: run 'consentry ledger verify'; "
                "no backup was made"
            )
        if cp is None or int(cp[0]) > last:  # the common case: no checkpoint inside the chunk
            lines = b"\n".join([bytes(r[1]) for r in rows]) + b"\n"
            head = b"".join(due(expected))
            yield head + lines, len(rows), head.count(b"\n")
        else:
            parts: list[bytes] = []
            checkpoints = 0
            for seq, leaf in rows:
                for line in due(int(seq)):
                    parts.append(line)
                    checkpoints += 1
                parts.append(bytes(leaf) + b"\n")
            yield b"".join(parts), len(rows), checkpoints
        expected = last + 1
    tail = list(due(1 << 62))
    if tail:
        yield b"".join(tail), 0, len(tail)


def sections(
    db: Database, found: Survey, write: Callable[[bytes], None],
    control: Callable[[bytes], None] | None = None,
) -> dict[str, Digest]:  # fmt: skip
    """Write every section through ``write``: its rows, and its start and end records through
    ``control`` (default ``write``). Returns the sections' digests."""
    digests: dict[str, Digest] = {}
    mark = control or write

    def one(name: str, start: bytes, chunks: Iterator[tuple[bytes, int, int]]) -> None:
        digest, sha = Digest(), hashlib.sha256()
        mark(start)
        for data, rows, checkpoints in chunks:
            sha.update(data)
            write(data)
            digest.rows += rows
            digest.checkpoints += checkpoints
        digest.sha256 = sha.hexdigest()
        mark(container.section_end(name, **digest.to_json()))
        digests[name] = digest

    def counted(lines: Iterator[bytes]) -> Iterator[tuple[bytes, int, int]]:
        for data in lines:
            yield data, data.count(b"\n"), 0

    subjects = SUBJECTS
    one(subjects.name, container.section_start(
        subjects.name, columns=subjects.column_names, rows=found.counts[subjects.name]
    ), counted(table_lines(db, subjects)))  # fmt: skip
    one(container.LEDGER, container.section_start(
        container.LEDGER, leaves=found.size, checkpoints=found.checkpoints,
        columns={"checkpoint": ["size", "root", "note", "created_at"], "leaf": "leaf bytes"},
    ), ledger_lines(db, found.size))  # fmt: skip
    for table in found.tables:
        one(table.name, container.section_start(
            table.name, columns=table.column_names, rows=found.counts[table.name]
        ), counted(table_lines(db, table)))  # fmt: skip
    return digests
