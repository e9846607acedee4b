//! Random-selection deals (tag bit 1, docs/randomness.md): the scheduler coordinates them but
//! chooses nobody.
//!
//! - It keeps its pool's registry snapshot current on chain (`watch_registry`): a snapshot is
//!   committed when there is none or when the staked members, their stakes or clusters changed,
//!   so a random deal matched later draws over the registry as it is.
//! - For each open task of a random deal it follows the waves (`drive_once`): once a wave's
//!   beacon round is due it makes sure the round is on chain (submitting it from the beacon's
//!   HTTP API when nobody has), computes the draw from the chain (`decloud_chain::selection`),
//!   and hands each drawn worker, when it claims, its task with its position and the snapshot
//!   proof (`claim`); it never signs an authorization for such a deal.
//! - After a wave closed without consensus it slashes the drawn workers that did not contribute
//!   (`slashAbsent`); the next wave's round draws their replacements.
//!
//! Nothing here trusts a worker: a claim gets a random task only if the draw computed from the
//! chain names the claiming worker, and the hub recomputes every position anyway.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use alloy::primitives::{Address, B256, Bytes};
use decloud_chain::client::Client;
use decloud_chain::contracts::IHub;
use decloud_chain::selection::{self, DealSnapshot, Drawn, Wave};
use decloud_protocol::pool::{Assignment, Authorization, DrawnPosition};
use decloud_protocol::tag::Tag;
use tokio::sync::Mutex;

use crate::assign::cached_deal;
use crate::db::{DealRow, TaskInfo, TaskStatus};
use crate::{SchedulerError, Shared};

/// Most open tasks of random deals looked at in one pass.
const SCAN: u32 = 2_000;

/// Whether `deal` is a random-selection deal (its workers are drawn, not chosen).
pub fn is_random(deal: &DealRow) -> bool {
    Tag(deal.deal.tag).is_random()
}

/// The draw of one wave of one task.
#[derive(Clone, Debug)]
struct WaveDraw {
    deal_id: B256,
    index: u64,
    wave: Wave,
    snapshot: Arc<DealSnapshot>,
    drawn: Vec<Drawn>,
}

/// What the scheduler knows of its random deals, in memory: everything in it is rebuilt from
/// the chain after a restart.
pub(crate) struct RandomState {
    /// The beacon's HTTP API (drand's shape), where rounds nobody submitted are fetched.
    beacon_url: Option<String>,
    http: reqwest::Client,
    /// The draws of the current and the previous wave of each open task, by (task, wave).
    draws: Mutex<HashMap<(B256, u64), WaveDraw>>,
    /// Each deal's snapshot.
    snapshots: Mutex<HashMap<B256, Arc<DealSnapshot>>>,
    /// Each deal's waves already read, by (deal, wave).
    waves: Mutex<HashMap<(B256, u64), Wave>>,
    /// (task, worker) pairs whose absence was dealt with (slashed, or found not slashable).
    absences: Mutex<HashSet<(B256, Address)>>,
    /// Tasks whose initialization was sent (a slash needs the task initialized in time).
    initialized: Mutex<HashSet<B256>>,
    /// The wave clock as the last pass read it (a chain pushed ahead of the wall clock).
    chain_now: std::sync::atomic::AtomicU64,
}

impl RandomState {
    /// A state fetching missing rounds from `beacon_url` (none: only rounds others submit).
    pub(crate) fn new(beacon_url: Option<String>) -> Self {
        Self {
            beacon_url: beacon_url.map(|u| u.trim_end_matches('/').to_owned()),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
            draws: Mutex::new(HashMap::new()),
            snapshots: Mutex::new(HashMap::new()),
            waves: Mutex::new(HashMap::new()),
            absences: Mutex::new(HashSet::new()),
            initialized: Mutex::new(HashSet::new()),
            chain_now: std::sync::atomic::AtomicU64::new(0),
        }
    }
}

/// Whether the chain has the random-selection facet (a beacon).
fn has_selection(client: &Client) -> bool {
    !client.profile().contracts.beacon.is_zero()
}

