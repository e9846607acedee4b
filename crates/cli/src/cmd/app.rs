//! `decloud app ...`: commands for app developers.

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use decloud_runtime::{Captured, Limits, Outcome, RunReport, Runtime, RuntimeConfig, TaskContext};

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
    /// Run a module locally under the same sandbox a worker uses and print its result digest,
    /// to check an app's determinism before deploying it.
    Exec(ExecArgs),
    /// Deploy, show and list apps on chain.
    #[command(flatten)]
    Registry(super::resource::AppVerbs),
}

/// Arguments of `decloud app exec`.
#[derive(Args)]
struct ExecArgs {
    /// The WASI preview-1 command module (`.wasm`, built for wasm32-wasip1).
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
        AppCommand::Exec(args) => exec(args, home, json).await,
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
    let wasm =
        std::fs::read(&a.module).with_context(|| format!("cannot read {}", a.module.display()))?;
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
    let module = a.module.clone();
    let input = a.input.clone();
    let run_limits = limits.clone();
    let run_output = output.clone();
    let report: RunReport = tokio::task::spawn_blocking(move || -> anyhow::Result<RunReport> {
        let runtime = Runtime::new(RuntimeConfig {
            cache_dir: Some(cache),
            ..Default::default()
        })?;
        let app = runtime
            .compile(&wasm)
            .map_err(|e| anyhow::anyhow!("{}: {e}", module.display()))?;
        Ok(runtime.run(&app, &task, input.as_deref(), &run_output, &run_limits)?)
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
        println!("fuel      {}", report.fuel_consumed);
        println!("time      {:.1} ms", report.elapsed.as_secs_f64() * 1000.0);
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
