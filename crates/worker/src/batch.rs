//! Trust-1 contributions batched into one transaction: the worker's finished trust ≤ 1 results
//! of one deal go on chain together (`contributeAndRevealBatch`), so N tasks cost one transaction,
//! one gas estimate and one receipt wait instead of N.
//!
//! A job hands its result to the batcher and waits for its batch to be mined. A deal's batch is
//! sent when it holds [`Batching::max_tasks`] results, when every slot of the worker is waiting in
//! the batcher (no more results can come: each job holds its slot until its contribution is on
//! chain), or [`Batching::max_wait`] after its first result arrived. One result alone is sent as
//! a plain `contributeAndReveal`. The hub reverts a whole batch when one of its tasks is refused
//! (taken by another worker, past its deadline...): the batcher then sends each task on its own,
//! so one bad task never costs the others their contribution.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use alloy::primitives::{Address, B256, Bytes, U256};
use decloud_chain::ChainError;
use decloud_protocol::typed::Deal;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::Context;
use crate::job::Failure;

/// How a worker batches its trust ≤ 1 contributions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Batching {
    /// Most tasks in one transaction (1 turns batching off).
    pub max_tasks: usize,
    /// Longest a result waits for others before its batch is sent.
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

/// One trust ≤ 1 result waiting for its batch.
pub(crate) struct Item {
    pub deal_id: B256,
    pub deal: Deal,
    pub index: u64,
    pub digest: B256,
    pub authorization: Bytes,
    pub done: oneshot::Sender<Result<(), Failure>>,
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

    /// Contributes and reveals `digest` for task `index` of `deal`, in a batch with the worker's
    /// other results of the deal; returns once it is on chain.
    pub(crate) async fn contribute_and_reveal(
        &self,
        deal_id: B256,
        deal: Deal,
        index: u64,
        digest: B256,
        authorization: Bytes,
    ) -> Result<(), Failure> {
        let (done, wait) = oneshot::channel();
        let item = Item {
            deal_id,
            deal,
            index,
            digest,
            authorization,
            done,
        };
        // Transient: the job resumes at the next start and reads the chain first.
        let stopped = || Failure {
            reason: "the worker is stopping".into(),
            transient: true,
        };
        self.tx.send(item).map_err(|_| stopped())?;
        wait.await.map_err(|_| stopped())?
    }
}

/// A deal's results waiting, and when the first one came.
struct Pending {
    since: Instant,
    items: Vec<Item>,
}

/// The batcher's loop: collects results per deal and sends each deal's batch when it is full,
/// when every slot waits in the batcher, or when its oldest result has waited `max_wait`.
pub(crate) async fn run(ctx: Arc<Context>, mut rx: mpsc::UnboundedReceiver<Item>) {
    let batching = ctx.config.batching;
    let max_tasks = batching.max_tasks.max(1);
    let slots = usize::try_from(ctx.config.capacity).unwrap_or(usize::MAX);
    let mut pending: HashMap<B256, Pending> = HashMap::new();
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
                .entry(item.deal_id)
                .or_insert_with(|| Pending {
                    since: Instant::now(),
                    items: Vec::new(),
                })
                .items
                .push(item),
            None => {}
        }
        let waiting: usize = pending.values().map(|p| p.items.len()).sum();
        let now = Instant::now();
        let ready: Vec<B256> = pending
            .iter()
            .filter(|(_, p)| {
                p.items.len() >= max_tasks || waiting >= slots || now >= p.since + batching.max_wait
            })
            .map(|(id, _)| *id)
            .collect();
        for id in ready {
            let Some(mut p) = pending.remove(&id) else {
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

/// Sends one deal's batch and tells each job how it went; a reverted batch is sent again one
/// task at a time.
async fn send(ctx: Arc<Context>, batch: Vec<Item>) {
    if batch.len() == 1 {
        for item in batch {
            let outcome = send_one(&ctx, &item).await.map_err(Failure::from);
            let _ = item.done.send(outcome);
        }
        return;
    }
    let chain = &ctx.chain;
    let deal = &batch[0].deal;
    let indexes: Vec<U256> = batch.iter().map(|i| U256::from(i.index)).collect();
    let digests: Vec<B256> = batch.iter().map(|i| i.digest).collect();
    let signs: Vec<Bytes> = batch.iter().map(|i| i.authorization.clone()).collect();
    let tx = chain
        .hub()
        .contributeAndRevealBatch(deal.into(), indexes, digests, signs)
        .into_transaction_request();
    let what = format!("contributing {} results in one transaction", batch.len());
    match chain.send(&what, tx).await {
        Ok(_) => {
            tracing::info!(tasks = batch.len(), deal = %batch[0].deal_id, "contributed a batch");
            for item in batch {
                let _ = item.done.send(Ok(()));
            }
        }
        Err(ChainError::Reverted { reason, .. }) => {
            // One task was refused (its error names it): the others go alone.
            tracing::info!(tasks = batch.len(), %reason, "a batch was refused; contributing its tasks one by one");
            for item in batch {
                let outcome = send_one(&ctx, &item).await.map_err(Failure::from);
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

/// The plain `contributeAndReveal` of one task.
async fn send_one(ctx: &Context, item: &Item) -> Result<(), ChainError> {
    let chain = &ctx.chain;
    let tx = chain
        .hub()
        .contributeAndReveal(
            (&item.deal).into(),
            U256::from(item.index),
            item.digest,
            Address::ZERO,
            Bytes::new(),
            item.authorization.clone(),
        )
        .into_transaction_request();
    chain.send("contributing the result", tx).await.map(|_| ())
}