/// Commits the pool's registry snapshot when there is none or the registry changed, every
/// `interval`; errors are logged and retried.
pub(crate) async fn watch_registry(shared: Arc<Shared>, interval: Duration) {
    if !has_selection(&shared.client) {
        return;
    }
    loop {
        if let Err(e) = keep_snapshot(&shared.client, shared.workerpool).await {
            tracing::warn!(error = %e, "keeping the pool's registry snapshot current failed; retrying");
        }
        tokio::time::sleep(interval).await;
    }
}

/// Commits `workerpool`'s snapshot unless the last one holds the registry as it is; returns the
/// index committed, if any. A pool with no staked member has nothing to commit.
pub async fn keep_snapshot(
    client: &Client,
    workerpool: Address,
) -> Result<Option<u64>, SchedulerError> {
    if selection::current_snapshot_time(client, workerpool)
        .await?
        .is_some()
    {
        return Ok(None);
    }
    if selection::staked_members(client, workerpool)
        .await?
        .is_empty()
    {
        return Ok(None);
    }
    let index = selection::commit_snapshot(client, workerpool).await?;
    tracing::info!(%workerpool, index, "registry snapshot committed for random-selection deals");
    Ok(Some(index))
}

/// Drives the random deals' tasks every `interval`; errors are logged and retried.
pub(crate) async fn drive(shared: Arc<Shared>, interval: Duration) {
    if !has_selection(&shared.client) {
        return;
    }
    loop {
        match drive_once(&shared).await {
            Ok(true) => {
                // Drawn workers, audits and reveals: not itemized, so everyone looks.
                shared.wakes.work_for_all();
                shared.wakes.all_tasks_changed();
            }
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "driving random-selection tasks failed; retrying"),
        }
        tokio::time::sleep(interval).await;
    }
}

/// The clock the hub's waves run on: the latest block's time, or the wall clock when it is
/// ahead (on a chain that mines on demand the next block carries the wall clock).
pub(crate) async fn now(client: &Client) -> Result<u64, SchedulerError> {
    Ok(crate::driver::chain_time(client)
        .await?
        .max(crate::api::unix_now()))
}

/// One pass over the open tasks of random deals: initialize them, get the current wave's round
/// on chain, draw, and slash the absent workers of the previous wave. Returns whether a new
/// draw was made (waiting claims may now get work). A task whose reads fail is logged and
/// left for the next pass; the others go on, and the draws made still wake the claims.
async fn drive_once(shared: &Shared) -> Result<bool, SchedulerError> {
    let client = &shared.client;
    let state = &shared.random;
    let tasks = shared.store.open_tasks(SCAN).await?;
    let mut deals: HashMap<B256, Option<DealRow>> = HashMap::new();
    let mut open = HashSet::new();
    let mut drew = false;
    let now = now(client).await?;
    for task in tasks {
        let deal = match cached_deal(&shared.store, &mut deals, task.deal_id).await {
            Ok(deal) => deal.filter(|d| is_random(d)),
            Err(e) => {
                // Kept open: its draws stay until a pass reads its deal again.
                open.insert(task.task_id);
                tracing::warn!(task = %task.task_id, error = %e, "reading a random task's deal failed; retrying");
                continue;
            }
        };
        let Some(deal) = deal else { continue };
        open.insert(task.task_id);
        drew |= drive_task(shared, deal, &task, now).await;
    }
    // Forget the tasks that are no longer open (completed, failed, given up).
    state
        .draws
        .lock()
        .await
        .retain(|(task, _), _| open.contains(task));
    state
        .chain_now
        .fetch_max(now, std::sync::atomic::Ordering::Relaxed);
    Ok(drew)
}

