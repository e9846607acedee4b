//! The in-process workerpool of `decloud-local` ([`Pool`]), with the roles, requests and
//! helpers tests use, plus test-only conveniences.
//!
//! ```no_run
//! # async fn f() -> Result<(), Box<dyn std::error::Error>> {
//! use decloud_testkit::{Devnet, pool::{Pool, PoolOptions, DealRequest}};
//! let devnet = Devnet::start().await?;
//! let pool = Pool::start(&devnet, PoolOptions::default()).await?;
//! let app = pool.deploy_app("greeting", &std::fs::read("greeting.wasm")?).await?;
//! let deal = pool.deal(&DealRequest::new(app).args("Alice")).await?;
//! pool.wait_completed(&deal.task_ids(), std::time::Duration::from_secs(60)).await?;
//! # Ok(()) }
//! ```

use decloud_chain::ChainError;
use decloud_chain::client::Client;

pub use decloud_local::pool::*;

use crate::Devnet;

/// A client of the devnet signing with development account `index`.
pub async fn client(devnet: &Devnet, index: usize) -> Result<Client, ChainError> {
    Client::connect(devnet.profile(), None, Some(devnet.signer(index))).await
}
