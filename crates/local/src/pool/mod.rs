//! A workerpool running in-process on a [`Devnet`](crate::Devnet): a registered workerpool and a
//! [`Node`] running its storage node, scheduler and workers with their own wallets, plus the
//! calls the demo (or a test) makes as app developer and requester: deploy an app from its
//! wasm bytes, and match a deal.
//!
//! Roles by development account: 1 app developer, 2 dataset owner, 3 workerpool owner
//! (scheduler), 4 requester; workers use accounts 5 to 9, then fresh funded keys.
//!
//! ```no_run
//! # async fn f() -> Result<(), Box<dyn std::error::Error>> {
//! use decloud_local::{Devnet, pool::{Pool, PoolOptions, DealRequest}};
//! let devnet = Devnet::start().await?;
//! let pool = Pool::start(&devnet, PoolOptions::default()).await?;
//! let app = pool.deploy_app("greeting", &std::fs::read("greeting.wasm")?).await?;
//! let deal = pool.deal(&DealRequest::new(app).args("Alice")).await?;
//! pool.wait_completed(&deal.task_ids(), std::time::Duration::from_secs(60)).await?;
//! # Ok(()) }
//! ```

mod accounts;
mod deal;
mod deploy;
mod options;
mod services;

use alloy::primitives::Address;
use alloy::signers::local::PrivateKeySigner;
use tempfile::TempDir;

use crate::LocalError;
use crate::node::Node;

pub use accounts::{DEVNET_MIN_WORKER_STAKE, make_members, worker_keys};
pub use deal::{Deal, DealRequest, wait_current_snapshot};
pub use deploy::{upload_app, upload_app_with};
pub use options::PoolOptions;

/// Development account of the app developer.
pub const APP_OWNER: usize = 1;
/// Development account of the dataset owner.
pub const DATASET_OWNER: usize = 2;
/// Development account of the workerpool owner, whose key the scheduler signs with.
pub const POOL_OWNER: usize = 3;
/// Development account of the requester.
pub const REQUESTER: usize = 4;
/// First development account used by workers.
pub const FIRST_WORKER: usize = 5;

/// What can go wrong setting a pool up or driving it.
pub type PoolError = LocalError;

/// A running workerpool on a devnet.
pub struct Pool {
    /// The devnet's profile.
    pub profile: decloud_chain::ChainProfile,
    /// The workerpool.
    pub workerpool: Address,
    /// Where the storage node serves blobs (`http://addr/blobs`).
    pub storage_url: String,
    options: PoolOptions,
    // Field order matters: the services stop before their directory is deleted.
    node: Node,
    keepers: Vec<Option<decloud_sms::RunningSms>>,
    keeper_urls: Vec<String>,
    keeper_keys: Vec<PrivateKeySigner>,
    worker_keys: Vec<PrivateKeySigner>,
    dir: TempDir,
    salt: std::sync::atomic::AtomicU64,
}
