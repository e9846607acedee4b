//! `decloud demo`: the whole marketplace on this machine in one command. It starts a devnet and
//! every service in this process (storage, a workerpool's scheduler and three workers), deploys
//! the example apps, runs one task at trust 1, one that needs three agreeing replicas and one TEE
//! task (an age-encrypted dataset whose key the SMS releases only to a `sim` enclave, the result
//! signed by the enclave and encrypted to the requester), shows each stage as it happens, and prints the certified results, who was paid
//! what, and the transactions and gas spent. It stops everything it started.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use alloy::consensus::Transaction as _;
use alloy::eips::BlockNumberOrTag;
use alloy::primitives::{Address, B256, U256};
use alloy::providers::Provider;
use anyhow::{Context, bail};
use clap::Args;
use decloud_chain::client::Client;
use decloud_chain::contracts::IHub;
use decloud_local::pool::{
    APP_OWNER, DATASET_OWNER, DealRequest, POOL_OWNER, PoolOptions, REQUESTER,
};
use decloud_local::{Cluster, ClusterConfig};
use decloud_protocol::format_amount;
use decloud_protocol::pool::TaskReport;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;

use super::shared::{Untrusted, print_json, stop_signals};
use decloud_client::lookup::scheduler_view;

/// Arguments of `decloud demo`.
#[derive(Args)]
#[command(after_help = "Examples:\n  \
    decloud demo                    # 1-second blocks, like a real chain\n  \
    decloud demo --block-time 0     # instant mining\n  \
    decloud demo --keep             # leave the chain, the pool and the explorer up afterwards\n  \
    decloud demo --confidential     # five keepers (two stopped), a local dataset, an encrypted app\n  \
    decloud demo --json\n\n\
    The demo's explorer shows every step live in a browser; its URL is printed first.")]
pub(crate) struct DemoArgs {
    /// Seconds between blocks of the demo's chain (0 mines every transaction at once).
    #[arg(long, default_value_t = 1, value_name = "SECS")]
    block_time: u64,
    /// Where the example apps' modules are [default: apps/target/wasm32-wasip1/release, from the
    /// current directory or beside the decloud binary's checkout].
    #[arg(long, env = "DECLOUD_APPS", value_name = "DIR")]
    apps: Option<PathBuf>,
    /// Longest the demo waits for its tasks, in seconds.
    #[arg(long, default_value_t = 300, value_name = "SECS")]
    timeout: u64,
    /// Keep the chain, the workerpool and the explorer running after the demo, until Ctrl-C.
    #[arg(long)]
    keep: bool,
    /// Instead: oracles across chains, a price feed on a second chain fed by a median of
    /// replicated tasks through the committee's signers and a relayer (docs/oracles.md).
    #[arg(long, conflicts_with = "keep")]
    oracle: bool,
    /// Instead: no single key holder and the code goes to the data: five keepers (k = 3), two
    /// stopped mid-demo, a dataset that stays on its owner's machine and an encrypted app, in a
    /// TEE task whose result only the requester opens (docs/confidential.md).
    #[arg(long, conflicts_with_all = ["keep", "oracle"])]
    confidential: bool,
}

const APPS_SUBDIR: &str = "apps/target/wasm32-wasip1/release";

/// Finds the example apps' directory.
fn apps_dir(given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(dir) = given {
        return Ok(dir);
    }
    let mut candidates = vec![PathBuf::from(APPS_SUBDIR)];
    if let Ok(exe) = std::env::current_exe() {
        // target/<profile>/decloud → the checkout's root.
        for up in exe.ancestors().skip(1).take(4) {
            candidates.push(up.join(APPS_SUBDIR));
        }
    }
    candidates
        .into_iter()
        .find(|d| d.join("greeting.wasm").is_file())
        .context(
            "the example apps are not built: run scripts/build-apps (or scripts/bootstrap), or pass --apps <dir>",
        )
}

/// The live display: spinners on a terminal, plain lines otherwise, nothing with `--json`.
struct Stages {
    multi: MultiProgress,
    /// `--json`: print nothing.
    quiet: bool,
    /// Off a terminal: no spinners, one line per finished stage.
    plain: bool,
}

