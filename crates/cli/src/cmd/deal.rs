//! `decloud deal show`: a deal read back from its `DealCreated` event, with its tasks' states.

use std::path::Path;

use alloy::primitives::{Address, U256};
use clap::{Args, Subcommand};
use decloud_protocol::{Tag, format_amount, task_id};
use serde_json::json;

use decloud_client::lookup::{DealInfo, deal_record, find_deal, small, status_name, task_statuses};

use super::shared::{RpcOpts, Untrusted, parse_b256, print_json, table};

/// Most tasks whose state `deal show` reads.
const MAX_TASKS_SHOWN: u64 = 100;

/// Arguments of `decloud deal`.
#[derive(Args)]
pub(crate) struct DealArgs {
    #[command(subcommand)]
    command: DealCommand,
}

#[derive(Subcommand)]
enum DealCommand {
    /// Show a deal: its resources, prices, requester, and the state of its tasks.
    #[command(
        after_help = "Examples:\n  decloud deal show 0x8d1f...\n  decloud deal show 0x8d1f... --json"
    )]
    Show {
        /// The deal id (`decloud run` prints it).
        deal: String,
        #[command(flatten)]
        rpc: RpcOpts,
    },
}

/// The deal as JSON (amounts as decimal strings of nano-units).
fn deal_json(d: &DealInfo) -> serde_json::Value {
    let deal = &d.deal;
    let volume = small(deal.volume);
    json!({
        "deal_id": d.deal_id,
        "app": deal.app,
        "app_owner": deal.appOwner,
        "app_price": deal.appPrice.to_string(),
        "dataset": nonzero(deal.dataset),
        "dataset_owner": nonzero(deal.datasetOwner),
        "dataset_price": deal.datasetPrice.to_string(),
        "workerpool": deal.workerpool,
        "scheduler": deal.scheduler,
        "workerpool_price": deal.workerpoolPrice.to_string(),
        "requester": deal.requester,
        "beneficiary": deal.beneficiary,
        "callback": nonzero(deal.callback),
        "category": small(deal.category),
        "trust": small(deal.trust),
        "tag": Tag(deal.tag),
        "work_clock_time_ref": small(deal.workClockTimeRef),
        "worker_stake": deal.workerStake.to_string(),
        "scheduler_reward_ratio": small(deal.schedulerRewardRatio),
        "request_hash": deal.requestHash,
        "app_order_hash": d.app_order_hash,
        "dataset_order_hash": d.dataset_order_hash,
        "workerpool_order_hash": d.workerpool_order_hash,
        "params": d.params,
        "volume": volume,
        "block": d.block,
        "transaction": d.transaction,
    })
}

fn nonzero(a: Address) -> Option<Address> {
    (!a.is_zero()).then_some(a)
}

/// Runs `decloud deal <verb>`.
pub(crate) async fn run(args: DealArgs, home: &Path, json: bool) -> anyhow::Result<()> {
    let DealCommand::Show { deal, rpc } = args.command;
    let deal_id = parse_b256(&deal, "deal id")?;
    let client = rpc.connect(home, None).await?;
    let info = find_deal(&client, deal_id).await?;
    let record = deal_record(&client, deal_id).await?;
    let volume = small(info.deal.volume);
    let ids: Vec<_> = (0..volume.min(MAX_TASKS_SHOWN))
        .map(|index| task_id(deal_id, index))
        .collect();
    let tasks: Vec<_> = (0u64..)
        .zip(task_statuses(&client, &ids).await?)
        .map(|(index, (id, status))| (index, id, status))
        .collect();
    if json {
        let mut value = deal_json(&info);
        value["start_time"] = json!(small(record.startTime));
        value["tasks"] = tasks
            .iter()
            .map(|(i, id, s)| json!({"index": i, "task_id": id, "status": status_name(*s)}))
            .collect();
        return print_json(&value);
    }
    let d = &info.deal;
    let per_task = info.price_per_task();
    println!("deal {deal_id}");
    println!(
        "{:<12} {} (owner {}) at {}",
        "app",
        d.app,
        d.appOwner,
        format_amount(d.appPrice)
    );
    if !d.dataset.is_zero() {
        println!(
            "{:<12} {} (owner {}) at {}",
            "dataset",
            d.dataset,
            d.datasetOwner,
            format_amount(d.datasetPrice)
        );
    }
    println!(
        "{:<12} {} (scheduler {}) at {}",
        "workerpool",
        d.workerpool,
        d.scheduler,
        format_amount(d.workerpoolPrice)
    );
    println!("{:<12} {}", "requester", d.requester);
    if d.beneficiary != d.requester {
        println!("{:<12} {}", "beneficiary", d.beneficiary);
    }
    if !d.callback.is_zero() {
        println!("{:<12} {}", "callback", d.callback);
    }
    println!(
        "{:<12} category {}, trust {}, tag {}",
        "terms",
        d.category,
        d.trust,
        Tag(d.tag)
    );
    println!(
        "{:<12} {volume} task{} × {} = {}",
        "cost",
        if volume == 1 { "" } else { "s" },
        format_amount(per_task),
        format_amount(per_task * U256::from(volume))
    );
    if !info.params.is_empty() {
        println!("{:<12} {}", "params", Untrusted(&info.params));
    }
    println!("{:<12} {} (unix time)", "started", record.startTime);
    let mut t = table(["index", "task", "status"]);
    for (index, id, status) in &tasks {
        t.add_row(vec![
            index.to_string(),
            id.to_string(),
            status_name(*status).to_string(),
        ]);
    }
    println!("{t}");
    if volume > MAX_TASKS_SHOWN {
        println!("(first {MAX_TASKS_SHOWN} of {volume} tasks; see `decloud task show <task>`)");
    }
    Ok(())
}
