//! The devnet beacon node (`decloud node --beacon`): a t-of-n group of test keys producing a
//! round every period and serving them over HTTP in drand's JSON shape, so that a client of
//! drand's API (and decloud's own submitter) reads a devnet beacon as it reads evmnet.
//!
//! - `GET /info`: `{"public_key", "period", "genesis_time", "genesis_seed", "chain_hash",
//!   "scheme", "beacon_id", "metadata": {"beaconID"}}`
//! - `GET /public/latest`, `GET /public/{round}`: `{"round", "randomness", "signature"}`
//!   (unchained: no previous signature). A round not due yet is a 404 that says when it is due.
//!
//! Each round is signed by every member with its share and combined from the first t partials
//! that verify, the path a real group takes; a past round asked for is signed on demand.

use crate::{BeaconError, Partial, SCHEME, Signature, ThresholdGroup, round_at, round_time};
use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use decloud_service::{ApiError, Service};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Default address of `decloud node --beacon`.
pub const DEFAULT_BEACON_URL: &str = "http://127.0.0.1:7900";

/// How to run a beacon node.
#[derive(Clone, Debug)]
pub struct BeaconConfig {
    /// Where to listen (port 0: any free port).
    pub listen: SocketAddr,
    /// The seed the group's test keys derive from (public: a devnet's beacon is reproducible).
    pub seed: String,
    /// t: partial signatures needed for a round.
    pub threshold: u32,
    /// n: members of the group.
    pub members: u32,
    /// Unix time of round 1 (`None`: now).
    pub genesis: Option<u64>,
    /// Seconds between rounds.
    pub period: u64,
}

impl Default for BeaconConfig {
    fn default() -> Self {
        Self {
            listen: ([127, 0, 0, 1], 7900).into(),
            seed: "decloud devnet beacon".into(),
            threshold: 2,
            members: 3,
            genesis: None,
            period: 3,
        }
    }
}

/// Why a beacon node can't start.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// A group that can't exist.
    #[error(transparent)]
    Group(#[from] BeaconError),
    /// A zero period.
    #[error("the beacon period must be at least 1 second")]
    Period,
    /// The address is taken or not ours.
    #[error("beacon: cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The system's refusal.
        source: std::io::Error,
    },
}

/// The chain's parameters as drand's `/info` gives them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Info {
    /// The group key, drand's encoding, hex.
    pub public_key: String,
    /// Seconds between rounds.
    pub period: u64,
    /// Unix time of round 1.
    pub genesis_time: u64,
    /// sha256 of the group key (drand's field; decloud's devnet derives it so).
    pub genesis_seed: String,
    /// The chain's identity: sha256(public key ‖ period ‖ genesis ‖ scheme ‖ beacon id), hex.
    pub chain_hash: String,
    /// Always [`SCHEME`].
    pub scheme: String,
    /// The beacon's name.
    pub beacon_id: String,
    /// drand repeats the name here.
    pub metadata: Metadata,
}

/// drand's `/info` metadata.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    /// The beacon's name.
    #[serde(rename = "beaconID")]
    pub beacon_id: String,
}

/// One round as drand's `/public/{round}` gives it (unchained).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Round {
    /// The round number.
    pub round: u64,
    /// sha256(signature), hex.
    pub randomness: String,
    /// The group signature, drand's 64-byte encoding, hex.
    pub signature: String,
}

impl Round {
    fn of(round: u64, sig: &Signature) -> Self {
        Round {
            round,
            randomness: hex::encode(sig.randomness()),
            signature: hex::encode(sig.to_bytes()),
        }
    }
}

struct Beacon {
    group: ThresholdGroup,
    genesis: u64,
    period: u64,
    info: Info,
    latest: Mutex<Option<Round>>,
}

impl Beacon {
    fn now() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }

    /// Every member signs, the first t partials that verify combine.
    fn produce(&self, round: u64) -> Round {
        let partials: Vec<Partial> = (1..=self.group.members())
            .filter_map(|i| self.group.partial(i, round).ok())
            .filter(|p| self.group.verify_partial(round, p))
            .take(self.group.threshold() as usize)
            .collect();
        let sig = self
            .group
            .combine(round, &partials)
            .unwrap_or_else(|_| self.group.sign_round(round));
        Round::of(round, &sig)
    }
}

/// A beacon node running in this process. Dropping it stops it.
pub struct RunningBeacon {
    service: Service,
    info: Info,
}

impl RunningBeacon {
    /// The node's base URL.
    pub fn url(&self) -> String {
        self.service.url()
    }

    /// The chain's parameters (what `/info` serves).
    pub fn info(&self) -> &Info {
        &self.info
    }

    /// Waits until the server stops.
    pub async fn wait(self) -> std::io::Result<()> {
        self.service.wait().await
    }
}