impl Stages {
    fn new(quiet: bool) -> Self {
        let multi = MultiProgress::new();
        let plain = !std::io::IsTerminal::is_terminal(&std::io::stderr());
        if quiet || plain {
            multi.set_draw_target(ProgressDrawTarget::hidden());
        }
        Self {
            multi,
            quiet,
            plain,
        }
    }

    /// Prints a finished stage's line above the spinners.
    fn line(&self, text: String) {
        if self.quiet {
            return;
        }
        if self.plain {
            println!("{text}");
        } else {
            let _ = self.multi.println(text);
        }
    }

    fn spinner(&self, message: impl Into<String>) -> ProgressBar {
        let bar = self.multi.add(ProgressBar::new_spinner());
        if let Ok(style) = ProgressStyle::with_template("{spinner:.cyan} {msg} {elapsed:.dim}") {
            bar.set_style(style);
        }
        bar.set_message(message.into());
        bar.enable_steady_tick(Duration::from_millis(100));
        bar
    }

    /// Runs `work` under a spinner, then leaves a ✓ line with its duration.
    async fn step<T>(
        &self,
        message: &str,
        work: impl std::future::Future<Output = anyhow::Result<T>>,
    ) -> anyhow::Result<T> {
        let bar = self.spinner(message.to_string());
        let started = Instant::now();
        let out = work.await;
        let mark = if out.is_ok() { "✓" } else { "✗" };
        let line = format!(
            "{mark} {message} ({:.1} s)",
            started.elapsed().as_secs_f64()
        );
        bar.finish_and_clear();
        self.line(line);
        out
    }
}

/// What the display says a task is at, from the scheduler's view.
fn stage_of(report: Option<&TaskReport>, workers: &BTreeMap<Address, String>) -> String {
    let Some(r) = report else {
        return "waiting for the scheduler to see the deal".into();
    };
    let name = |a: &Address| workers.get(a).cloned().unwrap_or_else(|| a.to_string());
    let replicates: Vec<String> = r
        .replicates
        .iter()
        .map(|rep| format!("{} {}", name(&rep.worker), rep.status))
        .collect();
    let status = match r.task.status.as_str() {
        "unset" | "active" if r.replicates.is_empty() => "waiting for a worker".to_string(),
        "unset" | "active" => "computing".to_string(),
        "revealing" => "consensus reached, revealing".to_string(),
        "completed" => "certified and paid".to_string(),
        other => other.to_string(),
    };
    if replicates.is_empty() {
        status
    } else {
        format!("{status} [{}]", replicates.join(", "))
    }
}

/// One hub transaction of the demo.
#[derive(Clone, Debug, serde::Serialize)]
struct TxLine {
    function: String,
    gas: u64,
    from: String,
}

/// The name of the hub function `input` calls.
fn function_name(input: &[u8]) -> String {
    let Some(selector) = input.get(..4) else {
        return "transfer".into();
    };
    for (sel, sig) in IHub::IHubCalls::SELECTORS
        .iter()
        .zip(IHub::IHubCalls::SIGNATURES)
    {
        if sel[..] == selector[..] {
            return sig.split('(').next().unwrap_or(sig).to_string();
        }
    }
    format!("0x{}", alloy::hex::encode(selector))
}

/// Every hub transaction mined from block `from` on, with its gas.
async fn hub_transactions(
    client: &Client,
    from: u64,
    names: &BTreeMap<Address, String>,
) -> anyhow::Result<Vec<TxLine>> {
    let hub = client.profile().contracts.hub;
    let latest = client
        .provider()
        .get_block_number()
        .await
        .map_err(|e| client.rpc_error("reading the block number", &e))?;
    let mut out = Vec::new();
    for number in from..=latest {
        let Some(block) = client
            .provider()
            .get_block_by_number(BlockNumberOrTag::Number(number))
            .full()
            .await
            .map_err(|e| client.rpc_error("reading a block", &e))?
        else {
            continue;
        };
        for tx in block.transactions.txns() {
            if tx.inner.to() != Some(hub) {
                continue;
            }
            let Some(receipt) = client
                .provider()
                .get_transaction_receipt(*tx.inner.tx_hash())
                .await
                .map_err(|e| client.rpc_error("reading a receipt", &e))?
            else {
                continue;
            };
            let sender = tx.inner.signer();
            out.push(TxLine {
                function: function_name(tx.inner.input()),
                gas: receipt.gas_used,
                from: names
                    .get(&sender)
                    .cloned()
                    .unwrap_or_else(|| sender.to_string()),
            });
        }
    }
    Ok(out)
}

