//! Asking a TEE task's key holders for its release: k of them at once, the others only when
//! one of those fails or is slow.
//!
//! A release needs k answers that count; asking all n key holders at once makes n − k of them
//! appraise, read the chain and commit for nothing (and, keepers sharing a machine, slows the
//! k that matter). So the first k in a per-task rotation of the configured order are asked; each
//! failure (a refusal, a key holder down, an attestation that would not count, shares that do not
//! rebuild) asks the next one at once, and if k answers that count have not arrived after
//! [`HEDGE_AFTER`] every one not asked yet is asked. A key holder that is down costs its
//! connection's refusal; one that hangs costs [`HEDGE_AFTER`].
//!
//! Each ask is a challenge, evidence binding its nonce, the release, and the checks that need no
//! other answer (the attestation's signature and evidence hash, and whether its attester is
//! active at the hub, read while the other asks run).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use alloy::primitives::{Address, B256, Bytes};
use decloud_protocol::tee::SignedAttestation;
use decloud_sms::{ReleaseAnswer, ReleaseRequest, SmsClient};
use decloud_tee::{Attester, ReportDataFields};
use tokio::task::JoinSet;

use crate::Context;

/// How long the first k key holders have before the others are asked too: several times a
/// release's usual round trip (tens of ms), well under the 250 ms a release may take.
pub(crate) const HEDGE_AFTER: Duration = Duration::from_millis(150);

/// What every ask of one task's release shares.
pub(crate) struct ReleaseAsk {
    /// The task's deal.
    pub deal_id: B256,
    /// The task's index in it.
    pub index: u64,
    /// What `report_data` binds, but the key holder's nonce.
    pub fields: ReportDataFields,
    /// The scheduler's authorization of (worker, task, enclave).
    pub authorization: Bytes,
    /// No dataset key is asked for (the worker holds the dataset).
    pub local_dataset: bool,
}

/// One key holder's answer, checked on its own.
pub(crate) struct Answered {
    /// Its answer.
    pub answer: ReleaseAnswer,
    /// The quote sent to it.
    pub quote: Vec<u8>,
    /// Its nonce.
    pub nonce: [u8; 32],
    /// Its attestation, whose signature and evidence hash verified.
    pub attestation: SignedAttestation,
    /// Whether its attester is active at the hub (the hub counts only those), or why not.
    pub active: Result<(), String>,
}

/// The replies of one release's asks, as they arrive; see the module docs.
pub(crate) struct Asking {
    ctx: Arc<Context>,
    attester: Arc<dyn Attester>,
    ask: Arc<ReleaseAsk>,
    asks: JoinSet<(usize, String, Result<Answered, String>)>,
    waiting: VecDeque<usize>,
    hedge: tokio::time::Instant,
}

impl Asking {
    /// Asks the first `k` of `candidates` (indices of the worker's key holders, in their
    /// listed order) in a rotation by `task_id`.
    pub(crate) fn start(
        ctx: &Arc<Context>,
        attester: Arc<dyn Attester>,
        candidates: Vec<usize>,
        k: usize,
        ask: ReleaseAsk,
    ) -> Self {
        // The rotation spreads tasks over the key holders instead of loading the first k.
        let count = candidates.len();
        let first = usize::from(ask.fields.task_id.0[31]) % count.max(1);
        let mut asking = Self {
            ctx: ctx.clone(),
            attester,
            ask: Arc::new(ask),
            asks: JoinSet::new(),
            waiting: (0..count)
                .map(|i| candidates[(first + i) % count])
                .collect(),
            hedge: tokio::time::Instant::now() + HEDGE_AFTER,
        };
        for _ in 0..k {
            asking.ask_next();
        }
        asking
    }

    /// Asks the next key holder not asked yet, if any (after a failure, or when the answers so
    /// far do not rebuild).
    pub(crate) fn ask_next(&mut self) {
        if let Some(i) = self.waiting.pop_front() {
            self.spawn(i);
        }
    }

    /// The next reply: `(configured index, url, answer or why not)`; `None` once every key
    /// holder was asked and answered.
    pub(crate) async fn next(&mut self) -> Option<(usize, String, Result<Answered, String>)> {
        loop {
            if self.asks.is_empty() {
                // Nothing in flight (every ask so far failed or was used): ask the next one.
                self.ask_next();
                if self.asks.is_empty() {
                    return None;
                }
            }
            let hedging = !self.waiting.is_empty();
            tokio::select! {
                joined = self.asks.join_next() => match joined {
                    Some(Ok(reply)) => return Some(reply),
                    // a panicked ask counts as a failure: the next key holder is asked
                    Some(Err(_)) => self.ask_next(),
                    None => {}
                },
                _ = tokio::time::sleep_until(self.hedge), if hedging => {
                    tracing::info!(task = %self.ask.fields.task_id, others = self.waiting.len(), "TEE task: no k answers after {HEDGE_AFTER:?}: asking the other key holders too");
                    while !self.waiting.is_empty() {
                        self.ask_next();
                    }
                }
            }
        }
    }

