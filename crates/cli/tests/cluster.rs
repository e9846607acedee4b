//! decloud across hosts: the chain, the market, the scheduler, the storage node and three
//! workers, each a separate `decloud node` (or anvil) process in its own network namespace with
//! its own address, over TLS with pinned keys, and the requester on the machine itself (the
//! bridge). A replicated task runs end to end; then faults, one after the other on the same
//! topology, each followed by the "nothing lost" audit read on chain (every task finalized,
//! every token accounted for, no contribution twice):
//!
//! 1. a worker cut off mid-task (its link down): its work goes to another worker;
//! 2. the scheduler cut off from the chain, killed and restarted on its database;
//! 3. the chain node stopped and restarted with every block it had (an `anvil_dumpState`
//!    snapshot loaded into a new anvil);
//! 4. a partition between the scheduler and the workers, healed after the heartbeat timeout;
//! 5. the storage node unreachable while a result is uploaded.
//!
//! Namespaces need root: elsewhere the test prints why it skips and returns.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use alloy::primitives::{Address, B256};
use alloy::providers::Provider;
use decloud_chain::client::Client;
use decloud_protocol::pool::{ReplicateStatus, TaskReport};
use decloud_testkit::cluster::{self, HostProcess, Network, audit, url_after};
use decloud_testkit::fixtures::{example_app_path, json_output, scheduler_task, succeeded};
use serde_json::Value;

const PASSWORD: &str = "cluster password";
const WORKERS: [&str; 3] = ["worker1", "worker2", "worker3"];
const HOSTS: [&str; 7] = [
    "chain",
    "market",
    "scheduler",
    "storage",
    "worker1",
    "worker2",
    "worker3",
];
/// Seconds of silence after which the scheduler gives a worker's work to another.
const HEARTBEAT_TIMEOUT: u64 = 4;
/// How long any task may take to be finalized after its fault healed.
const FINALIZED_WITHIN: Duration = Duration::from_secs(240);
const START_WITHIN: Duration = Duration::from_secs(90);

/// The topology and its processes. Fields drop in order: processes, then the network, then
/// the directory of homes and logs.
struct Cluster {
    workers: Vec<HostProcess>,
    scheduler: Option<HostProcess>,
    market: Option<HostProcess>,
    storage: Option<HostProcess>,
    chain: Option<HostProcess>,
    net: Network,
    dir: tempfile::TempDir,
    rpc: String,
    pool: String,
    market_url: String,
    scheduler_url: String,
    storage_url: String,
    worker_addresses: Vec<Address>,
    /// Every task the test made, for the audits.
    tasks: Vec<B256>,
    apps: Vec<(String, String)>,
}

impl Cluster {
    /// `$DECLOUD_HOME` of a host (or of the operator, on the machine itself).
    fn home(&self, host: &str) -> PathBuf {
        self.dir.path().join(host)
    }

    fn log(&self, name: &str) -> PathBuf {
        self.dir.path().join("logs").join(format!("{name}.log"))
    }

    /// `decloud args...` as the operator, from the machine itself.
    fn cli(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_decloud"))
            .args(args)
            .current_dir(self.home("operator"))
            .env("DECLOUD_HOME", self.home("operator"))
            .env("DECLOUD_WALLET_PASSWORD", PASSWORD)
            .env("DECLOUD_MARKET", &self.market_url)
            .env_remove("DECLOUD_WALLET")
            .env_remove("DECLOUD_RPC")
            .output()
            .expect("the decloud binary runs")
    }

    fn ok(&self, args: &[&str]) -> String {
        succeeded(&self.cli(args)).unwrap_or_else(|e| panic!("decloud {}: {e}", args.join(" ")))
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut args = args.to_vec();
        args.push("--json");
        json_output(&self.cli(&args)).unwrap_or_else(|e| panic!("decloud {}: {e}", args.join(" ")))
    }

