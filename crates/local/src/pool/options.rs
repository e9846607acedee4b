//! How to set a pool up: [`PoolOptions`], their defaults, and a debug form that never prints
//! the administrator's password.

use std::time::Duration;

use alloy::primitives::U256;

/// How to set a pool up.
#[derive(Clone)]
pub struct PoolOptions {
    /// Number of workers.
    pub workers: usize,
    /// Replicates each worker runs at once.
    pub worker_capacity: u64,
    /// How often the scheduler reads the chain.
    pub follow_interval: Duration,
    /// Silence after which the scheduler gives a worker's work to others.
    pub heartbeat_timeout: Duration,
    /// Price of the workerpool order, per task.
    pub workerpool_price: U256,
    /// Highest trust the workerpool order offers.
    pub max_trust: u64,
    /// Volume of the workerpool order.
    pub volume: u64,
    /// Largest upload the storage node accepts.
    pub storage_max_upload: u64,
    /// What one client may ask of the scheduler (a benchmark playing thousands of workers from
    /// one address raises them).
    pub rate_limits: decloud_scheduler::limits::RateLimits,
    /// Serve the scheduler and the storage node over plain HTTP instead of TLS (a devnet may;
    /// benchmarks compare the two).
    pub plain_http: bool,
    /// Certificate authorities whose client certificates the scheduler's pool API accepts.
    pub client_cas: Vec<decloud_service::tls::CertificateDer<'static>>,
    /// The password of the pool API's administrator `admin` (none: no administrator).
    pub pool_admin_password: Option<String>,
    /// Run TEE tasks: the node also runs an SMS whose wallet is a registered attester, and the
    /// workers' enclaves are of this backend (`sim` on a devnet). `None`: no TEE.
    pub tee: Option<decloud_tee::TeeKind>,
    /// The RPC URL the workers use instead of the devnet's (a test puts a proxy there to cut
    /// the workers off the chain while the scheduler still reaches it).
    pub worker_rpc: Option<String>,
    /// Run a devnet randomness beacon (the devnet group's keys, on the chain beacon's clock)
    /// that the scheduler fetches the rounds of its random-selection deals from.
    pub beacon: bool,
    /// With [`Self::tee`]: run this many keepers (SMS nodes with `--keeper`, each a registered
    /// attester) instead of one SMS, and give the workers all of them as key holders.
    pub keepers: usize,
    /// With [`Self::keepers`]: each keeper publishes its URL in the chain's keeper registry
    /// (`decloud node --keeper --public-url`) and the workers are given no key holders: they
    /// find each task's keepers on chain.
    pub keepers_on_chain: bool,
    /// With [`Self::tee`] and no keepers: run this many whole SMS nodes (each holding whole
    /// secrets) instead of one, all given to the workers as key holders; reached like keepers
    /// ([`Pool::keeper_urls`](super::Pool::keeper_urls),
    /// [`Pool::stop_keeper`](super::Pool::stop_keeper)).
    pub sms_nodes: usize,
    /// With [`Self::sms_nodes`]: the last this many of them are not registered attesters (their
    /// attestations count for nothing at the hub).
    pub unregistered_sms: usize,
    /// How the workers batch their contributions and reveals (the worker's default).
    pub worker_batching: decloud_worker::Batching,
}

impl std::fmt::Debug for PoolOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the administrator's password: only whether there is one.
        f.debug_struct("PoolOptions")
            .field("workers", &self.workers)
            .field("worker_capacity", &self.worker_capacity)
            .field("follow_interval", &self.follow_interval)
            .field("heartbeat_timeout", &self.heartbeat_timeout)
            .field("workerpool_price", &self.workerpool_price)
            .field("max_trust", &self.max_trust)
            .field("volume", &self.volume)
            .field("storage_max_upload", &self.storage_max_upload)
            .field("rate_limits", &self.rate_limits)
            .field("plain_http", &self.plain_http)
            .field("client_cas", &self.client_cas.len())
            .field("tee", &self.tee)
            .field("worker_rpc", &self.worker_rpc)
            .field("keepers", &self.keepers)
            .field("keepers_on_chain", &self.keepers_on_chain)
            .field("sms_nodes", &self.sms_nodes)
            .field("unregistered_sms", &self.unregistered_sms)
            .field("worker_batching", &self.worker_batching)
            .field("beacon", &self.beacon)
            .field(
                "pool_admin_password",
                &self.pool_admin_password.as_ref().map(|_| "<set>"),
            )
            .finish()
    }
}

impl Default for PoolOptions {
    fn default() -> Self {
        Self {
            workers: 1,
            worker_capacity: 1,
            follow_interval: Duration::from_millis(200),
            heartbeat_timeout: Duration::from_secs(60),
            workerpool_price: U256::from(1_000_000_000u64),
            max_trust: 100,
            volume: 1_000_000,
            storage_max_upload: 256 << 20,
            rate_limits: decloud_scheduler::limits::RateLimits::default(),
            plain_http: false,
            client_cas: Vec::new(),
            pool_admin_password: None,
            tee: None,
            worker_rpc: None,
            keepers: 0,
            keepers_on_chain: false,
            sms_nodes: 0,
            unregistered_sms: 0,
            worker_batching: decloud_worker::Batching::default(),
            beacon: false,
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_options_never_print_the_administrators_password() {
        let options = super::PoolOptions {
            pool_admin_password: Some("correct horse battery staple".into()),
            ..super::PoolOptions::default()
        };
        let printed = format!("{options:?}");
        assert!(!printed.contains("correct horse"), "{printed}");
        assert!(printed.contains("<set>"), "{printed}");
    }
}
