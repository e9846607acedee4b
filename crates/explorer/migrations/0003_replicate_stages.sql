-- What a replicate's worker reported each stage took (download, run with its fuel, upload,
-- contribution, reveal), as its scheduler relays it: JSON, the worker's claims.
ALTER TABLE replicates ADD COLUMN stages TEXT;
