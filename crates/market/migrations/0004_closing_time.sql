-- When each order leaves the book (its expiry, and at the latest 30 days = 2592000 s after it
-- was published, the code's MAX_ORDER_LIFETIME_SECS), indexed with the status, so that closing
-- expired orders reads only those and not every open order at every pass.
ALTER TABLE orders ADD COLUMN closes_at BIGINT;
UPDATE orders SET closes_at = CASE WHEN expiry <> 0 AND expiry < published_at + 2592000 THEN expiry ELSE published_at + 2592000 END;
CREATE INDEX IF NOT EXISTS orders_closing ON orders (status, closes_at);
