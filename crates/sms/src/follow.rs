//! The deals the SMS knows: a background task follows the hub's `DealCreated` events with the
//! one chain follower of `decloud-chain` and stores each deal in the SMS's database together
//! with the follower's cursor, in one transaction per block range; a restart resumes from that
//! cursor and a reorg deletes the deals of the blocks it orphaned.
//!
//! A release reads its deal from the store ([`Deals::deal`]), and keeps the last
//! [`RECENT_DEALS`] it read in memory: a deal's tasks are released one after another, and a
//! deal never changes unless a reorg takes it away, which empties that memory too. A deal not stored yet makes the
//! follower run a pass at once (the passes of concurrent requests are shared) and waits for it,
//! at most [`DEAL_WAIT`]: an unknown deal id costs no log query of its own, only the follower's
//! next pass, which reads logs only if the chain has new blocks.

use std::sync::Arc;
use std::time::Duration;

use alloy::primitives::B256;
use alloy::rpc::types::{Filter, Log};
use alloy::sol_types::SolEvent;
use decloud_chain::ChainProfile;
use decloud_chain::contracts::IHub;
use decloud_chain::follower::{self, BlockSource, Cursor, Follower, Step};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::SmsError;
use crate::chain::DealOnChain;
use crate::store::{FollowedDeal, SecretStore};

/// How many deals read from the store are kept in memory.
pub const RECENT_DEALS: usize = 1024;

/// Deals read lately, and how many reorgs emptied them (a read begun before a reorg does not
/// put back what the reorg took away).
#[derive(Debug, Default)]
struct Recent {
    reorgs: u64,
    deals: std::collections::HashMap<B256, DealOnChain>,
}

/// [`Recent`], shared by the releases and the follower.
type SharedRecent = Arc<std::sync::Mutex<Recent>>;

/// How long a release waits for the follower to read a deal it does not have yet.
pub const DEAL_WAIT: Duration = Duration::from_secs(5);

/// How often the follower looks for new blocks when nothing asks it to.
pub const FOLLOW_INTERVAL: Duration = Duration::from_secs(2);

/// Where the follower stands.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FollowStatus {
    /// Passes begun.
    pub started: u64,
    /// Passes ended (successful or not).
    pub finished: u64,
    /// The last block whose deals are stored.
    pub block: Option<u64>,
    /// The chain's latest block when the last pass began.
    pub head: Option<u64>,
    /// Why the last pass failed, if it did (one line, no URL).
    pub error: Option<String>,
}

impl FollowStatus {
    /// The `/health` line: the follower's block and how far behind the chain's head it is.
    pub fn health_line(&self) -> String {
        let error = match &self.error {
            Some(e) => format!("; last pass failed: {e}"),
            None => String::new(),
        };
        match (self.block, self.head) {
            (Some(block), Some(head)) => format!(
                "deals: followed to block {block} (chain head {head}, {} behind){error}",
                head.saturating_sub(block)
            ),
            _ => format!("deals: the follower has not read the chain yet{error}"),
        }
    }
}

/// The deals the SMS knows, read from its store, and the follower that fills it.
#[derive(Clone, Debug)]
pub struct Deals {
    store: SecretStore,
    status: watch::Receiver<FollowStatus>,
    wake: Arc<Notify>,
    recent: SharedRecent,
}

/// Stops the follower when dropped.
#[derive(Debug)]
pub struct FollowerTask(JoinHandle<()>);

