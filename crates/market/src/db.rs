//! The order book's storage: one table of published orders and the follower's block cursor,
//! behind the same SQL on SQLite (embedded, the default) and Postgres (by URL).

use alloy::primitives::{Address, B256};
use decloud_sql::column::{Value, bigint, bind_all, parse, parse_opt, rows, uint, uint_opt};
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};

use crate::MarketError;

pub use decloud_protocol::OrderKind;

/// Longest an order stays open in the book: one without an expiry (or with a later one) is
/// closed 30 days after it was published, so orders nobody matches don't pile up forever; its
/// signer publishes it again to keep offering it.
pub const MAX_ORDER_LIFETIME_SECS: u64 = 30 * 24 * 3600;

/// Where an order stands in the book.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrderStatus {
    /// Can still be matched.
    Open,
    /// Its whole volume was consumed by deals.
    Filled,
    /// Its signer cancelled it.
    Cancelled,
    /// It can no longer be matched for another reason (expired, owner changed, funds gone).
    Dead,
}

impl OrderStatus {
    fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Filled => "filled",
            Self::Cancelled => "cancelled",
            Self::Dead => "dead",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "filled" => Self::Filled,
            "cancelled" => Self::Cancelled,
            "dead" => Self::Dead,
            _ => Self::Open,
        }
    }
}

/// An order the market accepted, with the fields the book is queried and sorted by pulled out
/// of the signed body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookEntry {
    /// EIP-712 hash of the order: its id.
    pub hash: B256,
    /// Which kind of order.
    pub kind: OrderKind,
    /// The app, dataset or workerpool offered; for a request, the app asked for.
    pub resource: Address,
    /// Who signed it (the resource owner, or the requester).
    pub signer: Address,
    /// Price per task in token units (for a request: the most it pays the workerpool).
    pub price: u64,
    /// Tasks the order was signed for.
    pub volume: u64,
    /// Tasks still available.
    pub remaining: u64,
    /// Requirements bitmap.
    pub tag: B256,
    /// Category (workerpool and request orders).
    pub category: Option<u64>,
    /// Trust (workerpool and request orders).
    pub trust: Option<u64>,
    /// The workerpool a request names (or the workerpool offered), when there is one.
    pub workerpool: Option<Address>,
    /// The dataset a request names (or the dataset offered), when there is one.
    pub dataset: Option<Address>,
    /// Expiry in unix seconds, 0 for none.
    pub expiry: u64,
    /// Where it stands.
    pub status: OrderStatus,
    /// The signed order exactly as published (with its signature).
    pub order: serde_json::Value,
}

/// Filters of an order-book query; unset fields match everything.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct BookQuery {
    /// Only orders for this resource (app, dataset or workerpool; a request's app).
    pub resource: Option<Address>,
    /// Only orders signed by this account.
    pub signer: Option<Address>,
    /// Only orders of this category.
    pub category: Option<u64>,
    /// Only orders offering at least this trust (workerpools) / asking at most (requests).
    pub trust: Option<u64>,
    /// Only orders naming this workerpool.
    pub workerpool: Option<Address>,
    /// Only orders naming this dataset.
    pub dataset: Option<Address>,
    /// Only orders whose price is at most this.
    pub max_price: Option<u64>,
    /// Include orders that are no longer open.
    #[serde(default)]
    pub all: bool,
    /// Page number, from 0.
    #[serde(default)]
    pub page: u32,
    /// Orders per page (at most [`MAX_PAGE_SIZE`]).
    pub page_size: Option<u32>,
}

/// Largest page a query returns.
pub const MAX_PAGE_SIZE: u32 = 200;
/// Page size when the query names none.
pub const DEFAULT_PAGE_SIZE: u32 = 20;

/// The book's schema, version by version.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The order book's database.
#[derive(Clone, Debug)]
pub struct OrderBook {
    pool: AnyPool,
}

decloud_sql::column_errors!(MarketError);

