//! `decloud task show [--watch] | claim | retry-callback`: a task's state on the hub, following
//! it to its end, claiming the refund of a task its workerpool did not finish in time, and
//! calling a failed result callback again.

use std::path::Path;
use std::time::Duration;

use alloy::primitives::{B256, U256};
use anyhow::bail;
use clap::{Args, Subcommand};
use decloud_chain::client::Client;
use decloud_client::lookup::{
    FINAL_DEADLINE_RATIO, TaskStatus, callback_failure, chain_now, contributors, deal_record,
    find_task, is_final, results_location, scheduler_view, small, status_name, task_statuses,
    task_view,
};
use decloud_oracle::profile::OracleProfile;
use decloud_oracle::status::{DestinationStatus, Outcome, destination_status};
use indicatif::ProgressBar;
use serde_json::json;

use super::shared::{
    RpcOpts, SignerOpts, Untrusted, parse_b256, print_json, progress, spinner, unix_now,
};

/// Arguments of `decloud task`.
#[derive(Args)]
pub(crate) struct TaskArgs {
    #[command(subcommand)]
    command: TaskCommand,
}

#[derive(Subcommand)]
enum TaskCommand {
    /// Show a task: status, deadlines, contributions, and its results once completed; a failed
    /// result callback; for a proxy task, whether the gateway on its destination chain delivered
    /// it (when $DECLOUD_HOME/oracle.toml knows that chain).
    #[command(after_help = "Examples:\n  \
        decloud task show 0x3b7a...\n  \
        decloud task show 0x3b7a... --watch      # until COMPLETED or FAILED\n  \
        decloud task show 0x3b7a... --json")]
    Show {
        /// The task id (`decloud run` and `decloud deal show` print them).
        task: String,
        /// Follow the task until it is completed or failed.
        #[arg(long)]
        watch: bool,
        /// Seconds between two reads of the chain while watching.
        #[arg(long, default_value_t = 2, value_name = "SECS")]
        interval: u64,
        /// The workerpool's scheduler, asked for the off-chain stage of every replicate, with
        /// its key's fingerprint (https://HOST:PORT#sha256:...) [default: the scheduler on
        /// 127.0.0.1:7800 of this $DECLOUD_HOME].
        #[arg(long, env = "DECLOUD_SCHEDULER", value_name = "URL")]
        scheduler: Option<String>,
        #[command(flatten)]
        rpc: RpcOpts,
    },
    /// Claim a task not finished by its final deadline: the requester gets its payment back,
    /// the workers their stakes; the scheduler loses its stake. Anyone may claim.
    #[command(
        after_help = "Examples:\n  decloud task claim 0x3b7a...\n  decloud task claim 0x3b7a... --wallet requester --json"
    )]
    Claim {
        /// The task id.
        task: String,
        #[command(flatten)]
        signer: SignerOpts,
    },
    /// Call a task's result callback again after it reverted or ran out of gas at finalize (the
    /// hub recorded the failure). Anyone may, e.g. the consumer's owner once it is fixed.
    #[command(
        after_help = "Examples:\n  decloud task retry-callback 0x3b7a...\n  decloud task retry-callback 0x3b7a... --wallet consumer --json"
    )]
    RetryCallback {
        /// The task id (0x + 64 hex digits).
        task: String,
        #[command(flatten)]
        signer: SignerOpts,
    },
}

