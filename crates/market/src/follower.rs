//! Follows the chain so the book tells the truth: after each new block range it re-reads the
//! orders that deals consumed or signers cancelled, and periodically sweeps every open order
//! (expiry). The last processed block is stored, so a restart resumes where it stopped.

use std::collections::BTreeSet;
use std::time::Duration;

use alloy::primitives::B256;
use alloy::providers::Provider;
use alloy::rpc::types::Filter;
use alloy::sol_types::SolEvent;
use decloud_chain::contracts::Hub;

use crate::check::{ChainChecker, unix_now};
use crate::{MarketError, OrderBook};

/// Most blocks asked for in one `eth_getLogs`.
const MAX_RANGE: u64 = 2_000;

/// Runs one pass: processes blocks after the stored cursor up to the latest, then sweeps open
/// orders. Returns the new cursor.
pub async fn follow_once(book: &OrderBook, checker: &ChainChecker) -> Result<u64, MarketError> {
    let latest = checker.block_number().await?;
    let mut from = match book.cursor().await? {
        Some(done) => done + 1,
        None => checker.profile().deployment_block,
    };
    while from <= latest {
        let to = latest.min(from + MAX_RANGE - 1);
        let filter = Filter::new()
            .address(checker.profile().contracts.hub)
            .event_signature(vec![
                Hub::DealCreated::SIGNATURE_HASH,
                Hub::OrderClosed::SIGNATURE_HASH,
            ])
            .from_block(from)
            .to_block(to);
        let logs = checker
            .provider()
            .get_logs(&filter)
            .await
            .map_err(|e| MarketError::Chain(format!("reading hub events: {e}")))?;
        let mut touched = BTreeSet::<B256>::new();
        for log in &logs {
            if let Ok(deal) = log.log_decode::<Hub::DealCreated>() {
                let d = deal.inner.data;
                touched.extend([
                    d.appOrderHash,
                    d.datasetOrderHash,
                    d.workerpoolOrderHash,
                    d.deal.requestHash,
                ]);
            } else if let Ok(cancelled) = log.log_decode::<Hub::OrderClosed>() {
                touched.insert(cancelled.inner.data.orderHash);
            }
        }
        refresh(book, checker, touched).await?;
        // The cursor moves only after the range's effects are stored.
        book.set_cursor(to).await?;
        from = to + 1;
    }
    refresh(
        book,
        checker,
        book.open_hashes().await?.into_iter().collect(),
    )
    .await?;
    Ok(latest)
}

async fn refresh(
    book: &OrderBook,
    checker: &ChainChecker,
    hashes: BTreeSet<B256>,
) -> Result<(), MarketError> {
    let now = unix_now();
    for hash in hashes {
        let Some(entry) = book.get(hash).await? else {
            continue;
        };
        let on_chain = checker.on_chain(&entry, now).await?;
        // A withdrawal from the book (off-chain cancel) sticks even if the chain still allows it.
        let status = if entry.status == crate::OrderStatus::Cancelled {
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
