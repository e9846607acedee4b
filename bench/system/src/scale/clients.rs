//! The simulated workers of the scale benchmark: a child process that logs in, long-polls and
//! sends heartbeats like thousands of workers, and reports what it measured.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use anyhow::{Context as _, bail};
use decloud_protocol::pool::{Challenge, LoginRequest, Session};
use decloud_service::transport::PinnedUrl;
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use crate::report::{cpu_time, env_or};

use super::{CLAIM_WAIT_SECS, STEADY_SECS};

pub(super) fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

/// A small deterministic generator (splitmix64) for the workers' random offsets.
pub(super) struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, d: Duration) -> Duration {
        let nanos = d.as_nanos().max(1) as u64;
        Duration::from_nanos(self.next() % nanos)
    }
}

/// How late a 10 ms sleep wakes up, every 10 ms until `end`: the delay the tokio runtime of the
/// process (and the machine's scheduler) adds to anything it does. Microseconds.
pub(super) async fn lateness(end: tokio::time::Instant) -> Vec<u64> {
    let tick = Duration::from_millis(10);
    let mut late = Vec::new();
    while tokio::time::Instant::now() + tick < end {
        let t = Instant::now();
        tokio::time::sleep(tick).await;
        late.push(micros(t.elapsed().saturating_sub(tick)));
    }
    late
}

/// The scheduler's own handling time of an answer (its `Server-Timing` header), µs.
fn server_us(response: &reqwest::Response) -> Option<u64> {
    decloud_scheduler::api::handling_time(response.headers()).map(micros)
}

/// What the client process measured (microseconds), sent back as one JSON line.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(super) struct ClientResults {
    pub(super) workers: usize,
    pub(super) login_wall_ms: u64,
    pub(super) challenge_us: Vec<u64>,
    pub(super) login_us: Vec<u64>,
    pub(super) heartbeat_us: Vec<u64>,
    /// The scheduler's own handling time of each heartbeat (its `Server-Timing`), µs.
    pub(super) heartbeat_server_us: Vec<u64>,
    /// (answered at, unix ms; time beyond the wait, µs) of the claims that found no work.
    pub(super) claims: Vec<(u64, u64)>,
    /// (answered at, unix ms; the scheduler's own handling time, its `Server-Timing`, µs) of
    /// every claim answered, with work or without.
    pub(super) claims_server: Vec<(u64, u64)>,
    pub(super) claims_sent: u64,
    pub(super) assigned_unix_ms: Vec<u64>,
    /// (logged in at, unix ms; latency, µs) of the workers that joined during the steady phase.
    pub(super) joins: Vec<(u64, u64)>,
    pub(super) steady_start_unix_ms: u64,
    pub(super) errors: BTreeMap<String, u64>,
    pub(super) steady_ms: u64,
    pub(super) cpu_login_ms: u64,
    pub(super) cpu_steady_ms: u64,
    /// Lateness of a 10 ms timer in the client process during the steady phase, µs.
    pub(super) client_lateness_us: Vec<u64>,
}

/// The client side's parameters (passed through the environment).
#[derive(Clone, Debug)]
pub(super) struct ClientParams {
    /// The scheduler's URL without its pin (paths are appended to it).
    url: String,
    pinned: PinnedUrl,
    workers: usize,
    steady: Duration,
    heartbeat: Duration,
    claim_wait: Duration,
    login_concurrency: usize,
    group: usize,
    joins: usize,
}

impl ClientParams {
    fn from_env() -> anyhow::Result<Self> {
        let pinned: PinnedUrl = std::env::var("BENCH_SCALE_URL")
            .context("BENCH_SCALE_URL is not set")?
            .parse()?;
        Ok(Self {
            url: pinned.base().to_owned(),
            pinned,
            workers: env_or("BENCH_SCALE_N", 100usize),
            steady: Duration::from_secs(env_or("BENCH_SCALE_SECS", STEADY_SECS)),
            heartbeat: Duration::from_secs(env_or("BENCH_SCALE_HEARTBEAT_SECS", 10u64)),
            claim_wait: Duration::from_secs(env_or("BENCH_SCALE_CLAIM_WAIT", CLAIM_WAIT_SECS)),
            login_concurrency: env_or("BENCH_SCALE_LOGIN_CONCURRENCY", 16usize).max(1),
            group: env_or("BENCH_SCALE_GROUP", 100usize).max(1),
            joins: env_or("BENCH_SCALE_JOINS", 5usize),
        })
    }
}

#[derive(Default)]
pub(super) struct Recorder {
    challenge: Vec<u64>,
    login: Vec<u64>,
    heartbeat: Vec<u64>,
    heartbeat_server: Vec<u64>,
    claims: Vec<(u64, u64)>,
    claims_server: Vec<(u64, u64)>,
    assigned: Vec<u64>,
    joins: Vec<(u64, u64)>,
    errors: BTreeMap<String, u64>,
}