/// Everything `account` holds: wallet tokens, escrow balance and frozen amount (a deposit moves
/// tokens without changing the sum).
async fn holdings(client: &Client, account: Address) -> anyhow::Result<U256> {
    Ok(client.token_balance(account).await?
        + client.escrow_balance(account).await?
        + client.frozen_balance(account).await?)
}

/// One demo task: what it is and how it went.
struct DemoTask {
    label: String,
    task_id: B256,
    took: Option<Duration>,
}

/// A drawn worker's contribution to a random-selection task, as the chain records it.
#[derive(Debug, serde::Serialize)]
struct DrawnContributor {
    worker: Address,
    wave: u64,
    position: u64,
    round: u64,
}

/// Who contributed to `task` from a drawn position (its `DrawnContribution` events) and the
/// beacon round of each one's wave; empty for a task whose workers the scheduler chose.
async fn drawn_of(chain: &Client, task: B256) -> anyhow::Result<Vec<DrawnContributor>> {
    use alloy::sol_types::SolEvent;
    let filter = alloy::rpc::types::Filter::new()
        .address(chain.profile().contracts.hub)
        .event_signature(decloud_chain::contracts::IHub::DrawnContribution::SIGNATURE_HASH)
        .topic1(task)
        .from_block(0);
    let logs = chain
        .provider()
        .get_logs(&filter)
        .await
        .map_err(|e| chain.rpc_error("reading the drawn contributions", &e))?;
    let mut out = Vec::new();
    for log in logs {
        let Ok(e) = decloud_chain::contracts::IHub::DrawnContribution::decode_log(&log.inner)
        else {
            continue;
        };
        out.push(DrawnContributor {
            worker: e.worker,
            wave: e.wave.saturating_to(),
            position: e.position.saturating_to(),
            round: 0,
        });
    }
    if out.is_empty() {
        return Ok(out);
    }
    let (info, _) = decloud_client::lookup::find_task(chain, task).await?;
    let d: decloud_chain::contracts::IHub::Deal = (&info.deal).into();
    for c in &mut out {
        c.round = decloud_chain::selection::wave(chain, &d, c.wave)
            .await?
            .round;
    }
    Ok(out)
}

/// Runs `decloud demo`; Ctrl-C or SIGTERM stops it, and everything it started, with exit 0.
pub(crate) async fn run(args: DemoArgs, home: &Path, json: bool) -> anyhow::Result<()> {
    let stop = stop_signals();
    tokio::select! {
        done = demo(args, home, json) => done,
        // The demo is dropped before this branch runs: its anvil (in a process group of its
        // own, so the terminal's Ctrl-C never reaches it) and its services are stopped.
        signal = stop => {
            eprintln!("demo: stopped on {signal}; the chain and every service it started are stopped");
            Ok(())
        }
    }
}

