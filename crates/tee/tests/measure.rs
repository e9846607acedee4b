//! Appraisal time of one quote, p50/p99. Ignored: a measurement, not a test (machines are noisy).
//!
//! ```sh
//! cargo nextest run --workspace --release --run-ignored only -E 'test(measure_appraisal)' --no-capture
//! ```

use std::time::Instant;

use alloy::primitives::{Address, B256};
use decloud_tee::sim::{SimAttester, sim_runner_measurements};
use decloud_tee::{Appraiser, Attester, DcapAppraiser, Policy, ReportDataFields};

#[test]
#[ignore = "measurement: prints p50/p99 of one appraisal"]
fn measure_appraisal() {
    let fields = ReportDataFields {
        chain_id: 31337,
        task_id: B256::repeat_byte(1),
        app_checksum: B256::repeat_byte(2),
        enclave: Address::repeat_byte(3),
        hpke_public_key: [4; 32],
        nonce: [5; 32],
    };
    let rd = fields.report_data();
    let attester = SimAttester::new(31337).unwrap();
    let evidence = attester.evidence(&rd).unwrap();
    let appraiser = DcapAppraiser::sim(31337).unwrap();
    let policy = Policy::strict(sim_runner_measurements().measurement());
    let now = 1_800_000_000;
    for _ in 0..20 {
        appraiser.appraise(&evidence, &rd, &policy, now).unwrap();
    }
    let runs = 500;
    let mut micros: Vec<u128> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            appraiser.appraise(&evidence, &rd, &policy, now).unwrap();
            t.elapsed().as_micros()
        })
        .collect();
    micros.sort_unstable();
    let p = |q: f64| micros[((runs as f64 * q) as usize).min(runs - 1)] as f64 / 1000.0;
    let t = Instant::now();
    for _ in 0..100 {
        attester.evidence(&rd).unwrap();
    }
    let attest_ms = t.elapsed().as_secs_f64() * 1000.0 / 100.0;
    println!(
        "appraisal of one sim TDX quote ({} bytes), {runs} runs: p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms; sim evidence {:.3} ms",
        evidence.quote.len(),
        p(0.50),
        p(0.99),
        p(1.0),
        attest_ms
    );
}
