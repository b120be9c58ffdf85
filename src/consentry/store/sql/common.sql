-- Named queries shared by the SQL stores. Placeholders are '?'; the PostgreSQL store rewrites
-- them to '%s' when it loads this file. A dialect's own queries.sql overrides a name here.
-- Per-subject tables are keyed by subjects.id (dense, in order of first sight); the subject ref
-- itself lives in `subjects` (and, for reading without a join, in proj_consent).

-- name: size
SELECT COALESCE(MAX(seq) + 1, 0) FROM ledger_leaves;

-- name: last_at
SELECT at FROM ledger_leaves ORDER BY seq DESC LIMIT 1;

-- name: max_subject_id
SELECT COALESCE(MAX(id), 0) FROM subjects;

-- name: add_subject
INSERT INTO subjects (id, subject) VALUES (?, ?);

-- name: subject_ids
SELECT id, subject FROM subjects WHERE subject IN ({subjects});

-- name: insert_leaf
INSERT INTO ledger_leaves (seq, kind, subject_id, at, leaf, leaf_hash) VALUES (?, ?, ?, ?, ?, ?);

-- name: leaf
SELECT seq, leaf, leaf_hash FROM ledger_leaves WHERE seq = ?;

-- name: leaf_range
SELECT seq, leaf, leaf_hash FROM ledger_leaves WHERE seq >= ? AND seq < ? ORDER BY seq;

-- name: leaves_for_subject
SELECT seq, leaf, leaf_hash FROM ledger_leaves
WHERE subject_id = (SELECT id FROM subjects WHERE subject = ?) ORDER BY seq;

-- name: leaves_of_kind
SELECT seq, leaf, leaf_hash FROM ledger_leaves WHERE kind = ? ORDER BY seq;

-- name: leaf_hashes
SELECT leaf_hash FROM ledger_leaves WHERE seq >= ? AND seq < ? ORDER BY seq;

-- name: node_range
SELECT hash FROM ledger_nodes WHERE level = ? AND idx >= ? AND idx < ? ORDER BY idx;

-- name: insert_node
INSERT INTO ledger_nodes (level, idx, hash) VALUES (?, ?, ?);

-- name: insert_checkpoint
INSERT INTO ledger_checkpoints (size, root, note, created_at) VALUES (?, ?, ?, ?)
ON CONFLICT (size) DO NOTHING;

-- name: checkpoints
SELECT size, root, note, created_at FROM ledger_checkpoints ORDER BY size;

-- name: latest_checkpoint
SELECT size, root, note, created_at FROM ledger_checkpoints ORDER BY size DESC LIMIT 1;

-- name: put_consent
INSERT INTO proj_consent (subject_id, subject, list_id, status, basis, jurisdiction, method,
    source, notice, evidence, given_at, valid_until, confirmed, grant_index, grant_hash,
    justifying_index, justifying_hash, changed_index, changed_hash, facts, record_id)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (subject_id, list_id) DO UPDATE SET status = excluded.status, basis = excluded.basis,
    jurisdiction = excluded.jurisdiction, method = excluded.method, source = excluded.source,
    notice = excluded.notice, evidence = excluded.evidence, given_at = excluded.given_at,
    valid_until = excluded.valid_until, confirmed = excluded.confirmed,
    grant_index = excluded.grant_index, grant_hash = excluded.grant_hash,
    justifying_index = excluded.justifying_index, justifying_hash = excluded.justifying_hash,
    changed_index = excluded.changed_index, changed_hash = excluded.changed_hash,
    facts = excluded.facts, record_id = excluded.record_id;

-- name: confirm_consent
UPDATE proj_consent SET status = 'given', confirmed = ?, justifying_index = ?,
    justifying_hash = ?, changed_index = ?, changed_hash = ?
WHERE subject_id = ? AND list_id = ? AND record_id = ? AND status IN ('given', 'requested');

-- name: end_consent_list
UPDATE proj_consent SET status = ?, changed_index = ?, changed_hash = ?
WHERE subject_id = ? AND list_id = ?;

-- name: end_consent_all
UPDATE proj_consent SET status = ?, changed_index = ?, changed_hash = ? WHERE subject_id = ?;

