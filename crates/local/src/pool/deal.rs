//! Deals: what to ask for ([`DealRequest`]), matching the orders of a deal ([`Pool::deal`])
//! and waiting for its tasks, and the registry snapshot a random-selection deal draws over.

use std::time::Duration;

use alloy::primitives::{Address, B256, Bytes, U256};
use decloud_chain::client::Client;
use decloud_chain::orders::{MatchedDeal, match_orders};
use decloud_protocol::{AppOrder, DatasetOrder, Order, RequestOrder, Tag, WorkerpoolOrder};

use super::{APP_OWNER, DATASET_OWNER, POOL_OWNER, Pool, PoolError, REQUESTER};
use crate::LocalError;

/// A deal to make: the app, its arguments, trust, volume, category.
#[derive(Clone, Debug)]
pub struct DealRequest {
    /// The app.
    pub app: Address,
    /// The dataset (zero for none).
    pub dataset: Address,
    /// `params.args`.
    pub args: String,
    /// Input file URLs.
    pub input_files: Vec<String>,
    /// Trust.
    pub trust: u64,
    /// Number of tasks.
    pub volume: u64,
    /// Category.
    pub category: u64,
    /// Callback contract (zero for none).
    pub callback: Address,
    /// A TEE deal (k = 1): the request and the workerpool order carry the TEE tag.
    pub tee: bool,
    /// The requester's named secrets the app gets (`params.secrets`).
    pub secrets: Vec<String>,
    /// Random selection: the request and the workerpool order carry the random tag, so the
    /// deal's workers are drawn, not picked by the scheduler.
    pub random: bool,
    /// With [`Self::random`]: the spot-check byte q (audited with probability q/256; 0: none).
    pub spot_check: u8,
    /// More members of `params` (e.g. a proxy task's `"oracle"` destination).
    pub extra_params: Vec<(String, serde_json::Value)>,
    /// With [`Self::tee`]: the attestations the hub requires (k registered attesters).
    pub attestations: usize,
}

impl DealRequest {
    /// One task of `app` at trust 1, category 0, no arguments.
    pub fn new(app: Address) -> Self {
        Self {
            app,
            dataset: Address::ZERO,
            args: String::new(),
            input_files: Vec::new(),
            trust: 1,
            volume: 1,
            category: 0,
            callback: Address::ZERO,
            tee: false,
            secrets: Vec::new(),
            random: false,
            spot_check: 0,
            extra_params: Vec::new(),
            attestations: 1,
        }
    }

    /// A random-selection deal: its workers are drawn by a beacon round.
    pub fn random(mut self) -> Self {
        self.random = true;
        self
    }

    /// A random-selection deal whose tasks are audited with probability `q`/256 (spot checks).
    pub fn spot_check(mut self, q: u8) -> Self {
        self.random = true;
        self.spot_check = q;
        self
    }

    /// Adds `key: value` to the request's `params`.
    pub fn param(mut self, key: &str, value: serde_json::Value) -> Self {
        self.extra_params.push((key.to_owned(), value));
        self
    }

    /// A TEE deal (one attestation): no replication, the result signed by the enclave.
    pub fn tee(mut self) -> Self {
        self.tee = true;
        self
    }

    /// A TEE deal whose result needs `k` attestations (k keepers' signatures).
    pub fn attestations(mut self, k: usize) -> Self {
        self.tee = true;
        self.attestations = k;
        self
    }

    /// Giving the app the requester's secret `name` as `/secrets/<name>`.
    pub fn secret(mut self, name: &str) -> Self {
        self.secrets.push(name.to_owned());
        self
    }

    /// With these arguments.
    pub fn args(mut self, args: &str) -> Self {
        self.args = args.to_owned();
        self
    }

    /// At this trust.
    pub fn trust(mut self, trust: u64) -> Self {
        self.trust = trust;
        self
    }

    /// With this many tasks.
    pub fn volume(mut self, volume: u64) -> Self {
        self.volume = volume;
        self
    }

    /// With this dataset (free, signed by the dataset owner).
    pub fn dataset(mut self, dataset: Address) -> Self {
        self.dataset = dataset;
        self
    }

    /// With this callback contract (it receives each task's callback data at finalization).
    pub fn callback(mut self, callback: Address) -> Self {
        self.callback = callback;
        self
    }

    /// In this category.
    pub fn category(mut self, category: u64) -> Self {
        self.category = category;
        self
    }
}

