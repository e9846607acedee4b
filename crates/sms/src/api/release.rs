//! A TEE task's release: the single-use challenge, then the checks, the appraisal, the
//! secrets sealed to the enclave, the `EnclaveAttested` signature and the durable record.

use alloy::primitives::{Address, B256};
use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use decloud_protocol::tee::{self, EnclaveAttested, SecretKind};
use decloud_protocol::{Tag, TaskStatus, deadline::CONTRIBUTION_DEADLINE_RATIO};
use decloud_service::ApiError;
use decloud_tee::{Appraiser, Measurement, Policy, ReportDataFields, TcbStatus};

use crate::seal;
use crate::wire::{Attestation, ChallengeAnswer, ReleaseAnswer, ReleaseRequest, ReleasedSecret};
use crate::{
    CHALLENGE_TTL_SECS, DATASET_KEY_NAME, PARAMS_SECRETS_FIELD, RESULT_RECIPIENT_NAME, SmsError,
    unix_now,
};

use super::{AppState, check_name, row_id};

/// A release nonce: made with the node key and recorded only when a release uses it, so that
/// handing one out costs no write (a keeper answers one per task on its critical path).
pub(super) async fn challenge(
    State(state): State<AppState>,
) -> Result<Json<ChallengeAnswer>, SmsError> {
    let expires_at = unix_now() + CHALLENGE_TTL_SECS;
    let nonce = state.key.challenge(expires_at)?;
    Ok(Json(ChallengeAnswer { nonce, expires_at }))
}

fn tcb_code(status: TcbStatus) -> u8 {
    match status {
        TcbStatus::UpToDate => tee::tcb_status::UP_TO_DATE,
        TcbStatus::SWHardeningNeeded => tee::tcb_status::SW_HARDENING_NEEDED,
        TcbStatus::ConfigurationNeeded | TcbStatus::ConfigurationAndSWHardeningNeeded => {
            tee::tcb_status::CONFIGURATION_NEEDED
        }
        _ => tee::tcb_status::OUT_OF_DATE,
    }
}

/// The requester secrets a deal's params name: `{"secrets": ["NAME", ...]}`.
pub fn named_secrets(params: &str) -> Result<Vec<String>, SmsError> {
    if params.trim().is_empty() {
        return Ok(Vec::new());
    }
    let value: serde_json::Value = serde_json::from_str(params).map_err(|_| {
        SmsError::Forbidden("the deal's params are not JSON: no secret can be named".into())
    })?;
    let Some(list) = value.get(PARAMS_SECRETS_FIELD) else {
        return Ok(Vec::new());
    };
    let names: Vec<String> = serde_json::from_value(list.clone()).map_err(|_| {
        SmsError::Forbidden(format!(
            "the deal's params field {PARAMS_SECRETS_FIELD:?} is not a list of names"
        ))
    })?;
    for name in &names {
        check_name(name)?;
    }
    Ok(names)
}

/// Where a release's time went, in µs per stage (logged with it: measured, not guessed).
struct Laps {
    last: std::time::Instant,
    laps: Vec<(&'static str, u128)>,
}

impl Laps {
    fn new() -> Self {
        Self {
            last: std::time::Instant::now(),
            laps: Vec::new(),
        }
    }

    fn lap(&mut self, stage: &'static str) {
        let now = std::time::Instant::now();
        self.laps
            .push((stage, now.duration_since(self.last).as_micros()));
        self.last = now;
    }
}

impl std::fmt::Display for Laps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, (stage, us)) in self.laps.iter().enumerate() {
            write!(f, "{}{stage}:{us}", if i == 0 { "" } else { "," })?;
        }
        Ok(())
    }
}

