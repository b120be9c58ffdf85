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
