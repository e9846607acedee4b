//! `decloud devnet up | down | status`: a local chain with the protocol deployed.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use decloud_chain::devnet::{self, DEV_ACCOUNT_FUNDS, DownReport, UpOptions};
use decloud_chain::{ChainProfile, accounts};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

/// Arguments of `decloud devnet`.
#[derive(Args)]
pub(crate) struct DevnetArgs {
    #[command(subcommand)]
    command: DevnetCommand,
}

#[derive(Subcommand)]
enum DevnetCommand {
    /// Start anvil, deploy the contracts, fund the development accounts, write the chain profile.
    #[command(after_help = "Examples:\n  \
        decloud devnet up                     # 1-second blocks on 127.0.0.1:8545\n  \
        decloud devnet up --instant           # mine every transaction at once (tests)\n  \
        decloud devnet up --port 9545\n  \
        decloud devnet up --rpc http://127.0.0.1:8545   # deploy onto a dev chain already running")]
    Up {
        /// Port for anvil on 127.0.0.1.
        #[arg(long, default_value_t = 8545)]
        port: u16,
        /// Seconds between blocks.
        #[arg(long, default_value_t = 1, conflicts_with = "instant")]
        block_time: u64,
        /// Mine each transaction as soon as it arrives.
        #[arg(long)]
        instant: bool,
        /// Deploy onto this running dev chain (whose account 0 is the well-known dev key) instead
        /// of starting anvil.
        #[arg(long, value_name = "URL")]
        rpc: Option<String>,
    },
    /// Give an account ether (for gas) and devnet tokens, e.g. a wallet made with `wallet create`.
    #[command(after_help = "Examples:\n  \
        decloud devnet fund 0x70997970C51812dc3A010C7d01b50e0d17dc79C8\n  \
        decloud devnet fund 0x7099...79C8 --ether 5 --tokens 2500")]
    Fund {
        /// The account to fund.
        address: alloy::primitives::Address,
        /// Whole ether to set its balance to.
        #[arg(long, default_value_t = 100)]
        ether: u64,
        /// Whole devnet tokens (DCT) to mint to it (at most 1,000,000).
        #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(0..=1_000_000))]
        tokens: u64,
    },
    /// Stop the anvil that `devnet up` started (and nothing else).
    #[command(after_help = "Example:\n  decloud devnet down")]
    Down,
    /// Say whether the devnet runs, which chain the profile names, and whether it answers.
    #[command(after_help = "Examples:\n  decloud devnet status\n  decloud devnet status --json")]
    Status {
        /// Ask this RPC endpoint instead of the profile's.
        #[arg(long, value_name = "URL")]
        rpc: Option<String>,
    },
}

/// Runs `decloud devnet <verb>` with data under `home`.
pub(crate) async fn run(args: DevnetArgs, home: &Path, json: bool) -> anyhow::Result<()> {
    match args.command {
        DevnetCommand::Up {
            port,
            block_time,
            instant,
            rpc,
        } => up(home, port, (!instant).then_some(block_time), rpc, json).await,
        DevnetCommand::Down => down(home),
        DevnetCommand::Fund {
            address,
            ether,
            tokens,
        } => fund(home, address, ether, tokens).await,
        DevnetCommand::Status { rpc } => status(home, rpc.as_deref(), json).await,
    }
}

async fn up(
    home: &Path,
    port: u16,
    block_time: Option<u64>,
    rpc: Option<String>,
    json: bool,
) -> anyhow::Result<()> {
    let spinner = ProgressBar::new_spinner()
        .with_style(ProgressStyle::with_template("{spinner} {msg} {elapsed}")?);
    if json {
        spinner.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    spinner.enable_steady_tick(Duration::from_millis(100));
    spinner.set_message(match &rpc {
        Some(url) => format!("deploying onto {url}"),
        None => format!(
            "starting anvil on port {port}, deploying the contracts, funding the dev accounts"
        ),
    });
    let report = devnet::up(UpOptions {
        home: home.to_path_buf(),
        port,
        block_time,
        rpc,
    })
    .await;
    spinner.finish_and_clear();
    let report = report?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "profile": report.profile,
                "profile_path": report.profile_path,
                "process": report.process,
            }))?
        );
        return Ok(());
    }
    match &report.process {
        Some(p) => println!(
            "devnet up: anvil pid {} on {} ({})",
            p.pid,
            p.rpc_url,
            describe_block_time(p.block_time)
        ),
        None => println!("deployed onto {}", report.profile.rpc_url),
    }
    print_profile(&report.profile);
    println!(
        "funded:     {} development accounts with {} DCT each (keys: anvil's well-known test keys)",
        accounts::DEV_PRIVATE_KEYS.len(),
        thousands(DEV_ACCOUNT_FUNDS / 1_000_000_000)
    );
    println!("profile:    {}", report.profile_path.display());
    Ok(())
}

async fn fund(
    home: &Path,
    address: alloy::primitives::Address,
    ether: u64,
    tokens: u64,
) -> anyhow::Result<()> {
    use alloy::primitives::U256;
    let profile = ChainProfile::load(home)?;
    let wei = U256::from(ether) * U256::from(10u64).pow(U256::from(18));
    let nano = U256::from(tokens) * U256::from(1_000_000_000u64);
    devnet::fund(&profile, address, wei, nano).await?;
    println!(
        "funded {address}: balance set to {ether} ether, {} DCT minted",
        thousands(tokens)
    );
    Ok(())
}

fn down(home: &Path) -> anyhow::Result<()> {
    match devnet::down(home)? {
        DownReport::Stopped { pid } => println!("devnet down: stopped anvil (pid {pid})"),
        DownReport::NotRunning => println!("devnet down: no devnet started by decloud is running"),
    }
    Ok(())
}

async fn status(home: &Path, rpc: Option<&str>, json: bool) -> anyhow::Result<()> {
    let status = devnet::status(home, rpc)
        .await
        .context("reading the devnet status")?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "running": status.process.is_some(),
                "process": status.process,
                "profile": status.profile,
                "block_number": status.block_number,
                "rpc_error": status.rpc_error,
            }))?
        );
    } else {
        match &status.process {
            Some(p) => println!(
                "devnet:     running, anvil pid {} on {} ({})",
                p.pid,
                p.rpc_url,
                describe_block_time(p.block_time)
            ),
            None => println!("devnet:     not running (start one with `decloud devnet up`)"),
        }
        match &status.profile {
            Some(profile) => print_profile(profile),
            None => println!("profile:    none under {}", home.display()),
        }
        // An unreachable chain is reported once, as the error below.
        if let Some(n) = status.block_number {
            println!("chain:      answers, latest block {n}");
        }
    }
    // A status that cannot reach the chain it was asked about is a failure for scripts.
    if let Some(e) = status.rpc_error {
        anyhow::bail!(e);
    }
    Ok(())
}

fn print_profile(profile: &ChainProfile) {
    println!(
        "rpc:        {} (chain id {})",
        profile.rpc_url, profile.chain_id
    );
    println!(
        "deployed:   at block {}, admin {}",
        profile.deployment_block, profile.admin
    );
    println!("token:      {}", profile.contracts.token);
}

fn describe_block_time(block_time: Option<u64>) -> String {
    match block_time {
        Some(s) => format!("a block every {s} s"),
        None => "instant mining".into(),
    }
}

/// `1234567` as `1,234,567`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::thousands;

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(1_000_000), "1,000,000");
        assert_eq!(thousands(12_345_678), "12,345,678");
    }
}
