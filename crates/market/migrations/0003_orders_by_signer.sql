-- A publication counts its signer's open orders (book space per signer).
CREATE INDEX IF NOT EXISTS orders_signer ON orders (signer, status);
