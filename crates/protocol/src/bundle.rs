//! App bundles: a WASI module plus read-only files mounted at `/app`, with the arguments and
//! environment the app starts with, under one checksum (the app registry's `checksum`).
//!
//! A bundle lets many apps share one large module (a language runtime such as CPython-WASI):
//! each app is then a small manifest naming the runtime's module by its sha256 plus its own
//! files (a script, a model, a standard-library zip). Every part is content-addressed, so a
//! worker downloads and compiles the shared module once.
//!
//! # The canonical encoding (version 1)
//!
//! With `u64be` an unsigned 64-bit big-endian integer, `str = u64be(byte length) bytes` (UTF-8)
//! and `sha256` 32 raw bytes:
//!
//! ```text
//! bundle = "decloud-bundle-v1"                 (17 ASCII bytes, no terminator)
//!          sha256(module) u64be(module size)
//!          u64be(number of args)  str*          (in order: argv[1..] before the task's args)
//!          u64be(number of vars)  (str str)*    (name, value; sorted by name bytes, unique)
//!          u64be(number of files) (str u64be(size) sha256)*
//!                                               (path, size, content hash; sorted by path bytes)
//! checksum = sha256(bundle)
//! ```
//!
//! The encoded manifest is itself the blob stored under its checksum, and the module and each
//! file are blobs stored under their own sha256 in the same store. A decoder accepts the
//! canonical encoding only (it re-encodes and compares), so one bundle has one checksum.
//! A file path is relative, `/`-separated, without empty, `.` or `..` components, at most
//! [`MAX_PATH_BYTES`] bytes; no file is another's parent directory. Variable names are
//! `[A-Za-z_][A-Za-z0-9_]*` and may not be one the sandbox sets ([`RESERVED_ENV_PREFIX`],
//! [`RESERVED_ENV`]). No string holds a NUL byte.
//!
//! A plain module (the bytes start with `\0asm`) is still an app on its own: its checksum is its
//! sha256, as before bundles.

use alloy::primitives::B256;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use std::collections::{BTreeMap, HashSet};

/// The first bytes of an encoded bundle.
pub const MAGIC: &[u8] = b"decloud-bundle-v1";
/// The longest file path in a bundle, in bytes.
pub const MAX_PATH_BYTES: usize = 1024;
/// The most files a bundle may carry.
pub const MAX_FILES: usize = 4096;
/// The most arguments, and the most environment variables, a bundle may set.
pub const MAX_STRINGS: usize = 256;
/// The longest argument or variable value, in bytes.
pub const MAX_STRING_BYTES: usize = 4096;
/// Environment variables whose name starts with this belong to the sandbox.
pub const RESERVED_ENV_PREFIX: &str = "DECLOUD_";
/// Other environment variables the sandbox sets from the task (a bundle cannot pin them).
pub const RESERVED_ENV: &[&str] = &["PYTHONHASHSEED"];

/// Why bytes are not a bundle, or a bundle is not valid. Each message says what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    /// The bytes do not start with [`MAGIC`].
    #[error("not a decloud bundle (it does not start with \"decloud-bundle-v1\")")]
    NotABundle,
    /// The bytes end in the middle of a field.
    #[error("the bundle is truncated: rebuild it with `decloud app build`")]
    Truncated,
    /// The bytes decode, but not to their canonical encoding (unsorted, duplicated or trailing
    /// data).
    #[error("the bundle is not in canonical form ({0}): rebuild it with `decloud app build`")]
    NotCanonical(&'static str),
    /// A string is not UTF-8 or holds a NUL byte.
    #[error("the bundle's {what} {value:?} is not valid text (UTF-8 without NUL bytes)")]
    BadText {
        /// What the string is (an argument, a variable, a path).
        what: &'static str,
        /// The string, lossily decoded.
        value: String,
    },
    /// A file path that could leave `/app` or is not in the canonical form.
    #[error(
        "the bundle file path {path:?} is not allowed ({reason}): use a relative path with `/` separators and no `.` or `..`"
    )]
    BadPath {
        /// The path as given.
        path: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Two files with one path, or a file that is another's parent directory.
    #[error("the bundle file path {0:?} is given twice, or is also a directory of another file")]
    PathConflict(String),
    /// An environment variable name that is not allowed.
    #[error(
        "the bundle variable {name:?} is not allowed ({reason}): use [A-Za-z_][A-Za-z0-9_]* and leave DECLOUD_* and PYTHONHASHSEED to the sandbox"
    )]
    BadEnv {
        /// The name as given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// More parts or longer strings than the limits allow.
    #[error("the bundle has too many {what} (at most {max})")]
    TooMany {
        /// What there are too many of.
        what: &'static str,
        /// The limit.
        max: usize,
    },
}

