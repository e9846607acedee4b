//! Deployment of the protocol contracts from the committed artifacts, and devnet funding.

use alloy::primitives::{Address, U256};
use alloy::providers::Provider;
use serde::{Deserialize, Serialize};

use crate::ChainError;
use crate::contracts::{
    AppRegistry, Beacon, DatasetRegistry, DevToken, Hub, HubAudit, HubKeepers, HubSelection, IHub,
    KeeperRegistry, WorkerpoolRegistry,
};

/// Addresses of the deployed protocol contracts, as stored in the chain profile.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contracts {
    /// The escrow token (the devnet token on a devnet).
    pub token: Address,
    /// The hub: escrow, orders, deals, tasks. Bind `IHub` here.
    pub hub: Address,
    /// ERC-721 registry of apps.
    pub app_registry: Address,
    /// ERC-721 registry of datasets.
    pub dataset_registry: Address,
    /// ERC-721 registry of workerpools.
    pub workerpool_registry: Address,
    /// The randomness beacon random-selection deals draw from (zero when the hub has no
    /// random-selection facet; profiles written before it have none).
    #[serde(default)]
    pub beacon: Address,
    /// Where keepers publish their URLs (`KeeperRegistry`; zero when the hub names none:
    /// profiles written before it have none).
    #[serde(default)]
    pub keeper_registry: Address,
}

impl Contracts {
    /// A value with every address filled, for tests of code that stores profiles.
    pub fn example() -> Self {
        Self {
            token: Address::repeat_byte(0x22),
            hub: Address::repeat_byte(0x33),
            app_registry: Address::repeat_byte(0x44),
            dataset_registry: Address::repeat_byte(0x55),
            workerpool_registry: Address::repeat_byte(0x66),
            beacon: Address::repeat_byte(0x77),
            keeper_registry: Address::repeat_byte(0x88),
        }
    }
}

/// The categories a deployment creates, as iExec's: (name, description, workClockTimeRef in
/// seconds). Ids follow the order: 0 = XS, 1 = S, ...
pub const DEFAULT_CATEGORIES: [(&str, &str, u64); 5] = [
    ("XS", "extra small: reference duration 5 minutes", 300),
    ("S", "small: reference duration 20 minutes", 1_200),
    ("M", "medium: reference duration 1 hour", 3_600),
    ("L", "large: reference duration 3 hours", 10_800),
    ("XL", "extra large: reference duration 10 hours", 36_000),
];

/// The smallest stake an attester (a key holder, the SMS) locks, set at deployment: 100 tokens.
/// The hub's admin can change it (`setMinAttesterStake`); 0 would close the attester registry.
pub const DEFAULT_MIN_ATTESTER_STAKE: u64 = 100_000_000_000;

/// The devnet beacon's group key (drand's encoding, x.im ‖ x.re ‖ y.im ‖ y.re): the key of
/// `decloud node --beacon`'s default test group (seed "decloud devnet beacon", whatever its t and
/// n); `crates/testkit/tests/random_selection.rs` checks it against `decloud-beacon`.
pub const DEVNET_BEACON_PUBLIC_KEY: &str = "3021e522d3351b07c917993a1c6d18d5f78def5d239c35333bf8d5c7a9c8197f1d19d752b874d68bc40eb215e1870b6da2e60793d6ce30ff050441a24244587b2de482a0bd067fe12204138f73f161faf26065f6dc60c7e0891c82320d3d552b04ae94feb5e829c92054ad288a12acd68deb9b2752cca0a3922ad29a083391fe";

/// Where the devnet's beacon serves its rounds: `decloud node --beacon`'s default address. A devnet
/// profile names it so that `decloud dataset draw-keepers` can fetch a round nobody submitted.
pub const DEVNET_BEACON_URL: &str = "http://127.0.0.1:7900";

/// Seconds between the devnet beacon's rounds: one a block on a 1-second devnet.
pub const DEVNET_BEACON_PERIOD: u64 = 1;

/// The devnet beacon's key as the four words `Beacon`'s constructor takes.
pub fn devnet_beacon_key() -> [U256; 4] {
    let bytes = alloy::hex::decode(DEVNET_BEACON_PUBLIC_KEY).expect("a constant hex key");
    std::array::from_fn(|i| U256::from_be_slice(&bytes[32 * i..32 * (i + 1)]))
}

