//! `decloud run <app>`: buy the execution of an app. Picks the cheapest compatible published
//! app, dataset and workerpool orders from the market, signs the request order with the
//! wallet, sends `matchOrders`, and prints the deal and its tasks; `--watch` follows them.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use alloy::primitives::{Address, B256, U256};
use anyhow::{Context, bail};
use clap::Args;
use decloud_chain::orders::match_orders;
use decloud_market::client::MarketClient;
use decloud_market::{BookEntry, BookQuery, OrderKind};
use decloud_protocol::{
    AppOrder, DatasetOrder, Order, RequestOrder, Tag, WorkerpoolOrder, format_amount, task_id,
};
use serde::de::DeserializeOwned;
use serde_json::json;

use super::shared::{MarketOpts, print_json, status_name, unix_now};
use super::wallet::{RpcOpts, WalletOpts, spinner};

/// Arguments of `decloud run`.
#[derive(Args)]
#[command(after_help = "Examples:\n  \
    decloud run 0x5a0b...                                  # cheapest orders, 1 task\n  \
    decloud run 0x5a0b... --args \"--n 3\" --volume 5 --watch\n  \
    decloud run 0x5a0b... --dataset 0x3f1c... --workerpool 0x9c2e... --trust 3 --category 1\n  \
    decloud run 0x5a0b... --input-file http://127.0.0.1:7700/blobs/<sha256> --json\n\n\
    The requester (the wallet) pays from its escrow account: deposit first with `decloud account deposit`.")]
pub struct RunArgs {
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
    wallet: WalletOpts,
    #[command(flatten)]
    rpc: RpcOpts,
    #[command(flatten)]
    market: MarketOpts,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

/// Pages of each order book read when looking for orders.
const MAX_PAGES: u32 = 5;
/// Orders per page read.
const PAGE_SIZE: u32 = 200;
/// Task ids printed in human output (all of them with --json).
const TASKS_PRINTED: usize = 20;

/// Open orders of `kind` matching `query`, cheapest first, parsed.
async fn candidates<T: DeserializeOwned>(
    market: &MarketClient,
    kind: OrderKind,
    mut query: BookQuery,
    now: u64,
) -> anyhow::Result<Vec<(BookEntry, T)>> {
    query.page_size = Some(PAGE_SIZE);
    let mut out = Vec::new();
    for page in 0..MAX_PAGES {
        query.page = page;
        let found = market
            .orderbook(kind, &query)
            .await
            .with_context(|| format!("reading the {} order book", kind.as_str()))?;
        let n = found.orders.len();
        for entry in found.orders {
            if entry.remaining == 0 || (entry.expiry != 0 && entry.expiry <= now) {
                continue;
            }
            if let Ok(order) = serde_json::from_value::<T>(entry.order.clone()) {
                out.push((entry, order));
            }
        }
        if (n as u32) < PAGE_SIZE {
            break;
        }
    }
    Ok(out)
}

fn allows(restriction: Address, actual: Address) -> bool {
    restriction.is_zero() || restriction == actual
}

/// Indices of the orders picked in the candidate lists.
#[derive(Clone, Copy, Debug)]
struct Pick {
    app: usize,
    dataset: Option<usize>,
    pool: usize,
    per_task: U256,
}

impl Pick {
    fn resolve<'a>(
        &self,
        apps: &'a [(BookEntry, AppOrder)],
        datasets: &'a [(BookEntry, DatasetOrder)],
        pools: &'a [(BookEntry, WorkerpoolOrder)],
    ) -> Choice<'a> {
        Choice {
            app: &apps[self.app],
            dataset: self.dataset.map(|d| &datasets[d]),
            workerpool: &pools[self.pool],
            per_task: self.per_task,
        }
    }
}

/// What [`select`] found.
struct Selection {
    /// The cheapest compatible orders whose scheduler can stake.
    staked: Option<Pick>,
    /// The cheapest compatible orders, ignoring the scheduler's stake.
    cheapest_unstaked: Option<Pick>,
    /// Compatible workerpools whose scheduler can't stake.
    unstaked: Vec<Address>,
}

