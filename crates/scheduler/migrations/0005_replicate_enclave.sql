-- The enclave key E a TEE replicate's worker bound to its authorization: fixed once, so a
-- worker can't get authorizations for two enclaves of one task (one enclave per replicate).
ALTER TABLE replicates ADD COLUMN enclave TEXT;
