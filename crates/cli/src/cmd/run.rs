//! `decloud run <app>`: buy the execution of an app. Picks the cheapest compatible published
//! app, dataset and workerpool orders from the market, signs the request order with the
//! wallet, sends `matchOrders`, and prints the deal and its tasks; `--watch` follows them.

use std::path::Path;
use std::time::Duration;

use alloy::primitives::{Address, B256, U256};
use clap::Args;
use decloud_client::lookup::{small, status_name};
use decloud_client::market::{self, TaskParams};
use decloud_client::select::Demand;
use decloud_protocol::{Tag, format_amount, task_id};
use serde_json::json;

use super::shared::{MarketOpts, SignerOpts, parse_address, print_json, spinner, unix_now};

/// Arguments of `decloud run`.
#[derive(Args)]
#[command(after_help = "Examples:\n  \
    decloud run 0x5a0b...                                  # cheapest orders, 1 task\n  \
    decloud run 0x5a0b... --args \"--n 3\" --volume 5 --watch\n  \
    decloud run 0x5a0b... --dataset 0x3f1c... --workerpool 0x9c2e... --trust 3 --category 1\n  \
    decloud run 0x5a0b... --input-file http://127.0.0.1:7700/blobs/<sha256> --json\n  \
    decloud run 0x5a0b... --tee --secret api-token --dataset 0x3f1c...  # in an attested enclave\n  \
    decloud run 0x5a0b... --trust 5 --random               # workers drawn by a beacon round\n  \
    decloud run 0x5a0b... --trust 3 --random --spot-check 0.3  # 30 % of the tasks audited\n\n\
    The requester (the wallet) pays from its escrow account: deposit first with `decloud account deposit`.")]
pub(crate) struct RunArgs {
    /// The app to run (its address).
    app: String,
    /// Run on this dataset.
    #[arg(long)]
    dataset: Option<Address>,
    /// Run on this workerpool only (any workerpool by default).
    #[arg(long)]
    workerpool: Option<Address>,
    /// Required trust: 0 or 1 for a single contribution, more for replicated execution.
    #[arg(long, default_value_t = 0)]
    trust: u64,
    /// Category of the work (see `decloud category list`).
    #[arg(long, default_value_t = 0)]
    category: u64,
    /// Requirements beyond those of the app and dataset orders, e.g. `tee`.
    #[arg(long)]
    tag: Option<Tag>,
    /// Run in an attested enclave (a TEE task): adds the `tee` tag; no replication is needed.
    #[arg(long)]
    tee: bool,
    /// Random selection: the workers are drawn by a public beacon round over the pool's staked
    /// registry, not chosen by the scheduler (adds the `random` tag; only a workerpool order
    /// offering it matches).
    #[arg(long, conflicts_with = "tee")]
    random: bool,
    /// With --random: the probability (0 to 0.996) that a task gets a hidden audit by workers
    /// drawn after its contributions closed; a task the audit contradicts fails and its
    /// contributors lose their stake (only a workerpool order offering `spot-checks` matches).
    #[arg(long, requires = "random", value_name = "Q")]
    spot_check: Option<f64>,
    /// With --tee: how many key holders must attest the enclave (1 to 9).
    #[arg(long, default_value_t = 1, requires = "tee", value_name = "K")]
    attestations: usize,
    /// With --tee: a named secret of yours (`decloud secret push NAME`) the enclave gets, as
    /// the read-only file /secrets/NAME (repeatable).
    #[arg(long = "secret", requires = "tee", value_name = "NAME")]
    secrets: Vec<String>,
    /// Arguments passed to the app (one string, split like a command line by the worker).
    #[arg(long, allow_hyphen_values = true, value_name = "ARGS")]
    args: Option<String>,
    /// URL of an input file the workers download into /in (repeatable).
    #[arg(long = "input-file", value_name = "URL")]
    input_files: Vec<String>,
    /// Contract receiving the result (EIP-1154 `receiveResult`).
    #[arg(long)]
    callback: Option<Address>,
    /// Who may read the results (the requester by default).
    #[arg(long)]
    beneficiary: Option<Address>,
    /// Number of tasks.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=4_294_967_295))]
    volume: u64,
    /// Follow every task until it is completed or failed.
    #[arg(long)]
    watch: bool,
    /// Seconds between two reads of the chain while watching.
    #[arg(long, default_value_t = 2, value_name = "SECS")]
    interval: u64,
    #[command(flatten)]
    signer: SignerOpts,
    #[command(flatten)]
    market: MarketOpts,
}

