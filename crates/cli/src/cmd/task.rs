//! `decloud task show [--watch] | claim`: a task's state on the hub, following it to its end,
//! and claiming the refund of a task its workerpool did not finish in time.

use std::path::Path;
use std::time::Duration;

use alloy::primitives::{B256, U256};
use anyhow::bail;
use clap::{Args, Subcommand};
use decloud_chain::client::Client;
use decloud_chain::contracts::HubExtension;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use super::shared::{
    CONTRIBUTION_DEADLINE_RATIO, FINAL_DEADLINE_RATIO, STATUS_COMPLETED, STATUS_FAILED,
    contributors, find_task, print_json, results_location, small, status_name, task_view,
};
use super::wallet::{RpcOpts, WalletOpts, spinner};

/// Arguments of `decloud task`.
#[derive(Args)]
pub struct TaskArgs {
    #[command(subcommand)]
    command: TaskCommand,
}

#[derive(Subcommand)]
enum TaskCommand {
    /// Show a task: status, deadlines, contributions, and its results once completed.
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
        /// The workerpool's scheduler, asked for the off-chain stage of every replicate.
        #[arg(
            long,
            env = "DECLOUD_SCHEDULER",
            default_value = super::services::DEFAULT_SCHEDULER_URL,
            value_name = "URL"
        )]
        scheduler: String,
        #[command(flatten)]
        rpc: RpcOpts,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
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
        wallet: WalletOpts,
        #[command(flatten)]
        rpc: RpcOpts,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs `decloud task <verb>`.
pub async fn run(args: TaskArgs, home: &Path) -> anyhow::Result<()> {
    match args.command {
        TaskCommand::Show {
            task,
            watch,
            interval,
            scheduler,
            rpc,
            json,
        } => {
            let task_id = super::shared::parse_b256(&task, "task id")?;
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
            let reference = small(deal.deal.workClockTimeRef);
            let init: u64 = view.initTime.to();
            let results = if view.status == STATUS_COMPLETED {
                results_location(&client, task_id).await?
            } else {
                None
            };
            let deadlines = (init != 0).then(|| {
                (
                    init + CONTRIBUTION_DEADLINE_RATIO * reference,
                    init + FINAL_DEADLINE_RATIO * reference,
                )
            });
            let offchain = scheduler_view(&scheduler, task_id).await;
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
            if let Some(report) = &offchain {
                if let Some(reason) = &report.task.given_up {
                    println!("{:<13} {reason}", "given up");
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
                            .map(|m| format!(": {m}"))
                            .unwrap_or_default()
                    );
                }
            }
            if let Some((location, callback)) = &results {
                println!("{:<13} {}", "results", String::from_utf8_lossy(location));
                if !callback.is_empty() {
                    println!(
                        "{:<13} {}",
                        "callback data",
                        alloy::hex::encode_prefixed(callback)
                    );
                }
            }
            Ok(())
        }
        TaskCommand::Claim {
            task,
            wallet,
            rpc,
            json,
        } => claim(home, &task, &wallet, &rpc, json).await,
    }
}

/// The latest block's timestamp: the hub's clock.
async fn chain_now(client: &Client) -> anyhow::Result<u64> {
    use alloy::providers::Provider;
    let block = client
        .provider()
        .get_block_by_number(alloy::eips::BlockNumberOrTag::Latest)
        .await
        .map_err(|e| client.rpc_error("reading the latest block", &e))?;
    Ok(block
        .map(|b| b.header.timestamp)
        .unwrap_or_else(super::shared::unix_now))
}

/// The scheduler's view of the task (every replicate's off-chain stage), when the scheduler at
/// `url` answers for it; `None` otherwise (another pool's scheduler, or none running).
pub async fn scheduler_view(
    url: &str,
    task_id: B256,
) -> Option<decloud_scheduler::api::TaskReport> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
        .ok()?;
    let response = client
        .get(format!("{}/v1/tasks/{task_id}", url.trim_end_matches('/')))
        .send()
        .await
        .ok()?;
    if !response.status().is_success() {
        return None;
    }
    response.json().await.ok()
}

async fn claim(
    home: &Path,
    task: &str,
    wallet: &WalletOpts,
    rpc: &RpcOpts,
    json: bool,
) -> anyhow::Result<()> {
    let task_id = super::shared::parse_b256(task, "task id")?;
    let signer = wallet.unlock(home)?;
    let client = rpc.connect(home, Some(signer)).await?;
    let (deal, index) = find_task(&client, task_id).await?;
    let view = task_view(&client, task_id).await?;
    let reference = small(deal.deal.workClockTimeRef);
    match view.status {
        0 => {
            // Nobody worked on it, so it was never initialized (contributions initialize tasks):
            // anyone may initialize it once the deal is 10 reference times old, and claim it
            // 10 reference times after that.
            let record = client
                .hub_extension()
                .dealRecord(deal.deal_id)
                .call()
                .await
                .map_err(|e| client.contract_error("reading the deal", &e))?;
            let opens = small(record.startTime) + FINAL_DEADLINE_RATIO * reference;
            let now = chain_now(&client).await?;
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
        STATUS_COMPLETED => bail!(
            "task {task_id} is completed: there is nothing to claim (see `decloud task show {task_id}`)"
        ),
        STATUS_FAILED => bail!("task {task_id} was already claimed"),
        _ => {}
    }
    let workers = if view.replicated {
        contributors(&client, task_id).await?
    } else {
        Vec::new()
    };
    let hub = client.hub_extension();
    let call = hub.claim((&deal.deal).into(), U256::from(index), workers);
    let bar = spinner("claiming the task", json);
    let receipt = client
        .send("claiming the task", call.into_transaction_request())
        .await;
    bar.finish_and_clear();
    let receipt = receipt?;
    let refund = deal.deal.appPrice + deal.deal.datasetPrice + deal.deal.workerpoolPrice;
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

/// Polls the tasks every `interval` until each is completed or failed; shows their progress
/// on stderr. Returns the final statuses.
pub async fn watch_tasks(
    client: &Client,
    tasks: &[B256],
    interval: Duration,
    hidden: bool,
) -> anyhow::Result<Vec<(B256, u8)>> {
    let bar = ProgressBar::new(tasks.len() as u64);
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} {pos}/{len} tasks done {msg} {elapsed}")
    {
        bar.set_style(style);
    }
    if hidden || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    bar.enable_steady_tick(Duration::from_millis(100));
    loop {
        let mut statuses = Vec::with_capacity(tasks.len());
        for &id in tasks {
            let view: HubExtension::TaskView = task_view(client, id).await?;
            statuses.push((id, view.status));
        }
        let done = statuses
            .iter()
            .filter(|(_, s)| *s == STATUS_COMPLETED || *s == STATUS_FAILED)
            .count();
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
