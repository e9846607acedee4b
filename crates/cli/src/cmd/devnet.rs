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
        decloud devnet up --rpc http://127.0.0.1:8545   # deploy onto a dev chain already running\n  \
        decloud devnet up --chains 2          # and chain B (id 31338, port + 1) with an oracle gateway")]
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
        /// 2: also start chain B (chain id 31338, on port + 1) with a gateway, deploy the
        /// oracle committee on A, staked by the devnet members, and write
        /// $DECLOUD_HOME/oracle.toml (oracles across chains, see docs/oracles.md).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=2))]
        chains: u8,
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
            chains,
        } => {
            let with_b = chains == 2;
            if with_b && rpc.is_some() {
                anyhow::bail!("--chains 2 starts its own chains: leave out --rpc");
            }
            up(home, port, (!instant).then_some(block_time), rpc, json).await?;
            if with_b {
                up_chain_b(home, port.saturating_add(1), json).await?;
            }
            Ok(())
        }
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

async fn up_chain_b(home: &Path, port: u16, json: bool) -> anyhow::Result<()> {
    let a = ChainProfile::load(home)?;
    let (profile, process) = decloud_oracle::devnet::up_chain_b(home, &a, port)
        .await
        .context("starting chain B")?;
    let b = &profile.destinations[0];
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({ "oracle": profile, "chain_b": process }))?
        );
        return Ok(());
    }
    println!(
        "chain B:    anvil pid {} on {} (chain id {}, instant mining)",
        process.pid, process.rpc_url, b.chain_id
    );
    println!("gateway:    {} (work passes {})", b.gateway, b.passes);
    println!(
        "committee:  {} on A, {} devnet members staked, {} signatures per delivery",
        profile.source.committee,
        decloud_oracle::devnet::DEVNET_MEMBERS,
        decloud_oracle::devnet::DEVNET_THRESHOLD
    );
    println!(
        "oracle:     {}",
        decloud_oracle::profile::OracleProfile::path(home).display()
    );
    Ok(())
}

fn down(home: &Path) -> anyhow::Result<()> {
    if let Some(pid) = decloud_oracle::devnet::down_chain_b(home)? {
        println!("devnet down: stopped chain B's anvil (pid {pid})");
    }
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
                "chain_b": decloud_oracle::devnet::running_chain_b(home),
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
        if let Some(b) = decloud_oracle::devnet::running_chain_b(home) {
            println!("chain B:    running, anvil pid {} on {}", b.pid, b.rpc_url);
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
