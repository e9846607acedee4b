//! A TEE task from claim to `contributeAndFinalize` (docs/confidential.md, "The TEE worker").
//!
//! Per task, inside the enclave boundary: make the result key E (secp256k1) and the secrets key
//! H (X25519) in memory; take a single-use nonce from each key holder (SMS) and evidence over
//! `report_data(chain, task, app checksum, E, H, nonce)`; get the scheduler's authorization for
//! (worker, task, E); ask each key holder for the release; open the secrets with H; run the app
//! with the requester's and the app's named secrets as read-only files under `/secrets`; upload
//! the result; sign it with E; send `contributeAndFinalize` with k attestations. No replication:
//! k attestations of a measured enclave replace the consensus.
//!
//! E and H never leave this process's memory: they are not saved with the job, so a worker
//! restarted mid-task gives the task up (the scheduler has bound the replicate to E, which died
//! with the process). The opened secrets live in a memory-backed directory (`/dev/shm`) only
//! while the app runs. Nothing secret is logged: the logs name E's address, never a key or a
//! value.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use alloy::primitives::{Address, B256, Bytes};
use alloy::signers::local::PrivateKeySigner;
use decloud_protocol::Tag;
use decloud_protocol::pool::Assignment;
use decloud_protocol::result::{commitment, sign_enclave};
use decloud_protocol::tee::{
    AttestationEvidence, SignedAttestation, attestations_required, enclave_evidence,
};
use decloud_sms::ReleaseAnswer;
use decloud_sms::seal;
use decloud_tee::{Attester, ReportDataFields};

use crate::Context;
use crate::contribute::upload_archive;
use crate::job::{Failure, deal_of, fail, report, revealed};
use crate::tee_secrets::{OpenedAnswer, bad_keepers_note, open_answer, rebuild, write_secrets};

/// Where the app finds its named secrets (app secrets under `app/`).
pub(crate) const SECRETS_DIR: &str = "/secrets";

/// The TEE side of a worker: its attester and the key holders it asks.
pub(crate) struct TeeSetup {
    /// Produces the enclave's evidence.
    pub attester: Arc<dyn Attester>,
    /// The key holders (SMS nodes): in the order they were configured, or found on chain.
    pub key_holders: crate::key_holders::KeyHolders,
    /// Their attesters recently read active at the hub.
    pub standings: crate::release::Standings,
}

/// Whether `a`'s deal has the TEE tag (the deal is decoded again by the job; an undecodable
/// one fails there).
pub(crate) fn is_tee(a: &Assignment) -> bool {
    deal_of(a).is_ok_and(|deal| deal.tag & Tag::TEE.0 == Tag::TEE.0)
}