impl Drop for FollowerTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Deals {
    /// Starts following `profile`'s hub into `store`, from the stored cursor (or the deployment
    /// block), every [`FOLLOW_INTERVAL`] or sooner when a release asks for a deal it lacks.
    pub fn spawn(
        profile: &ChainProfile,
        store: SecretStore,
    ) -> Result<(Self, FollowerTask), SmsError> {
        let provider = decloud_chain::client::read_only_provider(&profile.rpc_url)
            .map_err(|e| SmsError::Chain(e.to_string()))?;
        let follower = Follower::new(
            provider,
            Filter::new()
                .address(profile.contracts.hub)
                .event_signature(IHub::DealCreated::SIGNATURE_HASH),
            follower::FollowerOptions {
                max_range: profile.max_log_range(),
                confirmations: profile.confirmations(),
                reorg_depth: follower::DEFAULT_REORG_DEPTH,
            },
        )
        .map_err(|e| SmsError::BadRequest(e.to_string()))?;
        let (tx, status) = watch::channel(FollowStatus::default());
        let wake = Arc::new(Notify::new());
        let recent = SharedRecent::default();
        let pass = Pass {
            follower,
            store: store.clone(),
            recent: recent.clone(),
            deployment: profile.deployment_block,
            urls: [
                profile.rpc_url.clone(),
                profile
                    .rpc_url
                    .parse::<alloy::transports::http::reqwest::Url>()
                    .map(|u| u.to_string())
                    .unwrap_or_else(|_| profile.rpc_url.clone()),
            ],
            endpoint: decloud_chain::client::endpoint(&profile.rpc_url),
        };
        let task = tokio::spawn(run(pass, tx, wake.clone()));
        Ok((
            Self {
                store,
                status,
                wake,
                recent,
            },
            FollowerTask(task),
        ))
    }

    /// Where the follower stands now.
    pub fn status(&self) -> FollowStatus {
        self.status.borrow().clone()
    }

    /// The deal `deal_id`. One not stored yet waits for a follower pass begun after this call
    /// (at most [`DEAL_WAIT`]); one still absent is refused.
    pub async fn deal(&self, deal_id: B256) -> Result<DealOnChain, SmsError> {
        let reorgs = match self.recent.lock() {
            Ok(recent) => match recent.deals.get(&deal_id) {
                Some(deal) => return Ok(deal.clone()),
                None => recent.reorgs,
            },
            Err(_) => u64::MAX,
        };
        if let Some(deal) = self.store.deal(deal_id).await? {
            self.remember(reorgs, deal_id, &deal);
            return Ok(deal);
        }
        let mut status = self.status.clone();
        // A pass already under way may have read the head before the deal's block: wait for
        // the one after it (the wake-up below is kept until the follower next waits).
        let target = status.borrow_and_update().started + 1;
        self.wake.notify_one();
        // Only whether it ended: the watch's guard may not be held across an await.
        let waited = tokio::time::timeout(DEAL_WAIT, status.wait_for(|s| s.finished >= target))
            .await
            .map(|r| r.is_ok());
        if let Some(deal) = self.store.deal(deal_id).await? {
            // Kept too: the first release of a new deal is the usual way here, and its next
            // ones would read the store again (a keeper sees each deal only a few times).
            self.remember(reorgs, deal_id, &deal);
            return Ok(deal);
        }
        let now = self.status();
        match waited {
            Err(_) => Err(SmsError::Chain(format!(
                "the SMS is still reading the chain's deals ({}): try again in a moment",
                now.health_line()
            ))),
            Ok(false) => Err(SmsError::Chain(
                "the SMS's chain follower stopped: restart the SMS".to_owned(),
            )),
            Ok(true) => match now.error {
                Some(e) => Err(SmsError::Chain(format!(
                    "the SMS could not read the chain's deals ({e}): try again"
                ))),
                None => Err(SmsError::Forbidden(format!(
                    "no deal {deal_id} on this chain: check the deal id and the SMS's chain"
                ))),
            },
        }
    }
}

impl Deals {
    /// Keeps `deal`, read from the store when `reorgs` reorgs had emptied the memory, unless
    /// another one has since.
    fn remember(&self, reorgs: u64, deal_id: B256, deal: &DealOnChain) {
        if let Ok(mut recent) = self.recent.lock()
            && recent.reorgs == reorgs
        {
            if recent.deals.len() >= RECENT_DEALS {
                recent.deals.clear();
            }
            recent.deals.insert(deal_id, deal.clone());
        }
    }
}