/// The cheapest combination of one app order, one dataset order (when `datasets` is given) and
/// one workerpool order that fit each other's restrictions and tags. The lists are already
/// filtered against the request and sorted cheapest first.
fn select(
    apps: &[(BookEntry, AppOrder)],
    datasets: Option<&[(BookEntry, DatasetOrder)]>,
    pools: &[(BookEntry, WorkerpoolOrder)],
    stakes: &HashMap<Address, U256>,
    volume: u64,
) -> Selection {
    let mut out = Selection {
        staked: None,
        cheapest_unstaked: None,
        unstaked: Vec::new(),
    };
    for (p, (entry, wp)) in pools.iter().enumerate() {
        let fits = |restriction: Address, tag: Tag| {
            allows(restriction, wp.workerpool) && wp.tag.covers(tag)
        };
        let Some(a) = apps
            .iter()
            .position(|(_, o)| fits(o.workerpool_restrict, o.tag))
        else {
            continue;
        };
        let d = match datasets {
            Some(list) => match list
                .iter()
                .position(|(_, o)| fits(o.workerpool_restrict, o.tag))
            {
                Some(d) => Some(d),
                None => continue,
            },
            None => None,
        };
        let per_task = apps[a].1.app_price
            + d.and_then(|d| datasets.map(|l| l[d].1.dataset_price))
                .unwrap_or_default()
            + wp.workerpool_price;
        let stake = wp.workerpool_price
            * U256::from(decloud_protocol::matching::SCHEDULER_STAKE_RATIO)
            / U256::from(100)
            * U256::from(volume.min(entry.remaining));
        let free = stakes.get(&entry.signer).copied().unwrap_or_default();
        let pick = Pick {
            app: a,
            dataset: d,
            pool: p,
            per_task,
        };
        let slot = if free >= stake {
            &mut out.staked
        } else {
            out.unstaked.push(wp.workerpool);
            &mut out.cheapest_unstaked
        };
        if slot.as_ref().is_none_or(|b| per_task < b.per_task) {
            *slot = Some(pick);
        }
    }
    out
}

/// What is left of a published offer on chain now (0 when consumed or cancelled).
async fn remaining_on_chain(
    client: &decloud_chain::client::Client,
    entry: &BookEntry,
) -> anyhow::Result<u64> {
    let status = client
        .hub_extension()
        .orderStatus(entry.hash)
        .call()
        .await
        .map_err(|e| client.contract_error("reading an order's status", &e))?;
    if status.cancelled {
        return Ok(0);
    }
    let consumed = u64::try_from(status.consumed).unwrap_or(u64::MAX);
    Ok(entry.volume.saturating_sub(consumed))
}

/// The orders `run` picked.
struct Choice<'a> {
    app: &'a (BookEntry, AppOrder),
    dataset: Option<&'a (BookEntry, DatasetOrder)>,
    workerpool: &'a (BookEntry, WorkerpoolOrder),
    per_task: U256,
}

/// The deal's volume: the request's, capped by what each order has left.
fn deal_volume(requested: u64, choice: &Choice) -> u64 {
    [
        requested,
        choice.app.0.remaining,
        choice.workerpool.0.remaining,
        choice.dataset.map(|d| d.0.remaining).unwrap_or(u64::MAX),
    ]
    .into_iter()
    .min()
    .unwrap_or(1)
}

/// Fails with "insufficient balance" and the amount to deposit when the requester can't pay
/// `volume` tasks of `choice`.
async fn check_balance(
    client: &decloud_chain::client::Client,
    me: Address,
    choice: &Choice<'_>,
    volume: u64,
) -> anyhow::Result<()> {
    let cost = choice.per_task * U256::from(volume);
    let balance = client
        .hub()
        .balanceOf(me)
        .call()
        .await
        .map_err(|e| client.contract_error("reading the escrow balance", &e))?;
    if balance < cost {
        bail!(
            "insufficient balance: {me} has {} free in the escrow and the deal needs {} ({volume} × {}); deposit with `decloud account deposit {}`",
            format_amount(balance),
            format_amount(cost),
            format_amount(choice.per_task),
            format_amount(cost - balance).replace(' ', "")
        );
    }
    Ok(())
}