pub(super) async fn release(
    State(state): State<AppState>,
    body: Result<Json<ReleaseRequest>, JsonRejection>,
) -> Result<Json<ReleaseAnswer>, SmsError> {
    let started = std::time::Instant::now();
    let r = SmsError::json_body(body)?;
    let chain_id = state.chain.profile().chain_id;
    let task_id = decloud_protocol::task_id(r.deal_id, r.index);
    let h: [u8; 32] = hex::decode(r.hpke_public_key.trim_start_matches("0x"))
        .ok()
        .and_then(|v| v.try_into().ok())
        .ok_or_else(|| SmsError::BadRequest("hpke_public_key must be 32 bytes of hex".into()))?;
    let now = unix_now();
    let mut laps = Laps::new();
    // Whether it is used is decided by the commit, in the transaction that records it.
    let Some(expires_at) = state.key.challenge_expiry(&r.nonce) else {
        return Err(SmsError::Forbidden(
            "unknown nonce: take one from POST /v1/challenges and bind it into report_data".into(),
        ));
    };
    if expires_at < now {
        return Err(SmsError::Forbidden(format!(
            "the nonce expired at {expires_at} (now {now}): take a fresh one from POST /v1/challenges"
        )));
    }
    let deal = state.deals.deal(r.deal_id).await?;
    laps.lap("store");
    let volume = u64::try_from(deal.deal.volume).unwrap_or(u64::MAX);
    if r.index >= volume {
        return Err(SmsError::Forbidden(format!(
            "the deal has {volume} tasks: index {} is not one",
            r.index
        )));
    }
    let authorizer = decloud_protocol::result::authorization_signer(
        &r.authorization,
        r.worker,
        task_id,
        r.enclave,
    )
    .map_err(|e| SmsError::Forbidden(format!("the authorization does not verify: {e}")))?;
    if authorizer != deal.deal.scheduler {
        return Err(SmsError::Forbidden(format!(
            "the authorization is signed by {authorizer}, not by the deal's scheduler {}: ask the scheduler for one",
            deal.deal.scheduler
        )));
    }
    if deal.deal.tag & Tag::TEE.0 != Tag::TEE.0 {
        return Err(SmsError::Forbidden(
            "the deal has no TEE tag: its secrets are released only to TEE tasks".into(),
        ));
    }
    // A random-selection deal's results count only from drawn workers (`contributeDrawn`), and
    // the drawn path takes no TEE deal: an enclave the scheduler authorized for it would be the
    // scheduler's pick, which is what the requester's random tag forbids.
    if deal.deal.tag & Tag::RANDOM.0 == Tag::RANDOM.0 {
        return Err(SmsError::Forbidden(
            "the deal selects its workers at random (tag bit 1): its workers are drawn, not authorized by the scheduler, and drawn workers run no TEE tasks, so its secrets go to no enclave; ask for a TEE deal without random selection".into(),
        ));
    }
    laps.lap("checks");
    // The chain reads at once: each is a round trip to the node, none depends on another.
    let keeper_draw = async {
        if state.keeper && deal.deal.dataset != Address::ZERO {
            state
                .chain
                .keeper_of_epoch(deal.deal.dataset, state.signer.address())
                .await
        } else {
            Ok(None)
        }
    };
    let (keeper_draw, task, chain_now, (app_checksum, mrenclave)) = tokio::try_join!(
        keeper_draw,
        state.chain.task(task_id),
        state.chain.now(),
        state.chain.app_code(deal.deal.app),
    )?;
    laps.lap("chain");
    // A dataset with a keeper group is served by the keepers of the current epoch's draw only: the
    // hub would not count this keeper's attestation, and its share is of a past split.
    if let Some((epoch, false)) = keeper_draw {
        return Err(SmsError::Forbidden(format!(
            "this keeper ({}) is not drawn for dataset {} in keeper epoch {epoch}: the dataset's owner re-splits its key to the epoch's keepers (`decloud dataset reshare`)",
            state.signer.address(),
            deal.deal.dataset
        )));
    }
    if task.status != TaskStatus::Active.as_u8() {
        let name = TaskStatus::from_u8(task.status)
            .map(|s| s.name())
            .unwrap_or("UNKNOWN");
        return Err(SmsError::Forbidden(format!(
            "task {task_id} is {name}, not ACTIVE: secrets are released only to a running task"
        )));
    }
    let reference = u64::try_from(deal.deal.workClockTimeRef).unwrap_or(u64::MAX);
    let deadline = task
        .initTime
        .to::<u64>()
        .saturating_add(CONTRIBUTION_DEADLINE_RATIO.saturating_mul(reference));
    if chain_now >= deadline {
        return Err(SmsError::Forbidden(format!(
            "task {task_id} is past its contribution deadline ({deadline}): nothing is released"
        )));
    }
    if mrenclave == B256::ZERO {
        return Err(SmsError::Forbidden(
            "the deal's app names no runner measurement (mrenclave): it is not a TEE app".into(),
        ));
    }
    if r.evidence.kind != state.tee {
        return Err(SmsError::Forbidden(format!(
            "this SMS appraises {} evidence, not {}",
            state.tee, r.evidence.kind
        )));
    }
    let fields = ReportDataFields {
        chain_id,
        task_id,
        app_checksum,
        enclave: r.enclave,
        hpke_public_key: h,
        nonce: r.nonce.0,
    };
    let policy = Policy::strict(Measurement(mrenclave.0));
    let appraisal = state
        .appraiser
        .appraise(&r.evidence, &fields.report_data(), &policy, now)
        .map_err(|e| SmsError::Forbidden(format!("the evidence does not appraise: {e}")))?;
    laps.lap("appraise");
    // One enclave per task: checked when the release is committed, in the same transaction
    // that uses the nonce (a read here would cost a query and decide nothing).

    // What the deal uses, sealed to H before anything is recorded.
    let mut secrets = Vec::new();
    let mut add = |purpose: String, stored: &crate::store::StoredSecret| -> Result<(), SmsError> {
        let value = state
            .key
            .open_at_rest(&row_id(&stored.meta), &stored.sealed)?;
        let sealed = seal::seal(&h, &seal::release_info(&purpose, chain_id, task_id), &value)?;
        secrets.push(ReleasedSecret {
            purpose,
            version: stored.meta.version,
            sealed,
        });
        Ok(())
    };
    let dataset =
        (deal.deal.dataset != Address::ZERO && !r.local_dataset).then_some(deal.deal.dataset);
    let names = named_secrets(&deal.params)?;
    let mut named: Vec<(SecretKind, Address, &str)> = names
        .iter()
        .map(|n| (SecretKind::RequesterSecret, deal.deal.requester, n.as_str()))
        .collect();
    named.push((
        SecretKind::ResultRecipient,
        deal.deal.beneficiary,
        RESULT_RECIPIENT_NAME,
    ));
    if let Some(dataset) = dataset {
        named.push((SecretKind::DatasetKey, dataset, DATASET_KEY_NAME));
    }
    let mut stored = state
        .store
        .get_many(&named, &[(SecretKind::AppSecret, deal.deal.app)])
        .await?;
    stored.sort_by(|a, b| a.meta.name.cmp(&b.meta.name));
    let find = |kind: SecretKind, object: Address, name: &str| {
        stored
            .iter()
            .find(|s| s.meta.kind == kind && s.meta.object == object && s.meta.name == name)
    };
    if let Some(dataset) = dataset {
        let key = find(SecretKind::DatasetKey, dataset, DATASET_KEY_NAME).ok_or_else(|| {
            SmsError::Forbidden(format!(
                "the dataset {dataset} has no key in this SMS: its owner must push it"
            ))
        })?;
        add("dataset-key".into(), key)?;
    }
    for app_secret in stored
        .iter()
        .filter(|s| s.meta.kind == SecretKind::AppSecret && s.meta.object == deal.deal.app)
    {
        add(format!("app-secret:{}", app_secret.meta.name), app_secret)?;
    }
    for name in &names {
        let secret = find(SecretKind::RequesterSecret, deal.deal.requester, name).ok_or_else(|| {
            SmsError::Forbidden(format!(
                "the deal names the requester's secret {name:?}, which this SMS does not hold: push it with `decloud secret push {name}`"
            ))
        })?;
        add(format!("requester-secret:{name}"), secret)?;
    }
    if let Some(recipient) = find(
        SecretKind::ResultRecipient,
        deal.deal.beneficiary,
        RESULT_RECIPIENT_NAME,
    ) {
        add("result-recipient".into(), recipient)?;
    }

    laps.lap("secrets");
    let attestation = EnclaveAttested {
        taskId: task_id,
        enclave: r.enclave,
        measurement: mrenclave,
        tcbStatus: tcb_code(appraisal.tcb_status),
        expiry: deadline,
        // what was appraised, so that anyone holding it can challenge this statement on chain
        evidenceHash: tee::evidence_hash(&r.evidence.quote, &h, &r.nonce.0),
    };
    let signature = tee::sign(&attestation, &state.chain_domain(), state.signer.as_ref())
        .map_err(|e| SmsError::BadRequest(e.to_string()))?;
    laps.lap("sign");

    // Durable before acknowledged: the nonce is used and the task bound to this enclave first.
    if let Err(reason) = state
        .store
        .commit_release(r.nonce, expires_at, task_id, r.enclave, now)
        .await?
    {
        return Err(SmsError::Conflict(reason));
    }
    laps.lap("commit");
    tracing::info!(
        task = %task_id,
        enclave = %r.enclave,
        secrets = secrets.len(),
        ms = started.elapsed().as_millis() as u64,
        laps = %laps,
        "released"
    );
    Ok(Json(ReleaseAnswer {
        task_id,
        secrets,
        attestation: Attestation {
            task_id,
            enclave: r.enclave,
            measurement: mrenclave,
            tcb_status: attestation.tcbStatus,
            expiry: deadline,
            evidence_hash: attestation.evidenceHash,
            signer: state.signer.address(),
            signature,
        },
    }))
}