    /// Starts anvil in the chain host, with an empty chain.
    async fn start_chain(&mut self) {
        let anvil = decloud_chain::anvil::find_binary().expect("anvil (scripts/bootstrap)");
        let mut command = self.net.command("chain", anvil).unwrap();
        command
            .args(["--host", "0.0.0.0", "--port", "8545", "--chain-id", "31337"])
            .args(["--accounts", "10", "--balance", "10000"]);
        let log = self.log("chain");
        let mut process = self.net.spawn("chain", &mut command, &log).unwrap();
        process
            .wait_line("Listening on", START_WITHIN)
            .await
            .unwrap();
        self.chain = Some(process);
    }

    /// Stops the chain node and starts it again with every block it had: a node restarting on
    /// its database. The state is taken over RPC while no other host can reach the node, so no
    /// transaction lands between the snapshot and the stop (anvil's own dump at exit is written
    /// by a task that races the process's end, and a slow machine loses it).
    async fn restart_chain(&mut self) {
        let others = HOSTS.iter().filter(|h| **h != "chain");
        for host in others.clone() {
            self.net.block(host, "chain").unwrap();
        }
        let chain = self.chain_client().await;
        let head = chain.provider().get_block_number().await.unwrap();
        let state: String = chain
            .provider()
            .raw_request("anvil_dumpState".into(), ())
            .await
            .unwrap();
        self.chain.take().unwrap().stop("KILL").unwrap();
        tokio::time::sleep(Duration::from_secs(2)).await;
        self.start_chain().await;
        let chain = self.chain_client().await;
        let loaded: bool = chain
            .provider()
            .raw_request("anvil_loadState".into(), (state,))
            .await
            .unwrap();
        let now = chain.provider().get_block_number().await.unwrap();
        assert!(
            loaded && now == head,
            "the chain came back at block {now}, not {head}"
        );
        for host in others {
            self.net.unblock(host, "chain").unwrap();
        }
    }

    /// Starts `decloud node args...` in `host`; returns the process once it printed `ready`.
    async fn node(
        &self,
        host: &str,
        name: &str,
        args: &[&str],
        ready: &str,
    ) -> (HostProcess, String) {
        let mut command = self
            .net
            .command(host, env!("CARGO_BIN_EXE_decloud"))
            .unwrap();
        command
            .arg("node")
            .args(args)
            .env("DECLOUD_HOME", self.home(host))
            .env("DECLOUD_WALLET_PASSWORD", PASSWORD)
            .env("RUST_LOG", "info")
            .env_remove("DECLOUD_WALLET");
        let mut process = self.net.spawn(host, &mut command, &self.log(name)).unwrap();
        let line = process
            .wait_line(ready, START_WITHIN)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        (process, line)
    }

    fn listen(&self, host: &str, port: u16) -> String {
        format!("{}:{port}", self.net.host(host).unwrap().addr)
    }

    async fn start_scheduler(&mut self) {
        let listen = self.listen("scheduler", 7800);
        let timeout = HEARTBEAT_TIMEOUT.to_string();
        let (process, line) = self
            .node(
                "scheduler",
                "scheduler",
                &[
                    "--scheduler",
                    "--workerpool",
                    &self.pool,
                    "--wallet",
                    "pool",
                    "--scheduler-listen",
                    &listen,
                    "--scheduler-follow-ms",
                    "200",
                    "--heartbeat-timeout-secs",
                    &timeout,
                ],
                "scheduler:",
            )
            .await;
        let url = url_after(&line, " at ").expect("the scheduler announces its URL");
        assert!(
            self.scheduler_url.is_empty() || self.scheduler_url == url,
            "a restarted scheduler keeps its address and key: {url} after {}",
            self.scheduler_url
        );
        self.scheduler_url = url;
        self.scheduler = Some(process);
    }

