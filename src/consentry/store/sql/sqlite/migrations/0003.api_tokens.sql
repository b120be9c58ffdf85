-- depends: 0002.dispatch
-- consentry schema 3: admin API bearer tokens. Operational rows, not ledger leaves: a token's
-- actor name ("api:<name>") is what the leaves it writes record. Only the SHA-256 (hex) of the
-- secret is stored; names are never reused, so an actor name always means one token.

CREATE TABLE api_tokens (
    name         TEXT PRIMARY KEY,
    token_hash   TEXT NOT NULL UNIQUE,
    scope        TEXT NOT NULL CHECK (scope IN ('read', 'write', 'admin')),
    created_at   TEXT NOT NULL,
    revoked_at   TEXT,
    last_used_at TEXT
);