-- name: add_suppression
INSERT INTO proj_suppression (subject_id, leaf_index, scope, reason, leaf_hash, at)
VALUES (?, ?, ?, ?, ?, ?);

-- name: mark_erased
INSERT INTO proj_erased (subject_id) VALUES (?) ON CONFLICT (subject_id) DO NOTHING;

-- name: put_list
INSERT INTO proj_lists (list_id, purpose, leaf_index, leaf_hash) VALUES (?, ?, ?, ?)
ON CONFLICT (list_id) DO UPDATE SET purpose = excluded.purpose,
    leaf_index = excluded.leaf_index, leaf_hash = excluded.leaf_hash;

-- name: put_notice
INSERT INTO proj_notices (notice, list_id, version, language, leaf_index, leaf_hash)
VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (notice) DO UPDATE SET list_id = excluded.list_id, version = excluded.version,
    language = excluded.language, leaf_index = excluded.leaf_index,
    leaf_hash = excluded.leaf_hash;

-- name: put_organisation
INSERT INTO proj_organisation (id, settings, leaf_index, leaf_hash) VALUES (1, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET settings = excluded.settings,
    leaf_index = excluded.leaf_index, leaf_hash = excluded.leaf_hash;

-- name: all_consents
SELECT subject, list_id, status, basis, jurisdiction, method, source, notice, evidence, given_at,
    valid_until, confirmed, grant_index, grant_hash, justifying_index, justifying_hash,
    changed_index, changed_hash, facts, record_id
FROM proj_consent ORDER BY subject, list_id;

-- name: all_suppressions
SELECT s.subject, p.leaf_index, p.scope, p.reason, p.leaf_hash, p.at
FROM proj_suppression p JOIN subjects s ON s.id = p.subject_id ORDER BY s.subject, p.leaf_index;

-- name: all_erased
SELECT s.subject FROM proj_erased e JOIN subjects s ON s.id = e.subject_id ORDER BY s.subject;

-- name: list_info
SELECT list_id, purpose, leaf_index, leaf_hash FROM proj_lists WHERE list_id = ?;

-- name: lists
SELECT list_id, purpose, leaf_index, leaf_hash FROM proj_lists ORDER BY list_id;

-- name: notice_info
SELECT notice, list_id, version, language, leaf_index, leaf_hash FROM proj_notices
WHERE notice = ?;

-- name: notices_for_list
SELECT notice, list_id, version, language, leaf_index, leaf_hash FROM proj_notices
WHERE list_id = ? ORDER BY version;

-- name: all_notices
SELECT notice, list_id, version, language, leaf_index, leaf_hash FROM proj_notices;

-- name: organisation
SELECT settings, leaf_index, leaf_hash FROM proj_organisation WHERE id = 1;

-- name: clear_projections
DELETE FROM proj_consent;
DELETE FROM proj_suppression;
DELETE FROM proj_erased;
DELETE FROM proj_lists;
DELETE FROM proj_notices;
DELETE FROM proj_organisation;

-- name: put_address
INSERT INTO side_addresses (subject_id, literal, canonical) VALUES (?, ?, ?)
ON CONFLICT (subject_id) DO NOTHING;

-- name: put_evidence
INSERT INTO side_evidence (subject_id, hash, blob) VALUES (?, ?, ?)
ON CONFLICT (subject_id, hash) DO NOTHING;

-- name: put_notice_text
INSERT INTO side_notice_texts (hash, text, media_type) VALUES (?, ?, ?)
ON CONFLICT (hash) DO NOTHING;

-- name: erase_addresses
DELETE FROM side_addresses WHERE subject_id = ?;

-- name: erase_evidence
DELETE FROM side_evidence WHERE subject_id = ?;

-- name: address
SELECT s.subject, a.literal, a.canonical FROM side_addresses a
JOIN subjects s ON s.id = a.subject_id WHERE s.subject = ?;

-- name: evidence
SELECT s.subject, e.hash, e.blob FROM side_evidence e
JOIN subjects s ON s.id = e.subject_id WHERE s.subject = ? AND e.hash = ?;

-- name: notice_text
SELECT hash, text, media_type FROM side_notice_texts WHERE hash = ?;

-- name: consents_for_ids
SELECT subject, list_id, status, basis, jurisdiction, method, source, notice, evidence, given_at,
    valid_until, confirmed, grant_index, grant_hash, justifying_index, justifying_hash,
    changed_index, changed_hash, facts, record_id
FROM proj_consent WHERE subject_id IN ({ids});

-- name: suppressions_for_ids
SELECT subject_id, leaf_index, scope, reason, leaf_hash, at FROM proj_suppression
WHERE subject_id IN ({ids}) ORDER BY subject_id, leaf_index;

-- name: erased_among_ids
SELECT subject_id FROM proj_erased WHERE subject_id IN ({ids});

-- name: list_consents
SELECT subject, list_id, status, basis, jurisdiction, method, source, notice, evidence, given_at,
    valid_until, confirmed, grant_index, grant_hash, justifying_index, justifying_hash,
    changed_index, changed_hash, facts, record_id, subject_id
FROM proj_consent WHERE list_id = ? AND subject_id > ? ORDER BY subject_id LIMIT ?;

-- name: suppressions_between
SELECT subject_id, leaf_index, scope, reason, leaf_hash, at FROM proj_suppression
WHERE subject_id >= ? AND subject_id <= ? AND scope IN ('*', ?) ORDER BY subject_id, leaf_index;

-- name: erased_between
SELECT subject_id FROM proj_erased WHERE subject_id >= ? AND subject_id <= ?;

-- --- campaigns and dispatch (schema 2) ----------------------------------------------------------

-- name: put_campaign
INSERT INTO campaigns (campaign_id, list_id, template_class, jurisdiction, state, spec,
    content_hash, created_at, created_index)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?);

