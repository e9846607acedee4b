//! TEE tasks: the scheduler's authorization of a worker's enclave, and the start of its task.

use super::*;

/// The body of `POST /v1/tasks/{taskid}/enclave`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct EnclaveRequest {
    /// The address of the enclave's result key E.
    enclave: Address,
}

/// The authorization of the session's worker on its own replicate of a TEE task, bound to the
/// enclave key E it names. E is fixed at the first call: asking again with the same E answers
/// the same authorization (a retried request), another E is refused, so one replicate never
/// holds two enclaves (a key holder releases a task's secrets to one enclave only).
pub(super) async fn enclave_authorization(
    State(state): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(task_id): Path<String>,
    body: Result<Json<EnclaveRequest>, JsonRejection>,
) -> Result<Json<decloud_protocol::pool::Authorization>, SchedulerError> {
    let task_id = parse_id(&task_id, "the task id")?;
    let request = SchedulerError::json_body(body)?;
    let worker = authenticate(&state, &headers).await?;
    if request.enclave == Address::ZERO {
        return Err(SchedulerError::BadRequest(
            "the enclave address is zero: send the address of the enclave's result key".into(),
        ));
    }
    let task = state.store.task(task_id).await?.ok_or_else(|| {
        SchedulerError::NotFound(format!(
            "task {task_id} is not one of this workerpool's tasks (or its deal is not seen yet)"
        ))
    })?;
    let deal = state.store.deal(task.deal_id).await?.ok_or_else(|| {
        SchedulerError::NotFound(format!("the deal of task {task_id} is not seen yet"))
    })?;
    let tee = decloud_protocol::Tag::TEE.0;
    if deal.deal.tag & tee != tee {
        return Err(SchedulerError::Forbidden(format!(
            "task {task_id} is not a TEE task: its authorization came with the assignment"
        )));
    }
    let bound = state
        .store
        .bind_enclave(task_id, worker, request.enclave)
        .await?;
    match bound {
        None => Err(SchedulerError::Forbidden(format!(
            "worker {worker} holds no assigned replicate of task {task_id}: claim work first"
        ))),
        Some(e) if e != request.enclave => Err(SchedulerError::Conflict(format!(
            "the replicate of task {task_id} is already bound to enclave {e}: one enclave per replicate"
        ))),
        Some(enclave) => {
            start_task(&state, &deal, task.index, task_id).await?;
            let sign = decloud_protocol::result::sign_authorization(
                &state.signer,
                worker,
                task_id,
                enclave,
            )
            .map_err(|e| SchedulerError::Config(format!("cannot sign an authorization: {e}")))?;
            tracing::info!(task = %task_id, worker = %worker, %enclave, "enclave authorized");
            Ok(Json(decloud_protocol::pool::Authorization {
                worker,
                task_id,
                enclave,
                sign,
            }))
        }
    }
}

/// Initializes a TEE task that is not started on chain yet: a key holder releases secrets only
/// to an ACTIVE task, and the hub's lazy initialization (by the first contribution) comes too
/// late for that. Only the scheduler may initialize before the final deadline, so it does it
/// here, once per task (a second call finds it active).
async fn start_task(
    state: &Shared,
    deal: &crate::db::DealRow,
    index: u64,
    task_id: B256,
) -> Result<(), SchedulerError> {
    let client = &state.client;
    let hub = client.hub();
    let view = client.read("reading the task", hub.task(task_id)).await?;
    if view.status != 0 {
        return Ok(());
    }
    let call = hub.initialize((&deal.deal).into(), alloy::primitives::U256::from(index));
    if let Err(e) = client
        .send("initializing the TEE task", call.into_transaction_request())
        .await
    {
        // Another request may have initialized it meanwhile.
        let view = client.read("reading the task", hub.task(task_id)).await?;
        if view.status == 0 {
            return Err(SchedulerError::Chain(format!(
                "cannot initialize TEE task {task_id} on chain: {e}; ask again"
            )));
        }
    }
    tracing::info!(task = %task_id, "TEE task initialized for its enclave's release");
    Ok(())
}
