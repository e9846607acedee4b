//! `decloud chain add | list | show | use | remove`: the chain profiles of chains decloud is
//! deployed on. A profile is a TOML file under `$DECLOUD_HOME/chains/` that an operator may also
//! write by hand (docs/chains.md lists its fields); `chain use` makes one the active profile
//! every other command and service reads.

use std::path::Path;

use alloy::primitives::Address;
use anyhow::Context;
use clap::{Args, Subcommand};
use decloud_chain::client::endpoint;
use decloud_chain::{ChainLimits, ChainProfile, NewChain};
use serde_json::json;

use super::shared::{Untrusted, print_json, table};

/// Arguments of `decloud chain`.
#[derive(Args)]
pub(crate) struct ChainArgs {
    #[command(subcommand)]
    command: ChainCommand,
}

#[derive(Subcommand)]
enum ChainCommand {
    /// Add the profile of a chain decloud is deployed on: checks the endpoint's chain id and
    /// that a hub answers at --hub, and reads the other contracts' addresses from it.
    #[command(after_help = "Examples:\n  \
        decloud chain add base --rpc https://base.example/v2/KEY --hub 0x5FbD...0aa3 --chain-id 8453\n  \
        decloud chain add testnet --rpc http://10.0.0.5:8545 --hub 0x5FbD...0aa3 --max-log-range 500 --use\n  \
        decloud chain add l2 --rpc URL --hub ADDR --deployment-block 1234567 --max-fee-gwei 2\n  \
        decloud chain add base --rpc URL --hub ADDR --beacon https://api.drand.sh/CHAIN_HASH")]
    Add {
        /// A name for the profile: letters, digits, '-' or '_'.
        name: String,
        /// The chain's JSON-RPC endpoint (an API key in it stays in the profile, never in output).
        #[arg(long, value_name = "URL")]
        rpc: String,
        /// The address of decloud's hub on that chain.
        #[arg(long, value_name = "ADDR")]
        hub: Address,
        /// The chain id you expect: refused if the endpoint serves another chain.
        #[arg(long, value_name = "N")]
        chain_id: Option<u64>,
        /// The block of the contracts' deployment (found from their code when the endpoint
        /// serves old state).
        #[arg(long, value_name = "N")]
        deployment_block: Option<u64>,
        /// The randomness beacon's HTTP API (drand's: `GET URL/public/ROUND`), where
        /// `decloud dataset draw-keepers` fetches a round the chain lacks (the beacon contract
        /// verifies its signature, so any mirror will do).
        #[arg(long, value_name = "URL")]
        beacon: Option<String>,
        /// Most blocks the endpoint serves in one eth_getLogs.
        #[arg(long, value_name = "N")]
        max_log_range: Option<u64>,
        /// Blocks below the head the services leave unread (reorg safety).
        #[arg(long, value_name = "N")]
        confirmations: Option<u64>,
        /// The highest maxFeePerGas a transaction may offer, in gwei.
        #[arg(long, value_name = "GWEI")]
        max_fee_gwei: Option<f64>,
        /// The highest priority fee (tip) a transaction may offer, in gwei.
        #[arg(long, value_name = "GWEI")]
        max_priority_fee_gwei: Option<f64>,
        /// Seconds a transaction may stay pending before it is replaced with higher fees (0: never).
        #[arg(long, value_name = "SECS")]
        replace_after: Option<u64>,
        /// Make it the active profile at once.
        #[arg(long = "use")]
        activate: bool,
        /// Replace a profile of the same name.
        #[arg(long)]
        force: bool,
    },
    /// List the profiles, the active one marked.
    #[command(after_help = "Examples:\n  decloud chain list\n  decloud chain list --json")]
    List,
    /// Show a profile (the active one by default).
    #[command(after_help = "Examples:\n  decloud chain show\n  decloud chain show base --json")]
    Show {
        /// The profile's name.
        name: Option<String>,
    },
    /// Make a profile the active one.
    #[command(after_help = "Example:\n  decloud chain use base")]
    Use {
        /// The profile's name.
        name: String,
    },
    /// Delete a profile (not the active one).
    #[command(after_help = "Example:\n  decloud chain remove old-testnet")]
    Remove {
        /// The profile's name.
        name: String,
    },
}

