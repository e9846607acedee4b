//! The column conventions every decloud table follows, read and written in one place: ids,
//! addresses, hashes and enums are stored as their text (`0x…`, `active`) and parsed back;
//! counts, prices and times are `u64` stored as `BIGINT` (an `i64`), so a value over `i64::MAX`
//! is refused before it is written and a negative one read back is a corrupt row.

use std::str::FromStr;

use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, Row};

/// A column could not be read as the schema promises.
#[derive(Debug, thiserror::Error)]
pub enum ColumnError {
    /// The query failed, or the column is missing or of another SQL type.
    #[error(transparent)]
    Sql(#[from] sqlx::Error),
    /// The column holds a value its type does not parse: the row is corrupt.
    #[error("{column} = {value}")]
    Corrupt {
        /// The column.
        column: String,
        /// What it holds (text quoted).
        value: String,
    },
}

/// A number a `BIGINT` column cannot hold.
#[derive(Debug, thiserror::Error)]
#[error("{what} {value} is too large (at most {max})", max = i64::MAX)]
pub struct TooLarge {
    /// What the number is (`time`, `price`...).
    pub what: String,
    /// The number.
    pub value: u64,
}

/// `value` as a `BIGINT` column holds it; `what` names it in the refusal.
pub fn bigint(value: u64, what: &str) -> Result<i64, TooLarge> {
    i64::try_from(value).map_err(|_| TooLarge {
        what: what.to_owned(),
        value,
    })
}

fn corrupt(column: &str, value: impl std::fmt::Debug) -> ColumnError {
    ColumnError::Corrupt {
        column: column.to_owned(),
        value: format!("{value:?}"),
    }
}

/// The text column `column` parsed as a `T` (an address, a hash, an enum...).
pub fn parse<T: FromStr>(row: &AnyRow, column: &str) -> Result<T, ColumnError> {
    let text: String = row.try_get(column)?;
    text.parse().map_err(|_| corrupt(column, text))
}

/// The nullable text column `column` parsed as a `T`.
pub fn parse_opt<T: FromStr>(row: &AnyRow, column: &str) -> Result<Option<T>, ColumnError> {
    let text: Option<String> = row.try_get(column)?;
    text.map(|t| t.parse().map_err(|_| corrupt(column, t)))
        .transpose()
}

/// The `BIGINT` column `column` as the `u64` it was written from.
pub fn uint(row: &AnyRow, column: &str) -> Result<u64, ColumnError> {
    let value: i64 = row.try_get(column)?;
    u64::try_from(value).map_err(|_| corrupt(column, value))
}

/// The nullable `BIGINT` column `column` as the `u64` it was written from.
pub fn uint_opt(row: &AnyRow, column: &str) -> Result<Option<u64>, ColumnError> {
    let value: Option<i64> = row.try_get(column)?;
    value
        .map(|v| u64::try_from(v).map_err(|_| corrupt(column, v)))
        .transpose()
}

/// A value to bind to a placeholder, for statements whose values are listed before they are
/// bound (see [`bind_all`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// Text: an id, an address, a hash, an enum's name.
    Text(String),
    /// Nullable text.
    MaybeText(Option<String>),
    /// A `BIGINT`.
    Int(i64),
    /// A nullable `BIGINT`.
    MaybeInt(Option<i64>),
}

impl Value {
    /// The text of `value` (`0x…` for ids and addresses).
    pub fn text(value: impl ToString) -> Self {
        Self::Text(value.to_string())
    }

    /// `value` as a `BIGINT` (see [`bigint`]).
    pub fn bigint(value: u64, what: &str) -> Result<Self, TooLarge> {
        bigint(value, what).map(Self::Int)
    }
}

/// `query` with `values` bound to its next placeholders, in order.
pub fn bind_all<'q>(
    mut query: Query<'q, Any, AnyArguments>,
    values: impl IntoIterator<Item = Value>,
) -> Query<'q, Any, AnyArguments> {
    for value in values {
        query = match value {
            Value::Text(v) => query.bind(v),
            Value::MaybeText(v) => query.bind(v),
            Value::Int(v) => query.bind(v),
            Value::MaybeInt(v) => query.bind(v),
        };
    }
    query
}