/// A bundle's checksum (sha256 of its encoding), as the app registry stores it.
pub type Checksum = B256;

/// A content-addressed part of a bundle: the sha256 of its bytes and their size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Part {
    /// sha256 of the bytes (also their name in storage).
    pub sha256: B256,
    /// Size in bytes (checked before download).
    pub size: u64,
}

impl Part {
    /// The part made of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Part {
            sha256: sha256(bytes),
            size: bytes.len() as u64,
        }
    }
}

/// A read-only file of a bundle, at `/app/<path>` in the sandbox.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BundleFile {
    /// Relative path under `/app`, `/`-separated.
    pub path: String,
    /// The file's content.
    #[serde(flatten)]
    pub part: Part,
}

/// An app bundle (see the module documentation for its encoding).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bundle {
    /// The WASI module that runs (a command, or a reactor exporting `run`).
    pub module: Part,
    /// Arguments placed after `argv[0]` and before the task's arguments (e.g. the script).
    pub args: Vec<String>,
    /// Environment variables of every run, before the sandbox's own.
    pub env: BTreeMap<String, String>,
    /// Files mounted read-only at `/app`, sorted by path.
    pub files: Vec<BundleFile>,
}

impl Default for Part {
    fn default() -> Self {
        Part {
            sha256: B256::ZERO,
            size: 0,
        }
    }
}

/// The sha256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> B256 {
    B256::from(<[u8; 32]>::from(Sha256::digest(bytes)))
}

/// Whether `bytes` look like an encoded bundle (rather than a plain module).
pub fn is_bundle(bytes: &[u8]) -> bool {
    bytes.starts_with(MAGIC)
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn check_text(what: &'static str, s: &str) -> Result<(), BundleError> {
    if s.contains('\0') {
        return Err(BundleError::BadText {
            what,
            value: s.to_string(),
        });
    }
    if s.len() > MAX_STRING_BYTES {
        return Err(BundleError::TooMany {
            what: "bytes in one argument or value",
            max: MAX_STRING_BYTES,
        });
    }
    Ok(())
}

/// Checks that `path` is a bundle file path (see the module documentation).
pub fn check_path(path: &str) -> Result<(), BundleError> {
    let bad = |reason| {
        Err(BundleError::BadPath {
            path: path.to_string(),
            reason,
        })
    };
    if path.is_empty() {
        return bad("empty");
    }
    if path.len() > MAX_PATH_BYTES {
        return bad("longer than 1024 bytes");
    }
    if path.contains('\0') || path.contains('\\') {
        return bad("it holds a NUL byte or a backslash");
    }
    if path.starts_with('/') {
        return bad("absolute");
    }
    if path
        .split('/')
        .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return bad("an empty, `.` or `..` component");
    }
    Ok(())
}

fn check_env_name(name: &str) -> Result<(), BundleError> {
    let bad = |reason| {
        Err(BundleError::BadEnv {
            name: name.to_string(),
            reason,
        })
    };
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {}
        _ => return bad("it must start with a letter or `_`"),
    }
    if !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return bad("only letters, digits and `_`");
    }
    if name.starts_with(RESERVED_ENV_PREFIX) || RESERVED_ENV.contains(&name) {
        return bad("the sandbox sets it");
    }
    Ok(())
}

