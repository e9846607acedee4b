//! The blob store over object_store.

use crate::{ContentHash, StorageError};
use bytes::{Bytes, BytesMut};
use futures::{SinkExt, Stream, StreamExt};
use object_store::path::Path as ObjectPath;
use object_store::{
    ClientOptions, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig, WriteMultipart,
};
use sha2::{Digest as _, Sha256};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// The default largest blob a store accepts on `put` (1 GiB).
pub const DEFAULT_MAX_BLOB_BYTES: u64 = 1 << 30;

/// The size of the parts a streamed upload is written in: what one upload holds in memory
/// (times [`UPLOAD_PARTS_IN_FLIGHT`]), whatever the blob's size. S3's smallest part is 5 MiB.
const UPLOAD_PART_BYTES: usize = 5 << 20;

/// Parts of one streamed upload written at once.
const UPLOAD_PARTS_IN_FLIGHT: usize = 2;

/// Where streamed uploads whose hash is not known yet are written before being renamed to it.
const INCOMING: &str = "incoming";

/// A content-addressed blob store: `put` names a blob by its sha256; `get` checks the size
/// before downloading and the hash after. Cheap to clone.
#[derive(Clone, Debug)]
pub struct BlobStore {
    inner: Arc<dyn ObjectStore>,
    prefix: ObjectPath,
    max_blob_bytes: u64,
    location: String,
}

/// Gives object_store an HTTP client that accepts only the pinned key of a storage node and
/// names it in every request (see `decloud_service::transport`).
#[derive(Debug)]
struct PinnedConnector(reqwest::Client);

impl PinnedConnector {
    fn new(url: &decloud_service::transport::PinnedUrl) -> Result<Self, StorageError> {
        // object_store's own defaults: 5 s to connect; a stalled transfer fails after 30 s.
        let builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .read_timeout(Duration::from_secs(30));
        decloud_service::transport::http_client(url, builder)
            .map(Self)
            .map_err(|e| StorageError::UnsupportedUrl(format!("{url}: {e}")))
    }
}

impl object_store::client::HttpConnector for PinnedConnector {
    fn connect(
        &self,
        _options: &ClientOptions,
    ) -> object_store::Result<object_store::client::HttpClient> {
        Ok(object_store::client::HttpClient::new(self.0.clone()))
    }
}

fn retry() -> RetryConfig {
    RetryConfig {
        max_retries: 3,
        retry_timeout: Duration::from_secs(30),
        ..Default::default()
    }
}

