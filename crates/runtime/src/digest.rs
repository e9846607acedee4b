//! Result digests (docs/design.md#result-digest): what replicas of a task vote on.
//!
//! # The canonical encoding of a deterministic output (version 1)
//!
//! The *deterministic output* is the file or directory that `computed.json`'s
//! `deterministic-output-path` names (a path under `/out`, absolute like `/out/result.txt` or
//! relative to `/out`), or the whole `/out` directory when that key is absent. Its digest is
//! `sha256(encoding)` where, with `u64be` an unsigned 64-bit big-endian integer:
//!
//! ```text
//! encoding = "decloud-output-v1"            (17 ASCII bytes, no terminator)
//!            u64be(number of entries)
//!            entry*                         (sorted by the bytes of their path, ascending)
//! entry    = u64be(byte length of path) path u64be(size) contents
//! ```
//!
//! An entry is a regular file. Its `path` is UTF-8, relative to the deterministic output root
//! with `/` separators and no leading `/` (`a/b.txt`); when the root is itself a file, its path
//! is the file's name. Directories are not entries (an empty directory contributes nothing).
//! A symbolic link or any other kind of file anywhere in the deterministic output is a
//! deterministic failure ([`FailureKind::UnsupportedOutput`]), and so is a path that leaves
//! `/out`.
//!
//! # Callback deals
//!
//! For a deal with a callback, the digest is `keccak256(callback-data)` over the bytes that the
//! `0x`-prefixed hex string `callback-data` of `computed.json` decodes to.
//!
//! # Failures
//!
//! A deterministic failure's digest is `sha256` of its canonical record
//! ([`FailureRecord::canonical_bytes`]): compact JSON with the keys in this order,
//! `{"decloud-error":1,"kind":"<kind>","detail":"<detail>"}`, where `detail` holds only
//! deterministic facts (never a host path, a time or a wasmtime backtrace).

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use sha3::Keccak256;
use std::fmt;
use std::fs;
use std::io::Read;
use std::path::{Component, Path, PathBuf};
use std::str::FromStr;

/// A 32-byte result digest (or module checksum), shown as `0x`-prefixed lowercase hex.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Digest(pub [u8; 32]);

impl Digest {
    /// The sha256 of `bytes`.
    pub fn sha256(bytes: &[u8]) -> Self {
        Digest(Sha256::digest(bytes).into())
    }
    /// The keccak256 of `bytes`.
    pub fn keccak256(bytes: &[u8]) -> Self {
        Digest(Keccak256::digest(bytes).into())
    }
    /// Lowercase hex without the `0x` prefix.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{}", hex::encode(self.0))
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({self})")
    }
}

/// A string that is not 32 bytes of hex.
#[derive(Debug, thiserror::Error)]
#[error("`{0}` is not a 32-byte hex digest (64 hex digits, optionally prefixed by 0x)")]
pub struct ParseDigestError(String);

impl FromStr for Digest {
    type Err = ParseDigestError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let h = s.strip_prefix("0x").unwrap_or(s);
        let mut out = [0u8; 32];
        hex::decode_to_slice(h, &mut out).map_err(|_| ParseDigestError(s.to_string()))?;
        Ok(Digest(out))
    }
}

impl Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Why a run failed deterministically; every replica of the task reaches the same kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailureKind {
    /// The module trapped (`unreachable`, e.g. a Rust panic; out-of-bounds access; division by
    /// zero; stack overflow...).
    Trap,
    /// The fuel budget ran out.
    OutOfFuel,
    /// The module tried to grow its memory (or a table) past the cap.
    MemoryLimit,
    /// The module exited with a non-zero status.
    Exit,
    /// The module could not be instantiated (a missing import, e.g. threads or sockets).
    Instantiation,
    /// `/out/computed.json` is missing.
    MissingComputedJson,
    /// `/out/computed.json` is not the expected JSON object.
    MalformedComputedJson,
    /// `deterministic-output-path` leaves `/out` or names nothing.
    InvalidOutputPath,
    /// The output holds a symbolic link, a non-UTF-8 name or another unsupported kind of file.
    UnsupportedOutput,
    /// `/out` is over the size or file-count limit.
    OutputTooLarge,
    /// A callback deal without valid `callback-data` (missing, not hex, or over the limit).
    InvalidCallbackData,
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = serde_json::to_value(self).ok();
        let s = s.as_ref().and_then(|v| v.as_str()).unwrap_or("unknown");
        f.write_str(s)
    }
}

