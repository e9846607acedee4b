//! `decloud node --signer` and `decloud node --relay`: the two off-chain roles of oracles across
//! chains, read from `$DECLOUD_HOME/oracle.toml` (which `decloud devnet up --chains 2` writes).

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use decloud_oracle::profile::OracleProfile;
use decloud_oracle::relayer::{Relayer, RelayerConfig};
use decloud_oracle::signer::{SignerConfig, SignerNode};

use super::shared::{WalletOpts, stop_signals};

/// Default address of `decloud node --signer`.
pub(crate) const DEFAULT_SIGNER_LISTEN: &str = "127.0.0.1:7950";

/// The flags of the oracle roles.
#[derive(Args)]
#[command(next_help_heading = "Oracles across chains")]
pub(crate) struct OracleArgs {
    /// Run a committee signer: follow the source chain's proxy deals and sign each finalized
    /// task's delivery for its destination's gateway (the wallet must be staked in the
    /// committee; on a devnet, --devnet-member N signs as a devnet member).
    #[arg(long)]
    pub(crate) signer: bool,
    /// Address the signer serves its signatures on.
    #[arg(long = "signer-listen", default_value = DEFAULT_SIGNER_LISTEN, value_name = "ADDR")]
    signer_listen: SocketAddr,
    /// Blocks of the source chain left unsigned below its head (a signature is final: set it
    /// above the chain's reorg depth).
    #[arg(long = "signer-confirmations", default_value_t = 0, value_name = "N")]
    signer_confirmations: u64,
    /// On a devnet: sign (or relay) with the key of devnet committee member N (0, 1, 2) or
    /// development account N, instead of the wallet.
    #[arg(long = "devnet-member", value_name = "N")]
    devnet_member: Option<usize>,
    /// Run a relayer: collect the signers' signatures and deliver results to the gateway of
    /// the destination chain (anyone may; it earns the consumers' fees).
    #[arg(long)]
    pub(crate) relay: bool,
    /// A signer's URL (repeat for each).
    #[arg(long = "relay-signer", value_name = "URL")]
    relay_signers: Vec<String>,
    /// The destination chain id to deliver to [default: the profile's first].
    #[arg(long = "relay-chain", value_name = "CHAIN_ID")]
    relay_chain: Option<u64>,
    /// Most deliveries per transaction.
    #[arg(long = "relay-batch", default_value_t = 50, value_name = "N")]
    relay_batch: usize,
    /// Milliseconds between two passes over the chain or the signers.
    #[arg(long = "oracle-poll-ms", default_value_t = 500, value_name = "MS")]
    oracle_poll_ms: u64,
}

impl OracleArgs {
    /// Whether an oracle role was asked for.
    pub(crate) fn any(&self) -> bool {
        self.signer || self.relay
    }
}

/// Runs the chosen oracle roles until Ctrl-C or SIGTERM.
pub(crate) async fn run(args: OracleArgs, wallet: &WalletOpts, home: &Path) -> anyhow::Result<()> {
    let profile = OracleProfile::load(home)?;
    let poll = Duration::from_millis(args.oracle_poll_ms.max(50));
    let devnet = decloud_protocol::is_devnet_chain_id(profile.source.chain_id);
    if args.devnet_member.is_some() && !devnet {
        bail!("--devnet-member uses public test keys: only on a devnet; use --wallet elsewhere");
    }
    let mut signer_node = None;
    if args.signer {
        let key = match args.devnet_member {
            Some(n) => decloud_oracle::deploy::devnet_member_keys(n + 1)
                .pop()
                .context("a devnet member index")?,
            None => wallet.unlock(home)?,
        };
        let node = SignerNode::start(SignerConfig {
            listen: args.signer_listen,
            profile: profile.clone(),
            key,
            poll,
            confirmations: args.signer_confirmations,
        })
        .await?;
        println!(
            "signer: member {} signing proxy deliveries, serving them on {}",
            node.address(),
            node.url()
        );
        signer_node = Some(node);
    }
    let mut relay_task = None;
    if args.relay {
        let destination = match args.relay_chain {
            Some(id) => profile.destination(id).cloned().with_context(|| {
                format!(
                    "chain {id} is not a destination of {}",
                    OracleProfile::path(home).display()
                )
            })?,
            None => profile
                .destinations
                .first()
                .cloned()
                .context("the oracle profile names no destination chain")?,
        };
        let mut signers = args.relay_signers.clone();
        if signers.is_empty() {
            match &signer_node {
                Some(node) => signers.push(node.url()),
                None => bail!("--relay needs at least one --relay-signer URL"),
            }
        }
        let key = match args.devnet_member {
            Some(n) if n < decloud_chain::accounts::DEV_PRIVATE_KEYS.len() => {
                decloud_chain::accounts::dev_signer(n)
            }
            Some(n) => bail!("there are 10 development accounts; {n} is not one"),
            None => wallet.unlock(home)?,
        };
        let relayer = Relayer::new(RelayerConfig {
            destination: destination.clone(),
            signers: signers.clone(),
            key,
            batch: args.relay_batch.max(1),
            poll,
        })?;
        println!(
            "relayer: {} delivering to gateway {} on chain {} from {} signer(s)",
            relayer.address(),
            destination.gateway,
            destination.chain_id,
            signers.len()
        );
        relay_task = Some(tokio::spawn(relayer.run()));
    }
    let signal = stop_signals().await;
    if let Some(task) = relay_task {
        task.abort();
    }
    drop(signer_node);
    println!("node: stopped on {signal}");
    Ok(())
}
