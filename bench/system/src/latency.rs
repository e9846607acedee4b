//! Latency: on a devnet with 1-second blocks, the time from sending `matchOrders` to the
//! `finalize` being mined, for the trivial `greeting` app, (a) one worker at trust 1, (b)
//! three agreeing replicas (trust 5, three fresh workers: weight 2 each, so exactly three
//! contributions reach the consensus), (c) the same trust-5 task with random selection (its
//! three workers drawn by a beacon round of the pool's devnet beacon, a round a second) and (d)
//! that random task spot-checked with q = 255 (audited 255 times in 256 by three more drawn
//! workers).
//!
//! The orders are signed and the requester's deposit made before the clock starts; the clock
//! starts when `matchOrders` is handed to the node (`decloud_chain::orders::match_orders`:
//! gas estimation, signing, sending) and stops when a poll of the hub's task view
//! (`hub().task(id)`, every 20 ms) says COMPLETED (status 3). The block numbers of
//! the task's events (and of the beacon rounds stored meanwhile) say which stage took how many
//! blocks.

use std::time::{Duration, Instant};

use alloy::primitives::B256;
use anyhow::{Context as _, bail};
use decloud_chain::client::Client;
use decloud_protocol::Tag;
use decloud_protocol::spot::with_spot_byte;
use decloud_testkit::Devnet;
use decloud_testkit::pool::{Pool, PoolOptions};

use crate::deal::{Requester, SignedOrders, TaskEvent, rounds_verified, task_events};
use crate::report::{self, Machine, app_module, env_or, secs, summary_line, verdict};

/// Block time of the devnet.
const BLOCK_SECS: u64 = 1;
/// How often the hub is asked whether the task is completed.
const POLL: Duration = Duration::from_millis(20);
/// Target: at most this many times the floor.
const TARGET_RATIO: f64 = 1.5;

struct Case {
    /// Its name in `BENCH_LATENCY_CASES`.
    key: &'static str,
    name: &'static str,
    short: &'static str,
    trust: u64,
    workers: usize,
    /// Random selection, with this spot-check byte (0: no spot checks); `None`: the scheduler
    /// chooses the workers.
    random: Option<u8>,
    /// Dependent transactions and waits for a beacon round, one block each.
    floor_blocks: u64,
    chain: &'static str,
}

const CASES: [Case; 4] = [
    Case {
        key: "trust1",
        name: "trust 1, one worker",
        short: "trust 1",
        trust: 1,
        workers: 1,
        random: None,
        floor_blocks: 3,
        chain: "matchOrders → contributeAndReveal → finalize",
    },
    Case {
        key: "replicas",
        name: "3 replicas (trust 5, 3 fresh workers)",
        short: "3 replicas",
        trust: 5,
        workers: 3,
        random: None,
        floor_blocks: 4,
        chain: "matchOrders → 3 × contribute → 3 × reveal → finalize",
    },
    Case {
        key: "random",
        name: "random selection (trust 5, 3 drawn of 6 workers)",
        short: "random selection",
        trust: 5,
        workers: 6,
        random: Some(0),
        floor_blocks: 6,
        chain: "matchOrders → (its round is due 2 periods after the match: 1 block) → submitHinted → 3 × contributeDrawn → 3 × reveal → finalize",
    },
    Case {
        key: "spot",
        name: "random selection, spot checks q = 255 (trust 5, 3 drawn + 3 auditors of 6 workers)",
        short: "random selection, spot-checked",
        trust: 5,
        workers: 6,
        random: Some(255),
        floor_blocks: 9,
        chain: "matchOrders → (1 block) → submitHinted → 3 × contributeDrawn (consensus) → (the audit round is due 2 periods after the consensus: 1 block) → submitHinted → 3 × contributeAudit → 3 × reveal of the audit → finalizeAudited",
    },
];

