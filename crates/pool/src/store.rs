//! The pool's SQL: users, groups, identities, sessions, apps, data, jobs and workers, each
//! object with its owner, group and access bits.

use std::sync::LazyLock;

use alloy::primitives::Address;
use base64::Engine;
use decloud_access::{
    Datum, DatumKind, Job, Mode, Placement, Principal, Right, Visibility, Worker,
};
use decloud_sql::column::{bigint, parse, parse_opt, rows, uint};
use sqlx::AnyPool;
use sqlx::any::AnyRow;

use crate::PoolError;
use crate::wire::{ChainKind, Confinement, JobInfo, JobOutcome, ObjectInfo, WorkOrder};

/// The pool's schema, in its own migration table so that it can share the scheduler's
/// database.
static MIGRATOR: LazyLock<sqlx::migrate::Migrator> = LazyLock::new(|| {
    let mut migrator = sqlx::migrate!("./migrations");
    migrator.dangerous_set_table_name("_decloud_pool_migrations");
    migrator
});

pub(crate) const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Who owns an object, its group and its access bits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Meta {
    /// Its owner's name.
    pub owner: String,
    /// Its group.
    pub group: Option<String>,
    /// Its access bits.
    pub mode: Mode,
}

/// Most deal tasks one statement of [`Store::upsert_deal_jobs`] writes (three bound values each,
/// well under SQLite's and Postgres' limits).
const DEAL_JOBS_PER_STATEMENT: usize = 300;

impl Meta {
    fn read(r: &AnyRow) -> Result<Self, PoolError> {
        Ok(Self {
            owner: parse(r, "owner")?,
            group: parse_opt(r, "grp")?,
            mode: Mode::from_bits(u16::try_from(uint(r, "mode")?).unwrap_or(0)),
        })
    }
}

/// A logged-in user as the access checks see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// Its name.
    pub name: String,
    /// Its right.
    pub right: Right,
    /// Its groups.
    pub groups: Vec<String>,
}

impl Caller {
    /// The caller as `decloud-access` sees it.
    pub fn principal(&self) -> Principal {
        Principal {
            id: self.name.clone(),
            groups: self.groups.clone(),
            right: self.right,
        }
    }
}

/// The kinds of object, each in its table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    App,
    Data,
    Job,
    User,
    Group,
    Worker,
}

impl Kind {
    pub(crate) fn parse(text: &str) -> Option<Kind> {
        Some(match text {
            "apps" => Kind::App,
            "data" => Kind::Data,
            "jobs" => Kind::Job,
            "users" => Kind::User,
            "groups" => Kind::Group,
            "workers" => Kind::Worker,
            _ => return None,
        })
    }

    fn table(self) -> (&'static str, &'static str) {
        match self {
            Kind::App => ("pool_apps", "id"),
            Kind::Data => ("pool_data", "id"),
            Kind::Job => ("pool_jobs", "id"),
            Kind::User => ("pool_users", "name"),
            Kind::Group => ("pool_groups", "name"),
            Kind::Worker => ("pool_workers", "address"),
        }
    }

    pub(crate) fn noun(self) -> &'static str {
        match self {
            Kind::App => "app",
            Kind::Data => "datum",
            Kind::Job => "job",
            Kind::User => "user",
            Kind::Group => "group",
            Kind::Worker => "worker",
        }
    }
}

/// Which content of a job a worker downloads.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Part {
    App,
    Datum,
}

/// The visibility `decloud-access` sees for an object.
pub(crate) fn visibility(confinement: Confinement, meta: &Meta) -> Visibility {
    match (confinement, &meta.group) {
        (Confinement::Public, _) => Visibility::Public,
        (Confinement::Group, Some(g)) => Visibility::Group(g.clone()),
        // A group object without a group reaches nobody but its owner.
        (Confinement::Group, None) | (Confinement::Private, _) => {
            Visibility::Private(meta.owner.clone())
        }
    }
}

