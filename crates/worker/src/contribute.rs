//! The chain's side of a replicate: its stake, its result's upload, the contribution (revealed
//! at once at trust ≤ 1), and the reveal once the scheduler says the consensus is on it. A
//! resumed job reads the chain first, so nothing already on chain is sent twice.

use std::time::Duration;

use alloy::primitives::{B256, U256};
use decloud_protocol::TaskStatus;
use decloud_protocol::pool::{Assignment, NextAction, Report, ReportStatus, StageTime};
use decloud_protocol::result::commitment;

use crate::Context;
use crate::job::{
    CONTRIBUTION_REVEALED, Failure, deal_of, fail, now_ms, reached, revealed, stage_since, tell,
};
use crate::state::Computed;

/// Reserves `stake` of the worker's escrow balance for a contribution, depositing from its
/// wallet what is missing (up to the configured reserve, to save transactions). The worker
/// keeps a local lower bound of its free balance (stakes come back with rewards at
/// finalization, which only raises the real one), so most contributions cost no chain read.
pub(crate) async fn ensure_stake(ctx: &Context, stake: U256) -> Result<(), Failure> {
    if stake.is_zero() {
        return Ok(());
    }
    let mut free = ctx.stake_free.lock().await;
    if let Some(known) = *free
        && known >= stake
    {
        *free = Some(known - stake);
        return Ok(());
    }
    let balance = top_up_locked(ctx, stake).await?;
    *free = Some(balance - stake);
    Ok(())
}

/// Tops the worker's escrow balance up to the configured reserve (at start, so that deposits
/// stay off the critical path of the first tasks).
pub(crate) async fn top_up(ctx: &Context) -> Result<(), Failure> {
    let mut free = ctx.stake_free.lock().await;
    let balance = top_up_locked(ctx, U256::ZERO).await?;
    *free = Some(balance);
    Ok(())
}

/// Reads the free escrow balance and deposits when it is below `needed` or the reserve;
/// returns the balance after. The caller holds the stake lock.
async fn top_up_locked(ctx: &Context, needed: U256) -> Result<U256, Failure> {
    let chain = &ctx.chain;
    let me = ctx.address;
    let free = chain.escrow_balance(me).await?;
    let target = needed.max(ctx.config.stake_reserve);
    if free >= target || (free >= needed && !needed.is_zero()) {
        return Ok(free);
    }
    let tokens = chain.token_balance(me).await?;
    let amount = (target - free).min(tokens);
    if free + amount < needed {
        return Err(fail(format!(
            "the worker {me} cannot stake {}: it has {} in the escrow and {} in its wallet; fund it",
            decloud_protocol::format_amount(needed),
            decloud_protocol::format_amount(free),
            decloud_protocol::format_amount(tokens)
        )));
    }
    if !amount.is_zero() {
        decloud_chain::actions::deposit(chain, amount).await?;
        tracing::info!(amount = %decloud_protocol::format_amount(amount), "stake deposited");
    }
    Ok(free + amount)
}

/// The location of `computed`'s result: the one it was uploaded to, or for a job saved by an
/// older worker (which kept the packed result in a file, `result_file`), that file uploaded now.
pub(crate) async fn upload(ctx: &Context, computed: &mut Computed) -> Result<String, Failure> {
    if let Some(location) = &computed.location {
        return Ok(location.clone());
    }
    let path = ctx.config.data_dir.join(&computed.result_file);
    let bytes = tokio::fs::read(&path)
        .await
        .map_err(|e| fail(format!("the kept result {} is gone: {e}", path.display())))?;
    upload_archive(ctx, computed, bytes).await
}

