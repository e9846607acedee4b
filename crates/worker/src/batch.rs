//! A worker's chain writes batched into fewer transactions: its finished trust ≤ 1 results of
//! one deal go on chain together (`contributeAndRevealBatch`), its replicated contributions of any
//! deals together (`contributeBatch`), and its reveals together (`revealBatch`), so N tasks cost
//! one transaction, one gas estimate and one receipt wait instead of N.
//!
//! A job hands its write to the batcher and waits for its batch to be mined. A batch is sent when
//! it holds [`Batching::max_tasks`] writes, [`Batching::max_wait`] after its first write arrived,
//! or when no more writes can come soon: for trust ≤ 1 results, when every slot of the worker is
//! waiting in the batcher (each job holds its slot until its contribution is on chain); for
//! replicated contributions, when every job that holds a slot is waiting in it (a free slot
//! brings a write only after a claim, and the scheduler frees the waiting jobs' slots only once
//! their contributions are on chain); for reveals, when every job waiting for the scheduler's
//! word has been told to reveal. One write
//! alone is sent as the plain call (`contributeAndReveal`, `contribute`, `reveal`). The hub reverts
//! a whole batch when one of its items is refused (taken by another worker, past its deadline...):
//! the batcher then sends each item on its own, so one bad task never costs the others theirs.
//! A reveal is handed to the batcher only once the scheduler said to reveal, as before.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::rpc::types::TransactionRequest;
use decloud_chain::ChainError;
use decloud_chain::contracts::IHub;
use decloud_protocol::result::Commitment;
use decloud_protocol::typed::Deal;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::Context;
use crate::job::Failure;

/// How a worker batches its contributions and reveals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Batching {
    /// Most tasks in one transaction (1 turns batching off).
    pub max_tasks: usize,
    /// Longest a write waits for others before its batch is sent.
    pub max_wait: Duration,
}

impl Default for Batching {
    /// Up to 32 tasks, 50 ms at most: a fraction of any real chain's block time, and on a devnet
    /// that mines at once the batch usually closes sooner, when every slot is waiting in it.
    fn default() -> Self {
        Self {
            max_tasks: 32,
            max_wait: Duration::from_millis(50),
        }
    }
}

/// One chain write waiting for its batch.
pub(crate) enum Write {
    /// A trust ≤ 1 result, contributed and revealed at once.
    ContributeAndReveal {
        deal: Deal,
        index: u64,
        digest: B256,
        authorization: Bytes,
    },
    /// A replicated contribution (its commitment), authorized by the scheduler.
    Contribute {
        deal_id: B256,
        deal: Deal,
        index: u64,
        commitment: Commitment,
        authorization: Bytes,
    },
    /// A replicated result's reveal, which the scheduler asked for.
    Reveal { task_id: B256, digest: B256 },
}

/// Which writes share a transaction: trust ≤ 1 results of one deal, contributions, reveals.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Key {
    ContributeAndReveal(B256),
    Contribute,
    Reveal,
}

impl Key {
    /// Whether the writes of this batch hold a slot of the worker while they wait (a
    /// contribution does; a reveal does not: its job let its slot go when it contributed).
    fn holds_slots(self) -> bool {
        !matches!(self, Key::Reveal)
    }
}

/// One write waiting for its batch, and where its job waits for the outcome.
pub(crate) struct Item {
    key: Key,
    write: Write,
    done: oneshot::Sender<Result<(), Failure>>,
}

/// The batcher's handle, kept in the worker's context.
pub(crate) struct Batcher {
    tx: mpsc::UnboundedSender<Item>,
}