/// How the pool confines on-chain deals: the visibility of each listed worker and of each
/// listed app or dataset address; anything not listed is public.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DealPlacement {
    workers: std::collections::HashMap<Address, Visibility>,
    resources: std::collections::HashMap<Address, Visibility>,
}

impl DealPlacement {
    /// Whether a task of a deal of `app` (and `dataset`, zero for none) may go to `worker`:
    /// [`decloud_access::Placement`] with the pool's records, so a private app's task reaches
    /// only its owner's private workers, a group's only the group's workers.
    pub fn allows(&self, worker: Address, app: Address, dataset: Address) -> bool {
        let public = Visibility::Public;
        let machine = Worker {
            visibility: self.workers.get(&worker).unwrap_or(&public).clone(),
        };
        let datum = |address: Address| {
            let visibility = self.resources.get(&address).unwrap_or(&public).clone();
            let owner = match &visibility {
                Visibility::Private(owner) => owner.clone(),
                _ => String::new(),
            };
            Datum {
                visibility,
                kind: DatumKind::Data,
                owner,
            }
        };
        let job = Job {
            app: self.resources.get(&app).unwrap_or(&public).clone(),
            data: (dataset != Address::ZERO)
                .then(|| datum(dataset))
                .into_iter()
                .collect(),
        };
        Placement::of(&job, &machine) == Placement::Allowed
    }

    /// Whether nothing is confined (every deal's task may go to every worker).
    pub fn is_open(&self) -> bool {
        self.resources.values().all(|v| *v == Visibility::Public)
    }
}

/// A user row.
#[derive(Clone, Debug)]
pub(crate) struct UserRow {
    pub(crate) name: String,
    pub(crate) right: Right,
    pub(crate) active: bool,
    pub(crate) password_hash: Option<String>,
    pub(crate) meta: Meta,
}

/// An app or a datum row, without its content.
#[derive(Clone, Debug)]
pub(crate) struct ObjectRow {
    pub(crate) info: ObjectInfo,
    pub(crate) meta: Meta,
}

impl ObjectRow {
    pub(crate) fn visibility(&self) -> Visibility {
        let confinement = if self.info.kind == "certificate" {
            Confinement::Private
        } else {
            self.info.confinement
        };
        visibility(confinement, &self.meta)
    }

    pub(crate) fn datum(&self) -> Datum {
        Datum {
            visibility: self.visibility(),
            kind: if self.info.kind == "certificate" {
                DatumKind::Certificate
            } else {
                DatumKind::Data
            },
            owner: self.meta.owner.clone(),
        }
    }
}

fn read_object(r: &AnyRow, kind: Option<&str>) -> Result<ObjectRow, PoolError> {
    let meta = Meta::read(r)?;
    let confinement: String = parse(r, "visibility")?;
    let info = ObjectInfo {
        id: parse(r, "id")?,
        name: parse(r, "name")?,
        owner: meta.owner.clone(),
        group: meta.group.clone(),
        mode: meta.mode,
        confinement: confinement
            .parse()
            .map_err(|_| PoolError::Corrupt(format!("visibility = {confinement:?}")))?,
        kind: match kind {
            Some(k) => k.to_owned(),
            None => parse(r, "kind")?,
        },
        checksum: parse(r, "checksum")?,
        size: uint(r, "size")?,
    };
    Ok(ObjectRow { info, meta })
}

fn read_user(r: &AnyRow) -> Result<UserRow, PoolError> {
    let right: String = parse(r, "user_right")?;
    let status: String = parse(r, "status")?;
    Ok(UserRow {
        name: parse(r, "name")?,
        right: right
            .parse()
            .map_err(|_| PoolError::Corrupt(format!("user_right = {right:?}")))?,
        active: status == "active",
        password_hash: parse_opt(r, "password_hash")?,
        meta: Meta::read(r)?,
    })
}

/// A job row.
#[derive(Clone, Debug)]
pub(crate) struct JobRow {
    pub(crate) info: JobInfo,
    pub(crate) meta: Meta,
    pub(crate) created_at: u64,
}

