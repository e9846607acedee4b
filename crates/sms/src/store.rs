//! The SMS's tables: secrets (sealed), each owner's last write nonce, the release challenges
//! used (until they expire) and the one enclave key released per task. Every rule that must hold under concurrent requests is a
//! conditional statement inside one transaction, so two racing writes or releases can't both
//! win.

use alloy::primitives::{Address, B256};
use alloy::sol_types::SolValue;
use decloud_chain::contracts::IHub;
use decloud_chain::follower::Cursor;
use decloud_protocol::tee::SecretKind;
use decloud_sql::column::{bigint, parse, rows, uint};
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};

use crate::SmsError;
use crate::chain::DealOnChain;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// What the SMS tells about a stored secret: never its value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretMeta {
    /// The kind.
    pub kind: SecretKind,
    /// The app, dataset or owner address it hangs on.
    pub object: Address,
    /// Its name.
    pub name: String,
    /// Who wrote the current version.
    pub owner: Address,
    /// The current version.
    pub version: u64,
    /// The `ciphertextHash` its owner signed (sha256 of the sealed write, not of the value).
    pub ciphertext_hash: B256,
    /// When it was written (unix seconds).
    pub updated_at: u64,
}

/// A stored secret: its description and its value sealed at rest.
#[derive(Clone, Debug)]
pub struct StoredSecret {
    /// What it is.
    pub meta: SecretMeta,
    /// The value, sealed with the node key (see [`crate::seal::NodeKey::seal_at_rest`]).
    pub sealed: Vec<u8>,
}

/// How a write was refused by the database's own rules.
#[derive(Debug, PartialEq, Eq)]
pub enum WriteOutcome {
    /// Stored.
    Stored,
    /// The nonce is not the owner's last + 1.
    BadNonce {
        /// The nonce the owner's next write must carry.
        expected: u64,
    },
    /// The version is not above the stored one.
    NotNewer {
        /// The stored version.
        stored: u64,
    },
}

/// The SMS's database.
#[derive(Clone, Debug)]
pub struct SecretStore {
    pool: AnyPool,
}

fn kind_of(row: &AnyRow) -> Result<SecretKind, SmsError> {
    let code = uint(row, "kind")?;
    u8::try_from(code)
        .ok()
        .and_then(SecretKind::from_code)
        .ok_or_else(|| SmsError::Corrupt(format!("unknown secret kind {code}")))
}

fn stored(row: &AnyRow) -> Result<StoredSecret, SmsError> {
    let sealed: String = row.try_get("sealed")?;
    Ok(StoredSecret {
        meta: SecretMeta {
            kind: kind_of(row)?,
            object: parse(row, "object")?,
            name: row.try_get("name")?,
            owner: parse(row, "owner")?,
            version: uint(row, "version")?,
            ciphertext_hash: parse(row, "ciphertext_hash")?,
            updated_at: uint(row, "updated_at")?,
        },
        sealed: hex::decode(sealed).map_err(|e| SmsError::Corrupt(format!("sealed value: {e}")))?,
    })
}

impl SecretStore {
    /// Opens (creating if needed) the database at `url` and applies the schema.
    pub async fn open(url: &str) -> Result<Self, SmsError> {
        Ok(Self {
            pool: decloud_sql::open(url, &MIGRATOR).await?,
        })
    }

