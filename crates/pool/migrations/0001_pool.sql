-- The pool's own identities, credentials and objects (desktop-grid mode). Every object has an
-- owner, an optional group and rwx bits (mode, the nine low bits); apps, data and workers also
-- a visibility: 'public', 'group' (the object's group) or 'private' (its owner).
CREATE TABLE IF NOT EXISTS pool_users (
    name TEXT PRIMARY KEY,
    user_right TEXT NOT NULL,
    status TEXT NOT NULL,
    password_hash TEXT,
    owner TEXT NOT NULL,
    grp TEXT,
    mode BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS pool_groups (
    name TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    grp TEXT,
    mode BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS pool_members (
    grp TEXT NOT NULL,
    user_name TEXT NOT NULL,
    PRIMARY KEY (grp, user_name)
);
CREATE INDEX IF NOT EXISTS pool_members_user ON pool_members (user_name);
-- A credential other than a password: ('wallet', address), ('x509', subject), ('oidc', iss|sub).
CREATE TABLE IF NOT EXISTS pool_identities (
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    user_name TEXT NOT NULL,
    PRIMARY KEY (kind, subject)
);
CREATE TABLE IF NOT EXISTS pool_sessions (
    token_hash TEXT PRIMARY KEY,
    user_name TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS pool_challenges (
    nonce TEXT PRIMARY KEY,
    deadline BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS pool_apps (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    owner TEXT NOT NULL,
    grp TEXT,
    mode BIGINT NOT NULL,
    visibility TEXT NOT NULL,
    checksum TEXT NOT NULL,
    size BIGINT NOT NULL,
    content TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS pool_data (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    owner TEXT NOT NULL,
    grp TEXT,
    mode BIGINT NOT NULL,
    visibility TEXT NOT NULL,
    kind TEXT NOT NULL,
    checksum TEXT NOT NULL,
    size BIGINT NOT NULL,
    content TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS pool_jobs (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    grp TEXT,
    mode BIGINT NOT NULL,
    app_id TEXT NOT NULL,
    datum_id TEXT,
    args TEXT NOT NULL,
    status TEXT NOT NULL,
    worker TEXT,
    result TEXT,
    result_checksum TEXT,
    reason TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    origin TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS pool_jobs_status ON pool_jobs (status, created_at);
CREATE TABLE IF NOT EXISTS pool_workers (
    address TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    grp TEXT,
    mode BIGINT NOT NULL,
    visibility TEXT NOT NULL
);