/// Uploads the packed result `bytes` of `computed`; returns its location, and keeps it in
/// `computed` (with the upload's time and size in its stages). A result uploaded already is not
/// uploaded again.
pub(crate) async fn upload_archive(
    ctx: &Context,
    computed: &mut Computed,
    bytes: Vec<u8>,
) -> Result<String, Failure> {
    if let Some(location) = &computed.location {
        return Ok(location.clone());
    }
    let (started_ms, started) = (now_ms(), std::time::Instant::now());
    let size = bytes.len() as u64;
    let id = ctx.results.put(bytes).await.map_err(|e| {
        fail(format!(
            "cannot upload the result to {}: {e}",
            ctx.results.location()
        ))
    })?;
    computed.stages.upload = Some(StageTime {
        bytes: Some(size),
        ..stage_since(started_ms, started)
    });
    let location = ctx.results.url_of(&id);
    computed.location = Some(location.clone());
    Ok(location)
}

/// Stakes and contributes. Returns whether the job must then wait for the consensus to reveal
/// (replicated tasks); at trust ≤ 1 the result is revealed and reported at once. A resumed job
/// first asks the chain whether its contribution is already there (a job of this process knows
/// it is not: the hub would refuse a second one anyway).
pub(crate) async fn contribute(
    ctx: &Context,
    a: &Assignment,
    computed: &mut Computed,
    resumed: bool,
) -> Result<bool, Failure> {
    let deal = deal_of(a)?;
    let chain = &ctx.chain;
    let digest = computed.digest;
    // At trust ≤ 1 one contribution suffices: it is revealed in the same transaction (a drawn
    // worker's contribution has no such shortcut: it reveals like a replicated one).
    let at_once = a.trust <= 1 && a.drawn.is_none() && a.audit.is_none();
    // Uploaded before anything is sent (as soon as computed: `job::computed_and_uploaded`; a
    // job saved by an older worker uploads here): a result the storage refuses must fail the
    // replicate before it costs a stake. An audit's result is never the one delivered (the
    // task's contributors upload theirs).
    let location = if a.audit.is_some() {
        String::new()
    } else {
        upload(ctx, computed).await?
    };
    if !(resumed && already_contributed(ctx, a, at_once).await?) {
        ensure_stake(ctx, deal.workerStake).await?;
        let sign = a.authorization.sign.clone();
        let (started_ms, started) = (now_ms(), std::time::Instant::now());
        if a.audit.is_some() || a.drawn.is_some() {
            // Sent here, not by the batcher (which syncs before it sends): the job's saved
            // state is made durable first, or nothing is sent.
            crate::job::sync_saved_states(ctx)?;
        }
        if let Some(audit) = &a.audit {
            // An audit: the same commitment, keyed by the audit's id, with the proof of the
            // worker's audit position.
            let c = commitment(ctx.address, audit.audit_id, digest);
            decloud_chain::audit::contribute_audit(
                chain,
                (&deal).into(),
                a.index,
                c.result_hash,
                c.result_seal,
                audit_proof(audit),
            )
            .await?;
        } else if let Some(drawn) = &a.drawn {
            // A random-selection deal: no authorization, the proof of the drawn position.
            let c = commitment(ctx.address, a.task_id, digest);
            decloud_chain::selection::contribute_drawn(
                chain,
                (&deal).into(),
                a.index,
                c.result_hash,
                c.result_seal,
                draw_proof(drawn),
            )
            .await?;
        } else if at_once {
            // In a batch with the worker's other results of the deal (`contributeAndRevealBatch`).
            ctx.batcher
                .contribute_and_reveal(a.deal_id, deal, a.index, digest, sign)
                .await?;
        } else {
            // In a batch with the worker's other contributions (`contributeBatch`).
            let c = commitment(ctx.address, a.task_id, digest);
            ctx.batcher
                .contribute(a.deal_id, deal, a.index, c, sign)
                .await?;
        }
        computed.stages.contribute = Some(stage_since(started_ms, started));
        tracing::info!(task = %a.task_id, %digest, revealed = at_once, audit = a.audit.is_some(), "contributed");
    }
    if at_once {
        tell(ctx, a, revealed(computed, location)).await;
        return Ok(false);
    }
    tell(
        ctx,
        a,
        Report {
            status: ReportStatus::Contributed,
            reason: computed.failure.clone(),
            results_location: None,
            callback_data: None,
            stages: Some(computed.stages),
        },
    )
    .await;
    Ok(true)
}

