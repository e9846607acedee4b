//! Starting the configured services, saying what each serves, and supervising them until one
//! stops or Ctrl-C or SIGTERM stops them all.

use anyhow::bail;
use decloud_local::LocalError;
use decloud_local::node::{Node, Stopped};
use std::path::Path;

use super::NodeArgs;
use super::config::Plan;

/// Logs of the services on stderr (`RUST_LOG` overrides the level).
pub(crate) fn init_logs(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Starts the services of `plan`, prints what each serves, and runs until one stops (an error)
/// or `stop` resolves (every service stopped, `Ok`).
pub(super) async fn serve(
    args: &NodeArgs,
    home: &Path,
    plan: Plan,
    stop: impl Future<Output = &'static str>,
) -> anyhow::Result<()> {
    let NodeArgs {
        scheduler,
        beacon,
        sms,
        ..
    } = args;
    let Plan {
        config,
        profile,
        workerpool,
        storage_location,
    } = plan;
    let node = Node::start(config).await.map_err(explain)?;
    if let Some(b) = node.beacon() {
        let info = b.info();
        println!(
            "beacon: a {}-of-{} group, a round every {} s from {}, on {} (key {})",
            beacon.beacon_threshold,
            beacon.beacon_members,
            info.period,
            info.genesis_time,
            b.url(),
            info.public_key
        );
    }
    if let Some(s) = node.storage() {
        println!("storage: serving {storage_location} on {}", s.url());
    }
    if let Some(m) = node.market() {
        println!("market: serving the order book on {}", m.url());
    }
    if let Some(s) = node.sms() {
        let role = if sms.keeper {
            "keeper (holds only its shares)"
        } else {
            "sms"
        };
        println!(
            "{role}: {}, serving secrets on {}",
            s.announcement(),
            s.url()
        );
        if let (Some(url), Some(profile)) = (&sms.public_url, &profile) {
            let signer = scheduler.wallet.unlock(home)?;
            let line = crate::cmd::keeper::publish_at_start(profile, signer, url, &s.url()).await?;
            println!("{role}: {line}");
        }
    }
    if let (Some(s), Some(pool)) = (node.scheduler(), workerpool) {
        println!(
            "scheduler: workerpool {pool}, workers log in at {}",
            s.url()
        );
    }
    if let Some(e) = node.explorer() {
        println!("explorer: open {} in a browser", e.url());
    }
    let workers_url = node.workers_scheduler_url().unwrap_or_default();
    for i in 0..node.worker_count() {
        if let Some(w) = node.worker(i) {
            println!(
                "worker {}: {} working for {workers_url}",
                i + 1,
                w.address()
            );
        }
    }

    tokio::select! {
        stopped = node.wait() => match stopped {
            Stopped::Storage(r) => {
                r?;
                bail!("the storage service stopped")
            }
            Stopped::Market => bail!("the market stopped"),
            Stopped::Sms => bail!("the secret management service stopped"),
            Stopped::Scheduler => bail!("the scheduler stopped"),
            Stopped::Explorer => bail!("the explorer stopped"),
            Stopped::Beacon(r) => {
                r?;
                bail!("the beacon stopped")
            }
        },
        signal = stop => {
            // select! has dropped `node.wait()`, and the node with it, before this branch runs:
            // the listeners are closed, the workers stopped before their scheduler and storage,
            // and the databases closed.
            println!("node: stopped on {signal}");
            Ok(())
        }
    }
}

/// Names the flag that fixes a service that cannot listen.
fn explain(e: LocalError) -> anyhow::Error {
    match e {
        LocalError::Storage(e @ decloud_storage::StorageError::Listen { .. }) => {
            anyhow::Error::new(e)
                .context("the storage service cannot start: pass another --storage-listen")
        }
        LocalError::Beacon(e @ decloud_beacon::node::NodeError::Listen { .. }) => {
            anyhow::Error::new(e).context("the beacon cannot start: pass another --beacon-listen")
        }
        e => e.into(),
    }
}
