//! One replicate from claim to reveal: fetch and verify the app and its inputs, run it in the
//! sandbox, pack and keep the result, stake, contribute (or contribute and reveal at once when
//! trust ≤ 1), then reveal when the scheduler says the consensus is on this result. The chain's
//! side (stake, upload, contribution, reveal) is in [`crate::contribute`].
//!
//! Every stage is saved before the next begins ([`crate::state`]), and every chain step first
//! asks the chain whether it already happened, so a worker restarted at any point resumes
//! without contributing twice or losing a contribution.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use alloy::primitives::{Address, B256, Bytes};
use alloy::sol_types::SolValue;
use decloud_protocol::TaskStatus;
use decloud_protocol::pool::{Assignment, Report, ReportStatus, StageTime, Stages};
use decloud_protocol::typed::Deal;
use decloud_runtime::{Limits, Outcome, TaskContext};
use decloud_scheduler::client::ClientError;
use decloud_storage::results;
use serde::Deserialize;
use tokio::sync::OwnedSemaphorePermit;

use crate::Context;
use crate::contribute::{await_reveal, contribute, settled_on_chain, upload_archive};
use crate::inputs::{copy_local, fetch_resource, prepare_app, safe_file_name};
use crate::state::{Computed, Job, Stage};

/// How long a `next` long poll waits.
pub(crate) const NEXT_WAIT: Duration = Duration::from_secs(20);
/// How many times a report is tried before the worker gives up on telling the scheduler.
const REPORT_ATTEMPTS: u32 = 8;
/// Contribution status on the hub: revealed.
pub(crate) const CONTRIBUTION_REVEALED: u8 = 2;

/// Whether a task whose hub status code is `code` is at `status` or past it.
pub(crate) fn reached(code: u8, status: TaskStatus) -> bool {
    TaskStatus::from_u8(code).is_some_and(|s| s >= status)
}

/// Why a replicate could not be computed or contributed: reported to the scheduler, never
/// contributed. One line, with no secret in it.
#[derive(Debug)]
pub(crate) struct Failure {
    /// What went wrong.
    pub reason: String,
    /// The chain could not be reached (or did not mine in time): the same step may succeed
    /// later, and giving up could forfeit a contribution already on chain.
    pub transient: bool,
}

impl From<decloud_chain::ChainError> for Failure {
    fn from(e: decloud_chain::ChainError) -> Self {
        Failure {
            transient: e.is_transient(),
            reason: e.to_string(),
        }
    }
}

pub(crate) fn fail(reason: impl Into<String>) -> Failure {
    Failure {
        reason: reason.into(),
        transient: false,
    }
}

/// Makes the job states saved so far durable before something that depends on them is sent
/// ([`crate::state::JobStore::sync`]); when they cannot be, nothing may be sent.
pub(crate) fn sync_saved_states(ctx: &Context) -> Result<(), Failure> {
    ctx.jobs.sync().map_err(|e| {
        fail(format!(
            "the worker cannot make its state durable, so it sends nothing: {e}"
        ))
    })
}

/// How long a replicate keeps trying a step the chain failed transiently before it gives up.
const TRANSIENT_PATIENCE: Duration = Duration::from_secs(600);

/// The request's params (the JSON the requester put in its order).
#[derive(Debug, Default, Deserialize)]
struct Params {
    #[serde(default)]
    args: Option<String>,
    #[serde(default)]
    input_files: Vec<String>,
}

