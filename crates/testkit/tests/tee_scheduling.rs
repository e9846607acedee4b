//! Who gets TEE tasks, on a real devnet with a real scheduler, SMS and `sim` enclaves.
//!
//! - TEE tasks go only to workers that announced a TEE backend at login, however idle a plain
//!   worker is; a worker that announces one and fails a TEE task without producing an enclave
//!   (it has none) gets no more.
//! - A key holder releases a task's secrets to one enclave only: once the worker holding the
//!   release is lost, no other worker gets the task, the scheduler gives it up saying why and
//!   when it is claimable, and the requester's claim after the final deadline refunds it.
//!
//! The workers that misbehave here (a plain one, a liar, one that dies after its release) are
//! scripted with the worker's own scheduler client and the real `sim` attester, so that each
//! step happens exactly when the test says; the TEE worker they compete with is the real one.

use std::time::Duration;

use alloy::primitives::{Address, B256, U256};
use alloy::sol_types::SolValue;
use decloud_chain::client::Client;
use decloud_protocol::TaskStatus;
use decloud_protocol::pool::{Assignment, Report, ReportStatus, TeeBackend, WorkerInfo};
use decloud_sms::SmsClient;
use decloud_sms::seal;
use decloud_sms::wire::ReleaseRequest;
use decloud_tee::sim::SimAttester;
use decloud_tee::{Attester, ReportDataFields, TeeKind};
use decloud_testkit::pool::{DealRequest, FIRST_WORKER, Pool, PoolOptions, REQUESTER};
use decloud_testkit::{Devnet, anvil, fixtures};
use decloud_worker::SchedulerClient;

const TIMEOUT: Duration = Duration::from_secs(120);

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

