-- A worker's counters, kept up to date by the indexer in the transaction of the event that
-- changes them (so that its page reads one row, however many tasks it ran): contributions,
-- tasks won (revealed, completed) and lost (contributed, ended, not revealed), its last score.
CREATE TABLE IF NOT EXISTS workers (
    worker TEXT PRIMARY KEY,
    contributions BIGINT NOT NULL,
    won BIGINT NOT NULL,
    lost BIGINT NOT NULL,
    score BIGINT
);

-- A database indexed before the counters existed gets them from its events.
INSERT INTO workers (worker, contributions, won, lost, score)
SELECT w.account,
    (SELECT COUNT(*) FROM events c WHERE c.account = w.account AND c.kind = 'TaskContribute'),
    (SELECT COUNT(*) FROM events r JOIN tasks t ON t.task_id = r.task_id
        WHERE r.account = w.account AND r.kind = 'TaskReveal' AND t.status = 'COMPLETED'),
    (SELECT CASE WHEN SUM(CASE WHEN e.kind = 'TaskContribute' THEN 1 ELSE -1 END) > 0
        THEN SUM(CASE WHEN e.kind = 'TaskContribute' THEN 1 ELSE -1 END) ELSE 0 END
        FROM events e JOIN tasks t ON t.task_id = e.task_id
        WHERE e.account = w.account AND e.kind IN ('TaskContribute', 'TaskReveal')
        AND t.status IN ('COMPLETED', 'FAILED')),
    (SELECT s.score FROM scores s WHERE s.worker = w.account
        ORDER BY s.block DESC, s.log_index DESC LIMIT 1)
FROM (SELECT DISTINCT account FROM events WHERE kind = 'TaskContribute') w;

-- A worker's failed replicates newest first, without reading the others (a busy worker has
-- thousands of successful ones).
CREATE INDEX IF NOT EXISTS replicates_worker_failed ON replicates (worker, updated_at)
    WHERE status IN ('failed', 'lost', 'rejected');
