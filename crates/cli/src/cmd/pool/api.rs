//! The HTTP client of the pool API on one scheduler: requests with the session's bearer token,
//! and the pool's refusals turned into errors.

use anyhow::{Context, bail};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::cmd::shared::Untrusted;

/// The pool API of one scheduler, with a session or not.
pub(super) struct Api {
    pub(super) http: reqwest::Client,
    pub(super) url: String,
    pub(super) token: Option<String>,
}

#[derive(serde::Deserialize)]
struct ErrorBody {
    error: String,
}

impl Api {
    pub(super) fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let request = self.http.request(method, format!("{}{path}", self.url));
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    pub(super) async fn bytes(&self, request: reqwest::RequestBuilder) -> anyhow::Result<Vec<u8>> {
        let response = request.send().await.map_err(|e| {
            anyhow::anyhow!(
                "cannot reach the scheduler at {}: {}",
                self.url,
                decloud_service::transport::error_chain(&e.without_url())
            )
        })?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .context("reading the scheduler's answer")?;
        if !status.is_success() {
            let message = serde_json::from_slice::<ErrorBody>(&body)
                .map(|b| b.error)
                .unwrap_or_else(|_| String::from_utf8_lossy(&body).into_owned());
            bail!(
                "the pool refused ({}): {}",
                status.as_u16(),
                Untrusted(message)
            );
        }
        Ok(body.to_vec())
    }

    pub(super) async fn json<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> anyhow::Result<T> {
        let body = self.bytes(request).await?;
        serde_json::from_slice(&body)
            .context("the scheduler's answer is not what the pool API sends")
    }

    pub(super) async fn get<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        self.json(self.request(reqwest::Method::GET, path)).await
    }

    pub(super) async fn post<T: DeserializeOwned, B: Serialize>(
        &self,
        path: &str,
        body: &B,
    ) -> anyhow::Result<T> {
        self.json(self.request(reqwest::Method::POST, path).json(body))
            .await
    }
}
