-- The deals the SMS's chain follower read from the hub's DealCreated events, so that a release
-- reads its deal from here, not with a log query per deal id. `block` is the block of the
-- event: a reorg deletes the deals of the blocks it orphaned.
CREATE TABLE IF NOT EXISTS deals (
    deal_id TEXT PRIMARY KEY,
    block BIGINT NOT NULL,
    deal TEXT NOT NULL,
    params TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS deals_block ON deals (block);
-- The follower's cursor (JSON: next block, hashes of the last blocks read), written in the
-- transaction of the deals it covers.
CREATE TABLE IF NOT EXISTS follow_state (
    id BIGINT PRIMARY KEY,
    state TEXT NOT NULL
);
