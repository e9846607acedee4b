//! Building each service's configuration from the flags: its address, database, TLS key and
//! chain profile, the scheduler's pool API, the workers' identities and the scheduler they pin.

use anyhow::{Context, bail};
use decloud_local::WorkersConfig;
use decloud_local::node::{DEFAULT_SCHEDULER_URL, DEFAULT_STORAGE_URL, NodeConfig};
use std::path::Path;
use std::time::Duration;

use super::NodeArgs;
use super::args::ExplorerArgs;
use crate::cmd::shared::WalletOpts;

/// The configuration of the services `decloud node` starts, and what it says of them once
/// started.
pub(super) struct Plan {
    /// Every chosen service's configuration.
    pub(super) config: NodeConfig,
    /// The chain profile of $DECLOUD_HOME, when a service follows a chain (or with
    /// --insecure-http, to check that the chain allows it).
    pub(super) profile: Option<decloud_chain::ChainProfile>,
    /// The workerpool the scheduler runs, with --scheduler.
    pub(super) workerpool: Option<alloy::primitives::Address>,
    /// Where the storage service keeps blobs.
    pub(super) storage_location: String,
}

/// The configuration of every service `args` chooses (other than the oracle's), loading the
/// chain profile, unlocking wallets and registering the SMS as an attester as they need.
pub(super) async fn plan(args: &NodeArgs, home: &Path) -> anyhow::Result<Plan> {
    let insecure_http = args.insecure_http;
    let NodeArgs {
        storage,
        market,
        scheduler,
        workers,
        explorer,
        beacon,
        sms,
        ..
    } = args;
    let needs_chain = market.market
        || scheduler.scheduler
        || workers.workers > 0
        || explorer.explorer
        || sms.sms
        || sms.keeper;
    let profile = if needs_chain || insecure_http {
        Some(decloud_chain::ChainProfile::load(home)?)
    } else {
        None
    };
    if let Some(profile) = profile.as_ref().filter(|_| insecure_http) {
        decloud_service::transport::Transport::InsecureHttp
            .check_allowed(profile.chain_id, profile.is_devnet())?;
    }
    let transport = |service| decloud_local::node::node_transport(home, service, insecure_http);
    let local_url =
        |service, default| decloud_local::node::local_service_url(home, service, default);

    let mut config = NodeConfig::default();
    let storage_location = storage
        .storage_dir
        .clone()
        .unwrap_or_else(|| home.join("blobs").display().to_string());
    if storage.storage {
        config.storage = Some(decloud_storage::StorageConfig {
            location: storage_location.clone(),
            listen: storage.storage_listen,
            server: decloud_storage::ServerConfig {
                max_upload_bytes: storage.storage_max_upload_mib.saturating_mul(1 << 20),
                ..decloud_storage::ServerConfig::default()
            },
            transport: transport("storage")?,
        });
    }
    if let (Some(profile), true) = (&profile, market.market) {
        let database_url = match &market.market_db {
            Some(url) => url.clone(),
            None => sqlite_under(home, "market", "orders.db")?,
        };
        config.market = Some(decloud_market::MarketConfig {
            listen: market.market_listen,
            database_url,
            profile: profile.clone(),
            follow_interval: Duration::from_secs(market.market_follow_secs.max(1)),
            limits: decloud_market::MarketLimits::default(),
            transport: transport("market")?,
        });
    }
    if let (Some(profile), true) = (&profile, sms.sms || sms.keeper) {
        let database_url = match &sms.sms_db {
            Some(url) => url.clone(),
            None => sqlite_under(home, "sms", "secrets.db")?,
        };
        let devnet = decloud_protocol::is_devnet_chain_id(profile.chain_id);
        if let Some(stake) = &sms.attester_stake {
            register_attester(profile, scheduler.wallet.unlock(home)?, stake).await?;
        }
        if let Some(url) = &sms.public_url {
            crate::cmd::keeper::check_public_url(url, insecure_http)?;
        }
        config.sms = Some(decloud_sms::SmsConfig {
            listen: sms.sms_listen,
            database_url,
            profile: profile.clone(),
            signer: scheduler.wallet.unlock(home)?,
            key_path: decloud_local::node::tls_key_path(home, "sms-seal"),
            tee: sms.sms_tee.unwrap_or(if devnet {
                decloud_tee::TeeKind::Sim
            } else {
                decloud_tee::TeeKind::Tdx
            }),
            transport: transport("sms")?,
            keeper: sms.keeper,
        });
    }
    let mut workerpool = None;
    if let (Some(profile), true) = (&profile, scheduler.scheduler) {
        let pool = scheduler.workerpool.context(
            "--scheduler needs --workerpool <address> (`decloud workerpool list --mine` shows yours)",
        )?;
        let signer = scheduler.wallet.unlock(home)?;
        let database_url = match &scheduler.scheduler_db {
            Some(url) => url.clone(),
            None => sqlite_under(home, "scheduler", &format!("{pool}.db"))?,
        };
        let mut c =
            decloud_scheduler::SchedulerConfig::new(profile.clone(), pool, signer, &database_url);
        c.listen = scheduler.scheduler_listen;
        c.follow_interval = Duration::from_millis(scheduler.scheduler_follow_ms.max(50));
        c.beacon_url = scheduler.scheduler_beacon_url.clone();
        c.heartbeat_timeout = Duration::from_secs(scheduler.heartbeat_timeout_secs.max(3));
        c.transport = transport("scheduler")?;
        for path in &scheduler.pool_client_ca {
            c.client_cas
                .extend(decloud_service::tls::load_certificates(path)?);
        }
        c.pool.issuers = scheduler.pool_oidc.clone();
        c.pool.auto_accept = scheduler.pool_auto_accept;
        // A devnet's issuer may be a local test one; elsewhere only public https issuers.
        c.pool.allow_private_issuers = profile.is_devnet();
        if let Some(path) = &scheduler.pool_admin_password_file {
            let text = std::fs::read_to_string(path).with_context(|| {
                format!(
                    "reading the pool administrator's password from {}",
                    path.display()
                )
            })?;
            let password = text.trim_end_matches(['\r', '\n']);
            if password.is_empty() {
                bail!(
                    "{} is empty: write the pool administrator's password in it",
                    path.display()
                );
            }
            c.pool.admin_password = Some(password.to_owned());
        }
        config.scheduler = Some(c);
        workerpool = Some(pool);
    }
    if let Some(profile) = profile.as_ref().filter(|_| workers.workers > 0) {
        let identities = match &workers.worker_wallet {
            Some(wallet) => {
                if workers.workers != 1 {
                    bail!(
                        "--worker-wallet runs one worker as that wallet: use it with --workers 1"
                    );
                }
                let signer = WalletOpts {
                    wallet: wallet.clone(),
                    password_file: scheduler.wallet.password_file.clone(),
                }
                .unlock(home)?;
                // Its own data directory: a worker-<i> directory belongs to that worker's key.
                let data_dir = home
                    .join("workers")
                    .join(format!("wallet-{}", signer.address()));
                vec![decloud_local::node::WorkerIdentity { signer, data_dir }]
            }
            None => decloud_local::node::home_workers(home, profile, workers.workers).await?,
        };
        let mut set = WorkersConfig::new(profile.clone(), identities);
        set.scheduler_url = match given(&workers.scheduler_url) {
            Some(url) => Some(pin_from_chain(profile, &url, scheduler.workerpool).await?),
            None => (!scheduler.scheduler).then(|| local_url("scheduler", DEFAULT_SCHEDULER_URL)),
        };
        set.results_store = given(&workers.results_store)
            .or_else(|| (!storage.storage).then(|| local_url("storage", DEFAULT_STORAGE_URL)));
        set.capacity = workers.worker_capacity.max(1);
        set.batching = decloud_worker::Batching {
            max_tasks: workers.worker_batch.max(1),
            max_wait: std::time::Duration::from_millis(workers.worker_batch_ms),
        };
        set.stake_reserve = decloud_protocol::parse_amount(&workers.worker_stake)
            .context("--worker-stake is an amount, e.g. \"10 DCT\" or 2.5DCT")?;
        set.allow_private_hosts = workers.allow_private_hosts.unwrap_or(profile.is_devnet());
        set.tee = workers.tee;
        set.sms_urls = workers.sms_urls.clone();
        set.local_data = workers.local_data.clone();
        if set.tee.is_some()
            && set.sms_urls.is_empty()
            && !sms.sms
            && !sms.keeper
            && profile.contracts.keeper_registry.is_zero()
        {
            bail!(
                "--tee needs a key holder: add --sms to run one here, or --sms-url URL (once per SMS); this chain's profile names no keeper registry to find keepers in"
            );
        }
        config.workers = Some(set);
    }
    if let Some(profile) = &profile {
        config.explorer = explorer.config(home, profile)?;
    }

    if beacon.beacon {
        config.beacon = Some(decloud_beacon::node::BeaconConfig {
            listen: beacon.beacon_listen,
            seed: beacon.beacon_seed.clone(),
            threshold: beacon.beacon_threshold,
            members: beacon.beacon_members,
            genesis: beacon.beacon_genesis,
            period: beacon.beacon_period,
        });
    }
    Ok(Plan {
        config,
        profile,
        workerpool,
        storage_location,
    })
}