/// A row of `orders`, its signed body parsed back.
fn entry(row: &AnyRow) -> Result<BookEntry, MarketError> {
    let status: String = row.try_get("status")?;
    let body: String = row.try_get("body")?;
    Ok(BookEntry {
        hash: parse(row, "hash")?,
        kind: parse(row, "kind")?,
        resource: parse(row, "resource")?,
        signer: parse(row, "signer")?,
        price: uint(row, "price")?,
        volume: uint(row, "volume")?,
        remaining: uint(row, "remaining")?,
        tag: parse(row, "tag")?,
        category: uint_opt(row, "category")?,
        trust: uint_opt(row, "trust")?,
        workerpool: parse_opt(row, "workerpool")?,
        dataset: parse_opt(row, "dataset")?,
        expiry: uint(row, "expiry")?,
        status: OrderStatus::parse(&status),
        order: serde_json::from_str(&body)
            .map_err(|e| MarketError::Corrupt(format!("order body: {e}")))?,
    })
}

/// When an order published at `published_at` with `expiry` (0: none) leaves the book: at its
/// expiry, and at the latest [`MAX_ORDER_LIFETIME_SECS`] after it was published.
fn closes_at(expiry: u64, published_at: u64) -> u64 {
    let latest = published_at.saturating_add(MAX_ORDER_LIFETIME_SECS);
    if expiry == 0 {
        latest
    } else {
        expiry.min(latest)
    }
}

impl OrderBook {
    /// Opens (creating if needed) the database at `url`: `sqlite://path/market.db` or
    /// `postgres://...`, and applies the schema.
    pub async fn open(url: &str) -> Result<Self, MarketError> {
        Ok(Self {
            pool: decloud_sql::open(url, &MIGRATOR).await?,
        })
    }

