//! The chain profile: which chain decloud talks to, where the protocol contracts live, and what
//! its RPC provider and fee market allow. `decloud devnet up` writes one for the devnet,
//! `decloud chain add` (or an operator, by hand) one per real chain; every other command and
//! service reads the active one.
//!
//! `$DECLOUD_HOME/chain.toml` is the active profile: either a whole profile (what `devnet up`
//! writes) or one line `use = "NAME"` naming `$DECLOUD_HOME/chains/NAME.toml` (what
//! `decloud chain use NAME` writes), so that an operator edits the named file in one place.

use std::path::{Path, PathBuf};

use alloy::primitives::Address;
use serde::{Deserialize, Serialize};

use crate::ChainError;
use crate::deploy::Contracts;

/// File name of the profile inside `$DECLOUD_HOME`.
pub const PROFILE_FILE: &str = "chain.toml";

/// Directory of the named profiles inside `$DECLOUD_HOME`.
pub const PROFILES_DIR: &str = "chains";

/// Blocks per `eth_getLogs` when the profile sets no `max_log_range`.
pub const DEFAULT_MAX_LOG_RANGE: u64 = crate::follower::DEFAULT_MAX_RANGE;

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
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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
    /// The profile's name (`decloud chain add NAME`); absent in the devnet's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Whether the chain is a development chain (plain HTTP allowed, accounts funded for free);
    /// absent: decided by the chain id ([`decloud_protocol::DEVNET_CHAIN_IDS`]). Simulated TEEs
    /// go by the chain id alone: a profile cannot turn them on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub devnet: Option<bool>,
    /// The randomness beacon's HTTP API (drand's shape: `GET /public/{round}`), where a command
    /// fetches a round the chain lacks (`decloud dataset draw-keepers`); absent: none known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub beacon_url: Option<String>,
    /// What the RPC provider allows and what transactions may pay; every field is optional.
    #[serde(default, skip_serializing_if = "ChainLimits::is_empty")]
    pub limits: ChainLimits,
}

/// The `[limits]` table of a profile: the RPC provider's caps and the fee policy. Absent fields
/// take the defaults of the accessors on [`ChainProfile`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainLimits {
    /// Most blocks the provider serves in one `eth_getLogs` (a smaller cap the provider reports
    /// is learnt anyway).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_log_range: Option<u64>,
    /// Blocks below the head that the services leave unread (reorg safety).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmations: Option<u64>,
    /// How many times a rate-limited or transiently failed request is retried.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_retries: Option<u32>,
    /// The highest `maxFeePerGas` a transaction may offer, in gwei (also caps replacements).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_fee_gwei: Option<f64>,
    /// The highest `maxPriorityFeePerGas` (tip) a transaction may offer, in gwei.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_priority_fee_gwei: Option<f64>,
    /// Seconds without a receipt before a pending transaction is replaced with higher fees.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replace_after_secs: Option<u64>,
}

impl ChainLimits {
    fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// Default number of retries of a rate-limited or transiently failed request.
pub const DEFAULT_MAX_RETRIES: u32 = 8;

/// Default seconds before a pending transaction is replaced on a chain that is not a devnet.
pub const DEFAULT_REPLACE_AFTER_SECS: u64 = 60;

fn gwei_to_wei(gwei: f64) -> Option<u128> {
    (gwei.is_finite() && gwei > 0.0).then(|| (gwei * 1e9).round() as u128)
}

impl ChainProfile {
    /// Path of the profile under `home`.
    pub fn path_in(home: &Path) -> PathBuf {
        home.join(PROFILE_FILE)
    }

    /// Path of the named profile `name` under `home`.
    pub fn named_path(home: &Path, name: &str) -> PathBuf {
        home.join(PROFILES_DIR).join(format!("{name}.toml"))
    }

    /// Whether this is a development chain: the profile's `devnet` field, else its chain id.
    pub fn is_devnet(&self) -> bool {
        self.devnet
            .unwrap_or(decloud_protocol::is_devnet_chain_id(self.chain_id))
    }

    /// Most blocks asked for in one `eth_getLogs`.
    pub fn max_log_range(&self) -> u64 {
        self.limits
            .max_log_range
            .filter(|r| *r > 0)
            .unwrap_or(DEFAULT_MAX_LOG_RANGE)
    }

    /// Blocks below the head left unread by followers.
    pub fn confirmations(&self) -> u64 {
        self.limits.confirmations.unwrap_or(0)
    }

    /// Retries of a rate-limited or transiently failed request.
    pub fn max_retries(&self) -> u32 {
        self.limits.max_retries.unwrap_or(DEFAULT_MAX_RETRIES)
    }

