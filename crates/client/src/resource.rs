//! Apps, datasets and workerpools in their registries (ERC-721 tokens whose id is the
//! resource's address): deploying, looking up, listing; and the hub's categories.

use std::path::Path;

use alloy::primitives::{Address, B256, U256};
use alloy::rpc::types::{Filter, Log, TransactionReceipt, TransactionRequest};
use alloy::sol_types::SolEvent;
use decloud_chain::client::Client;
use decloud_chain::contracts::{AppRegistry, DatasetRegistry, WorkerpoolRegistry};
use decloud_storage::{BlobStore, ContentHash};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::lookup::{CONTRIBUTION_DEADLINE_RATIO, FINAL_DEADLINE_RATIO, contract_logs, small};

/// The three resource kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Apps.
    App,
    /// Datasets.
    Dataset,
    /// Workerpools.
    Workerpool,
}

impl Kind {
    /// `app`, `dataset` or `workerpool`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::App => "app",
            Kind::Dataset => "dataset",
            Kind::Workerpool => "workerpool",
        }
    }

    /// The kind's registry on the client's chain.
    pub fn registry(self, client: &Client) -> Address {
        let c = &client.profile().contracts;
        match self {
            Kind::App => c.app_registry,
            Kind::Dataset => c.dataset_registry,
            Kind::Workerpool => c.workerpool_registry,
        }
    }

    fn event(self) -> B256 {
        match self {
            Kind::App => AppRegistry::AppRegistered::SIGNATURE_HASH,
            Kind::Dataset => DatasetRegistry::DatasetRegistered::SIGNATURE_HASH,
            Kind::Workerpool => WorkerpoolRegistry::WorkerpoolRegistered::SIGNATURE_HASH,
        }
    }
}

/// A resource as shown and listed.
#[derive(Debug, Serialize)]
pub struct Resource {
    /// `app`, `dataset` or `workerpool`.
    pub kind: &'static str,
    /// Its address (its token id).
    pub address: Address,
    /// Its owner now.
    pub owner: Address,
    /// App and dataset: name; workerpool: description.
    pub name: String,
    /// Where the app's module or the dataset is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// sha256 of the module or dataset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checksum: Option<B256>,
    /// The app's TEE fingerprint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mrenclave: Option<B256>,
    /// Share of the price a worker stakes (workerpools).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worker_stake_ratio: Option<u8>,
    /// Share of the price the scheduler keeps (workerpools).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheduler_reward_ratio: Option<u8>,
    /// Who registered it (differs from `owner` after a transfer).
    pub registered_by: Address,
    /// Block of the registration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub block: Option<u64>,
}

impl Resource {
    /// The resource described by its registration event (owner as registered).
    fn from_log(kind: Kind, log: &Log) -> Option<Self> {
        let mut r = Resource {
            kind: kind.name(),
            address: Address::ZERO,
            owner: Address::ZERO,
            name: String::new(),
            uri: None,
            checksum: None,
            mrenclave: None,
            worker_stake_ratio: None,
            scheduler_reward_ratio: None,
            registered_by: Address::ZERO,
            block: log.block_number,
        };
        match kind {
            Kind::App => {
                let e = AppRegistry::AppRegistered::decode_log(&log.inner).ok()?;
                (r.address, r.owner, r.name) = (e.app, e.owner, e.name.clone());
                (r.uri, r.checksum) = (Some(e.uri.clone()), Some(e.checksum));
                r.mrenclave = Some(e.mrenclave);
            }
            Kind::Dataset => {
                let e = DatasetRegistry::DatasetRegistered::decode_log(&log.inner).ok()?;
                (r.address, r.owner, r.name) = (e.dataset, e.owner, e.name.clone());
                (r.uri, r.checksum) = (Some(e.uri.clone()), Some(e.checksum));
            }
            Kind::Workerpool => {
                let e = WorkerpoolRegistry::WorkerpoolRegistered::decode_log(&log.inner).ok()?;
                (r.address, r.owner, r.name) = (e.workerpool, e.owner, e.description.clone());
                r.worker_stake_ratio = Some(e.workerStakeRatio);
                r.scheduler_reward_ratio = Some(e.schedulerRewardRatio);
            }
        }
        r.registered_by = r.owner;
        Some(r)
    }
}

/// The registration events of `kind` (only `address`'s when given), oldest first.
async fn registrations(client: &Client, kind: Kind, address: Option<Address>) -> Result<Vec<Log>> {
    let mut filter = Filter::new().event_signature(kind.event());
    if let Some(a) = address {
        filter = filter.topic1(a.into_word());
    }
    contract_logs(client, kind.registry(client), filter).await
}

/// The owner of `address` now.
pub async fn current_owner(client: &Client, kind: Kind, address: Address) -> Result<Address> {
    Ok(AppRegistry::new(kind.registry(client), client.provider())
        .ownerOfResource(address)
        .call()
        .await
        .map_err(|e| client.contract_error(&format!("reading the {}'s owner", kind.name()), &e))?)
}

/// The resource at `address`, with its registration details and current owner.
pub async fn lookup(client: &Client, kind: Kind, address: Address) -> Result<Resource> {
    let logs = registrations(client, kind, Some(address)).await?;
    let mut resource = logs
        .iter()
        .find_map(|l| Resource::from_log(kind, l))
        .ok_or(Error::UnknownResource {
            kind: kind.name(),
            address,
        })?;
    resource.owner = current_owner(client, kind, address).await?;
    if kind == Kind::Workerpool {
        let info = WorkerpoolRegistry::new(kind.registry(client), client.provider())
            .workerpoolInfo(address)
            .call()
            .await
            .map_err(|e| client.contract_error("reading the workerpool", &e))?;
        resource.worker_stake_ratio = Some(info.workerStakeRatio);
        resource.scheduler_reward_ratio = Some(info.schedulerRewardRatio);
    }
    Ok(resource)
}