impl Batcher {
    /// A handle and the receiving end for [`run`].
    pub(crate) fn new() -> (Self, mpsc::UnboundedReceiver<Item>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Self { tx }, rx)
    }

    /// Contributes and reveals `digest` for task `index` of trust ≤ 1 `deal`, in a batch with the
    /// worker's other results of the deal; returns once it is on chain.
    pub(crate) async fn contribute_and_reveal(
        &self,
        deal_id: B256,
        deal: Deal,
        index: u64,
        digest: B256,
        authorization: Bytes,
    ) -> Result<(), Failure> {
        let write = Write::ContributeAndReveal {
            deal,
            index,
            digest,
            authorization,
        };
        self.submit(Key::ContributeAndReveal(deal_id), write).await
    }

    /// Contributes `commitment` to task `index` of replicated `deal`, in a batch with the
    /// worker's other contributions; returns once it is on chain.
    pub(crate) async fn contribute(
        &self,
        deal_id: B256,
        deal: Deal,
        index: u64,
        commitment: Commitment,
        authorization: Bytes,
    ) -> Result<(), Failure> {
        let write = Write::Contribute {
            deal_id,
            deal,
            index,
            commitment,
            authorization,
        };
        self.submit(Key::Contribute, write).await
    }

    /// Reveals `digest` for `task_id`, in a batch with the worker's other reveals; returns once
    /// it is on chain. Only for a task whose reveal the scheduler asked for.
    pub(crate) async fn reveal(&self, task_id: B256, digest: B256) -> Result<(), Failure> {
        self.submit(Key::Reveal, Write::Reveal { task_id, digest })
            .await
    }

    async fn submit(&self, key: Key, write: Write) -> Result<(), Failure> {
        let (done, wait) = oneshot::channel();
        // Transient: the job resumes at the next start and reads the chain first.
        let stopped = || Failure {
            reason: "the worker is stopping".into(),
            transient: true,
        };
        self.tx
            .send(Item { key, write, done })
            .map_err(|_| stopped())?;
        wait.await.map_err(|_| stopped())?
    }
}

/// A batch's writes waiting, and when the first one came.
struct Pending {
    since: Instant,
    items: Vec<Item>,
}

/// The batcher's loop: collects writes per batch key and sends a batch when it is full, when no
/// more writes can come soon (see the module's doc), or when its oldest write has waited
/// `max_wait`.
pub(crate) async fn run(ctx: Arc<Context>, mut rx: mpsc::UnboundedReceiver<Item>) {
    let batching = ctx.config.batching;
    let max_tasks = batching.max_tasks.max(1);
    let slots = ctx.capacity_slots();
    let mut pending: HashMap<Key, Pending> = HashMap::new();
    loop {
        let deadline = pending.values().map(|p| p.since + batching.max_wait).min();
        let received = match deadline {
            Some(at) => tokio::select! {
                item = rx.recv() => Some(item),
                () = tokio::time::sleep_until(at) => None,
            },
            None => Some(rx.recv().await),
        };
        match received {
            Some(None) => return,
            Some(Some(item)) => pending
                .entry(item.key)
                .or_insert_with(|| Pending {
                    since: Instant::now(),
                    items: Vec::new(),
                })
                .items
                .push(item),
            None => {}
        }
        let holding_slots: usize = pending
            .iter()
            .filter(|(k, _)| k.holds_slots())
            .map(|(_, p)| p.items.len())
            .sum();
        // Every job told to reveal has handed its reveal over: none can come before another word.
        let every_reveal_in = ctx.awaiting_reveal.load(Ordering::Relaxed) == 0;
        // Every job holding a slot has handed its write over: another can come only once a
        // claim brings work, and a replicated contribution does not wait for that (its slot
        // stays taken at the scheduler until the contribution is on chain, so waiting for a
        // batch that will not grow only holds the slots longer).
        let every_slot_in = holding_slots >= ctx.slots_held();
        let now = Instant::now();
        let ready: Vec<Key> = pending
            .iter()
            .filter(|(key, p)| {
                let nothing_more_soon = match key {
                    Key::ContributeAndReveal(_) => holding_slots >= slots,
                    Key::Contribute => every_slot_in,
                    Key::Reveal => every_reveal_in,
                };
                p.items.len() >= max_tasks
                    || nothing_more_soon
                    || now >= p.since + batching.max_wait
            })
            .map(|(key, _)| *key)
            .collect();
        for key in ready {
            let Some(mut p) = pending.remove(&key) else {
                continue;
            };
            while !p.items.is_empty() {
                let rest = p.items.split_off(p.items.len().min(max_tasks));
                let batch = std::mem::replace(&mut p.items, rest);
                tokio::spawn(send(ctx.clone(), batch));
            }
        }
    }
}

