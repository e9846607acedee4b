//! A devnet for one test or one demo: a fresh anvil on a free port with the protocol contracts
//! deployed from the committed artifacts and the development accounts funded, plus a private
//! `$DECLOUD_HOME` holding its chain profile (so the `decloud` binary can be pointed at it).
//! Dropping the value stops anvil and deletes the directory, so any number run side by side.

use std::path::Path;

use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::signers::local::PrivateKeySigner;
use decloud_chain::anvil::{self, Anvil, AnvilOptions};
use decloud_chain::{ChainError, ChainProfile, accounts, devnet};
use tempfile::TempDir;

/// How many times a start is retried when another process takes the free port first.
const PORT_RETRIES: usize = 5;

/// A running devnet for one test. Stops when dropped.
pub struct Devnet {
    // Field order matters: anvil stops before its log directory is deleted.
    anvil: Anvil,
    home: TempDir,
    profile: ChainProfile,
}

impl Devnet {
    /// Starts anvil with instant mining, deploys the contracts and funds the dev accounts.
    pub async fn start() -> Result<Self, ChainError> {
        Self::start_with_block_time(0).await
    }

    /// Like [`Devnet::start`], then mines a block every `seconds` (0 keeps instant mining), as
    /// a real chain would.
    pub async fn start_with_block_time(seconds: u64) -> Result<Self, ChainError> {
        Self::start_with(seconds, &[]).await
    }

    /// Like [`Devnet::start`] with more arguments for anvil, e.g. `--block-base-fee-per-gas N`
    /// for a fee market like a real chain's.
    pub async fn start_with_anvil_args(args: &[&str]) -> Result<Self, ChainError> {
        Self::start_with(0, args).await
    }

    async fn start_with(seconds: u64, args: &[&str]) -> Result<Self, ChainError> {
        let home = tempfile::Builder::new()
            .prefix("decloud-testkit-")
            .tempdir()
            .map_err(|e| {
                ChainError::io(
                    "cannot create a temporary directory in",
                    std::env::temp_dir(),
                    e,
                )
            })?;
        let mut last_error = None;
        for _ in 0..PORT_RETRIES {
            let port = anvil::free_port()?;
            let started = Anvil::start(AnvilOptions {
                binary: None,
                port,
                log_path: home.path().join("anvil.log"),
                detached: false,
                // Tests and benchmarks read only recent state, and a long instant-mining run
                // would otherwise pay for snapshotting every block's state.
                recent_states: Some(256),
                extra_args: args.iter().map(|a| a.to_string()).collect(),
            })
            .await;
            match started {
                Ok(anvil) => {
                    let profile = devnet::deploy_and_fund(anvil.rpc_url()).await?;
                    profile.save(home.path())?;
                    if seconds > 0 {
                        devnet::set_block_time(anvil.rpc_url(), seconds).await?;
                    }
                    return Ok(Self {
                        anvil,
                        home,
                        profile,
                    });
                }
                // Lost the race for the port to another test: pick another one.
                Err(e @ (ChainError::PortInUse { .. } | ChainError::AnvilFailed { .. })) => {
                    last_error = Some(e)
                }
                Err(e) => return Err(e),
            }
        }
        Err(last_error.expect("at least one attempt was made"))
    }

    /// The chain profile of this devnet (rpc url, chain id, contract addresses).
    pub fn profile(&self) -> &ChainProfile {
        &self.profile
    }

    /// JSON-RPC endpoint.
    pub fn rpc_url(&self) -> &str {
        self.anvil.rpc_url()
    }

    /// A `$DECLOUD_HOME` holding this devnet's profile, for running the `decloud` binary.
    pub fn home(&self) -> &Path {
        self.home.path()
    }

    /// Signer of development account `index` (0 is the deployer and admin).
    pub fn signer(&self, index: usize) -> PrivateKeySigner {
        accounts::dev_signer(index)
    }

    /// A provider that signs with development account `index`.
    pub fn provider(&self, index: usize) -> DynProvider {
        let url = self.rpc_url().parse().expect("anvil's url is valid");
        ProviderBuilder::new()
            .wallet(self.signer(index))
            .connect_http(url)
            .erased()
    }
}
