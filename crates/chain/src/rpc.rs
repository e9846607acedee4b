//! The JSON-RPC transport every provider of this crate uses: HTTP with retries of what an RPC
//! provider's limits and hiccups make fail (rate limits, busy or restarting gateways), and a
//! count of the calls made (for the figures of RPC calls per task).
//!
//! Retried: HTTP 429, 502, 503, 504 and 408 (waiting what `Retry-After` asks when it is given),
//! and the JSON-RPC errors providers answer a rate limit with (`-32005`, `429`, `-32016`, ...,
//! and a "try again in" hint). The wait doubles from [`BASE_DELAY`] up to [`MAX_DELAY`], with
//! jitter, so that many clients rate-limited together do not come back together. Not retried:
//! a refused connection (the endpoint is down: callers say so at once), a revert, and a log
//! query over a range the provider caps ([`is_range_error`]: the follower splits the range).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use alloy::rpc::json_rpc::{ErrorPayload, RequestPacket, ResponsePacket};
use alloy::transports::layers::{RateLimitRetryPolicy, RetryPolicy};
use alloy::transports::{TransportError, TransportErrorKind, TransportFut};
use tower::{Layer, Service};

/// The first wait before a retry; later ones double.
pub const BASE_DELAY: Duration = Duration::from_millis(250);

/// The longest wait between two attempts (a `Retry-After` may ask for more, up to
/// [`MAX_RETRY_AFTER`]).
pub const MAX_DELAY: Duration = Duration::from_secs(10);

/// The longest `Retry-After` honoured: a provider asking for more is retried after this.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// How many JSON-RPC calls (by method) and HTTP requests a transport made, shared by the clones
/// of a provider.
#[derive(Clone, Debug, Default)]
pub struct RpcStats(Arc<Mutex<StatsInner>>);

#[derive(Debug, Default)]
struct StatsInner {
    methods: BTreeMap<String, u64>,
    requests: u64,
    retries: u64,
}

/// A snapshot of [`RpcStats`].
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct RpcCounts {
    /// Calls by method (each member of a batch counts).
    pub methods: BTreeMap<String, u64>,
    /// HTTP requests sent (a batch is one), retries included.
    pub requests: u64,
    /// Requests sent again after a rate limit or a transient failure.
    pub retries: u64,
}

impl RpcCounts {
    /// Every call made.
    pub fn calls(&self) -> u64 {
        self.methods.values().sum()
    }

    /// The calls of `method`.
    pub fn of(&self, method: &str) -> u64 {
        self.methods.get(method).copied().unwrap_or(0)
    }

    /// What was made since `before`.
    pub fn since(&self, before: &RpcCounts) -> RpcCounts {
        RpcCounts {
            methods: self
                .methods
                .iter()
                .map(|(m, n)| (m.clone(), n - before.of(m)))
                .filter(|(_, n)| *n > 0)
                .collect(),
            requests: self.requests - before.requests,
            retries: self.retries - before.retries,
        }
    }
}

impl RpcStats {
    /// The counts so far.
    pub fn snapshot(&self) -> RpcCounts {
        let inner = self.0.lock().unwrap_or_else(|e| e.into_inner());
        RpcCounts {
            methods: inner.methods.clone(),
            requests: inner.requests,
            retries: inner.retries,
        }
    }

    fn record(&self, request: &RequestPacket, retry: bool) {
        let mut inner = self.0.lock().unwrap_or_else(|e| e.into_inner());
        inner.requests += 1;
        if retry {
            inner.retries += 1;
        }
        for method in request.method_names() {
            *inner.methods.entry(method.to_owned()).or_default() += 1;
        }
    }
}

/// The tower layer that retries and counts (see the module's doc).
#[derive(Clone, Debug)]
pub struct RetryLayer {
    max_retries: u32,
    stats: RpcStats,
}

impl RetryLayer {
    /// Retries a failed request at most `max_retries` times, counting into `stats`.
    pub fn new(max_retries: u32, stats: RpcStats) -> Self {
        Self { max_retries, stats }
    }
}