/// Reveals a task's digest: in a batch with the worker's other reveals, except for a task of a
/// spot-checked deal, which only `revealSpotChecked` takes (once its audit can't copy the digest:
/// the scheduler says to reveal only then).
async fn reveal_task(ctx: &Context, a: &Assignment, digest: B256) -> Result<(), Failure> {
    let deal = deal_of(a)?;
    if !decloud_protocol::spot::is_spot_checked(decloud_protocol::Tag(deal.tag)) {
        return ctx.batcher.reveal(a.task_id, digest).await;
    }
    decloud_chain::audit::reveal_spot_checked(&ctx.chain, (&deal).into(), a.index, digest).await?;
    Ok(())
}

/// Counts a job among those waiting for the scheduler's word to reveal while it lives.
struct AwaitingReveal<'a>(&'a std::sync::atomic::AtomicUsize);

impl<'a> AwaitingReveal<'a> {
    fn new(counter: &'a std::sync::atomic::AtomicUsize) -> Self {
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Self(counter)
    }
}

impl Drop for AwaitingReveal<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The hub's proof of a drawn position, as the scheduler relayed it (the hub checks all of it:
/// the snapshot against its stored root, the position against the beacon's round).
fn draw_proof(
    d: &decloud_protocol::pool::DrawnPosition,
) -> decloud_chain::contracts::IHub::DrawProof {
    decloud_chain::selection::proof(
        &decloud_chain::selection::DealSnapshot {
            index: d.snapshot_index,
            workers: d.snapshot.clone(),
        },
        d.wave,
        d.position,
    )
}

/// The hub's proof of an audit position, as the scheduler relayed it (the hub checks all of it:
/// the snapshot, the audit round, the draw and the exclusion of the task's contributors).
fn audit_proof(
    a: &decloud_protocol::pool::AuditPosition,
) -> decloud_chain::contracts::IHub::DrawProof {
    decloud_chain::audit::proof(
        &decloud_chain::selection::DealSnapshot {
            index: a.snapshot_index,
            workers: a.snapshot.clone(),
        },
        a.position,
    )
}

/// Why a resumed job that has not computed yet has nothing left to do, read from the chain
/// before it spends a run of the app: the task is over, or its consensus was reached without
/// this worker. `None` when computing can still matter (an open task, or this worker's
/// contribution is in and its result is needed to reveal). A job of this process was just
/// claimed: nothing to read.
pub(crate) async fn settled_on_chain(
    ctx: &Context,
    a: &Assignment,
    resumed: bool,
) -> Result<Option<String>, Failure> {
    if !resumed {
        return Ok(None);
    }
    let (chain, me) = (&ctx.chain, ctx.address);
    if let Some(audit) = &a.audit {
        let view = chain
            .read("reading the audit", chain.hub().task(audit.audit_id))
            .await?;
        if reached(view.status, TaskStatus::Completed) {
            return Ok(Some("the audit is settled on chain".to_owned()));
        }
        let mine = chain
            .read(
                "reading the auditor's contribution",
                chain.hub().contribution(audit.audit_id, me),
            )
            .await?;
        return Ok(
            (mine.status == 0 && reached(view.status, TaskStatus::Revealing))
                .then(|| "the audit's consensus was reached without this worker".to_owned()),
        );
    }
    let view = chain
        .read("reading the task", chain.hub().task(a.task_id))
        .await?;
    if reached(view.status, TaskStatus::Completed) {
        let status = TaskStatus::from_u8(view.status).unwrap_or(TaskStatus::Completed);
        return Ok(Some(format!("the task is {status} on chain")));
    }
    if !reached(view.status, TaskStatus::Revealing) {
        return Ok(None);
    }
    if a.trust <= 1 && a.drawn.is_none() {
        return Ok(Some(format!(
            "the task already has a result, from {}",
            view.worker
        )));
    }
    let mine = chain
        .read(
            "reading the worker's contribution",
            chain.hub().contribution(a.task_id, me),
        )
        .await?;
    Ok((mine.status == 0).then(|| "the consensus was reached without this worker".to_owned()))
}