/// Lets `?` turn the column errors into `$error`, an enum with the variants every decloud
/// service's error has: a failed query becomes `Database`, a corrupt row `Corrupt`, a number
/// too large for its column `BadRequest` (it came from the caller).
#[macro_export]
macro_rules! column_errors {
    ($error:ty) => {
        impl From<$crate::column::ColumnError> for $error {
            fn from(e: $crate::column::ColumnError) -> Self {
                match e {
                    $crate::column::ColumnError::Sql(e) => Self::Database(e),
                    corrupt => Self::Corrupt(corrupt.to_string()),
                }
            }
        }

        impl From<$crate::column::TooLarge> for $error {
            fn from(e: $crate::column::TooLarge) -> Self {
                Self::BadRequest(e.to_string())
            }
        }
    };
}

/// A query and the function that reads each row it returns; see [`rows`].
pub struct Rows<'q, F> {
    query: Query<'q, Any, AnyArguments>,
    read: F,
}

/// `query`, its rows to be read by `read` (one function per row type, shared by every query
/// that returns that type).
pub fn rows<'q, T, E, F>(query: Query<'q, Any, AnyArguments>, read: F) -> Rows<'q, F>
where
    F: Fn(&AnyRow) -> Result<T, E>,
{
    Rows { query, read }
}

impl<'q, T, E: From<sqlx::Error>, F: Fn(&AnyRow) -> Result<T, E>> Rows<'q, F> {
    /// Runs the query on `on` (a pool, or a transaction's connection) and reads every row, in
    /// order.
    pub async fn all<'c>(self, on: impl sqlx::Executor<'c, Database = Any>) -> Result<Vec<T>, E>
    where
        'q: 'c,
    {
        self.query
            .fetch_all(on)
            .await?
            .iter()
            .map(self.read)
            .collect()
    }

    /// Runs the query on `on` (a pool, or a transaction's connection) and reads its first row,
    /// if any.
    pub async fn optional<'c>(
        self,
        on: impl sqlx::Executor<'c, Database = Any>,
    ) -> Result<Option<T>, E>
    where
        'q: 'c,
    {
        let row = self.query.fetch_optional(on).await?;
        row.as_ref().map(self.read).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::AnyPool;

    use crate::testing::TestDb;

    /// A connection to the test's database.
    async fn pool(db: &TestDb) -> AnyPool {
        crate::open(db.url(), &sqlx::migrate::Migrator::DEFAULT)
            .await
            .unwrap()
    }

    async fn columns_parse_or_name_the_corrupt_value(db: &TestDb) {
        let row = sqlx::query(
            "SELECT 'active' AS good, 'x1' AS bad, NULL AS none, \
             CAST(7 AS BIGINT) AS n, CAST(-1 AS BIGINT) AS negative",
        )
        .fetch_one(&pool(db).await)
        .await
        .unwrap();
        assert_eq!(parse::<String>(&row, "good").unwrap(), "active");
        assert_eq!(uint(&row, "n").unwrap(), 7);
        assert_eq!(uint_opt(&row, "n").unwrap(), Some(7));
        assert_eq!(parse_opt::<u8>(&row, "none").unwrap(), None);
        assert_eq!(
            parse::<u8>(&row, "bad").unwrap_err().to_string(),
            r#"bad = "x1""#
        );
        assert_eq!(
            uint(&row, "negative").unwrap_err().to_string(),
            "negative = -1"
        );
        assert!(matches!(
            uint(&row, "missing"),
            Err(ColumnError::Sql(sqlx::Error::ColumnNotFound(_)))
        ));
    }

    async fn values_bind_in_order(db: &TestDb) {
        let pool = pool(db).await;
        let query = sqlx::query("SELECT $1 AS a, $2 AS b, $3 AS c, $4 AS d");
        let values = [
            Value::text(7),
            Value::bigint(8, "b").unwrap(),
            Value::MaybeInt(None),
            Value::MaybeText(None),
        ];
        let row = bind_all(query, values).fetch_one(&pool).await.unwrap();
        assert_eq!(parse::<u8>(&row, "a").unwrap(), 7);
        assert_eq!(uint(&row, "b").unwrap(), 8);
        assert_eq!(uint_opt(&row, "c").unwrap(), None);
        assert_eq!(parse_opt::<String>(&row, "d").unwrap(), None);
    }

    crate::test_on_every_backend!(
        columns_parse_or_name_the_corrupt_value,
        values_bind_in_order
    );

    #[test]
    fn bigint_refuses_what_does_not_fit() {
        assert_eq!(bigint(5, "time").unwrap(), 5);
        assert_eq!(
            bigint(u64::MAX, "price").unwrap_err().to_string(),
            format!("price {} is too large (at most {})", u64::MAX, i64::MAX)
        );
    }
}
