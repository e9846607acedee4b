//! Downloads by URI: what a worker does with a registry entry's `uri` or a request's input
//! file. A URI is split into a store location (all but its last segment) and an object name
//! (the last segment), so every location [`BlobStore::from_url`] understands works: an HTTP
//! server, an S3 bucket, a local directory. When the name is the expected sha256, the object is
//! read as a blob of that store; otherwise by name, with the hash still checked if one is
//! expected.

use std::path::Path;

use crate::{BlobStore, ContentHash, StorageError};

/// The scheme of `uri` (`http`, `https`, `s3`, `file`), or `None` for a plain path.
pub fn scheme(uri: &str) -> Option<&str> {
    uri.split_once("://").map(|(scheme, _)| scheme)
}

/// Splits `uri` into its store location and its object name.
pub fn split(uri: &str) -> Result<(&str, &str), StorageError> {
    let unsupported = || StorageError::UnsupportedUrl(uri.to_string());
    let (base, name) = uri
        .trim_end_matches('/')
        .rsplit_once('/')
        .ok_or_else(unsupported)?;
    if name.is_empty() || base.is_empty() || base.ends_with(':') || base.ends_with(":/") {
        return Err(unsupported());
    }
    Ok((base, name))
}

/// [`split`] for a URI that may end with a storage node's pin (`https://host/blobs/<sha256>
/// #sha256:<key>`): the pin goes with the store location (where [`BlobStore::from_url`] takes
/// it), not with the object's name.
pub fn split_pinned(uri: &str) -> Result<(String, &str), StorageError> {
    let pinned = matches!(scheme(uri), Some("http" | "https"));
    match uri.split_once('#') {
        Some((unpinned, pin)) if pinned => {
            let (base, name) = split(unpinned)?;
            Ok((format!("{base}#{pin}"), name))
        }
        _ => split(uri).map(|(base, name)| (base.to_owned(), name)),
    }
}

/// The URI of the object `name` in the same store as `uri` (its pin kept at the end).
pub fn sibling(uri: &str, name: &str) -> Result<String, StorageError> {
    let (base, _) = split_pinned(uri)?;
    Ok(join(&base, name))
}

/// The URI of the object `name` in the store at `location`: `<location>/<name>`, with a storage
/// node's pin (`#sha256:...`) kept at the end, where [`split_pinned`] finds it again.
pub fn join(location: &str, name: &str) -> String {
    match location.split_once('#') {
        Some((store, pin)) if matches!(scheme(location), Some("http" | "https")) => {
            format!("{}/{name}#{pin}", store.trim_end_matches('/'))
        }
        _ => format!("{}/{name}", location.trim_end_matches('/')),
    }
}

/// Downloads `uri` to `dest` (written beside it and renamed once checked), refusing more than
/// `max_bytes` (before the download when the server tells the size) and, when `expected` is
/// given, bytes that do not hash to it. Returns the size and the sha256 of the file.
pub async fn fetch_to_file(
    uri: &str,
    expected: Option<&ContentHash>,
    max_bytes: u64,
    dest: &Path,
) -> Result<(u64, ContentHash), StorageError> {
    let (base, name) = split_pinned(uri)?;
    let base = base.as_str();
    if scheme(uri).is_none_or(|s| s == "file") {
        // A local directory that does not exist is a missing file, not a store to create.
        let dir = match url::Url::parse(base) {
            Ok(u) if u.scheme() == "file" => u.to_file_path().ok(),
            _ => Some(std::path::PathBuf::from(base)),
        };
        if dir.is_none_or(|d| !d.is_dir()) {
            return Err(StorageError::NotFoundAt(uri.to_string()));
        }
    }
    let store = BlobStore::from_url(base)?;
    let named_hash = name
        .strip_prefix("0x")
        .unwrap_or(name)
        .parse::<ContentHash>()
        .ok();
    match (expected, named_hash) {
        (Some(expected), Some(named)) if *expected == named => {
            let size = store.get_to_file(expected, max_bytes, dest).await?;
            Ok((size, *expected))
        }
        _ => {
            store
                .get_named_to_file(name, expected, max_bytes, dest)
                .await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_split_into_a_store_and_a_name() {
        assert_eq!(
            split("http://h:7700/blobs/abc").unwrap(),
            ("http://h:7700/blobs", "abc")
        );
        assert_eq!(
            split("s3://bucket/p/x.csv").unwrap(),
            ("s3://bucket/p", "x.csv")
        );
        assert_eq!(split("/data/x.wasm").unwrap(), ("/data", "x.wasm"));
        assert!(split("http://").is_err());
        assert!(split("nothing").is_err());
        assert!(split("file:///").is_err());
        assert_eq!(scheme("https://x/y"), Some("https"));
        assert_eq!(scheme("/x/y"), None);
        let pin = format!("sha256:{}", "ab".repeat(32));
        let uri = format!("https://h:1/blobs/abc#{pin}");
        let (base, name) = split_pinned(&uri).unwrap();
        assert_eq!(base, format!("https://h:1/blobs#{pin}"));
        assert_eq!(name, "abc");
        let (base, name) = split_pinned("/data/x#1.csv").unwrap();
        assert_eq!(
            (base.as_str(), name),
            ("/data", "x#1.csv"),
            "a # in a path is a name"
        );
        assert_eq!(
            sibling(&format!("https://h:1/blobs/abc#{pin}"), "def").unwrap(),
            format!("https://h:1/blobs/def#{pin}")
        );
        assert_eq!(
            sibling("http://h:1/blobs/abc", "def").unwrap(),
            "http://h:1/blobs/def"
        );
    }

    #[tokio::test]
    async fn fetches_by_hash_or_by_name_and_checks_the_hash() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::local(dir.path().join("blobs")).unwrap();
        let id = store
            .put(bytes::Bytes::from_static(b"module"))
            .await
            .unwrap();
        let dest = dir.path().join("out");
        let (size, hash) = fetch_to_file(&store.url_of(&id), Some(&id), 100, &dest)
            .await
            .unwrap();
        assert_eq!((size, hash), (6, id));
        assert_eq!(std::fs::read(&dest).unwrap(), b"module");

        std::fs::write(dir.path().join("blobs").join("named.txt"), b"input").unwrap();
        let uri = format!("{}/named.txt", dir.path().join("blobs").display());
        let (size, hash) = fetch_to_file(&uri, None, 100, &dest).await.unwrap();
        assert_eq!((size, hash), (5, ContentHash::of(b"input")));
        let err = fetch_to_file(&uri, Some(&id), 100, &dest)
            .await
            .unwrap_err();
        assert!(matches!(err, StorageError::HashMismatch { .. }), "{err}");
        let err = fetch_to_file(&uri, None, 4, &dest).await.unwrap_err();
        assert!(matches!(err, StorageError::TooLarge { .. }), "{err}");
        let missing = format!("{}/nope/x", dir.path().display());
        let err = fetch_to_file(&missing, None, 4, &dest).await.unwrap_err();
        assert!(matches!(err, StorageError::NotFoundAt(_)), "{err}");
        assert!(!dir.path().join("nope").exists(), "no directory is created");
    }
}
