//! What TLS costs the scheduler: CPU per handshake on the server, and requests per second of
//! its API with and without TLS.
//!
//! The scheduler runs in this process (the testkit's pool with no worker, on a devnet), once
//! over TLS 1.3 with its pinned key and once over plain HTTP; the clients run in a child
//! process (this benchmark executable again, with `BENCH_ROLE=tls-clients`), so that the CPU
//! this process uses is the server's. The route is a worker's heartbeat (`POST /v1/heartbeat`,
//! authenticated by a session token, answered from memory): the cheapest request that goes
//! through the whole authenticated path.
//!
//! 1. **Handshakes**: `BENCH_TLS_CONNECTIONS` (default 2000) new connections, each sending one
//!    heartbeat and closing, 4 at a time. The server's CPU time (`/proc/self/stat`), less what
//!    it burns when idle (its chain follower), divided by the connections, gives the CPU of a
//!    new connection with one request; the TLS figure less the plain-HTTP one is the handshake.
//! 2. **Requests per second**: `BENCH_TLS_CLIENTS` (default 16) clients, each with its own
//!    kept-alive connection, send `BENCH_TLS_REQUESTS` (default 40000) heartbeats in all, one
//!    at a time each.

use std::time::{Duration, Instant};

use alloy::signers::local::PrivateKeySigner;
use anyhow::{Context as _, bail};
use decloud_scheduler::client::SchedulerClient;
use decloud_service::transport::{PinnedUrl, http_client};
use decloud_testkit::Devnet;
use decloud_testkit::pool::{Pool, PoolOptions};
use serde::{Deserialize, Serialize};

use crate::report::{self, Machine, cpu_time, env_or};

/// Connections opened at once in the handshake phase.
const HANDSHAKE_CONCURRENCY: usize = 4;

/// What the client process did, sent back as one JSON line.
#[derive(Debug, Default, Serialize, Deserialize)]
struct ClientResults {
    ok: u64,
    failed: u64,
    first_error: Option<String>,
    secs: f64,
}

/// One transport's figures.
struct Side {
    /// Server CPU per new connection with one request.
    per_connection: Duration,
    /// Requests per second over kept-alive connections.
    rps: f64,
    /// Server CPU per request over kept-alive connections.
    per_request: Duration,
    /// Server CPU per second when idle (subtracted from the above).
    idle_per_sec: Duration,
}

/// The client process (`BENCH_ROLE=tls-clients`): `BENCH_TLS_MODE` `connections` (a new
/// connection per request) or `keep-alive`, `BENCH_TLS_N` requests by `BENCH_TLS_CLIENTS`
/// clients to `BENCH_TLS_URL` with the session `BENCH_TLS_TOKEN`.
pub async fn clients() -> anyhow::Result<()> {
    let url: PinnedUrl = std::env::var("BENCH_TLS_URL")
        .context("BENCH_TLS_URL")?
        .parse()?;
    let token = std::env::var("BENCH_TLS_TOKEN").context("BENCH_TLS_TOKEN")?;
    let fresh = match std::env::var("BENCH_TLS_MODE").as_deref() {
        Ok("connections") => true,
        Ok("keep-alive") => false,
        other => bail!("BENCH_TLS_MODE {other:?}: use connections or keep-alive"),
    };
    let n: usize = env_or("BENCH_TLS_N", 1000);
    let clients: usize = env_or("BENCH_TLS_CLIENTS", 1).max(1);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..clients {
        let mut builder = reqwest::Client::builder().timeout(Duration::from_secs(30));
        if fresh {
            // No idle connection is kept: every request connects (and handshakes) anew.
            builder = builder.pool_max_idle_per_host(0);
        }
        let http = http_client(&url, builder)?;
        let (url, token) = (url.join("/v1/heartbeat"), token.clone());
        let share = n / clients + usize::from(c < n % clients);
        tasks.spawn(async move {
            let mut results = ClientResults::default();
            for _ in 0..share {
                match http.post(&url).bearer_auth(&token).send().await {
                    Ok(answer) if answer.status().is_success() => {
                        let _ = answer.bytes().await;
                        results.ok += 1;
                    }
                    Ok(answer) => {
                        results.failed += 1;
                        results
                            .first_error
                            .get_or_insert_with(|| format!("status {}", answer.status()));
                    }
                    Err(e) => {
                        results.failed += 1;
                        results.first_error.get_or_insert_with(|| e.to_string());
                    }
                }
            }
            results
        });
    }
    let mut all = ClientResults::default();
    while let Some(done) = tasks.join_next().await {
        let done = done?;
        all.ok += done.ok;
        all.failed += done.failed;
        if all.first_error.is_none() {
            all.first_error = done.first_error;
        }
    }
    all.secs = started.elapsed().as_secs_f64();
    println!("{}", serde_json::to_string(&all)?);
    Ok(())
}

/// Runs the client process and returns what it did and the CPU this process (the server)
/// used meanwhile.
async fn drive(
    url: &str,
    token: &str,
    mode: &str,
    n: usize,
    clients: usize,
) -> anyhow::Result<(ClientResults, Duration, Duration)> {
    let me = std::process::id();
    let exe = std::env::current_exe()?;
    let cpu = cpu_time(me).unwrap_or_default();
    let started = Instant::now();
    let out = tokio::process::Command::new(exe)
        .env("BENCH_ROLE", "tls-clients")
        .env("BENCH_TLS_URL", url)
        .env("BENCH_TLS_TOKEN", token)
        .env("BENCH_TLS_MODE", mode)
        .env("BENCH_TLS_N", n.to_string())
        .env("BENCH_TLS_CLIENTS", clients.to_string())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true)
        .output()
        .await
        .context("running the client process")?;
    let wall = started.elapsed();
    let server_cpu = cpu_time(me).unwrap_or_default().saturating_sub(cpu);
    if !out.status.success() {
        bail!("the client process failed ({})", out.status);
    }
    let results: ClientResults = serde_json::from_slice(&out.stdout)
        .context("the client process's answer is not its JSON line")?;
    if results.failed > 0 {
        bail!(
            "{} of {} heartbeats failed (first: {}): the figures would not be the scheduler's work",
            results.failed,
            results.failed + results.ok,
            results.first_error.unwrap_or_default()
        );
    }
    Ok((results, server_cpu, wall))
}