    /// Stores an accepted order. Publishing the same order twice is not an error: the book keeps
    /// the first copy.
    pub async fn insert(&self, entry: &BookEntry, published_at: u64) -> Result<bool, MarketError> {
        let result = sqlx::query(
            "INSERT INTO orders (hash, kind, resource, signer, price, volume, remaining, tag, category, trust, \
             workerpool, dataset, expiry, status, body, published_at, closes_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) \
             ON CONFLICT (hash) DO NOTHING",
        )
        .bind(entry.hash.to_string())
        .bind(entry.kind.as_str())
        .bind(entry.resource.to_string())
        .bind(entry.signer.to_string())
        .bind(bigint(entry.price, "price")?)
        .bind(bigint(entry.volume, "volume")?)
        .bind(bigint(entry.remaining, "remaining volume")?)
        .bind(entry.tag.to_string())
        .bind(entry.category.map(|c| bigint(c, "category")).transpose()?)
        .bind(entry.trust.map(|t| bigint(t, "trust")).transpose()?)
        .bind(entry.workerpool.map(|a| a.to_string()))
        .bind(entry.dataset.map(|a| a.to_string()))
        .bind(bigint(entry.expiry, "expiry")?)
        .bind(entry.status.as_str())
        .bind(entry.order.to_string())
        .bind(bigint(published_at, "time")?)
        .bind(bigint(closes_at(entry.expiry, published_at), "time")?)
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() == 1)
    }

    /// How many open orders `signer` has in the book.
    pub async fn open_count(&self, signer: Address) -> Result<u64, MarketError> {
        let row =
            sqlx::query("SELECT COUNT(*) AS n FROM orders WHERE signer = $1 AND status = 'open'")
                .bind(signer.to_string())
                .fetch_one(&self.pool)
                .await?;
        Ok(uint(&row, "n")?)
    }

    /// The order with this hash, if the book has it.
    pub async fn get(&self, hash: B256) -> Result<Option<BookEntry>, MarketError> {
        let query = sqlx::query("SELECT * FROM orders WHERE hash = $1").bind(hash.to_string());
        rows(query, entry).optional(&self.pool).await
    }

    /// Orders of `kind` matching `query`, cheapest first (for requests: best paying first),
    /// then oldest first.
    pub async fn query(
        &self,
        kind: OrderKind,
        query: &BookQuery,
        now: u64,
    ) -> Result<Vec<BookEntry>, MarketError> {
        let page_size = query
            .page_size
            .unwrap_or(DEFAULT_PAGE_SIZE)
            .clamp(1, MAX_PAGE_SIZE);
        let text = |a: Option<Address>| a.map(Value::text);
        let int = |n: Option<u64>, what| n.map(|n| Value::bigint(n, what)).transpose();
        let trust = if kind == OrderKind::Request {
            "trust <= ?"
        } else {
            "trust >= ?"
        };
        let open_at = (!query.all).then_some(now);
        // Each filter with its value: a filter without one is left out.
        let filters = [
            ("resource = ?", text(query.resource)),
            ("signer = ?", text(query.signer)),
            ("category = ?", int(query.category, "category")?),
            (trust, int(query.trust, "trust")?),
            (
                "(workerpool = ? OR workerpool IS NULL)",
                text(query.workerpool),
            ),
            ("dataset = ?", text(query.dataset)),
            ("price <= ?", int(query.max_price, "max_price")?),
            (
                "status = 'open' AND remaining > 0 AND (expiry = 0 OR expiry > ?)",
                int(open_at, "time")?,
            ),
        ];
        let (clauses, values): (Vec<_>, Vec<_>) = filters
            .into_iter()
            .filter_map(|(clause, value)| Some((clause, value?)))
            .unzip();
        let mut sql = String::from("SELECT * FROM orders WHERE kind = $1");
        for (i, clause) in clauses.iter().enumerate() {
            sql.push_str(" AND ");
            sql.push_str(&clause.replace('?', &format!("${}", i + 2)));
        }
        sql.push_str(if kind == OrderKind::Request {
            " ORDER BY price DESC, published_at ASC, hash ASC"
        } else {
            " ORDER BY price ASC, published_at ASC, hash ASC"
        });
        sql.push_str(&format!(
            " LIMIT {page_size} OFFSET {}",
            u64::from(query.page) * u64::from(page_size)
        ));

        // Every piece of `sql` is a literal of this function or a number it formatted; values are bound.
        let q = bind_all(
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(kind.as_str()),
            values,
        );
        rows(q, entry).all(&self.pool).await
    }

    /// Records what the chain says of an order: its remaining volume and status.
    pub async fn update(
        &self,
        hash: B256,
        remaining: u64,
        status: OrderStatus,
    ) -> Result<bool, MarketError> {
        let result = sqlx::query("UPDATE orders SET remaining = $1, status = $2 WHERE hash = $3")
            .bind(bigint(remaining, "remaining volume")?)
            .bind(status.as_str())
            .bind(hash.to_string())
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected() == 1)
    }

    /// Closes (status `dead`) every open order past its expiry, or published more than
    /// [`MAX_ORDER_LIFETIME_SECS`] before `now`, in one statement; returns how many. No chain
    /// read: an order's state on chain changes only through the events the follower reads, so
    /// time is the one thing left to apply. The statement walks an index of the open orders by
    /// closing time, so a pass reads only the orders it closes, whatever the size of the book.
    pub async fn expire(&self, now: u64) -> Result<u64, MarketError> {
        let result = sqlx::query(
            "UPDATE orders SET status = 'dead' WHERE status = 'open' AND closes_at <= $1",
        )
        .bind(bigint(now, "time")?)
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected())
    }

    /// The database, for the chain follower's own state.
    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Last block the chain follower fully processed, if any.
    pub async fn cursor(&self) -> Result<Option<u64>, MarketError> {
        let query = sqlx::query("SELECT block FROM cursor WHERE id = 1");
        rows(query, |r| Ok(uint(r, "block")?))
            .optional(&self.pool)
            .await
    }

    /// Stores the follower's cursor (after the block's effects are stored).
    pub async fn set_cursor(&self, block: u64) -> Result<(), MarketError> {
        sqlx::query("INSERT INTO cursor (id, block) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET block = $1")
            .bind(bigint(block, "block")?)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use decloud_sql::testing::TestDb;

    use super::*;

    async fn expired_and_too_old_orders_leave_the_book_without_a_chain_read(db: &TestDb) {
        let book = book(db).await;
        let now = 10 * MAX_ORDER_LIFETIME_SECS;
        let mut expired = entry(1, OrderKind::App, 5);
        expired.expiry = now - 1;
        let mut later = entry(2, OrderKind::App, 5);
        later.expiry = now + 60;
        let never = entry(3, OrderKind::App, 5);
        let old = entry(4, OrderKind::App, 5);
        book.insert(&expired, now - 100).await.unwrap();
        book.insert(&later, now - 100).await.unwrap();
        book.insert(&never, now - MAX_ORDER_LIFETIME_SECS + 1)
            .await
            .unwrap();
        book.insert(&old, now - MAX_ORDER_LIFETIME_SECS)
            .await
            .unwrap();
        assert_eq!(book.expire(now).await.unwrap(), 2);
        for (e, status) in [
            (&expired, OrderStatus::Dead),
            (&later, OrderStatus::Open),
            (&never, OrderStatus::Open),
            (&old, OrderStatus::Dead),
        ] {
            assert_eq!(book.get(e.hash).await.unwrap().unwrap().status, status);
        }
        assert_eq!(book.expire(now).await.unwrap(), 0, "nothing twice");
    }

    fn entry(byte: u8, kind: OrderKind, price: u64) -> BookEntry {
        BookEntry {
            hash: B256::repeat_byte(byte),
            kind,
            resource: Address::repeat_byte(0xAA),
            signer: Address::repeat_byte(byte),
            price,
            volume: 10,
            remaining: 10,
            tag: B256::ZERO,
            category: Some(0),
            trust: Some(3),
            workerpool: None,
            dataset: None,
            expiry: 0,
            status: OrderStatus::Open,
            order: serde_json::json!({ "n": byte }),
        }
    }

    /// The book, opened on the test's fresh database.
    async fn book(db: &TestDb) -> OrderBook {
        OrderBook::open(db.url()).await.unwrap()
    }

    /// The prices of the orders of `kind` that `query` finds at time `now`, in the book's order.
    async fn prices(book: &OrderBook, kind: OrderKind, query: &BookQuery, now: u64) -> Vec<u64> {
        let found = book.query(kind, query, now).await.unwrap();
        found.iter().map(|e| e.price).collect()
    }

    async fn orders_come_back_cheapest_first_and_requests_best_paying_first(db: &TestDb) {
        let book = &book(db).await;
        for (byte, price) in [(1, 30), (2, 10), (3, 20)] {
            assert!(
                book.insert(&entry(byte, OrderKind::App, price), 100)
                    .await
                    .unwrap()
            );
            book.insert(&entry(byte + 10, OrderKind::Request, price), 100)
                .await
                .unwrap();
        }
        let all = BookQuery::default();
        assert_eq!(prices(book, OrderKind::App, &all, 0).await, [10, 20, 30]);
        assert_eq!(
            prices(book, OrderKind::Request, &all, 0).await,
            [30, 20, 10]
        );
        // The same order published twice is stored once.
        assert!(
            !book
                .insert(&entry(1, OrderKind::App, 30), 200)
                .await
                .unwrap()
        );
        assert_eq!(
            book.get(B256::repeat_byte(1)).await.unwrap().unwrap(),
            entry(1, OrderKind::App, 30)
        );
    }

    async fn filters_paging_status_and_expiry(db: &TestDb) {
        let book = &book(db).await;
        for byte in 1..=5u8 {
            book.insert(&entry(byte, OrderKind::Workerpool, u64::from(byte)), 0)
                .await
                .unwrap();
        }
        let mut expiring = entry(9, OrderKind::Workerpool, 1);
        expiring.expiry = 50;
        book.insert(&expiring, 0).await.unwrap();
        let page = |page, page_size| BookQuery {
            page,
            page_size: Some(page_size),
            ..BookQuery::default()
        };
        let prices =
            async |query: &BookQuery, now| prices(book, OrderKind::Workerpool, query, now).await;
        // At time 40 the expiring order shows; at 60 it does not.
        assert_eq!(prices(&page(0, 100), 40).await.len(), 6);
        assert_eq!(prices(&page(0, 100), 60).await.len(), 5);
        assert_eq!(prices(&page(1, 2), 60).await, [3, 4]);

        book.update(B256::repeat_byte(1), 0, OrderStatus::Filled)
            .await
            .unwrap();
        book.update(B256::repeat_byte(2), 10, OrderStatus::Cancelled)
            .await
            .unwrap();
        assert_eq!(prices(&page(0, 100), 60).await, [3, 4, 5]);
        let all = BookQuery {
            all: true,
            ..page(0, 100)
        };
        assert_eq!(prices(&all, 60).await.len(), 6);

        let cheap = BookQuery {
            max_price: Some(4),
            trust: Some(3),
            ..page(0, 100)
        };
        assert_eq!(prices(&cheap, 60).await.len(), 2);
        let too_trusting = BookQuery {
            trust: Some(4),
            ..page(0, 100)
        };
        assert!(prices(&too_trusting, 60).await.is_empty());
    }

    /// The schema as it shipped before versioned migrations: every start ran its statements
    /// one by one.
    use super::closes_at as closes_at_of;

    const UNVERSIONED_SCHEMA: &str = include_str!("../migrations/0001_initial.sql");

    async fn a_book_from_before_versioned_migrations_is_upgraded_with_its_orders(db: &TestDb) {
        let url = db.url();
        let pool = db.connect().await;
        sqlx::raw_sql(UNVERSIONED_SCHEMA)
            .execute(&pool)
            .await
            .unwrap();
        let old = OrderBook { pool };
        // An order as the first schema stored it (no closing time).
        let e = entry(1, OrderKind::App, 30);
        sqlx::query(
            "INSERT INTO orders (hash, kind, resource, signer, price, volume, remaining, tag, \
             category, trust, expiry, status, body, published_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 100)",
        )
        .bind(e.hash.to_string())
        .bind(e.kind.as_str())
        .bind(e.resource.to_string())
        .bind(e.signer.to_string())
        .bind(e.price as i64)
        .bind(e.volume as i64)
        .bind(e.remaining as i64)
        .bind(e.tag.to_string())
        .bind(e.category.map(|c| c as i64))
        .bind(e.trust.map(|t| t as i64))
        .bind(e.expiry as i64)
        .bind(e.status.as_str())
        .bind(e.order.to_string())
        .execute(&old.pool)
        .await
        .unwrap();
        old.set_cursor(41).await.unwrap();
        old.pool.close().await;

        let book = OrderBook::open(url).await.unwrap();
        // Every migration ran: the latest is the orders' closing time (0004).
        assert_eq!(
            decloud_sql::schema_version(&book.pool).await.unwrap(),
            Some(4)
        );
        let follower_state: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM chain_cursor")
            .fetch_one(&book.pool)
            .await
            .unwrap();
        assert_eq!(follower_state, 0);
        assert_eq!(
            book.get(B256::repeat_byte(1)).await.unwrap().unwrap(),
            entry(1, OrderKind::App, 30)
        );
        assert_eq!(book.cursor().await.unwrap(), Some(41));
        let closes_at: i64 = sqlx::query_scalar("SELECT closes_at FROM orders")
            .fetch_one(&book.pool)
            .await
            .unwrap();
        assert_eq!(
            closes_at as u64,
            closes_at_of(e.expiry, 100),
            "the closing time is filled in for the orders already there"
        );
        // Opening it again finds the version recorded and runs nothing again (or the dropped
        // table would come back).
        sqlx::query("DROP TABLE cursor")
            .execute(&book.pool)
            .await
            .unwrap();
        book.pool.close().await;
        let book = OrderBook::open(url).await.unwrap();
        assert_eq!(
            decloud_sql::schema_version(&book.pool).await.unwrap(),
            Some(4)
        );
        assert!(book.cursor().await.is_err());
        assert_eq!(
            book.get(B256::repeat_byte(1)).await.unwrap().unwrap(),
            entry(1, OrderKind::App, 30)
        );
    }

    async fn cursor_survives_a_reopen(db: &TestDb) {
        let url = db.url();
        let book = OrderBook::open(url).await.unwrap();
        assert_eq!(book.cursor().await.unwrap(), None);
        book.set_cursor(41).await.unwrap();
        book.set_cursor(42).await.unwrap();
        drop(book);
        let reopened = OrderBook::open(url).await.unwrap();
        assert_eq!(reopened.cursor().await.unwrap(), Some(42));
    }

    decloud_sql::test_on_every_backend!(
        orders_come_back_cheapest_first_and_requests_best_paying_first,
        filters_paging_status_and_expiry,
        expired_and_too_old_orders_leave_the_book_without_a_chain_read,
        a_book_from_before_versioned_migrations_is_upgraded_with_its_orders,
        cursor_survives_a_reopen,
    );
}
