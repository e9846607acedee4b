-- How the pool confines the apps and datasets of on-chain deals, keyed by their registry
-- address (an address not listed here is public).
CREATE TABLE IF NOT EXISTS pool_chain_resources (
    address TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    owner TEXT NOT NULL,
    grp TEXT,
    mode BIGINT NOT NULL,
    visibility TEXT NOT NULL
);