impl Bundle {
    /// Checks every rule of the module documentation except the encoding itself; sorts nothing
    /// (an unsorted file list is refused: use [`Bundle::normalize`] first).
    pub fn validate(&self) -> Result<(), BundleError> {
        if self.args.len() > MAX_STRINGS {
            return Err(BundleError::TooMany {
                what: "arguments",
                max: MAX_STRINGS,
            });
        }
        if self.env.len() > MAX_STRINGS {
            return Err(BundleError::TooMany {
                what: "environment variables",
                max: MAX_STRINGS,
            });
        }
        if self.files.len() > MAX_FILES {
            return Err(BundleError::TooMany {
                what: "files",
                max: MAX_FILES,
            });
        }
        for arg in &self.args {
            check_text("argument", arg)?;
        }
        for (name, value) in &self.env {
            check_env_name(name)?;
            check_text("variable value", value)?;
        }
        let mut seen = HashSet::with_capacity(self.files.len());
        for (i, f) in self.files.iter().enumerate() {
            check_path(&f.path)?;
            if i > 0 && self.files[i - 1].path.as_bytes() >= f.path.as_bytes() {
                if self.files[i - 1].path == f.path {
                    return Err(BundleError::PathConflict(f.path.clone()));
                }
                return Err(BundleError::NotCanonical(
                    "the files are not sorted by path",
                ));
            }
            seen.insert(f.path.as_str());
        }
        for f in &self.files {
            let mut at = 0;
            while let Some(i) = f.path[at..].find('/') {
                let parent = &f.path[..at + i];
                if seen.contains(parent) {
                    return Err(BundleError::PathConflict(parent.to_string()));
                }
                at += i + 1;
            }
        }
        Ok(())
    }

    /// Sorts the files by path (the canonical order).
    pub fn normalize(&mut self) {
        self.files
            .sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
    }

