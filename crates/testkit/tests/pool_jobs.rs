//! Desktop-grid jobs end to end over HTTP: the real scheduler (with the pool's client API), two
//! real workers and the real wasm runtime. A private app submitted by its owner runs only on
//! its owner's private worker, even when a public worker is idle; the owner reads the result.

use std::time::Duration;

use base64::Engine;
use decloud_testkit::Devnet;
use decloud_testkit::fixtures::eventually;
use decloud_testkit::pool::{Pool, PoolOptions};
use serde_json::{Value, json};

const ADMIN_PASSWORD: &str = "pool administrator password";

/// Sends `body` (or a GET) to the scheduler with `token`; the status and the JSON answer (or
/// the raw bytes as a JSON string when not JSON).
async fn call(url: &str, token: Option<&str>, path: &str, body: Option<Value>) -> (u16, Value) {
    let (url, http) = decloud_service::transport::api_client(url).unwrap();
    let mut request = match &body {
        Some(b) => http.post(format!("{url}{path}")).json(b),
        None => http.get(format!("{url}{path}")),
    };
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let bytes = response.bytes().await.unwrap();
    let value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (status, value)
}

async fn login(url: &str, user: &str, password: &str) -> String {
    let (status, body) = call(
        url,
        None,
        "/v1/pool/login/password",
        Some(json!({"login": user, "password": password})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["token"].as_str().unwrap().to_owned()
}

/// A pool of two workers with a user ann, whose private machine is worker 0; worker 1 stays
/// public (and idle).
struct Ann {
    _devnet: Devnet,
    pool: Pool,
    url: String,
    /// The administrator's session.
    admin: String,
    anns: alloy::primitives::Address,
    public: alloy::primitives::Address,
}

impl Ann {
    async fn start() -> Self {
        let devnet = Devnet::start().await.unwrap();
        let pool = Pool::start(
            &devnet,
            PoolOptions {
                workers: 2,
                pool_admin_password: Some(ADMIN_PASSWORD.into()),
                ..PoolOptions::default()
            },
        )
        .await
        .unwrap();
        let url = pool.scheduler_url().unwrap();
        let admin = login(&url, "admin", ADMIN_PASSWORD).await;
        let (status, body) = call(
            &url,
            Some(&admin),
            "/v1/pool/users",
            Some(json!({"name": "ann", "password": "ann's password"})),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let (anns, public) = (pool.worker_address(0), pool.worker_address(1));
        let (status, body) = call(
            &url,
            Some(&admin),
            "/v1/pool/workers",
            Some(json!({"address": anns, "owner": "ann", "confinement": "private"})),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        Self {
            _devnet: devnet,
            pool,
            url,
            admin,
            anns,
            public,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_app_runs_only_on_its_owners_private_worker() {
    let Ann {
        _devnet,
        pool: _pool,
        url,
        admin,
        anns,
        public,
    } = Ann::start().await;
    let ann = login(&url, "ann", "ann's password").await;
    let greeting = decloud_testkit::fixtures::example_app("greeting").unwrap();
    let (status, app) = call(
        &url,
        Some(&ann),
        "/v1/pool/apps",
        Some(json!({"name": "greeting", "module": base64::engine::general_purpose::STANDARD.encode(&greeting)})),
    )
    .await;
    assert_eq!(status, 200, "{app}");
    assert_eq!(app["confinement"], "private");
    let mut jobs = Vec::new();
    for name in ["Alice", "Bob", "Carol"] {
        let (status, job) = call(
            &url,
            Some(&ann),
            "/v1/pool/jobs",
            Some(json!({"app": app["id"], "args": name})),
        )
        .await;
        assert_eq!(status, 200, "{job}");
        jobs.push((name, job["id"].as_str().unwrap().to_owned()));
    }
    for (name, job) in &jobs {
        let done = eventually(Duration::from_secs(120), "the pool job to complete", || {
            let (url, ann, job) = (url.clone(), ann.clone(), job.clone());
            async move {
                let (_, info) = call(&url, Some(&ann), &format!("/v1/pool/jobs/{job}"), None).await;
                matches!(info["status"].as_str(), Some("completed" | "failed")).then_some(info)
            }
        })
        .await
        .unwrap();
        assert_eq!(done["status"], "completed", "{done}");
        assert_eq!(
            done["worker"],
            anns.to_string(),
            "never on the public worker {public}"
        );
        let (status, result) = call(
            &url,
            Some(&ann),
            &format!("/v1/pool/jobs/{job}/result"),
            None,
        )
        .await;
        assert_eq!(status, 200);
        let text = result.as_str().unwrap();
        assert!(
            text.contains(&format!("Hello, {name}!")),
            "the packed /out: {text:?}"
        );
    }
    // Nobody else reads them: a new standard user sees no job.
    call(
        &url,
        Some(&admin),
        "/v1/pool/users",
        Some(json!({"name": "bob", "password": "bob's password"})),
    )
    .await;
    let bob = login(&url, "bob", "bob's password").await;
    let (status, _) = call(
        &url,
        Some(&bob),
        &format!("/v1/pool/jobs/{}/result", jobs[0].1),
        None,
    )
    .await;
    assert_eq!(status, 403);
    // A worker's session is not a pool user's: it cannot list jobs.
    let (status, _) = call(&url, Some("dcs_not_a_pool_session"), "/v1/pool/jobs", None).await;
    assert_eq!(status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_requester_finds_its_deals_tasks_among_its_jobs_after_a_wallet_login() {
    use alloy::signers::SignerSync;
    let devnet = Devnet::start().await.unwrap();
    let pool = Pool::start(&devnet, PoolOptions::default()).await.unwrap();
    let wasm = decloud_testkit::fixtures::example_app("greeting").unwrap();
    let app = pool.deploy_app("greeting", &wasm).await.unwrap();
    let deal = pool
        .deal(&decloud_testkit::pool::DealRequest::new(app).args("Ada"))
        .await
        .unwrap();
    let task = deal.task_ids()[0];
    pool.wait_completed(&[task], Duration::from_secs(120))
        .await
        .unwrap();

    let url = pool.scheduler_url().unwrap();
    let login = |signer: alloy::signers::local::PrivateKeySigner| {
        let url = url.clone();
        async move {
            let (_, challenge) = call(&url, None, "/v1/pool/login/challenge", None).await;
            let message = challenge["message"].as_str().unwrap();
            let signature = signer.sign_message_sync(message.as_bytes()).unwrap();
            let body = json!({"address": signer.address(), "nonce": challenge["nonce"],
                "deadline": challenge["deadline"], "signature": signature.to_string()});
            let (status, session) = call(&url, None, "/v1/pool/login/wallet", Some(body)).await;
            assert_eq!(status, 200, "{session}");
            session["token"].as_str().unwrap().to_owned()
        }
    };
    // The requester's job shows the status the chain gave the task, once the follower saw it.
    let token = login(devnet.signer(decloud_testkit::pool::REQUESTER)).await;
    let path = format!("/v1/pool/jobs/{task}");
    let job = eventually(
        Duration::from_secs(30),
        "the task shown as completed",
        || {
            let (url, token, path) = (url.clone(), token.clone(), path.clone());
            async move {
                let (status, job) = call(&url, Some(&token), &path, None).await;
                (status == 200 && job["status"] == "completed").then_some(job)
            }
        },
    )
    .await
    .unwrap();
    assert_eq!(job["origin"], "deal", "{job}");
    // Another wallet may not read it.
    let stranger = login(alloy::signers::local::PrivateKeySigner::random()).await;
    assert_eq!(call(&url, Some(&stranger), &path, None).await.0, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deal_of_a_private_on_chain_app_runs_only_on_its_owners_private_worker() {
    let Ann {
        _devnet,
        pool,
        url,
        admin,
        anns,
        public,
    } = Ann::start().await;
    let wasm = decloud_testkit::fixtures::example_app("greeting").unwrap();
    let app = pool.deploy_app("greeting", &wasm).await.unwrap();
    let confine = json!({"address": app, "kind": "app", "owner": "ann", "confinement": "private"});
    // Only an administrator decides where the marketplace's work runs.
    let ann = login(&url, "ann", "ann's password").await;
    let (status, body) = call(&url, Some(&ann), "/v1/pool/onchain", Some(confine.clone())).await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = call(&url, Some(&admin), "/v1/pool/onchain", Some(confine)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["confinement"], "private", "{body}");
    assert_eq!(body["kind"], "chain-app", "{body}");
    let (status, listed) = call(&url, Some(&ann), "/v1/pool/onchain", None).await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed[0]["id"], app.to_string(), "{listed}");

    // Both workers claim; every task of the deal goes to ann's machine, none to the public one.
    let deal = pool
        .deal(
            &decloud_testkit::pool::DealRequest::new(app)
                .args("Ada")
                .volume(4),
        )
        .await
        .unwrap();
    let tasks = deal.task_ids();
    pool.wait_completed(&tasks, Duration::from_secs(240))
        .await
        .unwrap();
    let store = pool.scheduler().unwrap().store();
    for task in &tasks {
        let replicates = store.replicates(*task).await.unwrap();
        assert!(!replicates.is_empty(), "task {task} has no replicate");
        for r in &replicates {
            assert_eq!(
                r.worker, anns,
                "task {task} reached {} (public: {public})",
                r.worker
            );
        }
    }

    // Released (public again), a deal's tasks may go anywhere; an unknown address is a 404.
    let (status, body) = call_delete(&url, &admin, &format!("/v1/pool/onchain/{app}")).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = call_delete(&url, &admin, &format!("/v1/pool/onchain/{app}")).await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = call_delete(&url, &admin, "/v1/pool/onchain/not-an-address").await;
    assert_eq!(status, 400, "{body}");
}

async fn call_delete(url: &str, token: &str, path: &str) -> (u16, Value) {
    let (url, http) = decloud_service::transport::api_client(url).unwrap();
    let response = http
        .delete(format!("{url}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Whether `work` is the pool job `job`.
fn is_job(work: &Option<decloud_protocol::pool::Work>, job: &str) -> bool {
    matches!(work, Some(decloud_protocol::pool::Work::PoolJob { pool_job }) if pool_job.job == job)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_job_goes_back_to_the_queue_when_its_worker_is_lost_or_restarts() {
    use alloy::signers::local::PrivateKeySigner;
    use decloud_scheduler::client::SchedulerClient;
    let devnet = Devnet::start().await.unwrap();
    let pool = Pool::start(
        &devnet,
        PoolOptions {
            workers: 0,
            heartbeat_timeout: Duration::from_secs(2),
            pool_admin_password: Some(ADMIN_PASSWORD.into()),
            ..PoolOptions::default()
        },
    )
    .await
    .unwrap();
    let url = pool.scheduler_url().unwrap();
    let (lost, restarted) = (PrivateKeySigner::random(), PrivateKeySigner::random());
    decloud_testkit::pool::admit_many(&pool, vec![lost.address(), restarted.address()], 1)
        .await
        .unwrap();
    let admin = login(&url, "admin", ADMIN_PASSWORD).await;
    let greeting = decloud_testkit::fixtures::example_app("greeting").unwrap();
    let (status, app) = call(
        &url,
        Some(&admin),
        "/v1/pool/apps",
        Some(json!({"name": "greeting", "confinement": "public",
            "module": base64::engine::general_purpose::STANDARD.encode(&greeting)})),
    )
    .await;
    assert_eq!(status, 200, "{app}");
    let (status, job) = call(
        &url,
        Some(&admin),
        "/v1/pool/jobs",
        Some(json!({"app": app["id"], "args": "Ada"})),
    )
    .await;
    assert_eq!(status, 200, "{job}");
    let job = job["id"].as_str().unwrap().to_owned();
    let status_of = || {
        let (url, admin, job) = (url.clone(), admin.clone(), job.clone());
        async move {
            let (_, info) = call(&url, Some(&admin), &format!("/v1/pool/jobs/{job}"), None).await;
            (
                info["status"].as_str().unwrap_or("").to_owned(),
                info["worker"].clone(),
            )
        }
    };

    // A worker takes it and falls silent: past the heartbeat timeout the job is pending again.
    let first = SchedulerClient::new(&url, lost.clone(), 1).unwrap();
    first.login().await.unwrap();
    let work = first.claim_work(Duration::from_secs(5)).await.unwrap();
    assert!(is_job(&work, &job), "{work:?}");
    assert_eq!(status_of().await.0, "running");
    eventually(
        Duration::from_secs(30),
        "the lost worker's job back in the queue",
        || async move { (status_of().await.0 == "pending").then_some(()) },
    )
    .await
    .unwrap();

    // Another worker takes it, restarts (a new login) and gets it again from its next claim.
    let second = SchedulerClient::new(&url, restarted.clone(), 1).unwrap();
    second.login().await.unwrap();
    let work = second.claim_work(Duration::from_secs(5)).await.unwrap();
    assert!(is_job(&work, &job), "{work:?}");
    let (status, worker) = status_of().await;
    assert_eq!(
        (status.as_str(), worker),
        ("running", json!(restarted.address().to_string()))
    );
    let again = SchedulerClient::new(&url, restarted.clone(), 1).unwrap();
    again.login().await.unwrap();
    let work = eventually(Duration::from_secs(30), "the job handed again", || {
        let again = &again;
        let job = job.clone();
        async move {
            let work = again.claim_work(Duration::from_secs(2)).await.unwrap();
            is_job(&work, &job).then_some(work)
        }
    })
    .await
    .unwrap();
    assert!(is_job(&work, &job));
    assert_eq!(status_of().await.0, "running");
}

/// The deal-task mirror after a restart: tasks that end on chain while the scheduler is down
/// (nobody ran them; the requester initializes and claims them once their deadlines pass, which
/// needs no scheduler) are shown with their final status, as the requester's jobs, once the
/// scheduler is back. Before the stop they were shown as the requester's jobs not started yet
/// (a new deal's tasks are shown at once, not at their first event).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deals_that_end_while_the_scheduler_is_down_show_their_final_status_after_it_restarts() {
    use alloy::primitives::U256;
    use alloy::signers::SignerSync;
    use decloud_testkit::pool::REQUESTER;
    let devnet = Devnet::start().await.unwrap();
    // No worker: the tasks stay untouched until the requester claims them.
    let mut pool = Pool::start(
        &devnet,
        PoolOptions {
            workers: 0,
            ..PoolOptions::default()
        },
    )
    .await
    .unwrap();
    let reference = 3;
    let short = pool
        .create_category("test-mirror", reference)
        .await
        .unwrap();
    let wasm = decloud_testkit::fixtures::example_app("greeting").unwrap();
    let app = pool.deploy_app("greeting", &wasm).await.unwrap();
    let deal = pool
        .deal(
            &decloud_testkit::pool::DealRequest::new(app)
                .args("Ada")
                .volume(2)
                .category(short),
        )
        .await
        .unwrap();
    let tasks = deal.task_ids();
    let url = pool.scheduler_url().unwrap();
    let requester = devnet.signer(REQUESTER);
    let login = |url: String| {
        let signer = requester.clone();
        async move {
            let (_, challenge) = call(&url, None, "/v1/pool/login/challenge", None).await;
            let message = challenge["message"].as_str().unwrap();
            let signature = signer.sign_message_sync(message.as_bytes()).unwrap();
            let body = json!({"address": signer.address(), "nonce": challenge["nonce"],
                "deadline": challenge["deadline"], "signature": signature.to_string()});
            let (status, session) = call(&url, None, "/v1/pool/login/wallet", Some(body)).await;
            assert_eq!(status, 200, "{session}");
            session["token"].as_str().unwrap().to_owned()
        }
    };
    // The requester's jobs, once every task shows one of `wanted`.
    let jobs_with = |token: String, wanted: &'static [&'static str]| {
        let url = url.clone();
        let tasks = tasks.clone();
        eventually(
            Duration::from_secs(60),
            "the deal's tasks shown as the requester's jobs",
            move || {
                let (url, token, tasks) = (url.clone(), token.clone(), tasks.clone());
                async move {
                    let (status, jobs) = call(&url, Some(&token), "/v1/pool/jobs", None).await;
                    let jobs = jobs.as_array().filter(|_| status == 200)?.clone();
                    let all = tasks.iter().all(|task| {
                        jobs.iter().any(|j| {
                            j["id"] == task.to_string()
                                && wanted.iter().any(|w| j["status"] == *w)
                                && j["origin"] == "deal"
                        })
                    });
                    all.then_some(jobs)
                }
            },
        )
    };
    let token = login(url.clone()).await;
    // Not started: nobody claimed them (a task's status before its first contribution).
    let before = jobs_with(token, &["unset"]).await.unwrap();
    assert_eq!(before.len(), tasks.len(), "{before:?}");
    assert!(
        before
            .iter()
            .all(|j| j["owner"] == requester.address().to_string()),
        "{before:?}"
    );

    // The scheduler stops; on chain the tasks end without it.
    pool.kill_scheduler().await;
    let chain = decloud_testkit::pool::client(&devnet, REQUESTER)
        .await
        .unwrap();
    let hub = chain.hub();
    // An untouched task may be initialized 10 reference times after the deal, and claimed 10
    // reference times after that (FINAL_DEADLINE_RATIO).
    decloud_testkit::anvil::advance_time(&devnet, 10 * reference + 1)
        .await
        .unwrap();
    for index in 0..tasks.len() {
        let call = hub.initialize((&deal.matched.deal).into(), U256::from(index));
        chain
            .send("initializing", call.into_transaction_request())
            .await
            .unwrap();
    }
    decloud_testkit::anvil::advance_time(&devnet, 10 * reference + 1)
        .await
        .unwrap();
    for index in 0..tasks.len() {
        let call = hub.claim((&deal.matched.deal).into(), U256::from(index), vec![]);
        chain
            .send("claiming", call.into_transaction_request())
            .await
            .unwrap();
    }

    // Back: the requester's jobs show the tasks' final status.
    pool.start_scheduler().await.unwrap();
    let token = login(pool.scheduler_url().unwrap()).await;
    let after = jobs_with(token, &["failed"]).await.unwrap();
    assert_eq!(after.len(), tasks.len(), "{after:?}");
}