/// Runs `job` to its end; `permit` is a slot of the worker's capacity, held while the job
/// computes and contributes (not while it waits for the consensus).
pub(crate) async fn run(
    ctx: Arc<Context>,
    mut job: Job,
    mut permit: Option<OwnedSemaphorePermit>,
    resumed: bool,
) {
    // An audit's job is keyed by the audit's id (its worker may also hold the task's own).
    let task_id = job.assignment.record_id();
    // After a transient failure, each step first reads the chain (as a resumed job does), so
    // nothing already done is done twice.
    let mut resumed = resumed;
    let mut unreachable_since: Option<std::time::Instant> = None;
    let mut delay = Duration::from_secs(1);
    loop {
        let step = match job.stage.clone() {
            Stage::Claimed => match settled_on_chain(&ctx, &job.assignment, resumed).await {
                Ok(Some(reason)) => {
                    tracing::info!(task = %task_id, %reason, "resumed job not computed again");
                    // Let go of the replicate: one left assigned counts against this worker
                    // once its grace passes.
                    tell(&ctx, &job.assignment, failed(reason)).await;
                    Ok(None)
                }
                Ok(None) if crate::tee_job::is_tee(&job.assignment) => {
                    crate::tee_job::run(&ctx, &job.assignment, resumed)
                        .await
                        .map(|()| None)
                }
                Ok(None) => computed_and_uploaded(&ctx, &job.assignment)
                    .await
                    .map(|c| Some(Stage::Computed(c))),
                Err(f) => Err(f),
            },
            Stage::Computed(mut computed) => {
                contribute(&ctx, &job.assignment, &mut computed, resumed)
                    .await
                    .map(|waits| waits.then_some(Stage::Contributed(computed)))
            }
            Stage::Contributed(computed) => {
                permit.take();
                await_reveal(&ctx, &job.assignment, &computed, resumed)
                    .await
                    .map(|()| None)
            }
        };
        match step {
            Ok(Some(next)) => {
                unreachable_since = None;
                delay = Duration::from_secs(1);
                job.stage = next;
                // Durable before anything that needs it is sent: the batcher (or `contribute`,
                // for a write it does not batch) syncs the saves first, one sync for a batch.
                if let Err(e) = ctx.jobs.save_pending(&job) {
                    // Without its state the job can't resume: say so and stop here; the
                    // scheduler reassigns the work if nothing reached the chain.
                    tracing::error!(task = %task_id, error = %e, "cannot save the job's state");
                    tell(
                        &ctx,
                        &job.assignment,
                        failed(format!("the worker cannot save its state: {e}")),
                    )
                    .await;
                    break;
                }
            }
            Ok(None) => break,
            Err(Failure {
                reason,
                transient: true,
            }) if unreachable_since.is_none_or(|t| t.elapsed() < TRANSIENT_PATIENCE) => {
                // A contribution may already be on chain: giving up here would leave it
                // unrevealed (the task stalls and the stake is lost). Try the step again.
                unreachable_since.get_or_insert_with(std::time::Instant::now);
                tracing::warn!(task = %task_id, %reason, retry_in_s = delay.as_secs(), "the chain failed; trying the step again");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(30));
                resumed = true;
            }
            Err(Failure { reason, .. }) => {
                tracing::warn!(task = %task_id, %reason, "replicate failed");
                tell(&ctx, &job.assignment, failed(reason)).await;
                break;
            }
        }
    }
    finish(&ctx, task_id);
}

/// Runs the app, then uploads its result (an audit's is never delivered: not uploaded), so that
/// the state saved next says where the storage node keeps it and the packed result on the
/// worker's disk never needs a sync: what the contribution needs is on the storage node (its
/// blobs are synced before it answers) and in that saved state. Uploaded before anything is
/// sent, too: a result the storage refuses (too large...) fails the replicate before it costs a
/// stake. Its location stays private until the reveal.
async fn computed_and_uploaded(ctx: &Arc<Context>, a: &Assignment) -> Result<Computed, Failure> {
    let (mut computed, archive) = compute(ctx, a, None).await?;
    if a.audit.is_none() {
        upload_archive(ctx, &mut computed, archive).await?;
    }
    Ok(computed)
}

/// The report of a revealed result: where it is, its callback data, and the app's failure if
/// the result is one.
pub(crate) fn revealed(computed: &Computed, location: String) -> Report {
    Report {
        status: ReportStatus::Revealed,
        reason: computed.failure.clone(),
        results_location: Some(location),
        callback_data: computed.callback_data.clone(),
        stages: Some(computed.stages),
    }
}