    /// The cap on `maxFeePerGas`, in wei, if the profile sets one.
    pub fn max_fee_per_gas(&self) -> Option<u128> {
        self.limits.max_fee_gwei.and_then(gwei_to_wei)
    }

    /// The cap on `maxPriorityFeePerGas`, in wei, if the profile sets one.
    pub fn max_priority_fee_per_gas(&self) -> Option<u128> {
        self.limits.max_priority_fee_gwei.and_then(gwei_to_wei)
    }

    /// How long a transaction may stay pending before it is replaced with higher fees: the
    /// profile's `replace_after_secs`, else a minute (never on a devnet, which mines at once
    /// or on its own schedule).
    pub fn replace_after(&self) -> Option<std::time::Duration> {
        match self.limits.replace_after_secs {
            Some(0) => None,
            Some(s) => Some(std::time::Duration::from_secs(s)),
            None if self.is_devnet() => None,
            None => Some(std::time::Duration::from_secs(DEFAULT_REPLACE_AFTER_SECS)),
        }
    }

    /// Reads the active profile under `home`: `chain.toml`, or the named profile it points to.
    pub fn load(home: &Path) -> Result<Self, ChainError> {
        let path = Self::path_in(home);
        let text = read_profile_text(&path)?;
        if let Some(name) = pointer_of(&text) {
            check_name(&name).map_err(|reason| ChainError::BadProfile {
                path: path.clone(),
                reason,
            })?;
            return Self::load_named(home, &name);
        }
        parse_profile(&path, &text)
    }

    /// Reads the named profile `name` under `home`.
    pub fn load_named(home: &Path, name: &str) -> Result<Self, ChainError> {
        let path = Self::named_path(home, name);
        check_name(name).map_err(|reason| ChainError::BadProfile {
            path: path.clone(),
            reason,
        })?;
        let text = read_profile_text(&path)?;
        let mut profile = parse_profile(&path, &text)?;
        profile.name.get_or_insert_with(|| name.to_owned());
        Ok(profile)
    }

    /// The name of the active profile when `chain.toml` points to a named one.
    pub fn active_name(home: &Path) -> Option<String> {
        let text = std::fs::read_to_string(Self::path_in(home)).ok()?;
        pointer_of(&text)
    }

