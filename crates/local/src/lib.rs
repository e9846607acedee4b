//! Every decloud service in one process, with one configuration and one handle: what
//! `decloud node` and `decloud demo` run, and what the integration tests and benchmarks build
//! on.
//!
//! - [`Devnet`]: a fresh anvil on a free port with the protocol deployed and the development
//!   accounts funded, and a private `$DECLOUD_HOME` holding its chain profile.
//! - [`node::Node`]: any set of services (storage node, market, a workerpool's scheduler, N
//!   workers) against a chain profile, started from one [`node::NodeConfig`]; dropping the
//!   handle stops them all.
//! - [`pool::Pool`]: a registered workerpool with every service of [`node::Node`] on a
//!   [`Devnet`], plus the calls an app developer and a requester make (deploy an app, match a
//!   deal, wait for its tasks); [`Cluster`] bundles it with its devnet.
//!
//! ```no_run
//! # async fn f() -> Result<(), decloud_local::LocalError> {
//! use decloud_local::{Cluster, ClusterConfig, pool::DealRequest};
//! let cluster = Cluster::start(ClusterConfig::default()).await?;
//! let app = cluster.pool.deploy_app("greeting", &std::fs::read("greeting.wasm").unwrap()).await?;
//! let deal = cluster.pool.deal(&DealRequest::new(app).args("Alice")).await?;
//! cluster.pool.wait_completed(&deal.task_ids(), std::time::Duration::from_secs(60)).await?;
//! # Ok(()) }
//! ```

mod devnet;
mod error;
pub mod node;
pub mod pool;

pub use devnet::Devnet;
pub use error::LocalError;
pub use node::{Node, NodeConfig, WorkersConfig};
pub use pool::{Pool, PoolOptions};

/// How to start a [`Cluster`]: its chain's block time and its pool.
#[derive(Clone, Debug, Default)]
pub struct ClusterConfig {
    /// Seconds between blocks (0 mines every transaction at once).
    pub block_time: u64,
    /// The workerpool and its services.
    pub pool: PoolOptions,
}

/// A devnet and a workerpool running on it, in this process. Dropping it stops the services,
/// then the chain.
pub struct Cluster {
    // Field order matters: the services stop before the chain they talk to.
    /// The workerpool and its services.
    pub pool: Pool,
    /// The chain.
    pub devnet: Devnet,
}

impl Cluster {
    /// Starts a devnet, then a workerpool on it.
    pub async fn start(config: ClusterConfig) -> Result<Self, LocalError> {
        let devnet = Devnet::start_with_block_time(config.block_time).await?;
        let pool = Pool::start(&devnet, config.pool).await?;
        Ok(Self { pool, devnet })
    }
}