pub(crate) fn failed(reason: String) -> Report {
    Report {
        status: ReportStatus::Failed,
        reason: Some(reason),
        results_location: None,
        callback_data: None,
        stages: None,
    }
}

/// Unix time in milliseconds (the stages' start times).
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

/// A stage that started at `started_ms` (unix) and `started` (monotonic) and ends now.
pub(crate) fn stage_since(started_ms: u64, started: std::time::Instant) -> StageTime {
    StageTime {
        started_ms,
        millis: started.elapsed().as_millis() as u64,
        ..StageTime::default()
    }
}

/// Size of the files directly in `dir` (what was downloaded into `/in`).
fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok()?.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}

/// Forgets a finished job: its saved state and its result archive.
fn finish(ctx: &Context, task_id: B256) {
    if let Err(e) = ctx.jobs.remove(task_id) {
        tracing::warn!(task = %task_id, error = %e, "cannot remove a finished job's state");
    }
    // Only jobs saved by older workers have one; a file left behind is disk the worker loses.
    let archive = ctx.config.data_dir.join(result_file(task_id));
    match std::fs::remove_file(&archive) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            tracing::warn!(task = %task_id, path = %archive.display(), error = %e, "cannot remove a finished job's result archive");
        }
        _ => {}
    }
}

/// Reports on `a`'s replicate to the scheduler ([`report`]); an audit's replicate is not
/// reported: the scheduler keeps no record of it and reads the audit from the chain.
pub(crate) async fn tell(ctx: &Context, a: &Assignment, r: Report) {
    if a.audit.is_none() {
        report(ctx, a.task_id, r).await;
    }
}

/// Tells the scheduler, retrying for a while if it does not answer.
pub(crate) async fn report(ctx: &Context, task_id: B256, report: Report) {
    let mut delay = Duration::from_millis(250);
    for attempt in 1..=REPORT_ATTEMPTS {
        match ctx.scheduler.report(task_id, &report).await {
            Ok(()) => return,
            // Refused: retrying will not change the answer. A server error (a scheduler
            // stopping, its database failing) may pass: the report is sent again, as it must be
            // for a result the chain already holds to be finalized.
            Err(e @ ClientError::Refused { status, .. }) if status < 500 => {
                tracing::warn!(task = %task_id, error = %e, "the scheduler refused a report");
                return;
            }
            Err(e) => {
                tracing::debug!(task = %task_id, attempt, error = %e, "report failed; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(10));
            }
        }
    }
    tracing::warn!(task = %task_id, status = %report.status, "the scheduler could not be told");
}

fn result_file(task_id: B256) -> String {
    format!("results/{task_id}.tar")
}

pub(crate) fn deal_of(assignment: &Assignment) -> Result<Deal, Failure> {
    Deal::abi_decode(&assignment.deal)
        .map_err(|e| fail(format!("the scheduler sent an undecodable deal: {e}")))
}

/// What a TEE task's enclave got from the key holders, for [`compute`].
pub(crate) struct EnclaveInputs<'a> {
    /// The memory-backed directory of the opened secrets, mounted read-only at `/secrets`.
    pub secrets: &'a Path,
    /// The memory-backed input directory (`/in`), beside the secrets: the dataset is opened
    /// there, so its plaintext never reaches the task's work directory on disk.
    pub input: &'a Path,
    /// The identity that opens the deal's encrypted dataset.
    pub dataset_key: Option<&'a decloud_age::Identity>,
    /// The identity that opens the deal's encrypted app.
    pub app_key: Option<&'a decloud_age::Identity>,
}

