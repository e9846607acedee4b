//! The storage node's HTTP API (`decloud node --storage`), so that workers on other machines can
//! fetch apps and datasets and upload results:
//!
//! | method | path | answer |
//! |---|---|---|
//! | `GET` | `/health` | `200 ok` |
//! | `GET` | `/openapi.json` | this API described in OpenAPI 3 |
//! | `GET` / `HEAD` | `/blobs/<sha256>` | `200` with the bytes / the size; `404` if absent |
//! | `PUT` | `/blobs/<sha256>` | `201` stored (`200` if already there); `400` if the body does not hash to the name; `413` if over the upload limit |
//! | `POST` | `/blobs` | `201` `{"sha256": "...", "size": n}` |
//!
//! The `GET`/`HEAD`/`PUT` layout is what object_store's HTTP backend speaks, so
//! `BlobStore::from_url("http://host:port/blobs")` is the client. An upload over the limit is
//! refused from its `Content-Length` before the body is read, and in any case before anything is
//! stored; a blob is stored only once its hash is checked.

use crate::{BlobStore, ContentHash, StorageError};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use decloud_service::Service;
use std::net::SocketAddr;

/// Settings of the storage server.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// The largest upload accepted, in bytes.
    pub max_upload_bytes: u64,
    /// The largest blob served, in bytes.
    pub max_download_bytes: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_upload_bytes: 256 << 20,
            max_download_bytes: crate::DEFAULT_MAX_BLOB_BYTES,
        }
    }
}

#[derive(Clone)]
struct AppState {
    store: BlobStore,
    config: ServerConfig,
}

struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.0,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            self.1 + "\n",
        )
            .into_response()
    }
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        let status = match &e {
            StorageError::NotFound(_) | StorageError::NotFoundAt(_) => StatusCode::NOT_FOUND,
            StorageError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            StorageError::HashMismatch { .. } => StatusCode::BAD_REQUEST,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError(status, e.to_string())
    }
}

fn parse(hash: &str) -> Result<ContentHash, ApiError> {
    hash.parse()
        .map_err(|e: crate::ParseHashError| ApiError(StatusCode::BAD_REQUEST, e.to_string()))
}

/// The server's routes over `store`.
pub fn router(store: BlobStore, config: ServerConfig) -> Router {
    let limit = usize::try_from(config.max_upload_bytes).unwrap_or(usize::MAX);
    let store = store.with_max_blob_bytes(config.max_upload_bytes);
    Router::new()
        .route("/health", get(|| async { "ok\n" }))
        .route("/openapi.json", get(openapi))
        .route("/blobs", post(post_blob))
        .route("/blobs/{hash}", get(get_blob).head(head_blob).put(put_blob))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(AppState { store, config })
}

/// Serves `store` on `listen` until the process ends (or the future is dropped). Binds first and
/// reports the bound address through `on_bound` (useful with port 0).
pub async fn serve(
    store: BlobStore,
    config: ServerConfig,
    listen: SocketAddr,
    on_bound: impl FnOnce(SocketAddr),
) -> std::io::Result<()> {
    let service = Service::serve(listen, router(store, config)).await?;
    on_bound(service.addr());
    service.wait().await
}

/// How to run a storage node: what it serves, where it listens, its limits.
#[derive(Clone, Debug)]
pub struct StorageConfig {
    /// The blob store served: a directory, `file:///dir`, `s3://bucket/prefix` or another node.
    pub location: String,
    /// Address to listen on (port 0 picks a free one).
    pub listen: SocketAddr,
    /// Upload and download limits.
    pub server: ServerConfig,
}

/// A storage node serving in this process. Dropping it stops the server: the listener closes
/// and open connections end once their request is answered.
pub struct RunningStorage {
    service: Service,
}

impl RunningStorage {
    /// Where the server listens.
    pub fn addr(&self) -> SocketAddr {
        self.service.addr()
    }

    /// Where its blobs are reachable: `http://addr/blobs`, a location for
    /// [`BlobStore::from_url`].
    pub fn url(&self) -> String {
        format!("{}/blobs", self.service.url())
    }

    /// Stops the server and waits until it is gone.
    pub async fn stop(self) {
        self.service.stop().await;
    }

    /// Waits until the server stops (it runs until the process ends or this value is dropped).
    pub async fn wait(self) -> std::io::Result<()> {
        self.service.wait().await
    }
}

/// Opens the store, binds the listener and starts serving.
pub async fn start(config: StorageConfig) -> Result<RunningStorage, StorageError> {
    let store = BlobStore::from_url(&config.location)?;
    let service = Service::serve(config.listen, router(store, config.server))
        .await
        .map_err(|source| StorageError::Listen {
            addr: config.listen,
            source,
        })?;
    tracing::info!(addr = %service.addr(), location = %config.location, "storage node listening");
    Ok(RunningStorage { service })
}

async fn openapi() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        include_str!("openapi.json"),
    )
}

fn too_large(headers: &HeaderMap, limit: u64) -> Option<ApiError> {
    let len = headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse::<u64>()
        .ok()?;
    (len > limit).then(|| {
        ApiError(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("upload of {len} bytes refused: the limit of this node is {limit} bytes"),
        )
    })
}

async fn head_blob(
    State(s): State<AppState>,
    Path(hash): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse(&hash)?;
    let size = s.store.size(&id).await?;
    Ok(([(header::CONTENT_LENGTH, size.to_string())], ()).into_response())
}

async fn get_blob(
    State(s): State<AppState>,
    Path(hash): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse(&hash)?;
    // The server checks the hash too: it never serves a tampered copy.
    let bytes = s.store.get(&id, s.config.max_download_bytes).await?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response())
}

async fn put_blob(
    State(s): State<AppState>,
    Path(hash): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, ApiError> {
    let id = parse(&hash)?;
    if let Some(e) = too_large(&headers, s.config.max_upload_bytes) {
        return Err(e);
    }
    let body = body.map_err(|r| ApiError(r.status(), r.body_text()))?;
    let existed = s.store.contains(&id).await?;
    s.store.put_as(&id, body).await?;
    Ok(if existed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    }
    .into_response())
}

async fn post_blob(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, ApiError> {
    if let Some(e) = too_large(&headers, s.config.max_upload_bytes) {
        return Err(e);
    }
    let body = body.map_err(|r| ApiError(r.status(), r.body_text()))?;
    let size = body.len();
    let id = s.store.put(body).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(serde_json::json!({ "sha256": id, "size": size })),
    )
        .into_response())
}
