-- The scheduler's state. Portable SQL: the same statements run on SQLite and Postgres.
-- Addresses and hashes are 0x-prefixed hex text, times unix seconds (no semicolon in comments:
-- the statements are split on it).
CREATE TABLE IF NOT EXISTS workers (
    address TEXT PRIMARY KEY,
    capacity BIGINT NOT NULL,
    score BIGINT NOT NULL,
    status TEXT NOT NULL,
    registered_at BIGINT NOT NULL,
    last_heartbeat BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS challenges (
    nonce TEXT PRIMARY KEY,
    deadline BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    token_hash TEXT PRIMARY KEY,
    worker TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS resources (
    address TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    uri TEXT NOT NULL,
    checksum TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS deals (
    dealid TEXT PRIMARY KEY,
    deal TEXT NOT NULL,
    params TEXT NOT NULL,
    trust BIGINT NOT NULL,
    volume BIGINT NOT NULL,
    block_number BIGINT NOT NULL,
    start_time BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS tasks (
    taskid TEXT PRIMARY KEY,
    dealid TEXT NOT NULL,
    idx BIGINT NOT NULL,
    status TEXT NOT NULL,
    consensus_hash TEXT,
    consensus_at BIGINT,
    results_location TEXT,
    given_up TEXT,
    updated_block BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS tasks_open ON tasks (status, dealid, idx);
-- A claim walks a deal's open tasks in order: only those are in this index.
CREATE INDEX IF NOT EXISTS tasks_open_by_deal ON tasks (dealid, idx)
    WHERE status IN ('unset', 'active') AND given_up IS NULL;
CREATE TABLE IF NOT EXISTS replicates (
    taskid TEXT NOT NULL,
    worker TEXT NOT NULL,
    status TEXT NOT NULL,
    result_hash TEXT,
    weight BIGINT,
    reason TEXT,
    results_location TEXT,
    callback_data TEXT,
    assigned_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (taskid, worker)
);
CREATE INDEX IF NOT EXISTS replicates_worker ON replicates (worker, status);
CREATE TABLE IF NOT EXISTS cursor (
    id INTEGER PRIMARY KEY,
    block BIGINT NOT NULL,
    hash TEXT NOT NULL
)