/// The batch transaction of `batch` (two writes or more, all of one key).
fn batch_call(ctx: &Context, batch: &[Item]) -> TransactionRequest {
    let hub = ctx.chain.hub();
    match &batch[0].write {
        Write::ContributeAndReveal { deal, .. } => {
            let (mut indexes, mut digests, mut signs) = (Vec::new(), Vec::new(), Vec::new());
            for item in batch {
                if let Write::ContributeAndReveal {
                    index,
                    digest,
                    authorization,
                    ..
                } = &item.write
                {
                    indexes.push(U256::from(*index));
                    digests.push(*digest);
                    signs.push(authorization.clone());
                }
            }
            hub.contributeAndRevealBatch(deal.into(), indexes, digests, signs)
                .into_transaction_request()
        }
        Write::Contribute { .. } => {
            // Each deal once; the items point at it.
            let (mut deal_ids, mut deals, mut items) = (Vec::new(), Vec::new(), Vec::new());
            for item in batch {
                if let Write::Contribute {
                    deal_id,
                    deal,
                    index,
                    commitment,
                    authorization,
                } = &item.write
                {
                    let position = match deal_ids.iter().position(|d| d == deal_id) {
                        Some(p) => p,
                        None => {
                            deal_ids.push(*deal_id);
                            deals.push(IHub::Deal::from(deal));
                            deal_ids.len() - 1
                        }
                    };
                    items.push(IHub::BatchContribution {
                        deal: U256::from(position),
                        index: U256::from(*index),
                        resultHash: commitment.result_hash,
                        resultSeal: commitment.result_seal,
                        authorizationSign: authorization.clone(),
                    });
                }
            }
            hub.contributeBatch(deals, items).into_transaction_request()
        }
        Write::Reveal { .. } => {
            let (mut task_ids, mut digests) = (Vec::new(), Vec::new());
            for item in batch {
                if let Write::Reveal { task_id, digest } = &item.write {
                    task_ids.push(*task_id);
                    digests.push(*digest);
                }
            }
            hub.revealBatch(task_ids, digests)
                .into_transaction_request()
        }
    }
}

/// What a transaction of `n` writes of `key` does, for its logs and errors.
fn describe(key: Key, n: usize) -> String {
    match key {
        Key::ContributeAndReveal(_) => format!("contributing {n} results in one transaction"),
        Key::Contribute => format!("contributing {n} replicated results in one transaction"),
        Key::Reveal => format!("revealing {n} results in one transaction"),
    }
}

/// Sends one batch and tells each job how it went; a reverted batch is sent again one item at
/// a time.
async fn send(ctx: Arc<Context>, batch: Vec<Item>) {
    // The saved states of the batch's jobs are durable before their writes leave: one sync for
    // the batch (each job's file is synced already, `JobStore::save_pending`); when they cannot
    // be, nothing leaves and every job of the batch fails before it costs a stake.
    if let Err(failure) = crate::job::sync_saved_states(&ctx) {
        for item in batch {
            let _ = item
                .done
                .send(Err(crate::job::fail(failure.reason.clone())));
        }
        return;
    }
    if batch.len() == 1 {
        for item in batch {
            let outcome = send_one(&ctx, &item.write).await.map_err(Failure::from);
            let _ = item.done.send(outcome);
        }
        return;
    }
    let key = batch[0].key;
    let tx = batch_call(&ctx, &batch);
    let what = describe(key, batch.len());
    match ctx.chain.send(&what, tx).await {
        Ok(_) => {
            tracing::info!(items = batch.len(), kind = ?key, "sent a batch");
            for item in batch {
                let _ = item.done.send(Ok(()));
            }
        }
        Err(ChainError::Reverted { reason, .. }) => {
            // One item was refused (its error names it): the others go alone.
            tracing::info!(items = batch.len(), kind = ?key, %reason, "a batch was refused; sending its items one by one");
            for item in batch {
                let outcome = send_one(&ctx, &item.write).await.map_err(Failure::from);
                let _ = item.done.send(outcome);
            }
        }
        Err(e) => {
            // Not mined, or the chain is unreachable: each job retries on its own, reading the
            // chain first (the batch may have landed after all).
            for item in batch {
                let _ = item.done.send(Err(Failure {
                    reason: e.to_string(),
                    transient: e.is_transient(),
                }));
            }
        }
    }
}

/// The plain call of one write.
async fn send_one(ctx: &Context, write: &Write) -> Result<(), ChainError> {
    let chain = &ctx.chain;
    let hub = chain.hub();
    let (what, tx) = match write {
        Write::ContributeAndReveal {
            deal,
            index,
            digest,
            authorization,
        } => (
            "contributing the result",
            hub.contributeAndReveal(
                deal.into(),
                U256::from(*index),
                *digest,
                Address::ZERO,
                Bytes::new(),
                authorization.clone(),
            )
            .into_transaction_request(),
        ),
        Write::Contribute {
            deal,
            index,
            commitment,
            authorization,
            ..
        } => (
            "contributing the result",
            hub.contribute(
                deal.into(),
                U256::from(*index),
                commitment.result_hash,
                commitment.result_seal,
                Address::ZERO,
                Bytes::new(),
                authorization.clone(),
            )
            .into_transaction_request(),
        ),
        Write::Reveal { task_id, digest } => (
            "revealing the result",
            hub.reveal(*task_id, *digest).into_transaction_request(),
        ),
    };
    chain.send(what, tx).await.map(|_| ())
}
