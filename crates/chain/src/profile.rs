//! The chain profile: which chain decloud talks to and where the protocol contracts live.
//! `decloud devnet up` writes it; every other command and service reads it.

use std::path::{Path, PathBuf};

use alloy::primitives::Address;
use serde::{Deserialize, Serialize};

use crate::ChainError;
use crate::deploy::Contracts;

/// File name of the profile inside `$DECLOUD_HOME`.
pub const PROFILE_FILE: &str = "chain.toml";

/// Where decloud keeps its data: `$DECLOUD_HOME`, else `~/.decloud`.
pub fn default_home() -> PathBuf {
    if let Some(home) = std::env::var_os("DECLOUD_HOME").filter(|h| !h.is_empty()) {
        return PathBuf::from(home);
    }
    let user_home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    user_home.join(".decloud")
}

/// A chain decloud is deployed on: how to reach it and the addresses of its contracts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainProfile {
    /// JSON-RPC endpoint, e.g. `http://127.0.0.1:8545`.
    pub rpc_url: String,
    /// EIP-155 chain id the endpoint answered with at deployment.
    pub chain_id: u64,
    /// Block that holds the first deployment transaction: services follow events from here.
    pub deployment_block: u64,
    /// Account that deployed the contracts and administers them.
    pub admin: Address,
    /// Deployed protocol contracts.
    pub contracts: Contracts,
}

impl ChainProfile {
    /// Path of the profile under `home`.
    pub fn path_in(home: &Path) -> PathBuf {
        home.join(PROFILE_FILE)
    }

    /// Reads the profile stored under `home`.
    pub fn load(home: &Path) -> Result<Self, ChainError> {
        let path = Self::path_in(home);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ChainError::NoProfile { path });
            }
            Err(e) => return Err(ChainError::io("cannot read", path, e)),
        };
        toml::from_str(&text).map_err(|e| ChainError::BadProfile {
            path,
            reason: e.message().to_owned(),
        })
    }

    /// Writes the profile under `home` atomically (a crash leaves the old or the new file whole).
    pub fn save(&self, home: &Path) -> Result<PathBuf, ChainError> {
        std::fs::create_dir_all(home).map_err(|e| ChainError::io("cannot create", home, e))?;
        let path = Self::path_in(home);
        let text = toml::to_string(self).map_err(|e| ChainError::BadProfile {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        write_atomically(&path, text.as_bytes())?;
        Ok(path)
    }
}

/// Writes `bytes` to `path` through a temporary file and a rename.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), ChainError> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).map_err(|e| ChainError::io("cannot write", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| ChainError::io("cannot write", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_round_trips_through_disk() {
        let dir = tempfile::tempdir().unwrap();
        let profile = ChainProfile {
            rpc_url: "http://127.0.0.1:9999".into(),
            chain_id: 31337,
            deployment_block: 3,
            admin: Address::repeat_byte(0x11),
            contracts: Contracts::example(),
        };
        profile.save(dir.path()).unwrap();
        assert_eq!(ChainProfile::load(dir.path()).unwrap(), profile);
    }

    #[test]
    fn missing_profile_says_how_to_get_one() {
        let dir = tempfile::tempdir().unwrap();
        let err = ChainProfile::load(dir.path()).unwrap_err();
        assert!(matches!(err, ChainError::NoProfile { .. }));
        assert!(err.to_string().contains("decloud devnet up"), "{err}");
    }

    #[test]
    fn corrupt_profile_is_reported_not_panicked_on() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(ChainProfile::path_in(dir.path()), "rpc_url = 5\n").unwrap();
        let err = ChainProfile::load(dir.path()).unwrap_err();
        assert!(matches!(err, ChainError::BadProfile { .. }), "{err}");
    }
}
