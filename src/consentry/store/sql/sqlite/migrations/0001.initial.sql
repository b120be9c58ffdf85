-- consentry schema 1 (SQLite). The ledger tables refuse UPDATE and DELETE (invariant 4).

-- Every subject ref gets a dense integer id when first seen, so that the per-subject tables
-- below grow at their end instead of taking random keys (append speed). Append-only.
CREATE TABLE subjects (
    id      INTEGER PRIMARY KEY,
    subject TEXT NOT NULL UNIQUE
);

CREATE TABLE ledger_leaves (
    seq       INTEGER PRIMARY KEY,
    kind      TEXT NOT NULL,
    subject_id INTEGER,
    at        TEXT NOT NULL,
    leaf      BLOB NOT NULL,
    leaf_hash BLOB NOT NULL
);
CREATE INDEX ledger_leaves_subject ON ledger_leaves (subject_id) WHERE subject_id IS NOT NULL;

CREATE TABLE ledger_nodes (
    level INTEGER NOT NULL,
    idx   INTEGER NOT NULL,
    hash  BLOB NOT NULL,
    PRIMARY KEY (level, idx)
) WITHOUT ROWID;

CREATE TABLE ledger_checkpoints (
    size       INTEGER PRIMARY KEY,
    root       BLOB NOT NULL,
    note       TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TRIGGER ledger_leaves_no_update BEFORE UPDATE ON ledger_leaves
BEGIN SELECT RAISE(ABORT, 'consentry: ledger_leaves is append-only'); END;
CREATE TRIGGER ledger_leaves_no_delete BEFORE DELETE ON ledger_leaves
BEGIN SELECT RAISE(ABORT, 'consentry: ledger_leaves is append-only'); END;
CREATE TRIGGER ledger_nodes_no_update BEFORE UPDATE ON ledger_nodes
BEGIN SELECT RAISE(ABORT, 'consentry: ledger_nodes is append-only'); END;
CREATE TRIGGER ledger_nodes_no_delete BEFORE DELETE ON ledger_nodes
BEGIN SELECT RAISE(ABORT, 'consentry: ledger_nodes is append-only'); END;
CREATE TRIGGER ledger_checkpoints_no_update BEFORE UPDATE ON ledger_checkpoints
BEGIN SELECT RAISE(ABORT, 'consentry: ledger_checkpoints is append-only'); END;
CREATE TRIGGER ledger_checkpoints_no_delete BEFORE DELETE ON ledger_checkpoints
BEGIN SELECT RAISE(ABORT, 'consentry: ledger_checkpoints is append-only'); END;
CREATE TRIGGER subjects_no_update BEFORE UPDATE ON subjects
BEGIN SELECT RAISE(ABORT, 'consentry: subjects is append-only'); END;
CREATE TRIGGER subjects_no_delete BEFORE DELETE ON subjects
BEGIN SELECT RAISE(ABORT, 'consentry: subjects is append-only'); END;

-- Projections: rebuildable from the ledger (invariant 7).
CREATE TABLE proj_consent (
    subject_id       INTEGER NOT NULL,
    subject          TEXT NOT NULL,
    list_id          TEXT NOT NULL,
    status           TEXT NOT NULL,
    basis            TEXT NOT NULL,
    jurisdiction     TEXT NOT NULL,
    method           TEXT NOT NULL,
    source           TEXT NOT NULL,
    notice           TEXT NOT NULL,
    evidence         TEXT,
    given_at         TEXT NOT NULL,
    valid_until      TEXT,
    confirmed        INTEGER NOT NULL,
    grant_index      INTEGER NOT NULL,
    grant_hash       TEXT NOT NULL,
    justifying_index INTEGER,
    justifying_hash  TEXT,
    changed_index    INTEGER NOT NULL,
    changed_hash     TEXT NOT NULL,
    facts            TEXT NOT NULL,
    record_id        TEXT NOT NULL,
    UNIQUE (subject_id, list_id)
);
CREATE INDEX proj_consent_list ON proj_consent (list_id, subject_id);

CREATE TABLE proj_suppression (
    subject_id INTEGER NOT NULL,
    leaf_index INTEGER NOT NULL,
    scope      TEXT NOT NULL,
    reason     TEXT NOT NULL,
    leaf_hash  TEXT NOT NULL,
    at         TEXT NOT NULL,
    PRIMARY KEY (subject_id, leaf_index)
) WITHOUT ROWID;

CREATE TABLE proj_erased (subject_id INTEGER PRIMARY KEY) WITHOUT ROWID;

CREATE TABLE proj_lists (
    list_id    TEXT PRIMARY KEY,
    purpose    TEXT NOT NULL,
    leaf_index INTEGER NOT NULL,
    leaf_hash  TEXT NOT NULL
);

CREATE TABLE proj_notices (
    notice     TEXT PRIMARY KEY,
    list_id    TEXT NOT NULL,
    version    INTEGER NOT NULL,
    language   TEXT NOT NULL,
    leaf_index INTEGER NOT NULL,
    leaf_hash  TEXT NOT NULL
);

CREATE TABLE proj_organisation (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    settings   TEXT NOT NULL,
    leaf_index INTEGER NOT NULL,
    leaf_hash  TEXT NOT NULL
);

-- Side tables: personal data and texts, outside the hashed leaves; erasure deletes from them.
CREATE TABLE side_addresses (
    subject_id INTEGER PRIMARY KEY,
    literal   TEXT NOT NULL,
    canonical TEXT NOT NULL
);
CREATE TABLE side_evidence (
    subject_id INTEGER NOT NULL,
    hash       TEXT NOT NULL,
    blob       BLOB NOT NULL,
    PRIMARY KEY (subject_id, hash)
) WITHOUT ROWID;
CREATE TABLE side_notice_texts (
    hash       TEXT PRIMARY KEY,
    text       TEXT NOT NULL,
    media_type TEXT NOT NULL
);