/// The demo itself, until it ends or is stopped.
async fn demo(args: DemoArgs, _home: &Path, json: bool) -> anyhow::Result<()> {
    super::node::init_logs("warn");
    let apps = apps_dir(args.apps.clone())?;
    if args.oracle {
        let timeout = Duration::from_secs(args.timeout.max(1));
        return super::demo_oracle::run(&apps.join("median.wasm"), timeout, json).await;
    }
    if args.confidential {
        let timeout = Duration::from_secs(args.timeout.max(1));
        return super::demo_confidential::run(&apps.join("csv-stats.wasm"), timeout, json).await;
    }
    let read_app = |name: &str| {
        let path = apps.join(format!("{name}.wasm"));
        std::fs::read(&path).with_context(|| {
            format!(
                "cannot read {}: run scripts/build-apps, or pass --apps <dir>",
                path.display()
            )
        })
    };
    let greeting = read_app("greeting")?;
    let hash_search = read_app("hash-search")?;
    let csv_stats = read_app("csv-stats")?;
    let stages = Stages::new(json);
    if !json {
        println!(
            "decloud demo: a marketplace, a workerpool of three workers, a key holder and three tasks, all on this machine\n"
        );
    }

    let cluster = stages
        .step(
            &format!(
                "starting a local chain ({}), storage, a workerpool's scheduler, three workers with sim enclaves and a key holder (SMS)",
                if args.block_time == 0 {
                    "instant mining".to_string()
                } else {
                    format!("{}-second blocks", args.block_time)
                }
            ),
            async {
                Ok(Cluster::start(ClusterConfig {
                    block_time: args.block_time,
                    pool: PoolOptions {
                        workers: 3,
                        follow_interval: Duration::from_millis(200),
                        tee: Some(decloud_tee::TeeKind::Sim),
                        // The replicated task's workers are drawn by the devnet beacon's rounds.
                        beacon: true,
                        ..PoolOptions::default()
                    },
                })
                .await?)
            },
        )
        .await?;
    let (devnet, pool) = (&cluster.devnet, &cluster.pool);
    let chain = Client::connect(devnet.profile(), None, None).await?;
    let scheduler_url = pool
        .scheduler_url()
        .context("the scheduler is not running")?;
    let explorer_dir = tempfile::tempdir().context("cannot create a temporary directory")?;
    let mut explorer_config = decloud_explorer::ExplorerConfig::new(
        devnet.profile().clone(),
        &format!(
            "sqlite://{}",
            explorer_dir.path().join("explorer.db").display()
        ),
    );
    explorer_config.schedulers = vec![scheduler_url.clone()];
    let explorer = decloud_explorer::start(explorer_config).await?;
    let explorer_url = explorer.url();
    stages.line(format!(
        "  explorer: watch every deal and task live at {explorer_url}"
    ));
    let mut names = BTreeMap::new();
    names.insert(
        devnet.signer(APP_OWNER).address(),
        "app developer".to_string(),
    );
    names.insert(devnet.signer(POOL_OWNER).address(), "scheduler".to_string());
    names.insert(devnet.signer(REQUESTER).address(), "requester".to_string());
    for i in 0..3 {
        names.insert(pool.worker_address(i), format!("worker {}", i + 1));
    }
    let greeting_app = stages
        .step(
            "app developer: uploading and registering the greeting app",
            async { Ok(pool.deploy_app("greeting", &greeting).await?) },
        )
        .await?;
    let search_app = stages
        .step(
            "app developer: uploading and registering the hash-search app",
            async { Ok(pool.deploy_app("hash-search", &hash_search).await?) },
        )
        .await?;

    let tee_app = stages
        .step(
            "app developer: uploading and registering the csv-stats app for TEE tasks (its mrenclave: the sim runner)",
            async { Ok(pool.deploy_tee_app("csv-stats", &csv_stats).await?) },
        )
        .await?;
    let sms_url = pool.sms_url().context("the SMS is not running")?;
    // The dataset owner's data, encrypted before it leaves the owner: storage and workers see
    // only the age file; its key goes to the key holder, which releases it to attested
    // enclaves only.
    let dataset = stages
        .step(
            "dataset owner: encrypting prices.csv (age), registering the ciphertext and giving its key to the key holder only",
            async {
                let key = decloud_age::Identity::generate()?;
                let sealed = decloud_age::encrypt(DEMO_DATASET.as_bytes(), &[key.recipient()])?;
                let dataset = pool.deploy_dataset("prices.csv.age", &sealed).await?;
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)?
                    .as_secs();
                decloud_sms::SmsClient::new(&sms_url)?
                    .push_dataset_key(
                        &decloud_chain::accounts::dev_signer(DATASET_OWNER),
                        dataset,
                        key.to_secret_string().as_bytes(),
                        now,
                    )
                    .await?;
                Ok(dataset)
            },
        )
        .await?;
    // The requester's result key: the TEE task's result is encrypted to it, so only the
    // requester reads it (the demo keeps the identity in memory to show the result).
    let result_key = decloud_age::Identity::generate()?;
    stages
        .step(
            "requester: giving the key holder the public key its TEE results are encrypted to (age)",
            async {
                let sms = decloud_sms::SmsClient::new(&sms_url)?;
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)?
                    .as_secs();
                sms.push_result_recipient(
                    &devnet.signer(REQUESTER),
                    &result_key.recipient().to_string(),
                    now,
                )
                .await?;
                Ok(())
            },
        )
        .await?;
    if let Ok(info) = decloud_sms::SmsClient::new(&sms_url)?.info().await {
        names.insert(info.attester, "key holder".to_string());
    }

    let mut accounts = vec![
        devnet.signer(REQUESTER).address(),
        devnet.signer(APP_OWNER).address(),
        devnet.signer(POOL_OWNER).address(),
    ];
    accounts.extend((0..3).map(|i| pool.worker_address(i)));
    let mut before = BTreeMap::new();
    for a in &accounts {
        before.insert(*a, holdings(&chain, *a).await?);
    }
    let first_block = chain
        .provider()
        .get_block_number()
        .await
        .map_err(|e| chain.rpc_error("reading the block number", &e))?
        + 1;

    let requests = [
        (
            "greeting, trust 1 (one worker)",
            DealRequest::new(greeting_app).args("decloud"),
        ),
        (
            "hash-search, trust 5, random selection (three drawn workers agree)",
            DealRequest::new(search_app)
                .args("decloud 12")
                .trust(5)
                .random(),
        ),
        (
            "csv-stats over the encrypted dataset, TEE (one attested sim enclave, no replicas)",
            DealRequest::new(tee_app).tee().dataset(dataset),
        ),
    ];
    let mut tasks = Vec::new();
    for (label, request) in requests {
        let deal = stages
            .step(&format!("requester: matching orders for {label}"), async {
                Ok(pool.deal(&request).await?)
            })
            .await?;
        tasks.push((
            DemoTask {
                label: label.to_string(),
                task_id: deal.task_ids()[0],
                took: None,
            },
            Instant::now(),
            stages.spinner(format!("{label}: waiting for the scheduler")),
        ));
    }

    // Follow both tasks live, from the scheduler's view and the chain.
    let deadline = Instant::now() + Duration::from_secs(args.timeout);
    loop {
        let mut open = 0;
        for (task, started, bar) in &mut tasks {
            if task.took.is_some() {
                continue;
            }
            let report = scheduler_view(&scheduler_url, task.task_id).await;
            let status = chain
                .read("reading a task", chain.hub().task(task.task_id))
                .await?
                .status;
            if status == decloud_client::lookup::TaskStatus::Completed.as_u8() {
                let took = started.elapsed();
                task.took = Some(took);
                bar.finish_and_clear();
                stages.line(format!(
                    "✓ {}: certified and paid {:.1} s after the match",
                    task.label,
                    took.as_secs_f64()
                ));
            } else if status == decloud_client::lookup::TaskStatus::Failed.as_u8() {
                bar.finish_and_clear();
                bail!("task {} ({}) failed", task.task_id, task.label);
            } else {
                open += 1;
                let stage = format!("{}: {}", task.label, stage_of(report.as_ref(), &names));
                if stage != bar.message() {
                    if stages.plain {
                        stages.line(format!("  {stage}"));
                    }
                    bar.set_message(stage);
                }
            }
        }
        if open == 0 {
            break;
        }
        if Instant::now() > deadline {
            bail!(
                "the tasks did not complete within {} s: see `decloud task show <task>`",
                args.timeout
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The certified results, downloaded and checked against the chain.
    let scratch = tempfile::tempdir().context("cannot create a temporary directory")?;
    let mut results = Vec::new();
    // The replicated task's draw: the beacon round and the workers it drew, from the chain.
    let mut draws = Vec::new();
    for (task, _, _) in &tasks {
        let dir = scratch.path().join(task.task_id.to_string());
        let verified = decloud_client::result::fetch_verified(
            &chain,
            task.task_id,
            &dir,
            64 << 20,
            Some(&result_key),
        )
        .await?;
        let text = ["result.txt", "result.json", "stats.json"]
            .iter()
            .find_map(|f| std::fs::read_to_string(dir.join(f)).ok())
            .unwrap_or_default();
        let report = scheduler_view(&scheduler_url, task.task_id).await;
        let replicas = report.map(|r| r.replicates.len()).unwrap_or_default();
        results.push((task, verified, text.trim().to_string(), replicas));
        draws.push(drawn_of(&chain, task.task_id).await?);
    }
    let mut after = BTreeMap::new();
    for a in &accounts {
        after.insert(*a, holdings(&chain, *a).await?);
    }
    let txs = hub_transactions(&chain, first_block, &names).await?;

    let payments: Vec<(String, String)> = accounts
        .iter()
        .map(|a| {
            let (b, c) = (before[a], after[a]);
            let delta = if c >= b {
                format!("+{}", format_amount(c - b))
            } else {
                format!("-{}", format_amount(b - c))
            };
            (names[a].clone(), delta)
        })
        .collect();
    if json {
        print_json(&json!({
            "explorer": explorer_url,
            "tasks": results.iter().zip(&draws).map(|((t, v, text, replicas), drawn)| json!({
                "random_selection": drawn,
                "label": t.label,
                "task_id": t.task_id,
                "seconds": t.took.map(|d| d.as_secs_f64()),
                "replicas": replicas,
                "digest": v.digest,
                "results_location": v.location,
                "encrypted": v.encrypted,
                "result": text,
            })).collect::<Vec<_>>(),
            "payments": payments.iter().map(|(who, delta)| json!({"account": who, "change": delta})).collect::<Vec<_>>(),
            "transactions": txs,
            "gas_total": txs.iter().map(|t| t.gas).sum::<u64>(),
        }))?;
        return keep_up(args.keep, &explorer_url, cluster, explorer).await;
    }
    println!("\ncertified results (downloaded, checked against the digest certified on chain):");
    for ((t, v, text, replicas), drawn) in results.iter().zip(&draws) {
        println!(
            "  {} — {} replica(s), digest {}{}",
            t.label,
            replicas,
            v.digest,
            if v.encrypted {
                " (stored encrypted to the requester, opened with its key)"
            } else {
                ""
            }
        );
        for d in drawn {
            println!(
                "    drawn by beacon round {} (wave {}, position {}): {}",
                d.round,
                d.wave,
                d.position,
                names
                    .get(&d.worker)
                    .cloned()
                    .unwrap_or_else(|| d.worker.to_string())
            );
        }
        for line in text.lines() {
            println!("    {}", Untrusted(line));
        }
    }
    println!("\nwho paid and earned what (DCT):");
    for (who, delta) in &payments {
        println!("  {who:<14} {delta}");
    }
    let mut by_function: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for tx in &txs {
        let e = by_function.entry(tx.function.clone()).or_default();
        e.0 += 1;
        e.1 += tx.gas;
    }
    println!("\ntransactions to the hub during the flow:");
    for (function, (count, gas)) in &by_function {
        println!("  {function:<22} ×{count:<3} {gas:>9} gas");
    }
    println!(
        "  {:<22} {:>4} {:>9} gas",
        "total",
        txs.len(),
        txs.iter().map(|t| t.gas).sum::<u64>()
    );
    println!("\nexplorer: every step of the tasks, on chain and off chain, at {explorer_url}");
    keep_up(args.keep, &explorer_url, cluster, explorer).await
}

/// The demo's confidential dataset: what only the enclave reads in the clear.
const DEMO_DATASET: &str = "day,price,volume\n1,101.5,20\n2,99.0,35\n3,104.25,12\n4,102.0,28\n";

/// With `--keep`, serves until Ctrl-C or SIGTERM (which [`run`] waits for); otherwise stops the
/// chain and every service now.
async fn keep_up(
    keep: bool,
    explorer_url: &str,
    cluster: Cluster,
    explorer: decloud_explorer::RunningExplorer,
) -> anyhow::Result<()> {
    if !keep {
        // On stderr: with --json, stdout holds the JSON document and nothing else.
        eprintln!(
            "\ndone: the chain and every service stop now (decloud demo --keep leaves them up)."
        );
        drop(explorer);
        drop(cluster);
        return Ok(());
    }
    eprintln!(
        "\ndone: the chain ({}), the workerpool and the explorer ({explorer_url}) stay up; Ctrl-C stops them",
        cluster.devnet.profile().rpc_url
    );
    std::future::pending::<()>().await;
    drop(explorer);
    drop(cluster);
    Ok(())
}