/// The canonical record of a deterministic failure. Its digest is what replicas contribute, and
/// it is written to `/out/decloud-error.json` for the requester.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureRecord {
    /// The kind of failure.
    pub kind: FailureKind,
    /// A deterministic explanation (a trap message, an exit code, a limit, a relative path).
    pub detail: String,
}

#[derive(Serialize)]
struct CanonicalRecord<'a> {
    #[serde(rename = "decloud-error")]
    version: u32,
    kind: FailureKind,
    detail: &'a str,
}

impl FailureRecord {
    /// A record of `kind` with `detail`.
    pub fn new(kind: FailureKind, detail: impl Into<String>) -> Self {
        FailureRecord {
            kind,
            detail: detail.into(),
        }
    }

    /// The canonical bytes: `{"decloud-error":1,"kind":"...","detail":"..."}`, compact JSON.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(&CanonicalRecord {
            version: 1,
            kind: self.kind,
            detail: &self.detail,
        })
        .expect("a record always serializes")
    }

    /// `sha256(canonical_bytes)`.
    pub fn digest(&self) -> Digest {
        Digest::sha256(&self.canonical_bytes())
    }
}

impl fmt::Display for FailureRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.detail)
    }
}

/// The content of `/out/computed.json`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Computed {
    /// The file or directory under `/out` whose canonical encoding is hashed; all of `/out` when
    /// absent.
    #[serde(
        rename = "deterministic-output-path",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub deterministic_output_path: Option<String>,
    /// `0x`-prefixed hex bytes handed to the callback contract of a callback deal.
    #[serde(
        rename = "callback-data",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub callback_data: Option<String>,
}

/// Maps a guest path from `computed.json` to a path relative to `/out`, refusing any path that
/// leaves `/out`. `None` for an escaping or malformed path.
pub(crate) fn relative_output_path(guest: &str) -> Option<PathBuf> {
    let rest = if let Some(rest) = guest.strip_prefix("/out") {
        if !(rest.is_empty() || rest.starts_with('/')) {
            return None;
        }
        rest.trim_start_matches('/')
    } else if guest.starts_with('/') {
        return None;
    } else {
        guest
    };
    let mut out = PathBuf::new();
    for c in Path::new(rest).components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            _ => return None,
        }
    }
    Some(out)
}

/// Size and count of the regular files under `dir`, stopping as soon as a limit is passed.
/// Symbolic links count as files of their own (link) size.
pub(crate) fn measure(dir: &Path, max_bytes: u64, max_files: u64) -> std::io::Result<(u64, u64)> {
    let (mut bytes, mut files) = (0u64, 0u64);
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d)? {
            let entry = entry?;
            let meta = entry.metadata()?;
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                bytes = bytes.saturating_add(meta.len());
                files += 1;
                if bytes > max_bytes || files > max_files {
                    return Ok((bytes, files));
                }
            }
        }
    }
    Ok((bytes, files))
}

/// A deterministic failure or a host I/O error while encoding the output.
pub(crate) enum EncodeError {
    Failure(FailureRecord),
    Io(std::io::Error),
}

impl From<std::io::Error> for EncodeError {
    fn from(e: std::io::Error) -> Self {
        EncodeError::Io(e)
    }
}

fn unsupported(rel: &str, what: &str) -> EncodeError {
    EncodeError::Failure(FailureRecord::new(
        FailureKind::UnsupportedOutput,
        format!("{rel}: {what} (only regular files and directories are allowed in the output)"),
    ))
}