    /// The names of the profiles under `home/chains`, sorted.
    pub fn names(home: &Path) -> Result<Vec<String>, ChainError> {
        let dir = home.join(PROFILES_DIR);
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(ChainError::io("cannot read", dir, e)),
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let stem = name.strip_suffix(".toml")?;
                check_name(stem).ok().map(|_| stem.to_owned())
            })
            .collect();
        names.sort();
        Ok(names)
    }

    /// Writes this profile as `home/chains/NAME.toml` (its `name`), atomically.
    pub fn save_named(&self, home: &Path) -> Result<PathBuf, ChainError> {
        let name = self.name.clone().unwrap_or_default();
        let path = Self::named_path(home, &name);
        check_name(&name).map_err(|reason| ChainError::BadProfile {
            path: path.clone(),
            reason,
        })?;
        let dir = home.join(PROFILES_DIR);
        std::fs::create_dir_all(&dir).map_err(|e| ChainError::io("cannot create", &dir, e))?;
        let text = toml::to_string(self).map_err(|e| ChainError::BadProfile {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        write_atomically(&path, text.as_bytes())?;
        Ok(path)
    }

    /// Makes the named profile `name` the active one (`chain.toml` points to it). A whole
    /// profile in `chain.toml` (a devnet's) is kept first as `chains/devnet.toml`, unless that
    /// name is taken.
    pub fn activate(home: &Path, name: &str) -> Result<(), ChainError> {
        // Refuses a name that does not parse or has no profile before touching anything.
        Self::load_named(home, name)?;
        let path = Self::path_in(home);
        if let Ok(text) = std::fs::read_to_string(&path)
            && pointer_of(&text).is_none()
            && let Ok(mut current) = parse_profile(&path, &text)
        {
            let keep = current.name.clone().unwrap_or_else(|| "devnet".to_owned());
            if check_name(&keep).is_ok() && !Self::named_path(home, &keep).exists() {
                current.name = Some(keep);
                current.save_named(home)?;
            }
        }
        write_atomically(&path, format!("use = {name:?}\n").as_bytes())
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

/// What `decloud chain add` is told: where the chain answers and where its hub is.
#[derive(Clone, Debug)]
pub struct NewChain {
    /// The profile's name.
    pub name: String,
    /// The JSON-RPC endpoint.
    pub rpc_url: String,
    /// The hub's address.
    pub hub: Address,
    /// The chain id the operator expects (checked against the endpoint's).
    pub chain_id: Option<u64>,
    /// The block to follow events from; found from the contracts' code when absent.
    pub deployment_block: Option<u64>,
    /// The randomness beacon's HTTP API to record (`--beacon URL`).
    pub beacon_url: Option<String>,
    /// The RPC and fee limits to record.
    pub limits: ChainLimits,
}

/// Builds the profile of a chain decloud is deployed on from its RPC endpoint and hub: checks
/// the endpoint's chain id (against `chain_id` when given) and that a decloud hub answers at
/// `hub`, reads the token and the registries' addresses from it, and finds the first block
/// holding the contracts when `deployment_block` is not given. Writes nothing.
pub async fn discover(new: &NewChain) -> Result<ChainProfile, ChainError> {
    use alloy::providers::Provider;
    check_name(&new.name).map_err(|reason| ChainError::tx("adding the chain", reason))?;
    let what = "adding the chain";
    let provider = crate::client::provider_with(
        &new.rpc_url,
        new.limits.max_retries.unwrap_or(DEFAULT_MAX_RETRIES),
        Default::default(),
    )?;
    let chain_id = provider
        .get_chain_id()
        .await
        .map_err(|e| crate::client::unreachable(&new.rpc_url, &e))?;
    if let Some(expected) = new.chain_id
        && expected != chain_id
    {
        return Err(ChainError::tx(
            what,
            format!(
                "{} serves chain {chain_id}, not {expected}: check --rpc and --chain-id",
                crate::client::endpoint(&new.rpc_url)
            ),
        ));
    }
    let code = provider
        .get_code_at(new.hub)
        .await
        .map_err(|e| crate::client::rpc_error(&new.rpc_url, what, &e))?;
    if code.is_empty() {
        return Err(ChainError::tx(
            what,
            format!(
                "no contract at {} on chain {chain_id}: check --hub (the address of decloud's hub on this chain)",
                new.hub
            ),
        ));
    }
    let hub = crate::contracts::IHub::new(new.hub, provider.clone());
    let not_a_hub = |_| {
        ChainError::tx(
            what,
            format!(
                "the contract at {} does not answer as a decloud hub: check --hub",
                new.hub
            ),
        )
    };
    let contracts = Contracts {
        token: hub.token().call().await.map_err(not_a_hub)?,
        hub: new.hub,
        app_registry: hub.appRegistry().call().await.map_err(not_a_hub)?,
        dataset_registry: hub.datasetRegistry().call().await.map_err(not_a_hub)?,
        workerpool_registry: hub.workerpoolRegistry().call().await.map_err(not_a_hub)?,
        beacon: selection_beacon(&hub).await,
        keeper_registry: hub.keeperRegistry().call().await.unwrap_or_default(),
    };
    let admin = hub.admin().call().await.map_err(not_a_hub)?;
    let deployment_block = match new.deployment_block {
        Some(block) => block,
        None => first_block_with_code(&provider, &new.rpc_url, &contracts).await?,
    };
    Ok(ChainProfile {
        rpc_url: new.rpc_url.clone(),
        chain_id,
        deployment_block,
        admin,
        contracts,
        name: Some(new.name.clone()),
        devnet: None,
        beacon_url: new.beacon_url.clone(),
        limits: new.limits.clone(),
    })
}

/// The first block at which the hub and the registries all have code (a binary search on
/// `eth_getCode`, which needs the node's historical state).
/// The beacon of the hub's random-selection facet, or zero when it has none (an older hub, or
/// the facet not set: the call then reverts).
async fn selection_beacon<P: alloy::providers::Provider>(
    hub: &crate::contracts::IHub::IHubInstance<P>,
) -> alloy::primitives::Address {
    hub.beacon().call().await.unwrap_or_default()
}

async fn first_block_with_code(
    provider: &alloy::providers::DynProvider,
    url: &str,
    contracts: &Contracts,
) -> Result<u64, ChainError> {
    use alloy::providers::Provider;
    let what = "finding the deployment block";
    let head = provider
        .get_block_number()
        .await
        .map_err(|e| crate::client::rpc_error(url, what, &e))?;
    let mut first = head;
    for address in [
        contracts.hub,
        contracts.app_registry,
        contracts.dataset_registry,
        contracts.workerpool_registry,
    ] {
        let (mut lo, mut hi) = (0u64, head);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let code = provider
                .get_code_at(address)
                .number(mid)
                .await
                .map_err(|_| {
                    ChainError::tx(
                        what,
                        "the RPC endpoint does not serve old state: pass --deployment-block (the block of the contracts' deployment, from a block explorer)",
                    )
                })?;
            if code.is_empty() {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        first = first.min(lo);
    }
    Ok(first)
}

/// Whether `name` can name a profile: 1 to 64 letters, digits, `-` or `_`; the reason if not.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{:?} is not a profile name: use 1 to 64 letters, digits, '-' or '_'",
            name.chars().take(64).collect::<String>()
        ))
    }
}