/// Whether a resumed job's contribution is already on chain. At trust ≤ 1 that is the task
/// having reached its result; a result from another worker fails the job.
async fn already_contributed(
    ctx: &Context,
    a: &Assignment,
    at_once: bool,
) -> Result<bool, Failure> {
    let (chain, me) = (&ctx.chain, ctx.address);
    if !at_once {
        let mine = chain
            .read(
                "reading the worker's contribution",
                chain.hub().contribution(a.record_id(), me),
            )
            .await?;
        return Ok(mine.status != 0);
    }
    let view = chain
        .read("reading the task", chain.hub().task(a.task_id))
        .await?;
    let done = reached(view.status, TaskStatus::Revealing);
    if done && view.worker != me {
        return Err(fail(format!(
            "the task already has a result, from {}",
            view.worker
        )));
    }
    Ok(done)
}

/// Waits for the scheduler's word after a replicated contribution, and reveals when told (in a
/// batch with the worker's other reveals). A resumed job first asks the chain whether its reveal
/// is already there; a job of this process knows it is not.
pub(crate) async fn await_reveal(
    ctx: &Context,
    a: &Assignment,
    computed: &Computed,
    resumed: bool,
) -> Result<(), Failure> {
    let chain = &ctx.chain;
    // An auditor's records (and the scheduler's word on them) are keyed by the audit's id.
    let id = a.record_id();
    let mut delay = Duration::from_secs(1);
    let mut waiting = Some(AwaitingReveal::new(&ctx.awaiting_reveal));
    loop {
        let action = match ctx.next_watch.next(id).await {
            Ok(action) => {
                delay = Duration::from_secs(1);
                action
            }
            Err(e) => {
                tracing::debug!(task = %a.task_id, error = %e, "asking the scheduler failed; retrying");
                // The chain can end the wait on its own: a completed or claimed task.
                if let Ok(view) = chain.hub().task(id).call().await
                    && reached(view.status, TaskStatus::Completed)
                {
                    return Ok(());
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(30));
                continue;
            }
        };
        match action {
            NextAction::Wait => continue,
            NextAction::Done { reason } => {
                tracing::info!(task = %a.task_id, %reason, "replicate done");
                return Ok(());
            }
            NextAction::Reveal { .. } => {
                let mine = if resumed || a.audit.is_some() {
                    Some(
                        chain
                            .read(
                                "reading the worker's contribution",
                                chain.hub().contribution(id, ctx.address),
                            )
                            .await?,
                    )
                } else {
                    None
                };
                let already = mine
                    .as_ref()
                    .is_some_and(|m| m.status == CONTRIBUTION_REVEALED);
                let mut computed = computed.clone();
                if a.audit.is_some() {
                    // The scheduler doesn't know an auditor's result: the chain says whether
                    // the audit's consensus is this worker's (a dissenting auditor can't reveal).
                    let hash = decloud_protocol::result::result_hash(id, computed.digest);
                    let group = chain
                        .read("reading the audit's consensus", chain.hub().group(id, hash))
                        .await?;
                    if !group.consensus {
                        tracing::warn!(task = %a.task_id, audit = %id, "the audit's consensus is on another result than this auditor's: nothing to reveal");
                        return Ok(());
                    }
                    if !already {
                        chain
                            .send(
                                "revealing an audit's result",
                                chain
                                    .hub()
                                    .reveal(id, computed.digest)
                                    .into_transaction_request(),
                            )
                            .await?;
                        tracing::info!(task = %a.task_id, audit = %id, "audit revealed");
                    }
                    return Ok(());
                }
                let location = upload(ctx, &mut computed).await?;
                if !already {
                    let (started_ms, started) = (now_ms(), std::time::Instant::now());
                    // Told and about to be in the batcher: not waiting for a word any more.
                    waiting.take();
                    reveal_task(ctx, a, computed.digest).await?;
                    computed.stages.reveal = Some(stage_since(started_ms, started));
                    tracing::info!(task = %a.task_id, "revealed");
                }
                tell(ctx, a, revealed(&computed, location)).await;
                return Ok(());
            }
        }
    }
}