    /// Lets the asks still running finish in the background, so that their kept connections
    /// stay open for the next task; nobody else is asked.
    pub(crate) fn finish(mut self) {
        if !self.asks.is_empty() {
            tokio::spawn(async move { while self.asks.join_next().await.is_some() {} });
        }
    }

    fn spawn(&mut self, i: usize) {
        let Some(tee) = self.ctx.tee.as_ref() else {
            return;
        };
        let Some(sms) = tee.key_holders.get(i).cloned() else {
            return;
        };
        let (ctx, attester, ask) = (self.ctx.clone(), self.attester.clone(), self.ask.clone());
        self.asks.spawn(async move {
            let reply = ask_one(&ctx, &sms, attester.as_ref(), &ask).await;
            (i, sms.url().to_owned(), reply)
        });
    }
}

/// One key holder: a nonce, evidence binding it, the release, its attestation checked and its
/// attester's standing read.
async fn ask_one(
    ctx: &Context,
    sms: &SmsClient,
    attester: &dyn Attester,
    ask: &ReleaseAsk,
) -> Result<Answered, String> {
    let t0 = std::time::Instant::now();
    let nonce = sms.challenge().await.map_err(|e| e.to_string())?.nonce;
    let t1 = std::time::Instant::now();
    let fields = ReportDataFields {
        nonce: nonce.0,
        ..ask.fields
    };
    let evidence = attester
        .evidence(&fields.report_data())
        .map_err(|e| format!("the enclave's attester failed: {e}"))?;
    let quote = evidence.quote.clone();
    let t2 = std::time::Instant::now();
    let request = ReleaseRequest {
        deal_id: ask.deal_id,
        index: ask.index,
        worker: ctx.address,
        enclave: fields.enclave,
        hpke_public_key: alloy::hex::encode(fields.hpke_public_key),
        nonce,
        evidence,
        authorization: ask.authorization.clone(),
        local_dataset: ask.local_dataset,
    };
    let answer = sms.release(&request).await.map_err(|e| e.to_string())?;
    let t3 = std::time::Instant::now();
    let hash = decloud_protocol::tee::evidence_hash(&quote, &fields.hpke_public_key, &nonce.0);
    let attestation = crate::tee_job::checked(ctx, fields.task_id, fields.enclave, hash, &answer)?;
    let active = attester_active(ctx, attestation.attester).await;
    tracing::debug!(task = %fields.task_id, key_holder = sms.url(), challenge_us = (t1 - t0).as_micros() as u64, evidence_us = (t2 - t1).as_micros() as u64, release_us = (t3 - t2).as_micros() as u64, check_us = t3.elapsed().as_micros() as u64, "TEE task: key holder answered");
    Ok(Answered {
        answer,
        quote,
        nonce: nonce.0,
        attestation,
        active,
    })
}

/// How long an attester read active at the hub is taken as active without reading again. The
/// read is a pre-check (the hub decides at `contributeAndFinalize`): one slashed within this
/// window fails the task there instead of here, and every task's release saves one chain read
/// per key holder asked.
pub(crate) const STANDING_KEPT: Duration = Duration::from_secs(30);

/// Key holders' attesters recently read active at the hub, and when.
#[derive(Default)]
pub(crate) struct Standings(std::sync::Mutex<HashMap<Address, tokio::time::Instant>>);

impl Standings {
    /// Whether `attester` was read active less than [`STANDING_KEPT`] ago.
    fn fresh(&self, attester: Address) -> bool {
        self.0.lock().is_ok_and(|seen| {
            seen.get(&attester)
                .is_some_and(|at| at.elapsed() < STANDING_KEPT)
        })
    }

    /// Notes that `attester` was just read active (only active ones are kept: a refusal is
    /// read again every time).
    fn read_active(&self, attester: Address) {
        if let Ok(mut seen) = self.0.lock() {
            seen.insert(attester, tokio::time::Instant::now());
        }
    }
}

/// Whether `attester` is active at the hub (registered, staked, not leaving, not slashed): a key
/// holder whose signature would not count does not count towards k here either, so the task
/// fails before running rather than at `contributeAndFinalize`.
async fn attester_active(ctx: &Context, attester: Address) -> Result<(), String> {
    let standings = ctx.tee.as_ref().map(|t| &t.standings);
    if standings.is_some_and(|s| s.fresh(attester)) {
        return Ok(());
    }
    let record = decloud_chain::attesters::attester(&ctx.chain, attester)
        .await
        .map_err(|e| format!("cannot read attester {attester} at the hub: {e}"))?;
    if record.active {
        if let Some(s) = standings {
            s.read_active(attester);
        }
        Ok(())
    } else {
        Err(format!(
            "its signer {attester} is not an active attester at the hub (not registered, leaving or slashed): its attestation would not count"
        ))
    }
}
