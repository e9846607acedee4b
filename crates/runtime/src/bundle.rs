//! Running app bundles ([`decloud_protocol::bundle`]): the parts of a bundle live in a blob
//! directory (one file per part, named by the lowercase hex of its sha256, the layout of a
//! local `decloud-storage` store); [`assemble`] lays the bundle's files out in a directory that
//! the sandbox mounts read-only at `/app`, and [`launch`] says how the bundle starts.
//!
//! The blob directory is trusted to hold what its names say: whoever fills it checks each
//! part's hash as it downloads or copies it (the worker does; `decloud app build` hashes what it
//! writes). [`assemble`] checks sizes, which catches a truncated part cheaply.

use crate::runtime::{APP_DIR, Launch};
use decloud_protocol::bundle::{Bundle, BundleError, BundleFile, Part};
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// A bundle's `usr/` directory, if it has one, is also mounted (read-only) here: where a
/// language runtime built with a fixed prefix looks for its standard library.
pub const USR_DIR: &str = "/usr";

/// CPython-WASI, the runtime of Python apps: where its files go in a bundle and how it starts.
pub mod python {
    /// The runtime's module in its artifacts directory (a reactor exporting `run`).
    pub const MODULE: &str = "python.wasm";
    /// The standard library and the bundled packages' Python parts, in its artifacts directory.
    pub const STDLIB_ZIP: &str = "python-stdlib.zip";
    /// Where the bundle puts the standard-library zip: the runtime runs isolated (it reads no
    /// `PYTHON*` variable) with its prefix fixed at `/usr/local`, so the zip must be at
    /// `/usr/local/lib/python315.zip`, which the bundle's `usr/` mount gives.
    pub const ZIP_PATH: &str = "usr/local/lib/python315.zip";
    /// The variables of every Python bundle: the locale and time zone the runtime has (for
    /// libraries that read them). The interpreter's hash seed comes from `random_get`, which
    /// the task seeds; `PYTHONHASHSEED` (set by the sandbox) is informative only.
    pub const ENV: &[(&str, &str)] = &[("LC_ALL", "C.UTF-8"), ("TZ", "UTC")];

    /// The arguments that run `/app/<main>` as `__main__`, with `/app` first on `sys.path` and
    /// `sys.argv` as for `python /app/<main> <task args>` (the runtime runs isolated, so it
    /// would not add the script's directory by itself).
    pub fn args(main: &str) -> Vec<String> {
        let script = format!("/app/{main}");
        vec![
            "-c".to_string(),
            format!(
                "import sys, runpy; sys.argv[0] = {script:?}; sys.path.insert(0, '/app'); runpy.run_path({script:?}, run_name='__main__')"
            ),
        ]
    }
}

