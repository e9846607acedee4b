//! The appraisal benchmark: how long a key holder takes to appraise one enclave's evidence (a
//! TDX v4 quote from the `sim` backend, verified by the same DCAP code as a real one: the PCK
//! chain and CRLs up to the pinned root, the TCB info and QE identity signatures, the QE report,
//! the quote signature, the TCB level, then decloud's policy), one quote at a time, on one core.
//!
//! `cargo bench -p decloud-bench-tee`. Target: p99 ≤ 5 ms on 2 cores. `BENCH_APPRAISALS`
//! (default 2000) sets the number of quotes; each is a fresh one (its own nonce), as in a
//! release, and the first 50 warm up.

use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use alloy::primitives::{Address, B256};
use decloud_tee::sim::{SimAttester, sim_runner_measurements};
use decloud_tee::{Appraiser, Attester, DcapAppraiser, Policy, ReportDataFields};

const DEVNET: u64 = 31337;
const WARMUP: usize = 50;

fn fields(i: u64) -> ReportDataFields {
    let mut nonce = [0u8; 32];
    nonce[..8].copy_from_slice(&i.to_be_bytes());
    ReportDataFields {
        chain_id: DEVNET,
        task_id: B256::repeat_byte(0xaa),
        app_checksum: B256::repeat_byte(0xbb),
        enclave: Address::repeat_byte(0xcc),
        hpke_public_key: [0xdd; 32],
        nonce,
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let n: usize = std::env::var("BENCH_APPRAISALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000)
        .max(1);
    let attester = SimAttester::new(DEVNET).expect("the committed sim platform loads");
    let appraiser = DcapAppraiser::sim(DEVNET).expect("the sim appraiser builds");
    let policy = Policy::strict(sim_runner_measurements().measurement());
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_secs();
    // The quotes are made first: only the appraisal is timed.
    let quotes: Vec<_> = (0..(n + WARMUP) as u64)
        .map(|i| {
            let rd = fields(i).report_data();
            (attester.evidence(&rd).expect("sim evidence"), rd)
        })
        .collect();
    let mut times = Vec::with_capacity(n);
    for (i, (evidence, rd)) in quotes.iter().enumerate() {
        let started = Instant::now();
        let appraisal = appraiser
            .appraise(black_box(evidence), rd, &policy, now)
            .expect("a sim quote appraises");
        let took = started.elapsed();
        black_box(appraisal);
        if i >= WARMUP {
            times.push(took);
        }
    }
    times.sort();
    let mean = times.iter().sum::<Duration>() / times.len() as u32;
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "appraisal of one quote (sim TDX v4, DCAP under the test root), {n} quotes, {cores} cores: p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms, mean {:.3} ms (target p99 ≤ 5 ms)",
        ms(percentile(&times, 0.50)),
        ms(percentile(&times, 0.99)),
        ms(times[times.len() - 1]),
        ms(mean),
    );
}
