//! `decloud demo --oracle`: a price feed on chain B fed by the median of replicated tasks run on
//! chain A, through the committee's signers and a relayer (docs/oracles.md). Everything runs on
//! this machine and stops when the demo ends.

use std::path::Path;
use std::time::{Duration, Instant};

use alloy::primitives::{I256, U256, keccak256};
use anyhow::{Context, bail};
use decloud_local::Devnet;
use decloud_local::pool::{DealRequest, Pool, PoolOptions};
use decloud_oracle::contracts::{Gateway, MedianFeed, WorkPasses};
use decloud_oracle::delivery::Destination;
use decloud_oracle::relayer::{Relayer, RelayerConfig};
use decloud_oracle::signer::{SignerConfig, SignerNode};
use serde_json::json;

use super::shared::print_json;

/// The feed's owner on chain B (development account 1).
const OWNER: usize = 1;
/// The relayer's account on chain B.
const RELAYER: usize = 9;
/// Price quotes each task takes the median of.
const QUOTES: &str = "3100 3090 3120 3105 3095";

fn say(json: bool, text: impl AsRef<str>) {
    if !json {
        println!("{}", text.as_ref());
    }
}

/// Runs the oracle demo with the median app read from `median_wasm`.
pub(crate) async fn run(median_wasm: &Path, timeout: Duration, json: bool) -> anyhow::Result<()> {
    let median = std::fs::read(median_wasm).with_context(|| {
        format!(
            "cannot read {}: run scripts/build-apps, or pass --apps <dir>",
            median_wasm.display()
        )
    })?;
    say(
        json,
        "decloud demo --oracle: a price feed on chain B fed by a median of replicated tasks on chain A\n",
    );
    let a = Devnet::start().await?;
    let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
    let port = decloud_chain::anvil::free_port()?;
    let b_node =
        decloud_oracle::devnet::start_chain_b(port, dir.path().join("anvil-b.log"), false, None)
            .await?;
    let profile = decloud_oracle::devnet::deploy_pair(a.profile(), b_node.rpc_url()).await?;
    let b = profile.destinations[0].clone();
    say(
        json,
        format!(
            "  chain A {} (id {}): the protocol and the committee {} (3 staked members, 2 signatures per delivery)",
            a.rpc_url(),
            profile.source.chain_id,
            profile.source.committee
        ),
    );
    say(
        json,
        format!(
            "  chain B {} (id {}): the gateway {}",
            b.rpc_url, b.chain_id, b.gateway
        ),
    );
    let pool = Pool::start(
        &a,
        PoolOptions {
            workers: 3,
            follow_interval: Duration::from_millis(200),
            ..PoolOptions::default()
        },
    )
    .await?;
    let app = pool.deploy_app("median", &median).await?;
    say(
        json,
        format!("  chain A: a workerpool of three workers, the median app {app}"),
    );

    let owner_b =
        decloud_oracle::deploy::provider(&b.rpc_url, decloud_chain::accounts::dev_signer(OWNER))?;
    let owner = decloud_chain::accounts::dev_signer(OWNER).address();
    let feed_id = keccak256("Price-ETH/USD-0");
    let feed = MedianFeed::deploy(
        &owner_b,
        b.gateway,
        feed_id,
        owner,
        U256::from(3),
        U256::from(100),
    )
    .await
    .context("deploying the feed on chain B")?;
    let terms = WorkPasses::Terms {
        scope: 1,
        usage: 1,
        uses: 0,
        notBefore: 0,
        notAfter: u64::MAX - 1,
        reason: 1,
        evidence: keccak256("the workerpool's committee-certified results"),
    };
    WorkPasses::new(b.passes, &owner_b)
        .grant(pool.workerpool, *feed.address(), terms, vec![])
        .send()
        .await?
        .get_receipt()
        .await?;
    let fee = U256::from(1_000_000_000u64);
    Gateway::new(b.gateway, &owner_b)
        .fund(*feed.address(), fee)
        .value(U256::from(10u64).pow(U256::from(17)))
        .send()
        .await?
        .get_receipt()
        .await?;
    say(
        json,
        format!(
            "  chain B: the feed {} (median of 3 results, outliers beyond 1 %), a work pass for the workerpool, 0.1 ether of relayer fees",
            feed.address()
        ),
    );

    let mut signers = Vec::new();
    for key in decloud_oracle::deploy::devnet_member_keys(decloud_oracle::devnet::DEVNET_MEMBERS) {
        signers.push(
            SignerNode::start(SignerConfig {
                listen: ([127, 0, 0, 1], 0).into(),
                profile: profile.clone(),
                key,
                poll: Duration::from_millis(200),
                confirmations: 0,
            })
            .await?,
        );
    }
    let mut relayer = Relayer::new(RelayerConfig {
        destination: b.clone(),
        signers: signers.iter().map(|s| s.url()).collect(),
        key: decloud_chain::accounts::dev_signer(RELAYER),
        batch: 10,
        poll: Duration::from_millis(200),
    })?;
    say(
        json,
        format!(
            "  off chain: 3 committee signers ({}), a relayer {}",
            signers
                .iter()
                .map(|s| s.url())
                .collect::<Vec<_>>()
                .join(", "),
            relayer.address()
        ),
    );

    let destination = Destination {
        chain_id: b.chain_id,
        gateway: b.gateway,
        consumer: *feed.address(),
        method: None,
        gas: None,
    };
    let started = Instant::now();
    let deal = pool
        .deal(
            &DealRequest::new(app)
                .args(QUOTES)
                .volume(3)
                .trust(3)
                .callback(profile.source.committee)
                .param("oracle", serde_json::to_value(&destination)?),
        )
        .await?;
    say(
        json,
        format!(
            "requester: a deal of 3 replicated tasks (trust 3) of the median of {QUOTES}, destination the feed on chain B: deal {}",
            deal.id()
        ),
    );
    pool.wait_completed(&deal.task_ids(), timeout).await?;
    say(
        json,
        format!(
            "chain A: the 3 tasks are certified and finalized ({:.1} s); the committee signs them",
            started.elapsed().as_secs_f64()
        ),
    );
    let deadline = Instant::now() + timeout;
    let (mut delivered, mut transactions, mut gas) = (0, 0, 0u64);
    while delivered < 3 {
        if Instant::now() > deadline {
            bail!("the relayer delivered {delivered} of 3 results in time");
        }
        let report = relayer.pass().await?;
        delivered += report.delivered;
        transactions += report.transactions;
        gas += report.gas_used;
        if let Some((task, why)) = report.refused.first() {
            bail!("the gateway refuses the delivery of task {task}: {why}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let answer = feed.valueFor(feed_id).call().await?;
    let value = answer._0;
    if answer._2 != U256::from(200) {
        bail!("the feed has no value after the deliveries");
    }
    let expected = I256::try_from(3100).expect("a small number");
    if json {
        print_json(&json!({
            "deal": deal.id(),
            "tasks": deal.task_ids(),
            "feed": feed.address(),
            "gateway": b.gateway,
            "value": value.to_string(),
            "timestamp": answer._1.to_string(),
            "deliveries": delivered,
            "transactions": transactions,
            "gas_used": gas,
            "gas_per_result": gas / delivered.max(1) as u64,
        }))?;
    } else {
        println!(
            "relayer: {delivered} results delivered to chain B in {transactions} transaction(s), {gas} gas ({} per result)",
            gas / delivered.max(1) as u64
        );
        println!(
            "chain B: feed.valueFor(Price-ETH/USD-0) = {value} (EIP-2362, status 200){}",
            if value == expected {
                ""
            } else {
                " — not the expected 3100"
            }
        );
    }
    drop(signers);
    drop(b_node);
    Ok(())
}