/// Runs the TEE task `a` to its end on chain and reports it.
pub(crate) async fn run(ctx: &Arc<Context>, a: &Assignment, resumed: bool) -> Result<(), Failure> {
    let task_id = a.task_id;
    if resumed {
        return Err(fail(
            "the worker restarted during this TEE task: its enclave keys lived only in memory and the replicate is bound to them, so it is given up",
        ));
    }
    let tee = ctx.tee.as_ref().ok_or_else(|| {
        fail(
            "this worker runs no TEE tasks: start it with --tee sim|tdx and --sms URL to take them",
        )
    })?;
    let deal = deal_of(a)?;
    let k = attestations_required(Tag(deal.tag));
    // Who the hub counts for this dataset now; without a configured list, their URLs from chain.
    let dataset = a.dataset.as_ref().map(|d| d.address);
    let drawn = crate::key_holders::drawn_for(ctx, &tee.key_holders, dataset)
        .await
        .map_err(fail)?;
    crate::key_holders::discover(ctx, &tee.key_holders, drawn.as_ref()).await;
    let candidates = tee.key_holders.candidates(drawn.as_ref()).await;
    if candidates.len() < k {
        let how = if tee.key_holders.is_discovered() {
            "found on chain (decloud keeper list): more keepers must publish their URLs, or pass --sms-url once per key holder"
        } else {
            "configured: pass --sms-url once per key holder"
        };
        return Err(fail(format!(
            "the deal needs {k} attestations but this worker knows {} key holder(s) {how}",
            candidates.len()
        )));
    }
    let app = a.app.as_ref().ok_or_else(|| {
        fail("the scheduler does not know where the app is (no registration event)")
    })?;
    let chain_id = ctx.config.profile.chain_id;
    // A dataset this worker holds on its owner's machine has no key to release (it is not
    // encrypted); asking for none releases less, which a key holder may always do.
    let local_dataset = a.dataset.as_ref().is_some_and(|d| {
        ctx.config
            .local_data
            .iter()
            .any(|(address, _)| *address == d.address)
    });

    // The enclave's keys, for this task only.
    let enclave = PrivateKeySigner::random();
    let (h_private, h_public) = seal::generate_keypair()
        .map_err(|e| fail(format!("cannot make the enclave's key: {e}")))?;
    tracing::info!(task = %task_id, enclave = %enclave.address(), backend = %tee.attester.kind(), k, "TEE task: enclave keys made");

    let authorization = ctx
        .scheduler
        .enclave_authorization(task_id, enclave.address())
        .await
        .map_err(|e| fail(format!("the scheduler did not authorize the enclave: {e}")))?;

    // k key holders at once, the others on a failure or after a short wait (`release`).
    let started = std::time::Instant::now();
    // The process's CPU over the round: the worker's own asks and checks, and, where key
    // holders run in the same process (the benchmark), theirs.
    let cpu_before = decloud_service::process_cpu_time();
    let mut asking = crate::release::Asking::start(
        ctx,
        tee.attester.clone(),
        candidates,
        k,
        crate::release::ReleaseAsk {
            deal_id: a.deal_id,
            index: a.index,
            fields: ReportDataFields {
                chain_id,
                task_id,
                app_checksum: app.checksum,
                enclave: enclave.address(),
                hpke_public_key: h_public,
                nonce: [0; 32],
            },
            authorization: authorization.sign.clone(),
            local_dataset,
        },
    );
    // Answers are checked as they arrive and the round ends at the first k that count and
    // rebuild the secrets.
    let mut good: Vec<(usize, SignedAttestation, OpenedAnswer)> = Vec::new();
    let mut refusals = Vec::new();
    let mut attesters = std::collections::HashSet::new();
    let mut kept_evidence = Vec::new();
    let mut opened = None;
    let mut rebuild_us = 0u64;
    while let Some((i, url, reply)) = asking.next().await {
        let answer = reply.and_then(|answered| {
            let attestation = answered.attestation;
            kept_evidence.push(AttestationEvidence {
                deal_id: a.deal_id,
                index: a.index,
                task_id,
                enclave: enclave.address(),
                measurement: answered.answer.attestation.measurement,
                tcb_status: attestation.tcb_status,
                expiry: attestation.expiry,
                attester: attestation.attester,
                signature: attestation.signature.clone(),
                quote: answered.quote.into(),
                hpke_public_key: B256::from(h_public),
                nonce: B256::from(answered.nonce),
            });
            let opened = open_answer(&h_private, chain_id, task_id, &answered.answer)?;
            // Only what the hub will count is counted: one attestation per active attester, a
            // keeper drawn for this epoch when the dataset has a group.
            answered.active?;
            if let Some(d) = &drawn {
                d.counts(attestation.attester)?;
            }
            if !attesters.insert(attestation.attester) {
                return Err(format!(
                    "it signs as attester {}, like another key holder: the hub counts each attester once",
                    attestation.attester
                ));
            }
            Ok((attestation, opened))
        });
        let answer = match answer {
            Ok(ok) => ok,
            Err(reason) => {
                refusals.push(format!("{url}: {reason}"));
                asking.ask_next();
                continue;
            }
        };
        good.push((i, answer.0, answer.1));
        // In the configured order, so that which answers are used does not depend on timing
        // more than it must.
        good.sort_by_key(|(i, _, _)| *i);
        if good.len() >= k {
            let rebuilding = std::time::Instant::now();
            let rebuilt = rebuild(good.iter().map(|(_, s, o)| (s.attester, o)), &[]);
            rebuild_us += rebuilding.elapsed().as_micros() as u64;
            match rebuilt {
                Ok(o) => {
                    opened = Some(o);
                    break;
                }
                // shares that do not rebuild yet: one more key holder
                Err(_) => asking.ask_next(),
            }
        }
    }
    asking.finish();
    drop(h_private);
    keep_evidence(ctx, task_id, &kept_evidence);
    let asked_us = started.elapsed().as_micros() as u64;
    if good.len() < k {
        return Err(fail(format!(
            "only {} of the {k} key holder(s) the deal needs released its secrets ({}): not run, nothing contributed",
            good.len(),
            refusals.join("; ")
        )));
    }
    // Every key holder answered and the shares still do not rebuild: say why, with every refusal.
    let opened = match opened {
        Some(o) => o,
        None => rebuild(good.iter().map(|(_, s, o)| (s.attester, o)), &refusals)?,
    };
    let bad_keepers = bad_keepers_note(&opened.bad_ciphertexts);
    if let Some(note) = &bad_keepers {
        tracing::warn!(task = %task_id, "{note}");
    }
    let released_by = good.len();
    let attestations: Vec<SignedAttestation> =
        good.into_iter().map(|(_, s, _)| s).take(k).collect();
    let elapsed = started.elapsed();
    tracing::info!(task = %task_id, released_by, ms = elapsed.as_millis() as u64, us = elapsed.as_micros() as u64, asked_us, rebuild_us, cpu_us = cpu_us(cpu_before), "TEE task: secrets released");
    if decloud_protocol::encrypted_app::ciphertext_uri(&app.uri).is_some()
        && opened.app_key.is_none()
    {
        return Err(fail(format!(
            "app {} is encrypted but no key holder released its key (app secret {}): its owner must push it (decloud app deploy --encrypted); not run, nothing contributed",
            app.address,
            decloud_protocol::encrypted_app::KEY_NAME
        )));
    }
    let secrets = write_secrets(task_id, &opened.files)?;
    let (secrets_path, input_path) = (secrets.secrets(), secrets.input());
    let enclave_inputs = crate::job::EnclaveInputs {
        secrets: &secrets_path,
        input: &input_path,
        dataset_key: opened.dataset_key.as_ref(),
        app_key: opened.app_key.as_ref(),
    };
    let computed = crate::job::compute(ctx, a, Some(enclave_inputs)).await;
    drop(secrets);
    let (mut computed, mut archive) = computed?;
    if let Some(recipient) = &opened.recipient {
        archive = seal_result(&mut computed, recipient, &archive)?;
    }
    drop(opened);

    // A deterministic failure is a result too: its error record is signed like any result.
    let location = upload_archive(ctx, &mut computed, archive).await?;
    let c = commitment(ctx.address, task_id, computed.digest);
    let enclave_sign = sign_enclave(&enclave, &c)
        .map_err(|e| fail(format!("the enclave cannot sign the result: {e}")))?;
    drop(enclave);
    let enclave_sign = enclave_evidence(&enclave_sign, &attestations)
        .map_err(|e| fail(format!("cannot pack the attestations: {e}")))?;
    let result = decloud_chain::contracts::IHub::FastResult {
        digest: computed.digest,
        enclave: authorization.enclave,
        enclaveSign: enclave_sign,
        authorizationSign: decloud_protocol::result::compact_authorization(
            &authorization.sign,
            deal.scheduler,
            ctx.address,
            task_id,
            authorization.enclave,
        ),
        resultsLocation: Bytes::from(location.clone().into_bytes()),
        callbackData: computed.callback_data.clone().unwrap_or_default(),
    };
    let (started_ms, started) = (crate::job::now_ms(), std::time::Instant::now());
    decloud_chain::attesters::contribute_and_finalize(&ctx.chain, (&deal).into(), a.index, result)
        .await?;
    computed.stages.contribute = Some(crate::job::stage_since(started_ms, started));
    tracing::info!(task = %task_id, digest = %computed.digest, attestations = k, "TEE task contributed and finalized");
    let mut done = revealed(&computed, location);
    if done.reason.is_none() {
        done.reason = bad_keepers;
    }
    report(ctx, task_id, done).await;
    Ok(())
}

