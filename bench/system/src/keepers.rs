//! A TEE task's release round trip: one SMS node against five keepers with a 3-of-5 secret.
//!
//! Two pools, each on its own devnet, run in this process with their services on loopback
//! (TLS): one with a single SMS node (k = 1), one with five keeper nodes holding a requester
//! secret split 3-of-5 (k = 3). Their deals alternate, `BENCH_KEEPERS_ROUNDS` rounds of
//! `BENCH_KEEPERS_TASKS` TEE tasks each (one at a time: a pool has one TEE worker with one
//! slot), so that both see the same load as it drifts on a shared machine; a warm-up deal per
//! pool comes first (the app's compilation, connections, the app's code read once).
//!
//! What is measured is what the worker logs: the time from its first challenge to the secrets
//! opened and, from keepers, rebuilt (`us` of its `TEE task: secrets released` line); and, to
//! say where it went, the parts of each ask (`TEE task: key holder answered`) and the stages
//! inside each key holder (the `laps=` of its `released` line). The services log at `info`
//! (and the worker's asks at `debug`), as a node would, not at the tests' `debug`.
//!
//! Everything but anvil runs in this process, so the `cpu_us` of the worker's line is the CPU
//! the whole release took (worker and key holders); with the background's share taken off, it
//! gives the best ratio this machine allows: k asks at once cannot take less wall time than
//! their CPU over the cores.

use std::time::Duration;

use anyhow::{Context as _, bail};
use decloud_protocol::tee::SecretKind;
use decloud_sms::SmsClient;
use decloud_sms::client::push_to_keepers;
use decloud_tee::TeeKind;
use decloud_testkit::pool::{DealRequest, Pool, PoolOptions, REQUESTER};
use decloud_testkit::{Devnet, fixtures, logs};

use crate::report::{self, Machine, Stats, env_or, ms, summary_line, verdict};

/// Keepers in the group, and how many rebuild the secret.
const KEEPERS: usize = 5;
const THRESHOLD: usize = 3;
/// Targets of the keepers' issue.
const TARGET_P99: Duration = Duration::from_millis(250);
const TARGET_RATIO: f64 = 1.5;

/// One side of the comparison: a devnet, its pool and its TEE app.
struct Side {
    _devnet: Devnet,
    pool: Pool,
    app: alloy::primitives::Address,
    k: usize,
    rounds: Vec<u64>,
    /// Per release, the µs until the answers were in and the shares rebuilt (`asked_us`).
    asked: Vec<u64>,
    /// Per release, the µs spent rebuilding the shares (`rebuild_us`).
    rebuilt: Vec<u64>,
    /// Per release, the µs of CPU the whole process used during it (`cpu_us`), with the
    /// background's share of its wall time taken off.
    cpu: Vec<u64>,
    asks: Vec<String>,
    stages: Vec<String>,
}

impl Side {
    async fn start(keepers: usize) -> anyhow::Result<Self> {
        let devnet = Devnet::start().await?;
        let pool = Pool::start(
            &devnet,
            PoolOptions {
                tee: Some(TeeKind::Sim),
                keepers,
                ..PoolOptions::default()
            },
        )
        .await?;
        let requester = devnet.signer(REQUESTER);
        let secret = b"a measured secret";
        let k = if keepers == 0 {
            let url = pool.sms_url().context("the pool has no SMS")?;
            SmsClient::new(&url)?
                .push_requester_secret(&requester, "api-token", secret, unix_now())
                .await?;
            1
        } else {
            let clients = pool
                .keeper_urls()
                .iter()
                .map(|u| SmsClient::new(u))
                .collect::<Result<Vec<_>, _>>()?;
            push_to_keepers(
                &clients,
                THRESHOLD,
                &requester,
                SecretKind::RequesterSecret,
                requester.address(),
                "api-token",
                secret,
                unix_now(),
            )
            .await?;
            THRESHOLD
        };
        let module = fixtures::example_app("secret-digest")?;
        let app = pool.deploy_tee_app("secret-digest", &module).await?;
        Ok(Self {
            _devnet: devnet,
            pool,
            app,
            k,
            rounds: Vec::new(),
            asked: Vec::new(),
            rebuilt: Vec::new(),
            cpu: Vec::new(),
            asks: Vec::new(),
            stages: Vec::new(),
        })
    }

