//! The chain follower's cursor, and the app and dataset locations it read from the
//! registries' events.

use alloy::primitives::{Address, B256};
use decloud_sql::column::{bigint, parse, rows, uint};
use sqlx::Row;

use super::{Resource, Store};
use crate::SchedulerError;

impl Store {
    /// The last block the follower fully processed and its hash, if any.
    pub async fn cursor(&self) -> Result<Option<(u64, B256)>, SchedulerError> {
        let query = sqlx::query("SELECT block, hash FROM cursor WHERE id = 1");
        rows(query, |r| Ok((uint(r, "block")?, parse(r, "hash")?)))
            .optional(&self.pool)
            .await
    }

    /// Stores the follower's cursor (after the block range's effects are stored).
    pub async fn set_cursor(&self, block: u64, hash: B256) -> Result<(), SchedulerError> {
        let mut tx = self.pool.begin().await?;
        set_cursor(&mut tx, block, hash).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Stores where an app or dataset is (from its registration event).
    pub async fn put_resource(&self, r: &Resource) -> Result<(), SchedulerError> {
        sqlx::query(
            "INSERT INTO resources (address, kind, name, uri, checksum) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (address) DO NOTHING",
        )
        .bind(r.address.to_string())
        .bind(r.kind.clone())
        .bind(r.name.clone())
        .bind(r.uri.clone())
        .bind(r.checksum.to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The app or dataset with this id, if its registration was read.
    pub async fn resource(&self, address: Address) -> Result<Option<Resource>, SchedulerError> {
        if let Some(known) = super::entries(&self.resources).get(&address) {
            return Ok(Some(known.clone()));
        }
        let query =
            sqlx::query("SELECT * FROM resources WHERE address = $1").bind(address.to_string());
        let read: Option<Resource> = rows(query, |r| -> Result<Resource, SchedulerError> {
            Ok(Resource {
                address: parse(r, "address")?,
                kind: r.try_get("kind")?,
                name: r.try_get("name")?,
                uri: r.try_get("uri")?,
                checksum: parse(r, "checksum")?,
            })
        })
        .optional(&self.reads)
        .await?;
        if let Some(resource) = &read {
            super::entries(&self.resources).insert(address, resource.clone());
        }
        Ok(read)
    }
}

/// Writes the follower's cursor in `tx`.
pub(super) async fn set_cursor(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    block: u64,
    hash: B256,
) -> Result<(), SchedulerError> {
    sqlx::query(
        "INSERT INTO cursor (id, block, hash) VALUES (1, $1, $2) \
         ON CONFLICT (id) DO UPDATE SET block = $1, hash = $2",
    )
    .bind(bigint(block, "block")?)
    .bind(hash.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(())
}