    /// The canonical encoding, after [`Bundle::validate`].
    pub fn encode(&self) -> Result<Vec<u8>, BundleError> {
        self.validate()?;
        let mut out = Vec::with_capacity(128 + 80 * self.files.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(self.module.sha256.as_slice());
        out.extend_from_slice(&self.module.size.to_be_bytes());
        out.extend_from_slice(&(self.args.len() as u64).to_be_bytes());
        for arg in &self.args {
            put_str(&mut out, arg);
        }
        // A BTreeMap<String, _> iterates in the byte order of its keys.
        out.extend_from_slice(&(self.env.len() as u64).to_be_bytes());
        for (name, value) in &self.env {
            put_str(&mut out, name);
            put_str(&mut out, value);
        }
        out.extend_from_slice(&(self.files.len() as u64).to_be_bytes());
        for f in &self.files {
            put_str(&mut out, &f.path);
            out.extend_from_slice(&f.part.size.to_be_bytes());
            out.extend_from_slice(f.part.sha256.as_slice());
        }
        Ok(out)
    }

    /// The bundle's checksum: sha256 of its canonical encoding.
    pub fn checksum(&self) -> Result<B256, BundleError> {
        Ok(sha256(&self.encode()?))
    }

    /// Decodes a canonical encoding (anything else is refused).
    pub fn decode(bytes: &[u8]) -> Result<Self, BundleError> {
        let mut r = Reader {
            bytes: bytes.strip_prefix(MAGIC).ok_or(BundleError::NotABundle)?,
        };
        let module = Part {
            sha256: r.hash()?,
            size: r.u64()?,
        };
        let n = r.count(MAX_STRINGS, "arguments")?;
        let mut args = Vec::with_capacity(n);
        for _ in 0..n {
            args.push(r.str("argument")?);
        }
        let n = r.count(MAX_STRINGS, "environment variables")?;
        let mut env = BTreeMap::new();
        for _ in 0..n {
            let name = r.str("variable name")?;
            let value = r.str("variable value")?;
            if env.insert(name, value).is_some() {
                return Err(BundleError::NotCanonical("a variable is set twice"));
            }
        }
        let n = r.count(MAX_FILES, "files")?;
        let mut files = Vec::with_capacity(n);
        for _ in 0..n {
            let path = r.str("file path")?;
            let size = r.u64()?;
            let sha256 = r.hash()?;
            files.push(BundleFile {
                path,
                part: Part { sha256, size },
            });
        }
        if !r.bytes.is_empty() {
            return Err(BundleError::NotCanonical("bytes after the last file"));
        }
        let bundle = Bundle {
            module,
            args,
            env,
            files,
        };
        if bundle.encode()? != bytes {
            return Err(BundleError::NotCanonical(
                "the variables are not sorted by name",
            ));
        }
        Ok(bundle)
    }

    /// Every distinct part (the module first, then the files' contents), for downloading.
    pub fn parts(&self) -> Vec<Part> {
        let mut seen = HashSet::new();
        std::iter::once(self.module)
            .chain(self.files.iter().map(|f| f.part))
            .filter(|p| seen.insert(p.sha256))
            .collect()
    }

    /// The total size of the module and the files, in bytes.
    pub fn total_size(&self) -> u64 {
        self.parts()
            .iter()
            .fold(0u64, |sum, p| sum.saturating_add(p.size))
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], BundleError> {
        if self.bytes.len() < n {
            return Err(BundleError::Truncated);
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Ok(head)
    }
    fn u64(&mut self) -> Result<u64, BundleError> {
        Ok(u64::from_be_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
    fn hash(&mut self) -> Result<B256, BundleError> {
        Ok(B256::from_slice(self.take(32)?))
    }
    fn count(&mut self, max: usize, what: &'static str) -> Result<usize, BundleError> {
        let n = self.u64()?;
        usize::try_from(n)
            .ok()
            .filter(|n| *n <= max)
            .ok_or(BundleError::TooMany { what, max })
    }
    fn str(&mut self, what: &'static str) -> Result<String, BundleError> {
        let n = self.u64()?;
        let n = usize::try_from(n)
            .ok()
            .filter(|n| *n <= MAX_STRING_BYTES.max(MAX_PATH_BYTES))
            .ok_or(BundleError::TooMany {
                what: "bytes in one string",
                max: MAX_STRING_BYTES,
            })?;
        let raw = self.take(n)?;
        String::from_utf8(raw.to_vec()).map_err(|_| BundleError::BadText {
            what,
            value: String::from_utf8_lossy(raw).into_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> Bundle {
        Bundle {
            module: Part::of(b"\0asm\x01\0\0\0"),
            args: vec!["/app/main.py".into()],
            env: [("PYTHONHOME".to_string(), "/app".to_string())].into(),
            files: vec![
                BundleFile {
                    path: "lib/x.zip".into(),
                    part: Part::of(b"zip"),
                },
                BundleFile {
                    path: "main.py".into(),
                    part: Part::of(b"print(1)\n"),
                },
            ],
        }
    }

    /// The test vector of docs/apps.md: the encoding spelled out byte by byte, and its checksum
    /// (checked independently with Python's hashlib over the same bytes).
    #[test]
    fn the_encoding_matches_the_test_vector() {
        let b = example();
        let mut want = b"decloud-bundle-v1".to_vec();
        want.extend_from_slice(sha256(b"\0asm\x01\0\0\0").as_slice());
        want.extend_from_slice(&8u64.to_be_bytes());
        want.extend_from_slice(&1u64.to_be_bytes());
        want.extend_from_slice(&12u64.to_be_bytes());
        want.extend_from_slice(b"/app/main.py");
        want.extend_from_slice(&1u64.to_be_bytes());
        want.extend_from_slice(&10u64.to_be_bytes());
        want.extend_from_slice(b"PYTHONHOME");
        want.extend_from_slice(&4u64.to_be_bytes());
        want.extend_from_slice(b"/app");
        want.extend_from_slice(&2u64.to_be_bytes());
        want.extend_from_slice(&9u64.to_be_bytes());
        want.extend_from_slice(b"lib/x.zip");
        want.extend_from_slice(&3u64.to_be_bytes());
        want.extend_from_slice(sha256(b"zip").as_slice());
        want.extend_from_slice(&7u64.to_be_bytes());
        want.extend_from_slice(b"main.py");
        want.extend_from_slice(&9u64.to_be_bytes());
        want.extend_from_slice(sha256(b"print(1)\n").as_slice());
        assert_eq!(b.encode().unwrap(), want);
        assert_eq!(
            b.checksum().unwrap().to_string(),
            VECTOR_CHECKSUM,
            "the checksum of the documented test vector changed: the encoding is no longer v1"
        );
        assert_eq!(Bundle::decode(&want).unwrap(), b);
        assert!(is_bundle(&want));
        assert!(!is_bundle(b"\0asm\x01\0\0\0"));
    }

    const VECTOR_CHECKSUM: &str =
        "0x25a88348e115410097d417aee727b57e979a246c06e0308d27cce8f1813b84df";

    #[test]
    fn an_empty_bundle_has_a_fixed_encoding() {
        let b = Bundle::default();
        let bytes = b.encode().unwrap();
        assert_eq!(bytes.len(), 17 + 32 + 8 + 8 * 3);
        assert_eq!(Bundle::decode(&bytes).unwrap(), b);
    }

    #[test]
    fn anything_but_the_canonical_encoding_is_refused() {
        let good = example().encode().unwrap();
        assert_eq!(
            Bundle::decode(b"\0asm\x01\0\0\0"),
            Err(BundleError::NotABundle)
        );
        for cut in [17, 40, good.len() - 1] {
            assert_eq!(
                Bundle::decode(&good[..cut]),
                Err(BundleError::Truncated),
                "{cut}"
            );
        }
        let mut trailing = good.clone();
        trailing.push(0);
        assert!(matches!(
            Bundle::decode(&trailing),
            Err(BundleError::NotCanonical(_))
        ));
        let mut unsorted = example();
        unsorted.files.swap(0, 1);
        assert!(matches!(
            unsorted.encode(),
            Err(BundleError::NotCanonical(_))
        ));
        unsorted.normalize();
        assert_eq!(unsorted.encode().unwrap(), good);
        // A huge count is refused before anything is allocated.
        let mut huge = good[..17 + 40].to_vec();
        huge.extend_from_slice(&u64::MAX.to_be_bytes());
        assert!(matches!(
            Bundle::decode(&huge),
            Err(BundleError::TooMany { .. })
        ));
    }

    #[test]
    fn paths_stay_inside_app() {
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../b",
            "a//b",
            "./a",
            "a/",
            "a\\b",
            "a\0b",
        ] {
            assert!(
                matches!(check_path(bad), Err(BundleError::BadPath { .. })),
                "{bad:?}"
            );
        }
        for good in ["a", "a/b.py", "lib/python315.zip", ".hidden", "a..b"] {
            check_path(good).unwrap();
        }
        assert!(check_path(&"a".repeat(MAX_PATH_BYTES + 1)).is_err());
    }

    #[test]
    fn a_file_cannot_also_be_a_directory_or_twice() {
        let file = |path: &str| BundleFile {
            path: path.into(),
            part: Part::of(b""),
        };
        let mut b = Bundle {
            files: vec![file("a"), file("a-b"), file("a/b")],
            ..Default::default()
        };
        assert_eq!(b.validate(), Err(BundleError::PathConflict("a".into())));
        b.files = vec![file("a"), file("a")];
        assert_eq!(b.validate(), Err(BundleError::PathConflict("a".into())));
    }

    #[test]
    fn the_sandbox_keeps_its_variables() {
        for bad in ["DECLOUD_TASK_ID", "PYTHONHASHSEED", "1X", "A-B", ""] {
            let b = Bundle {
                env: [(bad.to_string(), "x".to_string())].into(),
                ..Default::default()
            };
            assert!(
                matches!(b.validate(), Err(BundleError::BadEnv { .. })),
                "{bad:?}"
            );
        }
        let nul = Bundle {
            args: vec!["a\0b".into()],
            ..Default::default()
        };
        assert!(matches!(nul.validate(), Err(BundleError::BadText { .. })));
    }

    #[test]
    fn parts_are_listed_once() {
        let mut b = example();
        b.files[0].part = b.module;
        assert_eq!(b.parts().len(), 2);
        assert_eq!(b.total_size(), 8 + 9);
    }
}