/// One open task of a random deal at chain time `now`: initialized, drawn for the waves not
/// drawn yet whose rounds are on chain, its absent workers slashed. Returns whether it drew
/// (also when a later read failed: that failure is logged and retried next pass).
async fn drive_task(shared: &Shared, deal: &DealRow, task: &TaskInfo, now: u64) -> bool {
    let client = &shared.client;
    let state = &shared.random;
    let mut drew = false;
    if task.status == TaskStatus::Unset {
        initialize(client, state, deal, task.task_id, task.index).await;
    }
    let Some(snapshot) = deal_snapshot(client, state, deal).await else {
        return false;
    };
    let length = selection::WAVE_RATIO * deal.reference_secs().max(1);
    let current = now.saturating_sub(deal.start_time) / length;
    for w in current.saturating_sub(1)..=current {
        let key = (task.task_id, w);
        if state.draws.lock().await.contains_key(&key) {
            continue;
        }
        let wave = match wave(client, state, deal, w).await {
            Ok(Some(wave)) => wave,
            Ok(None) => continue,
            Err(e) => {
                tracing::warn!(task = %task.task_id, wave = w, error = %e, "reading a random task's wave failed; retrying");
                break;
            }
        };
        let Some(randomness) = round_on_chain(client, state, wave.round, now).await else {
            continue;
        };
        let drawn = selection::drawn_positions(
            randomness,
            deal.deal_id,
            task.index,
            deal.trust(),
            &snapshot.workers,
        );
        tracing::info!(task = %task.task_id, wave = w, round = wave.round, drawn = ?drawn.iter().map(|d| d.worker).collect::<Vec<_>>(), "random-selection task drawn");
        state.draws.lock().await.insert(
            key,
            WaveDraw {
                deal_id: deal.deal_id,
                index: task.index,
                wave,
                snapshot: snapshot.clone(),
                drawn,
            },
        );
        drew = true;
    }
    slash_absent(client, state, deal, task.task_id, now).await;
    drew
}

/// Initializes a random task on chain once (its waves' slashes need it initialized at least a
/// reference duration before a wave closes); a failure is logged and retried next pass.
async fn initialize(client: &Client, state: &RandomState, deal: &DealRow, task: B256, index: u64) {
    if !state.initialized.lock().await.insert(task) {
        return;
    }
    let hub = client.hub();
    let call = hub.initialize((&deal.deal).into(), alloy::primitives::U256::from(index));
    if let Err(e) = client
        .send(
            "initializing a random-selection task",
            call.into_transaction_request(),
        )
        .await
    {
        // Someone's contribution may have initialized it meanwhile.
        tracing::debug!(%task, error = %e, "initializing a random-selection task failed");
        state.initialized.lock().await.remove(&task);
    }
}

/// The deal's snapshot, read once; `None` (logged) when the chain has none before the deal's
/// start: no worker can ever be drawn for it.
pub(crate) async fn deal_snapshot(
    client: &Client,
    state: &RandomState,
    deal: &DealRow,
) -> Option<Arc<DealSnapshot>> {
    if let Some(s) = state.snapshots.lock().await.get(&deal.deal_id) {
        return Some(s.clone());
    }
    match selection::deal_snapshot(client, deal.deal.workerpool, deal.start_time).await {
        Ok(s) => {
            let s = Arc::new(s);
            state.snapshots.lock().await.insert(deal.deal_id, s.clone());
            Some(s)
        }
        Err(e) => {
            tracing::warn!(deal = %deal.deal_id, error = %e, "a random-selection deal without its registry snapshot: nobody can be drawn for it");
            None
        }
    }
}

/// Wave `w` of `deal`, read once from the hub.
async fn wave(
    client: &Client,
    state: &RandomState,
    deal: &DealRow,
    w: u64,
) -> Result<Option<Wave>, SchedulerError> {
    if let Some(wave) = state.waves.lock().await.get(&(deal.deal_id, w)) {
        return Ok(Some(*wave));
    }
    let d: IHub::Deal = (&deal.deal).into();
    let wave = selection::wave(client, &d, w).await?;
    state.waves.lock().await.insert((deal.deal_id, w), wave);
    Ok(Some(wave))
}

/// The randomness of `round` once it is on chain, submitting it from the beacon's HTTP API when
/// it is due and nobody has; `None` while it is not there (logged when it should be).
pub(crate) async fn round_on_chain(
    client: &Client,
    state: &RandomState,
    round: u64,
    now: u64,
) -> Option<B256> {
    match selection::randomness(client, round).await {
        Ok(Some(r)) => return Some(r),
        Ok(None) => {}
        Err(e) => {
            tracing::warn!(round, error = %e, "reading a beacon round failed");
            return None;
        }
    }
    let due = selection::round_time(client, round).await.ok()?;
    if now < due {
        return None;
    }
    let Some(url) = &state.beacon_url else {
        tracing::warn!(
            round,
            "beacon round due but not on chain, and this scheduler has no beacon URL to fetch it from (--beacon-url)"
        );
        return None;
    };
    let signature = match selection::fetch_round(&state.http, url, round).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(round, error = %e, "fetching a beacon round failed; retrying");
            return None;
        }
    };
    match selection::submit_round(client, round, &signature).await {
        Ok(_) => tracing::info!(round, "beacon round submitted"),
        // Someone else may have submitted it meanwhile: the read below says.
        Err(e) => tracing::debug!(round, error = %e, "submitting a beacon round failed"),
    }
    selection::randomness(client, round).await.ok().flatten()
}