/// Runs `decloud task <verb>`.
pub(crate) async fn run(args: TaskArgs, home: &Path, json: bool) -> anyhow::Result<()> {
    match args.command {
        TaskCommand::Show {
            task,
            watch,
            interval,
            scheduler,
            rpc,
        } => {
            let task_id = parse_b256(&task, "task id")?;
            let client = rpc.connect(home, None).await?;
            let (deal, index) = find_task(&client, task_id).await?;
            if watch {
                watch_tasks(
                    &client,
                    &[task_id],
                    Duration::from_secs(interval.max(1)),
                    json,
                )
                .await?;
            }
            let view = task_view(&client, task_id).await?;
            let init: u64 = view.initTime.to();
            let results = if view.status == TaskStatus::Completed.as_u8() {
                results_location(&client, task_id).await?
            } else {
                None
            };
            let deadlines = deal.deadlines(init);
            let scheduler = scheduler.unwrap_or_else(|| {
                decloud_local::node::local_service_url(
                    home,
                    "scheduler",
                    super::services::DEFAULT_SCHEDULER_URL,
                )
            });
            let offchain = scheduler_view(&scheduler, task_id).await;
            let drawn = decloud_client::lookup::random_selection(&client, &deal, index).await?;
            let spot = decloud_client::lookup::spot_check(&client, &deal, index).await?;
            let callback_failed = if results.is_some() && !deal.deal.callback.is_zero() {
                callback_failure(&client, task_id).await?
            } else {
                None
            };
            let destination = destination_of(home, &client, &deal, task_id).await;
            if json {
                return print_json(&json!({
                    "offchain": offchain,
                    "task_id": task_id,
                    "deal_id": deal.deal_id,
                    "index": index,
                    "status": status_name(view.status),
                    "replicated": view.replicated,
                    "revealed": view.revealed,
                    "init_time": init,
                    "contribution_deadline": deadlines.map(|d| d.0),
                    "final_deadline": deadlines.map(|d| d.1),
                    "reveal_deadline": view.revealDeadline.to::<u64>(),
                    "worker": (!view.worker.is_zero()).then_some(view.worker),
                    "contributions": view.contributions,
                    "reveals": view.reveals,
                    "results_location": results.as_ref().map(|r| String::from_utf8_lossy(&r.0).into_owned()),
                    "callback_data": results.as_ref().map(|r| alloy::hex::encode_prefixed(&r.1)),
                    "random_selection": drawn,
                    "spot_check": spot,
                    "callback_failed": callback_failed,
                    "destination": destination.as_ref().map(|d| match d {
                        Ok(d) => serde_json::to_value(d).unwrap_or_default(),
                        Err(e) => json!({"error": e}),
                    }),
                }));
            }
            println!("task {task_id}");
            println!("{:<13} {} (index {index})", "deal", deal.deal_id);
            println!("{:<13} {}", "status", status_name(view.status));
            match deadlines {
                Some((contribute, last)) => {
                    println!("{:<13} {init} (unix time)", "initialized");
                    println!(
                        "{:<13} contributions until {contribute}, final {last}",
                        "deadlines"
                    );
                }
                None => println!(
                    "{:<13} not initialized yet (the scheduler does it when it starts the task)",
                    "initialized"
                ),
            }
            if view.contributions > 0 {
                println!(
                    "{:<13} {} contributions, {} reveals",
                    "progress", view.contributions, view.reveals
                );
            }
            if !view.worker.is_zero() {
                println!("{:<13} {}", "worker", view.worker);
            }
            if let Some(d) = &drawn {
                print_selection(d);
            }
            if let Some(s) = &spot {
                print_spot_check(s);
            }
            if let Some(report) = &offchain {
                if let Some(reason) = &report.task.given_up {
                    println!("{:<13} {}", "given up", Untrusted(reason));
                }
                if report.replicas_needed > 0 {
                    println!(
                        "{:<13} needs {} more worker(s)",
                        "scheduler", report.replicas_needed
                    );
                }
                for r in &report.replicates {
                    println!(
                        "{:<13} {} {}{}",
                        "replicate",
                        r.worker,
                        r.status,
                        r.reason
                            .as_deref()
                            .map(|m| format!(": {}", Untrusted(m)))
                            .unwrap_or_default()
                    );
                }
            }
            if let Some((location, callback)) = &results {
                println!(
                    "{:<13} {}",
                    "results",
                    Untrusted(String::from_utf8_lossy(location))
                );
                if !callback.is_empty() {
                    println!(
                        "{:<13} {}",
                        "callback data",
                        alloy::hex::encode_prefixed(callback)
                    );
                }
            }
            if let Some(reason) = &callback_failed {
                println!(
                    "{:<13} FAILED: {}; once the consumer is fixed, anyone may run `decloud task retry-callback {task_id}`",
                    "callback",
                    Untrusted(reason)
                );
            }
            if let Some(d) = &destination {
                print_destination(d, task_id);
            }
            Ok(())
        }
        TaskCommand::Claim { task, signer } => claim(home, &task, &signer, json).await,
        TaskCommand::RetryCallback { task, signer } => {
            retry_callback(home, &task, &signer, json).await
        }
    }
}

/// A proxy task's destination (the request's params name one) and what its gateway on chain B
/// says, read through the oracle profile; `Err` carries a one-line reason it could not be read.
async fn destination_of(
    home: &Path,
    client: &Client,
    deal: &decloud_client::lookup::DealInfo,
    task_id: B256,
) -> Option<Result<DestinationStatus, String>> {
    let path = OracleProfile::path(home);
    // No profile: B is unknown, which the status says; a broken one is worth a line.
    let profile = match path.exists().then(|| OracleProfile::load(home)) {
        None => None,
        Some(Ok(p)) => Some(p),
        Some(Err(e)) => return Some(Err(e.to_string())),
    };
    destination_status(
        profile.as_ref(),
        client.profile().chain_id,
        client.profile().contracts.hub,
        task_id,
        &deal.params,
    )
    .await
    .map_err(|e| e.to_string())
    .transpose()
}

