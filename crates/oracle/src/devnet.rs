//! The second chain of a two-chain devnet: anvil with chain id [`CHAIN_B_ID`], a gateway on it,
//! and the committee on the first chain (A), staked by devnet members.

use std::path::{Path, PathBuf};

use alloy::primitives::U256;
use decloud_chain::anvil::{self, Anvil, AnvilOptions};
use decloud_chain::devnet::DevnetProcess;
use decloud_chain::{ChainProfile, accounts};

use crate::OracleError;
use crate::deploy::{self, DEVNET_MEMBER_STAKE, DEVNET_MIN_STAKE, DEVNET_UNBONDING};
use crate::profile::{DestinationChain, OracleProfile, Source};

/// Chain id of the devnet's chain B (A is 31337).
pub const CHAIN_B_ID: u64 = 31338;
/// Committee members of a devnet.
pub const DEVNET_MEMBERS: usize = 3;
/// Signatures a devnet delivery needs.
pub const DEVNET_THRESHOLD: u64 = 2;

/// Starts anvil for chain B on `port` (instant mining), its output in `log`.
pub async fn start_chain_b(
    port: u16,
    log: PathBuf,
    detached: bool,
    recent_states: Option<u64>,
) -> Result<Anvil, OracleError> {
    let node = Anvil::start(AnvilOptions {
        binary: None,
        port,
        log_path: log,
        detached,
        recent_states,
        extra_args: Vec::new(),
    })
    .await
    .map_err(|e| OracleError::Chain(e.to_string()))?;
    // Every devnet anvil starts as 31337; B takes its own id before anything is deployed.
    use alloy::providers::Provider;
    decloud_chain::client::read_only_provider(node.rpc_url())
        .map_err(|e| OracleError::Chain(e.to_string()))?
        .raw_request::<_, ()>("anvil_setChainId".into(), (CHAIN_B_ID,))
        .await
        .map_err(|e| OracleError::Chain(format!("setting chain B's id: {e}")))?;
    Ok(node)
}

/// Deploys the oracle on a devnet pair: funds the devnet members on A, deploys the committee on A
/// and stakes them, deploys the gateway on B (development account 0 administers both), and returns
/// the profile (not yet saved).
pub async fn deploy_pair(a: &ChainProfile, b_rpc: &str) -> Result<OracleProfile, OracleError> {
    let keys = deploy::devnet_member_keys(DEVNET_MEMBERS);
    let admin = accounts::dev_signer(0);
    let pa = deploy::provider(&a.rpc_url, admin.clone())?;
    let (committee, block) = deploy::deploy_committee(
        &pa,
        a.contracts.hub,
        a.contracts.token,
        U256::from(DEVNET_MIN_STAKE),
        DEVNET_UNBONDING,
    )
    .await?;
    for key in &keys {
        decloud_chain::devnet::fund(
            a,
            key.address(),
            U256::from(10u64).pow(U256::from(19)),
            U256::from(DEVNET_MEMBER_STAKE),
        )
        .await
        .map_err(|e| OracleError::Chain(e.to_string()))?;
        deploy::join(
            &a.rpc_url,
            key.clone(),
            committee,
            a.contracts.token,
            U256::from(DEVNET_MEMBER_STAKE),
        )
        .await?;
    }
    let pb = deploy::provider(b_rpc, admin.clone())?;
    use alloy::providers::Provider;
    let b_chain = pb
        .get_chain_id()
        .await
        .map_err(|e| OracleError::Chain(format!("{b_rpc} does not answer: {e}")))?;
    let members = keys.iter().map(|k| k.address()).collect();
    let (gateway, passes, b_block) = deploy::deploy_gateway(&pb, members, DEVNET_THRESHOLD).await?;
    Ok(OracleProfile {
        source: Source {
            chain_id: a.chain_id,
            rpc_url: a.rpc_url.clone(),
            hub: a.contracts.hub,
            token: a.contracts.token,
            committee,
            deployment_block: block,
        },
        destinations: vec![DestinationChain {
            name: "b".into(),
            chain_id: b_chain,
            rpc_url: b_rpc.into(),
            gateway,
            passes,
            deployment_block: b_block,
        }],
    })
}

fn process_file(home: &Path) -> PathBuf {
    home.join("devnet").join("chain-b.toml")
}

/// Starts chain B beside a devnet whose profile is `a` (`decloud devnet up --chains 2`), deploys
/// the oracle, records B's anvil under `home` and writes `oracle.toml`.
pub async fn up_chain_b(
    home: &Path,
    a: &ChainProfile,
    port: u16,
) -> Result<(OracleProfile, DevnetProcess), OracleError> {
    let dir = home.join("devnet");
    std::fs::create_dir_all(&dir)
        .map_err(|e| OracleError::Profile(format!("cannot create {}: {e}", dir.display())))?;
    let log = dir.join("anvil-b.log");
    let node = start_chain_b(port, log.clone(), true, None).await?;
    // Dropping `node` on an error stops anvil B again.
    let profile = deploy_pair(a, node.rpc_url()).await?;
    profile.save(home)?;
    let process = DevnetProcess {
        pid: node.pid(),
        rpc_url: node.rpc_url().to_owned(),
        log,
        block_time: None,
    };
    let text = toml::to_string(&process).map_err(|e| OracleError::Profile(e.to_string()))?;
    std::fs::write(process_file(home), text)
        .map_err(|e| OracleError::Profile(format!("cannot record chain B: {e}")))?;
    node.detach();
    Ok((profile, process))
}

/// Chain B's anvil recorded under `home`, if it still runs.
pub fn running_chain_b(home: &Path) -> Option<DevnetProcess> {
    let text = std::fs::read_to_string(process_file(home)).ok()?;
    let process: DevnetProcess = toml::from_str(&text).ok()?;
    anvil::is_anvil_process(process.pid).then_some(process)
}

/// Stops chain B's anvil (only the one `up_chain_b` started); its pid when one ran.
pub fn down_chain_b(home: &Path) -> Result<Option<u32>, OracleError> {
    let stopped = match running_chain_b(home) {
        Some(p) => {
            anvil::terminate(p.pid).map_err(|e| OracleError::Chain(e.to_string()))?;
            Some(p.pid)
        }
        None => None,
    };
    let _ = std::fs::remove_file(process_file(home));
    Ok(stopped)
}