/// Fetches everything, runs the app and packs its result: the job's state and the packed
/// archive, which the caller uploads from memory. A TEE task passes what its enclave got
/// (`enclave`): its secrets are mounted, its dataset is decrypted before the app sees it.
///
/// The archive is not kept in a file: it is uploaded before the job's state is saved (a TEE
/// task's: before anything is sent), so a restarted job whose state does not say where it is
/// runs the app again, and a file would only cost an inode made and removed per task.
pub(crate) async fn compute(
    ctx: &Arc<Context>,
    a: &Assignment,
    enclave: Option<EnclaveInputs<'_>>,
) -> Result<(Computed, Vec<u8>), Failure> {
    let deal = deal_of(a)?;
    let app = a.app.as_ref().ok_or_else(|| {
        fail("the scheduler does not know where the app is (no registration event)")
    })?;
    let params: Params = if a.params.trim().is_empty() {
        Params::default()
    } else {
        serde_json::from_str(&a.params).map_err(|e| {
            fail(format!(
                "the request's params are not {{\"args\": \"...\", \"input_files\": [...]}}: {e}"
            ))
        })?
    };
    let args = TaskContext::split_args(params.args.as_deref().unwrap_or_default())
        .map_err(|e| fail(e.to_string()))?;

    let work = ctx
        .scratch
        .take()
        .map_err(|e| fail(format!("cannot prepare a work directory: {e}")))?;
    let input = enclave
        .as_ref()
        .map_or_else(|| work.input(), |e| e.input.to_path_buf());
    let output = work.output();

    let (fetch_started_ms, fetch_started) = (now_ms(), std::time::Instant::now());
    let app_cached = ctx
        .config
        .data_dir
        .join("apps")
        .join(
            if decloud_protocol::encrypted_app::ciphertext_uri(&app.uri).is_some() {
                format!("{}.wasm.age", app.checksum)
            } else {
                format!("{}.wasm", app.checksum)
            },
        )
        .exists();
    let prepared = prepare_app(ctx, app, enclave.as_ref().and_then(|e| e.app_key)).await?;
    let fetch_ms = fetch_started.elapsed().as_millis() as u64;

    let mut dataset_filename = None;
    if let Some(dataset) = &a.dataset {
        let name = safe_file_name(&dataset.name, "dataset");
        let path = input.join(&name);
        // The checksum checked is the ciphertext's (what is registered).
        let local = ctx
            .config
            .local_data
            .iter()
            .find(|(address, _)| *address == dataset.address);
        match local {
            Some((_, source)) => copy_local(dataset, source, &path)?,
            None if dataset.uri.starts_with(crate::LOCAL_DATASET_URI) => {
                return Err(fail(format!(
                    "dataset {} is local to its owner's machines and this worker does not hold it: only a worker started with --data {}=PATH runs its tasks (confine it to the owner's workers)",
                    dataset.address, dataset.address
                )));
            }
            None => fetch_resource(ctx, dataset, &path).await?,
        }
        if let Some(key) = enclave.as_ref().and_then(|e| e.dataset_key) {
            let sealed =
                std::fs::read(&path).map_err(|e| fail(format!("cannot read the dataset: {e}")))?;
            let plain = decloud_age::decrypt(&sealed, key).map_err(|e| {
                fail(format!(
                    "the dataset does not open with the key its owner gave the SMS: {e}"
                ))
            })?;
            std::fs::write(&path, plain)
                .map_err(|e| fail(format!("cannot write the opened dataset: {e}")))?;
        }
        dataset_filename = Some(name);
    } else if deal.dataset != Address::ZERO {
        return Err(fail(
            "the scheduler does not know where the dataset is (no registration event)",
        ));
    }
    let mut input_file_names = Vec::new();
    for (i, uri) in params.input_files.iter().enumerate() {
        let mut name = safe_file_name(uri, &format!("input-{}", i + 1));
        if input_file_names.contains(&name) || dataset_filename.as_ref() == Some(&name) {
            name = format!("{}-{name}", i + 1);
        }
        crate::policy::check_uri(uri, ctx.config.allow_private_hosts)
            .await
            .map_err(|e| fail(format!("input file {uri}: {e}")))?;
        decloud_storage::uri::fetch_to_file(
            uri,
            None,
            ctx.config.max_download_bytes,
            &input.join(&name),
        )
        .await
        .map_err(|e| fail(format!("cannot download the input file {uri}: {e}")))?;
        input_file_names.push(name);
    }
    let app_bytes = if app_cached {
        0
    } else {
        std::fs::metadata(&prepared.app_file).map_or(0, |m| m.len())
    };
    let download = StageTime {
        bytes: Some(app_bytes + dir_bytes(&input)),
        ..stage_since(fetch_started_ms, fetch_started)
    };

    let task = TaskContext {
        task_id: a.task_id.0,
        args,
        dataset_filename,
        input_file_names,
        clock_secs: a.start_time,
        callback: a.callback != Address::ZERO,
    };
    let limits = Limits::for_category(a.work_clock_time_ref);
    let runtime = ctx.runtime.clone();
    let (in_dir, out_dir) = (input.clone(), output.clone());
    let run_limits = limits.clone();
    let (module_path, module_checksum, mut launch, opened) = (
        prepared.module.clone(),
        prepared.module_checksum,
        prepared.launch.clone(),
        prepared.opened,
    );
    if let Some(enclave) = &enclave {
        launch.mounts.push((
            crate::tee_job::SECRETS_DIR.to_owned(),
            enclave.secrets.to_path_buf(),
        ));
    }
    let run_started_ms = now_ms();
    let report = tokio::task::spawn_blocking(move || {
        let (app, loaded) = match &opened {
            Some(module) => runtime.compile_in_memory(module_checksum, module)?,
            None => runtime.load_known(module_checksum, &module_path)?,
        };
        drop(opened);
        runtime
            .run_with(&app, &launch, &task, Some(&in_dir), &out_dir, &run_limits)
            .map(|report| (report, loaded))
    })
    .await
    .map_err(|e| fail(format!("the sandbox thread failed: {e}")))?;
    let (report, loaded) = match report {
        Ok(r) => r,
        Err(e @ decloud_runtime::RuntimeError::InvalidModule(_)) => {
            // Not the app's registered bytes? They were checked; the module itself is bad.
            let _ = std::fs::remove_file(&prepared.module);
            let _ = std::fs::remove_file(&prepared.app_file);
            return Err(fail(format!("the app cannot run: {e}")));
        }
        Err(e) => return Err(fail(format!("the sandbox failed: {e}"))),
    };
    let callback = a.callback != Address::ZERO;
    let Some(contribution) = report.outcome.contribution(callback) else {
        return Err(fail(format!(
            "the app ran past its wall-clock cap of {} s: not contributed (a timeout is not deterministic)",
            limits.wall_clock().as_secs()
        )));
    };
    let failure = match &report.outcome {
        Outcome::Failed(record) => {
            // A failed run's result is its record alone: whatever else /out holds is partial
            // (and may be over the size limit).
            let keep = output.join(decloud_runtime::ERROR_JSON);
            let record_bytes = std::fs::read(&keep).unwrap_or_else(|_| record.canonical_bytes());
            crate::scratch::empty(&output)
                .and_then(|()| std::fs::write(&keep, record_bytes))
                .map_err(|e| fail(format!("cannot keep the failure record: {e}")))?;
            Some(format!("the app failed deterministically: {record}"))
        }
        _ => None,
    };
    let archive = results::pack_dir(&output, limits.output_bytes.saturating_add(1 << 20))
        .map_err(|e| fail(format!("cannot pack the result: {e}")))?;
    drop(work);
    tracing::info!(
        task = %a.task_id,
        digest = %contribution.digest,
        fuel = report.fuel_consumed,
        ms = report.elapsed.as_millis() as u64,
        fetch_ms,
        load_ms = loaded.elapsed.as_millis() as u64,
        compiled_from = ?loaded.from,
        memory_bytes = report.peak_memory_bytes,
        failure = failure.as_deref().unwrap_or(""),
        "app run"
    );
    let computed = Computed {
        digest: B256::from(contribution.digest.0),
        result_file: result_file(a.record_id()),
        callback_data: contribution.callback_data.map(Bytes::from),
        failure,
        stages: Stages {
            download: Some(download),
            run: Some(StageTime {
                started_ms: run_started_ms,
                millis: report.elapsed.as_millis() as u64,
                fuel: Some(report.fuel_consumed),
                bytes: None,
            }),
            ..Stages::default()
        },
        location: None,
    };
    Ok((computed, archive))
}