/// A failure to build a bundle.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// Reading a source file or writing the blob directory failed.
    #[error("{path}: {source}")]
    Io {
        /// The path concerned.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The bundle breaks a rule of the format.
    #[error(transparent)]
    Invalid(#[from] BundleError),
    /// No module was given.
    #[error("the bundle has no module: name the .wasm to run (or a runtime)")]
    NoModule,
}

/// Builds a bundle into a blob directory: every part is hashed as it is copied (or hard-linked)
/// to `<blobs>/<sha256 hex>`, then [`BundleBuilder::finish`] writes the encoded manifest there
/// too, so the directory is a complete local store of the app.
pub struct BundleBuilder {
    blobs: PathBuf,
    module: Option<Part>,
    args: Vec<String>,
    env: BTreeMap<String, String>,
    files: Vec<BundleFile>,
}

impl BundleBuilder {
    /// A builder writing into `blobs` (created if missing).
    pub fn new(blobs: &Path) -> Result<Self, BuildError> {
        std::fs::create_dir_all(blobs).map_err(|source| BuildError::Io {
            path: blobs.to_path_buf(),
            source,
        })?;
        Ok(BundleBuilder {
            blobs: blobs.to_path_buf(),
            module: None,
            args: Vec::new(),
            env: BTreeMap::new(),
            files: Vec::new(),
        })
    }

    /// Adds the content of `src` to the blob directory; returns its part.
    pub fn add_blob(&self, src: &Path) -> Result<Part, BuildError> {
        let io_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| BuildError::Io { path, source }
        };
        let mut file = std::fs::File::open(src).map_err(io_err(src))?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut size = 0u64;
        loop {
            let n = file.read(&mut buf).map_err(io_err(src))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            size += n as u64;
        }
        let part = Part {
            sha256: <[u8; 32]>::from(hasher.finalize()).into(),
            size,
        };
        let dest = blob_path(&self.blobs, &part);
        if check_part(&self.blobs, &part).is_err() {
            let _ = std::fs::remove_file(&dest);
            // A hard link shares the runtime's 100 MB with its source; a copy where it can't.
            if std::fs::hard_link(src, &dest).is_err() {
                let tmp = self
                    .blobs
                    .join(format!(".{}.tmp", hex::encode(part.sha256)));
                std::fs::copy(src, &tmp).map_err(io_err(&tmp))?;
                std::fs::rename(&tmp, &dest).map_err(io_err(&dest))?;
            }
        }
        Ok(part)
    }

    /// Sets the module.
    pub fn module(&mut self, src: &Path) -> Result<&mut Self, BuildError> {
        self.module = Some(self.add_blob(src)?);
        Ok(self)
    }

    /// Adds the file `src` at `/app/<path>`.
    pub fn file(&mut self, path: &str, src: &Path) -> Result<&mut Self, BuildError> {
        decloud_protocol::bundle::check_path(path)?;
        let part = self.add_blob(src)?;
        self.files.retain(|f| f.path != path);
        self.files.push(BundleFile {
            path: path.to_string(),
            part,
        });
        Ok(self)
    }

    /// Adds the arguments placed before the task's.
    pub fn args<I: IntoIterator<Item = S>, S: Into<String>>(&mut self, args: I) -> &mut Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sets an environment variable.
    pub fn env(&mut self, name: &str, value: &str) -> &mut Self {
        self.env.insert(name.to_string(), value.to_string());
        self
    }

    /// The CPython-WASI runtime from its artifacts directory: its module, its standard-library
    /// zip and its environment.
    pub fn python_runtime(&mut self, artifacts: &Path) -> Result<&mut Self, BuildError> {
        self.module(&artifacts.join(python::MODULE))?;
        self.file(python::ZIP_PATH, &artifacts.join(python::STDLIB_ZIP))?;
        for (k, v) in python::ENV {
            self.env(k, v);
        }
        Ok(self)
    }

    /// Validates the bundle and writes its encoding to the blob directory; returns the bundle,
    /// its checksum, and the path of the manifest (`<blobs>/<checksum hex>`).
    pub fn finish(
        &self,
    ) -> Result<(Bundle, decloud_protocol::bundle::Checksum, PathBuf), BuildError> {
        let mut bundle = Bundle {
            module: self.module.ok_or(BuildError::NoModule)?,
            args: self.args.clone(),
            env: self.env.clone(),
            files: self.files.clone(),
        };
        bundle.normalize();
        let bytes = bundle.encode()?;
        let checksum = decloud_protocol::bundle::sha256(&bytes);
        let path = self.blobs.join(hex::encode(checksum));
        std::fs::write(&path, &bytes).map_err(|source| BuildError::Io {
            path: path.clone(),
            source,
        })?;
        Ok((bundle, checksum, path))
    }
}

/// A bundle that cannot be laid out from its blob directory.
#[derive(Debug, thiserror::Error)]
pub enum AssembleError {
    /// A part is missing from the blob directory.
    #[error("the bundle part {sha256} is not in {dir}: download or build it first")]
    Missing {
        /// The part's sha256 (0x hex).
        sha256: String,
        /// The blob directory.
        dir: PathBuf,
    },
    /// A part's size differs from the bundle's.
    #[error(
        "the bundle part {path} has {actual} bytes, not {expected}: delete it and download it again"
    )]
    WrongSize {
        /// The blob file.
        path: PathBuf,
        /// What the bundle says.
        expected: u64,
        /// What is there.
        actual: u64,
    },
    /// Creating the directory failed.
    #[error("cannot lay the bundle out in {path}: {source}")]
    Io {
        /// The path concerned.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
}

/// The file of `part` in the blob directory `blobs`.
pub fn blob_path(blobs: &Path, part: &Part) -> PathBuf {
    blobs.join(hex::encode(part.sha256))
}

/// Checks that `part` is in `blobs` with the right size; returns its path.
pub fn check_part(blobs: &Path, part: &Part) -> Result<PathBuf, AssembleError> {
    let path = blob_path(blobs, part);
    match std::fs::metadata(&path) {
        Ok(m) if m.is_file() && m.len() == part.size => Ok(path),
        Ok(m) if m.is_file() => Err(AssembleError::WrongSize {
            path,
            expected: part.size,
            actual: m.len(),
        }),
        _ => Err(AssembleError::Missing {
            sha256: part.sha256.to_string(),
            dir: blobs.to_path_buf(),
        }),
    }
}