async fn workers(url: &str) -> Vec<WorkerInfo> {
    let (url, http) = decloud_service::transport::api_client(url).unwrap();
    http.get(format!("{url}/v1/workers"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn status(chain: &Client, task: B256) -> TaskStatus {
    let view = chain.hub().task(task).call().await.unwrap();
    TaskStatus::from_u8(view.status).unwrap()
}

/// A pool with two `sim` workers, a registered SMS holding the requester's `api-token`, and
/// the `secret-digest` TEE app. Worker 1 is stopped at once: its wallet is the scripted one.
async fn tee_pool(devnet: &Devnet, heartbeat_timeout: Duration) -> (Pool, Address) {
    let mut pool = Pool::start(
        devnet,
        PoolOptions {
            tee: Some(TeeKind::Sim),
            workers: 2,
            heartbeat_timeout,
            ..PoolOptions::default()
        },
    )
    .await
    .unwrap();
    pool.kill_worker(1).await;
    let sms = SmsClient::new(&pool.sms_url().unwrap()).unwrap();
    sms.push_requester_secret(&devnet.signer(REQUESTER), "api-token", b"tok-123", now())
        .await
        .unwrap();
    let module = fixtures::example_app("secret-digest").unwrap();
    let app = pool.deploy_tee_app("secret-digest", &module).await.unwrap();
    (pool, app)
}

fn tee_deal(app: Address, volume: u64) -> DealRequest {
    DealRequest::new(app)
        .tee()
        .args("api-token")
        .secret("api-token")
        .volume(volume)
}

/// Claims until an assignment of one of `tasks` comes (other work is reported failed).
async fn claim_one_of(client: &SchedulerClient, tasks: &[B256]) -> Assignment {
    fixtures::eventually(TIMEOUT, "no assignment of the expected tasks", || async {
        client
            .claim(Duration::from_secs(2))
            .await
            .ok()
            .flatten()
            .filter(|a| tasks.contains(&a.task_id))
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tee_tasks_go_only_to_workers_that_run_enclaves_and_a_liar_gets_one() {
    let devnet = Devnet::start().await.unwrap();
    let (mut pool, app) = tee_pool(&devnet, Duration::from_secs(60)).await;
    let scheduler = pool.scheduler_url().unwrap();
    let key = devnet.signer(FIRST_WORKER + 1);
    // The plain worker announces no backend (the default of a worker without `--tee`).
    let plain = SchedulerClient::new(&scheduler, key.clone(), 4).unwrap();
    plain.login().await.unwrap();

    let deal = pool.deal(&tee_deal(app, 3)).await.unwrap();
    let tasks = deal.task_ids();
    // While the TEE tasks are open (the real worker runs one at a time), the idle plain worker
    // is offered none of them.
    let chain = pool_chain(&pool).await;
    let mut offered = None;
    let give_up = std::time::Instant::now() + TIMEOUT;
    while std::time::Instant::now() < give_up {
        let mut done = true;
        for task in &tasks {
            done &= status(&chain, *task).await == TaskStatus::Completed;
        }
        if done {
            break;
        }
        offered = plain.claim(Duration::from_secs(1)).await.unwrap();
        if offered.is_some() {
            break;
        }
    }
    assert!(
        offered.is_none(),
        "the plain worker got TEE work: {offered:?}"
    );
    pool.wait_completed(&tasks, TIMEOUT).await.unwrap();
    for task in &tasks {
        let report = fixtures::scheduler_task(&scheduler, *task).await.unwrap();
        let holders: Vec<_> = report.replicates.iter().map(|r| r.worker).collect();
        assert_eq!(holders, vec![pool.worker_address(0)], "task {task}");
    }
    // The plain worker does get plain work: it was claiming all along.
    pool.kill_worker(0).await;
    let greeting = fixtures::example_app("greeting").unwrap();
    let plain_app = pool.deploy_app("greeting", &greeting).await.unwrap();
    let plain_deal = pool.deal(&DealRequest::new(plain_app)).await.unwrap();
    let got = claim_one_of(&plain, &plain_deal.task_ids()).await;
    assert_eq!(got.task_id, plain_deal.task_ids()[0]);
    // Given back, so that the wallet (admitted for one replicate at a time) is free again.
    plain
        .report(got.task_id, &failed("the test gives it back"))
        .await
        .unwrap();

    // A liar: the same wallet announces `sim` but has no enclave. It gets one TEE task, fails
    // it without producing an enclave, and gets no other, though one is open and it is idle.
    let liar = SchedulerClient::new(&scheduler, key.clone(), 4)
        .unwrap()
        .with_tee(TeeBackend::Sim);
    liar.login().await.unwrap();
    let lied = pool.deal(&tee_deal(app, 2)).await.unwrap();
    let lied_tasks = lied.task_ids();
    let first = claim_one_of(&liar, &lied_tasks).await;
    liar.report(first.task_id, &failed("this machine has no TEE"))
        .await
        .unwrap();
    let me = workers(&scheduler)
        .await
        .into_iter()
        .find(|w| w.address == key.address())
        .unwrap();
    assert_eq!(me.tee, TeeBackend::Sim);
    let refused = me
        .tee_refused
        .expect("the liar is still trusted with TEE tasks");
    assert!(
        refused.contains("without producing an enclave"),
        "{refused}"
    );
    // Logging in again and announcing it again changes nothing.
    liar.login().await.unwrap();
    for _ in 0..3 {
        let again = liar.claim(Duration::from_secs(1)).await.unwrap();
        assert!(again.is_none(), "the liar got more TEE work: {again:?}");
    }
    let open = fixtures::scheduler_task(&scheduler, lied_tasks[1])
        .await
        .unwrap();
    assert!(open.replicates.is_empty(), "{:?}", open.replicates);
}

fn failed(reason: &str) -> Report {
    Report {
        status: ReportStatus::Failed,
        reason: Some(reason.into()),
        results_location: None,
        callback_data: None,
        stages: None,
    }
}

async fn pool_chain(pool: &Pool) -> Client {
    Client::connect(&pool.profile, None, None).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tee_task_whose_enclave_worker_is_lost_goes_to_nobody_and_is_refunded() {
    let devnet = Devnet::start().await.unwrap();
    let (mut pool, app) = tee_pool(&devnet, Duration::from_secs(10)).await;
    // The real TEE worker is stopped while the scripted one takes the task.
    pool.kill_worker(0).await;
    let chain = pool_chain(&pool).await;
    let scheduler = pool.scheduler_url().unwrap();
    let sms = SmsClient::new(&pool.sms_url().unwrap()).unwrap();
    let requester = devnet.signer(REQUESTER).address();
    let frozen_at_start = chain.hub().frozenOf(requester).call().await.unwrap();

    let key = devnet.signer(FIRST_WORKER + 1);
    let doomed = SchedulerClient::new(&scheduler, key.clone(), 1)
        .unwrap()
        .with_tee(TeeBackend::Sim);
    doomed.login().await.unwrap();
    let deal = pool.deal(&tee_deal(app, 1)).await.unwrap();
    let task = deal.task_ids()[0];
    let frozen_with_deal = chain.hub().frozenOf(requester).call().await.unwrap();
    let price = frozen_with_deal - frozen_at_start;
    assert!(price > U256::ZERO, "the deal froze nothing");
    let assignment = claim_one_of(&doomed, &[task]).await;

    // The real release: evidence over this task, this app, a fresh E and H, the SMS's nonce.
    let enclave = alloy::signers::local::PrivateKeySigner::random();
    let (_h, h_public) = seal::generate_keypair().unwrap();
    let nonce = sms.challenge().await.unwrap().nonce;
    let fields = ReportDataFields {
        chain_id: pool.profile.chain_id,
        task_id: task,
        app_checksum: assignment.app.as_ref().unwrap().checksum,
        enclave: enclave.address(),
        hpke_public_key: h_public,
        nonce: nonce.0,
    };
    let evidence = SimAttester::new(pool.profile.chain_id)
        .unwrap()
        .evidence(&fields.report_data())
        .unwrap();
    let authorization = doomed
        .enclave_authorization(task, enclave.address())
        .await
        .unwrap();
    let released = sms
        .release(&ReleaseRequest {
            deal_id: assignment.deal_id,
            index: assignment.index,
            worker: key.address(),
            enclave: enclave.address(),
            hpke_public_key: alloy::hex::encode(h_public),
            nonce,
            evidence,
            authorization: authorization.sign,
            local_dataset: false,
        })
        .await
        .unwrap();
    assert!(!released.secrets.is_empty(), "nothing was released");
    // ... and the worker holding it dies: no heartbeat, no contribution. The real TEE worker is
    // back and idle.
    drop(doomed);
    pool.start_worker(0).await.unwrap();

    let report = fixtures::eventually(TIMEOUT, "the task was not given up", || async {
        let r = fixtures::scheduler_task(&scheduler, task).await?;
        r.task.given_up.is_some().then_some(r)
    })
    .await
    .unwrap();
    let reason = report.task.given_up.unwrap();
    assert!(
        reason.contains(&format!("bound to lost worker {}", key.address()))
            && reason.contains("claim a refund after")
            && reason.contains("UTC")
            && reason.contains(&format!("decloud task claim {task}")),
        "{reason}"
    );
    assert!(!reason.contains('\n'), "{reason}");
    assert_eq!(report.replicas_needed, 0, "a given-up task needs nobody");
    // The idle TEE worker takes later work, never this task.
    let later = pool.deal(&tee_deal(app, 1)).await.unwrap();
    pool.wait_completed(&later.task_ids(), TIMEOUT)
        .await
        .unwrap();
    let report = fixtures::scheduler_task(&scheduler, task).await.unwrap();
    let holders: Vec<_> = report.replicates.iter().map(|r| r.worker).collect();
    assert_eq!(holders, vec![key.address()], "another worker got the task");
    assert_eq!(status(&chain, task).await, TaskStatus::Active);

    // Claimable after the final deadline: the requester's frozen price comes back.
    let view = chain.hub().task(task).call().await.unwrap();
    let init: u64 = view.initTime.to();
    let deadline =
        init + decloud_protocol::deadline::FINAL_DEADLINE_RATIO * assignment.work_clock_time_ref;
    let chain_now = decloud_client::lookup::chain_now(&chain, now())
        .await
        .unwrap();
    anvil::advance_time(&devnet, deadline.saturating_sub(chain_now) + 1)
        .await
        .unwrap();
    let balance_before = chain.hub().balanceOf(requester).call().await.unwrap();
    let frozen_before = chain.hub().frozenOf(requester).call().await.unwrap();
    let claimer = Client::connect(&pool.profile, None, Some(devnet.signer(REQUESTER)))
        .await
        .unwrap();
    let typed = decloud_protocol::typed::Deal::abi_decode(&assignment.deal).unwrap();
    let hub = claimer.hub();
    let call = hub.claim((&typed).into(), U256::from(assignment.index), Vec::new());
    claimer
        .send("claiming the task", call.into_transaction_request())
        .await
        .unwrap();
    assert_eq!(status(&chain, task).await, TaskStatus::Failed);
    let balance_after = chain.hub().balanceOf(requester).call().await.unwrap();
    let frozen_after = chain.hub().frozenOf(requester).call().await.unwrap();
    assert_eq!(
        frozen_before - frozen_after,
        price,
        "the task's price stays frozen"
    );
    assert_eq!(
        balance_after - balance_before,
        price,
        "the refund is not the task's price"
    );
}
