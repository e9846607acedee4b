//! The storage node's HTTP API (`decloud node --storage`), so that workers on other machines can
//! fetch apps and datasets and upload results:
//!
//! | method | path | answer |
//! |---|---|---|
//! | `GET` | `/health` | `200 ok` |
//! | `GET` | `/openapi.json` | this API described in OpenAPI 3 |
//! | `GET` / `HEAD` | `/blobs/<sha256>` | `200` with the bytes / the size; `404` if absent |
//! | `PUT` | `/blobs/<sha256>` | `201` stored (`200` if already there); `400` if the body does not hash to the name; `413` if over the upload limit; `408` if the body stalls |
//! | `POST` | `/blobs` | `201` `{"sha256": "...", "size": n}`; `413`, `408` as for `PUT` |
//!
//! Writes (`PUT`, `POST`) from a web page of another origin are refused with `403`.
//!
//! The `GET`/`HEAD`/`PUT` layout is what object_store's HTTP backend speaks, so
//! `BlobStore::from_url("http://host:port/blobs")` is the client.
//!
//! Blobs stream both ways: a download is read from the store as the client takes it, an upload
//! is written in parts as it arrives, so a request holds a few MiB whatever the blob's size
//! ([`BlobStore::get_stream`], [`BlobStore::put_stream`]). An upload over the limit is refused
//! from its `Content-Length` before the body is read, and in any case as soon as it passes the
//! limit; it is hashed on the way and a blob is stored only once its hash is checked (the parts
//! of a refused one are deleted). A blob of up to 4 MiB is checked before the answer starts (a
//! damaged one is a `400` that says so); a larger one's last bytes are sent only once the whole
//! blob checked: a damaged copy is cut short, never delivered whole. The connection limits (header,
//! body and send timeouts) and the refusal of cross-origin writes are `decloud-service`'s.

use crate::{BlobStore, ContentHash, StorageError};
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::BytesMut;
use decloud_service::{Limits, Service};
use futures::{StreamExt, TryStreamExt};
use std::net::SocketAddr;

/// Blobs up to this size are read and checked before the answer starts (a damaged one is a
/// `400` naming both hashes); larger ones stream, their last chunk held back until they check.
const CHECKED_BEFORE_ANSWER: u64 = 4 << 20;

/// Settings of the storage server.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// The largest upload accepted, in bytes.
    pub max_upload_bytes: u64,
    /// The largest blob served, in bytes.
    pub max_download_bytes: u64,
    /// The connection limits: header, body and send timeouts.
    pub limits: Limits,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_upload_bytes: 256 << 20,
            max_download_bytes: crate::DEFAULT_MAX_BLOB_BYTES,
            limits: Limits::default(),
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
            StorageError::HashMismatch { .. } | StorageError::UploadBroken(_) => {
                StatusCode::BAD_REQUEST
            }
            StorageError::UploadStalled => StatusCode::REQUEST_TIMEOUT,
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
    let store = store.with_max_blob_bytes(config.max_upload_bytes);
    Router::new()
        .route("/health", get(|| async { "ok\n" }))
        .route("/openapi.json", get(openapi))
        .route("/blobs", post(post_blob))
        .route("/blobs/{hash}", get(get_blob).head(head_blob).put(put_blob))
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
    let limits = config.limits;
    let service = Service::serve_with(listen, router(store, config), limits).await?;
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
    /// TLS with the node's key, or plain HTTP (devnets only: whoever starts the node checks).
    pub transport: decloud_service::transport::Transport,
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

    /// Where its blobs are reachable, with the fingerprint of the node's key:
    /// `https://addr/blobs#sha256:9f86...` (`http://addr/blobs` over plain HTTP), a location
    /// for [`BlobStore::from_url`].
    pub fn url(&self) -> String {
        self.service.pinned_url().with_path("/blobs").to_string()
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
    let limits = config.server.limits;
    let service = Service::serve_on(
        config.listen,
        router(store, config.server),
        limits,
        &config.transport,
    )
    .await
    .map_err(|source| StorageError::Listen {
        addr: config.listen,
        source,
    })?;
    tracing::info!(url = %service.pinned_url(), location = %config.location, "storage node listening");
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
    // The server checks the hash too: it never serves a tampered copy whole.
    let (size, bytes) = s.store.get_stream(&id, s.config.max_download_bytes).await?;
    let body = if size <= CHECKED_BEFORE_ANSWER {
        // Small enough to check before answering, so that a damaged copy gets an error that
        // says so (a download cut short cannot say why).
        let whole = bytes
            .try_fold(BytesMut::new(), |mut whole, chunk| async move {
                whole.extend_from_slice(&chunk);
                Ok(whole)
            })
            .await?;
        Body::from(whole.freeze())
    } else {
        Body::from_stream(bytes)
    };
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            // Announced, so that a download cut short by a failed check is seen as incomplete.
            (header::CONTENT_LENGTH, size.to_string()),
        ],
        body,
    )
        .into_response())
}

/// The request body as the store takes it: a stall is [`StorageError::UploadStalled`], any
/// other failure [`StorageError::UploadBroken`].
fn upload(body: Body) -> impl futures::Stream<Item = Result<axum::body::Bytes, StorageError>> {
    body.into_data_stream().map(|chunk| {
        chunk.map_err(|e| {
            if decloud_service::is_body_timeout(&e) {
                StorageError::UploadStalled
            } else {
                StorageError::UploadBroken(e.to_string())
            }
        })
    })
}

async fn put_blob(
    State(s): State<AppState>,
    Path(hash): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let id = parse(&hash)?;
    if let Some(e) = too_large(&headers, s.config.max_upload_bytes) {
        return Err(e);
    }
    let existed = s.store.contains(&id).await?;
    s.store.put_stream(Some(&id), upload(body)).await?;
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
    body: Body,
) -> Result<Response, ApiError> {
    if let Some(e) = too_large(&headers, s.config.max_upload_bytes) {
        return Err(e);
    }
    let (id, size) = s.store.put_stream(None, upload(body)).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(serde_json::json!({ "sha256": id, "size": size })),
    )
        .into_response())
}
