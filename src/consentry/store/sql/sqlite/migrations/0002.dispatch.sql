-- depends: 0001.initial
-- consentry schema 2 (SQLite): campaigns, their approvals, the dispatch queue and the kill switch.
-- These are operational tables written in the same transaction as the leaves that justify them
-- (campaign-created, campaign-approved, send-decided, send-handed-off); counts of sent, denied,
-- failed and uncertain messages can be recomputed from those leaves.

CREATE TABLE campaigns (
    campaign_id    TEXT PRIMARY KEY,
    list_id        TEXT NOT NULL,
    template_class TEXT NOT NULL,
    jurisdiction   TEXT NOT NULL,
    state          TEXT NOT NULL,
    spec           TEXT NOT NULL,
    content_hash   TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    created_index  INTEGER NOT NULL
);

CREATE TABLE campaign_approvals (
    campaign_id TEXT NOT NULL,
    actor       TEXT NOT NULL,
    report      TEXT NOT NULL,
    recipients  INTEGER NOT NULL,
    leaf_index  INTEGER NOT NULL,
    PRIMARY KEY (campaign_id, leaf_index)
);

-- One row per recipient of a campaign. state: queued, claimed, decided, sent, denied,
-- rejected, failed, uncertain. attempts counts decisions taken for the row.
CREATE TABLE campaign_messages (
    campaign_id   TEXT NOT NULL,
    subject_id    INTEGER NOT NULL,
    state         TEXT NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    not_before    TEXT,
    claimed_by    TEXT,
    decided_index INTEGER,
    outcome_index INTEGER,
    reply         TEXT,
    PRIMARY KEY (campaign_id, subject_id)
) WITHOUT ROWID;
CREATE INDEX campaign_messages_state ON campaign_messages (campaign_id, state, subject_id);

CREATE TABLE dispatch_workers (
    worker_id   TEXT PRIMARY KEY,
    campaign_id TEXT NOT NULL,
    seen_at     TEXT NOT NULL
);

CREATE TABLE dispatch_controls (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE INDEX ledger_leaves_kind_seq ON ledger_leaves (kind, seq);