/// The digest of the deterministic output rooted at `root` (a host path), following the
/// canonical encoding above. `display_root` is the root's guest-relative name used in messages.
pub(crate) fn output_digest(root: &Path, display_root: &str) -> Result<Digest, EncodeError> {
    let meta = fs::symlink_metadata(root)?;
    let mut entries: Vec<(String, PathBuf)> = Vec::new();
    if meta.is_file() {
        let name = root
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| unsupported(display_root, "a name that is not UTF-8"))?;
        entries.push((name.to_string(), root.to_path_buf()));
    } else if meta.is_dir() {
        let mut stack = vec![(String::new(), root.to_path_buf())];
        while let Some((prefix, dir)) = stack.pop() {
            for entry in fs::read_dir(&dir)? {
                let entry = entry?;
                let name = entry.file_name();
                let Some(name) = name.to_str() else {
                    return Err(unsupported(&prefix, "an entry whose name is not UTF-8"));
                };
                let rel = if prefix.is_empty() {
                    name.to_string()
                } else {
                    format!("{prefix}/{name}")
                };
                let kind = entry.file_type()?;
                if kind.is_dir() {
                    stack.push((rel, entry.path()));
                } else if kind.is_file() {
                    entries.push((rel, entry.path()));
                } else if kind.is_symlink() {
                    return Err(unsupported(&rel, "a symbolic link"));
                } else {
                    return Err(unsupported(&rel, "a special file"));
                }
            }
        }
    } else {
        return Err(unsupported(display_root, "neither a file nor a directory"));
    }
    entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut h = Sha256::new();
    h.update(b"decloud-output-v1");
    h.update((entries.len() as u64).to_be_bytes());
    let mut buf = vec![0u8; 64 * 1024];
    for (rel, path) in &entries {
        h.update((rel.len() as u64).to_be_bytes());
        h.update(rel.as_bytes());
        let mut file = fs::File::open(path)?;
        let size = file.metadata()?.len();
        h.update(size.to_be_bytes());
        let mut seen = 0u64;
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            seen += n as u64;
            h.update(&buf[..n]);
        }
        if seen != size {
            return Err(EncodeError::Io(std::io::Error::other(format!(
                "{rel} changed size while it was hashed"
            ))));
        }
    }
    Ok(Digest(h.finalize().into()))
}

/// Decodes `0x`-prefixed hex callback data.
pub(crate) fn decode_callback_data(s: &str) -> Option<Vec<u8>> {
    hex::decode(s.strip_prefix("0x")?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_paths_stay_inside_out() {
        assert_eq!(
            relative_output_path("/out/a/b.txt"),
            Some(PathBuf::from("a/b.txt"))
        );
        assert_eq!(relative_output_path("/out"), Some(PathBuf::new()));
        assert_eq!(relative_output_path("/out/"), Some(PathBuf::new()));
        assert_eq!(relative_output_path("r.txt"), Some(PathBuf::from("r.txt")));
        assert_eq!(relative_output_path("/out/../in/x"), None);
        assert_eq!(relative_output_path("/outside"), None);
        assert_eq!(relative_output_path("/etc/passwd"), None);
        assert_eq!(relative_output_path("a/../../x"), None);
    }

    #[test]
    fn the_encoding_is_the_documented_one() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("d")).unwrap();
        fs::write(dir.path().join("d/b"), b"xy").unwrap();
        fs::write(dir.path().join("a"), b"z").unwrap();
        // The documented encoding, written out by hand: magic, entry count, then each entry's
        // length-prefixed path and length-prefixed content, in path order.
        let encoding = |entries: &[(&[u8], &[u8])]| {
            let mut bytes = b"decloud-output-v1".to_vec();
            bytes.extend((entries.len() as u64).to_be_bytes());
            for (path, content) in entries {
                bytes.extend((path.len() as u64).to_be_bytes());
                bytes.extend(*path);
                bytes.extend((content.len() as u64).to_be_bytes());
                bytes.extend(*content);
            }
            bytes
        };
        let expected = encoding(&[(b"a", b"z"), (b"d/b", b"xy")]);
        let got = output_digest(dir.path(), "/out").ok().unwrap();
        assert_eq!(got, Digest::sha256(&expected));
        // A file root: one entry named after the file.
        let single = encoding(&[(b"a", b"z")]);
        let got = output_digest(&dir.path().join("a"), "a").ok().unwrap();
        assert_eq!(got, Digest::sha256(&single));
    }

    #[test]
    fn failure_records_are_canonical() {
        let r = FailureRecord::new(FailureKind::OutOfFuel, "fuel budget of 10 exhausted");
        assert_eq!(
            String::from_utf8(r.canonical_bytes()).unwrap(),
            r#"{"decloud-error":1,"kind":"out-of-fuel","detail":"fuel budget of 10 exhausted"}"#
        );
        assert_eq!(r.kind.to_string(), "out-of-fuel");
    }

    #[test]
    fn digests_parse_and_print() {
        let d = Digest::keccak256(b"");
        assert_eq!(
            d.to_string(),
            "0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
        );
        assert_eq!(d.to_string().parse::<Digest>().unwrap(), d);
        assert!("0x12".parse::<Digest>().is_err());
    }
}
