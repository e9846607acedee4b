//! Every service handle stops its service when dropped: its port stops answering, and a
//! connection kept open across the drop is closed.

use std::net::SocketAddr;
use std::time::Duration;

use decloud_local::node::{Node, NodeConfig};
use decloud_local::{Devnet, Pool, PoolOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Whether something accepts connections on `addr`.
async fn answers(addr: SocketAddr) -> bool {
    TcpStream::connect(addr).await.is_ok()
}

/// Waits (a little) for `addr` to stop accepting connections.
async fn stops_answering(addr: SocketAddr) -> bool {
    for _ in 0..100 {
        if !answers(addr).await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

/// An HTTP/1.1 connection kept alive after one answered request.
async fn kept_alive(addr: SocketAddr, path: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut buf = [0u8; 4096];
    let n = stream.read(&mut buf).await.unwrap();
    assert!(
        buf[..n].starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
    stream
}

/// Whether the server closed `stream` (reads end) within a few seconds.
async fn closed(mut stream: TcpStream) -> bool {
    let mut buf = [0u8; 64];
    matches!(
        tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await,
        Ok(Ok(0) | Err(_))
    )
}

#[tokio::test]
async fn a_dropped_storage_node_stops_answering() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(NodeConfig {
        storage: Some(decloud_storage::StorageConfig {
            transport: decloud_service::transport::Transport::InsecureHttp,
            location: dir.path().display().to_string(),
            listen: ([127, 0, 0, 1], 0).into(),
            server: decloud_storage::ServerConfig::default(),
        }),
        ..NodeConfig::default()
    })
    .await
    .unwrap();
    let addr = node.storage().unwrap().addr();
    assert!(answers(addr).await);
    let connection = kept_alive(addr, "/health").await;
    drop(node);
    assert!(stops_answering(addr).await, "{addr} still answers");
    assert!(closed(connection).await, "a kept-alive connection survived");
}

#[tokio::test]
async fn a_dropped_market_stops_answering() {
    let devnet = Devnet::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(NodeConfig {
        market: Some(decloud_market::MarketConfig {
            transport: decloud_service::transport::Transport::InsecureHttp,
            listen: ([127, 0, 0, 1], 0).into(),
            database_url: format!("sqlite://{}", dir.path().join("orders.db").display()),
            profile: devnet.profile().clone(),
            follow_interval: Duration::from_secs(1),
            limits: decloud_market::MarketLimits::default(),
        }),
        ..NodeConfig::default()
    })
    .await
    .unwrap();
    let addr = node.market().unwrap().addr();
    assert!(answers(addr).await);
    drop(node);
    assert!(stops_answering(addr).await, "{addr} still answers");
}

#[tokio::test]
async fn a_dropped_pool_stops_its_scheduler_and_storage() {
    let devnet = Devnet::start().await.unwrap();
    // Plain HTTP: the checks below speak HTTP/1.1 on raw sockets.
    let options = PoolOptions {
        plain_http: true,
        ..PoolOptions::default()
    };
    let mut pool = Pool::start(&devnet, options).await.unwrap();
    let scheduler = pool.scheduler().unwrap().addr();
    let storage = pool.node().storage().unwrap().addr();
    assert!(answers(scheduler).await && answers(storage).await);

    // A scheduler killed alone stops answering, and comes back on the same address.
    let connection = kept_alive(scheduler, "/v1/info").await;
    pool.kill_scheduler().await;
    assert!(
        stops_answering(scheduler).await,
        "{scheduler} still answers"
    );
    assert!(closed(connection).await, "a kept-alive connection survived");
    pool.start_scheduler().await.unwrap();
    assert_eq!(pool.scheduler().unwrap().addr(), scheduler);

    drop(pool);
    assert!(
        stops_answering(scheduler).await,
        "{scheduler} still answers"
    );
    assert!(stops_answering(storage).await, "{storage} still answers");
}
