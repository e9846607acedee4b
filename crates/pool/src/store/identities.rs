//! The pool's users, groups, identities, sessions and login challenges.

use super::*;

impl Store {
    /// Creates the administrator `name` unless it exists.
    pub(crate) async fn create_admin(
        &self,
        name: &str,
        hash: &str,
        now: u64,
    ) -> Result<(), PoolError> {
        if self.user(name).await?.is_none() {
            self.create_user(name, Right::Administrator, true, Some(hash), now)
                .await?;
        }
        Ok(())
    }

    /// Creates a user, owned by itself, bits 750; refused when the name is taken.
    pub(crate) async fn create_user(
        &self,
        name: &str,
        right: Right,
        active: bool,
        hash: Option<&str>,
        now: u64,
    ) -> Result<(), PoolError> {
        let result = sqlx::query(
            "INSERT INTO pool_users (name, user_right, status, password_hash, owner, grp, mode, created_at) \
             VALUES ($1, $2, $3, $4, $1, NULL, $5, $6) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name.to_owned())
        .bind(right.as_str())
        .bind(if active { "active" } else { "pending" })
        .bind(hash.map(str::to_owned))
        .bind(i64::from(Mode::GROUP.bits()))
        .bind(bigint(now, "time")?)
        .execute(&self.pool)
        .await?;
        if result.rows_affected() == 0 {
            return Err(PoolError::Conflict(format!(
                "user {name} exists already: pick another name"
            )));
        }
        Ok(())
    }

    pub(crate) async fn user(&self, name: &str) -> Result<Option<UserRow>, PoolError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM pool_users WHERE name = $1");
        rows(
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(name.to_owned()),
            read_user,
        )
        .optional(&self.pool)
        .await
    }

