//! The SMS's request and answer bodies: what [`crate::api`] serves and [`crate::client`] sends.

use alloy::primitives::{Address, B256, Bytes};
use decloud_protocol::tee::{EnclaveAttested, PutSecret, SecretKind};
use decloud_tee::{Evidence, TeeKind};
use serde::{Deserialize, Serialize};

use crate::seal::Sealed;

/// What an SMS tells about itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmsInfo {
    /// The chain it serves.
    pub chain_id: u64,
    /// The hub (the EIP-712 domain of writes and attestations).
    pub hub: Address,
    /// The address that signs its `EnclaveAttested` statements.
    pub attester: Address,
    /// The X25519 key writes are HPKE-sealed to (hex).
    pub hpke_public_key: String,
    /// The TEE backend it appraises.
    pub tee: TeeKind,
    /// The largest secret, in bytes.
    pub max_secret_bytes: usize,
    /// Whether it is a keeper: it holds only shares of k-of-n splits (`--keepers`).
    #[serde(default)]
    pub keeper: bool,
}

/// An owner's write nonce.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NonceInfo {
    /// The owner.
    pub owner: Address,
    /// Its last accepted nonce (0: none yet).
    pub last_nonce: u64,
    /// The nonce its next write must carry.
    pub next_nonce: u64,
}

/// The fields of a `PutSecret`, in JSON.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PutSecretBody {
    /// The writer: an EOA, or an ERC-1271 wallet.
    pub owner: Address,
    /// What the secret is.
    pub kind: SecretKind,
    /// The app or dataset; for requester secrets and recipients, the owner itself.
    pub object: Address,
    /// The secret's name (`key` for a dataset key, `result` for a recipient).
    pub name: String,
    /// `sha256(enc ‖ ciphertext)` of the sealed value sent with it.
    pub ciphertext_hash: B256,
    /// Above the stored version.
    pub version: u64,
    /// The owner's last nonce + 1.
    pub nonce: u64,
    /// Unix time after which the write is refused (at most an hour ahead).
    pub deadline: u64,
}

impl PutSecretBody {
    /// The EIP-712 struct.
    pub fn typed(&self) -> PutSecret {
        PutSecret {
            owner: self.owner,
            kind: self.kind.code(),
            object: self.object,
            name: self.name.clone(),
            ciphertextHash: self.ciphertext_hash,
            version: self.version,
            nonce: self.nonce,
            deadline: self.deadline,
        }
    }
}

/// A signed, sealed write.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WriteRequest {
    /// What is written.
    pub put: PutSecretBody,
    /// The EIP-712 signature of `put` in the hub's domain.
    pub signature: Bytes,
    /// The value, HPKE-sealed to the SMS's key under [`crate::seal::write_info`].
    pub sealed: Sealed,
}

/// What the SMS says about a secret (never its value).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretInfo {
    /// Whether it is stored.
    pub exists: bool,
    /// The kind asked about.
    pub kind: SecretKind,
    /// The object asked about.
    pub object: Address,
    /// The name asked about.
    pub name: String,
    /// Who wrote the current version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<Address>,
    /// The current version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    /// The `ciphertextHash` the owner signed for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ciphertext_hash: Option<B256>,
    /// When it was written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<u64>,
}

/// A release challenge.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChallengeAnswer {
    /// The single-use nonce to bind into `report_data`.
    pub nonce: B256,
    /// Unix time after which it is refused.
    pub expires_at: u64,
}

/// A TEE task's release request, sent by the worker on behalf of its enclave.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ReleaseRequest {
    /// The deal.
    pub deal_id: B256,
    /// The task's index in the deal.
    pub index: u64,
    /// The worker the scheduler authorized.
    pub worker: Address,
    /// The address of the enclave's result-signing key E.
    pub enclave: Address,
    /// The enclave's X25519 key H (hex, 32 bytes).
    pub hpke_public_key: String,
    /// The challenge nonce bound into `report_data`.
    pub nonce: B256,
    /// The enclave's evidence.
    pub evidence: Evidence,
    /// The scheduler's EIP-191 signature of `authorization_message(worker, taskid, enclave)`.
    pub authorization: Bytes,
    /// The worker holds the deal's dataset on its owner's machine (a local dataset, not
    /// encrypted): no dataset key is asked for. Unchecked, and needs no check: it only makes
    /// the release smaller.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub local_dataset: bool,
}

/// One released secret, sealed to H.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleasedSecret {
    /// What it is for, also the HPKE info's purpose: `dataset-key`, `app-secret:NAME`,
    /// `requester-secret:NAME`, `result-recipient`.
    pub purpose: String,
    /// Its version.
    pub version: u64,
    /// The value, sealed to H under [`crate::seal::release_info`]`(purpose, chain, task)`.
    pub sealed: Sealed,
}

/// The SMS's signed `EnclaveAttested` statement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attestation {
    /// The task.
    pub task_id: B256,
    /// The enclave key E.
    pub enclave: Address,
    /// The runner measurement (the app's `mrenclave`).
    pub measurement: B256,
    /// The TCB status code ([`decloud_protocol::tee::tcb_status`]).
    pub tcb_status: u8,
    /// Valid until (the task's contribution deadline).
    pub expiry: u64,
    /// `keccak256(quote ‖ H ‖ nonce)` of the evidence appraised
    /// ([`decloud_protocol::tee::evidence_hash`]): what a challenge shows.
    pub evidence_hash: B256,
    /// Who signed it (the SMS's attester address).
    pub signer: Address,
    /// The EIP-712 signature in the hub's domain.
    pub signature: Bytes,
}

impl Attestation {
    /// The EIP-712 struct.
    pub fn typed(&self) -> EnclaveAttested {
        EnclaveAttested {
            taskId: self.task_id,
            enclave: self.enclave,
            measurement: self.measurement,
            tcbStatus: self.tcb_status,
            expiry: self.expiry,
            evidenceHash: self.evidence_hash,
        }
    }
}

/// A release: the secrets the deal uses, sealed to H, and the attestation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseAnswer {
    /// The task.
    pub task_id: B256,
    /// The secrets.
    pub secrets: Vec<ReleasedSecret>,
    /// The signed statement for the hub.
    pub attestation: Attestation,
}