-- name: campaign
SELECT campaign_id, list_id, template_class, jurisdiction, state, spec, content_hash, created_at,
    created_index FROM campaigns WHERE campaign_id = ?;

-- name: campaigns
SELECT campaign_id, list_id, template_class, jurisdiction, state, spec, content_hash, created_at,
    created_index FROM campaigns ORDER BY created_index;

-- name: campaign_state
SELECT state FROM campaigns WHERE campaign_id = ?;

-- name: set_campaign_state
UPDATE campaigns SET state = ? WHERE campaign_id = ?;

-- name: put_approval
INSERT INTO campaign_approvals (campaign_id, actor, report, recipients, leaf_index)
VALUES (?, ?, ?, ?, ?);

-- name: approvals
SELECT campaign_id, actor, report, recipients, leaf_index FROM campaign_approvals
WHERE campaign_id = ? ORDER BY leaf_index;

-- name: enqueue_campaign
INSERT INTO campaign_messages (campaign_id, subject_id, state)
SELECT ?, subject_id, 'queued' FROM proj_consent WHERE list_id = ?
ON CONFLICT (campaign_id, subject_id) DO NOTHING;

-- name: suppressed_subjects_after
SELECT DISTINCT p.subject_id, s.subject FROM proj_suppression p
JOIN subjects s ON s.id = p.subject_id
WHERE p.subject_id > ? ORDER BY p.subject_id LIMIT ?;

-- name: enqueue_message
-- One message for one subject (a double opt-in confirmation): a finished row is queued again.
INSERT INTO campaign_messages (campaign_id, subject_id, state) VALUES (?, ?, 'queued')
ON CONFLICT (campaign_id, subject_id) DO UPDATE SET state = 'queued', not_before = NULL,
    claimed_by = NULL, reply = NULL
WHERE campaign_messages.state IN ('sent', 'denied', 'rejected', 'failed', 'uncertain');

-- name: claim_messages
UPDATE campaign_messages SET state = 'claimed', claimed_by = ?
WHERE campaign_id = ? AND subject_id IN (
    SELECT subject_id FROM campaign_messages
    WHERE campaign_id = ? AND state = 'queued' AND (not_before IS NULL OR not_before <= ?)
    ORDER BY subject_id LIMIT ?)
RETURNING subject_id, attempts;

-- name: claimed_details
SELECT m.subject_id, s.subject, a.literal, a.canonical, m.attempts, m.decided_index
FROM campaign_messages m JOIN subjects s ON s.id = m.subject_id
LEFT JOIN side_addresses a ON a.subject_id = m.subject_id
WHERE m.campaign_id = ? AND m.subject_id IN ({ids})
ORDER BY m.subject_id;

