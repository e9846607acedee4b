//! Synthetic rows in the explorer's database: what a chain of many tasks would leave there,
//! written in seconds instead of the hours a devnet would take to run them.

use decloud_explorer::Store;

/// Task `n`'s id.
pub fn task_id(n: u64) -> String {
    hex(2, n)
}

/// Deal `d`'s id.
pub fn deal_id(d: u64) -> String {
    hex(1, d)
}

/// Worker `w`'s address (`w` from 0 to 19: task `n` goes to worker `n % 20`).
pub fn worker(w: u64) -> String {
    addr(0xd0 + w)
}

/// The workerpool of every synthetic deal.
pub fn workerpool() -> String {
    addr(0xb0)
}

fn hex(prefix: u64, n: u64) -> String {
    format!("0x{prefix:08x}{n:056x}")
}

fn addr(n: u64) -> String {
    format!("0x{n:040x}")
}

/// Inserts `tasks` synthetic tasks (deals of 100 tasks, 5 events and 1 replicate each).
pub async fn synthesize(store: &Store, tasks: u64) {
    let mut tx = store.pool().begin().await.unwrap();
    let now = 1_796_000_000i64;
    for d in 0..tasks / 100 {
        sqlx::query(
            "INSERT INTO deals VALUES ($1, $2, $3, $4, $5, $6, $6, $3, 0, 1, 100, '0', '0', '1000', \
             $7, '{}', $8, $9, $1)",
        )
        .bind(hex(1, d))
        .bind(addr(0xa0))
        .bind(addr(0))
        .bind(addr(0xb0))
        .bind(addr(0xb1))
        .bind(addr(0xc0 + d % 50))
        .bind(hex(0, 0))
        .bind(d as i64)
        .bind(now + d as i64)
        .execute(&mut *tx)
        .await
        .unwrap();
        for i in 0..100 {
            let n = d * 100 + i;
            let task = hex(2, n);
            let block = (d * 100 + i) as i64;
            let time = now + block;
            sqlx::query(
                "INSERT INTO tasks VALUES ($1, $2, $3, $4, 'COMPLETED', $5, $6, $5, $6, $7, $8, \
                 '0x', $6, 0, $6)",
            )
            .bind(task.clone())
            .bind(hex(1, d))
            .bind(i as i64)
            .bind(addr(0xb0))
            .bind(block)
            .bind(time)
            .bind(hex(3, n))
            .bind(format!("http://127.0.0.1:7700/blobs/{n:064x}"))
            .execute(&mut *tx)
            .await
            .unwrap();
            for (k, kind) in [
                "TaskInitialize",
                "TaskContribute",
                "TaskConsensus",
                "TaskReveal",
                "TaskFinalize",
            ]
            .iter()
            .enumerate()
            {
                sqlx::query(
                    "INSERT INTO events VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, '{}', 90000, $8)",
                )
                .bind(block)
                .bind(k as i64)
                .bind(hex(4, n * 8 + k as u64))
                .bind(time)
                .bind(*kind)
                .bind(task.clone())
                .bind(hex(1, d))
                .bind(addr(0xd0 + n % 20))
                .bind(addr(0xb0))
                .execute(&mut *tx)
                .await
                .unwrap();
            }
            sqlx::query(
                "INSERT INTO replicates (task_id, worker, status, result_hash, weight, assigned_at, \
                 updated_at) VALUES ($1, $2, 'revealed', $3, 1, $4, $4)",
            )
            .bind(task)
            .bind(addr(0xd0 + n % 20))
            .bind(hex(3, n))
            .bind(time)
            .execute(&mut *tx)
            .await
            .unwrap();
        }
    }
    tx.commit().await.unwrap();
    // The counters the indexer would have kept, from the rows just inserted.
    for w in 0..20 {
        store.recount(&worker(w)).await.unwrap();
    }
}
