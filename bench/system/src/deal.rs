//! The requester's side of a benchmark: orders signed ahead of time (so that the clock starts
//! at `matchOrders` itself), a deposit made once beforehand, and the hub's task events read back.

use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::rpc::types::Filter;
use alloy::sol_types::SolEvent;
use anyhow::Context as _;
use decloud_chain::ChainProfile;
use decloud_chain::client::Client;
use decloud_chain::contracts::IHub;
use decloud_chain::orders::{MatchedDeal, match_orders};
use decloud_protocol::{AppOrder, DatasetOrder, Order, RequestOrder, Tag, WorkerpoolOrder};
use decloud_testkit::pool::{APP_OWNER, POOL_OWNER, Pool, PoolOptions, REQUESTER};

/// Four orders signed and ready to match.
pub struct SignedOrders {
    app: AppOrder,
    workerpool: WorkerpoolOrder,
    request: RequestOrder,
}

/// The requester (development account [`REQUESTER`]) of a pool.
pub struct Requester {
    /// Its chain client.
    pub client: Client,
    workerpool: Address,
    price: U256,
    max_trust: u64,
}

impl Requester {
    /// Connects as the requester of the testkit pool `pool` and deposits enough for `tasks`
    /// tasks at its price.
    pub async fn for_pool(pool: &Pool, options: &PoolOptions, tasks: u64) -> anyhow::Result<Self> {
        Self::new(
            &pool.profile,
            pool.workerpool,
            options.workerpool_price,
            options.max_trust,
            tasks,
        )
        .await
    }

    /// Connects as the requester of `workerpool`, whose orders cost `price` per task and offer
    /// up to `max_trust`, and deposits enough for `tasks` tasks.
    pub async fn new(
        profile: &ChainProfile,
        workerpool: Address,
        price: U256,
        max_trust: u64,
        tasks: u64,
    ) -> anyhow::Result<Self> {
        let client = Client::connect(
            profile,
            None,
            Some(decloud_chain::accounts::dev_signer(REQUESTER)),
        )
        .await?;
        decloud_chain::actions::deposit_at_least(&client, price * U256::from(tasks)).await?;
        Ok(Self {
            client,
            workerpool,
            price,
            max_trust,
        })
    }

    /// Signs a free app order, the workerpool order and a request for `volume` tasks of `app`
    /// at `trust` with `args`.
    pub fn sign(
        &self,
        app: Address,
        trust: u64,
        volume: u64,
        args: &str,
    ) -> anyhow::Result<SignedOrders> {
        self.sign_tagged(app, trust, volume, args, Tag::default(), Tag::default())
    }

    /// [`Self::sign`] with the request asking for `tag` and the workerpool order offering
    /// `offered` (e.g. random selection: the request's spot-check byte, the pool's whole byte).
    pub fn sign_tagged(
        &self,
        app: Address,
        trust: u64,
        volume: u64,
        args: &str,
        tag: Tag,
        offered: Tag,
    ) -> anyhow::Result<SignedOrders> {
        let domain = self.client.domain();
        let mut app_order = AppOrder {
            app,
            app_price: U256::ZERO,
            volume,
            salt: B256::random(),
            ..Default::default()
        };
        app_order.sign_with(&decloud_chain::accounts::dev_signer(APP_OWNER), &domain)?;
        let mut workerpool = WorkerpoolOrder {
            workerpool: self.workerpool,
            workerpool_price: self.price,
            volume,
            tag: offered,
            category: 0,
            trust: self.max_trust.max(trust),
            salt: B256::random(),
            ..Default::default()
        };
        workerpool.sign_with(&decloud_chain::accounts::dev_signer(POOL_OWNER), &domain)?;
        let me = self.client.address().unwrap_or_default();
        let mut request = RequestOrder {
            app,
            app_max_price: U256::ZERO,
            dataset: Address::ZERO,
            dataset_max_price: U256::ZERO,
            workerpool: self.workerpool,
            workerpool_max_price: self.price,
            requester: me,
            volume,
            tag,
            category: 0,
            trust,
            beneficiary: me,
            callback: Address::ZERO,
            params: if args.is_empty() {
                String::new()
            } else {
                serde_json::json!({ "args": args }).to_string()
            },
            expiry: 0,
            salt: B256::random(),
            sign: Bytes::new(),
        };
        request.sign_with(&decloud_chain::accounts::dev_signer(REQUESTER), &domain)?;
        Ok(SignedOrders {
            app: app_order,
            workerpool,
            request,
        })
    }

