//! The marketplace commands through the real binary, against a devnet and a market started
//! in-process: resources, orders, the order book, `run`, deals and tasks, and their error paths.

mod common;

use alloy::primitives::{Address, B256, U256};
use alloy::providers::Provider;
use alloy::rpc::types::Filter;
use alloy::sol_types::SolEvent;
use common::{Cli, PASSWORD, one_line_failure};
use decloud_chain::contracts::IHub;
use decloud_protocol::typed;
use decloud_testkit::fixtures::{Service, succeeded};
use decloud_testkit::market::IdleMarket;
use decloud_testkit::{Devnet, anvil, pool};
use serde_json::Value;

/// 1 DCT in nano-units.
const DCT: u64 = 1_000_000_000;

/// A devnet, a market following it, and `decloud` pointed at both.
struct Env {
    devnet: Devnet,
    // Kept running for the commands.
    _market: IdleMarket,
    cli: Cli,
}

impl std::ops::Deref for Env {
    type Target = Cli;

    fn deref(&self) -> &Cli {
        &self.cli
    }
}

impl Env {
    /// The market's follower never runs on its own here, so the book only changes through the
    /// API: what the tests see of it is deterministic.
    async fn start() -> Env {
        let devnet = Devnet::start().await.unwrap();
        let market = IdleMarket::start(&devnet).await.unwrap();
        let cli = Cli::new(devnet.home(), &market.url());
        Env {
            devnet,
            _market: market,
            cli,
        }
    }

    /// Imports the app developer (account 1), the workerpool's scheduler (2) and the requester
    /// (3) as wallets appdev, pool and requester; returns the scheduler's and the requester's
    /// addresses.
    fn import_actors(&self) -> (Address, Address) {
        self.import("appdev", 1);
        (self.import("pool", 2), self.import("requester", 3))
    }

    fn hub(&self) -> IHub::IHubInstance<alloy::providers::DynProvider> {
        IHub::new(self.devnet.profile().contracts.hub, self.devnet.provider(0))
    }

    async fn frozen(&self, account: Address) -> U256 {
        self.hub().frozenOf(account).call().await.unwrap()
    }

    async fn balance(&self, account: Address) -> U256 {
        self.hub().balanceOf(account).call().await.unwrap()
    }

    /// Writes `contents` to the work directory's `file` and deploys it with `decloud <kind>
    /// deploy` (`app` or `dataset`) from `wallet`, named after the file's stem; returns its
    /// address.
    fn deploy(&self, kind: &str, file: &str, contents: &[u8], wallet: &str) -> String {
        std::fs::write(self.file(file), contents).unwrap();
        let deployed = self.json(&deploy_args(kind, file, wallet));
        deployed["address"].as_str().unwrap().to_string()
    }

    /// Deploys an app ("hello") from appdev and a workerpool from pool, and returns their
    /// addresses.
    fn deploy_app_and_pool(&self) -> (String, String) {
        let app = self.deploy("app", "hello.wasm", b"\0asm not really", "appdev");
        let pool = self.json(&[
            "workerpool",
            "deploy",
            "--description",
            "test pool",
            "--wallet",
            "pool",
        ]);
        (app, pool["address"].as_str().unwrap().to_string())
    }

    /// Writes, prices, signs and publishes an app order (price `app_price`, `volume`) and a
    /// workerpool order (price `pool_price`, `volume`); returns their hashes.
    fn publish_offers(
        &self,
        app: &str,
        pool: &str,
        app_price: u64,
        pool_price: u64,
        volume: u64,
    ) -> (String, String) {
        self.ok(&[
            "order",
            "init",
            "--app",
            app,
            "--workerpool",
            pool,
            "--force",
        ]);
        self.edit_template("app_price = \"0\"", &format!("app_price = \"{app_price}\""));
        self.edit_template(
            "workerpool_price = \"0\"",
            &format!("workerpool_price = \"{pool_price}\""),
        );
        self.edit_template("volume = 1000000", &format!("volume = {volume}"));
        self.edit_template("volume = 1000000", &format!("volume = {volume}"));
        self.ok(&["order", "sign", "--app", "--wallet", "appdev"]);
        self.ok(&["order", "sign", "--workerpool", "--wallet", "pool"]);
        let receipts = self.json(&["order", "publish", "--app", "--workerpool"]);
        let hash = |kind: &str| {
            receipts
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["kind"] == kind)
                .unwrap()["hash"]
                .as_str()
                .unwrap()
                .to_string()
        };
        (hash("app"), hash("workerpool"))
    }
}

