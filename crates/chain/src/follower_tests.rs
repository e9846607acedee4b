//! Tests of `follower.rs`.
use std::sync::Mutex;

use alloy::primitives::{Address, LogData};

use super::*;

/// A chain in memory: block `n`'s hash is made of `n` and the chain's `fork` byte from
/// `fork_at` on, and every block has one log.
struct FakeChain {
    state: Mutex<FakeState>,
}

struct FakeState {
    head: u64,
    fork_at: u64,
    fork: u8,
    /// Block ranges asked for in `eth_getLogs`.
    requests: Vec<(u64, u64)>,
}

impl FakeChain {
    fn new(head: u64) -> Self {
        Self {
            state: Mutex::new(FakeState {
                head,
                fork_at: u64::MAX,
                fork: 0,
                requests: Vec::new(),
            }),
        }
    }

    /// Replaces blocks `at..` with other ones, up to `head`.
    fn reorg(&self, at: u64, head: u64) {
        let mut s = self.state.lock().unwrap();
        s.fork_at = at;
        s.fork += 1;
        s.head = head;
    }

    fn requests(&self) -> Vec<(u64, u64)> {
        std::mem::take(&mut self.state.lock().unwrap().requests)
    }

    fn hash(s: &FakeState, n: u64) -> B256 {
        let mut bytes = [0u8; 32];
        bytes[..8].copy_from_slice(&n.to_be_bytes());
        if n >= s.fork_at {
            bytes[31] = s.fork;
        }
        B256::from(bytes)
    }
}

impl BlockSource for FakeChain {
    async fn head(&self) -> Result<u64, FollowerError> {
        Ok(self.state.lock().unwrap().head)
    }

    async fn block(&self, number: u64) -> Result<Option<BlockRef>, FollowerError> {
        let s = self.state.lock().unwrap();
        Ok((number <= s.head).then(|| BlockRef {
            number,
            hash: Self::hash(&s, number),
            parent_hash: if number == 0 {
                B256::ZERO
            } else {
                Self::hash(&s, number - 1)
            },
        }))
    }

    async fn logs(&self, filter: &Filter) -> Result<Vec<Log>, FollowerError> {
        let mut s = self.state.lock().unwrap();
        let from = filter.get_from_block().unwrap();
        let to = filter.get_to_block().unwrap().min(s.head);
        s.requests.push((from, to));
        // Newest first, to check the follower orders them.
        Ok((from..=to)
            .rev()
            .map(|n| Log {
                inner: alloy::primitives::Log {
                    address: Address::ZERO,
                    data: LogData::new_unchecked(vec![], Default::default()),
                },
                block_hash: Some(Self::hash(&s, n)),
                block_number: Some(n),
                block_timestamp: None,
                transaction_hash: Some(B256::repeat_byte(1)),
                transaction_index: Some(0),
                log_index: Some(n),
                removed: false,
            })
            .collect())
    }
}

fn options(max_range: u64, reorg_depth: u64) -> FollowerOptions {
    FollowerOptions {
        max_range,
        confirmations: 0,
        reorg_depth,
    }
}

/// A follower of a fake chain whose head is block `head`.
fn follower(head: u64, options: FollowerOptions) -> Follower<FakeChain> {
    Follower::new(FakeChain::new(head), Filter::new(), options).unwrap()
}

/// A follower of a fake chain up to `head` (in chunks of 2 000 blocks, keeping the hashes of
/// the last `reorg_depth`) and its cursor, once it has read the whole chain from block 0.
async fn caught_up(head: u64, reorg_depth: u64) -> (Follower<FakeChain>, Cursor) {
    let follower = follower(head, options(2_000, reorg_depth));
    let mut cursor = Cursor::start_at(0);
    drain(&follower, &mut cursor).await;
    (follower, cursor)
}

/// Polls until idle; returns the rewinds and the blocks of the logs read.
async fn drain(follower: &Follower<FakeChain>, cursor: &mut Cursor) -> (Vec<Rewind>, Vec<u64>) {
    let mut rewinds = Vec::new();
    let mut blocks = Vec::new();
    loop {
        match follower.poll(cursor).await.unwrap() {
            Step::Rewind(r) => {
                *cursor = r.cursor.clone();
                rewinds.push(r);
            }
            Step::Batch(b) => {
                blocks.extend(b.logs.iter().map(|l| l.block_number.unwrap()));
                *cursor = b.cursor;
            }
            Step::Idle => return (rewinds, blocks),
        }
    }
}

