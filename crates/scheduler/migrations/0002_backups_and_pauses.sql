-- Held work that does not progress stops blocking others, and costs its holder.
-- replicates.backup_at: from this time on (unix seconds) an assigned replicate no longer keeps
-- its task from an idle worker (a backup replica, one reference time after the assignment).
-- NULL on rows written before this version: they never count as stale for backups.
ALTER TABLE replicates ADD COLUMN backup_at BIGINT;
-- A worker that held replicates past their grace without contributing: how many times since
-- its last contribution on chain, and until when it gets no new work.
CREATE TABLE IF NOT EXISTS claim_pauses (
    worker TEXT PRIMARY KEY,
    strikes BIGINT NOT NULL,
    paused_until BIGINT NOT NULL
);
-- The driver looks for assigned replicates past their grace every second.
CREATE INDEX IF NOT EXISTS replicates_assigned ON replicates (assigned_at) WHERE status = 'assigned';
