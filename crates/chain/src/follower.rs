//! The one chain-log follower every service uses (the market, the scheduler, the CLI's event
//! reads): it reads the logs a caller's filter selects, block range after block range, notices
//! when the chain reorganized under what was already read, and says how far back to undo.
//!
//! The follower only talks to the chain. Where it stands is a [`Cursor`] (the next block to
//! read and the hashes of the last blocks read), which the caller stores in its own database
//! together with the effects of each [`Batch`], so a restart resumes exactly there.
//!
//! ```no_run
//! # async fn f(provider: alloy::providers::DynProvider, hub: alloy::primitives::Address) -> Result<(), decloud_chain::follower::FollowerError> {
//! use decloud_chain::follower::{Cursor, Follower, FollowerOptions, Step};
//! let follower = Follower::new(provider, alloy::rpc::types::Filter::new().address(hub), FollowerOptions::default())?;
//! let mut cursor = Cursor::start_at(0);
//! loop {
//!     match follower.poll(&cursor).await? {
//!         Step::Rewind(rewind) => cursor = rewind.cursor, // undo what blocks >= rewind.orphaned_from did
//!         Step::Batch(batch) => cursor = batch.cursor,    // apply batch.logs, store the cursor
//!         Step::Idle => break,
//!     }
//! }
//! # Ok(()) }
//! ```

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use alloy::eips::BlockNumberOrTag;
use alloy::primitives::B256;
use alloy::providers::{DynProvider, Provider};
use alloy::rpc::types::{Filter, Log};
use alloy::transports::TransportError;
use serde::{Deserialize, Serialize};

/// Most blocks asked for in one `eth_getLogs` by default: public RPC providers refuse ranges
/// over a few thousand blocks.
pub const DEFAULT_MAX_RANGE: u64 = 2_000;

/// How many recent block hashes a cursor keeps by default (the deepest reorg undone exactly).
pub const DEFAULT_REORG_DEPTH: u64 = 64;

/// Everything that can go wrong following the chain. Each message says what to do next.
#[derive(Debug, thiserror::Error)]
pub enum FollowerError {
    /// The RPC endpoint failed or refused a request.
    #[error(
        "{what} failed: {source}; check that the RPC endpoint is up, the next poll retries from the same cursor"
    )]
    Rpc {
        /// What was being read.
        what: String,
        /// The endpoint's error.
        #[source]
        source: TransportError,
    },
    /// The endpoint refused an `eth_getLogs` (most often: too many blocks or logs at once).
    #[error(
        "the RPC endpoint refused the logs of blocks {from}..={to}: {source}; if it limits the range of eth_getLogs, lower max_range"
    )]
    Logs {
        /// First block asked for.
        from: u64,
        /// Last block asked for.
        to: u64,
        /// The endpoint's error.
        #[source]
        source: TransportError,
    },
    /// The options cannot work.
    #[error("invalid follower options: {reason}")]
    BadOptions {
        /// Which option and why.
        reason: String,
    },
}

/// How the follower reads the chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FollowerOptions {
    /// Most blocks asked for in one `eth_getLogs` (at least 1).
    pub max_range: u64,
    /// Blocks below the head that are not read yet (0 on a devnet; more on a chain that
    /// reorganizes, so that most reorgs happen before the follower reads the blocks).
    pub confirmations: u64,
    /// How many recent block hashes the cursor keeps (at least 1): a reorg this deep or less
    /// is undone from the exact common ancestor; a deeper one re-reads this many blocks.
    pub reorg_depth: u64,
}

impl Default for FollowerOptions {
    fn default() -> Self {
        Self {
            max_range: DEFAULT_MAX_RANGE,
            confirmations: 0,
            reorg_depth: DEFAULT_REORG_DEPTH,
        }
    }
}

/// Where a follower stands: every block before [`Cursor::next_block`] was read, and the hashes
/// of the last of them are kept to notice a reorg. Serializable, so that a service stores it
/// in its database with the effects of the logs read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// The first block that may ever be read: a rewind never goes below it.
    start: u64,
    /// The next block to read.
    next: u64,
    /// Hashes of the blocks just before `next`, oldest first (the last is block `next - 1`).
    recent: VecDeque<B256>,
}

impl Cursor {
    /// A cursor that has read nothing yet and starts at `block` (e.g. the deployment block).
    pub fn start_at(block: u64) -> Self {
        Self {
            start: block,
            next: block,
            recent: VecDeque::new(),
        }
    }

    /// A cursor resumed from a service that stored only its last block read and that block's
    /// hash: a reorg is still noticed, and undone by reading the last
    /// [`FollowerOptions::reorg_depth`] blocks again (from `start` at the earliest).
    pub fn resume(start: u64, last: u64, hash: B256) -> Self {
        Self {
            start: start.min(last + 1),
            next: last + 1,
            recent: VecDeque::from([hash]),
        }
    }