/// What a deployment produced: the addresses and the block of its first transaction.
#[derive(Clone, Debug)]
pub struct Deployment {
    /// Deployed contract addresses.
    pub contracts: Contracts,
    /// Block that holds the first deployment transaction.
    pub first_block: u64,
}

/// Waits for a transaction's receipt and checks it succeeded.
async fn confirm(
    what: &str,
    pending: alloy::providers::PendingTransactionBuilder<alloy::network::Ethereum>,
) -> Result<alloy::rpc::types::TransactionReceipt, ChainError> {
    let receipt = pending
        .get_receipt()
        .await
        .map_err(|e| ChainError::tx(what, e))?;
    if !receipt.status() {
        return Err(ChainError::tx(what, "the transaction reverted"));
    }
    Ok(receipt)
}

fn deployed_address(
    what: &str,
    receipt: &alloy::rpc::types::TransactionReceipt,
) -> Result<Address, ChainError> {
    receipt
        .contract_address
        .ok_or_else(|| ChainError::tx(what, "the receipt has no contract address"))
}

/// Deploys every protocol contract with `provider`'s signer as deployer; `admin` administers them.
///
/// Order: DevToken, AppRegistry, DatasetRegistry, WorkerpoolRegistry, KeeperRegistry (sent
/// together), then Hub
/// (which deploys its HubExtension), then the devnet beacon (its genesis the deployment time,
/// [`DEVNET_BEACON_PERIOD`]), the keepers' and audits' facets (sent together), and the
/// random-selection facet bound to all three. The deployer is the hub's first admin: it creates
/// [`DEFAULT_CATEGORIES`], sets [`DEFAULT_MIN_ATTESTER_STAKE`], then hands the admin role to
/// `admin` when they differ (sent together). Six rounds of receipts in all, so a devnet with
/// 1-second blocks deploys in about 6 seconds.
pub async fn deploy_all<P: Provider>(
    provider: &P,
    admin: Address,
) -> Result<Deployment, ChainError> {
    let tx = |what: &'static str| move |e| ChainError::tx(what, e);
    let token_tx = DevToken::deploy_builder(provider)
        .send()
        .await
        .map_err(tx("deploying DevToken"))?;
    let apps_tx = AppRegistry::deploy_builder(provider)
        .send()
        .await
        .map_err(tx("deploying AppRegistry"))?;
    let datasets_tx = DatasetRegistry::deploy_builder(provider)
        .send()
        .await
        .map_err(tx("deploying DatasetRegistry"))?;
    let pools_tx = WorkerpoolRegistry::deploy_builder(provider)
        .send()
        .await
        .map_err(tx("deploying WorkerpoolRegistry"))?;
    let keeper_registry_tx = KeeperRegistry::deploy_builder(provider)
        .send()
        .await
        .map_err(tx("deploying KeeperRegistry"))?;

    let receipt = confirm("deploying DevToken", token_tx).await?;
    let token = deployed_address("deploying DevToken", &receipt)?;
    let deployer = receipt.from;
    let first_block = receipt.block_number.unwrap_or_default();
    let receipt = confirm("deploying AppRegistry", apps_tx).await?;
    let app_registry = deployed_address("deploying AppRegistry", &receipt)?;
    let receipt = confirm("deploying DatasetRegistry", datasets_tx).await?;
    let dataset_registry = deployed_address("deploying DatasetRegistry", &receipt)?;
    let receipt = confirm("deploying WorkerpoolRegistry", pools_tx).await?;
    let workerpool_registry = deployed_address("deploying WorkerpoolRegistry", &receipt)?;
    let receipt = confirm("deploying KeeperRegistry", keeper_registry_tx).await?;
    let keeper_registry = deployed_address("deploying KeeperRegistry", &receipt)?;

    let what = "deploying Hub";
    let receipt = confirm(
        what,
        Hub::deploy_builder(
            provider,
            token,
            app_registry,
            dataset_registry,
            workerpool_registry,
            deployer,
        )
        .send()
        .await
        .map_err(tx(what))?,
    )
    .await?;
    let hub = deployed_address(what, &receipt)?;

    let what = "deploying the beacon";
    let genesis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let receipt = confirm(
        what,
        Beacon::deploy_builder(provider, devnet_beacon_key(), genesis, DEVNET_BEACON_PERIOD)
            .send()
            .await
            .map_err(tx(what))?,
    )
    .await?;
    let beacon = deployed_address(what, &receipt)?;
    // HubSelection's two facets first, sent together: created inside its constructor, their code
    // would push its initcode past EIP-3860's limit.
    let keepers_tx = HubKeepers::deploy_builder(
        provider,
        token,
        app_registry,
        dataset_registry,
        workerpool_registry,
        beacon,
        keeper_registry,
    )
    .send()
    .await
    .map_err(tx("deploying HubKeepers"))?;
    let audits_tx = HubAudit::deploy_builder(
        provider,
        token,
        app_registry,
        dataset_registry,
        workerpool_registry,
        beacon,
    )
    .send()
    .await
    .map_err(tx("deploying HubAudit"))?;
    let receipt = confirm("deploying HubKeepers", keepers_tx).await?;
    let keepers = deployed_address("deploying HubKeepers", &receipt)?;
    let receipt = confirm("deploying HubAudit", audits_tx).await?;
    let audits = deployed_address("deploying HubAudit", &receipt)?;
    let what = "deploying HubSelection";
    let receipt = confirm(
        what,
        HubSelection::deploy_builder(
            provider,
            token,
            app_registry,
            dataset_registry,
            workerpool_registry,
            beacon,
            keepers,
            audits,
        )
        .send()
        .await
        .map_err(tx(what))?,
    )
    .await?;
    let selection = deployed_address(what, &receipt)?;

    let ext = IHub::new(hub, provider);
    let mut pending = Vec::with_capacity(DEFAULT_CATEGORIES.len() + 3);
    {
        let what = "setting the random-selection facet".to_string();
        let sent = ext
            .setSelection(selection)
            .send()
            .await
            .map_err(|e| ChainError::tx(&what, e))?;
        pending.push((what, sent));
    }
    for (name, description, reference) in DEFAULT_CATEGORIES {
        let what = format!("creating category {name}");
        let sent = ext
            .createCategory(
                name.to_string(),
                description.to_string(),
                U256::from(reference),
            )
            .send()
            .await
            .map_err(|e| ChainError::tx(&what, e))?;
        pending.push((what, sent));
    }
    {
        let what = "setting the attesters' minimum stake".to_string();
        let sent = ext
            .setMinAttesterStake(U256::from(DEFAULT_MIN_ATTESTER_STAKE))
            .send()
            .await
            .map_err(|e| ChainError::tx(&what, e))?;
        pending.push((what, sent));
    }
    if admin != deployer {
        let what = "handing the hub admin role over".to_string();
        let sent = ext
            .transferAdmin(admin)
            .send()
            .await
            .map_err(|e| ChainError::tx(&what, e))?;
        pending.push((what, sent));
    }
    for (what, sent) in pending {
        confirm(&what, sent).await?;
    }

    Ok(Deployment {
        contracts: Contracts {
            token,
            hub,
            app_registry,
            dataset_registry,
            workerpool_registry,
            beacon,
            keeper_registry,
        },
        first_block,
    })
}

/// Mints `amount` devnet tokens to each of `accounts` through the faucet. All transactions are
/// sent before any receipt is awaited, so funding ten accounts costs one block, not ten.
pub async fn fund_accounts<P: Provider>(
    provider: &P,
    contracts: &Contracts,
    accounts: &[Address],
    amount: U256,
) -> Result<(), ChainError> {
    let token = DevToken::new(contracts.token, provider);
    let mut pending = Vec::with_capacity(accounts.len());
    for account in accounts {
        let tx = token
            .faucet(*account, amount)
            .send()
            .await
            .map_err(|e| ChainError::tx(format!("funding {account}"), e))?;
        pending.push((account, tx));
    }
    for (account, tx) in pending {
        let receipt = tx
            .get_receipt()
            .await
            .map_err(|e| ChainError::tx(format!("funding {account}"), e))?;
        if !receipt.status() {
            return Err(ChainError::tx(
                format!("funding {account}"),
                "the faucet transaction reverted",
            ));
        }
    }
    Ok(())
}