/// Runs `decloud chain <verb>` with data under `home`.
pub(crate) async fn run(args: ChainArgs, home: &Path, json: bool) -> anyhow::Result<()> {
    match args.command {
        ChainCommand::Add {
            name,
            rpc,
            hub,
            chain_id,
            deployment_block,
            beacon,
            max_log_range,
            confirmations,
            max_fee_gwei,
            max_priority_fee_gwei,
            replace_after,
            activate,
            force,
        } => {
            for (flag, gwei) in [
                ("--max-fee-gwei", max_fee_gwei),
                ("--max-priority-fee-gwei", max_priority_fee_gwei),
            ] {
                if gwei.is_some_and(|g| !g.is_finite() || g <= 0.0) {
                    anyhow::bail!("{flag} is a positive number of gwei, e.g. 2.5");
                }
            }
            if max_log_range == Some(0) {
                anyhow::bail!("--max-log-range is at least 1 block");
            }
            decloud_chain::profile::check_name(&name).map_err(anyhow::Error::msg)?;
            if let Some(url) = &beacon {
                check_beacon_url(url)?;
            }
            if !force && ChainProfile::named_path(home, &name).exists() {
                anyhow::bail!(
                    "a chain profile named {name} exists: pick another name, or pass --force to replace it"
                );
            }
            let new = NewChain {
                name: name.clone(),
                rpc_url: rpc,
                hub,
                chain_id,
                deployment_block,
                beacon_url: beacon,
                limits: ChainLimits {
                    max_log_range,
                    confirmations,
                    max_retries: None,
                    max_fee_gwei,
                    max_priority_fee_gwei,
                    replace_after_secs: replace_after,
                },
            };
            let profile = decloud_chain::profile::discover(&new).await?;
            let path = profile.save_named(home)?;
            let active = activate || !ChainProfile::path_in(home).exists();
            if active {
                ChainProfile::activate(home, &name)?;
            }
            if json {
                return print_json(&json!({
                    "name": name,
                    "path": path,
                    "active": active,
                    "profile": shown(&profile),
                }));
            }
            println!(
                "added chain {name}: chain {} at {}, hub {}, deployed at block {}",
                profile.chain_id,
                endpoint(&profile.rpc_url),
                profile.contracts.hub,
                profile.deployment_block
            );
            println!("profile:    {}", path.display());
            if active {
                println!("active:     yes (every command now uses it)");
            } else {
                println!("active:     no (make it so with `decloud chain use {name}`)");
            }
            Ok(())
        }
        ChainCommand::List => list(home, json),
        ChainCommand::Show { name } => {
            let profile = match &name {
                Some(name) => ChainProfile::load_named(home, name)?,
                None => ChainProfile::load(home)?,
            };
            if json {
                return print_json(&shown(&profile));
            }
            print_profile(&profile);
            Ok(())
        }
        ChainCommand::Use { name } => {
            ChainProfile::activate(home, &name)
                .with_context(|| format!("making {name} the active chain"))?;
            if json {
                return print_json(&json!({ "active": name }));
            }
            println!("active chain: {name}");
            Ok(())
        }
        ChainCommand::Remove { name } => {
            decloud_chain::profile::check_name(&name).map_err(anyhow::Error::msg)?;
            if ChainProfile::active_name(home).as_deref() == Some(name.as_str()) {
                anyhow::bail!(
                    "{name} is the active chain: `decloud chain use` another one first, then remove it"
                );
            }
            let path = ChainProfile::named_path(home, &name);
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    anyhow::bail!("no chain profile named {name}: see `decloud chain list`")
                }
                Err(e) => return Err(e).with_context(|| format!("removing {}", path.display())),
            }
            if json {
                return print_json(&json!({ "removed": name }));
            }
            println!("removed chain profile {name}");
            Ok(())
        }
    }
}