#[tokio::test]
async fn a_long_range_is_read_in_chunks_of_max_range_in_order() {
    let follower = follower(4_999, options(2_000, 64));
    let mut cursor = Cursor::start_at(10);
    let (rewinds, blocks) = drain(&follower, &mut cursor).await;
    assert!(rewinds.is_empty());
    assert_eq!(blocks, (10..=4_999).collect::<Vec<_>>());
    assert_eq!(
        follower.source().requests(),
        vec![(10, 2_009), (2_010, 4_009), (4_010, 4_999)]
    );
    assert_eq!(cursor.next_block(), 5_000);
    // Only the blocks a reorg may still take keep their hashes.
    assert_eq!(cursor.recent().count(), 64);
    assert_eq!(cursor.recent().next().unwrap().0, 4_936);
}

#[tokio::test]
async fn confirmations_hold_back_the_last_blocks() {
    let follower = follower(
        100,
        FollowerOptions {
            confirmations: 5,
            ..options(2_000, 64)
        },
    );
    let mut cursor = Cursor::start_at(0);
    let (_, blocks) = drain(&follower, &mut cursor).await;
    assert_eq!(blocks.last(), Some(&95));
    assert_eq!(cursor.next_block(), 96);
}

#[tokio::test]
async fn a_reorg_is_undone_from_the_common_ancestor() {
    let (follower, mut cursor) = caught_up(100, 64).await;
    follower.source().requests();
    // Blocks 95.. are replaced, and the chain grows to 102.
    follower.source().reorg(95, 102);
    let (rewinds, blocks) = drain(&follower, &mut cursor).await;
    assert_eq!(rewinds.len(), 1);
    assert_eq!(rewinds[0].orphaned_from, 95);
    assert!(rewinds[0].ancestor_found);
    assert_eq!(blocks, (95..=102).collect::<Vec<_>>());
    assert_eq!(follower.source().requests(), vec![(95, 102)]);
    // The new hashes are kept: nothing more to undo.
    let (rewinds, blocks) = drain(&follower, &mut cursor).await;
    assert!(rewinds.is_empty() && blocks.is_empty());
}

#[tokio::test]
async fn a_shorter_chain_is_a_reorg_too() {
    let (follower, mut cursor) = caught_up(100, 64).await;
    follower.source().reorg(99, 99);
    let (rewinds, blocks) = drain(&follower, &mut cursor).await;
    assert_eq!(rewinds[0].orphaned_from, 99);
    assert_eq!(blocks, vec![99]);
}

#[tokio::test]
async fn a_reorg_deeper_than_the_hashes_kept_rereads_the_reorg_depth() {
    let (follower, mut cursor) = caught_up(100, 8).await;
    follower.source().reorg(50, 100);
    let (rewinds, _) = drain(&follower, &mut cursor).await;
    assert!(!rewinds[0].ancestor_found);
    assert_eq!(rewinds[0].orphaned_from, 93);
    // A service that stores one hash gets the same treatment.
    let mut resumed = Cursor::resume(0, 100, B256::repeat_byte(7));
    let (rewinds, _) = drain(&follower, &mut resumed).await;
    assert_eq!(rewinds[0].orphaned_from, 93);
    // Never below the start.
    let mut young = Cursor::resume(97, 100, B256::repeat_byte(7));
    let (rewinds, _) = drain(&follower, &mut young).await;
    assert_eq!(rewinds[0].orphaned_from, 97);
}

#[tokio::test]
async fn the_cursor_survives_serialization() {
    let (_, cursor) = caught_up(30, 4).await;
    let text = serde_json::to_string(&cursor).unwrap();
    let back: Cursor = serde_json::from_str(&text).unwrap();
    assert_eq!(back, cursor);
    assert_eq!(back.last().unwrap().0, 30);
}

#[tokio::test]
async fn chunked_reads_and_bad_options() {
    let chain = FakeChain::new(10);
    let logs = get_logs_chunked(&chain, &Filter::new(), 0, None, 3)
        .await
        .unwrap();
    assert_eq!(logs.len(), 11);
    assert!(
        logs.windows(2)
            .all(|w| w[0].block_number < w[1].block_number)
    );
    assert_eq!(chain.requests(), vec![(0, 2), (3, 5), (6, 8), (9, 10)]);
    assert!(matches!(
        get_logs_chunked(&chain, &Filter::new(), 0, None, 0).await,
        Err(FollowerError::BadOptions { .. })
    ));
    assert!(Follower::new(chain, Filter::new(), options(2_000, 0)).is_err());
}