fn print_destination(d: &Result<DestinationStatus, String>, task_id: B256) {
    let d = match d {
        Ok(d) => d,
        Err(e) => {
            println!("{:<13} cannot be read: {}", "destination", Untrusted(e));
            return;
        }
    };
    let dest = &d.destination;
    println!(
        "{:<13} chain {}, gateway {}, consumer {} (method {}, gas {})",
        "destination",
        dest.chain_id,
        dest.gateway,
        dest.consumer,
        dest.selector(),
        dest.gas_limit()
    );
    let line = match &d.outcome {
        Outcome::Pending => {
            "not delivered yet (the committee signs once the task is final; a relayer carries it)"
                .to_string()
        }
        Outcome::Delivered => "delivered".to_string(),
        Outcome::Failed { reason, .. } => format!(
            "FAILED: the consumer refused it: {}; once it is fixed, anyone may call the gateway's retry with the same delivery (task {task_id})",
            Untrusted(reason)
        ),
        Outcome::Unknown { why } => format!("unknown: {}", Untrusted(why)),
    };
    println!("{:<13} {line}", "on chain B");
}

fn print_spot_check(s: &decloud_client::lookup::SpotCheck) {
    use decloud_chain::audit::{AuditState, Verdict};
    let state = match (s.verdict, s.state) {
        (Some(Verdict::NotAudited), _) | (None, AuditState::NotAudited) => "not audited".into(),
        (Some(Verdict::Agreed), _) => "audited: the audit AGREED, the result is certified".into(),
        (Some(Verdict::Contradicted), _) => {
            "audited: the audit CONTRADICTED the consensus, the task failed and its contributors were slashed".into()
        }
        (Some(Verdict::Void), _) => "audited: void (no audit consensus in its window)".into(),
        (None, AuditState::Audited) => format!(
            "audited (round {}): audit {}, window closes at {}",
            s.round, s.status, s.closes_at
        ),
        (None, AuditState::Unknown) => "decided by the audit round after the consensus".into(),
    };
    println!(
        "{:<13} q = {}/256 ({:.1} %): {state}",
        "spot check",
        s.q,
        decloud_protocol::spot::probability(s.q) * 100.0
    );
    for a in &s.auditors {
        println!(
            "{:<13} position {}: {} ({})",
            "auditor", a.position, a.worker, a.stage
        );
    }
}

fn print_selection(s: &decloud_client::lookup::Selection) {
    let w = &s.wave;
    println!(
        "{:<13} random: wave {} (beacon round {}, open {} to {})",
        "selection", w.index, w.round, w.opens_at, w.closes_at
    );
    if let Some(p) = &s.problem {
        println!("{:<13} {}", "drawn", Untrusted(p));
        return;
    }
    match &s.drawn {
        None => println!(
            "{:<13} round {} is not on chain yet: nobody is drawn",
            "drawn", w.round
        ),
        Some(drawn) => {
            for d in drawn {
                println!("{:<13} position {}: {}", "drawn", d.position, d.worker);
            }
        }
    }
}