    pub(crate) async fn users(&self) -> Result<Vec<UserRow>, PoolError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM pool_users ORDER BY name");
        rows(sqlx::query(sqlx::AssertSqlSafe(sql)), read_user)
            .all(&self.pool)
            .await
    }

    pub(crate) async fn set_user(
        &self,
        name: &str,
        right: Option<Right>,
        active: Option<bool>,
    ) -> Result<bool, PoolError> {
        let mut changed = 0;
        if let Some(right) = right {
            changed += sqlx::query("UPDATE pool_users SET user_right = $1 WHERE name = $2")
                .bind(right.as_str())
                .bind(name.to_owned())
                .execute(&self.pool)
                .await?
                .rows_affected();
        }
        if let Some(active) = active {
            changed += sqlx::query("UPDATE pool_users SET status = $1 WHERE name = $2")
                .bind(if active { "active" } else { "pending" })
                .bind(name.to_owned())
                .execute(&self.pool)
                .await?
                .rows_affected();
        }
        Ok(changed > 0)
    }

    pub(crate) async fn groups_of(&self, user: &str) -> Result<Vec<String>, PoolError> {
        let query = sqlx::query("SELECT grp FROM pool_members WHERE user_name = $1 ORDER BY grp")
            .bind(user.to_owned());
        rows(query, |r| Ok::<_, PoolError>(parse(r, "grp")?))
            .all(&self.pool)
            .await
    }

    pub(crate) async fn identities_of(&self, user: &str) -> Result<Vec<String>, PoolError> {
        let query = sqlx::query(
            "SELECT kind, subject FROM pool_identities WHERE user_name = $1 ORDER BY kind, subject",
        )
        .bind(user.to_owned());
        rows(query, |r| {
            let kind: String = parse(r, "kind")?;
            let subject: String = parse(r, "subject")?;
            Ok::<_, PoolError>(format!("{kind}:{subject}"))
        })
        .all(&self.pool)
        .await
    }

    /// The user of the identity `(kind, subject)`.
    pub(crate) async fn identity(
        &self,
        kind: &str,
        subject: &str,
    ) -> Result<Option<String>, PoolError> {
        let query =
            sqlx::query("SELECT user_name FROM pool_identities WHERE kind = $1 AND subject = $2")
                .bind(kind.to_owned())
                .bind(subject.to_owned());
        rows(query, |r| Ok::<_, PoolError>(parse(r, "user_name")?))
            .optional(&self.pool)
            .await
    }

    /// Creates the user `name` (active or pending) with the identity `(kind, subject)`, in one
    /// transaction; a concurrent login of the same identity makes the second one a no-op.
    pub(crate) async fn create_identity(
        &self,
        kind: &str,
        subject: &str,
        name: &str,
        right: Right,
        active: bool,
        now: u64,
    ) -> Result<(), PoolError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO pool_users (name, user_right, status, password_hash, owner, grp, mode, created_at) \
             VALUES ($1, $2, $3, NULL, $1, NULL, $4, $5) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name.to_owned())
        .bind(right.as_str())
        .bind(if active { "active" } else { "pending" })
        .bind(i64::from(Mode::GROUP.bits()))
        .bind(bigint(now, "time")?)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO pool_identities (kind, subject, user_name) VALUES ($1, $2, $3) \
             ON CONFLICT (kind, subject) DO NOTHING",
        )
        .bind(kind.to_owned())
        .bind(subject.to_owned())
        .bind(name.to_owned())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn create_group(&self, name: &str, owner: &str) -> Result<(), PoolError> {
        let result = sqlx::query(
            "INSERT INTO pool_groups (name, owner, grp, mode) VALUES ($1, $2, $1, $3) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name.to_owned())
        .bind(owner.to_owned())
        .bind(i64::from(Mode::GROUP.bits()))
        .execute(&self.pool)
        .await?;
        if result.rows_affected() == 0 {
            return Err(PoolError::Conflict(format!(
                "group {name} exists already: pick another name"
            )));
        }
        self.add_member(name, owner).await
    }

    pub(crate) async fn add_member(&self, group: &str, user: &str) -> Result<(), PoolError> {
        sqlx::query(
            "INSERT INTO pool_members (grp, user_name) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(group.to_owned())
        .bind(user.to_owned())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(crate) async fn members(&self, group: &str) -> Result<Vec<String>, PoolError> {
        let query =
            sqlx::query("SELECT user_name FROM pool_members WHERE grp = $1 ORDER BY user_name")
                .bind(group.to_owned());
        rows(query, |r| Ok::<_, PoolError>(parse(r, "user_name")?))
            .all(&self.pool)
            .await
    }

    pub(crate) async fn group_names(&self) -> Result<Vec<String>, PoolError> {
        rows(
            sqlx::query("SELECT name FROM pool_groups ORDER BY name"),
            |r| Ok::<_, PoolError>(parse(r, "name")?),
        )
        .all(&self.pool)
        .await
    }

    pub(crate) async fn insert_session(
        &self,
        token_hash: &str,
        user: &str,
        expires_at: u64,
    ) -> Result<(), PoolError> {
        sqlx::query(
            "INSERT INTO pool_sessions (token_hash, user_name, expires_at) VALUES ($1, $2, $3)",
        )
        .bind(token_hash.to_owned())
        .bind(user.to_owned())
        .bind(bigint(expires_at, "expiry")?)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(crate) async fn session(
        &self,
        token_hash: &str,
        now: u64,
    ) -> Result<Option<String>, PoolError> {
        let query = sqlx::query(
            "SELECT user_name FROM pool_sessions WHERE token_hash = $1 AND expires_at >= $2",
        )
        .bind(token_hash.to_owned())
        .bind(bigint(now, "time")?);
        rows(query, |r| Ok::<_, PoolError>(parse(r, "user_name")?))
            .optional(&self.pool)
            .await
    }

    pub(crate) async fn insert_challenge(
        &self,
        nonce: &str,
        deadline: u64,
    ) -> Result<(), PoolError> {
        sqlx::query("DELETE FROM pool_challenges WHERE deadline < $1")
            .bind(bigint(
                deadline.saturating_sub(2 * crate::api::CHALLENGE_TTL_SECS),
                "time",
            )?)
            .execute(&self.pool)
            .await?;
        sqlx::query("INSERT INTO pool_challenges (nonce, deadline) VALUES ($1, $2)")
            .bind(nonce.to_owned())
            .bind(bigint(deadline, "deadline")?)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Consumes a challenge: true once for a stored, unexpired one.
    pub(crate) async fn take_challenge(
        &self,
        nonce: &str,
        deadline: u64,
        now: u64,
    ) -> Result<bool, PoolError> {
        let result = sqlx::query(
            "DELETE FROM pool_challenges WHERE nonce = $1 AND deadline = $2 AND deadline >= $3",
        )
        .bind(nonce.to_owned())
        .bind(bigint(deadline, "deadline")?)
        .bind(bigint(now, "time")?)
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() == 1)
    }
}
