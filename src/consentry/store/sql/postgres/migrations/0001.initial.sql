-- consentry schema 1 (PostgreSQL). The ledger tables refuse UPDATE and DELETE (invariant 4).

-- Every subject ref gets a dense integer id when first seen, so that the per-subject tables
-- below grow at their end instead of taking random keys (append speed). Append-only.
CREATE TABLE subjects (
    id      BIGINT PRIMARY KEY,
    subject TEXT NOT NULL UNIQUE
);

CREATE TABLE ledger_leaves (
    seq       BIGINT PRIMARY KEY,
    kind      TEXT NOT NULL,
    subject_id BIGINT,
    at        TEXT NOT NULL,
    leaf      BYTEA NOT NULL,
    leaf_hash BYTEA NOT NULL
);
CREATE INDEX ledger_leaves_subject ON ledger_leaves (subject_id) WHERE subject_id IS NOT NULL;

CREATE TABLE ledger_nodes (
    level INTEGER NOT NULL,
    idx   BIGINT NOT NULL,
    hash  BYTEA NOT NULL,
    PRIMARY KEY (level, idx)
);

CREATE TABLE ledger_checkpoints (
    size       BIGINT PRIMARY KEY,
    root       BYTEA NOT NULL,
    note       TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE FUNCTION consentry_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'consentry: % is append-only', TG_TABLE_NAME
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$;

CREATE TRIGGER ledger_leaves_append_only BEFORE UPDATE OR DELETE ON ledger_leaves
    FOR EACH ROW EXECUTE FUNCTION consentry_refuse_change();
CREATE TRIGGER ledger_leaves_no_truncate BEFORE TRUNCATE ON ledger_leaves
    FOR EACH STATEMENT EXECUTE FUNCTION consentry_refuse_change();
CREATE TRIGGER ledger_nodes_append_only BEFORE UPDATE OR DELETE ON ledger_nodes
    FOR EACH ROW EXECUTE FUNCTION consentry_refuse_change();
CREATE TRIGGER ledger_nodes_no_truncate BEFORE TRUNCATE ON ledger_nodes
    FOR EACH STATEMENT EXECUTE FUNCTION consentry_refuse_change();
CREATE TRIGGER ledger_checkpoints_append_only BEFORE UPDATE OR DELETE ON ledger_checkpoints
    FOR EACH ROW EXECUTE FUNCTION consentry_refuse_change();
CREATE TRIGGER ledger_checkpoints_no_truncate BEFORE TRUNCATE ON ledger_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION consentry_refuse_change();
CREATE TRIGGER subjects_append_only BEFORE UPDATE OR DELETE ON subjects
    FOR EACH ROW EXECUTE FUNCTION consentry_refuse_change();
CREATE TRIGGER subjects_no_truncate BEFORE TRUNCATE ON subjects
    FOR EACH STATEMENT EXECUTE FUNCTION consentry_refuse_change();

CREATE TABLE proj_consent (
    subject_id       BIGINT NOT NULL,
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
    confirmed        BOOLEAN NOT NULL,
    grant_index      BIGINT NOT NULL,
    grant_hash       TEXT NOT NULL,
    justifying_index BIGINT,
    justifying_hash  TEXT,
    changed_index    BIGINT NOT NULL,
    changed_hash     TEXT NOT NULL,
    facts            TEXT NOT NULL,
    record_id        TEXT NOT NULL,
    PRIMARY KEY (subject_id, list_id)
);
CREATE INDEX proj_consent_list ON proj_consent (list_id, subject_id);

CREATE TABLE proj_suppression (
    subject_id BIGINT NOT NULL,
    leaf_index BIGINT NOT NULL,
    scope      TEXT NOT NULL,
    reason     TEXT NOT NULL,
    leaf_hash  TEXT NOT NULL,
    at         TEXT NOT NULL,
    PRIMARY KEY (subject_id, leaf_index)
);

CREATE TABLE proj_erased (subject_id BIGINT PRIMARY KEY);

CREATE TABLE proj_lists (
    list_id    TEXT PRIMARY KEY,
    purpose    TEXT NOT NULL,
    leaf_index BIGINT NOT NULL,
    leaf_hash  TEXT NOT NULL
);

CREATE TABLE proj_notices (
    notice     TEXT PRIMARY KEY,
    list_id    TEXT NOT NULL,
    version    INTEGER NOT NULL,
    language   TEXT NOT NULL,
    leaf_index BIGINT NOT NULL,
    leaf_hash  TEXT NOT NULL
);

CREATE TABLE proj_organisation (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    settings   TEXT NOT NULL,
    leaf_index BIGINT NOT NULL,
    leaf_hash  TEXT NOT NULL
);

CREATE TABLE side_addresses (
    subject_id BIGINT PRIMARY KEY,
    literal   TEXT NOT NULL,
    canonical TEXT NOT NULL
);
CREATE TABLE side_evidence (
    subject_id BIGINT NOT NULL,
    hash       TEXT NOT NULL,
    blob       BYTEA NOT NULL,
    PRIMARY KEY (subject_id, hash)
);
CREATE TABLE side_notice_texts (
    hash       TEXT PRIMARY KEY,
    text       TEXT NOT NULL,
    media_type TEXT NOT NULL
);
