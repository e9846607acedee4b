//! Deals of the pool, stored with their tasks when the follower sees them.

use alloy::primitives::B256;
use alloy::sol_types::SolValue;
use decloud_protocol::typed::Deal;
use decloud_sql::column::{bigint, parse, rows, uint};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::Store;
use crate::SchedulerError;

/// A deal of the scheduler's workerpool, as emitted in `DealCreated`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DealRow {
    /// The deal id.
    pub deal_id: B256,
    /// The deal, passed back to every task call of the hub.
    pub deal: Deal,
    /// The request's params (JSON text chosen by the requester).
    pub params: String,
    /// Block of the `DealCreated` event.
    pub block_number: u64,
    /// Timestamp of that block (the deal's start).
    pub start_time: u64,
}

impl DealRow {
    /// The deal's trust (`≤ 1`: one contribution suffices).
    pub fn trust(&self) -> u64 {
        u64::try_from(self.deal.trust).unwrap_or(u64::MAX)
    }

    /// The deal's reference time in seconds (its category's `workClockTimeRef`).
    pub fn reference_secs(&self) -> u64 {
        u64::try_from(self.deal.workClockTimeRef).unwrap_or(u64::MAX)
    }

    /// Number of tasks of the deal.
    pub fn volume(&self) -> u64 {
        u64::try_from(self.deal.volume).unwrap_or(u64::MAX)
    }
}

/// A row of `deals`, its deal decoded.
fn deal_row(row: &AnyRow) -> Result<DealRow, SchedulerError> {
    let encoded: String = row.try_get("deal")?;
    let bytes =
        hex::decode(&encoded).map_err(|_| SchedulerError::Corrupt("deal encoding".into()))?;
    let deal = Deal::abi_decode(&bytes)
        .map_err(|e| SchedulerError::Corrupt(format!("deal encoding: {e}")))?;
    Ok(DealRow {
        deal_id: parse(row, "dealid")?,
        deal,
        params: row.try_get("params")?,
        block_number: uint(row, "block_number")?,
        start_time: uint(row, "start_time")?,
    })
}

impl Store {
    /// Stores a deal and its tasks (status unset) in one transaction. Storing a deal already
    /// known changes nothing and returns false.
    pub async fn insert_deal(&self, deal: &DealRow) -> Result<bool, SchedulerError> {
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO deals (dealid, deal, params, trust, volume, block_number, start_time) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (dealid) DO NOTHING",
        )
        .bind(deal.deal_id.to_string())
        .bind(hex::encode(deal.deal.abi_encode()))
        .bind(deal.params.clone())
        .bind(bigint(deal.trust(), "trust")?)
        .bind(bigint(deal.volume(), "volume")?)
        .bind(bigint(deal.block_number, "block")?)
        .bind(bigint(deal.start_time, "start time")?)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if inserted {
            for index in 0..deal.volume() {
                sqlx::query(
                    "INSERT INTO tasks (taskid, dealid, idx, status, updated_block) \
                     VALUES ($1, $2, $3, 'unset', $4) ON CONFLICT (taskid) DO NOTHING",
                )
                .bind(decloud_protocol::task_id(deal.deal_id, index).to_string())
                .bind(deal.deal_id.to_string())
                .bind(bigint(index, "index")?)
                .bind(bigint(deal.block_number, "block")?)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        if inserted {
            // A deal forgotten after a reorg and mined again may sit in another block.
            super::entries(&self.deals).remove(&deal.deal_id);
        }
        Ok(inserted)
    }

    /// The deal with this id, if known.
    pub async fn deal(&self, deal_id: B256) -> Result<Option<DealRow>, SchedulerError> {
        if let Some(known) = super::entries(&self.deals).get(&deal_id) {
            return Ok(Some(known.clone()));
        }
        let query = sqlx::query("SELECT * FROM deals WHERE dealid = $1").bind(deal_id.to_string());
        let read = rows(query, deal_row).optional(&self.reads).await?;
        if let Some(row) = &read {
            super::entries(&self.deals).insert(deal_id, row.clone());
        }
        Ok(read)
    }

    /// Every known deal, oldest first.
    pub async fn deals(&self) -> Result<Vec<DealRow>, SchedulerError> {
        let query = sqlx::query("SELECT * FROM deals ORDER BY block_number, dealid");
        rows(query, deal_row).all(&self.reads).await
    }

    /// Ids of the deals created after block `block`.
    pub async fn deals_after(&self, block: u64) -> Result<Vec<B256>, SchedulerError> {
        let query = sqlx::query("SELECT dealid FROM deals WHERE block_number > $1")
            .bind(bigint(block, "block")?);
        rows(query, |r| Ok(parse(r, "dealid")?))
            .all(&self.reads)
            .await
    }

    /// Forgets a deal a reorg removed from the chain, with its tasks, unless work was already
    /// handed out for it (then it is kept, and the follower logs it). Returns whether it was
    /// removed.
    pub async fn forget_deal(&self, deal_id: B256) -> Result<bool, SchedulerError> {
        let mut tx = self.pool.begin().await?;
        let busy: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM replicates r JOIN tasks t ON r.taskid = t.taskid \
             WHERE t.dealid = $1",
        )
        .bind(deal_id.to_string())
        .fetch_one(&mut *tx)
        .await?
        .try_get("n")?;
        if busy > 0 {
            return Ok(false);
        }
        sqlx::query("DELETE FROM tasks WHERE dealid = $1")
            .bind(deal_id.to_string())
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM deals WHERE dealid = $1")
            .bind(deal_id.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        super::entries(&self.deals).remove(&deal_id);
        Ok(true)
    }
}