fn read_job(r: &AnyRow) -> Result<JobRow, PoolError> {
    let meta = Meta::read(r)?;
    Ok(JobRow {
        info: JobInfo {
            id: parse(r, "id")?,
            owner: meta.owner.clone(),
            group: meta.group.clone(),
            mode: meta.mode,
            app: parse(r, "app_id")?,
            datum: parse_opt(r, "datum_id")?,
            args: parse(r, "args")?,
            status: parse(r, "status")?,
            worker: parse_opt(r, "worker")?,
            result_checksum: parse_opt(r, "result_checksum")?,
            reason: parse_opt(r, "reason")?,
            origin: parse(r, "origin")?,
        },
        meta,
        created_at: uint(r, "created_at")?,
    })
}

const JOB_COLUMNS: &str = "id, owner, grp, mode, app_id, datum_id, args, status, worker, \
     result_checksum, reason, origin, created_at";
const OBJECT_COLUMNS: &str = "id, name, owner, grp, mode, visibility, checksum, size";
const USER_COLUMNS: &str = "name, user_right, status, password_hash, owner, grp, mode";

/// The pool's database.
#[derive(Clone, Debug)]
pub(crate) struct Store {
    pool: AnyPool,
    /// [`Store::placement`] as last read, and what changed since: every claim of a deal's task
    /// consults it, so it must cost no query, and a change of one worker must not cost a read
    /// of them all (10,000 rows, under the scheduler's claims' lock).
    placement: std::sync::Arc<std::sync::RwLock<PlacementCache>>,
}

/// [`Store::placement`]'s copy.
#[derive(Debug, Default)]
struct PlacementCache {
    /// Counts the changes, so that a copy read while one happened is not kept.
    generation: u64,
    /// The placement as last read, if any.
    read: Option<std::sync::Arc<DealPlacement>>,
    /// The workers and on-chain resources changed since `read` was read: their rows are read
    /// again, one by one, before it is used.
    stale: Vec<Listed>,
}

/// An entry of [`DealPlacement`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Listed {
    Worker(Address),
    Resource(Address),
}

/// Past this many changes since the last read, the placement is read whole again.
const PLACEMENT_PATCH_MAX: usize = 256;

impl Store {
    pub(crate) async fn open(url: &str) -> Result<Self, PoolError> {
        Ok(Self {
            pool: decloud_sql::open(url, &MIGRATOR).await?,
            placement: Default::default(),
        })
    }

    /// Notes that `changed` was written: the placement's copy reads its row again before use.
    fn placement_changed(&self, changed: Listed) {
        if let Ok(mut cached) = self.placement.write() {
            cached.generation = cached.generation.wrapping_add(1);
            if cached.stale.len() >= PLACEMENT_PATCH_MAX {
                // Read whole next time: cheaper than so many rows one by one.
                cached.read = None;
                cached.stale.clear();
            } else if cached.read.is_some() && !cached.stale.contains(&changed) {
                cached.stale.push(changed);
            }
        }
    }

    // ---- users, groups, identities

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

    // ---- sessions and challenges

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

    // ---- any object's owner, group and bits

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

    // ---- apps and data

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

    // ---- workers

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
    async fn worker(&self, address: Address) -> Result<Worker, PoolError> {
        let listed = self.listed_visibility(Listed::Worker(address)).await?;
        Ok(Worker {
            visibility: listed.unwrap_or(Visibility::Public),
        })
    }

    // ---- on-chain apps and datasets

    pub(crate) async fn upsert_chain_resource(
        &self,
        address: Address,
        kind: ChainKind,
        meta: &Meta,
        confinement: Confinement,
    ) -> Result<(), PoolError> {
        sqlx::query(
            "INSERT INTO pool_chain_resources (address, kind, owner, grp, mode, visibility) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (address) DO UPDATE SET kind = $2, \
             owner = $3, grp = $4, mode = $5, visibility = $6",
        )
        .bind(address.to_string())
        .bind(kind.as_str())
        .bind(meta.owner.clone())
        .bind(meta.group.clone())
        .bind(i64::from(meta.mode.bits()))
        .bind(confinement.as_str())
        .execute(&self.pool)
        .await?;
        self.placement_changed(Listed::Resource(address));
        Ok(())
    }