/// Starts a beacon node: its HTTP server and the loop producing a round every period.
pub async fn start(config: BeaconConfig) -> Result<RunningBeacon, NodeError> {
    if config.period == 0 {
        return Err(NodeError::Period);
    }
    let group =
        ThresholdGroup::from_seed(config.seed.as_bytes(), config.threshold, config.members)?;
    let genesis = config.genesis.unwrap_or_else(Beacon::now);
    let pk = group.public_key().to_bytes();
    let beacon_id = "decloud-devnet".to_owned();
    let mut chain = Sha256::new();
    chain.update(pk);
    chain.update(config.period.to_be_bytes());
    chain.update(genesis.to_be_bytes());
    chain.update(SCHEME.as_bytes());
    chain.update(beacon_id.as_bytes());
    let info = Info {
        public_key: hex::encode(pk),
        period: config.period,
        genesis_time: genesis,
        genesis_seed: hex::encode(Sha256::digest(pk)),
        chain_hash: hex::encode(chain.finalize()),
        scheme: SCHEME.to_owned(),
        beacon_id: beacon_id.clone(),
        metadata: Metadata { beacon_id },
    };
    let state = Arc::new(Beacon {
        group,
        genesis,
        period: config.period,
        info: info.clone(),
        latest: Mutex::new(None),
    });
    let router = Router::new()
        .route("/health", get(|| async { "ok\n" }))
        .route("/info", get(get_info))
        .route("/public/latest", get(get_latest))
        .route("/public/{round}", get(get_round))
        .with_state(state.clone());
    let mut service = Service::serve(config.listen, router)
        .await
        .map_err(|source| NodeError::Listen {
            addr: config.listen,
            source,
        })?;
    service.spawn(produce_loop(state));
    Ok(RunningBeacon { service, info })
}

async fn produce_loop(state: Arc<Beacon>) {
    loop {
        let due = round_at(Beacon::now(), state.genesis, state.period);
        let have = state
            .latest
            .lock()
            .expect("latest lock")
            .as_ref()
            .map_or(0, |r| r.round);
        if due > have {
            let s = state.clone();
            if let Ok(round) = tokio::task::spawn_blocking(move || s.produce(due)).await {
                tracing::debug!(round = round.round, "beacon round produced");
                *state.latest.lock().expect("latest lock") = Some(round);
            }
        }
        let next = round_time(due + 1, state.genesis, state.period);
        let wait = next.saturating_sub(Beacon::now()).clamp(1, state.period);
        tokio::time::sleep(Duration::from_secs(wait)).await;
    }
}

/// What the beacon's API refuses.
#[derive(Debug, thiserror::Error)]
enum NodeApiError {
    #[error("round {round} is not produced yet: it is due at unix time {due}")]
    NotYet { round: u64, due: u64 },
    #[error("no round yet: the first is due at unix time {0}")]
    NoRound(u64),
    #[error("round 0 does not exist: rounds count from 1 at genesis")]
    Zero,
    #[error("{0}")]
    BadRequest(String),
    #[error("the request is too large")]
    TooLarge,
    #[error("signing the round failed: {0}")]
    Failed(String),
}

impl ApiError for NodeApiError {
    fn status(&self) -> StatusCode {
        match self {
            NodeApiError::NotYet { .. } | NodeApiError::NoRound(_) => StatusCode::NOT_FOUND,
            NodeApiError::Zero | NodeApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            NodeApiError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            NodeApiError::Failed(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn bad_request(message: String) -> Self {
        NodeApiError::BadRequest(message)
    }

    fn too_large() -> Self {
        NodeApiError::TooLarge
    }
}

impl IntoResponse for NodeApiError {
    fn into_response(self) -> Response {
        self.response()
    }
}

async fn get_info(State(state): State<Arc<Beacon>>) -> Json<Info> {
    Json(state.info.clone())
}

async fn get_latest(State(state): State<Arc<Beacon>>) -> Result<Json<Round>, NodeApiError> {
    state
        .latest
        .lock()
        .expect("latest lock")
        .clone()
        .map(Json)
        .ok_or(NodeApiError::NoRound(state.genesis))
}

async fn get_round(
    State(state): State<Arc<Beacon>>,
    Path(round): Path<String>,
) -> Result<Json<Round>, NodeApiError> {
    let round: u64 = round.parse().map_err(|_| {
        NodeApiError::BadRequest(format!(
            "{:?} is not a round number: ask for /public/<round> with 1 ≤ round",
            round.chars().take(40).collect::<String>()
        ))
    })?;
    if round == 0 {
        return Err(NodeApiError::Zero);
    }
    let due = round_time(round, state.genesis, state.period);
    if due > Beacon::now() {
        return Err(NodeApiError::NotYet { round, due });
    }
    let s = state.clone();
    let produced = tokio::task::spawn_blocking(move || s.produce(round))
        .await
        .map_err(|e| NodeApiError::Failed(e.to_string()))?;
    Ok(Json(produced))
}
