//! Apps, data and workers: their owner, group and access bits.

use super::*;

impl Store {
    /// The owner, group and bits of object `id` of `kind`.
    pub(crate) async fn meta(&self, kind: Kind, id: &str) -> Result<Option<Meta>, PoolError> {
        let (table, key) = kind.table();
        let sql = format!("SELECT owner, grp, mode FROM {table} WHERE {key} = $1");
        rows(
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id.to_owned()),
            Meta::read,
        )
        .optional(&self.pool)
        .await
    }

    pub(crate) async fn set_mode(&self, kind: Kind, id: &str, mode: Mode) -> Result<(), PoolError> {
        let (table, key) = kind.table();
        let sql = format!("UPDATE {table} SET mode = $1 WHERE {key} = $2");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(i64::from(mode.bits()))
            .bind(id.to_owned())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub(crate) async fn set_group(
        &self,
        kind: Kind,
        id: &str,
        group: Option<&str>,
    ) -> Result<(), PoolError> {
        let (table, key) = kind.table();
        let sql = format!("UPDATE {table} SET grp = $1 WHERE {key} = $2");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(group.map(str::to_owned))
            .bind(id.to_owned())
            .execute(&self.pool)
            .await?;
        // Of the kinds with a group, only workers take part in placing deals.
        if kind == Kind::Worker {
            match id.parse() {
                Ok(address) => self.placement_changed(Listed::Worker(address)),
                Err(_) => self.placement_forgotten(),
            }
        }
        Ok(())
    }

    /// Deletes object `id` of `kind`; whether it existed.
    pub(crate) async fn delete_object(&self, kind: Kind, id: &str) -> Result<bool, PoolError> {
        let (table, key) = kind.table();
        let sql = format!("DELETE FROM {table} WHERE {key} = $1");
        let done = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.to_owned())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// How many jobs not yet ended use app or datum `id` (`column`: `app_id` or `datum_id`).
    pub(crate) async fn unfinished_jobs_using(
        &self,
        column: &'static str,
        id: &str,
    ) -> Result<i64, PoolError> {
        let sql = format!(
            "SELECT COUNT(*) AS n FROM pool_jobs WHERE {column} = $1 AND status IN ('pending', 'running')"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.to_owned())
            .fetch_one(&self.pool)
            .await?;
        Ok(sqlx::Row::try_get::<i64, _>(&row, "n")?)
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn insert_object(
        &self,
        kind: Kind,
        id: &str,
        name: &str,
        meta: &Meta,
        confinement: Confinement,
        datum_kind: &str,
        content: &[u8],
        now: u64,
    ) -> Result<(), PoolError> {
        let checksum = crate::sha256_hex(content);
        let sql = match kind {
            Kind::App => {
                "INSERT INTO pool_apps (id, name, owner, grp, mode, visibility, checksum, size, content, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
            }
            _ => {
                "INSERT INTO pool_data (id, name, owner, grp, mode, visibility, checksum, size, content, created_at, kind) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
            }
        };
        let mut query = sqlx::query(sql)
            .bind(id.to_owned())
            .bind(name.to_owned())
            .bind(meta.owner.clone())
            .bind(meta.group.clone())
            .bind(i64::from(meta.mode.bits()))
            .bind(confinement.as_str())
            .bind(checksum)
            .bind(bigint(content.len() as u64, "size")?)
            .bind(B64.encode(content))
            .bind(bigint(now, "time")?);
        if kind == Kind::Data {
            query = query.bind(datum_kind.to_owned());
        }
        query.execute(&self.pool).await?;
        Ok(())
    }

    pub(crate) async fn object(
        &self,
        kind: Kind,
        id: &str,
    ) -> Result<Option<ObjectRow>, PoolError> {
        let (sql, fixed) = match kind {
            Kind::App => (
                format!("SELECT {OBJECT_COLUMNS} FROM pool_apps WHERE id = $1"),
                Some("app"),
            ),
            _ => (
                format!("SELECT {OBJECT_COLUMNS}, kind FROM pool_data WHERE id = $1"),
                None,
            ),
        };
        rows(
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id.to_owned()),
            |r| read_object(r, fixed),
        )
        .optional(&self.pool)
        .await
    }

    pub(crate) async fn objects(&self, kind: Kind) -> Result<Vec<ObjectRow>, PoolError> {
        let (sql, fixed) = match kind {
            Kind::App => (
                format!("SELECT {OBJECT_COLUMNS} FROM pool_apps ORDER BY created_at, id"),
                Some("app"),
            ),
            _ => (
                format!("SELECT {OBJECT_COLUMNS}, kind FROM pool_data ORDER BY created_at, id"),
                None,
            ),
        };
        rows(sqlx::query(sqlx::AssertSqlSafe(sql)), |r| {
            read_object(r, fixed)
        })
        .all(&self.pool)
        .await
    }

    pub(crate) async fn content(&self, kind: Kind, id: &str) -> Result<Vec<u8>, PoolError> {
        let table = if kind == Kind::App {
            "pool_apps"
        } else {
            "pool_data"
        };
        let sql = format!("SELECT content, checksum FROM {table} WHERE id = $1");
        let row = rows(
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id.to_owned()),
            |r| {
                Ok::<_, PoolError>((
                    parse::<String>(r, "content")?,
                    parse::<String>(r, "checksum")?,
                ))
            },
        )
        .optional(&self.pool)
        .await?
        .ok_or_else(|| PoolError::NotFound(format!("no {} {id}", kind.noun())))?;
        let bytes = B64
            .decode(row.0)
            .map_err(|_| PoolError::Corrupt(format!("{table}.content of {id}")))?;
        // Integrity: the content read is the content stored.
        if crate::sha256_hex(&bytes) != row.1 {
            return Err(PoolError::Corrupt(format!(
                "{table}.content of {id} does not match its checksum"
            )));
        }
        Ok(bytes)
    }

    pub(crate) async fn upsert_worker(
        &self,
        address: Address,
        meta: &Meta,
        confinement: Confinement,
    ) -> Result<(), PoolError> {
        sqlx::query(
            "INSERT INTO pool_workers (address, owner, grp, mode, visibility) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (address) DO UPDATE SET owner = $2, grp = $3, mode = $4, visibility = $5",
        )
        .bind(address.to_string())
        .bind(meta.owner.clone())
        .bind(meta.group.clone())
        .bind(i64::from(meta.mode.bits()))
        .bind(confinement.as_str())
        .execute(&self.pool)
        .await?;
        self.placement_changed(Listed::Worker(address));
        Ok(())
    }

    pub(crate) async fn workers(&self) -> Result<Vec<ObjectRow>, PoolError> {
        let query = sqlx::query(
            "SELECT address AS id, address AS name, owner, grp, mode, visibility, '' AS checksum, \
             CAST(0 AS BIGINT) AS size FROM pool_workers ORDER BY address",
        );
        rows(query, |r| read_object(r, Some("worker")))
            .all(&self.pool)
            .await
    }

    /// A worker's confinement: public when the pool does not list it.
    pub(super) async fn worker(&self, address: Address) -> Result<Worker, PoolError> {
        let listed = self.listed_visibility(Listed::Worker(address)).await?;
        Ok(Worker {
            visibility: listed.unwrap_or(Visibility::Public),
        })
    }
}
