"""Which tables a backup holds, their columns and how each column is encoded.

The backup format (version 1) names every column it carries. Derived data is left out and
rebuilt on restore: the projections (``proj_*``, from the leaves) and the stored Merkle nodes
(``ledger_nodes``, from the leaf hashes); so are the dispatch workers' heartbeats, which mean
nothing in another process. A table or column that is in the database but not here stops a
backup with an error naming it (``unknown_tables``): a record this format does not know would
otherwise be lost without a word.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Column types of the container: JSON integers, strings, booleans, and bytes as base64.
INT, TEXT, BOOL, BYTES = "int", "text", "bool", "bytes"


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    nullable: bool = False


@dataclass(frozen=True)
class Table:
    """A table copied row for row, in primary-key order (text keys compared byte by byte)."""

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    #: Absent from some schemas (added by a later migration): skipped when missing.
    optional: bool = False

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def plain(self) -> bool:
        """True when every column encodes as itself in JSON (no bytes, no booleans)."""
        return all(c.type in (INT, TEXT) for c in self.columns)


def _cols(*spec: str) -> tuple[Column, ...]:
    """``"name:type"`` or ``"name:type?"`` (nullable)."""
    out = []
    for item in spec:
        name, kind = item.split(":")
        out.append(Column(name, kind.rstrip("?"), kind.endswith("?")))
    return tuple(out)


SUBJECTS = Table("subjects", _cols("id:int", "subject:text"), ("id",))

#: The ledger section interleaves leaves (each line exactly the leaf's bytes) with the
#: checkpoints, each right after the leaf that brings the tree to its size.
CHECKPOINT_COLUMNS = _cols("size:int", "root:bytes", "note:text", "created_at:text")

SIDE_TABLES = (
    Table("side_addresses", _cols("subject_id:int", "literal:text", "canonical:text"),
          ("subject_id",)),
    Table("side_evidence", _cols("subject_id:int", "hash:text", "blob:bytes"),
          ("subject_id", "hash")),
    Table("side_notice_texts", _cols("hash:text", "text:text", "media_type:text"), ("hash",)),
)  # fmt: skip

OPERATIONAL_TABLES = (
    Table("campaigns", _cols(
        "campaign_id:text", "list_id:text", "template_class:text", "jurisdiction:text",
        "state:text", "spec:text", "content_hash:text", "created_at:text", "created_index:int",
    ), ("campaign_id",)),
    Table("campaign_approvals", _cols(
        "campaign_id:text", "actor:text", "report:text", "recipients:int", "leaf_index:int",
    ), ("campaign_id", "leaf_index")),
    Table("campaign_messages", _cols(
        "campaign_id:text", "subject_id:int", "state:text", "attempts:int", "not_before:text?",
        "claimed_by:text?", "decided_index:int?", "outcome_index:int?", "reply:text?",
    ), ("campaign_id", "subject_id")),
    Table("dispatch_controls", _cols("name:text", "value:text"), ("name",)),
    Table("api_tokens", _cols(
        "name:text", "token_hash:text", "scope:text", "created_at:text", "revoked_at:text?",
        "last_used_at:text?",
    ), ("name",), optional=True),
)  # fmt: skip

#: The copied tables after the ledger section, in the order they appear in a backup.
ROW_TABLES: tuple[Table, ...] = SIDE_TABLES + OPERATIONAL_TABLES
TABLES_BY_NAME = {t.name: t for t in (SUBJECTS, *ROW_TABLES)}

LEDGER_TABLES = ("ledger_leaves", "ledger_checkpoints")
LEDGER_LEAF_COLUMNS = ("seq", "kind", "subject_id", "at", "leaf", "leaf_hash")
LEDGER_CHECKPOINT_COLUMNS = tuple(c.name for c in CHECKPOINT_COLUMNS)

#: Left out on purpose: rebuilt on restore, or meaningless elsewhere (see the module docstring).
DERIVED = (
    "ledger_nodes", "proj_consent", "proj_suppression", "proj_erased", "proj_lists",
    "proj_notices", "proj_organisation", "dispatch_workers",
)  # fmt: skip
#: The migration tool's bookkeeping (a restored store is migrated by opening it).
MIGRATION_TABLES = ("_yoyo_migration", "_yoyo_log", "_yoyo_version", "yoyo_lock")

#: Every table a restore needs empty.
ALL_STORE_TABLES = (
    "subjects", *LEDGER_TABLES, *(t.name for t in ROW_TABLES), *DERIVED,
)  # fmt: skip


def unknown_tables(present: set[str]) -> list[str]:
    """Tables in a database that this format neither copies nor knowingly leaves out."""
    known = {"subjects", *LEDGER_TABLES, *TABLES_BY_NAME, *DERIVED, *MIGRATION_TABLES}
    return sorted(present - known)


def expected_columns(table: str) -> list[str] | None:
    """The columns the format reads from ``table`` (None for tables it does not read)."""
    if table == "ledger_leaves":
        return list(LEDGER_LEAF_COLUMNS)
    if table == "ledger_checkpoints":
        return list(LEDGER_CHECKPOINT_COLUMNS)
    spec = TABLES_BY_NAME.get(table)
    return spec.column_names if spec else None