struct Sample {
    total: Duration,
    /// `matchOrders` sent and mined.
    matched: Duration,
    /// Blocks from the match's to the finalize's, both counted.
    blocks: u64,
    contributions: usize,
    timeline: String,
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

async fn measure(case: &Case, runs: usize, follow: Duration) -> anyhow::Result<Vec<Sample>> {
    let wasm = app_module("greeting")?;
    let devnet = Devnet::start_with_block_time(BLOCK_SECS)
        .await
        .context("starting the devnet (run scripts/bootstrap first)")?;
    let options = PoolOptions {
        workers: case.workers,
        follow_interval: follow,
        beacon: case.random.is_some(),
        ..PoolOptions::default()
    };
    let pool = Pool::start(&devnet, options.clone()).await?;
    let app = pool.deploy_app("greeting", &wasm).await?;
    let requester = Requester::for_pool(&pool, &options, 1_000).await?;
    let watcher = Client::connect(&pool.profile, None, None).await?;
    let mut samples = Vec::new();
    for run in 0..runs {
        // Start at an arbitrary point of the block interval.
        tokio::time::sleep(Duration::from_millis(rand_millis(1000))).await;
        let orders = sign(&requester, &pool, case, app).await?;
        let t0 = Instant::now();
        let matched = requester.matched(&orders).await?;
        let mined = t0.elapsed();
        let match_block = matched.receipt.block_number.unwrap_or_default();
        let task = decloud_protocol::task_id(matched.deal_id, 0);
        loop {
            let view = watcher
                .hub()
                .task(task)
                .call()
                .await
                .context("reading the task")?;
            match view.status {
                3 => break,
                4 => bail!("task {task} failed (claimed)"),
                _ if t0.elapsed() > Duration::from_secs(120) => {
                    bail!("task {task} not completed after 120 s")
                }
                _ => tokio::time::sleep(POLL).await,
            }
        }
        let total = t0.elapsed();
        let events = timeline_events(&watcher, case, task, match_block).await?;
        let finalize = events
            .iter()
            .find(|(e, _)| *e == TaskEvent::Finalize.letter())
            .map(|(_, b)| *b)
            .unwrap_or(match_block);
        let contributions = events
            .iter()
            .filter(|(e, _)| *e == TaskEvent::Contribute.letter())
            .count();
        let timeline = events
            .iter()
            .map(|(e, b)| format!("{e}+{}", b - match_block))
            .collect::<Vec<_>>()
            .join(" ");
        let sample = Sample {
            total,
            matched: mined,
            blocks: finalize - match_block + 1,
            contributions,
            timeline,
        };
        println!(
            "  {} run {} ({}): {} (match mined after {}), {} blocks, {} contribution(s), events: {}",
            case.short,
            run + 1,
            if run == 0 { "cold" } else { "warm" },
            secs(sample.total),
            secs(sample.matched),
            sample.blocks,
            sample.contributions,
            sample.timeline
        );
        samples.push(sample);
    }
    drop(pool);
    drop(devnet);
    Ok(samples)
}

/// Signs the case's orders; a random-selection one waits first (off the clock) for the pool's
/// registry snapshot to be current, as whoever publishes such a workerpool order does.
async fn sign(
    requester: &Requester,
    pool: &Pool,
    case: &Case,
    app: alloy::primitives::Address,
) -> anyhow::Result<SignedOrders> {
    let Some(q) = case.random else {
        return requester.sign(app, case.trust, 1, "bench");
    };
    decloud_testkit::pool::wait_current_snapshot(
        &requester.client,
        pool.workerpool,
        Duration::from_secs(60),
    )
    .await?;
    requester.sign_tagged(
        app,
        case.trust,
        1,
        "bench",
        with_spot_byte(Tag::RANDOM, q),
        with_spot_byte(Tag::RANDOM, 0xff),
    )
}

/// The task's events since `from` as (letter, block), in block order: for a random-selection
/// case also the beacon rounds stored (B) and its audit's events (lower case).
async fn timeline_events(
    watcher: &Client,
    case: &Case,
    task: B256,
    from: u64,
) -> anyhow::Result<Vec<(char, u64)>> {
    let known = |(e, b): (TaskEvent, u64)| (e != TaskEvent::Other).then_some((e.letter(), b));
    let mut events: Vec<(char, u64)> = Vec::new();
    if case.random.is_some() {
        events.extend(
            rounds_verified(watcher, from)
                .await?
                .into_iter()
                .map(|b| ('B', b)),
        );
    }
    events.extend(
        task_events(watcher, task, from)
            .await?
            .into_iter()
            .filter_map(known),
    );
    if case.random.is_some_and(|q| q > 0) {
        let audit = decloud_protocol::spot::audit_id(task);
        events.extend(
            task_events(watcher, audit, from)
                .await?
                .into_iter()
                .filter_map(known)
                .map(|(e, b)| (e.to_ascii_lowercase(), b)),
        );
    }
    // Stable: within a block, rounds first, then the task's events, then the audit's.
    events.sort_by_key(|(_, b)| *b);
    Ok(events)
}

/// Which build measured: latency is made of blocks, so a debug build gives the same figures
/// give or take the scheduler's and the workers' own CPU time.
fn build_profile() -> &'static str {
    if cfg!(debug_assertions) {
        "a debug build (`cargo bench --profile dev`)"
    } else {
        "a release build"
    }
}

