//! What the SMS reads on chain: who owns an app or a dataset, whether a contract wallet accepts
//! a signature (ERC-1271), a task's state, an app's checksum and `mrenclave`, and the chain's
//! clock. Deals come from the follower (see [`crate::follow`]).

use alloy::primitives::{Address, B256, Bytes, FixedBytes};
use alloy::providers::{DynProvider, Provider};
use decloud_chain::ChainProfile;
use decloud_chain::contracts::{AppRegistry, DatasetRegistry, IHub};

use crate::SmsError;

alloy::sol! {
    #[sol(rpc)]
    /// ERC-1271: a contract wallet says whether a signature is its own.
    interface IERC1271 {
        function isValidSignature(bytes32 hash, bytes signature) external view returns (bytes4);
    }
}

/// ERC-1271's "valid" answer.
const ERC1271_MAGIC: [u8; 4] = [0x16, 0x26, 0xba, 0x7e];

/// A deal as `DealCreated` emitted it, with its request params.
#[derive(Clone, Debug)]
pub struct DealOnChain {
    /// The deal.
    pub deal: IHub::Deal,
    /// The request's params (JSON text, maybe empty).
    pub params: String,
}

/// An app's registration.
#[derive(Clone, Copy, Debug)]
pub struct AppOnChain {
    /// Its owner.
    pub owner: Address,
    /// The sha256 of its wasm module.
    pub checksum: B256,
    /// The runner measurement it accepts (zero: not a TEE app).
    pub mrenclave: B256,
}

/// Read-only access to the hub and the registries.
///
/// What never changes once on chain is read once and kept: an app's checksum and measurement
/// (set at registration, never again), the keepers' epoch length (set once by the admin) and a
/// keeper's membership of an epoch's draw once it is drawn (an epoch is drawn once). A task's
/// status, the clock, a dataset's keeper group and the current epoch are read every time.
pub struct ChainReader {
    profile: ChainProfile,
    provider: DynProvider,
    /// Registered apps' `(checksum, mrenclave)`.
    apps: std::sync::Mutex<std::collections::HashMap<Address, (B256, B256)>>,
    /// `(dataset, epoch, keeper)` found drawn.
    drawn: std::sync::Mutex<std::collections::HashSet<(Address, u64, Address)>>,
}

impl ChainReader {
    /// A reader of `profile`'s chain.
    pub fn new(profile: &ChainProfile) -> Result<Self, SmsError> {
        let provider = decloud_chain::client::read_only_provider(&profile.rpc_url)
            .map_err(|e| SmsError::Chain(e.to_string()))?;
        Ok(Self {
            profile: profile.clone(),
            provider,
            apps: Default::default(),
            drawn: Default::default(),
        })
    }

    /// The chain's profile.
    pub fn profile(&self) -> &ChainProfile {
        &self.profile
    }

    fn failed(&self, what: &str, e: impl std::fmt::Display) -> SmsError {
        let first = e.to_string();
        let first = first
            .lines()
            .next()
            .unwrap_or_default()
            .chars()
            .take(200)
            .collect::<String>();
        SmsError::Chain(format!(
            "{what} on the chain at {} failed: {first}; nothing was changed, try again",
            decloud_chain::client::endpoint(&self.profile.rpc_url)
        ))
    }

    /// Whether `attester`'s `EnclaveAttested` signatures count at the hub now (registered,
    /// staked at least the minimum, not leaving, not slashed).
    pub async fn attester_active(&self, attester: Address) -> Result<bool, SmsError> {
        let hub = IHub::new(self.profile.contracts.hub, &self.provider);
        let record = hub
            .attester(attester)
            .call()
            .await
            .map_err(|e| self.failed("reading the attester registry", e))?;
        Ok(record.active)
    }

    /// The owner of app `app`, or zero when it is not registered.
    pub async fn app_owner(&self, app: Address) -> Result<Address, SmsError> {
        let registry = AppRegistry::new(self.profile.contracts.app_registry, &self.provider);
        let info = registry
            .ownerInfo(app)
            .call()
            .await
            .map_err(|e| self.failed("reading the app's owner", e))?;
        Ok(info.owner)
    }

    /// The owner of dataset `dataset`, or zero when it is not registered.
    pub async fn dataset_owner(&self, dataset: Address) -> Result<Address, SmsError> {
        let registry =
            DatasetRegistry::new(self.profile.contracts.dataset_registry, &self.provider);
        let info = registry
            .ownerInfo(dataset)
            .call()
            .await
            .map_err(|e| self.failed("reading the dataset's owner", e))?;
        Ok(info.owner)
    }

