-- PostgreSQL-only queries (override common.sql by name).

-- name: begin_write
SELECT pg_advisory_xact_lock(7310252771364861001);

-- name: list_states
SELECT c.subject, c.list_id, c.status, c.basis, c.jurisdiction, c.method, c.source, c.notice,
    c.evidence, c.given_at, c.valid_until, c.confirmed, c.grant_index, c.grant_hash,
    c.justifying_index, c.justifying_hash, c.changed_index, c.changed_hash, c.facts, c.record_id,
    (SELECT string_agg(s.leaf_index::text || ' ' || s.scope || ' ' || s.reason || ' '
                       || s.leaf_hash || ' ' || s.at, '|')
     FROM proj_suppression s WHERE s.subject = c.subject AND s.scope IN ('*', c.list_id)),
    EXISTS (SELECT 1 FROM proj_erased e WHERE e.subject = c.subject)
FROM proj_consent c WHERE c.list_id = ? AND c.subject > ? ORDER BY c.subject LIMIT ?;

-- One array parameter instead of hundreds of placeholders: the text stays the same, so psycopg
-- and the server prepare it once.

-- name: consents_for_subjects
SELECT subject, list_id, status, basis, jurisdiction, method, source, notice, evidence, given_at,
    valid_until, confirmed, grant_index, grant_hash, justifying_index, justifying_hash,
    changed_index, changed_hash, facts, record_id
FROM proj_consent WHERE subject = ANY(?);

-- name: suppressions_for_subjects
SELECT subject, leaf_index, scope, reason, leaf_hash, at FROM proj_suppression
WHERE subject = ANY(?) ORDER BY subject, leaf_index;

-- name: erased_among
SELECT subject FROM proj_erased WHERE subject = ANY(?);