/// Every resource of `kind` (only `owner`'s when given, by current owner), oldest first.
pub async fn list(client: &Client, kind: Kind, owner: Option<Address>) -> Result<Vec<Resource>> {
    let mut resources = Vec::new();
    for log in &registrations(client, kind, None).await? {
        let Some(mut r) = Resource::from_log(kind, log) else {
            continue;
        };
        r.owner = current_owner(client, kind, r.address).await?;
        if owner.is_none_or(|o| o == r.owner) {
            resources.push(r);
        }
    }
    Ok(resources)
}

/// Uploads `file` to the storage location `store` (a URL, s3://..., a directory); returns the
/// URL it is served at.
pub async fn upload(store: &str, file: &Path) -> Result<String> {
    let bytes =
        std::fs::read(file).map_err(Error::io(format!("cannot read {}", file.display())))?;
    let store = BlobStore::from_url(store)?;
    let id = store.put(bytes).await.map_err(|source| Error::Upload {
        file: file.to_path_buf(),
        location: store.location().to_string(),
        source,
    })?;
    Ok(store.url_of(&id))
}

/// The sha256 of `file`, as registered for a module or dataset.
pub fn checksum_of(file: &Path) -> Result<B256> {
    let bytes =
        std::fs::read(file).map_err(Error::io(format!("cannot read {}", file.display())))?;
    Ok(B256::from(ContentHash::of(&bytes).0))
}

/// The registration of an app, or [`Error::AlreadyDeployed`] when the wallet registered the
/// same one before.
pub async fn app_registration(
    client: &Client,
    name: String,
    uri: String,
    checksum: B256,
    mrenclave: B256,
) -> Result<TransactionRequest> {
    let owner = client.address().ok_or(Error::NoWallet)?;
    let registry = client.app_registry();
    let id = client
        .read(
            "predicting the app's id",
            registry.predictId(owner, name.clone(), uri.clone(), checksum, mrenclave),
        )
        .await?;
    let exists = client
        .read("reading the app registry", registry.exists(id))
        .await?;
    if exists {
        return Err(Error::AlreadyDeployed {
            what: "app (same owner, name, uri, checksum, mrenclave)",
            kind: "app",
            id,
        });
    }
    Ok(registry
        .register(name, uri, checksum, mrenclave)
        .into_transaction_request())
}

/// The registration of a dataset, or [`Error::AlreadyDeployed`] when the wallet registered the
/// same one before.
pub async fn dataset_registration(
    client: &Client,
    name: String,
    uri: String,
    checksum: B256,
) -> Result<TransactionRequest> {
    let owner = client.address().ok_or(Error::NoWallet)?;
    let registry = client.dataset_registry();
    let id = client
        .read(
            "predicting the dataset's id",
            registry.predictId(owner, name.clone(), uri.clone(), checksum),
        )
        .await?;
    let exists = client
        .read("reading the dataset registry", registry.exists(id))
        .await?;
    if exists {
        return Err(Error::AlreadyDeployed {
            what: "dataset (same owner, name, uri, checksum)",
            kind: "dataset",
            id,
        });
    }
    Ok(registry
        .register(name, uri, checksum)
        .into_transaction_request())
}

/// The registration of a workerpool.
pub fn workerpool_registration(
    client: &Client,
    description: String,
    worker_stake_ratio: u8,
    scheduler_reward_ratio: u8,
) -> TransactionRequest {
    client
        .workerpool_registry()
        .register(description, worker_stake_ratio, scheduler_reward_ratio)
        .into_transaction_request()
}

/// The resource a registration transaction's receipt announces.
pub fn registered(kind: Kind, receipt: &TransactionReceipt) -> Result<Resource> {
    receipt
        .inner
        .logs()
        .iter()
        .filter(|l| l.topic0() == Some(&kind.event()))
        .find_map(|l| Resource::from_log(kind, l))
        .ok_or(Error::NoRegistration(kind.name()))
}

/// A category of the hub, with the deadlines it gives a task.
#[derive(Debug, Serialize)]
pub struct Category {
    /// Its id.
    pub id: u64,
    /// Its name.
    pub name: String,
    /// Its reference time, in seconds.
    pub work_clock_time_ref: u64,
    /// Seconds a task has for its contributions.
    pub contribution_deadline_secs: u64,
    /// Seconds a task has to be finalized.
    pub final_deadline_secs: u64,
}

/// Every category of the hub, by id.
pub async fn categories(client: &Client) -> Result<Vec<Category>> {
    let hub = client.hub();
    let count = client
        .read("reading the categories", hub.categoryCount())
        .await?;
    let mut categories = Vec::new();
    for id in 0..small(count) {
        let c = client
            .read("reading a category", hub.category(U256::from(id)))
            .await?;
        let reference = small(c.workClockTimeRef);
        categories.push(Category {
            id,
            name: c.name,
            work_clock_time_ref: reference,
            contribution_deadline_secs: reference.saturating_mul(CONTRIBUTION_DEADLINE_RATIO),
            final_deadline_secs: reference.saturating_mul(FINAL_DEADLINE_RATIO),
        });
    }
    Ok(categories)
}