/// Runs `decloud run`.
pub async fn run(args: RunArgs, home: &Path) -> anyhow::Result<()> {
    let app = super::shared::parse_address(&args.app, "app")?;
    let signer = args.wallet.unlock(home)?;
    let me = signer.address();
    let client = args.rpc.connect(home, Some(signer.clone())).await?;
    let market = args.market.client()?;
    let now = unix_now();
    let extra_tag = args.tag.unwrap_or(Tag::NONE);
    let dataset = args.dataset.unwrap_or(Address::ZERO);

    let bar = spinner("looking for orders in the market", args.json);
    let apps: Vec<(BookEntry, AppOrder)> = candidates(
        &market,
        OrderKind::App,
        BookQuery {
            resource: Some(app),
            ..BookQuery::default()
        },
        now,
    )
    .await?;
    let datasets: Vec<(BookEntry, DatasetOrder)> = match args.dataset {
        Some(d) => {
            candidates(
                &market,
                OrderKind::Dataset,
                BookQuery {
                    resource: Some(d),
                    ..BookQuery::default()
                },
                now,
            )
            .await?
        }
        None => Vec::new(),
    };
    let pools: Vec<(BookEntry, WorkerpoolOrder)> = candidates(
        &market,
        OrderKind::Workerpool,
        BookQuery {
            resource: args.workerpool,
            category: Some(args.category),
            trust: Some(args.trust),
            ..BookQuery::default()
        },
        now,
    )
    .await?;
    bar.finish_and_clear();

    let apps: Vec<_> = apps
        .into_iter()
        .filter(|(_, o)| allows(o.requester_restrict, me) && allows(o.dataset_restrict, dataset))
        .collect();
    if apps.is_empty() {
        bail!(
            "no app order for {app} that you may use in the market at {}: ask the app's owner to publish one (`decloud order publish --app`)",
            market.url()
        );
    }
    let datasets: Vec<_> = datasets
        .into_iter()
        .filter(|(_, o)| allows(o.requester_restrict, me) && allows(o.app_restrict, app))
        .collect();
    if args.dataset.is_some() && datasets.is_empty() {
        bail!(
            "no dataset order for {dataset} that you may use with app {app} in the market at {}: ask the dataset's owner to publish one (`decloud order publish --dataset`)",
            market.url()
        );
    }
    let pools: Vec<_> = pools
        .into_iter()
        .filter(|(_, o)| {
            allows(o.requester_restrict, me)
                && allows(o.app_restrict, app)
                && allows(o.dataset_restrict, dataset)
                && o.category == args.category
                && o.trust >= args.trust
                && o.tag.covers(extra_tag)
        })
        .collect();

    let mut apps = apps;
    let mut datasets = datasets;
    let mut pools = pools;
    // A scheduler must stake 30 % of the workerpool price per task: read what each can.
    let hub = client.hub();
    let mut stakes = HashMap::new();
    let schedulers: std::collections::BTreeSet<Address> =
        pools.iter().map(|(entry, _)| entry.signer).collect();
    for scheduler in schedulers {
        let free = hub
            .balanceOf(scheduler)
            .call()
            .await
            .map_err(|e| client.contract_error("reading the scheduler's balance", &e))?;
        stakes.insert(scheduler, free);
    }
    // The market follows the chain with a delay: check the cheapest orders on chain, and drop
    // and pick again those consumed or cancelled since.
    let pick = loop {
        let picked = select(
            &apps,
            args.dataset.map(|_| &datasets[..]),
            &pools,
            &stakes,
            args.volume,
        );
        let Some(pick) = picked.staked else {
            if let (Some(pool), Some(cheapest)) =
                (picked.unstaked.first(), &picked.cheapest_unstaked)
            {
                // The requester's own shortfall comes first: it is the one it can fix.
                let choice = cheapest.resolve(&apps, &datasets, &pools);
                check_balance(&client, me, &choice, deal_volume(args.volume, &choice)).await?;
                bail!(
                    "no compatible workerpool order whose scheduler can stake for the deal: the scheduler of workerpool {pool}{} has not deposited enough; ask its owner to deposit with `decloud account deposit`, or lower --volume",
                    match picked.unstaked.len() - 1 {
                        0 => String::new(),
                        n => format!(" (and those of {n} other orders)"),
                    }
                );
            }
            bail!(
                "no compatible workerpool order in the market at {} (category {}, trust at least {}{}{}): publish one (`decloud order publish --workerpool`), or change --category / --trust{}",
                market.url(),
                args.category,
                args.trust,
                if extra_tag.is_empty() {
                    String::new()
                } else {
                    format!(", tag {extra_tag}")
                },
                args.workerpool
                    .map(|w| format!(", workerpool {w}"))
                    .unwrap_or_default(),
                if args.workerpool.is_some() {
                    " / --workerpool"
                } else {
                    ""
                }
            );
        };
        let app_left = remaining_on_chain(&client, &apps[pick.app].0).await?;
        apps[pick.app].0.remaining = app_left;
        let pool_left = remaining_on_chain(&client, &pools[pick.pool].0).await?;
        pools[pick.pool].0.remaining = pool_left;
        let dataset_left = match pick.dataset {
            Some(d) => {
                let left = remaining_on_chain(&client, &datasets[d].0).await?;
                datasets[d].0.remaining = left;
                left
            }
            None => u64::MAX,
        };
        if app_left == 0 {
            apps.remove(pick.app);
            if apps.is_empty() {
                bail!(
                    "every app order for {app} in the market at {} is consumed or cancelled on chain: ask the app's owner to publish a new one",
                    market.url()
                );
            }
        } else if pool_left == 0 {
            pools.remove(pick.pool);
        } else if dataset_left == 0 {
            if let Some(d) = pick.dataset {
                datasets.remove(d);
            }
            if datasets.is_empty() {
                bail!(
                    "every dataset order for {dataset} in the market at {} is consumed or cancelled on chain: ask the dataset's owner to publish a new one",
                    market.url()
                );
            }
        } else {
            break pick;
        }
    };
    let choice = pick.resolve(&apps, &datasets, &pools);

    let volume = deal_volume(args.volume, &choice);
    check_balance(&client, me, &choice, volume).await?;

    let mut params = serde_json::Map::new();
    if let Some(a) = &args.args {
        params.insert("args".into(), json!(a));
    }
    if !args.input_files.is_empty() {
        params.insert("input_files".into(), json!(args.input_files));
    }
    let mut request = RequestOrder {
        app,
        app_max_price: choice.app.1.app_price,
        dataset,
        dataset_max_price: choice
            .dataset
            .map(|d| d.1.dataset_price)
            .unwrap_or_default(),
        workerpool: args.workerpool.unwrap_or(Address::ZERO),
        workerpool_max_price: choice.workerpool.1.workerpool_price,
        requester: me,
        volume: args.volume,
        tag: extra_tag,
        category: args.category,
        trust: args.trust,
        beneficiary: args.beneficiary.unwrap_or(me),
        callback: args.callback.unwrap_or(Address::ZERO),
        params: if params.is_empty() {
            String::new()
        } else {
            serde_json::Value::Object(params).to_string()
        },
        expiry: 0,
        salt: B256::random(),
        sign: Default::default(),
    };
    let none = DatasetOrder::none();
    let dataset_order = choice.dataset.map(|d| &d.1).unwrap_or(&none);
    // The same checks as the hub's, so a mismatch is reported before anything is sent.
    decloud_protocol::matching::check(&choice.app.1, dataset_order, &choice.workerpool.1, &request)
        .context("the orders picked do not match")?;
    let domain = client.domain();
    let request_hash = request.sign_with(&signer, &domain)?;

    let bar = spinner(
        format!(
            "matching: app order {}, workerpool order {}",
            choice.app.0.hash, choice.workerpool.0.hash
        ),
        args.json,
    );
    let matched = match_orders(
        &client,
        &choice.app.1,
        dataset_order,
        &choice.workerpool.1,
        &request,
    )
    .await;
    bar.finish_and_clear();
    let matched = matched?;
    let deal_volume = super::shared::small(matched.deal.volume);
    let tasks: Vec<B256> = (0..deal_volume)
        .map(|i| task_id(matched.deal_id, i))
        .collect();

    if !args.json {
        println!("deal {}", matched.deal_id);
        println!(
            "{:<11} {deal_volume} task{} × {} = {} locked from {me}",
            "cost",
            if deal_volume == 1 { "" } else { "s" },
            format_amount(choice.per_task),
            format_amount(choice.per_task * U256::from(deal_volume))
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
        if !args.json {
            println!("watching the tasks (Ctrl-C stops watching; the deal goes on)");
        }
        let done = super::task::watch_tasks(
            &client,
            &tasks,
            Duration::from_secs(args.interval.max(1)),
            args.json,
        )
        .await?;
        if !args.json {
            for (i, (id, s)) in done.iter().enumerate() {
                println!("  {i:>4}  {id}  {}", status_name(*s));
            }
        }
        statuses = Some(done);
    }
    if args.json {
        let mut value = json!({
            "deal_id": matched.deal_id,
            "volume": deal_volume,
            "price_per_task": choice.per_task.to_string(),
            "locked": (choice.per_task * U256::from(deal_volume)).to_string(),
            "requester": me,
            "request_hash": request_hash,
            "app_order": choice.app.0.hash,
            "dataset_order": choice.dataset.map(|d| d.0.hash),
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
