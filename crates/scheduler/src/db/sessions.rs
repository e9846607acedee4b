//! Login challenges and sessions (stored by their token's hash).

use alloy::primitives::Address;
use decloud_sql::column::{bigint, parse, rows, uint};

use super::Store;
use crate::SchedulerError;

impl Store {
    /// Stores a login challenge valid until `deadline` ([`Store::purge_expired`] drops old
    /// ones).
    pub async fn insert_challenge(&self, nonce: &str, deadline: u64) -> Result<(), SchedulerError> {
        sqlx::query("INSERT INTO challenges (nonce, deadline) VALUES ($1, $2)")
            .bind(nonce.to_owned())
            .bind(bigint(deadline, "deadline")?)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Consumes a challenge: true once for a stored, unexpired `(nonce, deadline)`, false after.
    pub async fn take_challenge(
        &self,
        nonce: &str,
        deadline: u64,
        now: u64,
    ) -> Result<bool, SchedulerError> {
        let mut conn = self.pool.acquire().await?;
        Self::take_challenge_on(&mut conn, nonce, deadline, now).await
    }

    async fn take_challenge_on(
        conn: &mut sqlx::AnyConnection,
        nonce: &str,
        deadline: u64,
        now: u64,
    ) -> Result<bool, SchedulerError> {
        let result = sqlx::query(
            "DELETE FROM challenges WHERE nonce = $1 AND deadline = $2 AND deadline >= $3",
        )
        .bind(nonce.to_owned())
        .bind(bigint(deadline, "deadline")?)
        .bind(bigint(now, "time")?)
        .execute(conn)
        .await?;
        Ok(result.rows_affected() == 1)
    }

    /// Completes a login in one transaction: consumes the challenge `(nonce, deadline)` (false,
    /// and nothing changes, when it is unknown, used or expired), registers or updates the
    /// worker, and stores its session (by the token's hash).
    #[allow(clippy::too_many_arguments)]
    pub async fn complete_login(
        &self,
        nonce: &str,
        deadline: u64,
        now: u64,
        worker: Address,
        capacity: u64,
        score: u64,
        token_hash: &str,
        expires_at: u64,
    ) -> Result<bool, SchedulerError> {
        let mut tx = self.pool.begin().await?;
        if !Self::take_challenge_on(&mut tx, nonce, deadline, now).await? {
            tx.rollback().await?;
            return Ok(false);
        }
        Self::upsert_worker_on(&mut tx, worker, capacity, score, now).await?;
        Self::insert_session_on(&mut tx, token_hash, worker, expires_at).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Drops expired challenges and sessions.
    pub async fn purge_expired(&self, now: u64) -> Result<(), SchedulerError> {
        let mut tx = self.pool.begin().await?;
        for statement in [
            "DELETE FROM challenges WHERE deadline < $1",
            "DELETE FROM sessions WHERE expires_at < $1",
        ] {
            sqlx::query(statement)
                .bind(bigint(now, "time")?)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
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
            .optional(&self.pool)
            .await
    }
}
