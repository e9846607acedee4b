-- The order book. Portable SQL: the same statements run on SQLite and Postgres.
CREATE TABLE IF NOT EXISTS orders (
    hash TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    resource TEXT NOT NULL,
    signer TEXT NOT NULL,
    price BIGINT NOT NULL,
    volume BIGINT NOT NULL,
    remaining BIGINT NOT NULL,
    tag TEXT NOT NULL,
    category BIGINT,
    trust BIGINT,
    workerpool TEXT,
    dataset TEXT,
    expiry BIGINT NOT NULL,
    status TEXT NOT NULL,
    body TEXT NOT NULL,
    published_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_book ON orders (kind, status, price);
CREATE INDEX IF NOT EXISTS orders_resource ON orders (resource);
CREATE TABLE IF NOT EXISTS cursor (
    id INTEGER PRIMARY KEY,
    block BIGINT NOT NULL
)