    /// The last write nonce of `owner` (0 before its first write).
    pub async fn last_nonce(&self, owner: Address) -> Result<u64, SmsError> {
        let row = sqlx::query("SELECT last_nonce FROM owner_nonces WHERE owner = $1")
            .bind(owner.to_string())
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(row) => uint(&row, "last_nonce")?,
            None => 0,
        })
    }

    /// The secret `(kind, object, name)`, if stored.
    pub async fn get(
        &self,
        kind: SecretKind,
        object: Address,
        name: &str,
    ) -> Result<Option<StoredSecret>, SmsError> {
        let query =
            sqlx::query("SELECT * FROM secrets WHERE kind = $1 AND object = $2 AND name = $3")
                .bind(i64::from(kind.code()))
                .bind(object.to_string())
                .bind(name.to_owned());
        rows(query, stored).optional(&self.pool).await
    }

    /// Every secret of `kind` on `object`, by name.
    pub async fn all_of(
        &self,
        kind: SecretKind,
        object: Address,
    ) -> Result<Vec<StoredSecret>, SmsError> {
        let query =
            sqlx::query("SELECT * FROM secrets WHERE kind = $1 AND object = $2 ORDER BY name")
                .bind(i64::from(kind.code()))
                .bind(object.to_string());
        rows(query, stored).all(&self.pool).await
    }

    /// Every secret a release may need, in one query (a release is on the critical path of a
    /// task, and a keeper answers one per task): every secret named by `(kind, object, name)`
    /// in `named`, and every secret of kind `kind` on `object` for each `(kind, object)` in
    /// `all_of`. Unordered.
    pub async fn get_many(
        &self,
        named: &[(SecretKind, Address, &str)],
        all_of: &[(SecretKind, Address)],
    ) -> Result<Vec<StoredSecret>, SmsError> {
        use decloud_sql::column::{Value, bind_all};
        let mut clauses = Vec::new();
        let mut values = Vec::new();
        for (kind, object, name) in named {
            let at = values.len();
            clauses.push(format!(
                "(kind = ${} AND object = ${} AND name = ${})",
                at + 1,
                at + 2,
                at + 3
            ));
            values.push(Value::Int(i64::from(kind.code())));
            values.push(Value::text(object));
            values.push(Value::Text((*name).to_owned()));
        }
        for (kind, object) in all_of {
            let at = values.len();
            clauses.push(format!("(kind = ${} AND object = ${})", at + 1, at + 2));
            values.push(Value::Int(i64::from(kind.code())));
            values.push(Value::text(object));
        }
        if clauses.is_empty() {
            return Ok(Vec::new());
        }
        // Only placeholders are spliced in; every value is bound.
        let sql = format!("SELECT * FROM secrets WHERE {}", clauses.join(" OR "));
        rows(
            bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), values),
            stored,
        )
        .all(&self.pool)
        .await
    }

    /// Stores a write in one transaction: the owner's nonce must be its last + 1 and the
    /// version above the stored one, else nothing changes.
    pub async fn write(
        &self,
        meta: &SecretMeta,
        nonce: u64,
        sealed: &[u8],
    ) -> Result<WriteOutcome, SmsError> {
        let mut tx = self.pool.begin().await?;
        let owner = meta.owner.to_string();
        let last = match sqlx::query("SELECT last_nonce FROM owner_nonces WHERE owner = $1")
            .bind(owner.clone())
            .fetch_optional(&mut *tx)
            .await?
        {
            Some(row) => uint(&row, "last_nonce")?,
            None => 0,
        };
        if nonce != last + 1 {
            return Ok(WriteOutcome::BadNonce { expected: last + 1 });
        }
        // Conditional on the value read, so a concurrent write of the same nonce loses.
        let bumped = if last == 0 {
            sqlx::query(
                "INSERT INTO owner_nonces (owner, last_nonce) VALUES ($1, $2) ON CONFLICT (owner) DO NOTHING",
            )
            .bind(owner.clone())
            .bind(bigint(nonce, "nonce")?)
            .execute(&mut *tx)
            .await?
        } else {
            sqlx::query(
                "UPDATE owner_nonces SET last_nonce = $1 WHERE owner = $2 AND last_nonce = $3",
            )
            .bind(bigint(nonce, "nonce")?)
            .bind(owner.clone())
            .bind(bigint(last, "nonce")?)
            .execute(&mut *tx)
            .await?
        };
        if bumped.rows_affected() != 1 {
            return Ok(WriteOutcome::BadNonce { expected: last + 2 });
        }
        let upsert = sqlx::query(
            "INSERT INTO secrets (kind, object, name, owner, version, ciphertext_hash, sealed, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (kind, object, name) DO UPDATE SET owner = excluded.owner, \
             version = excluded.version, ciphertext_hash = excluded.ciphertext_hash, \
             sealed = excluded.sealed, updated_at = excluded.updated_at \
             WHERE secrets.version < excluded.version",
        )
        .bind(i64::from(meta.kind.code()))
        .bind(meta.object.to_string())
        .bind(meta.name.clone())
        .bind(owner)
        .bind(bigint(meta.version, "version")?)
        .bind(meta.ciphertext_hash.to_string())
        .bind(hex::encode(sealed))
        .bind(bigint(meta.updated_at, "time")?)
        .execute(&mut *tx)
        .await?;
        if upsert.rows_affected() != 1 {
            // Read inside the transaction: SQLite has one connection, which it holds.
            let row = sqlx::query(
                "SELECT version FROM secrets WHERE kind = $1 AND object = $2 AND name = $3",
            )
            .bind(i64::from(meta.kind.code()))
            .bind(meta.object.to_string())
            .bind(meta.name.clone())
            .fetch_optional(&mut *tx)
            .await?;
            let stored = row
                .map(|r| uint(&r, "version"))
                .transpose()?
                .unwrap_or_default();
            return Ok(WriteOutcome::NotNewer { stored });
        }
        tx.commit().await?;
        Ok(WriteOutcome::Stored)
    }

    /// The enclave key already released for `task`, if any.
    pub async fn released_to(&self, task: B256) -> Result<Option<Address>, SmsError> {
        let query =
            sqlx::query("SELECT enclave FROM releases WHERE task_id = $1").bind(task.to_string());
        rows(query, |row: &AnyRow| -> Result<Address, SmsError> {
            Ok(parse(row, "enclave")?)
        })
        .optional(&self.pool)
        .await
    }

    /// Commits a release before it is answered: records the challenge `nonce` (valid until
    /// `expires_at`, which must not be before `now`) as used, refusing one already used, and
    /// `enclave` as the task's one key. Returns why not, leaving both unchanged. Challenges are
    /// made without a record ([`crate::seal::NodeKey::challenge`]): this is their only write,
    /// and the used ones are forgotten once expired (an expired nonce is refused anyway).
    pub async fn commit_release(
        &self,
        nonce: B256,
        expires_at: u64,
        task: B256,
        enclave: Address,
        now: u64,
    ) -> Result<Result<(), String>, SmsError> {
        if expires_at < now {
            return Ok(Err(format!(
                "the nonce expired at {expires_at} (now {now}): take a fresh one from POST /v1/challenges"
            )));
        }
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM challenges WHERE expires_at < $1")
            .bind(bigint(now, "time")?)
            .execute(&mut *tx)
            .await?;
        let used = sqlx::query(
            "INSERT INTO challenges (nonce, expires_at, used) VALUES ($1, $2, 1) ON CONFLICT (nonce) DO NOTHING",
        )
        .bind(nonce.to_string())
        .bind(bigint(expires_at, "time")?)
        .execute(&mut *tx)
        .await?;
        if used.rows_affected() != 1 {
            return Ok(Err(
                "the nonce was already used: take a fresh one from POST /v1/challenges".to_owned(),
            ));
        }
        let inserted = sqlx::query(
            "INSERT INTO releases (task_id, enclave, released_at) VALUES ($1, $2, $3) ON CONFLICT (task_id) DO NOTHING",
        )
        .bind(task.to_string())
        .bind(enclave.to_string())
        .bind(bigint(now, "time")?)
        .execute(&mut *tx)
        .await?;
        // The first release of the task (the common case) needs no read back.
        if inserted.rows_affected() != 1 {
            let row = sqlx::query("SELECT enclave FROM releases WHERE task_id = $1")
                .bind(task.to_string())
                .fetch_one(&mut *tx)
                .await?;
            let recorded: Address = parse(&row, "enclave")?;
            if recorded != enclave {
                return Ok(Err(format!(
                    "task {task} was already released to enclave key {recorded}: one enclave per task"
                )));
            }
        }
        tx.commit().await?;
        Ok(Ok(()))
    }
}

