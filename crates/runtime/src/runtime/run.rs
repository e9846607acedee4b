//! The run itself: the WASI context of a task, the caps and the watchdog, and the outcome.

use super::{
    APP_DIR, ARGV0, App, ERROR_JSON, Entry, IN_DIR, Launch, OUT_DIR, Runtime, RuntimeError, State,
    one_line,
};
use crate::capture::CappedPipe;
use crate::clock::{FixedWallClock, TaskRng, VirtualClock};
use crate::digest::{self, Digest, FailureKind, FailureRecord};
use crate::limits::Limits;
use crate::outcome::{classify, finish};
use crate::sandbox::Limiter;
use crate::task::{Outcome, RunReport, TaskContext};
use std::io;
use std::path::Path;
use std::time::{Duration, Instant};
use wasmtime::{Store, UpdateDeadline};
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

/// How often the watchdog checks the wall-clock cap and the size of `/out` during a run.
const WATCHDOG_PERIOD: Duration = Duration::from_millis(100);

impl Runtime {
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