    /// A client of the chain from the machine.
    async fn chain_client(&self) -> Client {
        let profile = decloud_chain::ChainProfile::load(&self.home("operator")).unwrap();
        Client::connect(&profile, None, None).await.unwrap()
    }

    /// `decloud run <app> --trust T --volume V --args A`; returns the task ids.
    fn run(&mut self, app: &str, args: &str, trust: u64, volume: u64) -> Vec<B256> {
        let app = self
            .apps
            .iter()
            .find(|(name, _)| name == app)
            .map(|(_, address)| address.clone())
            .unwrap();
        let (trust, volume) = (trust.to_string(), volume.to_string());
        let run = self.json(&[
            "run",
            &app,
            "--args",
            args,
            "--trust",
            &trust,
            "--volume",
            &volume,
            "--workerpool",
            &self.pool,
            "--wallet",
            "requester",
        ]);
        let tasks: Vec<B256> = run["tasks"]
            .as_array()
            .unwrap_or_else(|| panic!("run lists its tasks: {run}"))
            .iter()
            .map(|t| {
                t["task_id"]
                    .as_str()
                    .or_else(|| t.as_str())
                    .unwrap()
                    .parse()
                    .unwrap()
            })
            .collect();
        self.tasks.extend(&tasks);
        tasks
    }

