//! A service's JSON state in one row of a `(id BIGINT PRIMARY KEY, state TEXT NOT NULL)` table:
//! the chain follower's cursor (with the hashes of the last blocks read) and whatever the
//! service keeps beside it. Written in the transaction of what it describes, so that a restart
//! resumes exactly after what was stored.

use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::{Any, Executor, Row};

use crate::column::ColumnError;

/// The state stored in `table`, if any (a row that does not parse is a corrupt row).
pub async fn load<'c, T, E>(conn: E, table: &'static str) -> Result<Option<T>, ColumnError>
where
    T: DeserializeOwned,
    E: Executor<'c, Database = Any>,
{
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT state FROM {table} WHERE id = 1"
    )))
    .fetch_optional(conn)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let text: String = row.try_get("state")?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|_| ColumnError::Corrupt {
            column: format!("{table}.state"),
            value: format!("{text:?}"),
        })
}

/// Stores `state` in `table`, replacing what was there.
pub async fn store<'c, T, E>(conn: E, table: &'static str, state: &T) -> Result<(), ColumnError>
where
    T: Serialize,
    E: Executor<'c, Database = Any>,
{
    let text = serde_json::to_string(state).map_err(|e| ColumnError::Corrupt {
        column: format!("{table}.state"),
        value: format!("(cannot be encoded: {e})"),
    })?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO {table} (id, state) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET state = $1"
    )))
    .bind(text)
    .execute(conn)
    .await?;
    Ok(())
}
