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

mod chain;
mod identities;
mod jobs;
mod objects;

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
