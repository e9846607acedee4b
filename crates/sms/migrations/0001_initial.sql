-- The secret management service. Portable SQL: the same statements run on SQLite and Postgres.
-- A secret is (kind, object, name); its value is sealed at rest (see src/seal.rs), never plain.
CREATE TABLE IF NOT EXISTS secrets (
    kind BIGINT NOT NULL,
    object TEXT NOT NULL,
    name TEXT NOT NULL,
    owner TEXT NOT NULL,
    version BIGINT NOT NULL,
    ciphertext_hash TEXT NOT NULL,
    sealed TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (kind, object, name)
);
-- The last write nonce of each owner (the next write must carry last + 1).
CREATE TABLE IF NOT EXISTS owner_nonces (
    owner TEXT PRIMARY KEY,
    last_nonce BIGINT NOT NULL
);
-- Single-use release challenges.
CREATE TABLE IF NOT EXISTS challenges (
    nonce TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL,
    used BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS challenges_expiry ON challenges (expires_at);
-- One enclave key per task: the first release records it, any other key is refused.
CREATE TABLE IF NOT EXISTS releases (
    task_id TEXT PRIMARY KEY,
    enclave TEXT NOT NULL,
    released_at BIGINT NOT NULL
);
