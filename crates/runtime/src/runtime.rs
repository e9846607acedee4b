//! The engine, the compiled-module cache and the run itself.

use crate::capture::CappedPipe;
use crate::clock::{FixedWallClock, TaskRng, VirtualClock};
use crate::digest::{self, Digest, FailureKind, FailureRecord};
use crate::limits::Limits;
use crate::outcome::{classify, finish};
use crate::sandbox::{self, Limiter, PollState};
use crate::task::{Outcome, RunReport, TaskContext};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use wasmtime::{Config, Engine, InstancePre, Linker, Module, OptLevel, Store, UpdateDeadline};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

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
/// must never be contributed. A deterministic failure of the app is an [`Outcome::Failed`].
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
    /// Environment variables set before the sandbox's own ([`TaskContext::env`] wins).
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

/// How often the watchdog checks the wall-clock cap and the size of `/out` during a run.
const WATCHDOG_PERIOD: Duration = Duration::from_millis(100);

/// Compiled-module cache entries larger than this are mapped rather than read (see
/// `Runtime::load_cached`).
const MAP_CACHE_ENTRIES_OVER: u64 = 64 << 20;

/// How many compiled apps are kept in memory before the in-memory cache is emptied.
const MEMORY_CACHE_APPS: usize = 64;

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

    /// The path of the on-disk cache entry of a module with `checksum`, if there is a cache.
    pub fn cache_path(&self, checksum: &Digest) -> Option<PathBuf> {
        let dir = self.cache_dir.as_ref()?;
        Some(dir.join(format!("{}-{}.cwasm", checksum.to_hex(), self.engine_hash)))
    }

    /// Compiles `wasm` (or finds it in the memory or disk cache, by its sha256) and checks that
    /// it is a WASI command whose imports the sandbox provides.
    pub fn compile(&self, wasm: &[u8]) -> Result<App, RuntimeError> {
        let checksum = Digest::sha256(wasm);
        self.get_or_compile(checksum, || Ok(std::borrow::Cow::Borrowed(wasm)))
            .map(|(app, _)| app)
    }

    /// [`Runtime::compile`], saying where the compiled module came from and how long it took.
    pub fn compile_reported(&self, wasm: &[u8]) -> Result<(App, LoadReport), RuntimeError> {
        let started = Instant::now();
        let checksum = Digest::sha256(wasm);
        let (app, mut report) =
            self.get_or_compile(checksum, || Ok(std::borrow::Cow::Borrowed(wasm)))?;
        report.elapsed = started.elapsed();
        Ok((app, report))
    }

    /// The compiled app of the module with sha256 `checksum` at `path`: from memory, else from
    /// the disk cache without reading `path` at all (a large runtime module is then ready in
    /// the time it takes to map its compiled code), else read, checked against `checksum` and
    /// compiled. Reports where it came from and how long it took.
    pub fn load_known(
        &self,
        checksum: Digest,
        path: &Path,
    ) -> Result<(App, LoadReport), RuntimeError> {
        self.get_or_compile(checksum, || {
            let wasm = std::fs::read(path).map_err(|source| RuntimeError::Io {
                path: path.to_path_buf(),
                source,
            })?;
            let actual = Digest::sha256(&wasm);
            if actual != checksum {
                return Err(RuntimeError::InvalidModule(format!(
                    "{} hashes to {actual}, not to the expected {checksum}: download it again",
                    path.display()
                )));
            }
            Ok(std::borrow::Cow::Owned(wasm))
        })
    }

    /// Compiles `wasm`, which must hash to `checksum`, without the disk cache: neither read nor
    /// written, so the compiled code of a module that must not reach a disk (an encrypted app
    /// opened in an enclave) stays in this process's memory.
    pub fn compile_in_memory(
        &self,
        checksum: Digest,
        wasm: &[u8],
    ) -> Result<(App, LoadReport), RuntimeError> {
        let started = Instant::now();
        let actual = Digest::sha256(wasm);
        if actual != checksum {
            return Err(RuntimeError::InvalidModule(format!(
                "the module hashes to {actual}, not to the expected {checksum}"
            )));
        }
        self.compile_with(checksum, started, false, || {
            Ok(std::borrow::Cow::Borrowed(wasm))
        })
    }

    fn get_or_compile<'a>(
        &self,
        checksum: Digest,
        wasm: impl FnOnce() -> Result<std::borrow::Cow<'a, [u8]>, RuntimeError>,
    ) -> Result<(App, LoadReport), RuntimeError> {
        self.compile_with(checksum, Instant::now(), true, wasm)
    }

    fn compile_with<'a>(
        &self,
        checksum: Digest,
        started: Instant,
        disk: bool,
        wasm: impl FnOnce() -> Result<std::borrow::Cow<'a, [u8]>, RuntimeError>,
    ) -> Result<(App, LoadReport), RuntimeError> {
        if let Some(app) = self
            .apps
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&checksum)
        {
            let report = LoadReport {
                from: CompiledFrom::Memory,
                elapsed: started.elapsed(),
            };
            return Ok((app.clone(), report));
        }
        let cached = if disk {
            self.load_cached(&checksum)
        } else {
            None
        };
        let (module, from) = match cached {
            Some(module) => (module, CompiledFrom::Disk),
            None => {
                let wasm = wasm()?;
                let module = Module::new(&self.engine, &wasm)
                    .map_err(|e| RuntimeError::InvalidModule(one_line(&e)))?;
                if disk {
                    self.store_cached(&checksum, &module)?;
                }
                (module, CompiledFrom::Compiled)
            }
        };
        let app = self.prepare(checksum, module)?;
        let mut apps = self.apps.lock().unwrap_or_else(|e| e.into_inner());
        if apps.len() >= MEMORY_CACHE_APPS {
            apps.clear();
        }
        apps.insert(checksum, app.clone());
        let report = LoadReport {
            from,
            elapsed: started.elapsed(),
        };
        Ok((app, report))
    }

    /// Reads and compiles the module at `path` (see [`Runtime::compile`]).
    pub fn load(&self, path: &Path) -> Result<App, RuntimeError> {
        let wasm = std::fs::read(path).map_err(|source| RuntimeError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        self.compile(&wasm)
    }

    /// Forgets the in-memory compiled apps (the disk cache stays): the next
    /// [`Runtime::compile`] loads from disk, as after a restart.
    pub fn clear_memory_cache(&self) {
        self.apps.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    fn load_cached(&self, checksum: &Digest) -> Option<Module> {
        let path = self.cache_path(checksum)?;
        if !path.is_file() {
            return None;
        }
        // Small entries are read into memory rather than mapped: a cache file truncated in place
        // by another process would otherwise crash this one with SIGBUS. Large ones (a language
        // runtime's compiled code is hundreds of MB) are mapped, so that a warm start costs
        // the mapping rather than a copy of it all; this runtime itself never truncates an
        // entry in place (it writes beside it and renames), and the directory is private.
        let size = std::fs::metadata(&path).ok()?.len();
        // SAFETY: the cache directory is private to this runtime (documented on
        // `RuntimeConfig::cache_dir`) and only ever holds files that `Module::serialize` wrote for
        // this engine configuration (the engine hash is in the name; wasmtime checks the rest and
        // refuses an incompatible file, which we then recompile).
        let loaded = if size > MAP_CACHE_ENTRIES_OVER {
            unsafe { Module::deserialize_file(&self.engine, &path) }
        } else {
            let bytes = std::fs::read(&path).ok()?;
            unsafe { Module::deserialize(&self.engine, &bytes) }
        };
        match loaded {
            Ok(module) => Some(module),
            Err(err) => {
                tracing::warn!(path = %path.display(), error = %one_line(&err), "dropping an unusable compiled-module cache entry");
                let _ = std::fs::remove_file(&path);
                None
            }
        }
    }

    fn store_cached(&self, checksum: &Digest, module: &Module) -> Result<(), RuntimeError> {
        let (Some(dir), Some(path)) = (&self.cache_dir, self.cache_path(checksum)) else {
            return Ok(());
        };
        let bytes = module
            .serialize()
            .map_err(|e| RuntimeError::Engine(one_line(&e)))?;
        let cache_err = |source| RuntimeError::Cache {
            path: dir.clone(),
            source,
        };
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(cache_err)?;
        io::Write::write_all(&mut tmp, &bytes).map_err(cache_err)?;
        tmp.persist(&path).map_err(|e| cache_err(e.error))?;
        Ok(())
    }

    fn prepare(&self, checksum: Digest, module: Module) -> Result<App, RuntimeError> {
        let is_func = |name| matches!(module.get_export(name), Some(wasmtime::ExternType::Func(_)));
        let entry = if is_func("_start") {
            Entry::Command
        } else {
            let run_ok = match module.get_export("run") {
                Some(wasmtime::ExternType::Func(f)) => {
                    f.params().len() == 0
                        && f.results().len() == 1
                        && f.results().all(|r| matches!(r, wasmtime::ValType::I32))
                }
                _ => false,
            };
            if !run_ok {
                return Err(RuntimeError::NotACommand(
                    "it exports neither a `_start` function nor a reactor's `run: () -> i32`: build the app as a binary (a `fn main`) for wasm32-wasip1".into(),
                ));
            }
            Entry::Reactor {
                initialize: is_func("_initialize"),
            }
        };
        let pre = self.linker.instantiate_pre(&module).map_err(|e| {
            RuntimeError::NotACommand(format!(
                "{} (the sandbox provides WASI preview 1 only: no threads, no sockets)",
                one_line(&e)
            ))
        })?;
        Ok(App {
            checksum,
            entry,
            pre,
        })
    }

    /// Runs `app` for `task` with `input` mounted read-only at `/in` (an empty directory when
    /// `None`) and `output` (an existing, empty directory) writable at `/out`, under `limits`.
    ///
    /// Returns the outcome (success, deterministic failure or timeout) with the captured logs;
    /// `Err` only for host-side problems, which must not be contributed. After a deterministic
    /// failure, the record is also written to `output/decloud-error.json`.
    pub fn run(
        &self,
        app: &App,
        task: &TaskContext,
        input: Option<&Path>,
        output: &Path,
        limits: &Limits,
    ) -> Result<RunReport, RuntimeError> {
        self.run_with(app, &Launch::default(), task, input, output, limits)
    }

    /// [`Runtime::run`] for an app that starts with more than its module: a bundle's files at
    /// `/app`, its arguments before the task's, its environment before the sandbox's.
    pub fn run_with(
        &self,
        app: &App,
        launch: &Launch,
        task: &TaskContext,
        input: Option<&Path>,
        output: &Path,
        limits: &Limits,
    ) -> Result<RunReport, RuntimeError> {
        for dir in launch
            .app_dir
            .iter()
            .chain(launch.mounts.iter().map(|m| &m.1))
        {
            if !dir.is_dir() {
                return Err(RuntimeError::InputDir(dir.clone()));
            }
        }
        let empty_in;
        let input = match input {
            Some(dir) => {
                if !dir.is_dir() {
                    return Err(RuntimeError::InputDir(dir.to_path_buf()));
                }
                dir.to_path_buf()
            }
            None => {
                empty_in = tempfile::tempdir().map_err(|source| RuntimeError::Io {
                    path: std::env::temp_dir(),
                    source,
                })?;
                empty_in.path().to_path_buf()
            }
        };
        let output_ok = std::fs::read_dir(output)
            .map(|mut d| d.next().is_none())
            .unwrap_or(false);
        if !output_ok {
            return Err(RuntimeError::OutputDir(output.to_path_buf()));
        }

        let stdout = CappedPipe::new(limits.log_bytes);
        let stderr = CappedPipe::new(limits.log_bytes);
        let clock = VirtualClock::default();
        let wall = Duration::from_secs(task.clock_secs);
        let mut b = WasiCtxBuilder::new();
        // The bundle's variables first, the sandbox's after: a later duplicate wins in wasi-libc's
        // getenv, and Bundle::validate already refuses the sandbox's names.
        b.allow_blocking_current_thread(true)
            .arg(ARGV0)
            .args(&launch.args)
            .args(&task.args)
            .envs(&launch.env)
            .envs(&task.env())
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .wall_clock(FixedWallClock(wall))
            .monotonic_clock(clock.clone())
            .secure_random(TaskRng::new(b"decloud-random-v1", &task.task_id))
            .insecure_random(TaskRng::new(b"decloud-insecure-random-v1", &task.task_id))
            .insecure_random_seed(u128::from_le_bytes(
                Digest::sha256(&[b"decloud-seed-v1".as_slice(), &task.task_id].concat()).0[..16]
                    .try_into()
                    .expect("16 bytes"),
            ))
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        b.preopened_dir(&input, IN_DIR, FsPerms::ReadOnly)
            .map_err(|e| RuntimeError::Io {
                path: input.clone(),
                source: io::Error::other(one_line(&e)),
            })?;
        b.preopened_dir(output, OUT_DIR, FsPerms::ReadWrite)
            .map_err(|e| RuntimeError::Io {
                path: output.to_path_buf(),
                source: io::Error::other(one_line(&e)),
            })?;
        let app_mount = launch.app_dir.iter().map(|d| (APP_DIR, d));
        let more = launch.mounts.iter().map(|(g, d)| (g.as_str(), d));
        for (guest, dir) in app_mount.chain(more) {
            b.preopened_dir(dir, guest, FsPerms::ReadOnly)
                .map_err(|e| RuntimeError::Io {
                    path: dir.clone(),
                    source: io::Error::other(one_line(&e)),
                })?;
        }
        let state = State {
            wasi: b.build_p1(),
            limiter: Limiter {
                memory_bytes: usize::try_from(limits.memory_bytes).unwrap_or(usize::MAX),
                table_elements: usize::try_from(limits.table_elements).unwrap_or(usize::MAX),
                hit: None,
                peak_memory: 0,
            },
            clock,
            wall_ns: u64::try_from(wall.as_nanos()).unwrap_or(u64::MAX),
            output_over: false,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        store
            .set_fuel(limits.fuel)
            .map_err(|e| RuntimeError::Engine(one_line(&e)))?;
        // The watchdog: every WATCHDOG_PERIOD of epoch ticks, stop the run if it is past the
        // wall-clock cap (a timeout) or if /out is already over its limits (so that an app
        // cannot fill the worker's disk before the final check).
        let period =
            (WATCHDOG_PERIOD.as_millis() / self.epoch_tick.as_millis().max(1)).max(1) as u64;
        let started = Instant::now();
        let deadline = started + limits.wall_clock();
        let (watched, max_bytes, max_files) = (
            output.to_path_buf(),
            limits.output_bytes,
            limits.output_files,
        );
        store.set_epoch_deadline(period);
        store.epoch_deadline_callback(move |mut ctx| {
            if Instant::now() >= deadline {
                return Ok(UpdateDeadline::Interrupt);
            }
            if let Ok((bytes, files)) = digest::measure(&watched, max_bytes, max_files)
                && (bytes > max_bytes || files > max_files)
            {
                ctx.data_mut().output_over = true;
                return Ok(UpdateDeadline::Interrupt);
            }
            Ok(UpdateDeadline::Continue(period))
        });

        let result = app
            .pre
            .instantiate(&mut store)
            .and_then(|instance| match app.entry {
                Entry::Command => {
                    let start = instance.get_typed_func::<(), ()>(&mut store, "_start")?;
                    start.call(&mut store, ())
                }
                Entry::Reactor { initialize } => {
                    if initialize {
                        instance
                            .get_typed_func::<(), ()>(&mut store, "_initialize")?
                            .call(&mut store, ())?;
                    }
                    let run = instance.get_typed_func::<(), i32>(&mut store, "run")?;
                    match run.call(&mut store, ())? {
                        0 => Ok(()),
                        code => Err(wasmtime::Error::new(wasmtime_wasi::I32Exit(code))),
                    }
                }
            });
        let elapsed = started.elapsed();
        let fuel_consumed = limits.fuel.saturating_sub(store.get_fuel().unwrap_or(0));
        let peak_memory_bytes = store.data().limiter.peak_memory as u64;
        let memory_hit = store.data_mut().limiter.hit.take();
        let output_over = store.data().output_over;
        drop(store);

        let ended = match result {
            Ok(()) => None,
            Err(_) if output_over => Some(Outcome::Failed(FailureRecord::new(
                FailureKind::OutputTooLarge,
                format!(
                    "/out went over the limit of {} bytes or {} files during the run",
                    limits.output_bytes, limits.output_files
                ),
            ))),
            Err(err) => classify(&err, memory_hit, limits)?,
        };
        let outcome = match ended {
            Some(outcome) => outcome,
            None => finish(task, output, limits)?,
        };
        if let Outcome::Failed(record) = &outcome {
            let path = output.join(ERROR_JSON);
            std::fs::write(&path, record.canonical_bytes())
                .map_err(|source| RuntimeError::Io { path, source })?;
        }
        Ok(RunReport {
            outcome,
            stdout: stdout.take(),
            stderr: stderr.take(),
            fuel_consumed,
            elapsed,
            peak_memory_bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::Computed;
    use crate::task::outcome_of_output;

    #[test]
    fn a_failure_in_a_callback_deal_is_contributed_as_callback_data() {
        let record = FailureRecord::new(FailureKind::Trap, "unreachable");
        let failed = Outcome::Failed(record.clone());
        let plain = failed.contribution(false).unwrap();
        assert_eq!(plain.digest, record.digest());
        assert_eq!(plain.callback_data, None);
        let cb = failed.contribution(true).unwrap();
        assert_eq!(
            cb.callback_data.as_deref(),
            Some(&record.canonical_bytes()[..])
        );
        assert_eq!(cb.digest, Digest::keccak256(&record.canonical_bytes()));
        let timed_out = Outcome::TimedOut {
            after: Duration::from_secs(1),
        };
        assert_eq!(timed_out.contribution(true), None);
        let completed = Outcome::Completed {
            digest: Digest([7; 32]),
            computed: Computed::default(),
            callback_data: Some(vec![1, 2]),
        };
        assert_eq!(completed.contribution(false).unwrap().callback_data, None);
        assert_eq!(
            completed.contribution(true).unwrap().callback_data,
            Some(vec![1, 2])
        );
    }

    #[test]
    fn an_output_directory_gives_the_digest_of_its_run() {
        let dir = tempfile::tempdir().unwrap();
        let limits = Limits::for_category(1);
        let missing = outcome_of_output(dir.path(), false, &limits).unwrap();
        assert!(
            matches!(&missing, Outcome::Failed(r) if r.kind == FailureKind::MissingComputedJson),
            "{missing:?}"
        );
        std::fs::write(
            dir.path().join(COMPUTED_JSON),
            br#"{"callback-data":"0x0102"}"#,
        )
        .unwrap();
        match outcome_of_output(dir.path(), true, &limits).unwrap() {
            Outcome::Completed { digest, .. } => assert_eq!(digest, Digest::keccak256(&[1, 2])),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn split_args_is_shell_like_and_strict() {
        let split = |s| TaskContext::split_args(s).unwrap();
        assert_eq!(split("  a  b\tc "), ["a", "b", "c"]);
        assert_eq!(
            split(r#"'x y' "p \"q\"" z\ w """#),
            ["x y", "p \"q\"", "z w", ""]
        );
        assert_eq!(split(r#"a'b'"c""#), ["abc"]);
        assert!(split("").is_empty());
        assert!(TaskContext::split_args("'open").is_err());
        assert!(TaskContext::split_args("\"open").is_err());
        assert!(TaskContext::split_args("end\\").is_err());
    }
}
