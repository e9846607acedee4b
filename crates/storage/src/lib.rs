//! Content-addressed blobs (docs/design.md#storage): a blob is named by its sha256, checked on
//! every read, with its size checked before it is downloaded. Local directory by default; S3 and
//! plain HTTP (including another node's [`server`]) through object_store.
//! Results travel as a deterministic tar of `/out` ([`results::pack_dir`], [`results::unpack`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), decloud_storage::StorageError> {
//! use decloud_storage::BlobStore;
//! let store = BlobStore::from_url("/var/lib/decloud/blobs")?; // or s3://bucket/prefix, http://node:7700/blobs
//! let id = store.put(bytes::Bytes::from_static(b"hello")).await?;
//! let back = store.get(&id, 1 << 20).await?; // refuses a blob over 1 MiB, or one whose hash is wrong
//! # Ok(()) }
//! ```

mod hash;
pub mod results;
pub mod server;
mod store;
pub mod uri;

pub use hash::{ContentHash, ParseHashError};
pub use server::{RunningStorage, ServerConfig, StorageConfig, router, serve, start};
pub use store::{BlobStore, DEFAULT_MAX_BLOB_BYTES};

/// Errors of the blob store. Messages say what went wrong and what to do.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The bytes read do not hash to the blob's name: the copy is tampered with or damaged.
    #[error(
        "blob {expected} is corrupt: its content hashes to {actual}; refusing it (fetch it from another source)"
    )]
    HashMismatch {
        /// The name (expected sha256).
        expected: ContentHash,
        /// The sha256 of the bytes actually read.
        actual: ContentHash,
    },
    /// A blob larger than the caller accepts (checked before downloading, and again while
    /// reading in case the store lied).
    #[error("{} is {size} bytes, over the limit of {limit} bytes", id.map(|id| format!("blob {id}")).unwrap_or_else(|| "the upload".into()))]
    TooLarge {
        /// The blob (`None` for an upload whose hash is not known yet).
        id: Option<ContentHash>,
        /// Its size (a lower bound when found while reading).
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// No blob with that hash.
    #[error("blob {0} is not in the store: check the hash, or upload it first")]
    NotFound(ContentHash),
    /// Nothing at that location.
    #[error("nothing at {0}: check the URL")]
    NotFoundAt(String),
    /// The storage URL is not one this crate understands.
    #[error(
        "unsupported storage location {0:?}: use a directory path, file:///dir, s3://bucket/prefix or http(s)://host/path"
    )]
    UnsupportedUrl(String),
    /// A local file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file concerned.
        path: std::path::PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The storage node cannot listen on its address.
    #[error("the storage node cannot listen on {addr}: {source}; pick another address")]
    Listen {
        /// The address asked for.
        addr: std::net::SocketAddr,
        /// Why binding failed.
        #[source]
        source: std::io::Error,
    },
    /// An upload ended before its last byte (the connection broke): nothing was stored.
    #[error("the upload broke off before its end ({0}): nothing was stored; send it again")]
    UploadBroken(String),
    /// An upload sent nothing for longer than the server waits: nothing was stored.
    #[error(
        "the upload sent nothing for too long and was dropped: nothing was stored; send it again over a working connection"
    )]
    UploadStalled,
    /// The reader of a streamed download went away (internal: ends the download).
    #[error("the reader of the download went away")]
    ReaderGone,
    /// The backend (filesystem, S3, HTTP) failed.
    #[error("storage backend error: {0}")]
    Backend(String),
}

impl StorageError {
    pub(crate) fn backend(e: object_store::Error) -> Self {
        StorageError::Backend(
            e.to_string()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" "),
        )
    }
}