fn list(home: &Path, json: bool) -> anyhow::Result<()> {
    let active = ChainProfile::active_name(home);
    let mut rows = Vec::new();
    // A whole profile in chain.toml (a devnet's) is active without a name.
    if active.is_none()
        && let Ok(profile) = ChainProfile::load(home)
    {
        rows.push((String::from("(chain.toml)"), true, Ok(profile)));
    }
    for name in ChainProfile::names(home)? {
        let profile = ChainProfile::load_named(home, &name);
        let is_active = active.as_deref() == Some(name.as_str());
        rows.push((name, is_active, profile));
    }
    if json {
        let items: Vec<_> = rows
            .iter()
            .map(|(name, active, profile)| match profile {
                Ok(p) => json!({ "name": name, "active": active, "profile": shown(p) }),
                Err(e) => json!({ "name": name, "active": active, "error": e.to_string() }),
            })
            .collect();
        return print_json(&items);
    }
    if rows.is_empty() {
        println!(
            "no chain profile: add one with `decloud chain add`, or start a devnet with `decloud devnet up`"
        );
        return Ok(());
    }
    let mut t = table(["", "NAME", "CHAIN ID", "RPC", "HUB", "DEVNET"]);
    for (name, active, profile) in rows {
        let mark = if active { "*" } else { "" };
        match profile {
            Ok(p) => t.add_row([
                mark.to_string(),
                name,
                p.chain_id.to_string(),
                endpoint(&p.rpc_url),
                p.contracts.hub.to_string(),
                if p.is_devnet() { "yes" } else { "no" }.to_string(),
            ]),
            Err(e) => t.add_row([
                mark.to_string(),
                name,
                "-".into(),
                format!("unreadable: {}", Untrusted(e)),
                String::new(),
                String::new(),
            ]),
        };
    }
    println!("{t}");
    Ok(())
}

/// Refuses a `--beacon` URL that is not an http(s) URL, in one line.
fn check_beacon_url(url: &str) -> anyhow::Result<()> {
    let ok = reqwest::Url::parse(url)
        .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
    if !ok {
        anyhow::bail!(
            "--beacon {url:?} is not an http(s) URL: give the beacon's API base, e.g. https://api.drand.sh/CHAIN_HASH"
        );
    }
    Ok(())
}

/// The profile as shown: the RPC URL cut to its scheme, host and port (an API key lives in the
/// rest), the limits in effect.
fn shown(profile: &ChainProfile) -> serde_json::Value {
    json!({
        "name": profile.name,
        "rpc": endpoint(&profile.rpc_url),
        "chain_id": profile.chain_id,
        "devnet": profile.is_devnet(),
        "deployment_block": profile.deployment_block,
        "admin": profile.admin,
        "contracts": profile.contracts,
        "beacon_url": profile.beacon_url,
        "limits": {
            "max_log_range": profile.max_log_range(),
            "confirmations": profile.confirmations(),
            "max_retries": profile.max_retries(),
            "max_fee_per_gas_wei": profile.max_fee_per_gas().map(|w| w.to_string()),
            "max_priority_fee_per_gas_wei": profile.max_priority_fee_per_gas().map(|w| w.to_string()),
            "replace_after_secs": profile.replace_after().map(|d| d.as_secs()),
        },
    })
}

fn print_profile(p: &ChainProfile) {
    let gwei = |w: Option<u128>| match w {
        Some(w) => format!("{} gwei", w as f64 / 1e9),
        None => "none".to_string(),
    };
    println!(
        "name:        {}",
        p.name.as_deref().unwrap_or("(chain.toml)")
    );
    println!(
        "rpc:         {} (chain id {})",
        endpoint(&p.rpc_url),
        p.chain_id
    );
    println!("devnet:      {}", if p.is_devnet() { "yes" } else { "no" });
    println!("hub:         {}", p.contracts.hub);
    println!("token:       {}", p.contracts.token);
    println!(
        "registries:  apps {}, datasets {}, workerpools {}",
        p.contracts.app_registry, p.contracts.dataset_registry, p.contracts.workerpool_registry
    );
    println!(
        "keepers:     URLs at {}",
        if p.contracts.keeper_registry.is_zero() {
            "none (the hub names no keeper registry)".to_string()
        } else {
            p.contracts.keeper_registry.to_string()
        }
    );
    println!(
        "beacon:      {}",
        p.beacon_url
            .as_deref()
            .unwrap_or("no URL (add one with `decloud chain add ... --beacon URL`)")
    );
    println!(
        "deployed:    at block {}, admin {}",
        p.deployment_block, p.admin
    );
    println!(
        "logs:        at most {} blocks per eth_getLogs, {} confirmations",
        p.max_log_range(),
        p.confirmations()
    );
    println!(
        "fees:        cap {}, tip cap {}, replaced after {}",
        gwei(p.max_fee_per_gas()),
        gwei(p.max_priority_fee_per_gas()),
        p.replace_after().map_or("never".to_string(), |d| format!(
            "{} s pending",
            d.as_secs()
        ))
    );
    println!("retries:     {} per request", p.max_retries());
}