/// `decloud <kind> deploy` of the work directory's `file` from `wallet`, named after the file's
/// stem, with a placeholder URI.
fn deploy_args(kind: &str, file: &str, wallet: &str) -> Vec<String> {
    let name = file.split('.').next().unwrap_or(file);
    let uri = format!("http://example.invalid/{file}");
    [
        kind, "deploy", "--name", name, "--uri", &uri, "--file", file, "--wallet", wallet,
    ]
    .map(str::to_string)
    .to_vec()
}

/// The deal `deal_id` as the hub emitted it.
async fn deal_of(env: &Env, deal_id: B256) -> typed::Deal {
    let provider = env.devnet.provider(0);
    let logs = provider
        .get_logs(
            &Filter::new()
                .address(env.devnet.profile().contracts.hub)
                .event_signature(IHub::DealCreated::SIGNATURE_HASH)
                .topic1(deal_id)
                .from_block(0),
        )
        .await
        .unwrap();
    let created = IHub::DealCreated::decode_log(&logs[0].inner).unwrap();
    (&created.deal).into()
}

fn b256(v: &Value) -> B256 {
    v.as_str().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn wallets_resources_orders_and_run_make_a_deal_with_the_right_locked_amounts() {
    let env = Env::start().await;
    let (scheduler, requester) = env.import_actors();
    env.ok(&["wallet", "create", "--name", "broke"]);

    // Resources: deploy, show, list; deploying the same app twice is refused.
    let (app, pool) = env.deploy_app_and_pool();
    let err = env.fails(&deploy_args("app", "hello.wasm", "appdev"));
    assert!(
        err.contains("already deployed") && err.contains("decloud app show"),
        "{err}"
    );
    let shown = env.json(&["app", "show", &app]);
    assert_eq!(shown["name"], "hello");
    assert_eq!(shown["uri"], "http://example.invalid/hello.wasm");
    assert_eq!(
        shown["checksum"].as_str().unwrap(),
        format!(
            "0x{}",
            decloud_storage::ContentHash::of(b"\0asm not really")
        )
    );
    let mine = env.json(&["app", "list", "--wallet", "appdev"]);
    assert_eq!(mine.as_array().unwrap().len(), 1);
    assert!(
        env.json(&["app", "list", "--wallet", "pool"])
            .as_array()
            .unwrap()
            .is_empty()
    );
    let pools = env.json(&["workerpool", "list", "--all"]);
    assert_eq!(
        pools[0]["address"].as_str().unwrap().to_lowercase(),
        pool.to_lowercase()
    );
    let shown = env.json(&["workerpool", "show", &pool]);
    assert_eq!(
        shown["owner"].as_str().unwrap().parse::<Address>().unwrap(),
        scheduler
    );
    assert_eq!(shown["worker_stake_ratio"], 30);
    let table = env.ok(&["workerpool", "list", "--wallet", "pool"]);
    assert!(table.contains("test pool"), "{table}");
    let categories = env.json(&["category", "list"]);
    assert_eq!(categories.as_array().unwrap().len(), 5);
    assert_eq!(categories[0]["name"], "XS");
    assert_eq!(categories[0]["final_deadline_secs"], 3000);

    // Orders: 1 DCT per task for the app, 2 DCT for the pool, 10 tasks each.
    let (app_hash, pool_hash) = env.publish_offers(&app, &pool, DCT, 2 * DCT, 10);
    let err = env.fails(&["order", "sign", "--app", "--wallet", "pool"]);
    assert!(
        err.contains("does not own app") && err.contains("--wallet"),
        "{err}"
    );
    let book = env.json(&["orderbook", "app", &app]);
    assert_eq!(book["orders"][0]["hash"], app_hash.as_str());
    assert_eq!(book["orders"][0]["remaining"], 10);
    let book = env.json(&["orderbook", "workerpool", "--category", "0"]);
    assert_eq!(book["orders"][0]["hash"], pool_hash.as_str());
    let table = env.ok(&["orderbook", "workerpool"]);
    assert!(
        table.contains(&pool_hash) && table.contains("2 DCT"),
        "{table}"
    );

    // Without money in the escrow, run says what to do and sends nothing.
    let err = env.fails(&["run", &app, "--wallet", "broke"]);
    assert!(
        err.contains("insufficient balance") && err.contains("decloud account deposit"),
        "{err}"
    );
    // Nor can the scheduler stake.
    env.ok(&["account", "deposit", "100DCT", "--wallet", "requester"]);
    let err = env.fails(&["run", &app, "--wallet", "requester"]);
    assert!(
        err.contains("no compatible workerpool order") && err.contains("deposit"),
        "{err}"
    );
    env.ok(&["account", "deposit", "100DCT", "--wallet", "pool"]);

    // Run 3 tasks: the requester locks 3 × 3 DCT, the scheduler 3 × 30 % of 2 DCT.
    let run = env.json(&[
        "run",
        &app,
        "--volume",
        "3",
        "--args",
        "--n 7",
        "--input-file",
        "http://example.invalid/in.txt",
        "--wallet",
        "requester",
    ]);
    let deal_id = b256(&run["deal_id"]);
    assert_eq!(run["volume"], 3);
    assert_eq!(run["locked"], (9 * DCT).to_string());
    assert_eq!(run["app_order"], app_hash.as_str());
    assert_eq!(run["workerpool_order"], pool_hash.as_str());
    assert_eq!(env.frozen(requester).await, U256::from(9 * DCT));
    assert_eq!(env.balance(requester).await, U256::from(91 * DCT));
    assert_eq!(
        env.frozen(scheduler).await,
        U256::from(3 * (2 * DCT) * 30 / 100)
    );
    let deal = deal_of(&env, deal_id).await;
    assert_eq!(deal.requester, requester);
    assert_eq!(deal.volume, U256::from(3));
    assert_eq!(deal.appPrice, U256::from(DCT));
    assert_eq!(deal.workerpoolPrice, U256::from(2 * DCT));
    let ext = env.hub();
    let tasks = run["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 3);
    for (i, t) in tasks.iter().enumerate() {
        assert_eq!(b256(t), decloud_protocol::task_id(deal_id, i as u64));
        assert_eq!(ext.task(b256(t)).call().await.unwrap().status, 0);
    }

    // The deal and its tasks as the CLI shows them.
    let shown = env.json(&["deal", "show", &deal_id.to_string()]);
    assert_eq!(shown["volume"], 3);
    assert_eq!(shown["app_price"], DCT.to_string());
    assert_eq!(
        shown["params"],
        r#"{"args":"--n 7","input_files":["http://example.invalid/in.txt"]}"#
    );
    assert_eq!(shown["tasks"].as_array().unwrap().len(), 3);
    assert_eq!(shown["tasks"][2]["status"], "UNSET");
    let task = env.json(&["task", "show", tasks[1].as_str().unwrap()]);
    assert_eq!(b256(&task["deal_id"]), deal_id);
    assert_eq!(task["index"], 1);
    assert_eq!(task["status"], "UNSET");
    let text = env.ok(&["deal", "show", &deal_id.to_string()]);
    assert!(text.contains("3 tasks × 3 DCT = 9 DCT"), "{text}");

    // The market and the chain on the app order: 3 of its 10 tasks consumed.
    let order = env.json(&["order", "show", &app_hash]);
    assert_eq!(order["chain"]["consumed"], "3");
    assert_eq!(order["market"]["kind"], "app");

    // Unknown ids are refused in one line.
    let unknown = B256::repeat_byte(0x42).to_string();
    let err = env.fails(&["deal", "show", &unknown]);
    assert!(err.contains("no deal"), "{err}");
    let err = env.fails(&["task", "show", &unknown]);
    assert!(err.contains("no task"), "{err}");
    let err = env.fails(&["order", "show", &unknown]);
    assert!(err.contains("unknown order"), "{err}");
    let err = env.fails(&["app", "show", "0x0000000000000000000000000000000000000042"]);
    assert!(
        err.contains("no app") && err.contains("decloud app list"),
        "{err}"
    );
    let err = env.fails(&["workerpool", "show", "pool"]);
    assert!(err.contains("not an address"), "{err}");
    // A task nobody started can't be claimed yet; once the deal is old enough, claiming it
    // initializes it, and the claim opens a final deadline later.
    let task = tasks[0].as_str().unwrap();
    let claim = ["task", "claim", task, "--wallet", "requester"];
    let err = env.fails(&claim);
    assert!(
        err.contains("never started") && err.contains("can be initialized from"),
        "{err}"
    );
    anvil::advance_time(&env.devnet, 3_001).await.unwrap();
    let err = env.fails(&claim);
    assert!(err.contains("initialized now"), "{err}");
    anvil::advance_time(&env.devnet, 3_001).await.unwrap();
    let claimed = env.json(&claim);
    assert_eq!(claimed["status"], "FAILED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn run_without_a_workerpool_order_and_with_a_consumed_one() {
    let env = Env::start().await;
    env.import_actors();
    let (app, pool) = env.deploy_app_and_pool();
    env.ok(&["account", "deposit", "50DCT", "--wallet", "requester"]);
    env.ok(&["account", "deposit", "50DCT", "--wallet", "pool"]);

    // Only an app order: no workerpool to run on.
    env.ok(&["order", "init", "--app", &app]);
    env.ok(&["order", "sign", "--app", "--wallet", "appdev"]);
    env.ok(&["order", "publish", "--app"]);
    let err = env.fails(&["run", &app, "--wallet", "requester"]);
    assert!(
        err.contains("no compatible workerpool order")
            && err.contains("decloud order publish --workerpool"),
        "{err}"
    );

    // A workerpool order of one task in category 0 with trust 0.
    let (_, pool_hash) = env.publish_offers(&app, &pool, DCT, DCT, 1);
    let err = env.fails(&["run", &app, "--category", "1", "--wallet", "requester"]);
    assert!(
        err.contains("no compatible workerpool order") && err.contains("--category"),
        "{err}"
    );
    let err = env.fails(&["run", &app, "--trust", "5", "--wallet", "requester"]);
    assert!(
        err.contains("no compatible workerpool order") && err.contains("--trust"),
        "{err}"
    );
    let run = env.json(&["run", &app, "--workerpool", &pool, "--wallet", "requester"]);
    assert_eq!(run["volume"], 1);

    // Publishing the consumed order again is refused by the market.
    let err = env.fails(&["order", "publish", "--workerpool"]);
    assert!(err.contains("already consumed"), "{err}");
    // The market has not followed the chain yet (its follower is idle in this test) and still
    // lists the consumed order: run checks it on chain and skips it.
    let book = env.json(&["orderbook", "workerpool"]);
    assert_eq!(book["orders"][0]["hash"], pool_hash.as_str());
    let err = env.fails(&["run", &app, "--wallet", "requester"]);
    assert!(err.contains("no compatible workerpool order"), "{err}");
    // A dearer order of the same pool is picked once published.
    env.ok(&["order", "init", "--workerpool", &pool, "--force"]);
    env.edit_template(
        "workerpool_price = \"0\"",
        "workerpool_price = \"2000000000\"",
    );
    env.ok(&["order", "sign", "--workerpool", "--wallet", "pool"]);
    let published = env.json(&["order", "publish", "--workerpool"]);
    let run = env.json(&["run", &app, "--wallet", "requester"]);
    assert_eq!(run["workerpool_order"], published[0]["hash"]);
    assert_ne!(run["workerpool_order"], pool_hash.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn datasets_requests_and_cancellation() {
    let env = Env::start().await;
    let owner = env.import("owner", 1);
    let requester = env.import("requester", 3);

    // A dataset: deploy, show, list.
    let dataset = env.deploy("dataset", "data.bin", b"some data", "owner");
    let shown = env.json(&["dataset", "show", &dataset]);
    assert_eq!(shown["name"], "data");
    assert_eq!(
        shown["owner"].as_str().unwrap().parse::<Address>().unwrap(),
        owner
    );
    assert_eq!(
        env.json(&["dataset", "list", "--owner", &owner.to_string()])
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert!(env.ok(&["dataset", "list", "--all"]).contains("data.bin"));
    let err = env.fails(&[
        "dataset",
        "deploy",
        "--name",
        "x",
        "--uri",
        "u",
        "--checksum",
        "0x00",
        "--wallet",
        "owner",
    ]);
    assert!(err.contains("checksum"), "{err}");

    // A dataset order, published then cancelled: gone from the book and cancelled on chain.
    env.ok(&["order", "init", "--dataset", &dataset]);
    let err = env.fails(&["order", "init", "--dataset", &dataset]);
    assert!(err.contains("--force"), "{err}");
    let signed = env.json(&["order", "sign", "--dataset", "--wallet", "owner"]);
    let hash = signed["orders"][0]["hash"].as_str().unwrap().to_string();
    env.ok(&["order", "publish"]);
    let book = env.json(&["orderbook", "dataset", &dataset]);
    assert_eq!(book["orders"][0]["hash"], hash.as_str());
    let err = env.fails(&["order", "cancel", "--dataset", "--wallet", "requester"]);
    assert!(err.contains("may not manage order"), "{err}");
    let cancelled = env.json(&["order", "cancel", "--dataset", "--wallet", "owner"]);
    assert_eq!(cancelled[0]["market"], "withdrawn");
    assert!(cancelled[0]["transaction"].is_string());
    let ext = env.hub();
    let status = ext.orderStatus(hash.parse().unwrap()).call().await.unwrap();
    assert!(status.cancelled);
    assert!(
        env.json(&["orderbook", "dataset", &dataset])["orders"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let all = env.json(&["orderbook", "dataset", &dataset, "--all"]);
    assert_eq!(all["orders"][0]["status"], "cancelled");
    let shown = env.json(&["order", "show", &hash]);
    assert_eq!(shown["chain"]["cancelled"], true);
    // Cancelling again sends nothing and says so.
    let again = env.json(&["order", "cancel", "--hash", &hash, "--wallet", "owner"]);
    assert_eq!(again[0]["already_cancelled"], true);

    // A request order: refused by the market without a deposit, listed with one.
    let app = env.deploy("app", "app.wasm", b"an app", "owner");
    let app = app.as_str();
    env.ok(&["order", "init", "--request", app, "--wallet", "requester"]);
    env.edit_template(
        "workerpool_max_price = \"0\"",
        "workerpool_max_price = \"5000000000\"",
    );
    let signed = env.json(&["order", "sign", "--request", "--wallet", "requester"]);
    let request_hash = signed["orders"][0]["hash"].as_str().unwrap().to_string();
    let err = env.fails(&["order", "publish", "--request"]);
    assert!(
        err.contains("the market refused") && err.contains("deposit"),
        "{err}"
    );
    env.ok(&["account", "deposit", "5DCT", "--wallet", "requester"]);
    env.ok(&["order", "publish", "--request"]);
    let book = env.json(&["orderbook", "request", "--signer", &requester.to_string()]);
    assert_eq!(book["orders"][0]["hash"], request_hash.as_str());
    let table = env.ok(&["orderbook", "request"]);
    assert!(table.contains("5 DCT"), "{table}");

    // Publishing or cancelling what was never signed says how to sign.
    let err = env.fails(&["order", "publish", "--app"]);
    assert!(err.contains("decloud order sign --app"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_task_past_its_deadline_is_claimed_and_refunded() {
    let env = Env::start().await;
    let (scheduler, requester) = env.import_actors();
    let (app, pool) = env.deploy_app_and_pool();
    env.publish_offers(&app, &pool, DCT, 2 * DCT, 10);
    env.ok(&["account", "deposit", "10DCT", "--wallet", "requester"]);
    env.ok(&["account", "deposit", "10DCT", "--wallet", "pool"]);
    let run = env.json(&["run", &app, "--volume", "2", "--wallet", "requester"]);
    let deal_id = b256(&run["deal_id"]);
    let task = run["tasks"][0].as_str().unwrap().to_string();
    assert_eq!(env.frozen(requester).await, U256::from(6 * DCT));

    // The scheduler starts task 0 and never finishes it.
    let deal = deal_of(&env, deal_id).await;
    let hub = env.hub();
    let initialize = hub.initialize((&deal).into(), U256::ZERO);
    pool::send_as(
        &env.devnet,
        2,
        "initializing",
        initialize.into_transaction_request(),
    )
    .await
    .unwrap();
    let shown = env.json(&["task", "show", &task]);
    assert_eq!(shown["status"], "ACTIVE");
    let init = shown["init_time"].as_u64().unwrap();
    assert_eq!(shown["final_deadline"].as_u64().unwrap(), init + 3000);
    let err = env.fails(&["task", "claim", &task, "--wallet", "requester"]);
    assert!(err.contains("final deadline"), "{err}");

    // After the final deadline anyone may claim: the requester gets the task's price back.
    anvil::advance_time(&env.devnet, 3001).await.unwrap();
    let claimed = env.json(&["task", "claim", &task, "--wallet", "appdev"]);
    assert_eq!(claimed["refund"], (3 * DCT).to_string());
    assert_eq!(env.frozen(requester).await, U256::from(3 * DCT));
    assert_eq!(env.balance(requester).await, U256::from(7 * DCT));
    // The scheduler's stake for that task is gone; the other task's remains.
    assert_eq!(env.frozen(scheduler).await, U256::from(2 * DCT * 30 / 100));
    // Watching a task that has ended returns at once with its status.
    let watched = env.json(&["task", "show", &task, "--watch", "--interval", "1"]);
    assert_eq!(watched["status"], "FAILED");
    let err = env.fails(&["task", "claim", &task, "--wallet", "appdev"]);
    assert!(err.contains("already claimed"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn run_watch_follows_every_task_to_its_end() {
    use std::io::{BufRead, BufReader, Read};
    let env = Env::start().await;
    env.import_actors();
    let worker = env.import("worker", 4);
    let (app, pool) = env.deploy_app_and_pool();
    env.publish_offers(&app, &pool, DCT, 2 * DCT, 10);
    env.ok(&["account", "deposit", "10DCT", "--wallet", "requester"]);
    env.ok(&["account", "deposit", "10DCT", "--wallet", "pool"]);
    env.ok(&["account", "deposit", "10DCT", "--wallet", "worker"]);

    // Killed if the test ends early.
    let mut child = Service::from(
        env.command(&[
            "run",
            &app,
            "--volume",
            "2",
            "--watch",
            "--interval",
            "1",
            "--wallet",
            "requester",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap(),
    );
    let mut stdout = BufReader::new(child.take_stdout().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    let deal_id: B256 = first
        .strip_prefix("deal ")
        .unwrap_or_else(|| panic!("run prints the deal first: {first:?}"))
        .trim()
        .parse()
        .unwrap();

    // While it watches, a worker computes both tasks and the scheduler finalizes them.
    let deal = deal_of(&env, deal_id).await;
    let hub = env.hub();
    for index in 0..2u64 {
        let task = decloud_protocol::task_id(deal_id, index);
        let authorization = decloud_protocol::result::sign_authorization(
            &env.devnet.signer(2),
            worker,
            task,
            Address::ZERO,
        )
        .unwrap();
        let contribute = hub.contributeAndReveal(
            (&deal).into(),
            U256::from(index),
            B256::repeat_byte(7),
            Address::ZERO,
            Default::default(),
            authorization,
        );
        pool::send_as(
            &env.devnet,
            4,
            "contributing",
            contribute.into_transaction_request(),
        )
        .await
        .unwrap();
        let location = format!("http://example.invalid/blobs/{index}");
        let finalize = hub.finalize(
            (&deal).into(),
            U256::from(index),
            location.into_bytes().into(),
            Default::default(),
            Vec::new(),
        );
        pool::send_as(
            &env.devnet,
            2,
            "finalizing",
            finalize.into_transaction_request(),
        )
        .await
        .unwrap();
    }
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "run --watch failed; stdout: {first}{rest}"
    );
    assert_eq!(rest.matches("COMPLETED").count(), 2, "{rest}");

    let task = decloud_protocol::task_id(deal_id, 1).to_string();
    let shown = env.json(&["task", "show", &task, "--watch"]);
    assert_eq!(shown["status"], "COMPLETED");
    assert_eq!(shown["results_location"], "http://example.invalid/blobs/1");
    let text = env.ok(&["task", "show", &task]);
    assert!(text.contains("http://example.invalid/blobs/1"), "{text}");
    assert_eq!(env.frozen(env.devnet.signer(3).address()).await, U256::ZERO);
    let err = env.fails(&["task", "claim", &task, "--wallet", "requester"]);
    assert!(err.contains("nothing to claim"), "{err}");
}

#[test]
fn failures_without_a_chain_or_market_name_the_fix() {
    let home = tempfile::tempdir().unwrap();
    // A profile whose chain is not running.
    let profile = decloud_chain::ChainProfile {
        rpc_url: "http://127.0.0.1:9".into(),
        chain_id: 31337,
        deployment_block: 0,
        admin: Address::ZERO,
        contracts: decloud_chain::deploy::Contracts::example(),
        name: None,
        devnet: None,
        beacon_url: None,
        limits: Default::default(),
    };
    profile.save(home.path()).unwrap();
    let cli = Cli::new(home.path(), "http://127.0.0.1:9");
    let run = |args: &[&str], password: &str| {
        let out = cli
            .command(args)
            .env("DECLOUD_WALLET_PASSWORD", password)
            .output()
            .unwrap();
        one_line_failure(&out, args)
    };
    let key = decloud_chain::accounts::DEV_PRIVATE_KEYS[3].to_string();
    cli.ok(&["wallet", "import", "--name", "default", &key]);
    let app = "0x0000000000000000000000000000000000000042";

    let err = run(&["category", "list"], PASSWORD);
    assert!(
        err.contains("cannot reach the chain") && err.contains("--rpc"),
        "{err}"
    );
    let err = run(&["app", "list", "--all"], PASSWORD);
    assert!(err.contains("cannot reach the chain"), "{err}");
    let err = run(&["run", app], "wrong");
    assert!(err.contains("wrong password"), "{err}");
    let err = run(&["run", app], PASSWORD);
    assert!(err.contains("cannot reach the chain"), "{err}");
    let err = run(&["orderbook", "workerpool"], PASSWORD);
    assert!(
        err.contains("cannot reach the market") && err.contains("--market"),
        "{err}"
    );
    let err = run(&["orderbook", "app", "--market", "nonsense"], PASSWORD);
    assert!(err.contains("invalid market URL"), "{err}");
    let err = run(&["order", "sign"], PASSWORD);
    assert!(err.contains("decloud order init"), "{err}");
    let err = run(&["order", "init"], PASSWORD);
    assert!(err.contains("--app"), "{err}");
    let err = run(&["order", "init", "--app", "0x12"], PASSWORD);
    assert!(err.contains("not an address"), "{err}");
    let err = run(&["order", "show", "0x1234"], PASSWORD);
    assert!(err.contains("not an id"), "{err}");
    let err = run(&["deal", "show", &B256::ZERO.to_string()], PASSWORD);
    assert!(err.contains("cannot reach the chain"), "{err}");
    let err = run(
        &[
            "app",
            "deploy",
            "--name",
            "a",
            "--uri",
            "u",
            "--file",
            "missing.wasm",
        ],
        PASSWORD,
    );
    assert!(err.contains("missing.wasm"), "{err}");
    // A template written offline is signed only once the chain answers.
    let out = cli
        .command(&["order", "init", "--request", app])
        .env_remove("DECLOUD_WALLET_PASSWORD")
        .env_remove("DECLOUD_MARKET")
        .output()
        .unwrap();
    succeeded(&out).unwrap();
    let template = std::fs::read_to_string(cli.file("decloud.toml")).unwrap();
    assert!(template.contains("[order.request]"), "{template}");
    assert!(
        template.to_lowercase().contains(
            &decloud_chain::accounts::dev_signer(3)
                .address()
                .to_string()
                .to_lowercase()
        ),
        "the requester is the wallet: {template}"
    );
    let err = run(&["order", "sign", "--request"], PASSWORD);
    assert!(err.contains("cannot reach the chain"), "{err}");
}
