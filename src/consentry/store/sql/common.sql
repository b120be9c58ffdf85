-- Named queries shared by the SQL stores. Placeholders are '?'; the PostgreSQL store rewrites
-- them to '%s' when it loads this file. A dialect's own queries.sql overrides a name here.

-- name: size
SELECT COALESCE(MAX(seq) + 1, 0) FROM ledger_leaves;

-- name: last_at
SELECT at FROM ledger_leaves ORDER BY seq DESC LIMIT 1;

-- name: insert_leaf
INSERT INTO ledger_leaves (seq, kind, subject, at, leaf, leaf_hash) VALUES (?, ?, ?, ?, ?, ?);

-- name: leaf
SELECT seq, leaf, leaf_hash FROM ledger_leaves WHERE seq = ?;

-- name: leaf_range
SELECT seq, leaf, leaf_hash FROM ledger_leaves WHERE seq >= ? AND seq < ? ORDER BY seq;

-- name: leaves_for_subject
SELECT seq, leaf, leaf_hash FROM ledger_leaves WHERE subject = ? ORDER BY seq;

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
INSERT INTO proj_consent (subject, list_id, status, basis, jurisdiction, method, source, notice,
    evidence, given_at, valid_until, confirmed, grant_index, grant_hash, justifying_index,
    justifying_hash, changed_index, changed_hash, facts, record_id)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (subject, list_id) DO UPDATE SET status = excluded.status, basis = excluded.basis,
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
WHERE subject = ? AND list_id = ? AND record_id = ? AND status IN ('given', 'requested');

-- name: end_consent_list
UPDATE proj_consent SET status = ?, changed_index = ?, changed_hash = ?
WHERE subject = ? AND list_id = ?;

-- name: end_consent_all
UPDATE proj_consent SET status = ?, changed_index = ?, changed_hash = ? WHERE subject = ?;

-- name: add_suppression
INSERT INTO proj_suppression (subject, leaf_index, scope, reason, leaf_hash, at)
VALUES (?, ?, ?, ?, ?, ?);

-- name: mark_erased
INSERT INTO proj_erased (subject) VALUES (?) ON CONFLICT (subject) DO NOTHING;

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

-- name: consents_for_subject
SELECT subject, list_id, status, basis, jurisdiction, method, source, notice, evidence, given_at,
    valid_until, confirmed, grant_index, grant_hash, justifying_index, justifying_hash,
    changed_index, changed_hash, facts, record_id
FROM proj_consent WHERE subject = ?;

-- name: all_consents
SELECT subject, list_id, status, basis, jurisdiction, method, source, notice, evidence, given_at,
    valid_until, confirmed, grant_index, grant_hash, justifying_index, justifying_hash,
    changed_index, changed_hash, facts, record_id
FROM proj_consent ORDER BY subject, list_id;

-- name: suppressions_for_subject
SELECT subject, leaf_index, scope, reason, leaf_hash, at FROM proj_suppression
WHERE subject = ? ORDER BY leaf_index;

-- name: all_suppressions
SELECT subject, leaf_index, scope, reason, leaf_hash, at FROM proj_suppression
ORDER BY subject, leaf_index;

-- name: is_erased
SELECT 1 FROM proj_erased WHERE subject = ?;

-- name: all_erased
SELECT subject FROM proj_erased ORDER BY subject;

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
INSERT INTO side_addresses (subject, literal, canonical) VALUES (?, ?, ?)
ON CONFLICT (subject) DO NOTHING;

-- name: put_evidence
INSERT INTO side_evidence (hash, subject, blob) VALUES (?, ?, ?) ON CONFLICT (hash) DO NOTHING;

-- name: put_notice_text
INSERT INTO side_notice_texts (hash, text, media_type) VALUES (?, ?, ?)
ON CONFLICT (hash) DO NOTHING;

-- name: erase_addresses
DELETE FROM side_addresses WHERE subject = ?;

-- name: erase_evidence
DELETE FROM side_evidence WHERE subject = ?;

-- name: address
SELECT subject, literal, canonical FROM side_addresses WHERE subject = ?;

-- name: evidence
SELECT hash, subject, blob FROM side_evidence WHERE hash = ?;

-- name: notice_text
SELECT hash, text, media_type FROM side_notice_texts WHERE hash = ?;

-- name: consents_for_subjects
SELECT subject, list_id, status, basis, jurisdiction, method, source, notice, evidence, given_at,
    valid_until, confirmed, grant_index, grant_hash, justifying_index, justifying_hash,
    changed_index, changed_hash, facts, record_id
FROM proj_consent WHERE subject IN ({subjects});

-- name: suppressions_for_subjects
SELECT subject, leaf_index, scope, reason, leaf_hash, at FROM proj_suppression
WHERE subject IN ({subjects}) ORDER BY subject, leaf_index;

-- name: erased_among
SELECT subject FROM proj_erased WHERE subject IN ({subjects});

-- name: list_consents
SELECT subject, list_id, status, basis, jurisdiction, method, source, notice, evidence, given_at,
    valid_until, confirmed, grant_index, grant_hash, justifying_index, justifying_hash,
    changed_index, changed_hash, facts, record_id
FROM proj_consent WHERE list_id = ? AND subject > ? ORDER BY subject LIMIT ?;

-- name: suppressions_between
SELECT subject, leaf_index, scope, reason, leaf_hash, at FROM proj_suppression
WHERE subject >= ? AND subject <= ? AND scope IN ('*', ?) ORDER BY subject, leaf_index;

-- name: erased_between
SELECT subject FROM proj_erased WHERE subject >= ? AND subject <= ?;
