//! Login sessions (stored by their token's hash; challenges live in memory, see
//! `crate::challenges`).

use alloy::primitives::Address;
use decloud_sql::column::{bigint, parse, rows, uint};

use super::Store;
use crate::SchedulerError;

/// A login to store: the worker as it logged in and its session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewLogin {
    /// When it logged in (unix seconds).
    pub now: u64,
    /// The worker.
    pub worker: Address,
    /// The replicates it is served at once.
    pub capacity: u64,
    /// Its score on chain.
    pub score: u64,
    /// The sha256 of its session token.
    pub token_hash: String,
    /// When the session expires (unix seconds).
    pub expires_at: u64,
    /// The TEE backend it announced.
    pub tee: decloud_protocol::pool::TeeBackend,
}

impl Store {
    /// Completes logins in one transaction (one commit): registers or updates each worker and
    /// stores its session (by the token's hash). They are durable once this returns, so a
    /// scheduler restart keeps every session it acknowledged; on an error none is stored.
    pub async fn complete_logins(&self, logins: &[NewLogin]) -> Result<(), SchedulerError> {
        let mut tx = self.pool.begin().await?;
        for l in logins {
            Self::upsert_worker_on(&mut tx, l.worker, l.capacity, l.score, l.now).await?;
            Self::set_tee_on(&mut tx, l.worker, l.tee).await?;
            Self::insert_session_on(&mut tx, &l.token_hash, l.worker, l.expires_at).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Drops expired sessions.
    pub async fn purge_expired(&self, now: u64) -> Result<(), SchedulerError> {
        sqlx::query("DELETE FROM sessions WHERE expires_at < $1")
            .bind(bigint(now, "time")?)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Stores a session (by the hash of its token: the token itself is never stored).
    pub async fn insert_session(
        &self,
        token_hash: &str,
        worker: Address,
        expires_at: u64,
    ) -> Result<(), SchedulerError> {
        let mut conn = self.pool.acquire().await?;
        Self::insert_session_on(&mut conn, token_hash, worker, expires_at).await
    }

    pub(super) async fn insert_session_on(
        conn: &mut sqlx::AnyConnection,
        token_hash: &str,
        worker: Address,
        expires_at: u64,
    ) -> Result<(), SchedulerError> {
        sqlx::query("INSERT INTO sessions (token_hash, worker, expires_at) VALUES ($1, $2, $3)")
            .bind(token_hash.to_owned())
            .bind(worker.to_string())
            .bind(bigint(expires_at, "expiry")?)
            .execute(conn)
            .await?;
        Ok(())
    }

    /// The worker of an unexpired session.
    pub async fn session_worker(
        &self,
        token_hash: &str,
        now: u64,
    ) -> Result<Option<Address>, SchedulerError> {
        Ok(self.session(token_hash, now).await?.map(|(w, _)| w))
    }

    /// The worker and expiry of an unexpired session.
    pub async fn session(
        &self,
        token_hash: &str,
        now: u64,
    ) -> Result<Option<(Address, u64)>, SchedulerError> {
        let query = sqlx::query(
            "SELECT worker, expires_at FROM sessions WHERE token_hash = $1 AND expires_at >= $2",
        )
        .bind(token_hash.to_owned())
        .bind(bigint(now, "time")?);
        rows(query, |r| Ok((parse(r, "worker")?, uint(r, "expires_at")?)))
            .optional(&self.reads)
            .await
    }
}
