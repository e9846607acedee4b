//! The off-chain trace: each workerpool's scheduler answers `GET /v1/info` (which workerpool it
//! schedules) and `GET /v1/tasks/{id}` (every replicate's stage, worker and failure reason).
//! The puller asks it for the tasks with new events and the unfinished ones, stores what
//! changed, and announces it to the pages showing those tasks.
//!
//! What a scheduler says is its own word: it is shown as the off-chain trace beside the chain's
//! events, never mixed with them, and every text it sends is escaped before a page shows it.

use std::collections::BTreeMap;
use std::time::Duration;

use decloud_protocol::pool::{Info, TaskReport};
use tokio::sync::broadcast;

use crate::store::{ReplicateRow, addr, hash};
use crate::{ExplorerError, Store, Update};

/// Longest a scheduler may take to answer.
const TIMEOUT: Duration = Duration::from_secs(3);
/// Most tasks asked of one scheduler per pass.
const TASKS_PER_PASS: u64 = 100;
/// Longest failure reason kept from a scheduler.
const MAX_REASON_CHARS: usize = 1000;

/// The URL without its pin and an HTTP client of the explorer's outgoing calls to the service
/// at `url` (a scheduler, the market): pinned to its key when the URL names one.
pub fn http_client(url: &str) -> Result<(String, reqwest::Client), ExplorerError> {
    let pinned: decloud_service::transport::PinnedUrl =
        url.parse()
            .map_err(|e: decloud_service::transport::TransportError| {
                ExplorerError::BadRequest(e.to_string())
            })?;
    let builder = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none());
    let client = decloud_service::transport::http_client(&pinned, builder)
        .map_err(|e| ExplorerError::BadRequest(e.to_string()))?;
    Ok((pinned.base().to_owned(), client))
}

/// The schedulers the explorer knows, and which workerpool each schedules once it answered.
#[derive(Debug)]
pub struct Schedulers {
    /// Each scheduler's URL (without its pin) and a client pinned to its key.
    clients: BTreeMap<String, reqwest::Client>,
    pools: BTreeMap<String, String>,
}

impl Schedulers {
    /// Schedulers at these URLs (asked which pool they schedule on the first pass).
    pub fn new(urls: Vec<String>) -> Result<Self, ExplorerError> {
        let clients = urls
            .iter()
            .map(|url| {
                http_client(url)
                    .map_err(|e| ExplorerError::BadRequest(format!("scheduler URL {url:?}: {e}")))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            clients,
            pools: BTreeMap::new(),
        })
    }

    /// Asks the schedulers not yet known which workerpool they schedule.
    async fn discover(&mut self) {
        for (url, http) in &self.clients {
            if self.pools.values().any(|u| u == url) {
                continue;
            }
            let info = async {
                http.get(format!("{url}/v1/info"))
                    .send()
                    .await?
                    .error_for_status()?
                    .json::<Info>()
                    .await
            };
            match info.await {
                Ok(info) => {
                    tracing::info!(url, workerpool = %info.workerpool, "scheduler found");
                    self.pools.insert(addr(info.workerpool), url.clone());
                }
                Err(e) => tracing::debug!(url, error = %e, "scheduler not answering yet"),
            }
        }
    }

    /// One pass: pulls the trace of every task that may have moved; returns the tasks whose
    /// trace changed.
    pub async fn pull(&mut self, store: &Store, now: u64) -> Result<Vec<String>, ExplorerError> {
        self.discover().await;
        let mut changed = Vec::new();
        for (pool, url) in &self.pools {
            for (task, status) in store.tasks_to_trace(pool, TASKS_PER_PASS).await? {
                let report = match self.task(url, &task).await {
                    Ok(Some(report)) => report,
                    Ok(None) => continue,
                    Err(e) => {
                        tracing::debug!(url, error = %e, "scheduler did not answer");
                        break;
                    }
                };
                let rows: Vec<ReplicateRow> = report
                    .replicates
                    .iter()
                    .filter(|r| hash(r.task_id) == task)
                    .map(|r| ReplicateRow {
                        task_id: task.clone(),
                        worker: addr(r.worker),
                        status: r.status.to_string(),
                        reason: r
                            .reason
                            .as_ref()
                            .map(|s| s.chars().take(MAX_REASON_CHARS).collect()),
                        results_location: r
                            .results_location
                            .as_ref()
                            .map(|s| s.chars().take(MAX_REASON_CHARS).collect()),
                        result_hash: r.result_hash.map(hash),
                        weight: r.weight,
                        assigned_at: r.assigned_at,
                        updated_at: r.updated_at,
                        stages: r.stages,
                    })
                    .collect();
                let finished = matches!(status.as_str(), "COMPLETED" | "FAILED");
                if store.store_trace(&task, &rows, finished, now).await? {
                    changed.push(task);
                }
            }
        }
        Ok(changed)
    }

    async fn task(&self, url: &str, task: &str) -> Result<Option<TaskReport>, reqwest::Error> {
        let Some(http) = self.clients.get(url) else {
            return Ok(None);
        };
        let response = http.get(format!("{url}/v1/tasks/{task}")).send().await?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        response.error_for_status()?.json().await.map(Some)
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// Pulls the trace every `interval` forever; errors are logged and retried.
pub async fn run(
    store: Store,
    mut schedulers: Schedulers,
    updates: broadcast::Sender<Update>,
    interval: Duration,
) {
    loop {
        match schedulers.pull(&store, unix_now()).await {
            Ok(changed) if !changed.is_empty() => {
                let summary = changed
                    .iter()
                    .take(5)
                    .map(|t| format!("task {}… off-chain trace", &t[..10.min(t.len())]))
                    .collect();
                let _ = updates.send(Update {
                    block: 0,
                    ids: changed,
                    summary,
                });
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "explorer trace pass failed; retrying"),
        }
        tokio::time::sleep(interval).await;
    }
}