    /// Forgets how an on-chain resource is confined (it is public again); false when unknown.
    pub(crate) async fn delete_chain_resource(&self, address: Address) -> Result<bool, PoolError> {
        let deleted = sqlx::query("DELETE FROM pool_chain_resources WHERE address = $1")
            .bind(address.to_string())
            .execute(&self.pool)
            .await?;
        self.placement_changed(Listed::Resource(address));
        Ok(deleted.rows_affected() > 0)
    }

    pub(crate) async fn chain_resources(&self) -> Result<Vec<ObjectRow>, PoolError> {
        let query = sqlx::query(
            "SELECT address AS id, address AS name, kind, owner, grp, mode, visibility, \
             '' AS checksum, CAST(0 AS BIGINT) AS size FROM pool_chain_resources ORDER BY address",
        );
        rows(query, |r| read_object(r, None)).all(&self.pool).await
    }

    /// Everything placement needs for deals: the listed workers' and on-chain resources'
    /// visibilities (anything else is public). Read whole once, then kept: a change since
    /// costs a read of the rows it changed.
    pub(crate) async fn placement(&self) -> Result<std::sync::Arc<DealPlacement>, PoolError> {
        let (generation, read, stale) = match self.placement.read() {
            Ok(cached) => match &cached.read {
                Some(read) if cached.stale.is_empty() => return Ok(read.clone()),
                Some(read) => (cached.generation, Some(read.clone()), cached.stale.clone()),
                _ => (cached.generation, None, Vec::new()),
            },
            Err(_) => (0, None, Vec::new()),
        };
        let placement = match read {
            Some(read) => {
                let mut patched = DealPlacement::clone(&read);
                for listed in stale {
                    let (map, address) = match listed {
                        Listed::Worker(address) => (&mut patched.workers, address),
                        Listed::Resource(address) => (&mut patched.resources, address),
                    };
                    match self.listed_visibility(listed).await? {
                        Some(visibility) => map.insert(address, visibility),
                        None => map.remove(&address),
                    };
                }
                patched
            }
            None => {
                let visibilities = |rows: Vec<ObjectRow>| {
                    rows.into_iter()
                        .filter_map(|r| Some((r.info.id.parse::<Address>().ok()?, r.visibility())))
                        .collect()
                };
                DealPlacement {
                    workers: visibilities(self.workers().await?),
                    resources: visibilities(self.chain_resources().await?),
                }
            }
        };
        let placement = std::sync::Arc::new(placement);
        // Kept only when nothing changed while it was read (else the next call reads again).
        if let Ok(mut cached) = self.placement.write()
            && cached.generation == generation
        {
            cached.read = Some(placement.clone());
            cached.stale.clear();
        }
        Ok(placement)
    }

    /// Drops the placement's copy: the next use reads it whole.
    fn placement_forgotten(&self) {
        if let Ok(mut cached) = self.placement.write() {
            cached.generation = cached.generation.wrapping_add(1);
            cached.read = None;
            cached.stale.clear();
        }
    }