impl Recorder {
    fn error(&mut self, what: &str, e: impl std::fmt::Display) {
        let text = e.to_string();
        let kind = if text.contains("timed out") || text.contains("timeout") {
            "timeout".to_owned()
        } else if let Some(status) = text.strip_prefix("status ") {
            format!("HTTP {}", &status[..3.min(status.len())])
        } else {
            "connection".to_owned()
        };
        *self.errors.entry(format!("{what}: {kind}")).or_default() += 1;
    }
}

/// The `i`-th simulated worker's key, the same in the bench process (which admits it to the
/// pool's worker registry: the scheduler serves members only) and in the client process (which
/// logs in with it).
pub(super) fn worker_key(i: u64) -> PrivateKeySigner {
    let seed = alloy::primitives::keccak256(format!("decloud scale bench worker {i}"));
    PrivateKeySigner::from_bytes(&seed)
        .expect("a keccak hash is a valid key but with odds of 2^-128")
}

pub(super) fn micros(d: Duration) -> u64 {
    d.as_micros() as u64
}

pub(super) struct SimWorker {
    http: reqwest::Client,
    token: String,
}

pub(super) async fn login(
    http: &reqwest::Client,
    url: &str,
    key: &PrivateKeySigner,
) -> anyhow::Result<(String, Duration, Duration)> {
    let t = Instant::now();
    let response = http
        .get(format!("{url}/v1/login/challenge"))
        .timeout(Duration::from_secs(60))
        .send()
        .await?;
    if !response.status().is_success() {
        bail!("status {}", response.status().as_u16());
    }
    let challenge: Challenge = response.json().await?;
    let challenge_time = t.elapsed();
    let signature = key.sign_message_sync(challenge.message.as_bytes())?;
    let request = LoginRequest {
        worker: key.address(),
        nonce: challenge.nonce,
        deadline: challenge.deadline,
        signature: signature.to_string(),
        capacity: 1,
        tee: Default::default(),
    };
    let t = Instant::now();
    let response = http
        .post(format!("{url}/v1/login"))
        .timeout(Duration::from_secs(60))
        .json(&request)
        .send()
        .await?;
    if !response.status().is_success() {
        bail!("status {}", response.status().as_u16());
    }
    let session: Session = response.json().await?;
    Ok((session.token, challenge_time, t.elapsed()))
}

/// A client of the scheduler at `url` as the real workers make it: pinned to its key over TLS.
pub(super) fn http_client(url: &PinnedUrl) -> anyhow::Result<reqwest::Client> {
    let builder = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .pool_idle_timeout(Duration::from_secs(120));
    Ok(decloud_service::transport::http_client(url, builder)?)
}

