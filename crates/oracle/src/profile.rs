//! `$DECLOUD_HOME/oracle.toml`: where the committee lives on the source chain and the gateways on
//! the destination chains, as `decloud devnet up --chains 2` writes it and the signer and the
//! relayer read it.

use std::path::{Path, PathBuf};

use alloy::primitives::Address;
use serde::{Deserialize, Serialize};

use crate::OracleError;

/// The file name under `$DECLOUD_HOME`.
pub const FILE: &str = "oracle.toml";

/// The source chain A: its hub and the committee.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// Chain id of A.
    pub chain_id: u64,
    /// JSON-RPC endpoint of A.
    pub rpc_url: String,
    /// The hub on A.
    pub hub: Address,
    /// The escrow token on A (the committee's stake).
    pub token: Address,
    /// The committee contract on A (proxy deals name it as their callback).
    pub committee: Address,
    /// Block from which the signers follow A.
    pub deployment_block: u64,
}

/// One destination chain B and its gateway.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DestinationChain {
    /// A short name (`b`).
    pub name: String,
    /// Chain id of B.
    pub chain_id: u64,
    /// JSON-RPC endpoint of B.
    pub rpc_url: String,
    /// The gateway on B.
    pub gateway: Address,
    /// Its work passes.
    pub passes: Address,
    /// Block of the gateway's deployment.
    pub deployment_block: u64,
}

/// The whole oracle set-up.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OracleProfile {
    /// Chain A.
    pub source: Source,
    /// The chains B.
    pub destinations: Vec<DestinationChain>,
}

impl OracleProfile {
    /// The path of the profile under `home`.
    pub fn path(home: &Path) -> PathBuf {
        home.join(FILE)
    }

    /// Reads the profile under `home`.
    pub fn load(home: &Path) -> Result<Self, OracleError> {
        let path = Self::path(home);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            OracleError::Profile(format!(
                "cannot read {}: {e} (start two chains with `decloud devnet up --chains 2`)",
                path.display()
            ))
        })?;
        toml::from_str(&text)
            .map_err(|e| OracleError::Profile(format!("{}: {}", path.display(), e.message())))
    }

    /// Writes the profile under `home`.
    pub fn save(&self, home: &Path) -> Result<PathBuf, OracleError> {
        let path = Self::path(home);
        let text = toml::to_string(self).map_err(|e| OracleError::Profile(e.to_string()))?;
        // Written beside and renamed, so a reader never sees half a profile.
        let tmp = path.with_extension("toml.tmp");
        std::fs::write(&tmp, text.as_bytes())
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(|e| OracleError::Profile(format!("cannot write {}: {e}", path.display())))?;
        Ok(path)
    }

    /// The destination with chain id `chain_id`.
    pub fn destination(&self, chain_id: u64) -> Option<&DestinationChain> {
        self.destinations.iter().find(|d| d.chain_id == chain_id)
    }
}
