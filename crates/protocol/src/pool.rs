//! The wire protocol between a workerpool's scheduler and its workers (JSON over HTTP): login
//! by wallet signature, claims, assignments with the scheduler's contribution authorization,
//! reports, and the scheduler's instructions after a contribution.
//!
//! Both sides use these types: the scheduler serves them (`decloud-scheduler`'s API) and the
//! worker sends and reads them (`decloud-worker`), so a change here is a change of both.
//!
//! A worker's session:
//!
//! 1. `GET /v1/login/challenge` → [`Challenge`]; sign [`Challenge::message`] (EIP-191) and
//!    `POST /v1/login` a [`LoginRequest`] → [`Session`] (a bearer token).
//! 2. `POST /v1/claim?wait=SECS` → an [`Assignment`] (or `204 No Content` when no work came in
//!    time); `POST /v1/heartbeat` regularly.
//! 3. Compute, then `POST /v1/tasks/{taskid}/report` a [`Report`] after each step; for a
//!    replicated task, `GET /v1/tasks/{taskid}/next?wait=SECS` → [`NextAction`] says when to
//!    reveal.
//!
//! Anyone may read what the scheduler tracks: `GET /v1/tasks/{taskid}` → [`TaskReport`],
//! `GET /v1/deals/{dealid}` → [`DealReport`], `GET /v1/workers` → [`WorkerInfo`]s.

use std::fmt;

use alloy::primitives::{Address, B256, Bytes};
use serde::{Deserialize, Serialize};

/// The text a worker signs (EIP-191 personal message) to log in to `scheduler` with `nonce`
/// before `deadline` (unix seconds).
pub fn login_message(nonce: &str, scheduler: Address, deadline: u64) -> String {
    format!("decloud scheduler login {nonce} {scheduler} {deadline}")
}

/// What a scheduler is (`GET /v1/info`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Info {
    /// The scheduler's address (the workerpool's owner, signer of the authorizations).
    pub scheduler: Address,
    /// The workerpool it schedules.
    pub workerpool: Address,
    /// The chain id.
    pub chain_id: u64,
    /// The hub.
    pub hub: Address,
    /// Seconds without a heartbeat after which a worker is lost.
    pub heartbeat_timeout_secs: u64,
}

/// A login challenge (`GET /v1/login/challenge`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Challenge {
    /// Single-use random nonce.
    pub nonce: String,
    /// Unix time after which it is refused.
    pub deadline: u64,
    /// The scheduler's address, part of the message.
    pub scheduler: Address,
    /// The exact text to sign ([`login_message`]).
    pub message: String,
}

/// A login: the challenge signed by the worker's wallet (`POST /v1/login`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginRequest {
    /// The worker's address.
    pub worker: Address,
    /// The challenge's nonce.
    pub nonce: String,
    /// The challenge's deadline.
    pub deadline: u64,
    /// EIP-191 signature of [`login_message`] by `worker` (65 bytes, hex).
    pub signature: String,
    /// How many replicates the worker runs at once.
    pub capacity: u64,
    /// The TEE backend the worker says it runs (`none` when absent). Only a hint: a worker
    /// that lies fails its first TEE task and gets no more (see [`WorkerInfo::tee_refused`]).
    #[serde(default)]
    pub tee: TeeBackend,
}

named_enum!(
    /// The trusted execution environment a worker announces at login.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
    #[serde(rename_all = "lowercase")]
    pub enum TeeBackend ("TEE backend", expected "none, sim or tdx") {
        /// No enclave: the worker runs no TEE task.
        #[default]
        None => "none",
        /// Simulated enclaves (devnets only).
        Sim => "sim",
        /// Intel TDX.
        Tdx => "tdx",
    }
);

/// A session: the bearer token of the worker endpoints.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// Bearer token for the worker endpoints. Keep it secret.
    pub token: String,
    /// The worker.
    pub worker: Address,
    /// Unix time after which the token is refused (log in again).
    pub expires_at: u64,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The token is a credential: never in a log.
        f.debug_struct("Session")
            .field("worker", &self.worker)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// The answer to a heartbeat (`POST /v1/heartbeat`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// The worker.
    pub worker: Address,
    /// Send the next heartbeat well within this many seconds.
    pub heartbeat_timeout_secs: u64,
}

