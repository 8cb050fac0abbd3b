-- 002_tokens.sql: teams and their bearer tokens (quantd token create/list/revoke).
-- Only the SHA-256 of a token is stored; the token itself is shown once, when created.
-- With at least one token not revoked, every API call needs a token; a team token sees its
-- team's jobs only, an admin token sees every job.

CREATE TABLE tokens (
    id         TEXT    PRIMARY KEY,                   -- public handle: the token's first 12 characters
    team       TEXT    NOT NULL,
    admin      INTEGER NOT NULL DEFAULT 0,
    hash       TEXT    NOT NULL UNIQUE,               -- SHA-256 of the whole token, hex
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE INDEX tokens_active ON tokens (revoked_at);
