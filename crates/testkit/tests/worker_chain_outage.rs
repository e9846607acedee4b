//! Workers that lose the chain for a while: their RPC goes through a proxy the test cuts. The
//! scheduler still reaches the chain and hands the replicated task out; both workers compute it
//! while the chain is unreachable to them. A worker must not give up a step the chain failed
//! transiently (its replicate would be reassigned to nobody, or a contribution already on chain
//! would never be revealed): once the proxy heals, both contribute and reveal and the task
//! completes.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use decloud_chain::client::Client;
use decloud_chain::contracts::IHub;
use decloud_testkit::pool::{DealRequest, Pool, PoolOptions};
use decloud_testkit::{Devnet, fixtures};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// A TCP proxy to `upstream` that can be cut: while cut, new connections are closed at once and
/// the open ones are dropped.
struct Proxy {
    url: String,
    cut: Arc<AtomicBool>,
    dropped: watch::Sender<u64>,
}

impl Proxy {
    async fn start(upstream: &str) -> Self {
        let upstream = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let cut = Arc::new(AtomicBool::new(false));
        let (dropped, _) = watch::channel(0u64);
        let (is_cut, drops) = (cut.clone(), dropped.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if is_cut.load(Ordering::SeqCst) {
                    continue; // dropped: the connection closes
                }
                let upstream = upstream.clone();
                let mut dropped = drops.subscribe();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = dropped.changed() => {}
                    }
                });
            }
        });
        Self { url, cut, dropped }
    }

    fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        self.dropped.send_modify(|n| *n += 1);
    }

    fn heal(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn workers_cut_off_the_chain_while_they_compute_contribute_once_it_is_back() {
    let devnet = Devnet::start().await.unwrap();
    let proxy = Proxy::start(devnet.rpc_url()).await;
    let pool = Pool::start(
        &devnet,
        PoolOptions {
            workers: 2,
            worker_rpc: Some(proxy.url.clone()),
            ..PoolOptions::default()
        },
    )
    .await
    .unwrap();
    let chain = Client::connect(&pool.profile, None, None).await.unwrap();
    let app = pool
        .deploy_app("greeting", &fixtures::example_app("greeting").unwrap())
        .await
        .unwrap();

    proxy.cut();
    let deal = pool
        .deal(&DealRequest::new(app).trust(3).args("outage"))
        .await
        .unwrap();
    let task = deal.task_ids()[0];
    // Both workers get a replicate, compute it, and find the chain unreachable.
    let scheduler = pool.scheduler_url().unwrap();
    fixtures::eventually(
        Duration::from_secs(60),
        "two replicates assigned",
        || async {
            let report = fixtures::scheduler_task(&scheduler, task).await?;
            (report.replicates.len() >= 2).then_some(())
        },
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert!(
        fixtures::hub_events::<IHub::TaskContribute>(&chain, task)
            .await
            .unwrap()
            .is_empty(),
        "a worker reached the chain through a cut proxy"
    );
    proxy.heal();

    pool.wait_completed(&[task], Duration::from_secs(120))
        .await
        .unwrap();
    let contributions = fixtures::hub_events::<IHub::TaskContribute>(&chain, task)
        .await
        .unwrap();
    assert_eq!(contributions.len(), 2, "each worker contributed once");
    let report = fixtures::scheduler_task(&scheduler, task).await.unwrap();
    assert!(
        report.replicates.iter().all(|r| r.reason.is_none()),
        "no replicate failed: {:?}",
        report.replicates
    );
}