-- name: update_message
UPDATE campaign_messages SET state = ?, attempts = COALESCE(?, attempts), not_before = ?,
    reply = COALESCE(?, reply),
    decided_index = CASE WHEN ? = 'send-decided' THEN ? ELSE decided_index END,
    outcome_index = CASE WHEN ? = 'send-handed-off' THEN ? ELSE outcome_index END,
    claimed_by = CASE WHEN ? IN ('claimed', 'decided', 'handing') THEN claimed_by ELSE NULL END
WHERE campaign_id = ? AND subject_id = ?;

-- name: release_message
UPDATE campaign_messages SET state = 'queued', claimed_by = NULL
WHERE campaign_id = ? AND subject_id = ? AND state IN ('claimed', 'decided', 'handing');

-- name: mark_handing
UPDATE campaign_messages SET state = 'handing'
WHERE campaign_id = ? AND subject_id = ? AND state = 'decided';

-- name: message_counts
SELECT state, COUNT(*) FROM campaign_messages WHERE campaign_id = ? GROUP BY state;

-- name: messages_in_state
SELECT m.subject_id, s.subject, a.literal, a.canonical, m.attempts, m.decided_index
FROM campaign_messages m JOIN subjects s ON s.id = m.subject_id
LEFT JOIN side_addresses a ON a.subject_id = m.subject_id
WHERE m.campaign_id = ? AND m.state = ? ORDER BY m.subject_id;

-- name: heartbeat
INSERT INTO dispatch_workers (worker_id, campaign_id, seen_at) VALUES (?, ?, ?)
ON CONFLICT (worker_id) DO UPDATE SET seen_at = excluded.seen_at,
    campaign_id = excluded.campaign_id;

-- name: stale_workers
SELECT worker_id FROM dispatch_workers WHERE campaign_id = ? AND seen_at < ?
UNION
SELECT DISTINCT claimed_by FROM campaign_messages m
WHERE m.campaign_id = ? AND m.claimed_by IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM dispatch_workers w WHERE w.worker_id = m.claimed_by);

-- name: requeue_orphans
UPDATE campaign_messages SET state = 'queued', claimed_by = NULL
WHERE campaign_id = ? AND claimed_by = ? AND state IN ('claimed', 'decided');

-- name: orphaned_decided
SELECT m.subject_id, s.subject, a.literal, a.canonical, m.attempts, m.decided_index
FROM campaign_messages m JOIN subjects s ON s.id = m.subject_id
LEFT JOIN side_addresses a ON a.subject_id = m.subject_id
WHERE m.campaign_id = ? AND m.claimed_by = ? AND m.state = 'handing' ORDER BY m.subject_id;

-- name: forget_worker
DELETE FROM dispatch_workers WHERE worker_id = ?;

-- name: objections_since
SELECT l.seq, s.subject FROM ledger_leaves l JOIN subjects s ON s.id = l.subject_id
WHERE l.kind IN ('consent-withdrawn', 'suppressed', 'subject-erased') AND l.seq >= ?
ORDER BY l.seq;

-- name: control
SELECT value FROM dispatch_controls WHERE name = ?;

-- name: put_control
INSERT INTO dispatch_controls (name, value) VALUES (?, ?)
ON CONFLICT (name) DO UPDATE SET value = excluded.value;

-- name: drop_control
DELETE FROM dispatch_controls WHERE name = ?;

-- admin API tokens (schema 3; store/sql_tokens.py) ------------------------------------------------

-- name: add_api_token
INSERT INTO api_tokens (name, token_hash, scope, created_at) VALUES (?, ?, ?, ?)
ON CONFLICT DO NOTHING;

-- name: api_token
SELECT name, token_hash, scope, created_at, revoked_at, last_used_at
FROM api_tokens WHERE name = ?;

-- name: api_token_by_hash
SELECT name, token_hash, scope, created_at, revoked_at, last_used_at
FROM api_tokens WHERE token_hash = ?;

-- name: api_tokens
SELECT name, token_hash, scope, created_at, revoked_at, last_used_at
FROM api_tokens ORDER BY created_at, name;

-- name: revoke_api_token
UPDATE api_tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL;

-- name: touch_api_token
UPDATE api_tokens SET last_used_at = ? WHERE name = ?;
