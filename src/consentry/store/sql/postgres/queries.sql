-- PostgreSQL-only queries (override common.sql by name).

-- One lock per store (schema): stores in other schemas of the same database append in parallel.
-- name: begin_write
SELECT pg_advisory_xact_lock(7310252771364861001 # hashtext(current_schema())::bigint);

-- One array parameter instead of hundreds of placeholders: the text stays the same, so psycopg
-- and the server prepare it once.

-- name: subject_ids
SELECT id, subject FROM subjects WHERE subject = ANY(?);

-- An append's subject ids in one round trip, sent before the append encodes its leaves: the ids
-- of the refs that have one (old = true), and the next ids, in the order given, for the rest,
-- inserted here. Only inside the write lock (the new ids are MAX + 1, 2, ...); the refs given
-- are distinct.
-- name: ensure_subject_ids
WITH wanted AS (SELECT s, o FROM unnest(?::text[]) WITH ORDINALITY AS u(s, o)),
known AS (SELECT x.id, w.s FROM wanted w JOIN subjects x ON x.subject = w.s),
fresh AS (
    SELECT (SELECT COALESCE(MAX(id), 0) FROM subjects) + row_number() OVER (ORDER BY w.o) AS id,
        w.s
    FROM wanted w WHERE NOT EXISTS (SELECT 1 FROM known k WHERE k.s = w.s)),
added AS (INSERT INTO subjects (id, subject) SELECT id, s FROM fresh)
SELECT id, s, true FROM known UNION ALL SELECT id, s, false FROM fresh;

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

-- Many rows in one statement: a statement named NAME_unnest takes one array per column and
-- replaces the row-at-a-time NAME in `_many` (PostgresStore), so a batch of 1,000 leaves costs a
-- handful of statements instead of thousands. `_many` keeps only the last row per key where a
-- statement upserts (`put_consent`), as row-at-a-time execution would have left it.

-- name: add_subject_unnest
INSERT INTO subjects (id, subject) SELECT * FROM unnest(?::bigint[], ?::text[]);

-- name: insert_leaf_unnest
INSERT INTO ledger_leaves (seq, kind, subject_id, at, leaf, leaf_hash)
SELECT * FROM unnest(?::bigint[], ?::text[], ?::bigint[], ?::text[], ?::bytea[], ?::bytea[]);

-- name: insert_node_unnest
INSERT INTO ledger_nodes (level, idx, hash) SELECT * FROM unnest(?::integer[], ?::bigint[], ?::bytea[]);

-- name: put_address_unnest
INSERT INTO side_addresses (subject_id, literal, canonical)
SELECT * FROM unnest(?::bigint[], ?::text[], ?::text[])
ON CONFLICT (subject_id) DO NOTHING;

-- name: put_evidence_unnest
INSERT INTO side_evidence (subject_id, hash, blob)
SELECT * FROM unnest(?::bigint[], ?::text[], ?::bytea[])
ON CONFLICT (subject_id, hash) DO NOTHING;

-- The rows of subjects that this append gave their ids (`_many`'s fresh_from): nothing can be
-- in the way, so a plain INSERT.
-- name: put_address_fresh_unnest
INSERT INTO side_addresses (subject_id, literal, canonical)
SELECT * FROM unnest(?::bigint[], ?::text[], ?::text[]);

-- name: put_evidence_fresh_unnest
INSERT INTO side_evidence (subject_id, hash, blob)
SELECT * FROM unnest(?::bigint[], ?::text[], ?::bytea[]);

-- name: put_consent_fresh_unnest
INSERT INTO proj_consent (subject_id, subject, list_id, status, basis, jurisdiction, method,
    source, notice, evidence, given_at, valid_until, confirmed, grant_index, grant_hash,
    justifying_index, justifying_hash, changed_index, changed_hash, facts, record_id)
SELECT * FROM unnest(?::bigint[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[],
    ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::boolean[], ?::bigint[],
    ?::text[], ?::bigint[], ?::text[], ?::bigint[], ?::text[], ?::text[], ?::text[]);

-- name: add_suppression_unnest
INSERT INTO proj_suppression (subject_id, leaf_index, scope, reason, leaf_hash, at)
SELECT * FROM unnest(?::bigint[], ?::bigint[], ?::text[], ?::text[], ?::text[], ?::text[]);

-- name: put_consent_unnest
INSERT INTO proj_consent (subject_id, subject, list_id, status, basis, jurisdiction, method,
    source, notice, evidence, given_at, valid_until, confirmed, grant_index, grant_hash,
    justifying_index, justifying_hash, changed_index, changed_hash, facts, record_id)
SELECT * FROM unnest(?::bigint[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[],
    ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::boolean[], ?::bigint[],
    ?::text[], ?::bigint[], ?::text[], ?::bigint[], ?::text[], ?::text[], ?::text[])
ON CONFLICT (subject_id, list_id) DO UPDATE SET status = excluded.status, basis = excluded.basis,
    jurisdiction = excluded.jurisdiction, method = excluded.method, source = excluded.source,
    notice = excluded.notice, evidence = excluded.evidence, given_at = excluded.given_at,
    valid_until = excluded.valid_until, confirmed = excluded.confirmed,
    grant_index = excluded.grant_index, grant_hash = excluded.grant_hash,
    justifying_index = excluded.justifying_index, justifying_hash = excluded.justifying_hash,
    changed_index = excluded.changed_index, changed_hash = excluded.changed_hash,
    facts = excluded.facts, record_id = excluded.record_id;

-- name: end_consent_list_unnest
UPDATE proj_consent c SET status = u.status, changed_index = u.idx, changed_hash = u.hash
FROM unnest(?::text[], ?::bigint[], ?::text[], ?::bigint[], ?::text[])
    AS u(status, idx, hash, subject_id, list_id)
WHERE c.subject_id = u.subject_id AND c.list_id = u.list_id;

-- name: end_consent_all_unnest
UPDATE proj_consent c SET status = u.status, changed_index = u.idx, changed_hash = u.hash
FROM unnest(?::text[], ?::bigint[], ?::text[], ?::bigint[]) AS u(status, idx, hash, subject_id)
WHERE c.subject_id = u.subject_id;

-- name: update_message_unnest
UPDATE campaign_messages m SET state = u.state, attempts = COALESCE(u.attempts, m.attempts),
    not_before = u.not_before, reply = COALESCE(u.reply, m.reply),
    decided_index = CASE WHEN u.kind = 'send-decided' THEN u.seq ELSE m.decided_index END,
    outcome_index = CASE WHEN u.kind2 = 'send-handed-off' THEN u.seq2 ELSE m.outcome_index END,
    claimed_by = CASE WHEN u.state2 IN ('claimed', 'decided', 'handing') THEN m.claimed_by END
FROM unnest(?::text[], ?::integer[], ?::text[], ?::text[], ?::text[], ?::bigint[], ?::text[],
    ?::bigint[], ?::text[], ?::text[], ?::bigint[])
    AS u(state, attempts, not_before, reply, kind, seq, kind2, seq2, state2, campaign_id,
         subject_id)
WHERE m.campaign_id = u.campaign_id AND m.subject_id = u.subject_id;

-- name: mark_handing_unnest
UPDATE campaign_messages m SET state = 'handing'
FROM unnest(?::text[], ?::bigint[]) AS u(campaign_id, subject_id)
WHERE m.campaign_id = u.campaign_id AND m.subject_id = u.subject_id AND m.state = 'decided';

-- The gate's audience rows (consentry.domain.policy_bulk.ROW_COLUMNS) for an audience loaded
-- into the table consentry_audience (renamed per read), plus the subject id (NULL: unknown).
-- given_ok: the one spelling format_time writes, with the hour, minute and second in range (27
-- characters with the separators in place and ASCII digits everywhere else: a regular expression
-- cost about 3 us a row, a third of the whole read). The suppressions in scope are a join (an
-- EXISTS per row would keep the join from running in parallel); of a subject with exactly one,
-- the row says what the policy reads of it.
-- name: audience_rows
SELECT a.subject, c.status, c.basis, c.jurisdiction, c.source, c.evidence IS NULL,
    substr(c.given_at, 1, 10),
    c.given_at LIKE '____-__-__T__:__:__.______Z'
        AND translate(c.given_at, '0123456789', '') = '--T::.Z'
        AND substr(c.given_at, 12, 2) COLLATE "C" <= '23'
        AND substr(c.given_at, 15, 2) COLLATE "C" <= '59'
        AND substr(c.given_at, 18, 2) COLLATE "C" <= '59',
    c.valid_until, c.confirmed, c.justifying_index IS NULL, c.facts,
    p.reason, p.scope = '*', c.grant_index > p.leaf_index,
    CASE WHEN p.leaf_index IS NOT NULL THEN COALESCE(c.justifying_index > p.leaf_index, false) END,
    c.given_at, c.grant_index, c.grant_hash, c.justifying_index, c.justifying_hash, p.leaf_index,
    c.subject_id IS NULL OR COALESCE(p.n > 1, false),
    s.id
FROM consentry_audience a LEFT JOIN subjects s ON s.subject = a.subject
LEFT JOIN proj_consent c ON c.subject_id = s.id AND c.list_id = ?
LEFT JOIN (
    SELECT subject_id, count(*) AS n, min(leaf_index) AS leaf_index, min(reason) AS reason,
        min(scope) AS scope
    FROM proj_suppression WHERE scope IN ('*', ?) GROUP BY subject_id
) p ON p.subject_id = s.id;

-- Everyone's audience rows on a list, in one statement (as audience_rows), with the subject id.
-- name: list_rows_all
SELECT c.subject, c.status, c.basis, c.jurisdiction, c.source, c.evidence IS NULL,
    substr(c.given_at, 1, 10),
    c.given_at LIKE '____-__-__T__:__:__.______Z'
        AND translate(c.given_at, '0123456789', '') = '--T::.Z'
        AND substr(c.given_at, 12, 2) COLLATE "C" <= '23'
        AND substr(c.given_at, 15, 2) COLLATE "C" <= '59'
        AND substr(c.given_at, 18, 2) COLLATE "C" <= '59',
    c.valid_until, c.confirmed, c.justifying_index IS NULL, c.facts,
    p.reason, p.scope = '*', c.grant_index > p.leaf_index,
    CASE WHEN p.leaf_index IS NOT NULL THEN COALESCE(c.justifying_index > p.leaf_index, false) END,
    c.given_at, c.grant_index, c.grant_hash, c.justifying_index, c.justifying_hash, p.leaf_index,
    COALESCE(p.n > 1, false),
    c.subject_id
FROM proj_consent c
LEFT JOIN (
    SELECT subject_id, count(*) AS n, min(leaf_index) AS leaf_index, min(reason) AS reason,
        min(scope) AS scope
    FROM proj_suppression WHERE scope IN ('*', ?) GROUP BY subject_id
) p ON p.subject_id = c.subject_id
WHERE c.list_id = ?;