/// Lays `bundle`'s files out under `dest` (the future `/app`) from the blob directory `blobs`,
/// by hard link where the filesystem allows and by copy elsewhere. `dest` is named by the
/// bundle's checksum and only ever appears complete (built beside it, then renamed), so an
/// existing `dest` is reused as is and many tasks of one app share one layout.
pub fn assemble(bundle: &Bundle, blobs: &Path, dest: &Path) -> Result<(), AssembleError> {
    if dest.is_dir() {
        return Ok(());
    }
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| AssembleError::Io { path, source }
    };
    let parent = dest.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(io_err(parent))?;
    let tmp = tempfile::Builder::new()
        .prefix(".assemble-")
        .tempdir_in(parent)
        .map_err(io_err(parent))?;
    for file in &bundle.files {
        let src = check_part(blobs, &file.part)?;
        let to = tmp.path().join(&file.path);
        if let Some(dir) = to.parent() {
            std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        }
        if std::fs::hard_link(&src, &to).is_err() {
            std::fs::copy(&src, &to).map_err(io_err(&to))?;
        }
    }
    let built = tmp.keep();
    if let Err(source) = std::fs::rename(&built, dest) {
        let _ = std::fs::remove_dir_all(&built);
        // Another run laid the same bundle out first: its layout is as good as ours.
        if dest.is_dir() {
            return Ok(());
        }
        return Err(AssembleError::Io {
            path: dest.to_path_buf(),
            source,
        });
    }
    Ok(())
}

/// How `bundle` starts when its files are laid out in `app_dir`.
pub fn launch(bundle: &Bundle, app_dir: PathBuf) -> Launch {
    let has_usr = bundle.files.iter().any(|f| f.path.starts_with("usr/"));
    Launch {
        mounts: if has_usr {
            vec![(USR_DIR.to_string(), app_dir.join("usr"))]
        } else {
            Vec::new()
        },
        app_dir: (!bundle.files.is_empty()).then_some(app_dir),
        args: bundle.args.clone(),
        env: bundle
            .env
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    }
}

/// The guest path of a bundle file.
pub fn guest_path(file: &str) -> String {
    format!("{APP_DIR}/{file}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use decloud_protocol::bundle::BundleFile;

    fn put(blobs: &Path, bytes: &[u8]) -> Part {
        let part = Part::of(bytes);
        std::fs::write(blob_path(blobs, &part), bytes).unwrap();
        part
    }

    #[test]
    fn a_bundle_is_laid_out_once_and_checked() {
        let blobs = tempfile::tempdir().unwrap();
        let apps = tempfile::tempdir().unwrap();
        let a = put(blobs.path(), b"print('a')\n");
        let z = put(blobs.path(), b"zip bytes");
        let bundle = Bundle {
            module: Part::of(b"\0asm"),
            files: vec![
                BundleFile {
                    path: "lib/python.zip".into(),
                    part: z,
                },
                BundleFile {
                    path: "main.py".into(),
                    part: a,
                },
            ],
            ..Default::default()
        };
        let dest = apps.path().join("app1");
        assemble(&bundle, blobs.path(), &dest).unwrap();
        assert_eq!(
            std::fs::read(dest.join("lib/python.zip")).unwrap(),
            b"zip bytes"
        );
        assert_eq!(
            std::fs::read(dest.join("main.py")).unwrap(),
            b"print('a')\n"
        );
        // Reused as is the second time.
        assemble(&bundle, blobs.path(), &dest).unwrap();
        let l = launch(&bundle, dest.clone());
        assert_eq!(l.app_dir.as_deref(), Some(dest.as_path()));

        // A missing or truncated part fails, and leaves nothing behind.
        let mut broken = bundle.clone();
        broken.files[1].part.size += 1;
        let dest2 = apps.path().join("app2");
        let err = assemble(&broken, blobs.path(), &dest2).unwrap_err();
        assert!(matches!(err, AssembleError::WrongSize { .. }), "{err}");
        broken.files[1].part = Part::of(b"absent");
        let err = assemble(&broken, blobs.path(), &dest2).unwrap_err();
        assert!(matches!(err, AssembleError::Missing { .. }), "{err}");
        assert!(!dest2.exists());
        let leftovers: Vec<_> = std::fs::read_dir(apps.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, vec![std::ffi::OsString::from("app1")]);
    }
}
