//! Workers paused from claiming: a worker that held replicates past their grace without
//! contributing gets no new work for a while, twice as long at each offence, until a
//! contribution of its own reaches the chain.

use alloy::primitives::Address;
use decloud_sql::column::{bigint, uint};
use sqlx::Row;

use super::Store;
use crate::SchedulerError;

/// Longest pause, however many offences: an honest worker that had a bad day comes back.
pub const MAX_PAUSE_SECS: u64 = 3_600;

/// How long the `strikes`-th offence in a row pauses a worker whose first pause is `base`
/// seconds: `base`, then twice as long at each offence, at most [`MAX_PAUSE_SECS`].
pub fn pause_for(base: u64, strikes: u64) -> u64 {
    let doubling = strikes.saturating_sub(1).min(32);
    base.max(1)
        .saturating_mul(1u64 << doubling)
        .min(MAX_PAUSE_SECS)
}

impl Store {
    /// Records an offence of `worker` at `now` (it held a replicate past its grace, which was
    /// `base` seconds) and pauses its claims; returns until when.
    pub async fn strike(
        &self,
        worker: Address,
        base: u64,
        now: u64,
    ) -> Result<u64, SchedulerError> {
        let mut tx = self.pool.begin().await?;
        let strikes = match sqlx::query("SELECT strikes FROM claim_pauses WHERE worker = $1")
            .bind(worker.to_string())
            .fetch_optional(&mut *tx)
            .await?
        {
            Some(row) => uint(&row, "strikes")?,
            None => 0,
        }
        .saturating_add(1);
        let until = now.saturating_add(pause_for(base, strikes));
        sqlx::query(
            "INSERT INTO claim_pauses (worker, strikes, paused_until) VALUES ($1, $2, $3) \
             ON CONFLICT (worker) DO UPDATE SET strikes = $2, \
             paused_until = CASE WHEN claim_pauses.paused_until > $3 \
             THEN claim_pauses.paused_until ELSE $3 END",
        )
        .bind(worker.to_string())
        .bind(bigint(strikes, "strikes")?)
        .bind(bigint(until, "time")?)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(until)
    }

    /// Until when `worker` gets no new work (0 when it is not paused, or never was).
    pub async fn paused_until(&self, worker: Address) -> Result<u64, SchedulerError> {
        let row = sqlx::query("SELECT paused_until FROM claim_pauses WHERE worker = $1")
            .bind(worker.to_string())
            .fetch_optional(&self.reads)
            .await?;
        Ok(match row {
            Some(row) => {
                let until: i64 = row.try_get("paused_until")?;
                u64::try_from(until).unwrap_or_default()
            }
            None => 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_double_from_the_base_up_to_the_cap() {
        assert_eq!(pause_for(9, 1), 9);
        assert_eq!(pause_for(9, 2), 18);
        assert_eq!(pause_for(9, 3), 36);
        assert_eq!(pause_for(9, 12), MAX_PAUSE_SECS);
        assert_eq!(pause_for(9, u64::MAX), MAX_PAUSE_SECS);
        assert_eq!(pause_for(0, 1), 1, "a zero base still pauses");
    }
}