/// Waits until `workerpool`'s last registry snapshot holds its registry as it is (its scheduler
/// commits one when it changes) and the chain's clock has moved past it, so a deal matched now
/// draws over it; fails after `timeout`.
pub async fn wait_current_snapshot(
    client: &Client,
    workerpool: Address,
    timeout: Duration,
) -> Result<(), PoolError> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(at) =
            decloud_chain::selection::current_snapshot_time(client, workerpool).await?
        {
            // A deal in the snapshot's own second would not draw over it; the next block
            // carries the wall clock on a devnet that mines on demand.
            let wall = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or_default();
            if wall <= at {
                tokio::time::sleep(Duration::from_millis(1_000 * (at + 1 - wall))).await;
            }
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(LocalError::NoSnapshot(workerpool, timeout));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A matched deal and its task ids.
#[derive(Clone, Debug)]
pub struct Deal {
    /// The deal as matched.
    pub matched: MatchedDeal,
}

impl Deal {
    /// The deal id.
    pub fn id(&self) -> B256 {
        self.matched.deal_id
    }

    /// Its task ids, in index order.
    pub fn task_ids(&self) -> Vec<B256> {
        let volume = u64::try_from(self.matched.deal.volume).unwrap_or(0);
        decloud_protocol::ids::task_ids(self.matched.deal_id, volume).collect()
    }
}

impl Pool {
    fn next_salt(&self) -> B256 {
        let n = self.salt.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut salt = B256::random();
        salt.0[..8].copy_from_slice(&n.to_be_bytes());
        salt
    }

    /// Signs an app order (free), a workerpool order and the request, and matches them, sent
    /// by the requester.
    pub async fn deal(&self, request: &DealRequest) -> Result<Deal, PoolError> {
        let requester = Client::connect(
            &self.profile,
            None,
            Some(decloud_chain::accounts::dev_signer(REQUESTER)),
        )
        .await?;
        let domain = requester.domain();
        let mut tag = if request.tee {
            Tag::TEE.union(decloud_protocol::tee::tag_for_attestations(
                request.attestations.max(1),
            )?)
        } else {
            Tag::default()
        };
        // What the pool offers: a pool that offers random selection offers spot checks too (the
        // whole q byte, so any probability matches); the request asks for its own q.
        let mut offered = tag;
        if request.random {
            tag =
                decloud_protocol::spot::with_spot_byte(tag.union(Tag::RANDOM), request.spot_check);
            offered = decloud_protocol::spot::with_spot_byte(offered.union(Tag::RANDOM), 0xff);
            // The workerpool order of a random deal waits for the scheduler's snapshot of the
            // registry as it is: a deal draws over the last one committed before it starts.
            wait_current_snapshot(&requester, self.workerpool, Duration::from_secs(60)).await?;
        }
        let mut app_order = AppOrder {
            app: request.app,
            app_price: U256::ZERO,
            volume: request.volume,
            salt: self.next_salt(),
            ..Default::default()
        };
        app_order.sign_with(&decloud_chain::accounts::dev_signer(APP_OWNER), &domain)?;
        let mut pool_order = WorkerpoolOrder {
            workerpool: self.workerpool,
            workerpool_price: self.options.workerpool_price,
            volume: request.volume,
            tag: offered,
            category: request.category,
            trust: self.options.max_trust.max(request.trust),
            salt: self.next_salt(),
            ..Default::default()
        };
        pool_order.sign_with(&decloud_chain::accounts::dev_signer(POOL_OWNER), &domain)?;
        let mut params = serde_json::Map::new();
        if !request.args.is_empty() {
            params.insert("args".into(), request.args.clone().into());
        }
        if !request.input_files.is_empty() {
            params.insert("input_files".into(), request.input_files.clone().into());
        }
        if !request.secrets.is_empty() {
            params.insert("secrets".into(), request.secrets.clone().into());
        }
        for (key, value) in &request.extra_params {
            params.insert(key.clone(), value.clone());
        }
        let me = requester.address().unwrap_or_default();
        let mut order = RequestOrder {
            app: request.app,
            app_max_price: U256::ZERO,
            dataset: request.dataset,
            dataset_max_price: U256::ZERO,
            workerpool: self.workerpool,
            workerpool_max_price: self.options.workerpool_price,
            requester: me,
            volume: request.volume,
            tag,
            category: request.category,
            trust: request.trust,
            beneficiary: me,
            callback: request.callback,
            params: if params.is_empty() {
                String::new()
            } else {
                serde_json::Value::Object(params).to_string()
            },
            expiry: 0,
            salt: self.next_salt(),
            sign: Bytes::new(),
        };
        order.sign_with(&decloud_chain::accounts::dev_signer(REQUESTER), &domain)?;
        let cost = self.options.workerpool_price * U256::from(request.volume);
        decloud_chain::actions::deposit_at_least(&requester, cost).await?;
        let dataset_order = if request.dataset == Address::ZERO {
            DatasetOrder::none()
        } else {
            // The owner's order names this pool: its data goes nowhere else.
            let mut o = DatasetOrder {
                dataset: request.dataset,
                dataset_price: U256::ZERO,
                workerpool_restrict: self.workerpool,
                volume: request.volume,
                salt: self.next_salt(),
                ..Default::default()
            };
            o.sign_with(&decloud_chain::accounts::dev_signer(DATASET_OWNER), &domain)?;
            o
        };
        let matched =
            match_orders(&requester, &app_order, &dataset_order, &pool_order, &order).await?;
        Ok(Deal { matched })
    }

    /// Waits until every task is completed (or any is failed), reading the chain every 100 ms;
    /// fails after `timeout` naming the tasks still open.
    pub async fn wait_completed(&self, tasks: &[B256], timeout: Duration) -> Result<(), PoolError> {
        let chain = Client::connect(&self.profile, None, None).await?;
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let mut open = Vec::new();
            for &task in tasks {
                let view = chain.read("reading a task", chain.hub().task(task)).await?;
                match view.status {
                    3 => {}
                    4 => return Err(LocalError::TaskFailed(task)),
                    _ => open.push(task),
                }
            }
            if open.is_empty() {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(LocalError::NotCompleted { open, timeout });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