    /// The visibility of a listed worker or on-chain resource (`None`: not listed).
    async fn listed_visibility(&self, listed: Listed) -> Result<Option<Visibility>, PoolError> {
        let (query, kind) = match listed {
            Listed::Worker(address) => (
                sqlx::query(
                    "SELECT address AS id, address AS name, owner, grp, mode, visibility, \
                     '' AS checksum, CAST(0 AS BIGINT) AS size FROM pool_workers WHERE address = $1",
                )
                .bind(address.to_string()),
                Some("worker"),
            ),
            Listed::Resource(address) => (
                sqlx::query(
                    "SELECT address AS id, address AS name, kind, owner, grp, mode, visibility, \
                     '' AS checksum, CAST(0 AS BIGINT) AS size FROM pool_chain_resources \
                     WHERE address = $1",
                )
                .bind(address.to_string()),
                None,
            ),
        };
        let row = rows(query, |r| read_object(r, kind))
            .optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.visibility()))
    }

    // ---- jobs

    pub(crate) async fn insert_job(
        &self,
        id: &str,
        meta: &Meta,
        app: &str,
        datum: Option<&str>,
        args: &str,
        now: u64,
    ) -> Result<(), PoolError> {
        sqlx::query(
            "INSERT INTO pool_jobs (id, owner, grp, mode, app_id, datum_id, args, status, worker, \
             result, result_checksum, reason, created_at, updated_at, origin) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', NULL, NULL, NULL, NULL, $8, $8, 'client')",
        )
        .bind(id.to_owned())
        .bind(meta.owner.clone())
        .bind(meta.group.clone())
        .bind(i64::from(meta.mode.bits()))
        .bind(app.to_owned())
        .bind(datum.map(str::to_owned))
        .bind(args.to_owned())
        .bind(bigint(now, "time")?)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Shows each of `tasks` (task id, requester, status) as a job of its deal's requester, in
    /// one transaction: the mirror of a follower pass costs one commit, not one per task. A row
    /// whose status did not change is not rewritten.
    pub(crate) async fn upsert_deal_jobs(
        &self,
        tasks: &[(String, String, String)],
        now: u64,
    ) -> Result<(), PoolError> {
        if tasks.is_empty() {
            return Ok(());
        }
        // A task's last status wins; one row per task, since a statement may not update a row
        // twice (Postgres refuses it).
        let mut last: Vec<&(String, String, String)> = Vec::with_capacity(tasks.len());
        let mut seen = std::collections::HashMap::new();
        for task in tasks {
            match seen.get(&task.0) {
                Some(&at) => last[at] = task,
                None => {
                    seen.insert(task.0.clone(), last.len());
                    last.push(task);
                }
            }
        }
        let mut tx = self.pool.begin().await?;
        // Many rows per statement: this runs for every block range the scheduler follows.
        for group in last.chunks(DEAL_JOBS_PER_STATEMENT) {
            let rows: Vec<String> = (0..group.len())
                .map(|i| {
                    let at = 3 + 3 * i;
                    format!(
                        "(${at}, ${}, NULL, $1, '', NULL, '', ${}, NULL, NULL, NULL, NULL, $2, $2, 'deal')",
                        at + 1,
                        at + 2
                    )
                })
                .collect();
            // Only placeholders are spliced in; every value is bound.
            let sql = format!(
                "INSERT INTO pool_jobs (id, owner, grp, mode, app_id, datum_id, args, status, worker, \
                 result, result_checksum, reason, created_at, updated_at, origin) VALUES {} \
                 ON CONFLICT (id) DO UPDATE SET status = excluded.status, updated_at = excluded.updated_at \
                 WHERE pool_jobs.status <> excluded.status",
                rows.join(", ")
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(i64::from(Mode::PRIVATE.bits()))
                .bind(bigint(now, "time")?);
            for (task_id, requester, status) in group {
                query = query
                    .bind(task_id.clone())
                    .bind(requester.clone())
                    .bind(status.clone());
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn job(&self, id: &str) -> Result<Option<JobRow>, PoolError> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM pool_jobs WHERE id = $1");
        rows(
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id.to_owned()),
            read_job,
        )
        .optional(&self.pool)
        .await
    }

    pub(crate) async fn jobs(&self) -> Result<Vec<JobRow>, PoolError> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM pool_jobs ORDER BY created_at, id");
        rows(sqlx::query(sqlx::AssertSqlSafe(sql)), read_job)
            .all(&self.pool)
            .await
    }

    pub(crate) async fn job_result(&self, id: &str) -> Result<Option<Vec<u8>>, PoolError> {
        let query = sqlx::query("SELECT result FROM pool_jobs WHERE id = $1").bind(id.to_owned());
        let result: Option<Option<String>> =
            rows(query, |r| Ok::<_, PoolError>(parse_opt(r, "result")?))
                .optional(&self.pool)
                .await?;
        result
            .flatten()
            .map(|text| {
                B64.decode(text)
                    .map_err(|_| PoolError::Corrupt(format!("pool_jobs.result of {id}")))
            })
            .transpose()
    }

    /// See [`crate::Pool::take_job`].
    pub(crate) async fn take_job(
        &self,
        worker: Address,
        now: u64,
    ) -> Result<Option<WorkOrder>, PoolError> {
        let machine = self.worker(worker).await?;
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM pool_jobs WHERE status = 'pending' AND origin = 'client' \
             ORDER BY created_at, id LIMIT 200"
        );
        let pending = rows(sqlx::query(sqlx::AssertSqlSafe(sql)), read_job)
            .all(&self.pool)
            .await?;
        for job in pending {
            let Some(app) = self.object(Kind::App, &job.info.app).await? else {
                continue;
            };
            let datum = match &job.info.datum {
                Some(id) => match self.object(Kind::Data, id).await? {
                    Some(d) => Some(d),
                    None => continue,
                },
                None => None,
            };
            let placement = Placement::of(
                &Job {
                    app: app.visibility(),
                    data: datum.iter().map(ObjectRow::datum).collect(),
                },
                &machine,
            );
            if placement != Placement::Allowed {
                continue;
            }
            let taken = sqlx::query(
                "UPDATE pool_jobs SET status = 'running', worker = $1, updated_at = $2 \
                 WHERE id = $3 AND status = 'pending'",
            )
            .bind(worker.to_string())
            .bind(bigint(now, "time")?)
            .bind(job.info.id.clone())
            .execute(&self.pool)
            .await?;
            if taken.rows_affected() == 1 {
                return Ok(Some(WorkOrder {
                    job: job.info.id,
                    app_checksum: app.info.checksum,
                    datum: datum.map(|d| (d.info.name, d.info.checksum)),
                    args: job.info.args,
                    clock_secs: job.created_at,
                }));
            }
        }
        Ok(None)
    }

    /// Puts the running jobs of `workers` back in the queue, in one transaction; how many each
    /// held, in the order given. A login storm releases thousands of workers at once and they
    /// almost never hold a job: the jobs held are read first (a few hundred workers per
    /// statement), and only those are written.
    pub(crate) async fn release_jobs(
        &self,
        workers: &[Address],
        now: u64,
    ) -> Result<Vec<u64>, PoolError> {
        use sqlx::Row;
        let keys: Vec<String> = workers.iter().map(ToString::to_string).collect();
        let mut tx = self.pool.begin().await?;
        let mut holder: std::collections::HashMap<String, String> =
            std::collections::HashMap::new();
        for group in keys.chunks(decloud_sql::IN_LIST_MAX) {
            // Only placeholders are spliced in; every value is bound.
            let sql = format!(
                "SELECT id, worker FROM pool_jobs \
                 WHERE status = 'running' AND origin = 'client' AND worker IN ({})",
                decloud_sql::placeholders(1, group.len())
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for key in group {
                query = query.bind(key.as_str());
            }
            for row in query.fetch_all(&mut *tx).await? {
                holder.insert(row.try_get("id")?, row.try_get("worker")?);
            }
        }
        let ids: Vec<&String> = holder.keys().collect();
        let mut released: std::collections::HashMap<&str, u64> = std::collections::HashMap::new();
        for group in ids.chunks(decloud_sql::IN_LIST_MAX) {
            let sql = format!(
                "UPDATE pool_jobs SET status = 'pending', worker = NULL, updated_at = $1 \
                 WHERE status = 'running' AND id IN ({}) RETURNING id",
                decloud_sql::placeholders(2, group.len())
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(bigint(now, "time")?);
            for id in group {
                query = query.bind(id.as_str());
            }
            for row in query.fetch_all(&mut *tx).await? {
                let id: String = row.try_get("id")?;
                if let Some(worker) = holder.get(&id) {
                    *released.entry(worker.as_str()).or_default() += 1;
                }
            }
        }
        tx.commit().await?;
        Ok(keys
            .iter()
            .map(|k| released.get(k.as_str()).copied().unwrap_or(0))
            .collect())
    }

    /// The job `id` as held by `worker`, or the refusal.
    async fn held(&self, worker: Address, id: &str) -> Result<JobRow, PoolError> {
        let job = self.job(id).await?;
        match job {
            Some(job)
                if job.info.status == "running"
                    && job.info.worker.as_deref() == Some(&worker.to_string()) =>
            {
                Ok(job)
            }
            _ => Err(PoolError::Forbidden(format!(
                "worker {worker} holds no running job {id}: a worker reads and answers only the jobs it was given"
            ))),
        }
    }

    pub(crate) async fn job_content(
        &self,
        worker: Address,
        id: &str,
        part: Part,
    ) -> Result<Vec<u8>, PoolError> {
        let job = self.held(worker, id).await?;
        match part {
            Part::App => self.content(Kind::App, &job.info.app).await,
            Part::Datum => {
                let datum = job
                    .info
                    .datum
                    .ok_or_else(|| PoolError::NotFound(format!("job {id} has no datum")))?;
                let row = self
                    .object(Kind::Data, &datum)
                    .await?
                    .ok_or_else(|| PoolError::NotFound(format!("no datum {datum}")))?;
                // Confinement again at the door: never a certificate, never private data to
                // another's machine.
                if !decloud_access::may_use_datum(&self.worker(worker).await?, &row.datum()) {
                    return Err(PoolError::Forbidden(format!(
                        "datum {datum} may not go to worker {worker}"
                    )));
                }
                self.content(Kind::Data, &datum).await
            }
        }
    }

    pub(crate) async fn finish_job(
        &self,
        worker: Address,
        id: &str,
        outcome: JobOutcome,
        now: u64,
    ) -> Result<(), PoolError> {
        self.held(worker, id).await?;
        let (status, result, checksum, reason) = match outcome {
            JobOutcome::Completed { result } => {
                let bytes = B64.decode(&result).map_err(|_| {
                    PoolError::BadRequest("the result is not base64: send the packed /out".into())
                })?;
                (
                    "completed",
                    Some(result),
                    Some(crate::sha256_hex(&bytes)),
                    None,
                )
            }
            JobOutcome::Failed { reason } => (
                "failed",
                None,
                None,
                Some(reason.chars().take(1000).collect::<String>()),
            ),
        };
        let updated = sqlx::query(
            "UPDATE pool_jobs SET status = $1, result = $2, result_checksum = $3, reason = $4, \
             updated_at = $5 WHERE id = $6 AND status = 'running' AND worker = $7",
        )
        .bind(status)
        .bind(result)
        .bind(checksum)
        .bind(reason)
        .bind(bigint(now, "time")?)
        .bind(id.to_owned())
        .bind(worker.to_string())
        .execute(&self.pool)
        .await?;
        if updated.rows_affected() != 1 {
            return Err(PoolError::Forbidden(format!(
                "worker {worker} holds no running job {id}"
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use decloud_sql::testing::TestDb;

    fn meta(owner: &str, group: Option<&str>) -> Meta {
        Meta {
            owner: owner.into(),
            group: group.map(Into::into),
            mode: Mode::PRIVATE,
        }
    }

    /// The placement kept in memory follows every change of a worker or an on-chain resource,
    /// and agrees with one read whole from the database.
    async fn the_kept_placement_follows_changes_row_by_row(db: &TestDb) {
        let store = Store::open(db.url()).await.unwrap();
        let (alice, group, public) = (
            Address::repeat_byte(1),
            Address::repeat_byte(2),
            Address::repeat_byte(3),
        );
        let app = Address::repeat_byte(0xa);
        store
            .upsert_worker(alice, &meta("alice", None), Confinement::Private)
            .await
            .unwrap();
        store
            .upsert_worker(group, &meta("bob", Some("lab")), Confinement::Group)
            .await
            .unwrap();
        let first = store.placement().await.unwrap();
        assert_eq!(first.workers.len(), 2);
        // A change of one row each: a worker made public, one moved to another group, an app
        // confined to its owner, then forgotten again.
        store
            .upsert_worker(alice, &meta("alice", None), Confinement::Public)
            .await
            .unwrap();
        store
            .set_group(Kind::Worker, &group.to_string(), Some("other"))
            .await
            .unwrap();
        store
            .upsert_worker(public, &meta("carol", None), Confinement::Private)
            .await
            .unwrap();
        store
            .upsert_chain_resource(
                app,
                ChainKind::App,
                &meta("alice", None),
                Confinement::Private,
            )
            .await
            .unwrap();
        let patched = store.placement().await.unwrap();
        let whole = Store::open(db.url())
            .await
            .unwrap()
            .placement()
            .await
            .unwrap();
        assert_eq!(*patched, *whole, "patched row by row = read whole");
        assert_eq!(patched.workers.get(&alice), Some(&Visibility::Public));
        assert_eq!(
            patched.workers.get(&group),
            Some(&Visibility::Group("other".into()))
        );
        assert_eq!(
            patched.resources.get(&app),
            Some(&Visibility::Private("alice".into()))
        );
        assert!(store.delete_chain_resource(app).await.unwrap());
        let after = store.placement().await.unwrap();
        assert!(after.resources.is_empty());
        assert_eq!(
            *after,
            *Store::open(db.url())
                .await
                .unwrap()
                .placement()
                .await
                .unwrap()
        );
        // Unchanged since: the same copy, no read.
        assert!(std::sync::Arc::ptr_eq(
            &after,
            &store.placement().await.unwrap()
        ));
    }

    decloud_sql::test_on_every_backend!(the_kept_placement_follows_changes_row_by_row);

    /// Releasing many workers at once puts back exactly the jobs each held, says how many per
    /// worker in the order asked, and leaves other workers' jobs running.
    async fn jobs_of_many_workers_are_released_together(db: &TestDb) {
        let store = Store::open(db.url()).await.unwrap();
        let [a, b, idle, other] = [1u8, 2, 3, 4].map(Address::repeat_byte);
        let held = [("j1", a), ("j2", a), ("j3", b), ("j4", other)];
        for (id, worker) in held {
            store
                .insert_job(id, &meta("ann", None), "app", None, "", 10)
                .await
                .unwrap();
            sqlx::query("UPDATE pool_jobs SET status = 'running', worker = $1 WHERE id = $2")
                .bind(worker.to_string())
                .bind(id)
                .execute(&store.pool)
                .await
                .unwrap();
        }
        let counts = store.release_jobs(&[idle, b, a], 20).await.unwrap();
        assert_eq!(counts, vec![0, 1, 2]);
        for (id, worker) in held {
            let job = store.job(id).await.unwrap().unwrap();
            if worker == other {
                assert_eq!(job.info.status, "running");
                assert_eq!(job.info.worker, Some(other.to_string()));
            } else {
                assert_eq!(job.info.status, "pending", "{id} is back in the queue");
                assert_eq!(job.info.worker, None);
            }
        }
        // Released already: a second release finds nothing; no worker asks nothing.
        assert_eq!(store.release_jobs(&[a, b], 30).await.unwrap(), vec![0, 0]);
        assert!(store.release_jobs(&[], 30).await.unwrap().is_empty());
    }

    decloud_sql::test_on_every_backend!(jobs_of_many_workers_are_released_together);
}