impl<S> Layer<S> for RetryLayer {
    type Service = RetryService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RetryService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service of [`RetryLayer`].
#[derive(Clone, Debug)]
pub struct RetryService<S> {
    inner: S,
    layer: RetryLayer,
}

impl<S> Service<RequestPacket> for RetryService<S>
where
    S: Service<RequestPacket, Future = TransportFut<'static>, Error = TransportError>
        + Send
        + Clone
        + 'static,
{
    type Response = ResponsePacket;
    type Error = TransportError;
    type Future = TransportFut<'static>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: RequestPacket) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let layer = self.layer.clone();
        Box::pin(async move {
            let mut attempt = 0u32;
            loop {
                layer.stats.record(&request, attempt > 0);
                let result = inner.call(request.clone()).await;
                let verdict = match &result {
                    Ok(response) => response.as_error().map(classify_payload),
                    Err(e) => Some(classify_error(e)),
                };
                let Some(Verdict::Retry(hint)) = verdict else {
                    return result;
                };
                attempt += 1;
                if attempt > layer.max_retries {
                    tracing::warn!(
                        methods = ?request.method_names().collect::<Vec<_>>(),
                        retries = layer.max_retries,
                        "the RPC endpoint still refuses after every retry"
                    );
                    return result;
                }
                let wait = hint
                    .map(|h| h.min(MAX_RETRY_AFTER))
                    .unwrap_or_else(|| backoff(attempt));
                tracing::debug!(
                    attempt,
                    wait_ms = wait.as_millis() as u64,
                    "RPC rate limit or transient failure: retrying"
                );
                tokio::time::sleep(wait).await;
            }
        })
    }
}

/// Whether to send a request again, and after how long the endpoint asked.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Retry(Option<Duration>),
    Stop,
}

fn classify_payload(payload: &ErrorPayload) -> Verdict {
    if is_range_error(&payload.message) {
        return Verdict::Stop;
    }
    let error = TransportError::ErrorResp(payload.clone());
    if RateLimitRetryPolicy::default().should_retry(&error) {
        Verdict::Retry(RateLimitRetryPolicy::default().backoff_hint(&error))
    } else {
        Verdict::Stop
    }
}

fn classify_error(error: &TransportError) -> Verdict {
    match error {
        TransportError::ErrorResp(payload) => classify_payload(payload),
        TransportError::Transport(kind) => match kind {
            TransportErrorKind::HttpError(_)
            | TransportErrorKind::HttpErrorWithRetryAfter { .. } => {
                let transient = kind
                    .as_http_error()
                    .is_some_and(|h| matches!(h.status, 408 | 429 | 502 | 503 | 504));
                if transient
                    && !is_range_error(
                        &kind
                            .as_http_error()
                            .map(|h| h.body.clone())
                            .unwrap_or_default(),
                    )
                {
                    Verdict::Retry(kind.retry_after())
                } else {
                    Verdict::Stop
                }
            }
            TransportErrorKind::MissingBatchResponse(_) => Verdict::Retry(None),
            _ => Verdict::Stop,
        },
        _ => Verdict::Stop,
    }
}

/// The wait before retry number `attempt` (from 1): doubling from [`BASE_DELAY`], capped at
/// [`MAX_DELAY`], then a random part of it ("equal jitter": between half and all of it).
fn backoff(attempt: u32) -> Duration {
    use rand_08::Rng as _;
    let full = BASE_DELAY
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
        .min(MAX_DELAY);
    let half = full / 2;
    half + half.mul_f64(rand_08::thread_rng().gen_range(0.0..=1.0))
}

/// Whether an error message says a log query covered more blocks (or found more logs) than the
/// provider serves at once. Providers word it differently: "block range is too wide",
/// "exceed maximum block range: 5000", "query returned more than 10000 results",
/// "Log response size exceeded", "eth_getLogs is limited to a 10,000 range".
pub fn is_range_error(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("block range")
        || m.contains("blocks range")
        || m.contains("range is too")
        || m.contains("range too")
        || m.contains("too many blocks")
        || m.contains("more than") && m.contains("results")
        || m.contains("response size")
        || m.contains("limited to") && m.contains("range")
        || m.contains("max range")
        || m.contains("range limit")
}

/// The range a provider's refusal of `requested` blocks says it serves, when it says (e.g.
/// "Try with this block range [0x10, 0x1f]", "exceed maximum block range: 5000", "up to a 2K
/// block range"); else half of `requested`. `None` when `requested` is one block already or the
/// message is not a range refusal.
pub fn smaller_range(message: &str, requested: u64) -> Option<u64> {
    if requested <= 1 || !is_range_error(message) {
        return None;
    }
    if let Some(hinted) = hinted_range(message).filter(|r| (1..requested).contains(r)) {
        return Some(hinted);
    }
    let numbers = numbers_in(message);
    let learnt = numbers
        .into_iter()
        .filter(|n| (1..requested).contains(n))
        .filter(|n| {
            // A count of results is not a number of blocks.
            let m = message.to_ascii_lowercase();
            !(m.contains(&format!("{n} results")) || m.contains(&format!("{n} logs")))
        })
        .max();
    Some(learnt.unwrap_or(requested / 2).max(1))
}

