//! Getting a compiled [`App`]: compiling a module, checking that the sandbox can run it, and
//! the compiled-module caches, in memory and on disk (`<sha256>-<engine>.cwasm`).

use super::{App, CompiledFrom, Entry, LoadReport, Runtime, RuntimeError, one_line};
use crate::digest::Digest;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Instant;
use wasmtime::Module;

/// Compiled-module cache entries larger than this are mapped rather than read (see
/// `Runtime::load_cached`).
const MAP_CACHE_ENTRIES_OVER: u64 = 64 << 20;

/// How many compiled apps are kept in memory before the in-memory cache is emptied.
const MEMORY_CACHE_APPS: usize = 64;

impl Runtime {
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
}