/// An app or dataset as registered: where to download it and its checksum.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    /// Its id.
    pub address: Address,
    /// `app` or `dataset`.
    pub kind: String,
    /// Its name.
    pub name: String,
    /// Where to download it.
    pub uri: String,
    /// sha256 of its content.
    pub checksum: B256,
}

/// The scheduler's signature allowing a worker to contribute to a task.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Authorization {
    /// The authorized worker.
    pub worker: Address,
    /// The task.
    pub task_id: B256,
    /// The enclave (zero for non-TEE work).
    pub enclave: Address,
    /// EIP-191 signature by the scheduler over `keccak(worker ‖ taskid ‖ enclave)`: the
    /// `authorizationSign` argument of `contribute` / `contributeAndReveal`.
    pub sign: Bytes,
}

/// A replicate handed to a worker: everything it needs to compute and contribute.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    /// The task.
    pub task_id: B256,
    /// Its deal.
    pub deal_id: B256,
    /// The task's index in the deal (the `index` argument of the hub's task calls).
    pub index: u64,
    /// `abi.encode(deal)`: decode with `decloud_protocol::typed::Deal::abi_decode` and pass it
    /// to `contribute` / `contributeAndReveal`.
    pub deal: Bytes,
    /// The deal's trust: `≤ 1` means one contribution suffices (use `contributeAndReveal`).
    pub trust: u64,
    /// The deal's category (its deadlines and limits).
    pub category: u64,
    /// The category's reference time in seconds (the run's limits derive from it).
    pub work_clock_time_ref: u64,
    /// The deal's start (block time of the match): the fixed clock every replica's app sees.
    pub start_time: u64,
    /// The callback contract (zero for none): the digest is then `keccak(callback-data)`.
    pub callback: Address,
    /// The request's params (JSON text: `{"args": "...", "input_files": ["url", ...]}`).
    pub params: String,
    /// Where the app is and its checksum.
    pub app: Option<Resource>,
    /// Where the dataset is and its checksum (none when the deal has no dataset).
    pub dataset: Option<Resource>,
    /// The contribution authorization. For a random-selection deal the hub refuses every
    /// authorization, so the scheduler signs none: `sign` is empty and [`Self::drawn`] holds
    /// the proof of the worker's drawn position instead.
    pub authorization: Authorization,
    /// For a random-selection deal: the position the beacon drew this worker for, which it
    /// proves with `contributeDrawn` (absent for any other deal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drawn: Option<DrawnPosition>,
    /// For a spot-checked task: this worker is one of the task's drawn auditors, not a
    /// contributor. It runs the task's app on the task's inputs as any replicate, commits with
    /// `contributeAudit` under the audit's id and reveals with `reveal(auditId, digest)` when
    /// the scheduler says so (absent for an ordinary replicate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit: Option<AuditPosition>,
}

impl Assignment {
    /// The id the hub keys this replicate's records by (its contribution, result hash, seal and
    /// reveal), and the one the scheduler's `report` and `next` endpoints take: the audit's id
    /// for an audit replicate, the task's otherwise.
    pub fn record_id(&self) -> B256 {
        self.audit.as_ref().map_or(self.task_id, |a| a.audit_id)
    }
}

/// A worker's position among the drawn auditors of a spot-checked task, with what
/// `contributeAudit` needs to prove it. The hub recomputes it all (the audit round, the draw,
/// the exclusion of the task's contributors): a bogus one costs only a refused gas estimate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditPosition {
    /// `keccak256(taskId ‖ "audit")`: the key of the audit's records on chain.
    pub audit_id: B256,
    /// The beacon round that decided the audit and drew its auditors.
    pub round: u64,
    /// The position j in the audit's draw.
    pub position: u64,
    /// When the audit window closes (chain time, unix seconds): contribute before.
    pub closes_at: u64,
    /// The index of the deal's registry snapshot in the pool's history.
    pub snapshot_index: u64,
    /// The snapshot's workers, as committed.
    pub snapshot: Vec<crate::draw::SnapshotWorker>,
}