fn read_profile_text(path: &Path) -> Result<String, ChainError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(ChainError::NoProfile {
            path: path.to_path_buf(),
        }),
        Err(e) => Err(ChainError::io("cannot read", path, e)),
    }
}

fn parse_profile(path: &Path, text: &str) -> Result<ChainProfile, ChainError> {
    toml::from_str(text).map_err(|e| ChainError::BadProfile {
        path: path.to_path_buf(),
        reason: e.message().to_owned(),
    })
}

/// The profile name of a `use = "NAME"` file.
fn pointer_of(text: &str) -> Option<String> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Pointer {
        #[serde(rename = "use")]
        name: String,
    }
    toml::from_str::<Pointer>(text).ok().map(|p| p.name)
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
            name: None,
            devnet: None,
            beacon_url: None,
            limits: ChainLimits::default(),
        };
        profile.save(dir.path()).unwrap();
        assert_eq!(ChainProfile::load(dir.path()).unwrap(), profile);
        assert!(profile.is_devnet());
        assert_eq!(profile.replace_after(), None);
    }

    #[test]
    fn a_named_profile_becomes_the_active_one_and_keeps_the_devnet_profile() {
        let dir = tempfile::tempdir().unwrap();
        let devnet = ChainProfile {
            rpc_url: "http://127.0.0.1:8545".into(),
            chain_id: 31337,
            deployment_block: 1,
            admin: Address::repeat_byte(0x11),
            contracts: Contracts::example(),
            name: None,
            devnet: None,
            beacon_url: None,
            limits: ChainLimits::default(),
        };
        devnet.save(dir.path()).unwrap();
        let text = r#"
rpc_url = "https://rpc.example/v3/KEY"
chain_id = 8453
deployment_block = 123
admin = "0x1111111111111111111111111111111111111111"
name = "base"

[contracts]
token = "0x2222222222222222222222222222222222222222"
hub = "0x3333333333333333333333333333333333333333"
app_registry = "0x4444444444444444444444444444444444444444"
dataset_registry = "0x5555555555555555555555555555555555555555"
workerpool_registry = "0x6666666666666666666666666666666666666666"

[limits]
max_log_range = 500
max_fee_gwei = 1.5
replace_after_secs = 30
"#;
        std::fs::create_dir_all(dir.path().join(PROFILES_DIR)).unwrap();
        std::fs::write(ChainProfile::named_path(dir.path(), "base"), text).unwrap();
        ChainProfile::activate(dir.path(), "base").unwrap();
        let active = ChainProfile::load(dir.path()).unwrap();
        assert_eq!(active.chain_id, 8453);
        assert!(!active.is_devnet());
        assert_eq!(active.max_log_range(), 500);
        assert_eq!(active.max_fee_per_gas(), Some(1_500_000_000));
        assert_eq!(
            active.replace_after(),
            Some(std::time::Duration::from_secs(30))
        );
        assert_eq!(
            ChainProfile::active_name(dir.path()).as_deref(),
            Some("base")
        );
        assert_eq!(ChainProfile::names(dir.path()).unwrap(), ["base", "devnet"]);
        let kept = ChainProfile::load_named(dir.path(), "devnet").unwrap();
        assert_eq!(kept.chain_id, 31337);
        assert!(ChainProfile::activate(dir.path(), "nope").is_err());
        assert!(ChainProfile::activate(dir.path(), "../x").is_err());
        assert_eq!(ChainProfile::load(dir.path()).unwrap().chain_id, 8453);
    }

    #[test]
    fn an_unknown_limit_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut profile = ChainProfile {
            rpc_url: "http://127.0.0.1:9999".into(),
            chain_id: 1,
            deployment_block: 0,
            admin: Address::ZERO,
            contracts: Contracts::example(),
            name: None,
            devnet: None,
            beacon_url: None,
            limits: ChainLimits::default(),
        };
        profile.limits.max_log_range = Some(10);
        profile.save(dir.path()).unwrap();
        let path = ChainProfile::path_in(dir.path());
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replace("max_log_range", "max_log_rang")).unwrap();
        let err = ChainProfile::load(dir.path()).unwrap_err();
        assert!(err.to_string().contains("max_log_rang"), "{err}");
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
