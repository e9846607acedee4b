//! The workerpool scheduler: follows the chain for its pool's deals, assigns replicates to
//! registered workers, decides how many replicas a task needs, signs contribution
//! authorizations, and keeps every replicate's off-chain stage. Its state lives in SQL
//! (SQLite embedded, Postgres by URL) so that a restart loses nothing.

pub mod db;
mod error;
pub mod policy;

pub use db::Store;
pub use error::SchedulerError;