/// The table of the chain follower's cursor.
const FOLLOW_STATE: &str = "follow_state";

/// A deal the follower read, with the block of its `DealCreated` event.
#[derive(Clone, Debug)]
pub struct FollowedDeal {
    /// Its id.
    pub deal_id: B256,
    /// The block of its `DealCreated` event.
    pub block: u64,
    /// The deal and its params.
    pub deal: DealOnChain,
}

impl SecretStore {
    /// The chain follower's cursor, `None` before its first range.
    pub async fn cursor(&self) -> Result<Option<Cursor>, SmsError> {
        Ok(decloud_sql::state::load(&self.pool, FOLLOW_STATE).await?)
    }

    /// Stores one range's deals and the cursor after them, in one transaction, so that a
    /// restart resumes exactly after what was stored.
    pub async fn add_deals(&self, deals: &[FollowedDeal], cursor: &Cursor) -> Result<(), SmsError> {
        let mut tx = self.pool.begin().await?;
        for d in deals {
            sqlx::query(
                "INSERT INTO deals (deal_id, block, deal, params) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (deal_id) DO UPDATE SET block = excluded.block, deal = excluded.deal, \
                 params = excluded.params",
            )
            .bind(d.deal_id.to_string())
            .bind(bigint(d.block, "block")?)
            .bind(hex::encode(d.deal.deal.abi_encode()))
            .bind(d.deal.params.clone())
            .execute(&mut *tx)
            .await?;
        }
        decloud_sql::state::store(&mut *tx, FOLLOW_STATE, cursor).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Undoes a reorg: forgets the deals of blocks `from` and later and stores `cursor`, in one
    /// transaction; returns how many deals went.
    pub async fn rewind_deals(&self, from: u64, cursor: &Cursor) -> Result<u64, SmsError> {
        let mut tx = self.pool.begin().await?;
        let gone = sqlx::query("DELETE FROM deals WHERE block >= $1")
            .bind(bigint(from, "block")?)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        decloud_sql::state::store(&mut *tx, FOLLOW_STATE, cursor).await?;
        tx.commit().await?;
        Ok(gone)
    }

    /// The deal `deal_id`, if the follower stored it.
    pub async fn deal(&self, deal_id: B256) -> Result<Option<DealOnChain>, SmsError> {
        let query = sqlx::query("SELECT deal, params FROM deals WHERE deal_id = $1")
            .bind(deal_id.to_string());
        rows(query, |row: &AnyRow| -> Result<DealOnChain, SmsError> {
            let text: String = row.try_get("deal")?;
            let deal = hex::decode(&text)
                .ok()
                .and_then(|bytes| IHub::Deal::abi_decode(&bytes).ok())
                .ok_or_else(|| SmsError::Corrupt(format!("deal {deal_id}")))?;
            Ok(DealOnChain {
                deal,
                params: row.try_get("params")?,
            })
        })
        .optional(&self.pool)
        .await
    }
}

#[cfg(test)]
mod tests {
    use decloud_sql::testing::TestDb;