    /// The next block to read.
    pub fn next_block(&self) -> u64 {
        self.next
    }

    /// The last block read and its hash, when the cursor knows it.
    pub fn last(&self) -> Option<(u64, B256)> {
        self.recent
            .back()
            .map(|h| (self.next.saturating_sub(1), *h))
    }

    /// The recent blocks read and their hashes, oldest first.
    pub fn recent(&self) -> impl DoubleEndedIterator<Item = (u64, B256)> + '_ {
        let first = self.next.saturating_sub(self.recent.len() as u64);
        self.recent
            .iter()
            .enumerate()
            .map(move |(i, h)| (first + i as u64, *h))
    }

    /// Moves back so that `block` is the next one read; the hashes of the blocks dropped go.
    fn rewind_to(&mut self, block: u64) {
        let block = block.max(self.start).min(self.next);
        let dropped = self.next - block;
        let keep = (self.recent.len() as u64).saturating_sub(dropped) as usize;
        self.recent.truncate(keep);
        self.next = block;
    }

    /// Records blocks `from..` (with these hashes, in order) as read; only the last `depth`
    /// hashes are kept.
    fn advance(&mut self, from: u64, hashes: &[B256], to: u64, depth: u64) {
        if from != self.next {
            // Blocks in between were read without keeping their hashes: the kept ones would
            // no longer be contiguous.
            self.recent.clear();
        }
        self.recent.extend(hashes.iter().copied());
        self.next = to + 1;
        while self.recent.len() as u64 > depth {
            self.recent.pop_front();
        }
    }
}

/// A block as the follower needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockRef {
    /// Its number.
    pub number: u64,
    /// Its hash.
    pub hash: B256,
    /// Its parent's hash.
    pub parent_hash: B256,
}

/// What the follower reads from: an RPC provider, or a fake chain in tests.
pub trait BlockSource {
    /// The number of the latest block.
    fn head(&self) -> impl Future<Output = Result<u64, FollowerError>> + Send;
    /// Block `number`, or `None` if the chain has no such block (yet, or any more).
    fn block(
        &self,
        number: u64,
    ) -> impl Future<Output = Result<Option<BlockRef>, FollowerError>> + Send;
    /// The logs `filter` selects (its block range is set).
    fn logs(&self, filter: &Filter)
    -> impl Future<Output = Result<Vec<Log>, FollowerError>> + Send;
}

impl BlockSource for DynProvider {
    async fn head(&self) -> Result<u64, FollowerError> {
        self.get_block_number()
            .await
            .map_err(|source| FollowerError::Rpc {
                what: "reading the latest block number".into(),
                source,
            })
    }

    async fn block(&self, number: u64) -> Result<Option<BlockRef>, FollowerError> {
        let block = self
            .get_block_by_number(BlockNumberOrTag::Number(number))
            .await
            .map_err(|source| FollowerError::Rpc {
                what: format!("reading block {number}"),
                source,
            })?;
        Ok(block.map(|b| BlockRef {
            number: b.header.number,
            hash: b.header.hash,
            parent_hash: b.header.parent_hash,
        }))
    }

    async fn logs(&self, filter: &Filter) -> Result<Vec<Log>, FollowerError> {
        self.get_logs(filter)
            .await
            .map_err(|source| FollowerError::Logs {
                from: filter.get_from_block().unwrap_or_default(),
                to: filter.get_to_block().unwrap_or_default(),
                source,
            })
    }
}

/// The chain no longer has blocks the cursor read: the caller undoes what it derived from
/// blocks `orphaned_from` and later, then continues from `cursor`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rewind {
    /// The first block whose logs are no longer on the chain (or may not be).
    pub orphaned_from: u64,
    /// Whether the common ancestor was found (otherwise the reorg is deeper than the hashes
    /// kept, and the last [`FollowerOptions::reorg_depth`] blocks are read again).
    pub ancestor_found: bool,
    /// The cursor to continue from (and store).
    pub cursor: Cursor,
}

/// The logs of a block range, in chain order.
#[derive(Clone, Debug)]
pub struct Batch {
    /// First block of the range.
    pub from: u64,
    /// Last block of the range.
    pub to: u64,
    /// The logs the filter selects, ordered by block and log index; each carries its block
    /// number and hash, transaction hash and log index.
    pub logs: Vec<Log>,
    /// The cursor once these logs are applied: store it with their effects.
    pub cursor: Cursor,
}

/// What one [`Follower::poll`] found.
#[derive(Clone, Debug)]
pub enum Step {
    /// A reorg: undo, then poll again.
    Rewind(Rewind),
    /// New logs: apply them, store the batch's cursor, then poll again.
    Batch(Batch),
    /// Nothing more to read now (caught up, or the chain changed while reading: the next poll
    /// sees it).
    Idle,
}

