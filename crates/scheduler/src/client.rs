//! A typed HTTP client of the scheduler's worker API ([`decloud_protocol::pool`]): login by
//! wallet signature, heartbeats, long-polling claims, reports and next actions. It logs in
//! again by itself when its session expires. Built with the `client` feature, which leaves the
//! server (sqlx, axum) out.
//!
//! ```no_run
//! # async fn f(key: alloy::signers::local::PrivateKeySigner) -> Result<(), decloud_scheduler::client::ClientError> {
//! use decloud_scheduler::client::SchedulerClient;
//! let scheduler = SchedulerClient::new("http://127.0.0.1:7800", key, 1)?;
//! scheduler.login().await?;
//! if let Some(work) = scheduler.claim(std::time::Duration::from_secs(25)).await? {
//!     println!("run task {}", work.task_id);
//! }
//! # Ok(()) }
//! ```

use std::time::Duration;

use alloy::primitives::{Address, B256};
use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use decloud_protocol::pool::{
    Assignment, Authorization, Challenge, Heartbeat, Info, JobOutcome, LoginRequest, NextAction,
    NextRequest, Report, Session, TaskAction, Work,
};
use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use tokio::sync::RwLock;

/// What can go wrong talking to a scheduler. Each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The scheduler URL is not an http(s) URL, or the HTTP client cannot be built.
    #[error("{0}")]
    Config(String),
    /// The scheduler could not be reached or answered something unreadable.
    #[error("cannot talk to the scheduler at {url}: {reason}")]
    Unreachable {
        /// The scheduler's base URL.
        url: String,
        /// What failed.
        reason: String,
    },
    /// The scheduler refused a request.
    #[error("the scheduler refused ({status}): {message}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// The scheduler's explanation.
        message: String,
    },
    /// The scheduler asked the worker to slow down (429): ask again after `retry_after`.
    #[error("the scheduler asks to slow down: {message}")]
    Throttled {
        /// How long the scheduler asked to wait (its `Retry-After`, at most a minute).
        retry_after: Duration,
        /// The scheduler's explanation.
        message: String,
    },
    /// The login challenge could not be signed.
    #[error("cannot sign the login challenge: {0}")]
    Signing(#[source] alloy::signers::Error),
}

impl ClientError {
    /// Whether the scheduler said the session is not (or no longer) valid.
    pub fn is_unauthorized(&self) -> bool {
        matches!(self, ClientError::Refused { status: 401, .. })
    }

    /// How long to wait before asking again, when the scheduler said so.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ClientError::Throttled { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }
}

/// Longest `Retry-After` the client honours: a scheduler that asks for more is asked again
/// after this.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// Extra time given to a long poll beyond what it asked the scheduler to wait.
const POLL_MARGIN: Duration = Duration::from_secs(10);
/// Timeout of the short requests.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A worker's connection to its scheduler.
pub struct SchedulerClient {
    http: reqwest::Client,
    url: String,
    signer: PrivateKeySigner,
    capacity: u64,
    tee: decloud_protocol::pool::TeeBackend,
    session: RwLock<Option<Session>>,
}

impl std::fmt::Debug for SchedulerClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SchedulerClient")
            .field("url", &self.url)
            .field("worker", &self.signer.address())
            .finish_non_exhaustive()
    }
}

#[derive(serde::Deserialize)]
struct ErrorBody {
    error: String,
}

impl SchedulerClient {
    /// A client of the scheduler at `url` (a pinned URL, e.g.
    /// `https://10.0.0.5:7800#sha256:9f86...`, or `http://127.0.0.1:7800` on a devnet) for the worker of
    /// `signer`, which runs `capacity` replicates at once.
    pub fn new(url: &str, signer: PrivateKeySigner, capacity: u64) -> Result<Self, ClientError> {
        use decloud_service::transport::{PinnedUrl, http_client};
        let pinned: PinnedUrl = url
            .parse()
            .map_err(|e| ClientError::Config(format!("scheduler URL: {e}")))?;
        let http = http_client(
            &pinned,
            reqwest::Client::builder().connect_timeout(Duration::from_secs(10)),
        )
        .map_err(|e| ClientError::Config(e.to_string()))?;
        Ok(Self {
            http,
            url: pinned.base().to_owned(),
            signer,
            capacity,
            tee: decloud_protocol::pool::TeeBackend::None,
            session: RwLock::new(None),
        })
    }