/// What one pass needs.
struct Pass {
    follower: Follower,
    store: SecretStore,
    /// Emptied at a reorg.
    recent: SharedRecent,
    deployment: u64,
    /// The RPC URL as given and as parsed: errors may quote it, and its path or query may hold
    /// an API key.
    urls: [String; 2],
    endpoint: String,
}

async fn run(pass: Pass, tx: watch::Sender<FollowStatus>, wake: Arc<Notify>) {
    loop {
        tx.send_modify(|s| s.started += 1);
        let head = pass.follower.source().head().await;
        let result = match head {
            Ok(head) => {
                tx.send_modify(|s| s.head = Some(head));
                pass.catch_up(&tx).await
            }
            Err(e) => Err(SmsError::Chain(e.to_string())),
        };
        let error = result.err().map(|e| {
            let line = pass.one_line(&e);
            tracing::warn!(error = %line, "following the hub's deals failed: the next pass retries");
            line
        });
        tx.send_modify(|s| {
            s.finished += 1;
            s.error = error;
        });
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(FOLLOW_INTERVAL) => {}
        }
    }
}

impl Pass {
    /// Reads and stores every range up to the chain's head, undoing reorgs on the way.
    async fn catch_up(&self, tx: &watch::Sender<FollowStatus>) -> Result<(), SmsError> {
        let mut cursor = self
            .store
            .cursor()
            .await?
            .unwrap_or_else(|| Cursor::start_at(self.deployment));
        let stored = |cursor: &Cursor| {
            let block = cursor.next_block().checked_sub(1);
            tx.send_modify(|s| s.block = block);
        };
        stored(&cursor);
        loop {
            let step = self
                .follower
                .poll(&cursor)
                .await
                .map_err(|e| SmsError::Chain(e.to_string()))?;
            match step {
                Step::Idle => return Ok(()),
                Step::Rewind(rewind) => {
                    // Emptied before and after the store forgets them: a release that read the
                    // store in between does not keep what it read (its count is stale).
                    self.forget_recent();
                    let gone = self
                        .store
                        .rewind_deals(rewind.orphaned_from, &rewind.cursor)
                        .await;
                    self.forget_recent();
                    let gone = gone?;
                    tracing::warn!(
                        from = rewind.orphaned_from,
                        deals = gone,
                        "the chain reorganized: the deals of the orphaned blocks are forgotten"
                    );
                    cursor = rewind.cursor;
                }
                Step::Batch(batch) => {
                    let deals: Vec<FollowedDeal> = batch
                        .logs
                        .iter()
                        .filter_map(|l| decode(l, batch.to))
                        .collect();
                    self.store.add_deals(&deals, &batch.cursor).await?;
                    cursor = batch.cursor;
                }
            }
            stored(&cursor);
        }
    }

    /// Empties the releases' memory of deals (a reorg).
    fn forget_recent(&self) {
        if let Ok(mut recent) = self.recent.lock() {
            recent.reorgs += 1;
            recent.deals.clear();
        }
    }

    /// An error as one line of at most 200 characters naming the endpoint without its secrets.
    fn one_line(&self, e: &SmsError) -> String {
        let mut text = e.to_string();
        for url in &self.urls {
            if !url.is_empty() {
                text = text.replace(url.as_str(), &self.endpoint);
            }
        }
        let first: String = text
            .lines()
            .next()
            .unwrap_or_default()
            .chars()
            .take(200)
            .collect();
        format!("reading {}: {first}", self.endpoint)
    }
}

/// The deal a `DealCreated` log announces; `None` (logged) when it does not decode.
fn decode(log: &Log, to: u64) -> Option<FollowedDeal> {
    let Ok(created) = IHub::DealCreated::decode_log(&log.inner) else {
        tracing::warn!(?log.transaction_hash, "undecodable DealCreated event skipped");
        return None;
    };
    Some(FollowedDeal {
        deal_id: created.dealid,
        block: log.block_number.unwrap_or(to),
        deal: DealOnChain {
            deal: created.deal.clone(),
            params: created.params.clone(),
        },
    })
}