/// Follows the logs one filter selects.
#[derive(Clone, Debug)]
pub struct Follower<S = DynProvider> {
    source: S,
    filter: Filter,
    options: FollowerOptions,
    /// Most blocks per `eth_getLogs`: `max_range`, lowered to what the endpoint accepts when it
    /// refuses a range as too wide.
    range: Arc<AtomicU64>,
}

impl FollowerError {
    /// When the endpoint refused a log query of `requested` blocks as too wide: the range to
    /// try instead (what it said it serves, else half).
    pub fn smaller_range(&self, requested: u64) -> Option<u64> {
        match self {
            FollowerError::Logs { source, .. } => {
                let message = match source {
                    alloy::transports::RpcError::ErrorResp(payload) => payload.message.to_string(),
                    other => other.to_string(),
                };
                crate::rpc::smaller_range(&message, requested)
            }
            _ => None,
        }
    }
}

/// The logs of blocks `from..=to`, or of a shorter range starting at `from` when the endpoint
/// refuses `to - from + 1` blocks (`range` then holds the lower cap); returns the last block read.
async fn logs_within_cap<S: BlockSource>(
    source: &S,
    filter: &Filter,
    from: u64,
    mut to: u64,
    range: &AtomicU64,
) -> Result<(Vec<Log>, u64), FollowerError> {
    loop {
        match source
            .logs(&filter.clone().from_block(from).to_block(to))
            .await
        {
            Ok(logs) => return Ok((logs, to)),
            Err(e) => {
                let requested = to - from + 1;
                let Some(smaller) = e.smaller_range(requested) else {
                    return Err(e);
                };
                tracing::info!(
                    requested,
                    smaller,
                    "the RPC endpoint caps the block range of eth_getLogs: asking for fewer blocks"
                );
                range.fetch_min(smaller, Ordering::Relaxed);
                to = from + smaller - 1;
            }
        }
    }
}

impl<S: BlockSource> Follower<S> {
    /// A follower of the logs `filter` selects (addresses and topics; its block range is
    /// ignored).
    pub fn new(source: S, filter: Filter, options: FollowerOptions) -> Result<Self, FollowerError> {
        if options.max_range == 0 {
            return Err(FollowerError::BadOptions {
                reason: "max_range is 0: at least one block must be read per request".into(),
            });
        }
        if options.reorg_depth == 0 {
            return Err(FollowerError::BadOptions {
                reason: "reorg_depth is 0: at least the last block's hash must be kept".into(),
            });
        }
        Ok(Self {
            source,
            filter,
            options,
            range: Arc::new(AtomicU64::new(options.max_range)),
        })
    }

    /// Most blocks it asks for at once now (below `max_range` once the endpoint refused more).
    pub fn range(&self) -> u64 {
        self.range.load(Ordering::Relaxed)
    }

    /// What the follower reads from.
    pub fn source(&self) -> &S {
        &self.source
    }

    /// The options it runs with.
    pub fn options(&self) -> FollowerOptions {
        self.options
    }

    /// One step: a rewind if the chain changed under `cursor`, else the next batch of logs.
    pub async fn poll(&self, cursor: &Cursor) -> Result<Step, FollowerError> {
        if let Some(rewind) = self.check_reorg(cursor).await? {
            return Ok(Step::Rewind(rewind));
        }
        Ok(match self.next_batch(cursor).await? {
            Some(batch) => Step::Batch(batch),
            None => Step::Idle,
        })
    }

    /// Compares the cursor's block hashes with the chain's, newest first, down to the common
    /// ancestor.
    pub async fn check_reorg(&self, cursor: &Cursor) -> Result<Option<Rewind>, FollowerError> {
        let Some((last, _)) = cursor.last() else {
            return Ok(None);
        };
        for (number, stored) in cursor.recent().rev() {
            let now = self.source.block(number).await?.map(|b| b.hash);
            if now == Some(stored) {
                if number == last {
                    return Ok(None);
                }
                let mut rewound = cursor.clone();
                rewound.rewind_to(number + 1);
                tracing::warn!(
                    ancestor = number,
                    last,
                    "the chain reorganized: undoing the blocks after the common ancestor"
                );
                return Ok(Some(Rewind {
                    orphaned_from: number + 1,
                    ancestor_found: true,
                    cursor: rewound,
                }));
            }
        }
        let mut rewound = cursor.clone();
        rewound.rewind_to(cursor.next.saturating_sub(self.options.reorg_depth));
        tracing::warn!(
            last,
            from = rewound.next,
            kept = cursor.recent.len(),
            "the chain reorganized deeper than the block hashes kept: reading the last blocks again"
        );
        Ok(Some(Rewind {
            orphaned_from: rewound.next,
            ancestor_found: false,
            cursor: rewound,
        }))
    }