    /// Announces `tee` as the worker's TEE backend at each login (the scheduler hands TEE
    /// tasks only to workers that announce one).
    pub fn with_tee(mut self, tee: decloud_protocol::pool::TeeBackend) -> Self {
        self.tee = tee;
        self
    }

    /// The scheduler's base URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn unreachable(&self, e: impl std::fmt::Display) -> ClientError {
        ClientError::Unreachable {
            url: self.url.clone(),
            reason: e.to_string(),
        }
    }

    async fn read<T: DeserializeOwned>(
        &self,
        response: reqwest::Response,
    ) -> Result<Option<T>, ClientError> {
        let status = response.status();
        if status == StatusCode::NO_CONTENT {
            return Ok(None);
        }
        if !status.is_success() {
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok());
            let text = response.text().await.unwrap_or_default();
            let message = serde_json::from_str::<ErrorBody>(&text)
                .map(|b| b.error)
                .unwrap_or(text);
            if status == StatusCode::TOO_MANY_REQUESTS {
                return Err(ClientError::Throttled {
                    retry_after: Duration::from_secs(retry_after.unwrap_or(1).max(1))
                        .min(MAX_RETRY_AFTER),
                    message,
                });
            }
            return Err(ClientError::Refused {
                status: status.as_u16(),
                message,
            });
        }
        response
            .json()
            .await
            .map(Some)
            .map_err(|e| self.unreachable(format!("unreadable answer: {e}")))
    }

    /// Sends an unauthenticated short request and reads its answer, which must not be empty
    /// (`empty` says what was missing).
    async fn call<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
        empty: &str,
    ) -> Result<T, ClientError> {
        let response = request
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
            .map_err(|e| self.unreachable(decloud_service::transport::error_chain(&e)))?;
        self.read(response)
            .await?
            .ok_or_else(|| self.unreachable(empty))
    }

    /// What the scheduler is.
    pub async fn info(&self) -> Result<Info, ClientError> {
        let request = self.http.get(format!("{}/v1/info", self.url));
        self.call(request, "empty answer").await
    }

    /// Logs in (signs a fresh challenge) and keeps the session.
    pub async fn login(&self) -> Result<Session, ClientError> {
        let request = self.http.get(format!("{}/v1/login/challenge", self.url));
        let challenge: Challenge = self.call(request, "empty challenge").await?;
        let signature = self
            .signer
            .sign_message_sync(challenge.message.as_bytes())
            .map_err(ClientError::Signing)?;
        let request = LoginRequest {
            worker: self.signer.address(),
            nonce: challenge.nonce,
            deadline: challenge.deadline,
            signature: signature.to_string(),
            capacity: self.capacity,
            tee: self.tee,
        };
        let request = self
            .http
            .post(format!("{}/v1/login", self.url))
            .json(&request);
        let session: Session = self.call(request, "empty session").await?;
        *self.session.write().await = Some(session.clone());
        Ok(session)
    }

    async fn token(&self) -> Result<String, ClientError> {
        if let Some(s) = self.session.read().await.as_ref() {
            return Ok(s.token.clone());
        }
        Ok(self.login().await?.token)
    }

    /// Sends an authenticated request built by `build`, logging in again once if the session
    /// is refused.
    async fn authed<T, F>(&self, build: F) -> Result<Option<T>, ClientError>
    where
        T: DeserializeOwned,
        F: Fn(&reqwest::Client, &str) -> reqwest::RequestBuilder,
    {
        for attempt in 0..2 {
            let token = self.token().await?;
            let response = build(&self.http, &self.url)
                .bearer_auth(&token)
                .send()
                .await
                .map_err(|e| self.unreachable(decloud_service::transport::error_chain(&e)))?;
            match self.read(response).await {
                Err(e) if e.is_unauthorized() && attempt == 0 => {
                    *self.session.write().await = None;
                }
                other => return other,
            }
        }
        unreachable!("the loop returns on its second attempt")
    }

    /// Says the worker is alive.
    pub async fn heartbeat(&self) -> Result<Heartbeat, ClientError> {
        self.authed(|http, url| {
            http.post(format!("{url}/v1/heartbeat"))
                .timeout(REQUEST_TIMEOUT)
        })
        .await?
        .ok_or_else(|| self.unreachable("empty heartbeat answer"))
    }

    /// Waits up to `wait` for a replicate; `None` when none came.
    pub async fn claim(&self, wait: Duration) -> Result<Option<Assignment>, ClientError> {
        self.authed(|http, url| {
            http.post(format!("{url}/v1/claim?wait={}", wait.as_secs()))
                .timeout(wait + POLL_MARGIN)
        })
        .await
    }

    /// Waits up to `wait` for a replicate or a job of the pool's own client API; `None` when
    /// none came.
    pub async fn claim_work(&self, wait: Duration) -> Result<Option<Work>, ClientError> {
        self.authed(|http, url| {
            http.post(format!(
                "{url}/v1/claim?wait={}&pool_jobs=true",
                wait.as_secs()
            ))
            .timeout(wait + POLL_MARGIN)
        })
        .await
    }

    /// Waits up to `wait` for up to `max` replicates (a worker asks for its free slots: the
    /// scheduler assigns them in one commit) or a job of the pool's own client API; empty when
    /// none came. A scheduler that predates `max` answers one, which is read as well.
    pub async fn claim_works(&self, wait: Duration, max: u64) -> Result<Vec<Work>, ClientError> {
        /// The answer with `max` (an array), or without it (one).
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Claimed {
            Many(Vec<Work>),
            One(Work),
        }
        let claimed: Option<Claimed> = self
            .authed(|http, url| {
                http.post(format!(
                    "{url}/v1/claim?wait={}&pool_jobs=true&max={}",
                    wait.as_secs(),
                    max.max(1)
                ))
                .timeout(wait + POLL_MARGIN)
            })
            .await?;
        Ok(match claimed {
            Some(Claimed::Many(works)) => works,
            Some(Claimed::One(work)) => vec![work],
            None => Vec::new(),
        })
    }

    /// Downloads `part` (`app` or `datum`) of the pool job `job` this worker holds, refusing
    /// more than `max_bytes`.
    pub async fn pool_job_file(
        &self,
        job: &str,
        part: &str,
        max_bytes: u64,
    ) -> Result<Vec<u8>, ClientError> {
        let token = self.token().await?;
        let response = self
            .http
            .get(format!("{}/v1/pool/work/{job}/{part}", self.url))
            .bearer_auth(token)
            .timeout(Duration::from_secs(600))
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        if !response.status().is_success() {
            let _: Option<serde_json::Value> = self.read(response).await?;
            return Err(self.unreachable("no content"));
        }
        use decloud_service::transport::{BodyError, read_body_capped};
        read_body_capped(response, max_bytes)
            .await
            .map_err(|e| match e {
                BodyError::TooLarge { .. } => ClientError::Refused {
                    status: 413,
                    message: format!("the job's {part} is over {max_bytes} bytes"),
                },
                BodyError::Transfer(e) => self.unreachable(e),
            })
    }

    /// Ends the pool job `job` this worker holds with its result or its failure.
    pub async fn pool_job_finish(
        &self,
        job: &str,
        outcome: &JobOutcome,
    ) -> Result<(), ClientError> {
        let _: Option<serde_json::Value> = self
            .authed(|http, url| {
                http.post(format!("{url}/v1/pool/work/{job}/result"))
                    .timeout(Duration::from_secs(600))
                    .json(outcome)
            })
            .await?;
        Ok(())
    }

    /// The replicates the scheduler says this worker holds (assigned, not contributed).
    pub async fn replicates(&self) -> Result<Vec<Assignment>, ClientError> {
        Ok(self
            .authed(|http, url| {
                http.get(format!("{url}/v1/replicates"))
                    .timeout(REQUEST_TIMEOUT)
            })
            .await?
            .unwrap_or_default())
    }

    /// Reports on a replicate.
    pub async fn report(&self, task_id: B256, report: &Report) -> Result<(), ClientError> {
        let _: Option<serde_json::Value> = self
            .authed(|http, url| {
                http.post(format!("{url}/v1/tasks/{task_id}/report"))
                    .timeout(REQUEST_TIMEOUT)
                    .json(report)
            })
            .await?;
        Ok(())
    }

    /// The authorization of this worker's TEE replicate of `task_id` bound to the enclave key
    /// `enclave` (fixed at the first call: another enclave is refused with 409).
    pub async fn enclave_authorization(
        &self,
        task_id: B256,
        enclave: Address,
    ) -> Result<Authorization, ClientError> {
        self.authed(|http, url| {
            http.post(format!("{url}/v1/tasks/{task_id}/enclave"))
                .timeout(REQUEST_TIMEOUT)
                .json(&serde_json::json!({ "enclave": enclave }))
        })
        .await?
        .ok_or_else(|| self.unreachable("the scheduler answered no authorization"))
    }

    /// Waits up to `wait` for what to do next with a contributed replicate.
    pub async fn next(&self, task_id: B256, wait: Duration) -> Result<NextAction, ClientError> {
        Ok(self
            .authed(|http, url| {
                http.get(format!(
                    "{url}/v1/tasks/{task_id}/next?wait={}",
                    wait.as_secs()
                ))
                .timeout(wait + POLL_MARGIN)
            })
            .await?
            .unwrap_or(NextAction::Wait))
    }

    /// Waits up to `wait` for what to do next with any of several contributed replicates: the
    /// actions of those that have something to do (none when the wait ran out).
    pub async fn next_many(
        &self,
        tasks: &[B256],
        wait: Duration,
    ) -> Result<Vec<TaskAction>, ClientError> {
        let request = NextRequest {
            tasks: tasks.to_vec(),
        };
        Ok(self
            .authed(|http, url| {
                http.post(format!("{url}/v1/next?wait={}", wait.as_secs()))
                    .timeout(wait + POLL_MARGIN)
                    .json(&request)
            })
            .await?
            .unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::*;

    /// A server that answers one request with `response` (raw HTTP/1.1), on a thread.
    fn answer_once(response: &'static str) -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            stream.write_all(response.as_bytes()).unwrap();
        });
        url
    }

    #[tokio::test]
    async fn a_429_is_a_request_to_wait_as_long_as_retry_after_says() {
        let body = r#"{"error":"too many claims: try again in 7 s"}"#;
        let response: &'static str = Box::leak(
            format!(
                "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 7\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
            .into_boxed_str(),
        );
        let client =
            SchedulerClient::new(&answer_once(response), PrivateKeySigner::random(), 1).unwrap();
        let e = client.info().await.unwrap_err();
        assert_eq!(e.retry_after(), Some(Duration::from_secs(7)), "{e}");
        assert!(e.to_string().contains("too many claims"), "{e}");

        let forever = "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 86400\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        let client =
            SchedulerClient::new(&answer_once(forever), PrivateKeySigner::random(), 1).unwrap();
        let e = client.info().await.unwrap_err();
        assert_eq!(e.retry_after(), Some(MAX_RETRY_AFTER), "capped: {e}");
        let refused = "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        let client =
            SchedulerClient::new(&answer_once(refused), PrivateKeySigner::random(), 1).unwrap();
        assert_eq!(client.info().await.unwrap_err().retry_after(), None);
    }
}
