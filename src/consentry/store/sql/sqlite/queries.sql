-- SQLite-only queries (override common.sql by name).

-- name: begin_write
BEGIN IMMEDIATE;

-- name: begin_plain
BEGIN IMMEDIATE;

-- The gate's audience rows, in the layout of consentry.domain.policy_bulk.ROW_COLUMNS. given_ok:
-- the one spelling format_time writes, with the hour, minute and second in range.
-- name: audience_rows
SELECT s.subject, c.status, c.basis, c.jurisdiction, c.source, c.evidence IS NULL,
    substr(c.given_at, 1, 10),
    c.given_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'
        AND substr(c.given_at, 12, 2) < '24',
    c.valid_until, c.confirmed, c.justifying_index IS NULL, c.facts,
    NULL, NULL, NULL, NULL, c.given_at,
    c.grant_index, c.grant_hash, c.justifying_index, c.justifying_hash, NULL,
    c.subject_id IS NULL OR EXISTS (SELECT 1 FROM proj_suppression p
        WHERE p.subject_id = s.id AND p.scope IN ('*', ?))
FROM subjects s LEFT JOIN proj_consent c ON c.subject_id = s.id AND c.list_id = ?
WHERE s.subject IN ({subjects});

-- A page of the list's audience rows (keyset on the subject id, the last column).
-- name: list_rows
SELECT c.subject, c.status, c.basis, c.jurisdiction, c.source, c.evidence IS NULL,
    substr(c.given_at, 1, 10),
    c.given_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'
        AND substr(c.given_at, 12, 2) < '24',
    c.valid_until, c.confirmed, c.justifying_index IS NULL, c.facts,
    NULL, NULL, NULL, NULL, c.given_at,
    c.grant_index, c.grant_hash, c.justifying_index, c.justifying_hash, NULL,
    EXISTS (SELECT 1 FROM proj_suppression p
        WHERE p.subject_id = c.subject_id AND p.scope IN ('*', ?)),
    c.subject_id
FROM proj_consent c WHERE c.list_id = ? AND c.subject_id > ? ORDER BY c.subject_id LIMIT ?;
