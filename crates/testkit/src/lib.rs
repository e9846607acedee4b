//! Everything an integration test needs to run decloud for real, on top of `decloud-local`:
//! [`Devnet::start`] gives a fresh anvil on a free port with the protocol contracts deployed
//! and the development accounts funded, plus a private `$DECLOUD_HOME` holding its chain
//! profile (so the `decloud` binary can be pointed at it). Dropping the value stops anvil and
//! deletes the directory, so any number of tests run side by side.
//!
//! [`pool::Pool`] adds a workerpool on top: a storage node, a scheduler and workers, all in the
//! test's process, with the calls to deploy apps and match deals. [`market::IdleMarket`] is a
//! market whose book moves only when a test says so, and [`anvil`] takes snapshots, reorgs the
//! chain and pushes its clock. [`hostile::Hostile`] is a worker that lies in every way a worker
//! can, for the adversarial suite. [`cluster`] runs each service as its own process on its own
//! host (a network namespace) and breaks the network between them. [`oracle::TwoChains`] adds a
//! second chain with a gateway, for oracles across chains. [`power_cut`] keeps a service's files
//! on a disk whose state after a power cut a test can mount, to check what was synced.
//! [`confidential`] holds what the confidentiality tests share: leak scans, recording proxies,
//! confinement, encrypted apps.

pub mod anvil;
pub mod certs;
pub mod cluster;
pub mod confidential;
pub mod fixtures;
pub mod hostile;
pub mod logs;
pub mod market;
pub mod openapi;
pub mod oracle;
pub mod pool;
pub mod power_cut;

pub use decloud_local::Devnet;
