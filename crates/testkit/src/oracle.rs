//! Two chains for the oracle tests: a devnet A (the protocol) and a chain B with chain id
//! [`CHAIN_B_ID`] holding a gateway, the committee deployed and staked on A by the devnet
//! members, as `decloud devnet up --chains 2` sets them up. Dropping the value stops both anvils.

use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use decloud_chain::accounts;
use decloud_chain::anvil::{Anvil, free_port};
pub use decloud_oracle::devnet::CHAIN_B_ID;
use decloud_oracle::profile::{DestinationChain, OracleProfile};
use tempfile::TempDir;

use crate::Devnet;
use crate::fixtures::FixtureError;

/// How many times chain B's start is retried when another process takes its port first.
const PORT_RETRIES: usize = 5;

/// Chain A, chain B and the oracle contracts on them.
pub struct TwoChains {
    // Field order: anvil B stops before its log directory goes.
    b: Anvil,
    _dir: TempDir,
    /// Chain A (the protocol; its home holds both profiles).
    pub a: Devnet,
    /// Where the committee and the gateway are.
    pub profile: OracleProfile,
}

impl TwoChains {
    /// Starts both chains and deploys the oracle; the oracle profile is saved in A's home.
    pub async fn start() -> Result<Self, FixtureError> {
        let a = Devnet::start()
            .await
            .map_err(|e| FixtureError::Failed(e.to_string()))?;
        let dir = tempfile::Builder::new()
            .prefix("decloud-chain-b-")
            .tempdir()
            .map_err(FixtureError::TempDir)?;
        let mut last = None;
        for _ in 0..PORT_RETRIES {
            let port = free_port().map_err(|e| FixtureError::Failed(e.to_string()))?;
            match decloud_oracle::devnet::start_chain_b(
                port,
                dir.path().join("anvil-b.log"),
                false,
                Some(256),
            )
            .await
            {
                Ok(b) => {
                    let profile = decloud_oracle::devnet::deploy_pair(a.profile(), b.rpc_url())
                        .await
                        .map_err(|e| FixtureError::Failed(e.to_string()))?;
                    profile
                        .save(a.home())
                        .map_err(|e| FixtureError::Failed(e.to_string()))?;
                    return Ok(Self {
                        b,
                        _dir: dir,
                        a,
                        profile,
                    });
                }
                Err(e) => last = Some(e),
            }
        }
        Err(FixtureError::Failed(format!(
            "chain B did not start: {}",
            last.map(|e| e.to_string()).unwrap_or_default()
        )))
    }

    /// Chain B's JSON-RPC endpoint.
    pub fn b_rpc_url(&self) -> &str {
        self.b.rpc_url()
    }

    /// Chain B as the profile names it.
    pub fn b(&self) -> &DestinationChain {
        &self.profile.destinations[0]
    }

    /// A provider on chain B signing with development account `index`.
    pub fn b_provider(&self, index: usize) -> DynProvider {
        let url = self.b.rpc_url().parse().expect("anvil's url is valid");
        ProviderBuilder::new()
            .wallet(accounts::dev_signer(index))
            .connect_http(url)
            .erased()
    }
}
