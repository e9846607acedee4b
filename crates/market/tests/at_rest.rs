//! The measure of defect 6 of the "hostile workers" issue: what the market costs at rest as its
//! book grows. The follower re-reads only the orders an event names and closes expired orders
//! with one statement, so its CPU must not grow with the number of open orders. Prints
//! figures, asserts none (a shared machine is too noisy for a timed assertion):
//! `cargo nextest run --workspace -E 'test(market_at_rest)' --run-ignored only --no-capture`.

use std::time::{Duration, Instant};

use alloy::primitives::{Address, B256};
use decloud_market::{BookEntry, MarketConfig, MarketLimits, OrderBook, OrderKind, OrderStatus};
use decloud_testkit::Devnet;

/// CPU time (user + system) this process used so far, from `/proc/self/stat`.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // Fields after the command name (which is in parentheses and may hold spaces).
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // The kernel's USER_HZ is 100 on every Linux this runs on.
    Duration::from_millis(ticks * 10)
}

/// An open request order with no expiry, as the book stores what it accepted.
fn open_order(i: u64) -> BookEntry {
    let mut hash = [0u8; 32];
    hash[24..].copy_from_slice(&i.to_be_bytes());
    BookEntry {
        hash: B256::from(hash),
        kind: OrderKind::Request,
        resource: Address::repeat_byte(0xaa),
        signer: Address::repeat_byte((i % 251) as u8),
        price: i % 100,
        volume: 1,
        remaining: 1,
        tag: B256::ZERO,
        category: Some(0),
        trust: Some(1),
        workerpool: None,
        dataset: None,
        expiry: 0,
        status: OrderStatus::Open,
        order: serde_json::json!({}),
    }
}

/// CPU seconds per minute the market spends with `orders` open orders in its book, following
/// a chain of 1-second blocks with nothing in them, over `window`.
async fn cpu_at_rest(devnet: &Devnet, orders: u64, window: Duration) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let database_url = format!("sqlite://{}", dir.path().join("market.db").display());
    let book = OrderBook::open(&database_url).await.unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    for i in 0..orders {
        book.insert(&open_order(i), now).await.unwrap();
    }
    drop(book);
    let market = decloud_market::start(MarketConfig {
        transport: decloud_service::transport::Transport::ephemeral(),
        listen: ([127, 0, 0, 1], 0).into(),
        database_url,
        profile: devnet.profile().clone(),
        follow_interval: Duration::from_secs(1),
        limits: MarketLimits::default(),
    })
    .await
    .unwrap();
    // Let the first passes (which read the chain from its start) settle.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (cpu0, t0) = (cpu_time(), Instant::now());
    tokio::time::sleep(window).await;
    let (cpu, elapsed) = (cpu_time() - cpu0, t0.elapsed());
    market.stop().await;
    cpu.as_secs_f64() * 60.0 / elapsed.as_secs_f64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: prints figures, takes a minute and a half"]
async fn market_at_rest_costs_the_same_with_100_or_10000_open_orders() {
    let devnet = Devnet::start_with_block_time(1).await.unwrap();
    let window = Duration::from_secs(30);
    println!("| open orders | market CPU at rest (CPU seconds per minute) |");
    println!("|---|---|");
    let mut figures = Vec::new();
    for orders in [100, 10_000] {
        let cpu = cpu_at_rest(&devnet, orders, window).await;
        println!("| {orders} | {cpu:.3} |");
        figures.push(cpu);
    }
    println!(
        "ratio (10,000 / 100): {:.2}",
        figures[1] / figures[0].max(1e-9)
    );
}