/// A pseudo-random number of milliseconds below `below` (no cryptography needed).
fn rand_millis(below: u64) -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or_default();
    (nanos / 1000) % below.max(1)
}

/// Runs the latency benchmark, prints it, and rewrites its section of `bench/README.md`.
pub async fn run() -> anyhow::Result<()> {
    let machine = Machine::detect();
    let runs = env_or("BENCH_LATENCY_RUNS", 5usize).max(2);
    let follow = Duration::from_millis(env_or("BENCH_FOLLOW_MS", 200u64));
    println!(
        "latency: {runs} runs per case, 1-second blocks, scheduler reads the chain every {} ms",
        follow.as_millis()
    );
    let mut table = String::from(
        "| case | dependent transactions | floor | cold (1st run) | warm median | warm min – max | warm median / floor | blocks used (warm median) | target | status |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|---|\n",
    );
    print!("{table}");
    let mut details = String::new();
    let mut summaries = Vec::new();
    let chosen = std::env::var("BENCH_LATENCY_CASES").unwrap_or_default();
    let wanted = |key: &str| chosen.is_empty() || chosen.split(',').any(|c| c.trim() == key);
    for case in CASES.iter().filter(|c| wanted(c.key)) {
        let samples = measure(case, runs, follow).await?;
        let floor = Duration::from_secs(case.floor_blocks * BLOCK_SECS);
        let cold = &samples[0];
        let warm: Vec<Duration> = samples[1..].iter().map(|s| s.total).collect();
        let warm_median = median(warm.clone());
        let (lo, hi) = (
            warm.iter().min().copied().unwrap_or_default(),
            warm.iter().max().copied().unwrap_or_default(),
        );
        let mut blocks: Vec<u64> = samples[1..].iter().map(|s| s.blocks).collect();
        blocks.sort();
        let ratio = warm_median.as_secs_f64() / floor.as_secs_f64();
        let met = ratio <= TARGET_RATIO;
        let target = format!(
            "≤ {TARGET_RATIO}× floor ({})",
            secs(floor.mul_f64(TARGET_RATIO))
        );
        let row = format!(
            "| {} | {} ({} blocks) | {} | {} ({:.2}×) | {} | {} – {} | {ratio:.2}× | {} | {target} | {} |\n",
            case.name,
            case.chain,
            case.floor_blocks,
            secs(floor),
            secs(cold.total),
            cold.total.as_secs_f64() / floor.as_secs_f64(),
            secs(warm_median),
            secs(lo),
            secs(hi),
            blocks[blocks.len() / 2],
            verdict(met),
        );
        // The console shows the report's row as soon as it is measured.
        print!("{row}");
        table.push_str(&row);
        details.push_str(&format!("- {}:", case.name));
        for (i, s) in samples.iter().enumerate() {
            details.push_str(&format!(
                " run {} {} [{}]{}",
                i + 1,
                secs(s.total),
                s.timeline,
                if i + 1 < samples.len() { ";" } else { "" }
            ));
        }
        details.push('\n');
        summaries.push(summary_line(
            &format!("Latency, {} (warm median, 1-s blocks)", case.short),
            &format!("{} = {ratio:.2}× floor", secs(warm_median)),
            &format!("≤ {TARGET_RATIO}× floor"),
            verdict(met),
        ));
    }
    let body = format!(
        "Measured on {}, {}; {runs} runs per case (the first is cold: the worker downloads and compiles the module), \
         scheduler chain poll every {} ms, finalize detected by polling the hub's task status every {} ms.\n\n\
         {table}\n\
         Each run's task events, as block offsets from the `matchOrders` block \
         (I initialize, C contribute, K consensus, R reveal, F finalize; B a beacon round stored, \
         V the spot check's verdict, lower case the audit's own contribute, consensus and reveal):\n\n{details}\n{}\n",
        machine.line(),
        build_profile(),
        follow.as_millis(),
        POLL.as_millis(),
        summaries.join("\n")
    );
    report::write_section("latency", &body)
}