/// `[0xA, 0xB]` in "Try with this block range [0xA, 0xB]" as B - A + 1.
fn hinted_range(message: &str) -> Option<u64> {
    let start = message.find('[')?;
    let end = start + message[start..].find(']')?;
    let (a, b) = message[start + 1..end].split_once(',')?;
    let parse = |s: &str| {
        let s = s.trim();
        match s.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16).ok(),
            None => s.parse().ok(),
        }
    };
    let (a, b) = (parse(a)?, parse(b)?);
    (b >= a).then(|| b - a + 1)
}

/// The decimal numbers in `message`, reading `10,000` as 10000 and `2K` as 2000.
fn numbers_in(message: &str) -> Vec<u64> {
    let mut numbers = Vec::new();
    let chars: Vec<char> = message.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_ascii_digit() && (i == 0 || !chars[i - 1].is_ascii_alphanumeric()) {
            let mut digits = String::new();
            while i < chars.len()
                && (chars[i].is_ascii_digit()
                    || chars[i] == ',' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
            {
                if chars[i] != ',' {
                    digits.push(chars[i]);
                }
                i += 1;
            }
            if chars.get(i) == Some(&'x') {
                // A hex number: not a range.
                while i < chars.len() && chars[i].is_ascii_alphanumeric() {
                    i += 1;
                }
                continue;
            }
            let mut n: u64 = digits.parse().unwrap_or(0);
            if matches!(chars.get(i), Some('k' | 'K'))
                && !chars.get(i + 1).is_some_and(char::is_ascii_alphanumeric)
            {
                n = n.saturating_mul(1000);
            }
            numbers.push(n);
        } else {
            i += 1;
        }
    }
    numbers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_refusals_of_known_providers_give_the_range_they_serve() {
        for (message, requested, expected) in [
            ("exceed maximum block range: 5000", 10_000, Some(5_000)),
            (
                "query returned more than 10000 results. Try with this block range [0x10, 0x1f].",
                2_000,
                Some(16),
            ),
            (
                "Log response size exceeded. You can make eth_getLogs requests with up to a 2K block range and no limit on the response size",
                10_000,
                Some(2_000),
            ),
            (
                "eth_getLogs is limited to a 10,000 range",
                50_000,
                Some(10_000),
            ),
            ("block range is too wide", 2_000, Some(1_000)),
            ("query returned more than 10000 results", 2_000, Some(1_000)),
            ("block range is too wide", 1, None),
            ("execution reverted", 2_000, None),
            ("header not found", 2_000, None),
        ] {
            assert_eq!(smaller_range(message, requested), expected, "{message}");
        }
    }

    #[test]
    fn the_backoff_doubles_with_jitter_and_is_capped() {
        for attempt in 1..40 {
            let full = BASE_DELAY
                .saturating_mul(1u32 << (attempt - 1).min(16))
                .min(MAX_DELAY);
            let wait = backoff(attempt);
            assert!(wait >= full / 2 && wait <= full, "{attempt}: {wait:?}");
        }
        assert!(backoff(30) <= MAX_DELAY);
    }

    #[test]
    fn rate_limits_are_retried_and_range_refusals_are_not() {
        let payload = |code: i64, message: &str| ErrorPayload {
            code,
            message: message.to_owned().into(),
            data: None,
        };
        assert!(matches!(
            classify_payload(&payload(-32005, "request rate exceeded")),
            Verdict::Retry(_)
        ));
        assert_eq!(
            classify_payload(&payload(-32005, "query returned more than 10000 results")),
            Verdict::Stop
        );
        assert_eq!(
            classify_payload(&payload(3, "execution reverted")),
            Verdict::Stop
        );
        let limited = TransportErrorKind::http_error_with_retry_after(
            429,
            "slow down".into(),
            Some(Duration::from_secs(2)),
        );
        assert_eq!(
            classify_error(&limited),
            Verdict::Retry(Some(Duration::from_secs(2)))
        );
        let gone = TransportErrorKind::http_error(404, "no such path".into());
        assert_eq!(classify_error(&gone), Verdict::Stop);
    }
}
