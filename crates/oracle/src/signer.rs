//! The committee signer (`decloud node --signer`): follows the source chain's hub for proxy deals
//! (deals whose callback is the committee and whose `params` name a destination this profile
//! knows), signs each finalized task's `Delivery` for its destination's gateway, and serves the
//! signatures over HTTP for relayers:
//!
//! - `GET /v1/info`: `{"signer", "committee", "source_chain_id"}`
//! - `GET /v1/deliveries?after=N`: the signed deliveries with `seq > N`, oldest first, at most
//!   [`PAGE`] of them.
//!
//! A signer never signs two digests for one task (that is slashable on the source chain): once it
//! signed a task, another digest for it (after a reorg deeper than its confirmations) is refused
//! and logged. Signing the same delivery again gives the same signature (RFC 6979), so a restart,
//! which follows the chain again from the committee's deployment, is harmless.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alloy::primitives::{Address, B256, keccak256};
use alloy::rpc::types::{Filter, Log};
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolEvent;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use decloud_chain::contracts::IHub;
use decloud_chain::follower::{Cursor, Follower, FollowerOptions, Step};
use decloud_service::{ApiError, Service};
use serde::{Deserialize, Serialize};

use crate::OracleError;
use crate::delivery::{DeliveryWire, Destination, SignedDelivery, sign};
use crate::profile::OracleProfile;

/// Most deliveries one page answers.
pub const PAGE: usize = 500;

/// How to run a signer.
#[derive(Clone, Debug)]
pub struct SignerConfig {
    /// Where to listen (port 0: any free port).
    pub listen: SocketAddr,
    /// The chains.
    pub profile: OracleProfile,
    /// The member's key (its address must be staked in the committee to count).
    pub key: PrivateKeySigner,
    /// Time between two passes over the chain.
    pub poll: Duration,
    /// Blocks below the head left unread (reorg safety: a signature is final).
    pub confirmations: u64,
}

#[derive(Clone, Debug)]
struct ProxyDeal {
    app: Address,
    dataset: Address,
    workerpool: Address,
    tag: B256,
    trust: alloy::primitives::U256,
    destination: Destination,
}

#[derive(Default)]
struct SignerState {
    deals: HashMap<B256, ProxyDeal>,
    tasks: HashMap<B256, B256>,
    signed_digest: HashMap<B256, B256>,
    log: Vec<SignedDelivery>,
}

#[derive(Clone)]
struct Shared {
    state: Arc<Mutex<SignerState>>,
    signer: Address,
    committee: Address,
    source_chain_id: u64,
}

/// A running signer; dropping it stops it.
pub struct SignerNode {
    service: Service,
    state: Arc<Mutex<SignerState>>,
    address: Address,
}

impl SignerNode {
    /// Starts following the source chain and serving signatures.
    pub async fn start(config: SignerConfig) -> Result<Self, OracleError> {
        let state = Arc::new(Mutex::new(SignerState::default()));
        let shared = Shared {
            state: state.clone(),
            signer: config.key.address(),
            committee: config.profile.source.committee,
            source_chain_id: config.profile.source.chain_id,
        };
        let router = Router::new()
            .route("/v1/info", get(info))
            .route("/v1/deliveries", get(deliveries))
            .with_state(shared);
        let mut service = Service::serve(config.listen, router).await.map_err(|e| {
            OracleError::Service(format!("cannot listen on {}: {e}", config.listen))
        })?;
        let address = config.key.address();
        let follow_state = state.clone();
        service.spawn(async move { follow(config, follow_state).await });
        Ok(Self {
            service,
            state,
            address,
        })
    }

    /// Where it serves.
    pub fn url(&self) -> String {
        self.service.url()
    }

    /// The member's address.
    pub fn address(&self) -> Address {
        self.address
    }

    /// How many deliveries it signed.
    pub fn signed(&self) -> usize {
        self.state.lock().map(|s| s.log.len()).unwrap_or_default()
    }

    /// Runs until the service stops.
    pub async fn wait(self) -> std::io::Result<()> {
        self.service.wait().await
    }
}

async fn follow(config: SignerConfig, state: Arc<Mutex<SignerState>>) {
    let source = &config.profile.source;
    let provider = match decloud_chain::client::read_only_provider(&source.rpc_url) {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "the signer cannot reach the source chain");
            return;
        }
    };
    let filter = Filter::new().address(source.hub).event_signature(vec![
        IHub::DealCreated::SIGNATURE_HASH,
        IHub::TaskInitialize::SIGNATURE_HASH,
        IHub::TaskFinalize::SIGNATURE_HASH,
    ]);
    let follower = match Follower::new(
        provider,
        filter,
        FollowerOptions {
            confirmations: config.confirmations,
            ..FollowerOptions::default()
        },
    ) {
        Ok(f) => f,
        Err(e) => {
            tracing::error!(error = %e, "the signer cannot follow the source chain");
            return;
        }
    };
    let mut cursor = Cursor::start_at(source.deployment_block);
    loop {
        match follower.poll(&cursor).await {
            Ok(Step::Batch(batch)) => {
                for log in &batch.logs {
                    handle(&config, &state, log);
                }
                cursor = batch.cursor;
                continue;
            }
            Ok(Step::Rewind(rewind)) => {
                tracing::warn!(
                    from = rewind.orphaned_from,
                    "the source chain reorganized: re-reading"
                );
                cursor = rewind.cursor;
                continue;
            }
            Ok(Step::Idle) => {}
            Err(e) => tracing::warn!(error = %e, "following the source chain failed; trying again"),
        }
        tokio::time::sleep(config.poll).await;
    }
}