async fn claim(home: &Path, task: &str, signer: &SignerOpts, json: bool) -> anyhow::Result<()> {
    let task_id = parse_b256(task, "task id")?;
    let client = signer.connect(home).await?;
    let (deal, index) = find_task(&client, task_id).await?;
    let view = task_view(&client, task_id).await?;
    let reference = small(deal.deal.workClockTimeRef);
    match TaskStatus::from_u8(view.status) {
        Some(TaskStatus::Unset) => {
            // Nobody worked on it, so it was never initialized (contributions initialize tasks):
            // anyone may initialize it once the deal is 10 reference times old, and claim it
            // 10 reference times after that.
            let record = deal_record(&client, deal.deal_id).await?;
            let opens = small(record.startTime) + FINAL_DEADLINE_RATIO * reference;
            let now = chain_now(&client, unix_now()).await?;
            if now < opens {
                bail!(
                    "task {task_id} was never started by its workerpool; it can be initialized from {opens} (unix time, in {} s) and claimed {} s after that: run `decloud task claim` again then",
                    opens - now,
                    FINAL_DEADLINE_RATIO * reference
                );
            }
            let hub = client.hub();
            let call = hub.initialize((&deal.deal).into(), U256::from(index));
            let bar = spinner("initializing the task so that it can be claimed", json);
            let sent = client
                .send("initializing the task", call.into_transaction_request())
                .await;
            bar.finish_and_clear();
            sent?;
            bail!(
                "task {task_id} was never started by its workerpool: it is initialized now, so its final deadline is in {} s; claim it then with `decloud task claim {task_id}`",
                FINAL_DEADLINE_RATIO * reference
            );
        }
        Some(TaskStatus::Completed) => bail!(
            "task {task_id} is completed: there is nothing to claim (see `decloud task show {task_id}`)"
        ),
        Some(TaskStatus::Failed) => bail!("task {task_id} was already claimed"),
        _ => {}
    }
    let workers = if view.replicated {
        contributors(&client, task_id).await?
    } else {
        Vec::new()
    };
    let hub = client.hub();
    let call = hub.claim((&deal.deal).into(), U256::from(index), workers);
    let bar = spinner("claiming the task", json);
    let receipt = client
        .send("claiming the task", call.into_transaction_request())
        .await;
    bar.finish_and_clear();
    let receipt = receipt?;
    let refund = deal.price_per_task();
    if json {
        return print_json(&json!({
            "task_id": task_id,
            "status": "FAILED",
            "refunded_to": deal.deal.requester,
            "refund": refund.to_string(),
            "transaction": receipt.transaction_hash,
        }));
    }
    println!(
        "claimed task {task_id}: {} refunded to {} (transaction {})",
        decloud_protocol::format_amount(refund),
        deal.deal.requester,
        receipt.transaction_hash
    );
    Ok(())
}

/// `decloud task retry-callback`: sends the deal's callback and the task's published callback
/// data back to the hub, which calls the consumer again if its failure is on record.
async fn retry_callback(
    home: &Path,
    task: &str,
    signer: &SignerOpts,
    json: bool,
) -> anyhow::Result<()> {
    let task_id = parse_b256(task, "task id")?;
    let client = signer.connect(home).await?;
    let (deal, _) = find_task(&client, task_id).await?;
    let callback = deal.deal.callback;
    if callback.is_zero() {
        bail!("task {task_id}'s deal has no callback: there is nothing to retry");
    }
    if callback_failure(&client, task_id).await?.is_none() {
        bail!(
            "task {task_id} has no failed callback waiting for a retry (see `decloud task show {task_id}`)"
        );
    }
    let Some((_, data)) = results_location(&client, task_id).await? else {
        bail!(
            "task {task_id} has no finalize event on this node: point --rpc at a node that keeps its logs"
        );
    };
    let hub = client.hub();
    let call = hub.retryCallback(task_id, callback, data.into());
    let bar = spinner("calling the consumer again", json);
    let receipt = client
        .send("retrying the callback", call.into_transaction_request())
        .await;
    bar.finish_and_clear();
    let receipt = receipt?;
    let still = callback_failure(&client, task_id).await?;
    if json {
        return print_json(&json!({
            "task_id": task_id,
            "callback": callback,
            "delivered": still.is_none(),
            "reason": still,
            "transaction": receipt.transaction_hash,
        }));
    }
    match still {
        None => println!(
            "callback of task {task_id} delivered to {callback} (transaction {})",
            receipt.transaction_hash
        ),
        Some(reason) => bail!(
            "the consumer {callback} refused task {task_id} again: {}; the failure stays on record (transaction {})",
            Untrusted(reason),
            receipt.transaction_hash
        ),
    }
    Ok(())
}

/// Polls the tasks every `interval` until each is completed or failed; shows their progress
/// on stderr. Returns the final statuses.
pub(crate) async fn watch_tasks(
    client: &Client,
    tasks: &[B256],
    interval: Duration,
    hidden: bool,
) -> anyhow::Result<Vec<(B256, u8)>> {
    let bar = progress(
        ProgressBar::new(tasks.len() as u64),
        "{spinner} {pos}/{len} tasks done {msg} {elapsed}",
        hidden,
    );
    loop {
        let statuses = task_statuses(client, tasks).await?;
        let done = statuses.iter().filter(|(_, s)| is_final(*s)).count();
        bar.set_position(done as u64);
        let mut counts = std::collections::BTreeMap::new();
        for (_, s) in &statuses {
            *counts.entry(status_name(*s)).or_insert(0) += 1;
        }
        bar.set_message(
            counts
                .iter()
                .map(|(k, v)| format!("{v} {k}"))
                .collect::<Vec<_>>()
                .join(", "),
        );
        if done == tasks.len() {
            bar.finish_and_clear();
            return Ok(statuses);
        }
        tokio::time::sleep(interval).await;
    }
}
