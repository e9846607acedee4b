-- Where the chain follower stands (a JSON cursor with the hashes of the last blocks read).
CREATE TABLE IF NOT EXISTS follow_state (
    id BIGINT PRIMARY KEY,
    state TEXT NOT NULL
);

-- Every hub and registry event indexed, in chain order: the on-chain timeline of every page.
CREATE TABLE IF NOT EXISTS events (
    block BIGINT NOT NULL,
    log_index BIGINT NOT NULL,
    tx TEXT NOT NULL,
    time BIGINT NOT NULL,
    kind TEXT NOT NULL,
    task_id TEXT,
    deal_id TEXT,
    account TEXT,
    workerpool TEXT,
    detail TEXT NOT NULL,
    gas BIGINT,
    sender TEXT,
    PRIMARY KEY (block, log_index)
);
CREATE INDEX IF NOT EXISTS events_task ON events (task_id, block);
CREATE INDEX IF NOT EXISTS events_deal ON events (deal_id, block);
CREATE INDEX IF NOT EXISTS events_account ON events (account, block);
CREATE INDEX IF NOT EXISTS events_tx ON events (tx);
CREATE INDEX IF NOT EXISTS events_pool ON events (workerpool, block);
CREATE INDEX IF NOT EXISTS events_time ON events (time);
-- A worker's contributions newest first, and whether it revealed each (the worker page).
CREATE INDEX IF NOT EXISTS events_account_kind ON events (account, kind, block, log_index);
CREATE INDEX IF NOT EXISTS events_task_kind ON events (task_id, kind, account);

CREATE TABLE IF NOT EXISTS deals (
    deal_id TEXT PRIMARY KEY,
    app TEXT NOT NULL,
    dataset TEXT NOT NULL,
    workerpool TEXT NOT NULL,
    scheduler TEXT NOT NULL,
    requester TEXT NOT NULL,
    beneficiary TEXT NOT NULL,
    callback TEXT NOT NULL,
    category BIGINT NOT NULL,
    trust BIGINT NOT NULL,
    volume BIGINT NOT NULL,
    app_price TEXT NOT NULL,
    dataset_price TEXT NOT NULL,
    workerpool_price TEXT NOT NULL,
    tag TEXT NOT NULL,
    params TEXT NOT NULL,
    block BIGINT NOT NULL,
    time BIGINT NOT NULL,
    tx TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS deals_app ON deals (app, block);
CREATE INDEX IF NOT EXISTS deals_dataset ON deals (dataset, block);
CREATE INDEX IF NOT EXISTS deals_workerpool ON deals (workerpool, block);
CREATE INDEX IF NOT EXISTS deals_requester ON deals (requester, block);
CREATE INDEX IF NOT EXISTS deals_block ON deals (block);

CREATE TABLE IF NOT EXISTS tasks (
    task_id TEXT PRIMARY KEY,
    deal_id TEXT NOT NULL,
    idx BIGINT NOT NULL,
    workerpool TEXT NOT NULL,
    status TEXT NOT NULL,
    block BIGINT NOT NULL,
    time BIGINT NOT NULL,
    updated_block BIGINT NOT NULL,
    updated_time BIGINT NOT NULL,
    consensus_hash TEXT,
    results_location TEXT,
    callback_data TEXT,
    final_time BIGINT,
    trace_stale BIGINT NOT NULL,
    traced_at BIGINT
);
CREATE INDEX IF NOT EXISTS tasks_deal ON tasks (deal_id, idx);
CREATE INDEX IF NOT EXISTS tasks_pool ON tasks (workerpool, block);
CREATE INDEX IF NOT EXISTS tasks_status ON tasks (status);
CREATE INDEX IF NOT EXISTS tasks_final ON tasks (final_time);
CREATE INDEX IF NOT EXISTS tasks_stale ON tasks (trace_stale);

-- Apps, datasets and workerpools, from their registries' events.
CREATE TABLE IF NOT EXISTS resources (
    address TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    owner TEXT NOT NULL,
    name TEXT NOT NULL,
    uri TEXT NOT NULL,
    checksum TEXT NOT NULL,
    block BIGINT NOT NULL,
    time BIGINT NOT NULL,
    tx TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS resources_owner ON resources (owner);

-- A worker's score as the hub held it after each task that could change it.
CREATE TABLE IF NOT EXISTS scores (
    worker TEXT NOT NULL,
    block BIGINT NOT NULL,
    log_index BIGINT NOT NULL,
    time BIGINT NOT NULL,
    score BIGINT NOT NULL,
    task_id TEXT NOT NULL,
    PRIMARY KEY (worker, block, log_index)
);

-- The schedulers' off-chain trace: one row per worker's replicate of a task.
CREATE TABLE IF NOT EXISTS replicates (
    task_id TEXT NOT NULL,
    worker TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    results_location TEXT,
    result_hash TEXT,
    weight BIGINT,
    assigned_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (task_id, worker)
);
CREATE INDEX IF NOT EXISTS replicates_worker ON replicates (worker);
