//! Scheduler scale: simulated workers against one scheduler. A simulated worker is a wallet
//! and an HTTP client, not a worker: it logs in (challenge, EIP-191 signature, session token),
//! then sends a heartbeat every 10 s and keeps one long-poll claim open, as a real worker
//! does, and it does no work (a worker that gets a replicate holds it and stops claiming).
//!
//! The scheduler runs in this process, on a devnet with instant mining (the testkit's pool
//! with no worker). The simulated workers run in a child process (this benchmark executable
//! again, with `BENCH_ROLE=scale-clients`) so that each side stays under the per-process file
//! descriptor limit with one HTTP/1 connection per open long poll, and so that the CPU of
//! each side can be told apart. Both share the machine's cores with anvil: the client load
//! competes with the scheduler.
//!
//! For each number of workers: (1) every worker logs in, `BENCH_SCALE_LOGIN_CONCURRENCY` at a
//! time; (2) a steady phase of `BENCH_SCALE_SECS` (default 40): heartbeats every 10 s and
//! long-poll claims (`wait=10`), each worker starting at a random offset. At half the phase,
//! `BENCH_SCALE_JOINS` new workers log in, one a second, while the others long-poll; at three
//! quarters a deal of `BENCH_SCALE_TASKS` trust-1 tasks is matched and the waiting claims take
//! them. Heartbeats and claims are measured by the scheduler itself: each answer carries its
//! handling time (`Server-Timing`, a long poll's wait left out), split by when the claim was
//! answered (quiet, while workers join, after the deal). The clients measure logins (a challenge
//! and a signed login, signing excluded), what heartbeats and no-work claims cost them (a claim's
//! time beyond its long-poll wait), and the dispatch delay of the deal's tasks (from sending
//! `matchOrders` to each assignment's arrival).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use decloud_testkit::Devnet;
use decloud_testkit::pool::{Pool, PoolOptions};
use tokio::io::AsyncBufReadExt as _;

use crate::deal::Requester;
use crate::report::{
    self, Machine, Stats, app_module, cpu_time, env_or, ms, summary_line, verdict,
};

/// Target: p99 of the API's latency.
const TARGET: Duration = Duration::from_millis(50);
/// The default curve of simulated workers.
pub const DEFAULT_WORKERS: &str = "100,1000,3000,10000";
/// Default length of the steady phase, seconds.
const STEADY_SECS: u64 = 40;
/// Default long-poll wait of a claim, seconds.
const CLAIM_WAIT_SECS: u64 = 10;

mod clients;

pub use clients::clients;
use clients::*;

/// What one point of the curve gave.
struct Point {
    workers: usize,
    logged_in: usize,
    login: Stats,
    login_rate: f64,
    joins: Stats,
    heartbeat: Stats,
    /// The scheduler's own handling of each heartbeat (its `Server-Timing`).
    heartbeat_server: Stats,
    claim: Stats,
    /// Claims answered before the first join, while workers join, after the deal.
    claim_phases: [Stats; 3],
    /// The scheduler's own handling of the claims (its `Server-Timing`: the long poll's wait
    /// left out), every claim answered, by the same phases.
    claim_server_phases: [Stats; 3],
    claims_per_sec: f64,
    dispatch: Stats,
    tasks: u64,
    assigned: usize,
    errors: BTreeMap<String, u64>,
    /// CPU over the steady phase, in cores: scheduler process, clients, anvil.
    cpu_steady: (f64, f64, f64),
    /// CPU over the login phase, in cores.
    cpu_login: (f64, f64, f64),
    server_fds: usize,
    /// Lateness of a 10 ms timer in the scheduler's process and in the clients' one.
    lateness: (Stats, Stats),
}