    use super::*;

    fn meta(version: u64) -> SecretMeta {
        SecretMeta {
            kind: SecretKind::RequesterSecret,
            object: Address::repeat_byte(1),
            name: "token".into(),
            owner: Address::repeat_byte(1),
            version,
            ciphertext_hash: B256::repeat_byte(9),
            updated_at: 100,
        }
    }

    async fn writes_keep_nonce_and_version_rules(db: &TestDb) {
        let store = SecretStore::open(db.url()).await.unwrap();
        assert_eq!(
            store.write(&meta(1), 1, b"a").await.unwrap(),
            WriteOutcome::Stored
        );
        assert_eq!(
            store.write(&meta(2), 1, b"b").await.unwrap(),
            WriteOutcome::BadNonce { expected: 2 }
        );
        assert_eq!(
            store.write(&meta(1), 2, b"b").await.unwrap(),
            WriteOutcome::NotNewer { stored: 1 }
        );
        // The refused write changed nothing: not the nonce, not the value.
        assert_eq!(store.last_nonce(meta(1).owner).await.unwrap(), 1);
        let s = store
            .get(meta(1).kind, meta(1).object, "token")
            .await
            .unwrap()
            .unwrap();
        assert_eq!((s.meta.version, s.sealed.as_slice()), (1, &b"a"[..]));
        assert_eq!(
            store.write(&meta(5), 2, b"c").await.unwrap(),
            WriteOutcome::Stored
        );
        assert_eq!(store.last_nonce(meta(1).owner).await.unwrap(), 2);
    }
    decloud_sql::test_on_every_backend!(writes_keep_nonce_and_version_rules);

