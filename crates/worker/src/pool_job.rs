//! Jobs of the pool's own client API (desktop-grid mode): no chain, no stake, no vote. The
//! worker downloads the app and the datum from the scheduler (for the job it holds only),
//! checks their sha256, runs the app in the same sandbox as a deal's task, and uploads the
//! packed `/out` to the scheduler. Such a job is not saved for a restart: the scheduler hands
//! it out again only when an administrator resets it (a pool job has no deadline to claim).

use std::path::Path;
use std::sync::Arc;

use base64::Engine;
use decloud_protocol::pool::{JobOutcome, WorkOrder};
use decloud_runtime::{Digest, Limits, Outcome, TaskContext};
use decloud_storage::results;
use tokio::sync::OwnedSemaphorePermit;

use crate::Context;

/// The category time a pool job runs under (its fuel and wall-clock caps).
pub const POOL_JOB_TIME_REF_SECS: u64 = 300;

/// Runs `order` and reports its end to the scheduler; frees `permit` when done.
pub(crate) async fn run(ctx: Arc<Context>, order: WorkOrder, permit: OwnedSemaphorePermit) {
    let outcome = match execute(&ctx, &order).await {
        Ok(result) => JobOutcome::Completed {
            result: base64::engine::general_purpose::STANDARD.encode(result),
        },
        Err(reason) => {
            tracing::warn!(job = %order.job, %reason, "pool job failed");
            JobOutcome::Failed { reason }
        }
    };
    match ctx.scheduler.pool_job_finish(&order.job, &outcome).await {
        Ok(()) => tracing::info!(job = %order.job, "pool job done"),
        Err(e) => tracing::warn!(job = %order.job, error = %e, "cannot upload a pool job's end"),
    }
    drop(permit);
}

/// A name safe as one path component.
fn safe(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-_@:".contains(c))
}

async fn execute(ctx: &Context, order: &WorkOrder) -> Result<Vec<u8>, String> {
    if !safe(&order.job) {
        return Err(format!("job id {:?} is not a safe name", order.job));
    }
    let max = ctx.config.max_download_bytes;
    let module = ctx
        .scheduler
        .pool_job_file(&order.job, "app", max)
        .await
        .map_err(|e| format!("cannot download the app: {e}"))?;
    if Digest::sha256(&module).to_hex() != order.app_checksum {
        return Err("the app's module does not match its sha256".into());
    }
    let work = ctx.config.data_dir.join("pool-jobs").join(&order.job);
    let (input, output) = (work.join("in"), work.join("out"));
    let _ = std::fs::remove_dir_all(&work);
    for dir in [&input, &output] {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let mut dataset_filename = None;
    if let Some((name, checksum)) = &order.datum {
        if !safe(name) {
            return Err(format!("datum name {name:?} is not a safe file name"));
        }
        let bytes = ctx
            .scheduler
            .pool_job_file(&order.job, "datum", max)
            .await
            .map_err(|e| format!("cannot download the datum: {e}"))?;
        if Digest::sha256(&bytes).to_hex() != *checksum {
            return Err("the datum does not match its sha256".into());
        }
        std::fs::write(input.join(name), bytes)
            .map_err(|e| format!("cannot keep the datum: {e}"))?;
        dataset_filename = Some(name.clone());
    }
    let args = TaskContext::split_args(&order.args).map_err(|e| e.to_string())?;
    let task = TaskContext {
        task_id: Digest::sha256(order.job.as_bytes()).0,
        args,
        dataset_filename,
        input_file_names: Vec::new(),
        clock_secs: order.clock_secs,
        callback: false,
    };
    let limits = Limits::for_category(POOL_JOB_TIME_REF_SECS);
    let runtime = ctx.runtime.clone();
    let (in_dir, out_dir, run_limits) = (input.clone(), output.clone(), limits.clone());
    let report = tokio::task::spawn_blocking(move || {
        let app = runtime.compile(&module)?;
        runtime.run(&app, &task, Some(&in_dir), &out_dir, &run_limits)
    })
    .await
    .map_err(|e| format!("the sandbox thread failed: {e}"))?
    .map_err(|e| format!("the app cannot run: {e}"))?;
    if let Outcome::TimedOut { after } = report.outcome {
        return Err(format!(
            "the app ran past its wall-clock cap of {} s",
            after.as_secs()
        ));
    }
    let packed = results::pack_dir(&output, limits.output_bytes.saturating_add(1 << 20))
        .map_err(|e| format!("cannot pack the result: {e}"));
    let _ = std::fs::remove_dir_all(&work);
    remove_empty(&ctx.config.data_dir.join("pool-jobs"));
    packed
}

fn remove_empty(dir: &Path) {
    let _ = std::fs::remove_dir(dir);
}