fn durations(us: &[u64]) -> Vec<Duration> {
    us.iter().map(|&u| Duration::from_micros(u)).collect()
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

async fn point(devnet: &Devnet, wasm: &[u8], workers: usize) -> anyhow::Result<Point> {
    let steady = Duration::from_secs(env_or("BENCH_SCALE_SECS", STEADY_SECS));
    let tasks = env_or("BENCH_SCALE_TASKS", 20u64)
        .min(workers as u64)
        .max(1);
    // Thousands of workers log in and claim from this one address: the per-client limits are
    // lifted (what is measured is the scheduler's work, not its refusals).
    let unlimited = decloud_scheduler::limits::Rate {
        burst: 1_000_000,
        per_sec: 1_000_000.0,
    };
    let options = PoolOptions {
        workers: 0,
        // TLS 1.3 with a pinned key, as deployed; BENCH_SCALE_PLAIN_HTTP=1 for the comparison.
        plain_http: env_or("BENCH_SCALE_PLAIN_HTTP", 0u8) == 1,
        heartbeat_timeout: Duration::from_secs(60),
        rate_limits: decloud_scheduler::limits::RateLimits {
            challenges: unlimited,
            claims: unlimited,
            max_challenges: 1_000_000,
            max_challenges_per_client: 1_000_000,
        },
        ..PoolOptions::default()
    };
    let pool = Pool::start(devnet, options.clone()).await?;
    // The simulated workers are members of the pool's registry, admitted by its owner.
    let joins = env_or("BENCH_SCALE_JOINS", 5usize);
    let members = (0..(workers + joins) as u64)
        .map(|i| clients::worker_key(i).address())
        .collect();
    decloud_testkit::pool::admit_many(&pool, members, 1).await?;
    let app = pool.deploy_app("greeting", wasm).await?;
    let requester = Arc::new(Requester::for_pool(&pool, &options, tasks).await?);
    let orders = Arc::new(requester.sign(app, 1, tasks, "bench")?);
    let url = pool
        .scheduler_url()
        .context("the pool's scheduler is not running")?;
    let exe = std::env::current_exe()?;
    let mut child = tokio::process::Command::new(exe)
        .env("BENCH_ROLE", "scale-clients")
        .env("BENCH_SCALE_URL", &url)
        .env("BENCH_SCALE_N", workers.to_string())
        .env("BENCH_SCALE_SECS", steady.as_secs().to_string())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .context("starting the client process")?;
    let child_pid = child.id().unwrap_or_default();
    let anvil = report::anvil_pid();
    let me = std::process::id();
    let snapshot = || {
        (
            cpu_time(me).unwrap_or_default(),
            cpu_time(child_pid).unwrap_or_default(),
            anvil.and_then(cpu_time).unwrap_or_default(),
            Instant::now(),
        )
    };
    let cores = |a: (Duration, Duration, Duration, Instant),
                 b: (Duration, Duration, Duration, Instant)| {
        let wall = b.3.duration_since(a.3).as_secs_f64().max(1e-9);
        (
            b.0.saturating_sub(a.0).as_secs_f64() / wall,
            b.1.saturating_sub(a.1).as_secs_f64() / wall,
            b.2.saturating_sub(a.2).as_secs_f64() / wall,
        )
    };
    let stdout = child
        .stdout
        .take()
        .context("no stdout from the client process")?;
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let start = snapshot();
    let mut login_end = start;
    let mut cpu_login = (0.0, 0.0, 0.0);
    let mut deal_sent: Option<tokio::task::JoinHandle<anyhow::Result<u64>>> = None;
    let mut fds_at: Option<tokio::task::JoinHandle<usize>> = None;
    let mut scheduler_late: Option<tokio::task::JoinHandle<Vec<u64>>> = None;
    let mut results = None;
    while let Some(line) = lines.next_line().await? {
        if let Some(n) = line.strip_prefix("LOGGED_IN ") {
            login_end = snapshot();
            cpu_login = cores(start, login_end);
            println!("    {workers} workers: {} logged in", n.trim());
        } else if line.starts_with("STEADY ") {
            let (requester, orders) = (requester.clone(), orders.clone());
            deal_sent = Some(tokio::spawn(async move {
                tokio::time::sleep(steady * 3 / 4).await;
                let sent = unix_ms();
                requester.matched(&orders).await?;
                Ok(sent)
            }));
            let end = tokio::time::Instant::now() + steady;
            scheduler_late = Some(tokio::spawn(lateness(end)));
            fds_at = Some(tokio::spawn(async move {
                tokio::time::sleep(steady / 4).await;
                open_fds()
            }));
        } else if let Some(json) = line.strip_prefix("RESULT ") {
            results = Some(serde_json::from_str::<ClientResults>(json)?);
        }
    }
    let end = snapshot();
    let status = child.wait().await?;
    let Some(r) = results else {
        bail!("the client process ended ({status}) without results");
    };
    let sent_ms = match deal_sent {
        Some(h) => h.await??,
        None => bail!("the client process never started its steady phase"),
    };
    let scheduler_late = match scheduler_late {
        Some(h) => h.await?,
        None => Vec::new(),
    };
    let server_fds = match fds_at {
        Some(h) => h.await?,
        None => 0,
    };
    let dispatch: Vec<Duration> = r
        .assigned_unix_ms
        .iter()
        .map(|&t| Duration::from_millis(t.saturating_sub(sent_ms)))
        .collect();
    let first_join = r
        .joins
        .first()
        .map(|j| j.0.saturating_sub(j.1 / 1000))
        .unwrap_or(sent_ms);
    let phase = |at: u64| {
        if at < first_join {
            0
        } else if at < sent_ms {
            1
        } else {
            2
        }
    };
    let mut phases: [Vec<Duration>; 3] = Default::default();
    for &(at, us) in &r.claims {
        phases[phase(at)].push(Duration::from_micros(us));
    }
    let mut server_phases: [Vec<Duration>; 3] = Default::default();
    for &(at, us) in &r.claims_server {
        server_phases[phase(at)].push(Duration::from_micros(us));
    }
    let steady_secs = (r.steady_ms as f64 / 1000.0).max(1e-9);
    drop(pool);
    Ok(Point {
        workers,
        logged_in: r.login_us.len(),
        login: Stats::of(
            &r.login_us
                .iter()
                .zip(&r.challenge_us)
                .map(|(l, c)| Duration::from_micros(l + c))
                .collect::<Vec<_>>(),
        ),
        login_rate: r.login_us.len() as f64 / (r.login_wall_ms as f64 / 1000.0).max(1e-9),
        joins: Stats::of(
            &r.joins
                .iter()
                .map(|j| Duration::from_micros(j.1))
                .collect::<Vec<_>>(),
        ),
        heartbeat: Stats::of(&durations(&r.heartbeat_us)),
        heartbeat_server: Stats::of(&durations(&r.heartbeat_server_us)),
        claim: Stats::of(
            &r.claims
                .iter()
                .map(|c| Duration::from_micros(c.1))
                .collect::<Vec<_>>(),
        ),
        claim_phases: [
            Stats::of(&phases[0]),
            Stats::of(&phases[1]),
            Stats::of(&phases[2]),
        ],
        claim_server_phases: [
            Stats::of(&server_phases[0]),
            Stats::of(&server_phases[1]),
            Stats::of(&server_phases[2]),
        ],
        claims_per_sec: r.claims_sent as f64 / steady_secs,
        dispatch: Stats::of(&dispatch),
        tasks,
        assigned: r.assigned_unix_ms.len(),
        errors: r.errors,
        cpu_steady: cores(login_end, end),
        cpu_login,
        server_fds,
        lateness: (
            Stats::of(&durations(&scheduler_late)),
            Stats::of(&durations(&r.client_lateness_us)),
        ),
    })
}

/// Fewest samples a p99 is given from: below, one sample in a hundred does not exist, and the
/// tail shown (and checked against the target) is the largest sample.
const MIN_SAMPLES_FOR_P99: usize = 100;

/// "p50 / p99 / max (n samples)", with "—" for the p99 of fewer than [`MIN_SAMPLES_FOR_P99`].
fn triple(s: &Stats) -> String {
    if s.n == 0 {
        return "—".into();
    }
    let p99 = if s.n >= MIN_SAMPLES_FOR_P99 {
        ms(s.p99)
    } else {
        "—".to_owned()
    };
    format!("{} / {p99} / {} (n = {})", ms(s.p50), ms(s.max), s.n)
}

/// The tail checked against the target: the p99, or the largest sample when there are too few
/// for a p99; and how to name it.
fn tail(s: &Stats) -> (Duration, String) {
    if s.n >= MIN_SAMPLES_FOR_P99 {
        (s.p99, "p99".to_owned())
    } else {
        (s.max, format!("max of {}", s.n))
    }
}

/// Runs the scale benchmark, prints it, and rewrites its section of `bench/README.md`.
pub async fn run() -> anyhow::Result<()> {
    let machine = Machine::detect();
    let curve: Vec<usize> = std::env::var("BENCH_SCALE_WORKERS")
        .unwrap_or_else(|_| DEFAULT_WORKERS.into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let steady = env_or("BENCH_SCALE_SECS", STEADY_SECS);
    let concurrency = env_or("BENCH_SCALE_LOGIN_CONCURRENCY", 16usize);
    let joins = env_or("BENCH_SCALE_JOINS", 5usize);
    let limit = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|l| {
            l.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3).map(str::to_owned))
        })
        .unwrap_or_else(|| "?".into());
    println!(
        "scale: simulated workers {curve:?}, steady phase {steady} s, logins {concurrency} at a time, open-file limit {limit}"
    );
    let wasm = app_module("greeting")?;
    let devnet = Devnet::start()
        .await
        .context("starting the devnet (run scripts/bootstrap first)")?;
    let mut points = Vec::new();
    for &n in &curve {
        let p = point(&devnet, &wasm, n).await?;
        println!(
            "  {n} workers: login p50/p99/max {} ({:.0}/s), joining {}, heartbeat {} (server {}), claim beyond wait {} \
             [quiet {}, joins {}, deal {}], claim in the server [quiet {}, joins {}, deal {}] ({:.0} claims/s), \
             dispatch of {} tasks {} ({} assigned), errors {:?}, \
             CPU steady scheduler {:.2} clients {:.2} anvil {:.2} cores, scheduler fds {}, \
             10 ms timer lateness scheduler {} clients {}",
            triple(&p.login),
            p.login_rate,
            triple(&p.joins),
            triple(&p.heartbeat),
            triple(&p.heartbeat_server),
            triple(&p.claim),
            triple(&p.claim_phases[0]),
            triple(&p.claim_phases[1]),
            triple(&p.claim_phases[2]),
            triple(&p.claim_server_phases[0]),
            triple(&p.claim_server_phases[1]),
            triple(&p.claim_server_phases[2]),
            p.claims_per_sec,
            p.tasks,
            triple(&p.dispatch),
            p.assigned,
            p.errors,
            p.cpu_steady.0,
            p.cpu_steady.1,
            p.cpu_steady.2,
            p.server_fds,
            triple(&p.lateness.0),
            triple(&p.lateness.1),
        );
        points.push(p);
    }
    drop(devnet);

    let mut table = String::from(
        "| workers | login (all at start) | logins / s | heartbeat, in the scheduler | claim in the scheduler, quiet | claim in the scheduler, while workers join | claim in the scheduler, after the deal | heartbeat, seen by the client | no-work claim beyond its wait, seen by the client | claims / s | dispatch | errors | status (p99 < 50 ms) |\n\
         |---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|\n",
    );
    let mut summaries = Vec::new();
    let top = curve.iter().copied().max();
    for p in &points {
        // The targets: logins as the clients see them (two requests each), heartbeats and
        // claims as the scheduler handled them, in every phase.
        let checked = [
            ("login", &p.login),
            ("joining login", &p.joins),
            ("heartbeat", &p.heartbeat_server),
            ("claim, quiet", &p.claim_server_phases[0]),
            ("claim, while workers join", &p.claim_server_phases[1]),
            ("claim, after the deal", &p.claim_server_phases[2]),
        ];
        let met = p.errors.is_empty() && checked.iter().all(|(_, s)| s.n > 0 && tail(s).0 < TARGET);
        let failing: Vec<&str> = checked
            .iter()
            .filter(|(_, s)| s.n == 0 || tail(s).0 >= TARGET)
            .map(|(n, _)| *n)
            .collect();
        let errors = if p.errors.is_empty() {
            "none".to_owned()
        } else {
            p.errors
                .iter()
                .map(|(k, v)| format!("{k} × {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        table.push_str(&format!(
            "| {}{} | {} | {:.0} | {} | {} | {} | {} | {} | {} | {:.0} | {} ({}/{}) | {errors} | {}{} |\n",
            p.workers,
            if p.logged_in == p.workers {
                String::new()
            } else {
                format!(" ({} logged in)", p.logged_in)
            },
            triple(&p.login),
            p.login_rate,
            triple(&p.heartbeat_server),
            triple(&p.claim_server_phases[0]),
            triple(&p.claim_server_phases[1]),
            triple(&p.claim_server_phases[2]),
            triple(&p.heartbeat),
            triple(&p.claim),
            p.claims_per_sec,
            triple(&p.dispatch),
            p.assigned,
            p.tasks,
            verdict(met),
            if failing.is_empty() {
                String::new()
            } else {
                format!(" ({})", failing.join(", "))
            },
        ));
        if Some(p.workers) == top {
            for (what, s) in [
                ("heartbeat in the scheduler", &p.heartbeat_server),
                ("claim in the scheduler, quiet", &p.claim_server_phases[0]),
                (
                    "claim in the scheduler, while workers join",
                    &p.claim_server_phases[1],
                ),
                (
                    "claim in the scheduler, after the deal",
                    &p.claim_server_phases[2],
                ),
                ("login of a joining worker", &p.joins),
                (
                    &*format!("login, all at start ({concurrency} at a time)"),
                    &p.login,
                ),
            ] {
                let (value, name) = tail(s);
                summaries.push(summary_line(
                    &format!("Scheduler scale, {} workers: {what} {name}", p.workers),
                    &ms(value),
                    "< 50 ms",
                    verdict(s.n > 0 && value < TARGET),
                ));
            }
            for (what, s) in [
                ("heartbeat seen by the clients", &p.heartbeat),
                (
                    "no-work claim beyond its wait seen by the clients",
                    &p.claim,
                ),
            ] {
                let (value, name) = tail(s);
                summaries.push(summary_line(
                    &format!("Scheduler scale, {} workers: {what} {name}", p.workers),
                    &ms(value),
                    "< 50 ms",
                    "informational",
                ));
            }
        }
    }
    let mut more = String::new();
    for p in &points {
        more.push_str(&format!(
            "- {} workers: {} joining workers' logins {}; CPU during the steady phase {:.2} / {:.2} / {:.2} cores \
             and during the logins {:.2} / {:.2} / {:.2} (scheduler / clients / anvil); {} open file descriptors in the scheduler's process; \
             lateness of a 10 ms timer (p50 / p99 / max) {} in the scheduler's process, {} in the clients'\n",
            p.workers,
            p.joins.n,
            triple(&p.joins),
            p.cpu_steady.0,
            p.cpu_steady.1,
            p.cpu_steady.2,
            p.cpu_login.0,
            p.cpu_login.1,
            p.cpu_login.2,
            p.server_fds,
            triple(&p.lateness.0),
            triple(&p.lateness.1),
        ));
    }
    let body = format!(
        "Measured on {}; the scheduler's API over {}; its SQLite database in the system's temporary directory (disk), steady phase \
         {steady} s, logins {concurrency} at a time, {joins} workers joining at half the phase, heartbeats every 10 s, \
         long-poll claims with `wait={CLAIM_WAIT_SECS}`, open-file limit {limit}. Latencies are p50 / p99 / max, n samples (no p99 from fewer than {MIN_SAMPLES_FOR_P99}). \
         \"In the scheduler\" is the scheduler's own handling time, which it sends with each answer (`Server-Timing`): from the request reaching its router \
         to the answer, less the time a long poll waited for work; every claim answered counts, by when it was answered. \
         Logins and the \"seen by the client\" columns are measured by the clients, which run on the same cores (a no-work claim's time beyond its wait includes \
         the network and both processes' scheduling); dispatch runs from sending `matchOrders` to each assignment (assigned / tasks).\n\n\
         {table}\n{more}\n{}\n",
        machine.line(),
        if env_or("BENCH_SCALE_PLAIN_HTTP", 0u8) == 1 {
            "plain HTTP"
        } else {
            "TLS 1.3 (pinned key, one handshake per connection)"
        },
        summaries.join("\n")
    );
    report::write_section("scale", &body)
}