/// A worker's drawn position in a random-selection task, with what `contributeDrawn` needs to
/// prove it. The hub recomputes it all: a scheduler that sends a worker a position it does not
/// hold only costs that worker a refused gas estimate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrawnPosition {
    /// The wave of the task's draw.
    pub wave: u64,
    /// The beacon round whose randomness drew it.
    pub round: u64,
    /// The position j in the wave.
    pub position: u64,
    /// When the wave closes (chain time, unix seconds): the contribution must be on chain before.
    pub closes_at: u64,
    /// The index of the deal's registry snapshot in the pool's history.
    pub snapshot_index: u64,
    /// The snapshot's workers, as committed.
    pub snapshot: Vec<crate::draw::SnapshotWorker>,
}

named_enum!(
    /// What a worker says of its replicate (`POST /v1/tasks/{taskid}/report`).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
    #[serde(rename_all = "lowercase")]
    pub enum ReportStatus ("report status", expected "contributed, revealed or failed") {
        /// Its contribution is on chain (`contribute`). `reason` may describe a deterministic
        /// failure of the app, which is contributed like any result.
        Contributed => "contributed",
        /// Its result is revealed on chain (`reveal`, or `contributeAndReveal` at trust ≤ 1) and
        /// uploaded: `results_location` says where.
        Revealed => "revealed",
        /// It gave up (download failed, wrong checksum, wall-clock cap, chain error...): `reason`
        /// says why. Nothing was contributed.
        Failed => "failed",
    }
);

/// A worker's report on its replicate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// What happened.
    pub status: ReportStatus,
    /// Why it failed (required for `failed`), or what the app's deterministic failure was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Where the result archive is (with `revealed`): a URL of a content-addressed blob.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub results_location: Option<String>,
    /// The app's `callback-data` (with `revealed`, for deals with a callback).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_data: Option<Bytes>,
    /// What each stage took so far, as the worker measured it (every report carries all of
    /// them; the latest replaces the earlier ones).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stages: Option<Stages>,
}

/// One stage of a replicate as its worker measured it: a claim, not a proof (only the chain's
/// events are).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageTime {
    /// When it started (unix milliseconds).
    pub started_ms: u64,
    /// How long it took (milliseconds).
    pub millis: u64,
    /// Bytes moved (downloads, the upload).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    /// Fuel the app consumed (the run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fuel: Option<u64>,
}

/// The stages of a replicate its worker reports: fetching the app and inputs, running the app,
/// uploading the result, the contribution's and the reveal's transactions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stages {
    /// The app, dataset and input files fetched (bytes: what was downloaded, 0 from cache).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub download: Option<StageTime>,
    /// The app's run in the sandbox (with its fuel).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<StageTime>,
    /// The result archive uploaded (bytes: its size).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload: Option<StageTime>,
    /// The contribution sent and mined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contribute: Option<StageTime>,
    /// The reveal sent and mined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reveal: Option<StageTime>,
}

impl Stages {
    /// Longest a stage's figures may be believed to be (a year in milliseconds): a report
    /// claiming more is refused.
    pub const MAX_MILLIS: u64 = 365 * 24 * 3600 * 1000;

    /// Every stage reported, with its name, in order.
    pub fn named(&self) -> [(&'static str, Option<StageTime>); 5] {
        [
            ("download", self.download),
            ("run", self.run),
            ("upload", self.upload),
            ("contribute", self.contribute),
            ("reveal", self.reveal),
        ]
    }
}

/// What the scheduler wants a worker to do next with a contributed replicate
/// (`GET /v1/tasks/{taskid}/next`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "lowercase")]
pub enum NextAction {
    /// Nothing yet: ask again.
    Wait,
    /// Consensus is on the worker's result: upload it, send `reveal`, and report `revealed`.
    Reveal {
        /// Unix time after which the hub refuses the reveal.
        deadline: u64,
    },
    /// Nothing more to do for this replicate (the task is over, or the worker's result lost
    /// the vote, or the replicate is no longer the worker's): `reason` says which.
    Done {
        /// Why.
        reason: String,
    },
}

/// The body of `POST /v1/next`: the contributed replicates (by task) whose next step the worker
/// waits for, so that one long poll serves all of them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NextRequest {
    /// The tasks (at most [`NextRequest::MAX_TASKS`], no duplicates needed).
    pub tasks: Vec<B256>,
}