impl ExplorerArgs {
    /// The explorer's configuration, if it runs.
    fn config(
        &self,
        home: &Path,
        profile: &decloud_chain::ChainProfile,
    ) -> anyhow::Result<Option<decloud_explorer::ExplorerConfig>> {
        if !self.explorer {
            return Ok(None);
        }
        let database_url = match &self.explorer_db {
            Some(url) => url.clone(),
            None => sqlite_under(home, "explorer", "explorer.db")?,
        };
        let mut config = decloud_explorer::ExplorerConfig::new(profile.clone(), &database_url);
        config.listen = self.explorer_listen;
        config.schedulers = self.explorer_scheduler.clone();
        config.market = given(&self.explorer_market);
        Ok(Some(config))
    }
}

pub(crate) fn sqlite_under(home: &Path, dir: &str, file: &str) -> anyhow::Result<String> {
    let dir = home.join(dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(format!("sqlite://{}", dir.join(file).display()))
}

/// A URL flag, unless empty.
fn given(url: &Option<String>) -> Option<String> {
    url.clone().filter(|u| !u.trim().is_empty())
}

/// `url` as given when it pins a key or speaks plain HTTP; an unpinned `https://` URL pinned to
/// the key `workerpool`'s owner published on chain.
async fn pin_from_chain(
    profile: &decloud_chain::ChainProfile,
    url: &str,
    workerpool: Option<alloy::primitives::Address>,
) -> anyhow::Result<String> {
    let pinned: decloud_service::transport::PinnedUrl = url.parse()?;
    if pinned.pin().is_some() || !pinned.base().starts_with("https://") {
        return Ok(url.to_owned());
    }
    let pool = workerpool.with_context(|| {
        format!(
            "--scheduler-url {url} pins no key: append #sha256:<fingerprint> as the scheduler printed it, or pass --workerpool <address> to read the key its owner published on chain"
        )
    })?;
    let client = decloud_chain::client::Client::connect(profile, None, None).await?;
    let key = decloud_chain::actions::scheduler_key(&client, pool)
        .await?
        .with_context(|| {
            format!(
                "workerpool {pool} has published no scheduler key on chain (its scheduler publishes it when it starts over TLS): append #sha256:<fingerprint> to --scheduler-url"
            )
        })?;
    let fingerprint = decloud_service::tls::Fingerprint(key.0);
    Ok(decloud_service::transport::PinnedUrl::new(pinned.base(), Some(fingerprint)).to_string())
}

/// Registers `signer` as an attester with `stake` unless its attestations count already; a
/// registration that does not count (leaving, slashed, under the minimum) is an error to fix
/// by hand, not something to paper over at start.
async fn register_attester(
    profile: &decloud_chain::ChainProfile,
    signer: alloy::signers::local::PrivateKeySigner,
    stake: &str,
) -> anyhow::Result<()> {
    use decloud_chain::attesters;
    let stake = decloud_protocol::parse_amount(stake)?;
    let me = signer.address();
    let client = decloud_chain::client::Client::connect(profile, None, Some(signer)).await?;
    let record = attesters::attester(&client, me).await?;
    if record.active {
        // A log line, not stdout: the node's first line on stdout is its services' URLs.
        tracing::info!(attester = %me, stake = %decloud_protocol::format_amount(record.stake), "sms: a registered attester already");
        return Ok(());
    }
    if record.registered_at != 0 || record.slashed {
        bail!(
            "the SMS's wallet {me} is registered but its attestations do not count (leaving, slashed or under the minimum stake): see `decloud attester show --wallet ...`"
        );
    }
    let min = attesters::min_stake(&client).await?;
    if stake < min {
        bail!(
            "--attester-stake {} is below the attesters' minimum {}: give {} or more",
            decloud_protocol::format_amount(stake),
            decloud_protocol::format_amount(min),
            decloud_protocol::format_amount(min)
        );
    }
    attesters::register(&client, stake).await?;
    tracing::info!(attester = %me, stake = %decloud_protocol::format_amount(stake), "sms: registered as an attester");
    Ok(())
}
