//! `decloud devnet`: a local chain with the protocol deployed and the development accounts
//! funded, started in the background and remembered under `$DECLOUD_HOME/devnet/`.

use std::path::{Path, PathBuf};

use alloy::primitives::{Address, U256};
use alloy::providers::{Provider, ProviderBuilder};
use alloy::signers::local::PrivateKeySigner;
use serde::{Deserialize, Serialize};

use crate::anvil::{self, Anvil, AnvilOptions};
use crate::client::{first_line, read_only_provider, unreachable};
use crate::profile::write_atomically;
use crate::{ChainError, ChainProfile, accounts, deploy};

/// Devnet tokens given to each development account: 1,000,000 tokens of 9 decimals.
pub const DEV_ACCOUNT_FUNDS: u64 = 1_000_000 * 1_000_000_000;

/// How to bring a devnet up.
#[derive(Clone, Debug)]
pub struct UpOptions {
    /// `$DECLOUD_HOME`: the profile and the devnet's pid and log go under it.
    pub home: PathBuf,
    /// Port for anvil on 127.0.0.1.
    pub port: u16,
    /// Seconds between blocks; `None` mines each transaction at once.
    pub block_time: Option<u64>,
    /// Deploy onto this already-running dev chain instead of starting anvil.
    pub rpc: Option<String>,
}

/// What decloud remembers of the anvil it started.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DevnetProcess {
    /// Process id of anvil.
    pub pid: u32,
    /// Its JSON-RPC endpoint.
    pub rpc_url: String,
    /// Its log file.
    pub log: PathBuf,
    /// Seconds between blocks, or none for instant mining.
    pub block_time: Option<u64>,
}

fn devnet_dir(home: &Path) -> PathBuf {
    home.join("devnet")
}

fn process_file(home: &Path) -> PathBuf {
    devnet_dir(home).join("process.toml")
}

/// The devnet process recorded under `home`, if it is still alive.
pub fn running(home: &Path) -> Option<DevnetProcess> {
    let text = std::fs::read_to_string(process_file(home)).ok()?;
    let process: DevnetProcess = toml::from_str(&text).ok()?;
    anvil::is_anvil_process(process.pid).then_some(process)
}

/// Deploys the protocol onto the chain at `rpc_url` with development account 0 as deployer and
/// admin, funds every development account with devnet tokens, and returns the profile.
pub async fn deploy_and_fund(rpc_url: &str) -> Result<ChainProfile, ChainError> {
    let url = rpc_url
        .parse()
        .map_err(|_| crate::client::bad_rpc_url(rpc_url))?;
    let deployer: PrivateKeySigner = accounts::dev_signer(0);
    let admin = deployer.address();
    let provider = ProviderBuilder::new().wallet(deployer).connect_http(url);
    let chain_id = provider
        .get_chain_id()
        .await
        .map_err(|e| unreachable(rpc_url, &e))?;
    let deployment = deploy::deploy_all(&provider, admin).await?;
    deploy::fund_accounts(
        &provider,
        &deployment.contracts,
        &accounts::dev_addresses(),
        U256::from(DEV_ACCOUNT_FUNDS),
    )
    .await?;
    Ok(ChainProfile {
        rpc_url: rpc_url.into(),
        chain_id,
        deployment_block: deployment.first_block,
        admin,
        contracts: deployment.contracts,
        name: None,
        devnet: None,
        beacon_url: None,
        limits: Default::default(),
    })
}

/// `profile` naming the devnet beacon's default address (`decloud node --beacon`), as `decloud
/// devnet up` writes it: `decloud dataset draw-keepers` fetches a missing round there.
fn with_devnet_beacon(mut profile: ChainProfile) -> ChainProfile {
    profile.beacon_url = Some(deploy::DEVNET_BEACON_URL.to_owned());
    profile
}

/// Gives `account` `ether_wei` of ether (anvil's `anvil_setBalance`, so it works only on a
/// devnet) and mints it `tokens` devnet tokens through the faucet, sent by dev account 0.
pub async fn fund(
    profile: &ChainProfile,
    account: Address,
    ether_wei: U256,
    tokens: U256,
) -> Result<(), ChainError> {
    let url = profile
        .rpc_url
        .parse()
        .map_err(|_| crate::client::bad_rpc_url(&profile.rpc_url))?;
    let provider = ProviderBuilder::new()
        .wallet(accounts::dev_signer(0))
        .connect_http(url);
    if !ether_wei.is_zero() {
        provider
            .raw_request::<_, ()>("anvil_setBalance".into(), (account, ether_wei))
            .await
            .map_err(|e| {
                ChainError::tx(
                    format!("giving ether to {account}"),
                    format!("{} (only a devnet can mint ether; on another chain, send it from a funded wallet)", first_line(&e.to_string())),
                )
            })?;
    }
    if !tokens.is_zero() {
        deploy::fund_accounts(&provider, &profile.contracts, &[account], tokens).await?;
    }
    Ok(())
}