/// Slashes the drawn workers of `task`'s closed waves that did not contribute (anyone may; the
/// hub checks the absence). Each (task, worker) is tried once per run; a failure is logged.
async fn slash_absent(client: &Client, state: &RandomState, deal: &DealRow, task: B256, now: u64) {
    let closed: Vec<WaveDraw> = state
        .draws
        .lock()
        .await
        .iter()
        .filter(|((t, _), d)| *t == task && d.wave.closes_at <= now)
        .map(|(_, d)| d.clone())
        .collect();
    for draw in closed {
        for p in &draw.drawn {
            if state.absences.lock().await.contains(&(task, p.worker)) {
                continue;
            }
            let contributed = client
                .read(
                    "reading a drawn worker's contribution",
                    client.hub().contribution(task, p.worker),
                )
                .await
                .map(|c| c.status != 0);
            match contributed {
                Ok(true) => {
                    state.absences.lock().await.insert((task, p.worker));
                    continue;
                }
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(%task, error = %e, "reading a contribution failed");
                    continue;
                }
            }
            let proof = selection::proof(&draw.snapshot, draw.wave.index, p.position);
            match selection::slash_absent(client, (&deal.deal).into(), draw.index, proof).await {
                Ok(_) => {
                    tracing::warn!(%task, worker = %p.worker, wave = draw.wave.index, position = p.position, "drawn worker absent from its wave: slashed, the next wave draws its replacement")
                }
                Err(e) => {
                    tracing::info!(%task, worker = %p.worker, error = %e, "absent drawn worker not slashed")
                }
            }
            state.absences.lock().await.insert((task, p.worker));
        }
    }
}

/// A random task `worker` was drawn for in a wave open now and holds no replicate of yet,
/// durably assigned to it with its position's proof; `None` when it was drawn for none.
pub(crate) async fn claim(
    shared: &Shared,
    worker: Address,
) -> Result<Option<Assignment>, SchedulerError> {
    let state = &shared.random;
    let now =
        crate::api::unix_now().max(state.chain_now.load(std::sync::atomic::Ordering::Relaxed));
    let mine: Vec<(WaveDraw, u64)> = state
        .draws
        .lock()
        .await
        .values()
        .filter(|d| d.wave.opens_at <= now + 1 && now < d.wave.closes_at)
        .filter_map(|d| {
            d.drawn
                .iter()
                .find(|p| p.worker == worker)
                .map(|p| (d.clone(), p.position))
        })
        .collect();
    for (draw, position) in mine {
        let Some(deal) = shared.store.deal(draw.deal_id).await? else {
            continue;
        };
        let task_id = decloud_protocol::ids::task_id(draw.deal_id, draw.index);
        let Some(task) = shared.store.task(task_id).await? else {
            continue;
        };
        if !matches!(task.status, TaskStatus::Unset | TaskStatus::Active) {
            continue;
        }
        // One replicate per worker and task: a worker drawn again in a later wave after it
        // contributed (or was given the task) gets nothing more.
        if !shared
            .store
            .assign(task_id, worker, now, draw.wave.closes_at)
            .await?
        {
            continue;
        }
        tracing::info!(task = %task_id, %worker, wave = draw.wave.index, position, "drawn worker given its task");
        let authorization = Authorization {
            worker,
            task_id,
            enclave: Address::ZERO,
            sign: Bytes::new(),
        };
        let mut assignment =
            crate::assign::assignment_with(&shared.store, &deal, &task, authorization).await?;
        assignment.drawn = Some(DrawnPosition {
            wave: draw.wave.index,
            round: draw.wave.round,
            position,
            closes_at: draw.wave.closes_at,
            snapshot_index: draw.snapshot.index,
            snapshot: draw.snapshot.workers.clone(),
        });
        return Ok(Some(assignment));
    }
    Ok(None)
}
