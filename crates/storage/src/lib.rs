//! Content-addressed blobs: a blob is named by its sha256, checked on every read, with sizes
//! checked before download. Local directory by default; S3 and plain HTTP through object_store.
//!
//! Owned by the runtime and storage issue; empty until then.
