//! The engine, the compiled-module cache and the run itself: the sandbox's public types and the
//! engine's setup are here, compiling and caching apps in `cache`, running them in `run`.

mod cache;
mod run;

use crate::clock::VirtualClock;
use crate::digest::Digest;
use crate::sandbox::{self, Limiter, PollState};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;
use wasmtime::{Config, Engine, InstancePre, Linker, OptLevel};
use wasmtime_wasi::p1::WasiP1Ctx;

/// The guest path of the read-only input directory.
pub const IN_DIR: &str = "/in";
/// The guest path of the writable output directory.
pub const OUT_DIR: &str = "/out";
/// The file an app writes to describe its result.
pub const COMPUTED_JSON: &str = "computed.json";
/// The file the runtime writes into the output directory after a deterministic failure.
pub const ERROR_JSON: &str = "decloud-error.json";
/// `argv[0]` of every app: the same everywhere, so it cannot leak a host path.
pub const ARGV0: &str = "app";
/// The guest path of an app bundle's read-only files.
pub const APP_DIR: &str = "/app";
/// What the sandbox answers to `host.call`, the one import of CPython-WASI beyond WASI preview 1:
/// "no host here" (its runner's own code for a call without a host function). No app needs it,
/// and a host function would be a way out of the sandbox.
pub const HOST_CALL_REFUSED: i32 = -1;

/// Errors of the runtime itself (the host side): they say nothing about the app's result and
/// must never be contributed. A deterministic failure of the app is an
/// [`Outcome::Failed`](crate::Outcome::Failed).
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The bytes are not a valid WebAssembly module (the message is one line).
    #[error("not a valid WebAssembly module: {0}")]
    InvalidModule(String),
    /// The module is valid wasm but not a WASI preview-1 command this sandbox can run.
    #[error("not a runnable WASI command: {0}")]
    NotACommand(String),
    /// The wasmtime engine could not be configured (a bug or an unsupported host).
    #[error("cannot set up the wasm engine: {0}")]
    Engine(String),
    /// The compiled-module cache directory cannot be used.
    #[error(
        "the compiled-module cache {path} is unusable ({source}): check its permissions or choose another directory"
    )]
    Cache {
        /// The cache directory or file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The input directory does not exist or is not a directory.
    #[error("the input directory {0} does not exist or is not a directory")]
    InputDir(PathBuf),
    /// The output directory is missing, not a directory, or not empty.
    #[error("the output directory {0} must be an existing, empty directory")]
    OutputDir(PathBuf),
    /// A host I/O error (reading a module, hashing the output...).
    #[error("{path}: {source}")]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The sandbox failed on the host side during the run (not the app's fault).
    #[error(
        "the sandbox failed on the host side: {0}; this is not the app's result, do not contribute it"
    )]
    Host(String),
}

/// Settings of a [`Runtime`].
#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    /// Where compiled modules are kept across restarts (`<sha256>-<engine>.cwasm`); `None` keeps
    /// them in memory only. The directory must be private to this worker: its files are loaded
    /// as native code.
    pub cache_dir: Option<PathBuf>,
    /// Granularity of the wall-clock cap (epoch interruption period).
    pub epoch_tick: Duration,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            cache_dir: None,
            epoch_tick: Duration::from_millis(10),
        }
    }
}

/// How a module is entered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Entry {
    /// A WASI command: `_start`, whose `proc_exit` gives the status.
    Command,
    /// A reactor exporting `run: () -> i32` (the status), after `_initialize` when it has one:
    /// CPython-WASI's shape.
    Reactor { initialize: bool },
}

/// A compiled app, ready to instantiate. Cheap to clone.
#[derive(Clone)]
pub struct App {
    checksum: Digest,
    entry: Entry,
    pre: InstancePre<State>,
}

/// Where [`Runtime::load_known`] found a compiled module.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CompiledFrom {
    /// Already in this process.
    Memory,
    /// The on-disk cache of compiled modules (as after a restart).
    Disk,
    /// Compiled now from the module's bytes (and stored in the disk cache).
    Compiled,
}

/// How long getting a compiled module took, and where it came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoadReport {
    /// Where the compiled module came from.
    pub from: CompiledFrom,
    /// Host time to get it (reading, hashing and compiling, or deserializing).
    pub elapsed: Duration,
}

/// How an app starts beyond its task: a bundle's files, arguments and environment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Launch {
    /// A host directory mounted read-only at [`APP_DIR`] (a bundle's files); none for a plain
    /// module.
    pub app_dir: Option<PathBuf>,
    /// Arguments after `argv[0]` and before the task's arguments (e.g. the script to run).
    pub args: Vec<String>,
    /// Environment variables set before the sandbox's own
    /// ([`TaskContext::env`](crate::TaskContext::env) wins).
    pub env: Vec<(String, String)>,
    /// More read-only mounts: (guest path, host directory), e.g. a bundle's `usr/` at `/usr`.
    pub mounts: Vec<(String, PathBuf)>,
}