/// One transport's figures, on a pool of its own.
async fn side(devnet: &Devnet, plain_http: bool) -> anyhow::Result<Side> {
    let connections: usize = env_or("BENCH_TLS_CONNECTIONS", 2000);
    let requests: usize = env_or("BENCH_TLS_REQUESTS", 40_000);
    let clients: usize = env_or("BENCH_TLS_CLIENTS", 16);
    let unlimited = decloud_scheduler::limits::Rate {
        burst: 1_000_000,
        per_sec: 1_000_000.0,
    };
    let pool = Pool::start(
        devnet,
        PoolOptions {
            workers: 0,
            plain_http,
            heartbeat_timeout: Duration::from_secs(600),
            rate_limits: decloud_scheduler::limits::RateLimits {
                challenges: unlimited,
                claims: unlimited,
                max_challenges: 1_000_000,
                max_challenges_per_client: 1_000_000,
            },
            ..PoolOptions::default()
        },
    )
    .await?;
    let key = PrivateKeySigner::random();
    decloud_testkit::pool::admit(&pool, key.address(), 1).await?;
    let url = pool
        .scheduler_url()
        .context("the pool's scheduler is not running")?;
    let token = SchedulerClient::new(&url, key, 1)?.login().await?.token;

    // What the server burns doing nothing (its chain follower, its timers).
    let me = std::process::id();
    let idle_window = Duration::from_secs(3);
    let cpu = cpu_time(me).unwrap_or_default();
    tokio::time::sleep(idle_window).await;
    let idle_per_sec = cpu_time(me).unwrap_or_default().saturating_sub(cpu) / 3;
    let busy = |cpu: Duration, wall: Duration| {
        cpu.saturating_sub(idle_per_sec.mul_f64(wall.as_secs_f64()))
    };

    // Warm up (the session cache, the allocator) before measuring.
    drive(&url, &token, "keep-alive", 500, 4).await?;
    let (done, cpu, wall) = drive(
        &url,
        &token,
        "connections",
        connections,
        HANDSHAKE_CONCURRENCY,
    )
    .await?;
    let per_connection = busy(cpu, wall) / done.ok.max(1) as u32;
    let (done, cpu, wall) = drive(&url, &token, "keep-alive", requests, clients).await?;
    let rps = done.ok as f64 / done.secs;
    let per_request = busy(cpu, wall) / done.ok.max(1) as u32;
    Ok(Side {
        per_connection,
        rps,
        per_request,
        idle_per_sec,
    })
}

fn us(d: Duration) -> String {
    format!("{:.0} µs", d.as_secs_f64() * 1e6)
}

/// Runs both transports, prints the figures and rewrites the `tls` section of the README.
pub async fn run() -> anyhow::Result<()> {
    let machine = Machine::detect();
    let devnet = Devnet::start().await?;
    let tls = side(&devnet, false).await?;
    let plain = side(&devnet, true).await?;
    let connections: usize = env_or("BENCH_TLS_CONNECTIONS", 2000);
    let requests: usize = env_or("BENCH_TLS_REQUESTS", 40_000);
    let clients: usize = env_or("BENCH_TLS_CLIENTS", 16);
    let handshake = tls.per_connection.saturating_sub(plain.per_connection);
    let build = if cfg!(debug_assertions) {
        "debug build"
    } else {
        "release build"
    };
    let mut body = format!(
        "{}, {build}; {connections} new connections ({HANDSHAKE_CONCURRENCY} at a time) and \
         {requests} heartbeats over {clients} kept-alive connections per transport.\n\n",
        machine.line()
    );
    body.push_str("| | TLS 1.3 (pinned key) | plain HTTP | TLS ÷ plain |\n|---|---|---|---|\n");
    body.push_str(&format!(
        "| scheduler CPU per new connection with one heartbeat | {} | {} | {:.2} |\n",
        us(tls.per_connection),
        us(plain.per_connection),
        tls.per_connection.as_secs_f64() / plain.per_connection.as_secs_f64().max(1e-9)
    ));
    body.push_str(&format!(
        "| scheduler CPU per TLS handshake (the difference) | {} | | |\n",
        us(handshake)
    ));
    body.push_str(&format!(
        "| heartbeats per second, kept-alive connections | {:.0} | {:.0} | {:.2} |\n",
        tls.rps,
        plain.rps,
        tls.rps / plain.rps.max(1e-9)
    ));
    body.push_str(&format!(
        "| scheduler CPU per kept-alive heartbeat | {} | {} | {:.2} |\n",
        us(tls.per_request),
        us(plain.per_request),
        tls.per_request.as_secs_f64() / plain.per_request.as_secs_f64().max(1e-9)
    ));
    body.push_str(&format!(
        "\nIdle scheduler CPU subtracted: {} per second over TLS, {} over plain HTTP.\n",
        us(tls.idle_per_sec),
        us(plain.idle_per_sec)
    ));
    println!("{body}");
    if env_or("BENCH_README", 1u8) == 1 {
        report::write_section("tls", &body)?;
    }
    Ok(())
}
