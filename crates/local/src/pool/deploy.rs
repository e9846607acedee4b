//! What a deal runs: apps and datasets uploaded to the storage node and registered on chain,
//! and categories of work.

use alloy::primitives::{Address, B256, Bytes, U256};
use decloud_chain::client::Client;
use decloud_storage::{BlobStore, ContentHash};

use super::{APP_OWNER, DATASET_OWNER, Pool, PoolError};

impl Pool {
    /// Uploads a wasm module to the storage node and registers it as an app of the app
    /// developer; returns the app's id.
    pub async fn deploy_app(&self, name: &str, wasm: &[u8]) -> Result<Address, PoolError> {
        self.deploy_app_at(name, wasm, None).await
    }

    /// Like [`Self::deploy_app`], but registers `checksum` instead of the module's own (to test
    /// a module that does not match its registration).
    pub async fn deploy_app_at(
        &self,
        name: &str,
        wasm: &[u8],
        checksum: Option<B256>,
    ) -> Result<Address, PoolError> {
        upload_app(&self.profile, &self.storage_url, name, wasm, checksum).await
    }

    /// Like [`Self::deploy_app`], for TEE tasks: registered with the `sim` runner's measurement
    /// as its `mrenclave` (the enclave runner a key holder accepts for it).
    pub async fn deploy_tee_app(&self, name: &str, wasm: &[u8]) -> Result<Address, PoolError> {
        let mrenclave = B256::from(decloud_tee::sim::sim_runner_measurements().measurement().0);
        upload_app_with(
            &self.profile,
            &self.storage_url,
            name,
            wasm,
            None,
            mrenclave,
        )
        .await
    }

    /// Creates a category of work of reference time `reference_secs` (its deadlines and the
    /// sandbox's limits derive from it), as the hub's admin; returns its id.
    pub async fn create_category(&self, name: &str, reference_secs: u64) -> Result<u64, PoolError> {
        let admin = Client::connect(
            &self.profile,
            None,
            Some(decloud_chain::accounts::dev_signer(0)),
        )
        .await?;
        let ext = admin.hub();
        let id = admin
            .read("reading the category count", ext.categoryCount())
            .await?;
        admin
            .send(
                "creating a category",
                ext.createCategory(name.into(), name.into(), U256::from(reference_secs))
                    .into_transaction_request(),
            )
            .await?;
        Ok(u64::try_from(id).unwrap_or_default())
    }

    /// Uploads `bytes` to the storage node and registers them as a dataset of the dataset owner
    /// ([`DATASET_OWNER`]); returns the dataset's id.
    pub async fn deploy_dataset(&self, name: &str, bytes: &[u8]) -> Result<Address, PoolError> {
        let store = BlobStore::from_url(&self.storage_url)?;
        let id = store.put(Bytes::copy_from_slice(bytes)).await?;
        let owner = Client::connect(
            &self.profile,
            None,
            Some(decloud_chain::accounts::dev_signer(DATASET_OWNER)),
        )
        .await?;
        Ok(decloud_chain::actions::register_dataset(
            &owner,
            name,
            &store.url_of(&id),
            B256::from(ContentHash::of(bytes).0),
        )
        .await?)
    }

    /// Registers a **local** dataset of [`DATASET_OWNER`]: its checksum, never its bytes
    /// (uri [`decloud_worker::LOCAL_DATASET_URI`]); only a worker holding it at a local
    /// path runs its tasks.
    pub async fn deploy_local_dataset(
        &self,
        name: &str,
        bytes: &[u8],
    ) -> Result<Address, PoolError> {
        let owner = Client::connect(
            &self.profile,
            None,
            Some(decloud_chain::accounts::dev_signer(DATASET_OWNER)),
        )
        .await?;
        Ok(decloud_chain::actions::register_dataset(
            &owner,
            name,
            decloud_worker::LOCAL_DATASET_URI,
            B256::from(ContentHash::of(bytes).0),
        )
        .await?)
    }
}

/// Uploads a wasm module to the storage node at `storage_url` and registers it as an app of the
/// app developer ([`APP_OWNER`]) with `checksum`, or the module's own when `None`; returns the
/// app's id. [`Pool::deploy_app`] and the benchmarks' pools use it.
pub async fn upload_app(
    profile: &decloud_chain::ChainProfile,
    storage_url: &str,
    name: &str,
    wasm: &[u8],
    checksum: Option<B256>,
) -> Result<Address, PoolError> {
    upload_app_with(profile, storage_url, name, wasm, checksum, B256::ZERO).await
}

/// [`upload_app`] with the app's `mrenclave` (the enclave runner measurement of a TEE app).
pub async fn upload_app_with(
    profile: &decloud_chain::ChainProfile,
    storage_url: &str,
    name: &str,
    wasm: &[u8],
    checksum: Option<B256>,
    mrenclave: B256,
) -> Result<Address, PoolError> {
    let store = BlobStore::from_url(storage_url)?;
    let id = store.put(Bytes::copy_from_slice(wasm)).await?;
    let developer = Client::connect(
        profile,
        None,
        Some(decloud_chain::accounts::dev_signer(APP_OWNER)),
    )
    .await?;
    let checksum = checksum.unwrap_or(B256::from(ContentHash::of(wasm).0));
    Ok(decloud_chain::actions::register_app(
        &developer,
        name,
        &store.url_of(&id),
        checksum,
        mrenclave,
    )
    .await?)
}