impl BlobStore {
    /// A store in the local directory `dir` (created if missing).
    pub fn local(dir: impl AsRef<Path>) -> Result<Self, StorageError> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|source| StorageError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        // Durable before acknowledged: a blob's file and the directory entry naming it are
        // synced before a write returns (object_store does not sync unless asked), so a
        // result the node acknowledged survives a power cut, as on S3.
        let fs = object_store::local::LocalFileSystem::new_with_prefix(dir)
            .map_err(StorageError::backend)?
            .with_fsync(true);
        Ok(Self::with_object_store(
            Arc::new(fs),
            "",
            dir.display().to_string(),
        ))
    }

    /// A store at `location`: a directory path or `file:///dir`; `s3://bucket/prefix` (the
    /// credentials, region and endpoint come from the usual `AWS_*` environment variables);
    /// or `http(s)://host/path` (a plain HTTP server answering GET/HEAD/PUT on
    /// `<path>/<sha256>`, such as `decloud node --storage` at `http://host:port/blobs`).
    pub fn from_url(location: &str) -> Result<Self, StorageError> {
        let unsupported = || StorageError::UnsupportedUrl(location.to_string());
        if !location.contains("://") {
            return Self::local(location);
        }
        let url = url::Url::parse(location).map_err(|_| unsupported())?;
        match url.scheme() {
            "file" => {
                let dir = url.to_file_path().map_err(|_| unsupported())?;
                Self::local(dir)
            }
            "s3" => {
                let bucket = url.host_str().ok_or_else(unsupported)?;
                let s3 = object_store::aws::AmazonS3Builder::from_env()
                    .with_bucket_name(bucket)
                    .with_retry(retry())
                    .build()
                    .map_err(StorageError::backend)?;
                let prefix = url.path().trim_matches('/').to_string();
                Ok(Self::with_object_store(
                    Arc::new(s3),
                    &prefix,
                    location.to_string(),
                ))
            }
            "http" | "https" => {
                let pinned: decloud_service::transport::PinnedUrl = location
                    .parse()
                    .map_err(|e| StorageError::UnsupportedUrl(format!("{location}: {e}")))?;
                let mut builder = object_store::http::HttpBuilder::new()
                    .with_url(pinned.base())
                    .with_retry(retry())
                    .with_client_options(ClientOptions::new().with_allow_http(true));
                if pinned.pin().is_some() {
                    builder = builder.with_http_connector(PinnedConnector::new(&pinned)?);
                }
                let http = builder.build().map_err(StorageError::backend)?;
                Ok(Self::with_object_store(
                    Arc::new(http),
                    "",
                    location.to_string(),
                ))
            }
            _ => Err(unsupported()),
        }
    }

    /// A store over any object_store backend, with blobs under `prefix`; `location` is how the
    /// store is described in messages.
    pub fn with_object_store(
        inner: Arc<dyn ObjectStore>,
        prefix: &str,
        location: impl Into<String>,
    ) -> Self {
        BlobStore {
            inner,
            prefix: ObjectPath::from(prefix),
            max_blob_bytes: DEFAULT_MAX_BLOB_BYTES,
            location: location.into(),
        }
    }

    /// Sets the largest blob `put` accepts.
    pub fn with_max_blob_bytes(mut self, max: u64) -> Self {
        self.max_blob_bytes = max;
        self
    }

    /// The largest blob `put` accepts.
    pub fn max_blob_bytes(&self) -> u64 {
        self.max_blob_bytes
    }

    /// Where the store is, as given when it was opened.
    pub fn location(&self) -> &str {
        &self.location
    }

    fn path(&self, id: &ContentHash) -> ObjectPath {
        self.prefix.clone().join(id.to_string())
    }

    fn map_err(&self, id: &ContentHash, e: object_store::Error) -> StorageError {
        match e {
            object_store::Error::NotFound { .. } => StorageError::NotFound(*id),
            other => StorageError::backend(other),
        }
    }

    /// Stores `bytes` and returns their hash. Refuses a blob over [`Self::max_blob_bytes`]
    /// before sending anything. Storing a blob that is already there is a no-op.
    pub async fn put(&self, bytes: impl Into<Bytes>) -> Result<ContentHash, StorageError> {
        let bytes = bytes.into();
        let id = ContentHash::of(&bytes);
        self.put_as(&id, bytes).await?;
        Ok(id)
    }

    /// Stores `bytes` under `id`, refusing them if they do not hash to `id` (nothing is stored
    /// then) or are over [`Self::max_blob_bytes`].
    pub async fn put_as(
        &self,
        id: &ContentHash,
        bytes: impl Into<Bytes>,
    ) -> Result<(), StorageError> {
        let bytes = bytes.into();
        let size = bytes.len() as u64;
        if size > self.max_blob_bytes {
            return Err(StorageError::TooLarge {
                id: Some(*id),
                size,
                limit: self.max_blob_bytes,
            });
        }
        let actual = ContentHash::of(&bytes);
        if actual != *id {
            return Err(StorageError::HashMismatch {
                expected: *id,
                actual,
            });
        }
        if let Ok(meta) = self.inner.head(&self.path(id)).await
            && meta.size == size
        {
            return Ok(());
        }
        self.inner
            .put(&self.path(id), PutPayload::from_bytes(bytes))
            .await
            .map_err(|e| self.map_err(id, e))?;
        Ok(())
    }

    /// Stores the bytes of `body` as they arrive, in parts, so that memory does not grow with
    /// the blob; hashes them on the way, and refuses them over [`Self::max_blob_bytes`] or, when
    /// `expected` is given, if they do not hash to it. A refused or broken upload leaves
    /// nothing: its parts are deleted, and a blob becomes visible under its hash only once it
    /// is whole and checked. Returns the hash and the size.
    pub async fn put_stream<S>(
        &self,
        expected: Option<&ContentHash>,
        mut body: S,
    ) -> Result<(ContentHash, u64), StorageError>
    where
        S: Stream<Item = Result<Bytes, StorageError>> + Unpin,
    {
        // Under its final name when it is known (a multipart upload is invisible until it is
        // completed), under a unique incoming name otherwise.
        let target = match expected {
            Some(id) => self.path(id),
            None => self.incoming_path(),
        };
        let mut upload = match self.inner.put_multipart(&target).await {
            Ok(parts) => Upload::Parts(WriteMultipart::new_with_chunk_size(
                parts,
                UPLOAD_PART_BYTES,
            )),
            // A backend without multipart uploads (another node over plain HTTP): the blob
            // passes through memory, bounded by the size limit.
            Err(object_store::Error::NotImplemented { .. }) => Upload::Whole(BytesMut::new()),
            Err(e) => return Err(StorageError::backend(e)),
        };
        let mut hasher = Sha256::new();
        let mut seen = 0u64;
        let read = async {
            while let Some(chunk) = body.next().await {
                let chunk = chunk?;
                seen += chunk.len() as u64;
                self.check_upload_size(expected, seen)?;
                hasher.update(&chunk);
                match &mut upload {
                    Upload::Parts(writer) => {
                        writer
                            .wait_for_capacity(UPLOAD_PARTS_IN_FLIGHT)
                            .await
                            .map_err(StorageError::backend)?;
                        writer.put(chunk);
                    }
                    Upload::Whole(buf) => buf.extend_from_slice(&chunk),
                }
            }
            Ok(())
        }
        .await;
        let actual = ContentHash(hasher.finalize().into());
        let checked = read.and_then(|()| match expected {
            Some(id) if *id != actual => Err(StorageError::HashMismatch {
                expected: *id,
                actual,
            }),
            _ => Ok(()),
        });
        match (upload, checked) {
            (Upload::Parts(writer), Err(e)) => {
                if let Err(abort) = writer.abort().await {
                    tracing::warn!(error = %abort, "cannot delete the parts of a refused upload");
                }
                Err(e)
            }
            (Upload::Whole(_), Err(e)) => Err(e),
            (Upload::Parts(writer), Ok(())) => {
                writer.finish().await.map_err(StorageError::backend)?;
                if expected.is_none()
                    && let Err(e) = self.inner.rename(&target, &self.path(&actual)).await
                {
                    let _ = self.inner.delete(&target).await;
                    return Err(StorageError::backend(e));
                }
                Ok((actual, seen))
            }
            (Upload::Whole(buf), Ok(())) => {
                self.put_as(&actual, buf.freeze()).await?;
                Ok((actual, seen))
            }
        }
    }

    fn check_upload_size(
        &self,
        expected: Option<&ContentHash>,
        seen: u64,
    ) -> Result<(), StorageError> {
        if seen > self.max_blob_bytes {
            return Err(StorageError::TooLarge {
                id: expected.copied(),
                size: seen,
                limit: self.max_blob_bytes,
            });
        }
        Ok(())
    }

    /// A name no other upload of this process, or of another process on the same store, uses.
    fn incoming_path(&self) -> ObjectPath {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        self.prefix
            .clone()
            .join(INCOMING)
            .join(format!("{}-{nanos}-{n}", std::process::id()))
    }

    /// Stores the file at `path` and returns its hash.
    pub async fn put_file(&self, path: &Path) -> Result<ContentHash, StorageError> {
        let io = |source| StorageError::Io {
            path: path.to_path_buf(),
            source,
        };
        let meta = tokio::fs::metadata(path).await.map_err(io)?;
        if meta.len() > self.max_blob_bytes {
            return Err(StorageError::TooLarge {
                id: None,
                size: meta.len(),
                limit: self.max_blob_bytes,
            });
        }
        let bytes = tokio::fs::read(path).await.map_err(io)?;
        self.put(Bytes::from(bytes)).await
    }

    /// The size of blob `id`, without downloading it.
    pub async fn size(&self, id: &ContentHash) -> Result<u64, StorageError> {
        let meta = self
            .inner
            .head(&self.path(id))
            .await
            .map_err(|e| self.map_err(id, e))?;
        Ok(meta.size)
    }

    /// Whether blob `id` is in the store.
    pub async fn contains(&self, id: &ContentHash) -> Result<bool, StorageError> {
        match self.size(id).await {
            Ok(_) => Ok(true),
            Err(StorageError::NotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Deletes blob `id` (a no-op if it is not there).
    pub async fn delete(&self, id: &ContentHash) -> Result<(), StorageError> {
        match self.inner.delete(&self.path(id)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(StorageError::backend(e)),
        }
    }

    /// Streams blob `id` through `sink`, checking its size (before the download and while
    /// reading) against `max_bytes` and its hash at the end. `sink` sees unverified bytes: only
    /// an `Ok` return makes them trustworthy.
    async fn fetch<F>(&self, id: &ContentHash, max_bytes: u64, sink: F) -> Result<u64, StorageError>
    where
        F: AsyncSink,
    {
        let (size, _) = self
            .fetch_at(&self.path(id), &id.to_string(), Some(id), max_bytes, sink)
            .await?;
        Ok(size)
    }

    /// Streams the object at `path` (named `name` in errors) through `sink` with the size
    /// checks of [`Self::fetch`], and the hash check when `expected` is given. Returns the size
    /// and the sha256 of the bytes.
    async fn fetch_at<F>(
        &self,
        path: &ObjectPath,
        name: &str,
        expected: Option<&ContentHash>,
        max_bytes: u64,
        mut sink: F,
    ) -> Result<(u64, ContentHash), StorageError>
    where
        F: AsyncSink,
    {
        let not_found = |e: object_store::Error| match (e, expected) {
            (object_store::Error::NotFound { .. }, Some(id)) => StorageError::NotFound(*id),
            (object_store::Error::NotFound { .. }, None) => {
                StorageError::NotFoundAt(format!("{}/{name}", self.location.trim_end_matches('/')))
            }
            (other, _) => StorageError::backend(other),
        };
        let too_large = |size| StorageError::TooLarge {
            id: expected.copied(),
            size,
            limit: max_bytes,
        };
        let size = self.inner.head(path).await.map_err(not_found)?.size;
        if size > max_bytes {
            return Err(too_large(size));
        }
        let got = self.inner.get(path).await.map_err(not_found)?;
        let mut stream = got.into_stream();
        let mut hasher = Sha256::new();
        let mut seen = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(not_found)?;
            seen += chunk.len() as u64;
            if seen > max_bytes {
                return Err(too_large(seen));
            }
            hasher.update(&chunk);
            sink.write(chunk).await?;
        }
        let actual = ContentHash(hasher.finalize().into());
        if let Some(expected) = expected
            && actual != *expected
        {
            return Err(StorageError::HashMismatch {
                expected: *expected,
                actual,
            });
        }
        Ok((seen, actual))
    }

    /// The URL (or path) of blob `id` in this store: `<location>/<sha256>`, what a registry
    /// entry's `uri` or a task's results location names. A storage node's pin stays at the end
    /// (`https://host/blobs/<sha256>#sha256:<fingerprint>`), where whoever downloads finds it.
    pub fn url_of(&self, id: &ContentHash) -> String {
        crate::uri::join(&self.location, &id.to_string())
    }

    /// Downloads the object named `name` (any name, not only a hash) under this store's
    /// location to the file `dest`, refusing it over `max_bytes`, and, when `expected` is
    /// given, if its bytes do not hash to it. For files that are not content-addressed, such
    /// as a request's input files. Returns the size and the sha256 of what was written.
    pub async fn get_named_to_file(
        &self,
        name: &str,
        expected: Option<&ContentHash>,
        max_bytes: u64,
        dest: &Path,
    ) -> Result<(u64, ContentHash), StorageError> {
        if name.is_empty() || name.contains('/') || name == "." || name == ".." {
            return Err(StorageError::NotFoundAt(format!(
                "{}/{name}",
                self.location.trim_end_matches('/')
            )));
        }
        let path = self.prefix.clone().join(name);
        let io = |source| StorageError::Io {
            path: dest.to_path_buf(),
            source,
        };
        let dir = dest
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let tmp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
        let (file, tmp_path) = tmp.into_parts();
        let mut sink = FileSink(tokio::fs::File::from_std(file));
        let (size, hash) = self
            .fetch_at(&path, name, expected, max_bytes, &mut sink)
            .await?;
        sink.0.flush().await.map_err(io)?;
        sink.0.sync_all().await.map_err(io)?;
        tmp_path.persist(dest).map_err(|e| io(e.error))?;
        Ok((size, hash))
    }

    /// Streams blob `id`: returns its size (refused over `max_bytes` before anything is read)
    /// and its bytes as they are read from the backend, checked on the way. The last chunk is
    /// held back until the whole blob hashes to `id`: a damaged or tampered copy never arrives
    /// whole, its stream ends with the error instead. Memory stays at a few chunks whatever the
    /// blob's size; dropping the stream stops the reading.
    pub async fn get_stream(
        &self,
        id: &ContentHash,
        max_bytes: u64,
    ) -> Result<
        (
            u64,
            impl Stream<Item = Result<Bytes, StorageError>> + Send + 'static,
        ),
        StorageError,
    > {
        let size = self.size(id).await?;
        if size > max_bytes {
            return Err(StorageError::TooLarge {
                id: Some(*id),
                size,
                limit: max_bytes,
            });
        }
        let (tx, rx) = futures::channel::mpsc::channel(1);
        let (store, id) = (self.clone(), *id);
        tokio::spawn(async move {
            let mut sink = ChannelSink { tx, held: None };
            let fetched = store.fetch(&id, max_bytes, &mut sink).await;
            let ChannelSink { mut tx, held } = sink;
            let last = match fetched {
                Ok(_) => held.map(Ok),
                Err(StorageError::ReaderGone) => None,
                Err(e) => {
                    tracing::error!(blob = %id, error = %e, "refusing to serve a blob");
                    Some(Err(e))
                }
            };
            if let Some(last) = last {
                let _ = tx.send(last).await;
            }
        });
        Ok((size, rx))
    }

    /// Downloads blob `id` into memory: refuses it before downloading if it is over `max_bytes`,
    /// and after if its bytes do not hash to `id`.
    pub async fn get(&self, id: &ContentHash, max_bytes: u64) -> Result<Bytes, StorageError> {
        let mut buf = MemSink(BytesMut::new());
        self.fetch(id, max_bytes, &mut buf).await?;
        Ok(buf.0.freeze())
    }

    /// Downloads blob `id` to the file `dest` (written to a temporary file beside it and renamed
    /// only once the hash is checked), with the same checks as [`Self::get`]. Returns the size.
    pub async fn get_to_file(
        &self,
        id: &ContentHash,
        max_bytes: u64,
        dest: &Path,
    ) -> Result<u64, StorageError> {
        let name = id.to_string();
        let (size, _) = self
            .get_named_to_file(&name, Some(id), max_bytes, dest)
            .await?;
        Ok(size)
    }
}

trait AsyncSink {
    async fn write(&mut self, chunk: Bytes) -> Result<(), StorageError>;
}

struct MemSink(BytesMut);

impl AsyncSink for &mut MemSink {
    async fn write(&mut self, chunk: Bytes) -> Result<(), StorageError> {
        self.0.extend_from_slice(&chunk);
        Ok(())
    }
}

/// Where a streamed upload's bytes go: parts of a multipart upload, or memory for a backend
/// that takes whole objects only.
enum Upload {
    Parts(WriteMultipart),
    Whole(BytesMut),
}

/// Hands chunks to a stream's reader, one behind, so that the last one waits for the hash.
struct ChannelSink {
    tx: futures::channel::mpsc::Sender<Result<Bytes, StorageError>>,
    held: Option<Bytes>,
}

impl AsyncSink for &mut ChannelSink {
    async fn write(&mut self, chunk: Bytes) -> Result<(), StorageError> {
        if let Some(previous) = self.held.replace(chunk) {
            self.tx
                .send(Ok(previous))
                .await
                .map_err(|_| StorageError::ReaderGone)?;
        }
        Ok(())
    }
}

struct FileSink(tokio::fs::File);

impl AsyncSink for &mut FileSink {
    async fn write(&mut self, chunk: Bytes) -> Result<(), StorageError> {
        self.0
            .write_all(&chunk)
            .await
            .map_err(|source| StorageError::Io {
                path: "download".into(),
                source,
            })
    }
}