    /// Sends `matchOrders` and waits for it to be mined.
    pub async fn matched(&self, orders: &SignedOrders) -> anyhow::Result<MatchedDeal> {
        Ok(match_orders(
            &self.client,
            &orders.app,
            &DatasetOrder::none(),
            &orders.workerpool,
            &orders.request,
        )
        .await?)
    }
}

/// A task event of the hub.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskEvent {
    /// `TaskInitialize`.
    Initialize,
    /// `TaskContribute`.
    Contribute,
    /// `TaskConsensus`.
    Consensus,
    /// `TaskReveal`.
    Reveal,
    /// `TaskFinalize`.
    Finalize,
    /// `TaskAudited`: a spot check's verdict.
    Audited,
    /// Anything else about the task.
    Other,
}

impl TaskEvent {
    /// One letter for a timeline.
    pub fn letter(self) -> char {
        match self {
            TaskEvent::Initialize => 'I',
            TaskEvent::Contribute => 'C',
            TaskEvent::Consensus => 'K',
            TaskEvent::Reveal => 'R',
            TaskEvent::Finalize => 'F',
            TaskEvent::Audited => 'V',
            TaskEvent::Other => '?',
        }
    }
}

/// The logs of the contract at `address` matching `filter` from block `from` on, read in the
/// ranges RPC providers accept.
async fn logs_of(
    client: &Client,
    address: Address,
    filter: Filter,
    from: u64,
    what: &'static str,
) -> anyhow::Result<Vec<alloy::rpc::types::Log>> {
    let filter = filter.address(address);
    decloud_chain::follower::get_logs_chunked(
        client.provider(),
        &filter,
        from,
        None,
        decloud_chain::follower::DEFAULT_MAX_RANGE,
    )
    .await
    .context(what)
}

/// The hub's events about `task` since block `from`, with their block numbers, in chain order.
pub async fn task_events(
    client: &Client,
    task: B256,
    from: u64,
) -> anyhow::Result<Vec<(TaskEvent, u64)>> {
    let logs = logs_of(
        client,
        client.profile().contracts.hub,
        Filter::new().topic1(task),
        from,
        "reading the task's events",
    )
    .await?;
    Ok(logs
        .iter()
        .map(|log| {
            let kind = match log.topic0().copied().unwrap_or_default() {
                t if t == IHub::TaskInitialize::SIGNATURE_HASH => TaskEvent::Initialize,
                t if t == IHub::TaskContribute::SIGNATURE_HASH => TaskEvent::Contribute,
                t if t == IHub::TaskConsensus::SIGNATURE_HASH => TaskEvent::Consensus,
                t if t == IHub::TaskReveal::SIGNATURE_HASH => TaskEvent::Reveal,
                t if t == IHub::TaskFinalize::SIGNATURE_HASH => TaskEvent::Finalize,
                t if t == IHub::TaskAudited::SIGNATURE_HASH => TaskEvent::Audited,
                _ => TaskEvent::Other,
            };
            (kind, log.block_number.unwrap_or_default())
        })
        .collect())
}

/// The blocks, since block `from`, of the beacon rounds stored on chain (`RoundVerified`).
pub async fn rounds_verified(client: &Client, from: u64) -> anyhow::Result<Vec<u64>> {
    let logs = logs_of(
        client,
        client.profile().contracts.beacon,
        Filter::new()
            .event_signature(decloud_chain::contracts::Beacon::RoundVerified::SIGNATURE_HASH),
        from,
        "reading the beacon's RoundVerified events",
    )
    .await?;
    Ok(logs
        .iter()
        .map(|log| log.block_number.unwrap_or_default())
        .collect())
}