    /// Runs a deal of `tasks` TEE tasks to completion; returns the log lines it produced.
    async fn deal(&self, logs: &logs::Logs, tasks: u64) -> anyhow::Result<String> {
        let before = logs.bytes().len();
        let deal = self
            .pool
            .deal(
                &DealRequest::new(self.app)
                    .attestations(self.k)
                    .args("api-token")
                    .secret("api-token")
                    .volume(tasks),
            )
            .await?;
        self.pool
            .wait_completed(&deal.task_ids(), Duration::from_secs(600))
            .await?;
        Ok(logs::plain(&logs.bytes()[before..]))
    }

    /// Keeps the figures of one round's log lines; `background` is the share of the cores the
    /// process uses when nothing is released.
    fn keep(&mut self, text: &str, tasks: u64, background: f64) -> anyhow::Result<()> {
        let times = field_values(text, "TEE task: secrets released", "us");
        if times.len() as u64 != tasks {
            bail!(
                "{} release lines for {tasks} tasks: the worker's log line changed?",
                times.len()
            );
        }
        let cpu = field_values(text, "TEE task: secrets released", "cpu_us");
        if cpu.len() != times.len() {
            bail!(
                "{} release lines without their cpu_us field",
                times.len() - cpu.len()
            );
        }
        self.cpu.extend(
            cpu.iter()
                .zip(&times)
                .map(|(cpu, us)| cpu.saturating_sub((background * *us as f64) as u64)),
        );
        self.rounds.extend(times);
        self.asked
            .extend(field_values(text, "TEE task: secrets released", "asked_us"));
        self.asks.extend(
            text.lines()
                .filter(|l| l.contains("TEE task: key holder answered"))
                .map(str::to_owned),
        );
        self.stages.extend(
            text.lines()
                .filter(|l| l.contains("released") && l.contains("laps="))
                .filter_map(|l| l.split("laps=").nth(1)?.split_whitespace().next())
                .map(str::to_owned),
        );
        Ok(())
    }

    fn stats(&self) -> Stats {
        let samples: Vec<Duration> = self
            .rounds
            .iter()
            .map(|us| Duration::from_micros(*us))
            .collect();
        Stats::of(&samples)
    }

    /// Median µs of each part of an ask at the worker.
    fn ask_medians(&self) -> Vec<(String, u64)> {
        let text = self.asks.join("\n");
        ["challenge", "evidence", "release", "check"]
            .into_iter()
            .map(|part| {
                let v = field_values(&text, "key holder answered", &format!("{part}_us"));
                (part.to_owned(), median(v))
            })
            .collect()
    }

    /// Median µs of each stage inside a key holder.
    fn stage_medians(&self) -> Vec<(String, u64)> {
        let mut stages: Vec<(String, Vec<u64>)> = Vec::new();
        for laps in &self.stages {
            for lap in laps.split(',') {
                let Some((stage, us)) = lap.split_once(':') else {
                    continue;
                };
                let Ok(us) = us.trim_end_matches(|c: char| !c.is_ascii_digit()).parse() else {
                    continue;
                };
                match stages.iter_mut().find(|(s, _)| s == stage) {
                    Some((_, v)) => v.push(us),
                    None => stages.push((stage.to_owned(), vec![us])),
                }
            }
        }
        stages.into_iter().map(|(s, v)| (s, median(v))).collect()
    }
}