impl NextRequest {
    /// Most tasks one request may name.
    pub const MAX_TASKS: usize = 1024;
}

/// One task's next step in the answer of `POST /v1/next` (which lists only the tasks with
/// something to do: never [`NextAction::Wait`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskAction {
    /// The task.
    pub task_id: B256,
    /// What to do with the worker's replicate of it.
    pub action: NextAction,
}

named_enum!(
    /// Whether a worker is considered alive.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
    #[serde(rename_all = "lowercase")]
    pub enum WorkerStatus ("worker status", expected "active or lost") {
        /// It sent a heartbeat recently.
        Active => "active",
        /// It missed its heartbeats; its assigned work went to others.
        Lost => "lost",
    }
);

/// A task's on-chain status, as the scheduler's follower last saw it.
pub use crate::status::TaskStatus;

named_enum!(
    /// The off-chain stage of one worker's replicate of a task.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
    #[serde(rename_all = "lowercase")]
    pub enum ReplicateStatus ("replicate status", expected "assigned, contributed, revealed, failed, rejected or lost") {
        /// Handed to the worker with an authorization; not contributed yet.
        Assigned => "assigned",
        /// The worker's contribution is on chain (a worker's report alone never makes it so).
        Contributed => "contributed",
        /// The worker revealed its result on chain.
        Revealed => "revealed",
        /// The worker gave up on it, with a reason.
        Failed => "failed",
        /// Its result reached consensus but no member of the group revealed in time: the
        /// group was rejected by a reopen and its stake is lost.
        Rejected => "rejected",
        /// Taken back without a contribution on chain: the worker stopped sending heartbeats,
        /// or did not contribute in time.
        Lost => "lost",
    }
);

/// A task as the scheduler sees it (`GET /v1/tasks/{taskid}`, and in a deal's report).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskInfo {
    /// `keccak(dealid, index)`.
    pub task_id: B256,
    /// Its deal.
    pub deal_id: B256,
    /// Its index in the deal.
    pub index: u64,
    /// On-chain status.
    pub status: TaskStatus,
    /// The result hash that reached consensus, while revealing and after.
    pub consensus_hash: Option<B256>,
    /// Block timestamp of the consensus.
    pub consensus_at: Option<u64>,
    /// Where the certified result is, once finalized.
    pub results_location: Option<String>,
    /// Why the scheduler stopped handing the task out (too many failed replicates, a deadline
    /// passed...); the requester can claim it after its final deadline.
    pub given_up: Option<String>,
}

/// One worker's replicate of a task, as the scheduler tracks it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicateInfo {
    /// The task.
    pub task_id: B256,
    /// The worker.
    pub worker: Address,
    /// Its off-chain stage.
    pub status: ReplicateStatus,
    /// The result hash it contributed, once on chain.
    pub result_hash: Option<B256>,
    /// Its weight in the vote (replicated tasks), once contributed.
    pub weight: Option<u64>,
    /// Why it failed or was lost, or the app's deterministic failure it contributed.
    pub reason: Option<String>,
    /// Where the worker uploaded its result (reported with its reveal).
    pub results_location: Option<String>,
    /// The app's callback data (reported with the reveal, for deals with a callback).
    pub callback_data: Option<Bytes>,
    /// When it was assigned.
    pub assigned_at: u64,
    /// From when, while still assigned, it no longer keeps its task from an idle worker (a
    /// backup replica may be handed out); absent on replicates assigned before backups existed.
    #[serde(default)]
    pub backup_at: Option<u64>,
    /// Last change.
    pub updated_at: u64,
    /// What its worker reported each stage took (its own claims).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stages: Option<Stages>,
}

