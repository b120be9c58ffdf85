-- PostgreSQL-only queries (override common.sql by name).

-- name: begin_write
SELECT pg_advisory_xact_lock(7310252771364861001);

-- One array parameter instead of hundreds of placeholders: the text stays the same, so psycopg
-- and the server prepare it once.

-- name: subject_ids
SELECT id, subject FROM subjects WHERE subject = ANY(?);

-- name: consents_for_ids
SELECT subject, list_id, status, basis, jurisdiction, method, source, notice, evidence, given_at,
    valid_until, confirmed, grant_index, grant_hash, justifying_index, justifying_hash,
    changed_index, changed_hash, facts, record_id
FROM proj_consent WHERE subject_id = ANY(?);

-- name: suppressions_for_ids
SELECT subject_id, leaf_index, scope, reason, leaf_hash, at FROM proj_suppression
WHERE subject_id = ANY(?) ORDER BY subject_id, leaf_index;

-- name: erased_among_ids
SELECT subject_id FROM proj_erased WHERE subject_id = ANY(?);

-- Any number of workers claim at once; each skips the rows another holds.
-- name: claim_messages
UPDATE campaign_messages SET state = 'claimed', claimed_by = ?
WHERE campaign_id = ? AND subject_id IN (
    SELECT subject_id FROM campaign_messages
    WHERE campaign_id = ? AND state = 'queued' AND (not_before IS NULL OR not_before <= ?)
    ORDER BY subject_id LIMIT ? FOR UPDATE SKIP LOCKED)
RETURNING subject_id, attempts;

-- name: begin_plain
BEGIN;

-- name: claimed_details
SELECT m.subject_id, s.subject, a.literal, a.canonical, m.attempts, m.decided_index
FROM campaign_messages m JOIN subjects s ON s.id = m.subject_id
LEFT JOIN side_addresses a ON a.subject_id = m.subject_id
WHERE m.campaign_id = ? AND m.subject_id = ANY(?)
ORDER BY m.subject_id;