    /// Waits until every task of `tasks` is completed on chain; on a timeout, fails with the
    /// tail of every service's log.
    async fn wait_finalized(&self, tasks: &[B256], what: &str) {
        let chain = self.chain_client().await;
        let deadline = tokio::time::Instant::now() + FINALIZED_WITHIN;
        loop {
            let mut open = Vec::new();
            for &task in tasks {
                // The chain may be restarting: an error is "not yet".
                let status = chain.hub().task(task).call().await.map(|v| v.status).ok();
                if status != Some(3) {
                    open.push((task, status));
                }
            }
            if open.is_empty() {
                return;
            }
            if tokio::time::Instant::now() >= deadline {
                let head = chain.provider().get_block_number().await.ok();
                let mut seen = Vec::new();
                for (task, _) in &open {
                    let replicates = self.report(*task).await.map(|r| {
                        r.replicates
                            .iter()
                            .map(|x| (x.worker, x.status))
                            .collect::<Vec<_>>()
                    });
                    seen.push((*task, replicates));
                }
                panic!(
                    "{what}: tasks not finalized (task, status on chain): {open:?}; chain head \
                     {head:?}; the scheduler's replicates (None: task unknown to it): {seen:?}\n{}",
                    self.tails()
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// The last lines of every service's log.
    fn tails(&self) -> String {
        let mut all = String::new();
        let processes = self
            .chain
            .iter()
            .chain(&self.storage)
            .chain(&self.market)
            .chain(&self.scheduler)
            .chain(&self.workers);
        for p in processes {
            all.push_str(&format!("--- {}\n{}\n", p.log().display(), p.tail(16)));
        }
        all
    }

    /// The "nothing lost" check after `fault`.
    async fn nothing_lost(&self, fault: &str) -> cluster::Audit {
        let chain = self.chain_client().await;
        let mut accounts = self.worker_addresses.clone();
        accounts.extend((0..10).map(|i| decloud_chain::accounts::dev_signer(i).address()));
        let audit = audit(&chain, &accounts, &self.tasks).await.unwrap();
        let problems = audit.problems();
        assert!(
            problems.is_empty(),
            "after {fault}: {problems:#?}\n{}",
            self.tails()
        );
        assert!(audit.deposited > alloy::primitives::U256::ZERO);
        println!(
            "after {fault}: {} tasks finalized, hub holds {} = deposits {} - paid out {}; nothing lost",
            self.tasks.len(),
            audit.held,
            audit.deposited,
            audit.withdrawn
        );
        audit
    }

    /// The scheduler's view of `task`, once it has one.
    async fn report(&self, task: B256) -> Option<TaskReport> {
        scheduler_task(&self.scheduler_url, task).await
    }

    /// Waits until a replicate of `task` is assigned to a worker; returns the worker's index.
    async fn assigned_worker(&self, task: B256) -> usize {
        let deadline = tokio::time::Instant::now() + START_WITHIN;
        loop {
            if let Some(r) = self.report(task).await
                && let Some(x) = r
                    .replicates
                    .iter()
                    .find(|x| x.status == ReplicateStatus::Assigned)
                && let Some(i) = self.worker_addresses.iter().position(|a| *a == x.worker)
            {
                return i;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "task {task} was never assigned\n{}",
                self.tails()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Milliseconds since the Unix epoch (the clock the workers stamp their stages with).
fn now_ms() -> u64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    since.map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Imports development account `index` as wallet `name` under `home`.
fn import(home: &Path, name: &str, index: usize) {
    let key = decloud_chain::accounts::DEV_PRIVATE_KEYS[index].to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_decloud"))
        .args(["wallet", "import", "--name", name, &key])
        .env("DECLOUD_HOME", home)
        .env("DECLOUD_WALLET_PASSWORD", PASSWORD)
        .output()
        .unwrap();
    succeeded(&out).unwrap();
}

/// Brings the whole topology up: chain, contracts, storage, market, scheduler, three workers,
/// an app and the orders a requester needs.
async fn up(net: Network) -> Cluster {
    let dir = tempfile::Builder::new()
        .prefix("decloud-cluster-")
        // DECLOUD_KEEP_CLUSTER=1 keeps the homes and logs of a run for a post-mortem.
        .disable_cleanup(std::env::var_os("DECLOUD_KEEP_CLUSTER").is_some())
        .tempdir()
        .unwrap();
    for host in HOSTS.iter().chain(&["operator", "logs"]) {
        std::fs::create_dir_all(dir.path().join(host)).unwrap();
    }
    let rpc = format!("http://{}:8545", net.host("chain").unwrap().addr);
    let mut c = Cluster {
        workers: Vec::new(),
        scheduler: None,
        market: None,
        storage: None,
        chain: None,
        net,
        dir,
        rpc,
        pool: String::new(),
        market_url: String::new(),
        scheduler_url: String::new(),
        storage_url: String::new(),
        worker_addresses: Vec::new(),
        tasks: Vec::new(),
        apps: Vec::new(),
    };
    c.start_chain().await;
    // The contracts are deployed from the machine, across the bridge; every host gets the
    // profile, which names the chain by its address on the network.
    let profile = decloud_chain::devnet::deploy_and_fund(&c.rpc)
        .await
        .unwrap();
    for host in HOSTS.iter().chain(&["operator"]) {
        profile.save(&c.home(host)).unwrap();
    }
    for (name, index) in [("appdev", 1), ("pool", 3), ("requester", 4)] {
        import(&c.home("operator"), name, index);
    }
    import(&c.home("scheduler"), "pool", 3);
    let deployed = c.json(&[
        "workerpool",
        "deploy",
        "--description",
        "cluster pool",
        "--wallet",
        "pool",
    ]);
    c.pool = deployed["address"].as_str().unwrap().to_owned();
    c.ok(&["account", "deposit", "100DCT", "--wallet", "pool"]);
    c.ok(&["account", "deposit", "100DCT", "--wallet", "requester"]);

    let listen = c.listen("storage", 7700);
    let (storage, line) = c
        .node(
            "storage",
            "storage",
            &["--storage", "--storage-listen", &listen],
            "storage:",
        )
        .await;
    c.storage_url = url_after(&line, " on ").unwrap();
    c.storage = Some(storage);
    let listen = c.listen("market", 7600);
    let (market, line) = c
        .node(
            "market",
            "market",
            &[
                "--market",
                "--market-listen",
                &listen,
                "--market-follow-secs",
                "1",
            ],
            "market:",
        )
        .await;
    c.market_url = url_after(&line, " on ").unwrap();
    c.market = Some(market);
    c.start_scheduler().await;
    // Every service speaks TLS on its own host's address and announces the key clients pin.
    for (url, host) in [
        (&c.storage_url, "storage"),
        (&c.market_url, "market"),
        (&c.scheduler_url, "scheduler"),
    ] {
        let addr = c.net.host(host).unwrap().addr;
        assert!(url.starts_with(&format!("https://{addr}:")), "{url}");
        assert!(url.contains("#sha256:"), "{url}");
    }
    for worker in WORKERS {
        let (process, line) = c
            .node(
                worker,
                worker,
                &[
                    "--workers",
                    "1",
                    "--scheduler-url",
                    &c.scheduler_url,
                    "--results-store",
                    &c.storage_url,
                ],
                "worker 1:",
            )
            .await;
        let address = line.split_whitespace().nth(2).unwrap().parse().unwrap();
        c.worker_addresses.push(address);
        c.workers.push(process);
    }

    // The app developer uploads two apps to the storage host; both are offered with the pool's
    // order (trust up to 3) on the market.
    for app in ["greeting", "hash-search"] {
        let path = example_app_path(app);
        assert!(path.is_file(), "{}: run scripts/build-apps", path.display());
        let path = path.display().to_string();
        let deployed = c.json(&[
            "app",
            "deploy",
            "--name",
            app,
            "--file",
            &path,
            "--upload",
            &c.storage_url,
            "--wallet",
            "appdev",
        ]);
        let address = deployed["address"].as_str().unwrap().to_owned();
        c.ok(&[
            "order",
            "init",
            "--app",
            &address,
            "--workerpool",
            &c.pool,
            "--force",
        ]);
        let template = c.home("operator").join("decloud.toml");
        let text = std::fs::read_to_string(&template).unwrap();
        let text = text
            .replacen(
                "workerpool_price = \"0\"",
                "workerpool_price = \"1000000000\"",
                1,
            )
            .replacen("trust = 0", "trust = 3", 1);
        std::fs::write(&template, text).unwrap();
        c.ok(&["order", "sign", "--app", "--wallet", "appdev"]);
        c.ok(&["order", "sign", "--workerpool", "--wallet", "pool"]);
        c.ok(&["order", "publish", "--app", "--workerpool"]);
        c.apps.push((app.to_owned(), address));
    }
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn services_on_separate_hosts_survive_faults_and_lose_nothing() {
    let net = match Network::create(&HOSTS) {
        Ok(net) => net,
        Err(cluster::ClusterError::Unavailable(reason)) => {
            println!("SKIPPED: the cluster test needs network namespaces: {reason}");
            return;
        }
        Err(e) => panic!("{e}"),
    };
    let mut c = up(net).await;

    // A replicated task across the hosts: three agreeing workers would do, two suffice.
    let tasks = c.run("greeting", "cluster", 3, 1);
    c.wait_finalized(&tasks, "the replicated task").await;
    let audit = c.nothing_lost("a replicated task").await;
    let contributors = &audit.contributions[&tasks[0]];
    assert!(contributors.len() >= 2, "replicated: {contributors:?}");

    // 1. A worker cut off mid-task: its work goes to another worker.
    let tasks = c.run("hash-search", "decloud 22", 1, 1);
    let victim = c.assigned_worker(tasks[0]).await;
    c.net.cut(WORKERS[victim]).unwrap();
    c.wait_finalized(&tasks, "a worker cut off").await;
    let report = c.report(tasks[0]).await.unwrap();
    let lost = report
        .replicates
        .iter()
        .find(|x| x.worker == c.worker_addresses[victim])
        .unwrap();
    assert_eq!(lost.status, ReplicateStatus::Lost, "{report:?}");
    c.net.heal(WORKERS[victim]).unwrap();
    let audit = c.nothing_lost("a worker cut off mid-task").await;
    let by = &audit.contributions[&tasks[0]];
    assert!(
        !by.contains(&c.worker_addresses[victim]) && by.len() == 1,
        "another worker did the work: {by:?}"
    );

    // 2. The scheduler cut off from the chain while a deal arrives, killed, restarted.
    c.net.block("scheduler", "chain").unwrap();
    let tasks = c.run("greeting", "partitioned", 1, 3);
    tokio::time::sleep(Duration::from_secs(3)).await;
    c.scheduler.take().unwrap().stop("KILL").unwrap();
    c.net.unblock("scheduler", "chain").unwrap();
    c.start_scheduler().await;
    c.wait_finalized(&tasks, "the scheduler cut off and restarted")
        .await;
    c.nothing_lost("the scheduler cut off from the chain and restarted")
        .await;

    // 3. The chain node stopped while a deal is in flight and restarted with its state.
    let tasks = c.run("greeting", "restarted chain", 3, 2);
    let chain = c.chain_client().await;
    let mut in_flight = 0;
    for task in &tasks {
        in_flight += usize::from(chain.hub().task(*task).call().await.unwrap().status != 3);
    }
    assert!(
        in_flight > 0,
        "the tasks were finalized before the chain stopped"
    );
    c.restart_chain().await;
    c.wait_finalized(&tasks, "the chain restarted").await;
    c.nothing_lost("the chain restarted with its state").await;

    // 4. The scheduler partitioned from every worker for longer than the heartbeat timeout.
    let tasks = c.run("hash-search", "partition 20", 3, 1);
    c.assigned_worker(tasks[0]).await;
    for worker in WORKERS {
        c.net.block("scheduler", worker).unwrap();
    }
    tokio::time::sleep(Duration::from_secs(HEARTBEAT_TIMEOUT + 4)).await;
    for worker in WORKERS {
        c.net.unblock("scheduler", worker).unwrap();
    }
    c.wait_finalized(&tasks, "the partition healed").await;
    let report = c.report(tasks[0]).await.unwrap();
    let stages: Vec<_> = report
        .replicates
        .iter()
        .map(|x| (x.worker, x.status))
        .collect();
    println!("partition: replicates {stages:?}");
    c.nothing_lost("a partition between scheduler and workers")
        .await;

    // 5. The storage node unreachable while the result is uploaded. A worker that has not run
    // hash-search yet downloads it first, and the cut then hits that download instead: the
    // module is cached after it, so another task is sent until the cut hits an upload (each
    // attempt warms one more worker, so three suffice).
    let mut attempt = 0;
    let uploads = loop {
        attempt += 1;
        let tasks = c.run("hash-search", &format!("upload {}", 20 + attempt), 1, 1);
        c.assigned_worker(tasks[0]).await;
        c.net.cut("storage").unwrap();
        tokio::time::sleep(Duration::from_secs(6)).await;
        let healed_ms = now_ms();
        c.net.heal("storage").unwrap();
        c.wait_finalized(&tasks, "storage back").await;
        let report = c.report(tasks[0]).await.unwrap();
        // The fault hit an upload: one began while storage was cut off (and ended once it was back).
        let uploads: Vec<_> = report
            .replicates
            .iter()
            .filter_map(|x| Some((x.worker, x.stages?.upload?)))
            .collect();
        if uploads.iter().any(|(_, u)| u.started_ms < healed_ms) {
            break uploads;
        }
        let downloads_hit = report.replicates.iter().any(|x| {
            x.stages
                .and_then(|s| s.download)
                .is_some_and(|d| d.started_ms < healed_ms)
        });
        assert!(
            downloads_hit && attempt < 3,
            "no upload began while storage was cut off (attempt {attempt}, the cut hit no download either): {report:?}"
        );
        println!("storage cut hit a download of the app (attempt {attempt}): sending another task");
    };
    println!("storage cut: uploads {uploads:?}");
    c.nothing_lost("storage unreachable during an upload").await;
}
