-- The chain follower's state: its cursor (the next block and the hashes of the recent blocks
-- it read, to detect a reorg) and the orders each recent block touched, as one JSON row. It
-- supersedes the `cursor` table, which is read once, while this one is still empty.
CREATE TABLE IF NOT EXISTS chain_cursor (
    id INTEGER PRIMARY KEY,
    state TEXT NOT NULL
);
