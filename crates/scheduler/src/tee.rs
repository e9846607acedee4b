//! TEE tasks in scheduling: who may get one, and what happens to one whose enclave is gone.
//!
//! A key holder (an SMS node) releases a task's secrets to one enclave key only, so a TEE task
//! is not like other work: once a worker's enclave asked for its secrets, no other worker can
//! ever run it. Three rules follow.
//!
//! - Only a worker that announced a TEE backend at login ([`TeeBackend`]) gets TEE tasks, and
//!   not one that failed a TEE task without ever producing an enclave (its announcement was
//!   false: [`refuse_after_failure`]). The announcement is a hint; the key holders' appraisal is
//!   the check.
//! - A TEE task whose replicate is bound to an enclave and still assigned or lost goes to no
//!   one else, not even as a backup ([`blocked`]): another worker would only be refused.
//! - When the worker holding the enclave is lost, the task is given up at once with a reason
//!   that says when the requester can claim its refund (`give_up_lost_enclaves`).

use alloy::primitives::{Address, B256};
use decloud_protocol::pool::{TeeBackend, WorkerInfo};

use crate::db::{DealRow, Store};
use crate::{SchedulerError, Shared};

/// Whether `deal` has the TEE tag.
pub fn is_tee(deal: &DealRow) -> bool {
    let tee = decloud_protocol::Tag::TEE.0;
    deal.deal.tag & tee == tee
}

/// Whether `worker` may get a TEE task: it announced a backend and never proved it false.
pub fn runs_tee(worker: &WorkerInfo) -> bool {
    worker.tee != TeeBackend::None && worker.tee_refused.is_none()
}

/// Whether TEE task `task_id` is held by an enclave (bound and assigned, or bound and lost),
/// so that no other worker may get it.
pub async fn blocked(store: &Store, task_id: B256) -> Result<bool, SchedulerError> {
    Ok(store.enclave_holder(task_id).await?.is_some())
}

/// After `worker` reported its replicate of TEE task `task_id` failed: if it never bound an
/// enclave, its TEE backend does not work (or does not exist), so it gets no more TEE tasks.
/// A failure after the binding (a key holder refused, a secret is missing) is not its fault.
pub async fn refuse_after_failure(
    store: &Store,
    task_id: B256,
    worker: Address,
    reason: &str,
) -> Result<(), SchedulerError> {
    if store.replicate_enclave(task_id, worker).await?.is_some() {
        return Ok(());
    }
    let short: String = reason.chars().take(200).collect();
    let why = format!(
        "it announced a TEE backend but failed TEE task {task_id} without producing an enclave ({short})"
    );
    store.refuse_tee(worker, &why).await?;
    tracing::warn!(%worker, task = %task_id, "worker gets no more TEE tasks: it failed one without producing an enclave");
    Ok(())
}

/// Gives up every open TEE task whose enclave `worker` (just lost) held: its key holders
/// released, or may have released, the secrets to that enclave only. The reason names the
/// worker and when the requester can claim its refund (the task's final deadline).
pub(crate) async fn give_up_lost_enclaves(shared: &Shared, worker: Address) {
    let lost = match shared.store.lost_enclaves(worker).await {
        Ok(lost) => lost,
        Err(e) => {
            tracing::warn!(error = %e, %worker, "reading the lost worker's enclaves failed");
            return;
        }
    };
    for (task_id, deal_id, enclave) in lost {
        let deadline = final_deadline(shared, task_id, deal_id).await;
        let when = match deadline {
            Some(at) => format!("after {} (unix {at})", utc(at)),
            None => "after its final deadline (10 reference times after it started)".into(),
        };
        let reason = format!(
            "enclave {enclave} is bound to lost worker {worker}: key holders release a task's secrets to one enclave only, so no other worker can run it; the requester can claim a refund {when} with `decloud task claim {task_id}`"
        );
        match shared.store.give_up(task_id, &reason).await {
            Ok(()) => {
                tracing::warn!(task = %task_id, %worker, %enclave, "TEE task given up: its enclave's worker is lost")
            }
            Err(e) => tracing::warn!(error = %e, task = %task_id, "giving up a TEE task failed"),
        }
    }
}

/// The task's final deadline on chain (its initialization time plus 10 reference times), if
/// the chain answers and the task is initialized.
async fn final_deadline(shared: &Shared, task_id: B256, deal_id: B256) -> Option<u64> {
    let deal = shared.store.deal(deal_id).await.ok()??;
    let hub = shared.client.hub();
    let view = shared
        .client
        .read("reading the task", hub.task(task_id))
        .await
        .ok()?;
    let init: u64 = view.initTime.to();
    (init != 0)
        .then(|| init + decloud_protocol::deadline::FINAL_DEADLINE_RATIO * deal.reference_secs())
}

/// `unix` as `YYYY-MM-DD HH:MM:SS UTC` (the proleptic Gregorian calendar; days to a civil date
/// by Howard Hinnant's algorithm, so no date crate is needed for one line of text).
fn utc(unix: u64) -> String {
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::utc;

    #[test]
    fn utc_formats_known_instants() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc(1_764_756_000), "2025-12-03 10:00:00 UTC");
    }
}