    async fn a_task_is_released_to_one_enclave_and_a_nonce_once(db: &TestDb) {
        let store = SecretStore::open(db.url()).await.unwrap();
        let (n1, n2, n3) = (
            B256::repeat_byte(1),
            B256::repeat_byte(2),
            B256::repeat_byte(3),
        );
        let task = B256::repeat_byte(7);
        let (e1, e2) = (Address::repeat_byte(1), Address::repeat_byte(2));
        let commit = async |nonce, expires_at, task, enclave, now| {
            store
                .commit_release(nonce, expires_at, task, enclave, now)
                .await
                .unwrap()
        };
        let recorded = async || -> i64 {
            sqlx::query("SELECT COUNT(*) AS n FROM challenges")
                .fetch_one(&store.pool)
                .await
                .unwrap()
                .try_get("n")
                .unwrap()
        };
        assert_eq!(commit(n1, 1060, task, e1, 1001).await, Ok(()));
        let again = commit(n1, 1060, task, e1, 1002).await.unwrap_err();
        assert!(again.contains("already used"), "{again}");
        let second = commit(n2, 1060, task, e2, 1002).await.unwrap_err();
        assert!(second.contains("one enclave per task"), "{second}");
        // The refused release left its nonce unused: another task takes it.
        let other = B256::repeat_byte(8);
        assert_eq!(commit(n2, 1060, other, e2, 1003).await, Ok(()));
        let expired = commit(n3, 1060, task, e1, 2000).await.unwrap_err();
        assert!(expired.contains("expired"), "{expired}");
        // Once expired, a used nonce is forgotten (it is refused by its expiry).
        assert_eq!(
            recorded().await,
            2,
            "n1 and n2 are recorded until they expire"
        );
        let third = B256::repeat_byte(9);
        assert_eq!(commit(n3, 3000, third, e1, 2000).await, Ok(()));
        assert_eq!(recorded().await, 1, "only n3 is left");
        assert_eq!(store.released_to(task).await.unwrap(), Some(e1));
    }
    decloud_sql::test_on_every_backend!(a_task_is_released_to_one_enclave_and_a_nonce_once);

    async fn deals_and_the_cursor_move_together(db: &TestDb) {
        let store = SecretStore::open(db.url()).await.unwrap();
        assert!(store.cursor().await.unwrap().is_none());
        let followed = |n: u8, block: u64| FollowedDeal {
            deal_id: B256::repeat_byte(n),
            block,
            deal: DealOnChain {
                deal: (&decloud_protocol::typed::Deal {
                    app: Address::repeat_byte(n),
                    volume: alloy::primitives::U256::from(3),
                    ..Default::default()
                })
                    .into(),
                params: format!("{{\"n\":{n}}}"),
            },
        };
        let at_12 = Cursor::start_at(12);
        store
            .add_deals(&[followed(1, 10), followed(2, 11)], &at_12)
            .await
            .unwrap();
        assert_eq!(store.cursor().await.unwrap(), Some(at_12));
        let two = store.deal(B256::repeat_byte(2)).await.unwrap().unwrap();
        assert_eq!(two.deal.app, Address::repeat_byte(2));
        assert_eq!(two.deal.volume, alloy::primitives::U256::from(3));
        assert_eq!(two.params, r#"{"n":2}"#);
        // A reorg from block 11 takes deal 2 and keeps deal 1.
        let at_11 = Cursor::start_at(11);
        assert_eq!(store.rewind_deals(11, &at_11).await.unwrap(), 1);
        assert!(store.deal(B256::repeat_byte(2)).await.unwrap().is_none());
        assert!(store.deal(B256::repeat_byte(1)).await.unwrap().is_some());
        assert_eq!(store.cursor().await.unwrap(), Some(at_11));
    }
    decloud_sql::test_on_every_backend!(deals_and_the_cursor_move_together);
}
