-- The TEE backend a worker announced at its last login, and why it gets no more TEE tasks (it
-- announced one, then failed a TEE task without ever producing an enclave), if it does not.
ALTER TABLE workers ADD COLUMN tee TEXT NOT NULL DEFAULT 'none';
ALTER TABLE workers ADD COLUMN tee_refused TEXT;