impl App {
    /// The sha256 of the module's bytes (the registry's `checksum`).
    pub fn checksum(&self) -> Digest {
        self.checksum
    }
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("checksum", &self.checksum)
            .finish()
    }
}

pub(crate) struct State {
    wasi: WasiP1Ctx,
    limiter: Limiter,
    clock: VirtualClock,
    wall_ns: u64,
    /// Set by the watchdog when `/out` went over its limits during the run.
    output_over: bool,
}

impl PollState for State {
    fn virtual_clock(&self) -> &VirtualClock {
        &self.clock
    }
    fn wall_clock_ns(&self) -> u64 {
        self.wall_ns
    }
}

/// Stops the epoch ticker thread when the runtime goes away.
struct Ticker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

/// The sandbox: one wasmtime engine configured for determinism, a linker with WASI preview 1,
/// the compiled-module cache, and the epoch ticker of the wall-clock cap. Share one per process
/// (it is `Send + Sync`); [`Runtime::run`] blocks, so call it from a thread (e.g.
/// `tokio::task::spawn_blocking`), not from an async task.
pub struct Runtime {
    engine: Engine,
    linker: Linker<State>,
    cache_dir: Option<PathBuf>,
    engine_hash: String,
    epoch_tick: Duration,
    apps: Mutex<HashMap<Digest, App>>,
    _ticker: Ticker,
}

pub(crate) fn one_line(err: &wasmtime::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in err.chain() {
        let s = cause
            .to_string()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        if !s.is_empty() && !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
    }
    parts.join(": ")
}

impl Runtime {
    /// The engine settings of docs/design.md#determinism: fuel, epoch interruption, no threads,
    /// canonical NaNs, deterministic relaxed SIMD.
    fn config() -> Config {
        let mut c = Config::new();
        // No threads: wasmtime is built without its `threads` feature, so shared memories and
        // atomics' waiting are refused at validation, and wasi-threads is not linked.
        c.consume_fuel(true)
            .epoch_interruption(true)
            // CPython-WASI unwinds with wasm exceptions (its C++ parts and setjmp/longjmp).
            // Throwing and catching is deterministic; the exception objects live on the GC heap,
            // which counts against the same memory cap as linear memory.
            .wasm_exceptions(true)
            .wasm_relaxed_simd(true)
            .relaxed_simd_deterministic(true)
            .cranelift_nan_canonicalization(true)
            .cranelift_opt_level(OptLevel::Speed)
            .wasm_component_model(false);
        c
    }

    /// A runtime with `config`; creates the cache directory if needed.
    pub fn new(config: RuntimeConfig) -> Result<Self, RuntimeError> {
        let engine =
            Engine::new(&Self::config()).map_err(|e| RuntimeError::Engine(one_line(&e)))?;
        let mut linker: Linker<State> = Linker::new(&engine);
        wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |s: &mut State| &mut s.wasi)
            .map_err(|e| RuntimeError::Engine(one_line(&e)))?;
        linker.allow_shadowing(true);
        linker
            .func_wrap(
                "wasi_snapshot_preview1",
                "poll_oneoff",
                sandbox::poll_oneoff::<State>,
            )
            .map_err(|e| RuntimeError::Engine(one_line(&e)))?;
        linker
            .func_wrap("host", "call", |_: i32, _: i32, _: i32, _: i32| -> i32 {
                HOST_CALL_REFUSED
            })
            .map_err(|e| RuntimeError::Engine(one_line(&e)))?;
        if let Some(dir) = &config.cache_dir {
            std::fs::create_dir_all(dir).map_err(|source| RuntimeError::Cache {
                path: dir.clone(),
                source,
            })?;
        }
        let mut h = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut h);
        let engine_hash = format!("{:016x}", h.finish());
        let stop = Arc::new(AtomicBool::new(false));
        let tick = config.epoch_tick.max(Duration::from_millis(1));
        let thread = {
            let (engine, stop) = (engine.clone(), stop.clone());
            std::thread::Builder::new()
                .name("decloud-epoch".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::park_timeout(tick);
                        engine.increment_epoch();
                    }
                })
                .map_err(|e| RuntimeError::Engine(format!("cannot start the epoch ticker: {e}")))?
        };
        Ok(Runtime {
            engine,
            linker,
            cache_dir: config.cache_dir,
            engine_hash,
            epoch_tick: tick,
            apps: Mutex::new(HashMap::new()),
            _ticker: Ticker {
                stop,
                thread: Some(thread),
            },
        })
    }
}
