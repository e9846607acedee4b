-- What a worker reported each stage of its replicate took (download, run with its fuel,
-- upload, contribution, reveal): JSON, the worker's own claims, shown by the status API.
ALTER TABLE replicates ADD COLUMN stages TEXT;