    /// The app's registration.
    pub async fn app(&self, app: Address) -> Result<AppOnChain, SmsError> {
        let registry = AppRegistry::new(self.profile.contracts.app_registry, &self.provider);
        let info = registry
            .appInfo(app)
            .call()
            .await
            .map_err(|e| self.failed("reading the app", e))?;
        Ok(AppOnChain {
            owner: info.owner,
            checksum: info.checksum,
            mrenclave: info.mrenclave,
        })
    }

    /// The checksum and runner measurement of app `app` (zeros when it is not registered),
    /// read from the chain once per registered app: neither ever changes.
    pub async fn app_code(&self, app: Address) -> Result<(B256, B256), SmsError> {
        if let Some(code) = self.apps.lock().ok().and_then(|a| a.get(&app).copied()) {
            return Ok(code);
        }
        let info = self.app(app).await?;
        let code = (info.checksum, info.mrenclave);
        if info.checksum != B256::ZERO
            && let Ok(mut apps) = self.apps.lock()
        {
            apps.insert(app, code);
        }
        Ok(code)
    }

    /// Whether `account` has code (a contract wallet).
    pub async fn is_contract(&self, account: Address) -> Result<bool, SmsError> {
        let code = self
            .provider
            .get_code_at(account)
            .await
            .map_err(|e| self.failed("reading the signer's code", e))?;
        Ok(!code.is_empty())
    }

    /// Whether contract wallet `wallet` accepts `signature` over `hash` (ERC-1271). A wallet
    /// that reverts or answers anything but the magic value says no.
    pub async fn wallet_accepts(
        &self,
        wallet: Address,
        hash: B256,
        signature: &[u8],
    ) -> Result<bool, SmsError> {
        let contract = IERC1271::new(wallet, &self.provider);
        match contract
            .isValidSignature(hash, Bytes::copy_from_slice(signature))
            .call()
            .await
        {
            Ok(answer) => Ok(answer == FixedBytes::<4>::from(ERC1271_MAGIC)),
            Err(alloy::contract::Error::TransportError(e)) if !e.is_error_resp() => {
                Err(self.failed("asking the wallet", e))
            }
            Err(_) => Ok(false),
        }
    }

    /// The task's state on the hub.
    pub async fn task(&self, task_id: B256) -> Result<IHub::TaskView, SmsError> {
        let hub = IHub::new(self.profile.contracts.hub, &self.provider);
        hub.task(task_id)
            .call()
            .await
            .map_err(|e| self.failed("reading the task", e))
    }

    /// When `dataset` has a keeper group: the current keeper epoch and whether `keeper` was
    /// drawn for it (the hub counts only such keepers' attestations). `None` without a group.
    pub async fn keeper_of_epoch(
        &self,
        dataset: Address,
        keeper: Address,
    ) -> Result<Option<(u64, bool)>, SmsError> {
        let hub = IHub::new(self.profile.contracts.hub, &self.provider);
        // Both at once; the epoch is read even without a group (it may revert then: keepers not
        // enabled), so its failure counts only when there is a group.
        let (group, epoch) = tokio::join!(async { hub.keeperGroup(dataset).call().await }, async {
            hub.keeperEpoch().call().await
        });
        let group = group.map_err(|e| self.failed("reading the dataset's keeper group", e))?;
        if group.n.is_zero() {
            return Ok(None);
        }
        let epoch = epoch.map_err(|e| self.failed("reading the keeper epoch", e))?;
        let epoch_number: u64 = epoch.saturating_to();
        let key = (dataset, epoch_number, keeper);
        if self.drawn.lock().is_ok_and(|d| d.contains(&key)) {
            return Ok(Some((epoch_number, true)));
        }
        let drawn = hub
            .isKeeper(dataset, epoch, keeper)
            .call()
            .await
            .map_err(|e| self.failed("reading the epoch's keeper draw", e))?;
        // Drawn stays drawn (an epoch is drawn once); not drawn yet may change.
        if drawn && let Ok(mut d) = self.drawn.lock() {
            d.insert(key);
        }
        Ok(Some((epoch_number, drawn)))
    }

    /// The timestamp of the latest block: the hub's clock, which decides its deadlines.
    pub async fn now(&self) -> Result<u64, SmsError> {
        let block = self
            .provider
            .get_block_by_number(alloy::eips::BlockNumberOrTag::Latest)
            .await
            .map_err(|e| self.failed("reading the latest block", e))?
            .ok_or_else(|| self.failed("reading the latest block", "no block"))?;
        Ok(block.header.timestamp)
    }
}
