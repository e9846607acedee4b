//! Follows the chain so the book tells the truth: after each new block range it re-reads the
//! orders that deals consumed or signers cancelled, and periodically sweeps every open order
//! (expiry). The logs come from the one chain follower of `decloud-chain`; its cursor (with the
//! hashes of the last blocks read) and the orders each recent block touched are stored, so a
//! restart resumes where it stopped, and a reorg re-reads the orders the orphaned blocks
//! touched: an order filled or cancelled by a block the chain dropped is open again.

use std::collections::BTreeSet;
use std::time::Duration;

use alloy::primitives::B256;
use alloy::rpc::types::Filter;
use alloy::sol_types::SolEvent;
use decloud_chain::contracts::IHub;
use decloud_chain::follower::{Cursor, Follower, FollowerOptions, Step};
use serde::{Deserialize, Serialize};

use crate::check::{ChainChecker, unix_now};
use crate::{MarketError, OrderBook};

/// What the follower stores after each block range (and each rewind).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct FollowState {
    /// Where the chain follower stands (absent before the first pass).
    cursor: Option<Cursor>,
    /// The orders each recent block touched (a deal or a cancel), for blocks a reorg may still
    /// take away: those of orphaned blocks are re-read.
    touched: Vec<(u64, Vec<B256>)>,
}

/// The table of the follower's state.
const STATE_TABLE: &str = "chain_cursor";

async fn load_state(book: &OrderBook) -> Result<FollowState, MarketError> {
    if let Some(state) = decloud_sql::state::load(book.pool(), STATE_TABLE).await? {
        return Ok(state);
    }
    // A book written before the cursor kept block hashes.
    Ok(FollowState {
        cursor: book.cursor().await?.map(|done| Cursor::start_at(done + 1)),
        touched: Vec::new(),
    })
}

async fn store_state(book: &OrderBook, state: &FollowState) -> Result<(), MarketError> {
    Ok(decloud_sql::state::store(book.pool(), STATE_TABLE, state).await?)
}

/// Runs one pass: undoes what blocks a reorg dropped, processes blocks after the stored cursor
/// up to the latest (re-reading only the orders their events name), then closes the orders
/// time has expired. Returns the last block processed.
pub async fn follow_once(book: &OrderBook, checker: &ChainChecker) -> Result<u64, MarketError> {
    let follower = Follower::new(
        checker.provider().clone(),
        Filter::new()
            .address(checker.profile().contracts.hub)
            .event_signature(vec![
                IHub::DealCreated::SIGNATURE_HASH,
                IHub::OrderClosed::SIGNATURE_HASH,
            ]),
        FollowerOptions {
            max_range: checker.profile().max_log_range(),
            confirmations: checker.profile().confirmations(),
            ..FollowerOptions::default()
        },
    )
    .map_err(MarketError::Follow)?;
    let depth = follower.options().reorg_depth;
    let mut state = load_state(book).await?;
    let mut cursor = state
        .cursor
        .clone()
        .unwrap_or_else(|| Cursor::start_at(checker.profile().deployment_block));
    loop {
        let step = follower.poll(&cursor).await.map_err(MarketError::Follow)?;
        match step {
            Step::Idle => break,
            Step::Rewind(rewind) => {
                let orphaned: BTreeSet<B256> = state
                    .touched
                    .iter()
                    .filter(|(block, _)| *block >= rewind.orphaned_from)
                    .flat_map(|(_, hashes)| hashes.iter().copied())
                    .collect();
                tracing::warn!(
                    from = rewind.orphaned_from,
                    orders = orphaned.len(),
                    "reorg: re-reading the orders the dropped blocks touched"
                );
                // The chain decides, even for a cancellation: the cancel may be what was dropped.
                refresh(book, checker, orphaned, true).await?;
                state
                    .touched
                    .retain(|(block, _)| *block < rewind.orphaned_from);
                cursor = rewind.cursor;
                state.cursor = Some(cursor.clone());
                store_state(book, &state).await?;
            }
            Step::Batch(batch) => {
                let mut touched = BTreeSet::<B256>::new();
                for log in &batch.logs {
                    let hashes = order_hashes(log);
                    if hashes.is_empty() {
                        continue;
                    }
                    touched.extend(hashes.iter().copied());
                    let block = log.block_number.unwrap_or(batch.to);
                    match state.touched.last_mut() {
                        Some((b, list)) if *b == block => list.extend(hashes),
                        _ => state.touched.push((block, hashes)),
                    }
                }
                refresh(book, checker, touched, false).await?;
                // Only blocks a reorg may still take away are remembered.
                let oldest = batch.cursor.next_block().saturating_sub(depth);
                state.touched.retain(|(block, _)| *block >= oldest);
                cursor = batch.cursor;
                state.cursor = Some(cursor.clone());
                // The cursor moves only after the range's effects are stored.
                store_state(book, &state).await?;
            }
        }
    }
    book.expire(unix_now()).await?;
    Ok(cursor.next_block().saturating_sub(1))
}

/// The orders a hub event consumed or cancelled.
fn order_hashes(log: &alloy::rpc::types::Log) -> Vec<B256> {
    if let Ok(deal) = log.log_decode::<IHub::DealCreated>() {
        let d = deal.inner.data;
        vec![
            d.appOrderHash,
            d.datasetOrderHash,
            d.workerpoolOrderHash,
            d.deal.requestHash,
        ]
    } else if let Ok(cancelled) = log.log_decode::<IHub::OrderClosed>() {
        vec![cancelled.inner.data.orderHash]
    } else {
        Vec::new()
    }
}

/// Re-reads what the chain says of `hashes`. A withdrawal from the book (off-chain cancel)
/// sticks even if the chain still allows the order, unless `chain_decides`.
async fn refresh(
    book: &OrderBook,
    checker: &ChainChecker,
    hashes: BTreeSet<B256>,
    chain_decides: bool,
) -> Result<(), MarketError> {
    let now = unix_now();
    for hash in hashes {
        let Some(entry) = book.get(hash).await? else {
            continue;
        };
        let on_chain = checker.on_chain(&entry, now).await?;
        let status = if entry.status == crate::OrderStatus::Cancelled && !chain_decides {
            entry.status
        } else {
            on_chain.status
        };
        if on_chain.remaining != entry.remaining || status != entry.status {
            book.update(hash, on_chain.remaining, status).await?;
        }
    }
    Ok(())
}

/// Follows the chain forever, every `interval`; errors are logged and retried.
pub async fn follow(book: OrderBook, checker: ChainChecker, interval: Duration) {
    loop {
        if let Err(e) = follow_once(&book, &checker).await {
            tracing::warn!(error = %e, "market follower pass failed; retrying");
        }
        tokio::time::sleep(interval).await;
    }
}
