//! The explorer in a real browser: a devnet pool runs real tasks (one whose first replicate
//! fails with a reason holding `<script>`), the explorer indexes them and pulls the scheduler's
//! trace, and headless Chromium loads every page, follows links, searches, and watches a task
//! go from ACTIVE to COMPLETED without reloading.
//!
//! Set `DECLOUD_SCREENSHOTS=<dir>` to write the screenshots of the main pages there
//! (`docs/explorer/` holds the committed ones).

mod common;

use std::time::Duration;

use alloy::primitives::{B256, U256};
use decloud_explorer::{ExplorerConfig, RunningExplorer};
use decloud_protocol::pool::{Report, ReportStatus};
use decloud_testkit::fixtures::{eventually, example_app};
use decloud_testkit::hostile::Hostile;
use decloud_testkit::pool::{DealRequest, PoolOptions, REQUESTER};
use decloud_testkit::{Devnet, pool::Pool};
use serde_json::Value;

use common::{Browser, dump_dom, screenshot};

const REASON: &str = "<script>alert('pwned')</script> the input could not be downloaded";
const WAIT: Duration = Duration::from_secs(180);

async fn json(explorer: &RunningExplorer, path: &str) -> Value {
    let sep = if path.contains('?') { '&' } else { '?' };
    reqwest::get(format!("{}{path}{sep}format=json", explorer.url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Waits until the explorer's JSON twin of the task says `status` with `replicates` replicates.
async fn task_shows(explorer: &RunningExplorer, task: B256, status: &str, replicates: usize) {
    let path = format!("/task/{task}");
    eventually(WAIT, &format!("the explorer shows {task} {status}"), || {
        let path = path.clone();
        async move {
            let page = json(explorer, &path).await;
            (page["task"]["status"] == status
                && page["replicates"].as_array().map_or(0, Vec::len) >= replicates)
                .then_some(())
        }
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_reads_right_in_a_browser_and_updates_live() {
    let devnet = Devnet::start().await.unwrap();
    let mut pool = Pool::start(
        &devnet,
        PoolOptions {
            workers: 2,
            ..PoolOptions::default()
        },
    )
    .await
    .unwrap();
    // The honest workers wait, so that a liar gets the first task and fails it.
    pool.kill_worker(0).await;
    pool.kill_worker(1).await;
    let db = tempfile::tempdir().unwrap();
    let mut config = ExplorerConfig::new(
        devnet.profile().clone(),
        &format!("sqlite://{}", db.path().join("explorer.db").display()),
    );
    config.schedulers = vec![pool.scheduler_url().unwrap()];
    let explorer = decloud_explorer::start(config).await.unwrap();
    let url = explorer.url();

    let app = pool
        .deploy_app("greeting", &example_app("greeting").unwrap())
        .await
        .unwrap();
    let liar = Hostile::funded(&pool, 1, U256::from(10_000_000_000u64))
        .await
        .unwrap();
    let deal = pool
        .deal(&DealRequest::new(app).args("explorer"))
        .await
        .unwrap();
    let task = deal.task_ids()[0];
    let assignment = liar
        .claim(Duration::from_secs(60))
        .await
        .unwrap()
        .expect("the liar got the task");
    assert_eq!(assignment.task_id, task);
    liar.report(
        task,
        &Report {
            status: ReportStatus::Failed,
            reason: Some(REASON.into()),
            results_location: None,
            callback_data: None,
            stages: None,
        },
    )
    .await
    .unwrap();
    pool.start_worker(0).await.unwrap();
    pool.wait_completed(&[task], WAIT).await.unwrap();
    task_shows(&explorer, task, "COMPLETED", 2).await;

    // The task page: replicates with their stages, the failure's reason as text, not as code.
    let html = dump_dom(&format!("{url}/task/{task}")).await;
    assert!(html.contains("COMPLETED"), "{html}");
    assert!(
        html.contains(">revealed<") && html.contains(">failed<"),
        "{html}"
    );
    assert!(
        html.contains(
            "&lt;script&gt;alert('pwned')&lt;/script&gt; the input could not be downloaded"
        ),
        "the reason is shown as text: {html}"
    );
    assert!(
        !html.contains("<script>alert"),
        "the reason ran as a script"
    );
    for event in ["TaskInitialize", "TaskContribute", "TaskFinalize"] {
        assert!(html.contains(event), "{event} missing: {html}");
    }
    let worker = format!("{:#x}", pool.worker_address(0));
    assert!(html.contains(&format!("/worker/{worker}")), "{html}");
    assert!(html.contains("<svg class=\"timeline\""), "{html}");
    // The honest worker's stages as it reported them, labelled as its claims.
    for stage in ["download", "run", "upload", "contribute"] {
        assert!(
            html.contains(&format!("data-stage=\"{stage}\"")),
            "{stage} missing: {html}"
        );
    }
    assert!(
        html.contains(" fuel") && html.contains("their claims"),
        "{html}"
    );

    // The JSON twin carries the scheduler's text as it was sent.
    let twin = json(&explorer, &format!("/task/{task}")).await;
    let reasons: Vec<&str> = twin["replicates"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["reason"].as_str())
        .collect();
    assert_eq!(reasons, vec![REASON]);
    let honest = twin["replicates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["status"] == "revealed")
        .unwrap();
    assert!(
        honest["stages"]["run"]["fuel"].as_u64().unwrap() > 0
            && honest["stages"]["upload"]["bytes"].as_u64().unwrap() > 0,
        "{honest}"
    );

    // The deal page lists the task; following its link lands on the task.
    let deal_html = dump_dom(&format!("{url}/deal/{}", deal.id())).await;
    let href = format!("href=\"/task/{task}\"");
    assert!(deal_html.contains(&href), "{deal_html}");
    let followed = dump_dom(&format!("{url}/task/{task}")).await;
    assert!(
        followed.contains(&format!("Task {}", &format!("{task}")[..8])),
        "{followed}"
    );

    // Overview, worker, app, workerpool and requester pages read right.
    let overview = dump_dom(&format!("{url}/")).await;
    assert!(
        overview.contains("Live feed") && overview.contains("Finalize"),
        "{overview}"
    );
    let worker_html = dump_dom(&format!("{url}/worker/{worker}")).await;
    assert!(worker_html.contains(&href), "{worker_html}");
    assert!(worker_html.contains("Tasks won"), "{worker_html}");
    let liar_html = dump_dom(&format!("{url}/worker/{:#x}", liar.address())).await;
    assert!(liar_html.contains("&lt;script&gt;alert"), "{liar_html}");
    let app_html = dump_dom(&format!("{url}/app/{app:#x}")).await;
    assert!(app_html.contains("greeting"), "{app_html}");
    assert!(
        app_html.contains(&format!("/deal/{}", deal.id())),
        "{app_html}"
    );
    let pool_html = dump_dom(&format!("{url}/workerpool/{:#x}", pool.workerpool)).await;
    assert!(
        pool_html.contains(&href) && pool_html.contains("WorkerJoined"),
        "{pool_html}"
    );
    let requester = format!("{:#x}", devnet.signer(REQUESTER).address());
    let requester_html = dump_dom(&format!("{url}/requester/{requester}")).await;
    assert!(
        requester_html.contains(&format!("/deal/{}", deal.id())),
        "{requester_html}"
    );

    // Search by a task id in capitals lands on the task; nonsense says what to paste.
    let upper = format!("0x{}", format!("{task}")[2..].to_uppercase());
    let found = dump_dom(&format!("{url}/search?q={upper}")).await;
    assert!(found.contains("id=\"task-status\""), "{found}");
    let tx = twin["events"]["rows"][0]["tx"].as_str().unwrap().to_owned();
    let tx_html = dump_dom(&format!("{url}/search?q={tx}")).await;
    assert!(
        tx_html.contains("Transaction") && tx_html.contains("TaskInitialize"),
        "{tx_html}"
    );
    let nothing = dump_dom(&format!("{url}/search?q=hello")).await;
    assert!(nothing.contains("Paste a task id"), "{nothing}");
    let unknown = dump_dom(&format!("{url}/task/0x{}", "ab".repeat(32))).await;
    assert!(
        unknown.contains("indexed the chain up to block"),
        "{unknown}"
    );

    // Live: a task at trust 3 needs two agreeing workers. The one running contributes (the
    // task is ACTIVE on chain), the page opens, then the second worker starts: the page turns
    // COMPLETED by itself, in the same document.
    let second = pool
        .deal(&DealRequest::new(app).args("live").trust(3))
        .await
        .unwrap();
    let live = second.task_ids()[0];
    task_shows(&explorer, live, "ACTIVE", 1).await;
    let mut browser = Browser::open(&format!("{url}/task/{live}")).await;
    assert!(
        browser
            .until(
                "document.getElementById('live') !== null && \
                 document.getElementById('live').textContent === 'live' && \
                 document.getElementById('task-status').textContent === 'ACTIVE'",
                Duration::from_secs(60)
            )
            .await,
        "the page did not open ACTIVE with its live connection"
    );
    browser.eval("window.sameDocument = 17").await;
    pool.start_worker(1).await.unwrap();
    assert!(
        browser
            .until(
                "document.getElementById('task-status').textContent === 'COMPLETED' && \
                 window.sameDocument === 17",
                WAIT
            )
            .await,
        "the page did not turn COMPLETED by itself"
    );
    // The second worker's replicate comes from the scheduler's trace, announced on its own.
    assert!(
        browser
            .until(
                "document.querySelectorAll('td[data-label=Stage]').length === 2",
                WAIT
            )
            .await,
        "the page did not show both replicates by itself"
    );
    // A replicated task's end moves its workers' scores: the worker page charts them.
    let scores = json(&explorer, &format!("/worker/{worker}")).await;
    assert!(!scores["scores"].as_array().unwrap().is_empty(), "{scores}");
    let worker_html = dump_dom(&format!("{url}/worker/{worker}")).await;
    assert!(worker_html.contains("class=\"spark\""), "{worker_html}");

    // Screenshots of the main pages (into DECLOUD_SCREENSHOTS when set, else a scratch dir).
    let shots = std::env::var("DECLOUD_SCREENSHOTS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| db.path().to_path_buf());
    std::fs::create_dir_all(&shots).unwrap();
    for (name, path, w, h) in [
        ("overview.png", "/".to_string(), 1280, 900),
        ("task.png", format!("/task/{live}"), 1280, 1300),
        ("deal.png", format!("/deal/{}", second.id()), 1280, 1000),
        ("worker.png", format!("/worker/{worker}"), 1280, 900),
        ("task-failure.png", format!("/task/{task}"), 1280, 1300),
        ("task-phone.png", format!("/task/{live}"), 412, 1400),
    ] {
        let file = shots.join(name);
        screenshot(&format!("{url}{path}"), &file, w, h).await;
        let png = std::fs::read(&file).unwrap();
        assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "{name}");
    }
}