/// The client process: logs the workers in, runs the steady phase, prints the results.
pub async fn clients() -> anyhow::Result<()> {
    let p = ClientParams::from_env()?;
    let me = std::process::id();
    let recorder = Arc::new(Mutex::new(Recorder::default()));
    let groups: Vec<reqwest::Client> = (0..p.workers.div_ceil(p.group))
        .map(|_| http_client(&p.pinned))
        .collect::<anyhow::Result<_>>()?;

    // --- login, a bounded number at a time ---
    let cpu0 = cpu_time(me).unwrap_or_default();
    let t0 = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let workers: Arc<Mutex<Vec<Option<SimWorker>>>> =
        Arc::new(Mutex::new((0..p.workers).map(|_| None).collect()));
    let mut logins = Vec::new();
    for _ in 0..p.login_concurrency.min(p.workers) {
        let (next, workers, recorder, groups, url) = (
            next.clone(),
            workers.clone(),
            recorder.clone(),
            groups.clone(),
            p.url.clone(),
        );
        let total = p.workers as u64;
        logins.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    return;
                }
                let http = groups[i as usize % groups.len()].clone();
                let key = worker_key(i);
                let mut attempts = 0;
                loop {
                    attempts += 1;
                    match login(&http, &url, &key).await {
                        Ok((token, challenge, login)) => {
                            let mut r = recorder.lock().await;
                            r.challenge.push(micros(challenge));
                            r.login.push(micros(login));
                            drop(r);
                            workers.lock().await[i as usize] = Some(SimWorker {
                                http: http.clone(),
                                token,
                            });
                            break;
                        }
                        Err(e) => {
                            recorder.lock().await.error("login", &e);
                            if attempts >= 5 {
                                break;
                            }
                            tokio::time::sleep(Duration::from_millis(500)).await;
                        }
                    }
                }
            }
        }));
    }
    for l in logins {
        l.await?;
    }
    let login_wall = t0.elapsed();
    let cpu_login = cpu_time(me).unwrap_or_default().saturating_sub(cpu0);
    let logged: Vec<SimWorker> = std::mem::take(&mut *workers.lock().await)
        .into_iter()
        .flatten()
        .collect();
    println!("LOGGED_IN {}", logged.len());

    // --- steady phase ---
    let cpu1 = cpu_time(me).unwrap_or_default();
    let start = tokio::time::Instant::now();
    let end = start + p.steady;
    let steady_start_unix_ms = unix_ms();
    println!("STEADY {steady_start_unix_ms}");
    let claims_sent = Arc::new(AtomicU64::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    let late = tokio::spawn(lateness(end));
    // New workers join at half the phase, one a second, while the others long-poll.
    {
        let (recorder, url, http, joins, half) = (
            recorder.clone(),
            p.url.clone(),
            groups[0].clone(),
            p.joins,
            p.steady / 2,
        );
        let first_join = p.workers as u64;
        tasks.spawn(async move {
            tokio::time::sleep_until(start + half).await;
            for j in 0..joins as u64 {
                let key = worker_key(first_join + j);
                match login(&http, &url, &key).await {
                    Ok((_, challenge, login)) => recorder
                        .lock()
                        .await
                        .joins
                        .push((unix_ms(), micros(challenge + login))),
                    Err(e) => recorder.lock().await.error("join", e),
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
    }
    for (i, w) in logged.into_iter().enumerate() {
        let w = Arc::new(w);
        let mut rng = Rng(0x5eed_0000 + i as u64);
        let (hb_offset, claim_offset) = (rng.below(p.heartbeat), rng.below(p.claim_wait));
        // Heartbeats.
        {
            let (w, recorder, url, every) =
                (w.clone(), recorder.clone(), p.url.clone(), p.heartbeat);
            tasks.spawn(async move {
                let mut at = start + hb_offset;
                loop {
                    tokio::time::sleep_until(at).await;
                    if tokio::time::Instant::now() >= end {
                        return;
                    }
                    let t = Instant::now();
                    let sent = w
                        .http
                        .post(format!("{url}/v1/heartbeat"))
                        .bearer_auth(&w.token)
                        .timeout(Duration::from_secs(60))
                        .send()
                        .await;
                    let elapsed = t.elapsed();
                    match sent {
                        Ok(r) if r.status().is_success() => {
                            let server = server_us(&r);
                            let _ = r.bytes().await;
                            let mut recorder = recorder.lock().await;
                            recorder.heartbeat.push(micros(elapsed));
                            recorder.heartbeat_server.extend(server);
                        }
                        Ok(r) => recorder
                            .lock()
                            .await
                            .error("heartbeat", format!("status {}", r.status().as_u16())),
                        Err(e) => recorder.lock().await.error("heartbeat", e),
                    }
                    at += every;
                }
            });
        }
        // Long-poll claims until one brings work.
        {
            let (w, recorder, url, wait, claims_sent) = (
                w.clone(),
                recorder.clone(),
                p.url.clone(),
                p.claim_wait,
                claims_sent.clone(),
            );
            tasks.spawn(async move {
                tokio::time::sleep_until(start + claim_offset).await;
                while tokio::time::Instant::now() < end {
                    let t = Instant::now();
                    claims_sent.fetch_add(1, Ordering::Relaxed);
                    let request = w
                        .http
                        .post(format!("{url}/v1/claim?wait={}", wait.as_secs()))
                        .bearer_auth(&w.token)
                        .timeout(wait + Duration::from_secs(60))
                        .send();
                    let sent = tokio::select! {
                        r = request => r,
                        () = tokio::time::sleep_until(end) => return,
                    };
                    let elapsed = t.elapsed();
                    if let Ok(r) = &sent
                        && let Some(server) = server_us(r)
                    {
                        recorder
                            .lock()
                            .await
                            .claims_server
                            .push((unix_ms(), server));
                    }
                    match sent {
                        Ok(r) if r.status() == reqwest::StatusCode::NO_CONTENT => {
                            recorder
                                .lock()
                                .await
                                .claims
                                .push((unix_ms(), micros(elapsed.saturating_sub(wait))));
                        }
                        Ok(r) if r.status().is_success() => {
                            let _ = r.bytes().await;
                            recorder.lock().await.assigned.push(unix_ms());
                            // Busy with its replicate from now on: no more claims.
                            return;
                        }
                        Ok(r) => {
                            recorder
                                .lock()
                                .await
                                .error("claim", format!("status {}", r.status().as_u16()));
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                        Err(e) => {
                            recorder.lock().await.error("claim", e);
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                    }
                }
            });
        }
    }
    while tasks.join_next().await.is_some() {}
    let steady = start.elapsed();
    let cpu_steady = cpu_time(me).unwrap_or_default().saturating_sub(cpu1);
    let r = std::mem::take(&mut *recorder.lock().await);
    let results = ClientResults {
        workers: p.workers,
        login_wall_ms: login_wall.as_millis() as u64,
        challenge_us: r.challenge,
        login_us: r.login,
        heartbeat_us: r.heartbeat,
        heartbeat_server_us: r.heartbeat_server,
        claims: r.claims,
        claims_server: r.claims_server,
        claims_sent: claims_sent.load(Ordering::Relaxed),
        assigned_unix_ms: r.assigned,
        joins: r.joins,
        steady_start_unix_ms,
        errors: r.errors,
        steady_ms: steady.as_millis() as u64,
        cpu_login_ms: cpu_login.as_millis() as u64,
        cpu_steady_ms: cpu_steady.as_millis() as u64,
        client_lateness_us: late.await.unwrap_or_default(),
    };
    println!("RESULT {}", serde_json::to_string(&results)?);
    Ok(())
}