/// The share of the cores this process uses over `window` with nothing asked of it (chain
/// followers, heartbeats, the scheduler's loops).
async fn background_cpu(window: Duration) -> f64 {
    let before = decloud_service::process_cpu_time();
    tokio::time::sleep(window).await;
    let used = decloud_service::process_cpu_time().saturating_sub(before);
    used.as_secs_f64() / window.as_secs_f64()
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn median(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or(0)
}

/// The values of `field=N` on the lines of `text` that contain `marker`.
fn field_values(text: &str, marker: &str, field: &str) -> Vec<u64> {
    let prefix = format!("{field}=");
    text.lines()
        .filter(|l| l.contains(marker))
        .filter_map(|l| {
            l.split_whitespace()
                .find_map(|w| w.strip_prefix(prefix.as_str()))
                .and_then(|v| v.parse().ok())
        })
        .collect()
}

/// Runs the comparison, prints it and rewrites the `keepers` section of the README.
pub async fn run() -> anyhow::Result<()> {
    let machine = Machine::detect();
    let logs = logs::capture_with("info,decloud_worker::release=debug");
    let rounds: usize = env_or("BENCH_KEEPERS_ROUNDS", 10);
    let tasks: u64 = env_or("BENCH_KEEPERS_TASKS", 5);
    let mut one = Side::start(0).await?;
    let mut group = Side::start(KEEPERS).await?;
    for side in [&one, &group] {
        side.deal(&logs, 2).await?;
    }
    let background = background_cpu(Duration::from_secs(2)).await;
    for round in 0..rounds {
        // Which side goes first alternates too, so neither always follows the other's tail.
        let order: [&mut Side; 2] = if round % 2 == 0 {
            [&mut one, &mut group]
        } else {
            [&mut group, &mut one]
        };
        for side in order {
            let text = side.deal(&logs, tasks).await?;
            side.keep(&text, tasks, background)?;
        }
    }
    let (a, b) = (one.stats(), group.stats());
    let ratio = b.p50.as_secs_f64() / a.p50.as_secs_f64().max(1e-9);
    let (cpu_one, cpu_group) = (median(one.cpu.clone()), median(group.cpu.clone()));
    // However the work is spread, k parallel asks cannot take less wall time than their CPU
    // over the cores: the best ratio this machine allows.
    let floor =
        cpu_group as f64 / 1e6 / machine.cores.max(1) as f64 / a.p50.as_secs_f64().max(1e-9);
    let build = if cfg!(debug_assertions) {
        "debug build"
    } else {
        "release build"
    };
    let mut body = format!(
        "{}, {build}; {rounds} rounds of {tasks} TEE tasks per side, the sides alternating \
         (after a warm-up deal of 2 each); the services log at `info`.\n\n",
        machine.line()
    );
    body.push_str(
        "| key holders | releases | p50 | p99 | max | p50 ÷ one SMS's | target | status |\n\
         |---|---:|---:|---:|---:|---:|---|---|\n",
    );
    body.push_str(&format!(
        "| one SMS, k = 1 | {} | {} | {} | {} | 1.00 | p99 ≤ 250 ms | {} |\n",
        a.n,
        ms(a.p50),
        ms(a.p99),
        ms(a.max),
        verdict(a.p99 <= TARGET_P99)
    ));
    body.push_str(&format!(
        "| {KEEPERS} keepers, k = {THRESHOLD} | {} | {} | {} | {} | {ratio:.2} | p99 ≤ 250 ms, ≤ {TARGET_RATIO}× | {} |\n",
        b.n,
        ms(b.p50),
        ms(b.p99),
        ms(b.max),
        verdict(b.p99 <= TARGET_P99 && ratio <= TARGET_RATIO)
    ));
    body.push_str(&format!(
        "\nCPU per release (median, µs of this process's CPU over all its threads during the round trip, less the {:.2} cores it uses with nothing released; anvil's not counted): one SMS {cpu_one}, {KEEPERS} keepers {cpu_group} ({:.1}×). On {} cores the keepers' round trip cannot take less than its CPU ÷ {}: **{floor:.2}× one SMS's p50 at best on this machine**, however the work is scheduled.\n",
        background,
        cpu_group as f64 / (cpu_one as f64).max(1.0),
        machine.cores,
        machine.cores,
    ));
    body.push_str("\nMedians (µs): `answered` = from the first challenge to k answers in and checked (shares rebuilt), `rebuild` = rebuilding the shares (in it); then each part of an ask at the worker, and each stage inside a key holder:\n\n");
    for (name, side) in [
        ("one SMS", &one),
        (
            &format!("{KEEPERS} keepers, k = {THRESHOLD} (each)")[..],
            &group,
        ),
    ] {
        let parts: Vec<String> = [
            ("answered".to_owned(), median(side.asked.clone())),
            ("rebuild".to_owned(), median(side.rebuilt.clone())),
        ]
        .into_iter()
        .chain(side.ask_medians())
        .chain(side.stage_medians())
        .map(|(s, us)| format!("{s} {us}"))
        .collect();
        body.push_str(&format!("- {name}: {}\n", parts.join(", ")));
    }
    body.push('\n');
    body.push_str(&summary_line(
        "Keepers: release round trip, k = 3 of 5, p99",
        &ms(b.p99),
        "≤ 250 ms",
        verdict(b.p99 <= TARGET_P99),
    ));
    body.push('\n');
    body.push_str(&summary_line(
        "Keepers: release round trip, k = 3 of 5 ÷ one SMS (p50s, same run)",
        &format!("{ratio:.2}×"),
        "≤ 1.5×",
        verdict(ratio <= TARGET_RATIO),
    ));
    body.push('\n');
    println!("{body}");
    report::write_section("keepers", &body)?;
    Ok(())
}
