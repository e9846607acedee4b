//! How a run ended: an error of the sandbox sorted into an outcome, and the app's output read back
//! into a digest (or a deterministic failure record).

use crate::digest::{self, Computed, Digest, EncodeError, FailureKind, FailureRecord};
use crate::limits::Limits;
use crate::runtime::{COMPUTED_JSON, OUT_DIR, RuntimeError, one_line};
use crate::task::{Outcome, TaskContext};
use std::io;
use std::path::Path;
use wasmtime::Trap;
use wasmtime_wasi::I32Exit;

/// Sorts an error of the run into an outcome; `Ok(None)` is a clean `exit(0)`.
pub(crate) fn classify(
    err: &wasmtime::Error,
    memory_hit: Option<String>,
    limits: &Limits,
) -> Result<Option<Outcome>, RuntimeError> {
    if let Some(exit) = err.downcast_ref::<I32Exit>() {
        return Ok(match exit.0 {
            0 => None,
            code => Some(Outcome::Failed(FailureRecord::new(
                FailureKind::Exit,
                format!("the app exited with status {code}"),
            ))),
        });
    }
    if let Some(hit) = memory_hit {
        return Ok(Some(Outcome::Failed(FailureRecord::new(
            FailureKind::MemoryLimit,
            hit,
        ))));
    }
    if let Some(trap) = err.downcast_ref::<Trap>() {
        return Ok(Some(match trap {
            Trap::Interrupt => Outcome::TimedOut {
                after: limits.wall_clock(),
            },
            Trap::OutOfFuel => Outcome::Failed(FailureRecord::new(
                FailureKind::OutOfFuel,
                format!("the fuel budget of {} ran out", limits.fuel),
            )),
            other => Outcome::Failed(FailureRecord::new(FailureKind::Trap, other.to_string())),
        }));
    }
    if err.downcast_ref::<wasmtime::UnknownImportError>().is_some() {
        return Ok(Some(Outcome::Failed(FailureRecord::new(
            FailureKind::Instantiation,
            one_line(err),
        ))));
    }
    Err(RuntimeError::Host(one_line(err)))
}

/// After a clean exit: checks the output size, reads `computed.json` and computes the digest.
pub(crate) fn finish(
    task: &TaskContext,
    output: &Path,
    limits: &Limits,
) -> Result<Outcome, RuntimeError> {
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| RuntimeError::Io { path, source }
    };
    let fail = |kind, detail: String| Ok(Outcome::Failed(FailureRecord::new(kind, detail)));
    let (bytes, files) = digest::measure(output, limits.output_bytes, limits.output_files)
        .map_err(io_err(output))?;
    if bytes > limits.output_bytes {
        return fail(
            FailureKind::OutputTooLarge,
            format!(
                "/out holds more than the limit of {} bytes",
                limits.output_bytes
            ),
        );
    }
    if files > limits.output_files {
        return fail(
            FailureKind::OutputTooLarge,
            format!(
                "/out holds more than the limit of {} files",
                limits.output_files
            ),
        );
    }
    let computed_path = output.join(COMPUTED_JSON);
    let meta = match std::fs::symlink_metadata(&computed_path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return fail(
                FailureKind::MissingComputedJson,
                "the app wrote no /out/computed.json".into(),
            );
        }
        Err(e) => return Err(io_err(&computed_path)(e)),
    };
    if !meta.is_file() {
        return fail(
            FailureKind::MalformedComputedJson,
            "/out/computed.json is not a regular file".into(),
        );
    }
    let text = std::fs::read(&computed_path).map_err(io_err(&computed_path))?;
    let computed: Computed = match serde_json::from_slice(&text) {
        Ok(c) => c,
        Err(e) => {
            return fail(
                FailureKind::MalformedComputedJson,
                format!(
                    "/out/computed.json is not an object with optional string keys \
                     \"deterministic-output-path\" and \"callback-data\": {e}"
                ),
            );
        }
    };
    let callback_data = match &computed.callback_data {
        None => None,
        Some(s) => match digest::decode_callback_data(s) {
            Some(bytes) if bytes.len() as u64 <= limits.callback_data_bytes => Some(bytes),
            Some(bytes) => {
                return fail(
                    FailureKind::InvalidCallbackData,
                    format!(
                        "callback-data is {} bytes, over the limit of {}",
                        bytes.len(),
                        limits.callback_data_bytes
                    ),
                );
            }
            None => {
                return fail(
                    FailureKind::InvalidCallbackData,
                    "callback-data is not 0x-prefixed hex bytes".into(),
                );
            }
        },
    };
    let digest = if task.callback {
        match &callback_data {
            Some(bytes) => Digest::keccak256(bytes),
            None => {
                return fail(
                    FailureKind::InvalidCallbackData,
                    "the deal has a callback but computed.json has no callback-data".into(),
                );
            }
        }
    } else {
        let guest = computed
            .deterministic_output_path
            .as_deref()
            .unwrap_or(OUT_DIR);
        let Some(rel) = digest::relative_output_path(guest) else {
            return fail(
                FailureKind::InvalidOutputPath,
                format!("deterministic-output-path {guest:?} is not a path inside /out"),
            );
        };
        let root = output.join(&rel);
        match std::fs::symlink_metadata(&root) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return fail(
                    FailureKind::InvalidOutputPath,
                    format!("deterministic-output-path {guest:?} does not exist"),
                );
            }
            Err(e) => return Err(io_err(&root)(e)),
            Ok(_) => {}
        }
        match digest::output_digest(&root, guest) {
            Ok(d) => d,
            Err(EncodeError::Failure(record)) => return Ok(Outcome::Failed(record)),
            Err(EncodeError::Io(e)) => return Err(io_err(&root)(e)),
        }
    };
    Ok(Outcome::Completed {
        digest,
        computed,
        callback_data,
    })
}