    /// The logs of the next range after `cursor` (at most `max_range` blocks, up to the head
    /// minus `confirmations`), or `None` when there is nothing to read now.
    pub async fn next_batch(&self, cursor: &Cursor) -> Result<Option<Batch>, FollowerError> {
        let head = self.source.head().await?;
        let safe = head.saturating_sub(self.options.confirmations);
        let from = cursor.next;
        if from > safe {
            return Ok(None);
        }
        let to = safe.min(from.saturating_add(self.range().max(1) - 1));
        let (logs, to) = logs_within_cap(&self.source, &self.filter, from, to, &self.range).await?;
        // Hashes are kept only of blocks a reorg may still take away (the last `reorg_depth`
        // ones), and always of the range's last block.
        let depth = self.options.reorg_depth;
        let keep_from = from
            .max(to.saturating_sub(depth - 1))
            .max(head.saturating_sub(depth - 1))
            .min(to);
        // Asked all at once: read one after the other, a pass over a dozen blocks waited a
        // dozen round trips, and a scheduler frees a worker's slot only once its pass applied
        // the contribution.
        let read =
            futures::future::try_join_all((keep_from..=to).map(|number| self.source.block(number)))
                .await?;
        let Some(blocks) = read.into_iter().collect::<Option<Vec<BlockRef>>>() else {
            tracing::debug!(
                from = keep_from,
                to,
                "the node is behind its own head: reading again later"
            );
            return Ok(None);
        };
        if !linked(cursor, from, keep_from, &blocks) || !consistent(&logs, &blocks) {
            tracing::warn!(
                from,
                to,
                "the chain changed while reading: reading the range again next poll"
            );
            return Ok(None);
        }
        let mut logs: Vec<Log> = logs.into_iter().filter(|l| !l.removed).collect();
        logs.sort_by_key(|l| (l.block_number, l.log_index));
        let hashes: Vec<B256> = blocks.iter().map(|b| b.hash).collect();
        let mut next = cursor.clone();
        next.advance(keep_from, &hashes, to, depth);
        Ok(Some(Batch {
            from,
            to,
            logs,
            cursor: next,
        }))
    }
}

/// Whether the blocks read form one chain, continuing the cursor's last block when they start
/// right after it.
fn linked(cursor: &Cursor, from: u64, keep_from: u64, blocks: &[BlockRef]) -> bool {
    let chained = blocks
        .windows(2)
        .all(|w| w[1].parent_hash == w[0].hash && w[1].number == w[0].number + 1);
    let continues = match (cursor.last(), blocks.first()) {
        (Some((_, last_hash)), Some(first)) if keep_from == from => first.parent_hash == last_hash,
        _ => true,
    };
    chained && continues
}

/// Whether every log of a block whose hash was read comes from that very block.
fn consistent(logs: &[Log], blocks: &[BlockRef]) -> bool {
    let Some(first) = blocks.first() else {
        return true;
    };
    logs.iter().all(|log| {
        let Some(number) = log.block_number else {
            return true;
        };
        match number.checked_sub(first.number) {
            Some(i) => blocks
                .get(i as usize)
                .is_none_or(|b| log.block_hash.is_none_or(|h| h == b.hash)),
            None => true,
        }
    })
}

/// The logs `filter` selects in blocks `from..=to` (to the head when `to` is `None`), read in
/// requests of at most `max_range` blocks (fewer when the endpoint refuses as many), in chain
/// order: for one-off reads (the CLI's),
/// where a single unbounded `eth_getLogs` would be refused by public RPC providers.
pub async fn get_logs_chunked<S: BlockSource>(
    source: &S,
    filter: &Filter,
    from: u64,
    to: Option<u64>,
    max_range: u64,
) -> Result<Vec<Log>, FollowerError> {
    if max_range == 0 {
        return Err(FollowerError::BadOptions {
            reason: "max_range is 0: at least one block must be read per request".into(),
        });
    }
    let to = match to {
        Some(to) => to,
        None => source.head().await?,
    };
    let mut logs = Vec::new();
    let mut start = from;
    let range = AtomicU64::new(max_range);
    while start <= to {
        let end = to.min(start.saturating_add(range.load(Ordering::Relaxed) - 1));
        let (chunk, end) = logs_within_cap(source, filter, start, end, &range).await?;
        logs.extend(chunk.into_iter().filter(|l| !l.removed));
        if end == u64::MAX {
            break;
        }
        start = end + 1;
    }
    logs.sort_by_key(|l| (l.block_number, l.log_index));
    Ok(logs)
}

#[cfg(test)]
#[path = "follower_tests.rs"]
mod tests;