/// Switches anvil at `rpc_url` to one block every `seconds` (0 = instant mining).
pub async fn set_block_time(rpc_url: &str, seconds: u64) -> Result<(), ChainError> {
    let provider = read_only_provider(rpc_url)?;
    let result = if seconds == 0 {
        provider
            .raw_request::<_, ()>("evm_setAutomine".into(), (true,))
            .await
    } else {
        provider
            .raw_request::<_, ()>("evm_setIntervalMining".into(), (seconds,))
            .await
    };
    result.map_err(|e| ChainError::tx("setting the block time", e))
}

/// What `up` did.
#[derive(Clone, Debug)]
pub struct UpReport {
    /// The profile it wrote.
    pub profile: ChainProfile,
    /// Where it wrote it.
    pub profile_path: PathBuf,
    /// The anvil it started, or none when it deployed onto `--rpc`.
    pub process: Option<DevnetProcess>,
}

/// Starts anvil (unless `options.rpc` names a running chain), deploys, funds, writes the profile.
pub async fn up(options: UpOptions) -> Result<UpReport, ChainError> {
    if let Some(rpc) = &options.rpc {
        let profile = with_devnet_beacon(deploy_and_fund(rpc).await?);
        let profile_path = profile.save(&options.home)?;
        return Ok(UpReport {
            profile,
            profile_path,
            process: None,
        });
    }
    if let Some(process) = running(&options.home) {
        return Err(ChainError::AlreadyRunning {
            pid: process.pid,
            rpc_url: process.rpc_url,
        });
    }
    let dir = devnet_dir(&options.home);
    std::fs::create_dir_all(&dir).map_err(|e| ChainError::io("cannot create", &dir, e))?;
    let log = dir.join("anvil.log");
    let node = Anvil::start(AnvilOptions {
        binary: None,
        port: options.port,
        log_path: log.clone(),
        detached: true,
        recent_states: None,
        extra_args: Vec::new(),
    })
    .await?;
    // Until the profile is written, dropping `node` (on any error) stops anvil again.
    let profile = with_devnet_beacon(deploy_and_fund(node.rpc_url()).await?);
    if let Some(seconds) = options.block_time {
        set_block_time(node.rpc_url(), seconds).await?;
    }
    let profile_path = profile.save(&options.home)?;
    let process = DevnetProcess {
        pid: node.pid(),
        rpc_url: node.rpc_url().to_owned(),
        log,
        block_time: options.block_time,
    };
    let text = toml::to_string(&process).map_err(|e| ChainError::tx("recording the devnet", e))?;
    write_atomically(&process_file(&options.home), text.as_bytes())?;
    node.detach();
    Ok(UpReport {
        profile,
        profile_path,
        process: Some(process),
    })
}

/// What `down` did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DownReport {
    /// It stopped the anvil with this pid.
    Stopped {
        /// The process id of the anvil it stopped.
        pid: u32,
    },
    /// No devnet started by decloud was running.
    NotRunning,
}

/// Stops the anvil that `up` started, and only that one.
pub fn down(home: &Path) -> Result<DownReport, ChainError> {
    let file = process_file(home);
    let report = match running(home) {
        Some(process) => {
            anvil::terminate(process.pid)?;
            DownReport::Stopped { pid: process.pid }
        }
        None => DownReport::NotRunning,
    };
    match std::fs::remove_file(&file) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(ChainError::io("cannot remove", file, e)),
    }
    Ok(report)
}

/// What runs, as `status` reports it.
#[derive(Clone, Debug)]
pub struct Status {
    /// The anvil decloud started, if alive.
    pub process: Option<DevnetProcess>,
    /// The chain profile, if one is written.
    pub profile: Option<ChainProfile>,
    /// Latest block number, when the profile's RPC answers.
    pub block_number: Option<u64>,
    /// Why the profile's RPC did not answer, when it did not.
    pub rpc_error: Option<String>,
}

/// Reports the devnet process, the profile and whether the chain answers. `rpc` overrides the
/// profile's endpoint.
pub async fn status(home: &Path, rpc: Option<&str>) -> Result<Status, ChainError> {
    let process = running(home);
    let profile = match ChainProfile::load(home) {
        Ok(p) => Some(p),
        Err(ChainError::NoProfile { .. }) => None,
        Err(e) => return Err(e),
    };
    let url = rpc
        .map(str::to_owned)
        .or_else(|| profile.as_ref().map(|p| p.rpc_url.clone()));
    let (block_number, rpc_error) = match url {
        None => (None, None),
        Some(url) => match block_number(&url).await {
            Ok(n) => (Some(n), None),
            Err(e) => (None, Some(e.to_string())),
        },
    };
    Ok(Status {
        process,
        profile,
        block_number,
        rpc_error,
    })
}

/// Latest block number at `rpc_url`, with a one-line error when it does not answer.
pub async fn block_number(rpc_url: &str) -> Result<u64, ChainError> {
    read_only_provider(rpc_url)?
        .get_block_number()
        .await
        .map_err(|e| unreachable(rpc_url, &e))
}