/// A worker registered with the scheduler (`GET /v1/workers`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerInfo {
    /// The worker's wallet.
    pub address: Address,
    /// How many replicates it runs at once.
    pub capacity: u64,
    /// Its on-chain score when last read (its weight in votes derives from it).
    pub score: u64,
    /// Alive or lost.
    pub status: WorkerStatus,
    /// When it first registered.
    pub registered_at: u64,
    /// Its last heartbeat (or login, or claim).
    pub last_heartbeat: u64,
    /// The TEE backend it announced at its last login.
    #[serde(default)]
    pub tee: TeeBackend,
    /// Why it gets no more TEE tasks (it announced a backend, then failed a TEE task without
    /// ever producing an enclave), if it does not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tee_refused: Option<String>,
}

/// A task and every replicate's off-chain stage (`GET /v1/tasks/{taskid}`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskReport {
    /// The task.
    #[serde(flatten)]
    pub task: TaskInfo,
    /// The deal's trust.
    pub trust: u64,
    /// How many more workers it needs now (0 once its replicas suffice).
    pub replicas_needed: u32,
    /// Its replicates, oldest first.
    pub replicates: Vec<ReplicateInfo>,
}

/// A deal and its tasks (`GET /v1/deals/{dealid}`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DealReport {
    /// The deal id.
    pub deal_id: B256,
    /// The app.
    pub app: Address,
    /// The dataset (zero for none).
    pub dataset: Address,
    /// The requester.
    pub requester: Address,
    /// Trust.
    pub trust: u64,
    /// Number of tasks.
    pub volume: u64,
    /// The request's params.
    pub params: String,
    /// Block of the match.
    pub block_number: u64,
    /// Its tasks.
    pub tasks: Vec<TaskInfo>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_actions_have_a_tagged_json_form() {
        let reveal = serde_json::to_value(NextAction::Reveal { deadline: 7 }).unwrap();
        assert_eq!(
            reveal,
            serde_json::json!({"action": "reveal", "deadline": 7})
        );
        let back: NextAction = serde_json::from_value(reveal).unwrap();
        assert_eq!(back, NextAction::Reveal { deadline: 7 });
        let wait: NextAction = serde_json::from_str(r#"{"action":"wait"}"#).unwrap();
        assert_eq!(wait, NextAction::Wait);
        assert!(serde_json::from_str::<NextAction>(r#"{"action":"explode"}"#).is_err());
    }

    #[test]
    fn reports_omit_what_they_do_not_carry() {
        let report = Report {
            status: ReportStatus::Failed,
            reason: Some("download failed".into()),
            results_location: None,
            callback_data: None,
            stages: None,
        };
        let text = serde_json::to_string(&report).unwrap();
        assert_eq!(text, r#"{"status":"failed","reason":"download failed"}"#);
        assert!("exploded".parse::<ReportStatus>().is_err());
        assert_eq!(
            "revealed".parse::<ReportStatus>().unwrap(),
            ReportStatus::Revealed
        );
    }

    #[test]
    fn a_session_never_prints_its_token() {
        let s = Session {
            token: "dcs_secret".into(),
            worker: Address::ZERO,
            expires_at: 1,
        };
        assert!(!format!("{s:?}").contains("dcs_secret"));
    }
}

/// What a worker is given to run a job of the pool's own client API (desktop-grid mode: no
/// chain, no contribution; the worker uploads the result to the scheduler).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkOrder {
    /// The job's id.
    pub job: String,
    /// The sha256 of the app's module (checked after download).
    pub app_checksum: String,
    /// The datum's file name in `/in` and its sha256, if the job has one.
    pub datum: Option<(String, String)>,
    /// The app's arguments.
    pub args: String,
    /// The clock the app sees (the job's submission time).
    pub clock_secs: u64,
}

/// How a worker ends a pool job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum JobOutcome {
    /// The packed `/out`, base64.
    Completed {
        /// The result.
        result: String,
    },
    /// Why it could not run.
    Failed {
        /// The reason.
        reason: String,
    },
}

/// What a claim hands a worker that asked for pool jobs too (`POST /v1/claim?pool_jobs=true`):
/// a deal's replicate, or a pool job. A replicate is sent as a bare [`Assignment`] (what older
/// workers read); a pool job as `{"pool_job": WorkOrder}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Work {
    /// A pool job.
    PoolJob {
        /// The job.
        pool_job: WorkOrder,
    },
    /// A deal's replicate.
    Replicate(Box<Assignment>),
}