fn handle(config: &SignerConfig, state: &Mutex<SignerState>, log: &Log) {
    let Ok(mut s) = state.lock() else { return };
    if let Ok(e) = log.log_decode::<IHub::DealCreated>() {
        let e = e.inner.data;
        if e.deal.callback != config.profile.source.committee {
            return;
        }
        match Destination::from_params(&e.params) {
            Ok(Some(destination)) => {
                if config
                    .profile
                    .destination(destination.chain_id)
                    .is_none_or(|d| d.gateway != destination.gateway)
                {
                    tracing::warn!(deal = %e.dealid, chain = destination.chain_id, "a proxy deal names a destination this signer does not serve");
                    return;
                }
                s.deals.insert(
                    e.dealid,
                    ProxyDeal {
                        app: e.deal.app,
                        dataset: e.deal.dataset,
                        workerpool: e.deal.workerpool,
                        tag: e.deal.tag,
                        trust: e.deal.trust,
                        destination,
                    },
                );
            }
            Ok(None) => {
                tracing::warn!(deal = %e.dealid, "a deal calls the committee back without a destination in its params")
            }
            Err(err) => {
                tracing::warn!(deal = %e.dealid, error = %err, "a proxy deal's destination is malformed")
            }
        }
    } else if let Ok(e) = log.log_decode::<IHub::TaskInitialize>() {
        let e = e.inner.data;
        if s.deals.contains_key(&e.dealid) {
            s.tasks.insert(e.taskid, e.dealid);
        }
    } else if let Ok(e) = log.log_decode::<IHub::TaskFinalize>() {
        let e = e.inner.data;
        let Some(dealid) = s.tasks.get(&e.taskid).copied() else {
            return;
        };
        let Some(deal) = s.deals.get(&dealid).cloned() else {
            return;
        };
        let digest = keccak256(&e.callbackData);
        if let Some(previous) = s.signed_digest.get(&e.taskid) {
            if *previous != digest {
                tracing::error!(task = %e.taskid, "refusing to sign a second digest for a task (the chain reorganized deeper than the signer's confirmations)");
            }
            return;
        }
        let dest = deal.destination;
        let delivery = DeliveryWire {
            source_chain_id: config.profile.source.chain_id,
            source_hub: config.profile.source.hub,
            dealid,
            taskid: e.taskid,
            app: deal.app,
            dataset: deal.dataset,
            workerpool: deal.workerpool,
            tag: deal.tag,
            trust: deal.trust,
            digest,
            consumer: dest.consumer,
            method: dest.selector(),
            gas_limit: dest.gas_limit(),
        };
        match sign(&config.key, &delivery, dest.chain_id, dest.gateway) {
            Ok(signature) => {
                let seq = s.log.len() as u64 + 1;
                s.signed_digest.insert(e.taskid, digest);
                tracing::info!(task = %e.taskid, chain = dest.chain_id, "signed a delivery");
                s.log.push(SignedDelivery {
                    seq,
                    chain_id: dest.chain_id,
                    gateway: dest.gateway,
                    delivery,
                    data: e.callbackData,
                    signer: config.key.address(),
                    signature,
                });
            }
            Err(err) => tracing::error!(task = %e.taskid, error = %err, "signing failed"),
        }
    }
}

/// What `GET /v1/info` answers.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SignerInfo {
    /// The member's address.
    pub signer: Address,
    /// The committee on the source chain.
    pub committee: Address,
    /// The source chain.
    pub source_chain_id: u64,
}

async fn info(State(shared): State<Shared>) -> Json<SignerInfo> {
    Json(SignerInfo {
        signer: shared.signer,
        committee: shared.committee,
        source_chain_id: shared.source_chain_id,
    })
}

#[derive(Deserialize)]
struct After {
    #[serde(default)]
    after: u64,
}

struct SignerApiError(String);

impl std::fmt::Display for SignerApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl ApiError for SignerApiError {
    fn status(&self) -> StatusCode {
        StatusCode::BAD_REQUEST
    }
    fn bad_request(message: String) -> Self {
        Self(message)
    }
    fn too_large() -> Self {
        Self("request too large".into())
    }
}

impl IntoResponse for SignerApiError {
    fn into_response(self) -> Response {
        self.response()
    }
}

async fn deliveries(
    State(shared): State<Shared>,
    query: Result<Query<After>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<SignedDelivery>>, SignerApiError> {
    let Query(after) = query
        .map_err(|e| SignerApiError(format!("{e}: ask /v1/deliveries?after=N with N a number")))?;
    let s = shared
        .state
        .lock()
        .map_err(|_| SignerApiError("the signer's state is poisoned".into()))?;
    let start = usize::try_from(after.after)
        .unwrap_or(usize::MAX)
        .min(s.log.len());
    Ok(Json(s.log[start..].iter().take(PAGE).cloned().collect()))
}