/// The request's tag: `tag`, plus the TEE bit and the bits asking for `k` attestations when
/// `tee`.
fn tee_tag(tag: Tag, tee: bool, k: usize) -> anyhow::Result<Tag> {
    if !tee {
        return Ok(tag);
    }
    let k = decloud_protocol::tee::tag_for_attestations(k)?;
    Ok(tag.union(Tag::TEE).union(k))
}

/// The request's tag: `tag`, plus the random-selection bit when `random`.
fn random_tag(tag: Tag, random: bool) -> Tag {
    if random { tag.union(Tag::RANDOM) } else { tag }
}

/// The request's tag with the spot-check byte for probability `q` (none: unchanged).
fn spot_tag(tag: Tag, q: Option<f64>) -> anyhow::Result<Tag> {
    match q {
        None => Ok(tag),
        Some(q) => Ok(decloud_protocol::spot::with_spot_byte(
            tag,
            decloud_protocol::spot::spot_byte_for(q)?,
        )),
    }
}

/// Task ids printed in human output (all of them with --json).
const TASKS_PRINTED: usize = 20;

/// Runs `decloud run`.
pub(crate) async fn run(args: RunArgs, home: &Path, json: bool) -> anyhow::Result<()> {
    let app = parse_address(&args.app, "app")?;
    let signer = args.signer.wallet.unlock(home)?;
    let me = signer.address();
    let client = args.signer.rpc.connect(home, Some(signer.clone())).await?;
    let market = args.market.client(home)?;
    let demand = Demand {
        app,
        dataset: args.dataset,
        workerpool: args.workerpool,
        trust: args.trust,
        category: args.category,
        tag: spot_tag(
            random_tag(
                tee_tag(args.tag.unwrap_or(Tag::NONE), args.tee, args.attestations)?,
                args.random,
            ),
            args.spot_check,
        )?,
        volume: args.volume,
        requester: me,
    };

    let bar = spinner("looking for orders in the market", json);
    let offers = market::offers(&market, &demand, unix_now()).await;
    bar.finish_and_clear();
    let choice = match market::choose(&client, market.url(), offers?, &demand).await {
        Err(decloud_client::Error::NoWorkerpoolOrder { .. }) if args.spot_check.is_some() => {
            anyhow::bail!(
                "no workerpool order{} offers spot checks (the `random` and `spot-checks` tags) for category {} and trust {}: ask a pool that offers them, or drop --spot-check",
                args.workerpool
                    .map(|w| format!(" of workerpool {w}"))
                    .unwrap_or_default(),
                args.category,
                args.trust
            )
        }
        Err(decloud_client::Error::NoWorkerpoolOrder { .. }) if args.random => {
            anyhow::bail!(
                "no workerpool order{} offers random selection (the `random` tag) for category {} and trust {}: ask a pool that offers it, or drop --random to let the scheduler choose the workers",
                args.workerpool
                    .map(|w| format!(" of workerpool {w}"))
                    .unwrap_or_default(),
                args.category,
                args.trust
            )
        }
        other => other?,
    };

    let params = TaskParams {
        args: args.args,
        input_files: args.input_files,
        callback: args.callback,
        beneficiary: args.beneficiary,
        secrets: args.secrets,
    };
    let mut request = market::request_for(&choice, &demand, &params);
    let request_hash = market::sign_request(&client, &signer, &choice, &mut request)?;

    let bar = spinner(
        format!(
            "matching: app order {}, workerpool order {}",
            choice.app.0.hash, choice.workerpool.0.hash
        ),
        json,
    );
    let matched = market::match_choice(&client, &choice, &request).await;
    bar.finish_and_clear();
    let matched = matched?;
    let deal_volume = small(matched.deal.volume);
    let tasks: Vec<B256> = (0..deal_volume)
        .map(|i| task_id(matched.deal_id, i))
        .collect();
    let locked = choice.per_task * U256::from(deal_volume);

    if !json {
        println!("deal {}", matched.deal_id);
        println!(
            "{:<11} {deal_volume} task{} × {} = {} locked from {me}",
            "cost",
            if deal_volume == 1 { "" } else { "s" },
            format_amount(choice.per_task),
            format_amount(locked)
        );
        println!("{:<11} {}", "workerpool", choice.workerpool.1.workerpool);
        println!("{:<11} {}", "request", request_hash);
        println!("{:<11} {}", "transaction", matched.receipt.transaction_hash);
        println!("tasks:");
        for (i, t) in tasks.iter().enumerate().take(TASKS_PRINTED) {
            println!("  {i:>4}  {t}");
        }
        if tasks.len() > TASKS_PRINTED {
            println!(
                "  ... and {} more (`decloud deal show {}`)",
                tasks.len() - TASKS_PRINTED,
                matched.deal_id
            );
        }
    }
    let mut statuses = None;
    if args.watch {
        if !json {
            println!("watching the tasks (Ctrl-C stops watching; the deal goes on)");
        }
        let done = super::task::watch_tasks(
            &client,
            &tasks,
            Duration::from_secs(args.interval.max(1)),
            json,
        )
        .await?;
        if !json {
            for (i, (id, s)) in done.iter().enumerate() {
                println!("  {i:>4}  {id}  {}", status_name(*s));
            }
        }
        statuses = Some(done);
    }
    if json {
        let mut value = json!({
            "deal_id": matched.deal_id,
            "volume": deal_volume,
            "price_per_task": choice.per_task.to_string(),
            "locked": locked.to_string(),
            "requester": me,
            "request_hash": request_hash,
            "app_order": choice.app.0.hash,
            "dataset_order": choice.dataset.as_ref().map(|d| d.0.hash),
            "workerpool_order": choice.workerpool.0.hash,
            "workerpool": choice.workerpool.1.workerpool,
            "transaction": matched.receipt.transaction_hash,
            "tasks": tasks,
        });
        if let Some(done) = statuses {
            value["statuses"] = done
                .iter()
                .map(|(id, s)| json!({"task_id": id, "status": status_name(*s)}))
                .collect();
        }
        print_json(&value)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use decloud_protocol::tee::attestations_required;

    #[test]
    fn tee_adds_the_tee_bit_and_asks_for_k_attestations() {
        let gpu = Tag::bit(3);
        assert_eq!(tee_tag(gpu, false, 1).unwrap(), gpu);
        for k in [1, 2, 5, 9] {
            let tag = tee_tag(gpu, true, k).unwrap();
            assert!(tag.is_tee() && tag.has_bit(3), "{k}");
            assert_eq!(attestations_required(tag), k);
        }
        assert!(tee_tag(gpu, true, 0).is_err());
        assert!(tee_tag(gpu, true, 10).is_err());
    }

    #[test]
    fn spot_check_sets_the_q_byte() {
        let tag = spot_tag(Tag::RANDOM, Some(0.3)).unwrap();
        assert!(tag.is_random());
        assert_eq!(decloud_protocol::spot::spot_byte(tag), 77);
        assert_eq!(spot_tag(Tag::RANDOM, None).unwrap(), Tag::RANDOM);
        let e = spot_tag(Tag::RANDOM, Some(1.5)).unwrap_err().to_string();
        assert!(e.contains("out of range"), "{e}");
    }

    #[test]
    fn random_adds_the_random_bit_only() {
        let gpu = Tag::bit(3);
        assert_eq!(random_tag(gpu, false), gpu);
        let tag = random_tag(gpu, true);
        assert!(tag.is_random() && tag.has_bit(3) && !tag.is_tee());
    }
}