/// Where the worker keeps the attestations of `task_id` with the evidence each commits to, for
/// whoever challenges one (`decloud attester challenge --evidence FILE`).
pub fn evidence_path(data_dir: &Path, task_id: B256) -> PathBuf {
    data_dir
        .join("attestations")
        .join(format!("{task_id}.json"))
}

/// Keeps every signed attestation of this task with its evidence (none of it is secret). A
/// failure to write is logged, not fatal: the task itself does not depend on it.
/// µs of the process's CPU since `before`.
fn cpu_us(before: std::time::Duration) -> u64 {
    u64::try_from(
        decloud_service::process_cpu_time()
            .saturating_sub(before)
            .as_micros(),
    )
    .unwrap_or(u64::MAX)
}

fn keep_evidence(ctx: &Context, task_id: B256, kept: &[AttestationEvidence]) {
    if kept.is_empty() {
        return;
    }
    let path = evidence_path(&ctx.config.data_dir, task_id);
    let written = path
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| {
            let json = serde_json::to_vec_pretty(kept).map_err(std::io::Error::other)?;
            std::fs::write(&path, json)
        });
    if let Err(e) = written {
        tracing::warn!(task = %task_id, path = %path.display(), error = %e, "cannot keep the attestations' evidence");
    }
}

/// Checks that a release is for this task and enclave, that its attestation commits to the
/// evidence this worker sent (`evidence`, see [`decloud_protocol::tee::evidence_hash`]) and is
/// signed by the key holder it names; returns the attestation as the hub reads it.
pub(crate) fn checked(
    ctx: &Context,
    task_id: B256,
    enclave: Address,
    evidence: B256,
    answer: &ReleaseAnswer,
) -> Result<SignedAttestation, String> {
    let att = &answer.attestation;
    if answer.task_id != task_id || att.task_id != task_id || att.enclave != enclave {
        return Err("its release is for another task or enclave".into());
    }
    if att.evidence_hash != evidence {
        return Err(format!(
            "its attestation commits to evidence {}, not to the evidence {evidence} this enclave sent it",
            att.evidence_hash
        ));
    }
    let domain = decloud_protocol::order::Domain::new(
        ctx.config.profile.chain_id,
        ctx.config.profile.contracts.hub,
    );
    let signed = SignedAttestation::verified(&att.typed(), &domain, att.signature.clone())
        .map_err(|e| format!("its attestation does not verify: {e}"))?;
    if signed.attester != att.signer {
        return Err(format!(
            "its attestation is signed by {}, not by {} as it says",
            signed.attester, att.signer
        ));
    }
    Ok(signed)
}

/// The result `archive` encrypted to the beneficiary (age), and `computed`'s digest made the
/// sha256 of the ciphertext: what is certified on chain then says nothing about the result,
/// and only the beneficiary's identity opens it (`decloud result get`).
fn seal_result(
    computed: &mut crate::state::Computed,
    recipient: &decloud_age::Recipient,
    archive: &[u8],
) -> Result<Vec<u8>, Failure> {
    let sealed = decloud_age::encrypt(archive, std::slice::from_ref(recipient))
        .map_err(|e| fail(format!("cannot encrypt the result: {e}")))?;
    // A callback deal's digest is its callback data's, public by nature: it stays.
    if computed.callback_data.is_none() {
        computed.digest = decloud_storage::ContentHash::of(&sealed).0.into();
    }
    Ok(sealed)
}
