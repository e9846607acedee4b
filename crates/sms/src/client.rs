//! A typed HTTP client of the SMS API (see [`crate::api`]): what owners call to push and
//! inspect secrets, and what a TEE worker calls to take a challenge and ask for a release.
//!
//! ```no_run
//! # async fn f(key: alloy::signers::local::PrivateKeySigner) -> Result<(), decloud_sms::client::SmsClientError> {
//! use decloud_sms::SmsClient;
//! let sms = SmsClient::new("http://127.0.0.1:7650")?;
//! let info = sms.push_requester_secret(&key, "api-token", b"s3cr3t", 1_900_000_000).await?;
//! println!("stored version {:?}", info.version);
//! # Ok(()) }
//! ```

use alloy::primitives::{Address, B256};
use alloy::signers::local::PrivateKeySigner;
use decloud_protocol::tee::{self, MAX_SECRET_BYTES, MAX_WRITE_AHEAD_SECS, SecretKind};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::seal;
use crate::wire::{
    ChallengeAnswer, NonceInfo, PutSecretBody, ReleaseAnswer, ReleaseRequest, SecretInfo, SmsInfo,
    WriteRequest,
};

/// Default address of an SMS started by `decloud node --sms`.
pub const DEFAULT_SMS_URL: &str = "http://127.0.0.1:7650";

/// What can go wrong talking to an SMS. Each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum SmsClientError {
    /// The URL is not an http(s) URL.
    #[error(
        "invalid SMS URL {0:?}: expected https://HOST:PORT#sha256:FINGERPRINT as the SMS printed it (or http://127.0.0.1:7650 on a devnet)"
    )]
    BadUrl(String),
    /// The SMS did not answer.
    #[error(
        "cannot reach the SMS at {url}: {reason}; check --sms (or DECLOUD_SMS), or start one with `decloud node --sms`"
    )]
    Unreachable {
        /// The SMS's base URL.
        url: String,
        /// What failed.
        reason: String,
    },
    /// The SMS refused; `message` is its explanation.
    #[error("the SMS refused: {message}")]
    Refused {
        /// HTTP status code.
        status: u16,
        /// The SMS's error message.
        message: String,
    },
    /// The SMS answered something this client cannot read.
    #[error("unexpected answer from the SMS at {url}: {reason}; is it a decloud SMS?")]
    BadResponse {
        /// The SMS's base URL.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// The value or the request is refused before anything is sent.
    #[error("{0}")]
    Invalid(String),
}

/// A client of one SMS.
#[derive(Clone, Debug)]
pub struct SmsClient {
    base: String,
    http: reqwest::Client,
}

impl SmsClient {
    /// A client of the SMS at `base_url`, a pinned URL.
    pub fn new(base_url: &str) -> Result<Self, SmsClientError> {
        use decloud_service::transport::{TransportError, api_client};
        let (base, http) = api_client(base_url).map_err(|e| match e {
            TransportError::Client(reason) => SmsClientError::Unreachable {
                url: base_url.to_string(),
                reason,
            },
            _ => SmsClientError::BadUrl(base_url.to_string()),
        })?;
        Ok(Self { base, http })
    }

    /// The SMS's base URL.
    pub fn url(&self) -> &str {
        &self.base
    }

    /// What the SMS says about itself (its chain, attester and write key).
    pub async fn info(&self) -> Result<SmsInfo, SmsClientError> {
        self.send(self.http.get(format!("{}/v1/info", self.base)))
            .await
    }

    /// The `/health` text (its second line names the TEE backend).
    pub async fn health(&self) -> Result<String, SmsClientError> {
        let response = self
            .http
            .get(format!("{}/health", self.base))
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        response.text().await.map_err(|e| self.unreachable(e))
    }

    /// `owner`'s write nonces.
    pub async fn nonce(&self, owner: Address) -> Result<NonceInfo, SmsClientError> {
        self.send(
            self.http
                .get(format!("{}/v1/owners/{owner}/nonce", self.base)),
        )
        .await
    }

    /// What the SMS holds under `(kind, object, name)` (never the value).
    pub async fn show(
        &self,
        kind: SecretKind,
        object: Address,
        name: &str,
    ) -> Result<SecretInfo, SmsClientError> {
        let kind = serde_json::to_value(kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        self.send(
            self.http
                .get(format!("{}/v1/secrets/{kind}/{object}/{name}", self.base)),
        )
        .await
    }

    /// Builds a signed, sealed write of `value` by `owner` (its next nonce and version are
    /// read from the SMS) with a deadline `now + 10 min`.
    pub async fn prepare_write(
        &self,
        owner: &PrivateKeySigner,
        kind: SecretKind,
        object: Address,
        name: &str,
        value: &[u8],
        now: u64,
    ) -> Result<WriteRequest, SmsClientError> {
        if value.len() > MAX_SECRET_BYTES {
            return Err(SmsClientError::Invalid(format!(
                "the secret is {} bytes, over the limit of {MAX_SECRET_BYTES}: store a key to the data, not the data",
                value.len()
            )));
        }
        let info = self.info().await?;
        let nonce = self.nonce(owner.address()).await?.next_nonce;
        let version = self
            .show(kind, object, name)
            .await?
            .version
            .map_or(1, |v| v + 1);
        let put = PutSecretBody {
            owner: owner.address(),
            kind,
            object,
            name: name.to_owned(),
            ciphertext_hash: B256::ZERO,
            version,
            nonce,
            deadline: now + MAX_WRITE_AHEAD_SECS.min(600),
        };
        sign_write(&info, owner, put, value)
    }

    /// Sends a prepared write.
    pub async fn write(&self, request: &WriteRequest) -> Result<SecretInfo, SmsClientError> {
        self.post("/v1/secrets", request).await
    }

    /// Pushes a named requester secret of `owner` (next nonce and version), valid until
    /// `now + 10 min`.
    pub async fn push_requester_secret(
        &self,
        owner: &PrivateKeySigner,
        name: &str,
        value: &[u8],
        now: u64,
    ) -> Result<SecretInfo, SmsClientError> {
        let w = self
            .prepare_write(
                owner,
                SecretKind::RequesterSecret,
                owner.address(),
                name,
                value,
                now,
            )
            .await?;
        self.write(&w).await
    }

    /// Pushes the key of `dataset` (an age identity), written by its owner `owner`.
    pub async fn push_dataset_key(
        &self,
        owner: &PrivateKeySigner,
        dataset: Address,
        key: &[u8],
        now: u64,
    ) -> Result<SecretInfo, SmsClientError> {
        let w = self
            .prepare_write(
                owner,
                SecretKind::DatasetKey,
                dataset,
                crate::DATASET_KEY_NAME,
                key,
                now,
            )
            .await?;
        self.write(&w).await
    }

    /// Pushes `owner`'s result recipient (an age public key `age1...`).
    pub async fn push_result_recipient(
        &self,
        owner: &PrivateKeySigner,
        recipient: &str,
        now: u64,
    ) -> Result<SecretInfo, SmsClientError> {
        let w = self
            .prepare_write(
                owner,
                SecretKind::ResultRecipient,
                owner.address(),
                crate::RESULT_RECIPIENT_NAME,
                recipient.as_bytes(),
                now,
            )
            .await?;
        self.write(&w).await
    }

    /// A single-use release nonce.
    pub async fn challenge(&self) -> Result<ChallengeAnswer, SmsClientError> {
        self.post("/v1/challenges", &serde_json::json!({})).await
    }

    /// Asks for a TEE task's release.
    pub async fn release(&self, request: &ReleaseRequest) -> Result<ReleaseAnswer, SmsClientError> {
        self.post("/v1/releases", request).await
    }

    async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, SmsClientError> {
        self.send(self.http.post(format!("{}{path}", self.base)).json(body))
            .await
    }

    fn unreachable(&self, e: reqwest::Error) -> SmsClientError {
        SmsClientError::Unreachable {
            url: self.base.clone(),
            reason: decloud_service::transport::error_chain(&e.without_url()),
        }
    }

    async fn send<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<T, SmsClientError> {
        let response = request.send().await.map_err(|e| self.unreachable(e))?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| self.unreachable(e))?;
        if status.is_success() {
            return serde_json::from_slice(&body).map_err(|e| SmsClientError::BadResponse {
                url: self.base.clone(),
                reason: e.to_string(),
            });
        }
        let message = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string))
            .unwrap_or_else(|| {
                String::from_utf8_lossy(&body)
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .chars()
                    .take(200)
                    .collect()
            });
        Err(SmsClientError::Refused {
            status: status.as_u16(),
            message,
        })
    }
}

/// Seals `value` to the SMS of `info` and signs `put` (its `ciphertext_hash` set here) with
/// `owner`'s key.
pub fn sign_write(
    info: &SmsInfo,
    owner: &PrivateKeySigner,
    mut put: PutSecretBody,
    value: &[u8],
) -> Result<WriteRequest, SmsClientError> {
    let key: [u8; 32] = hex::decode(&info.hpke_public_key)
        .ok()
        .and_then(|k| k.try_into().ok())
        .ok_or_else(|| SmsClientError::BadResponse {
            url: String::new(),
            reason: "the SMS's hpke_public_key is not 32 bytes of hex".into(),
        })?;
    let sealed = seal::seal(&key, &seal::write_info(info.chain_id, put.owner), value)
        .map_err(|e| SmsClientError::Invalid(e.to_string()))?;
    put.ciphertext_hash = sealed.hash();
    let domain = decloud_protocol::order::Domain::new(info.chain_id, info.hub);
    let signature = tee::sign(&put.typed(), &domain, owner)
        .map_err(|e| SmsClientError::Invalid(e.to_string()))?;
    Ok(WriteRequest {
        put,
        signature,
        sealed,
    })
}

/// The keeper group of `keepers` (each must say it is a keeper), in this order, with threshold
/// `threshold` at `epoch`.
pub async fn keeper_group(
    keepers: &[SmsClient],
    threshold: usize,
    epoch: u64,
) -> Result<(crate::keepers::KeeperGroup, Vec<SmsInfo>), SmsClientError> {
    let mut infos = Vec::with_capacity(keepers.len());
    for sms in keepers {
        let info = sms.info().await?;
        if !info.keeper {
            return Err(SmsClientError::Invalid(format!(
                "the SMS at {} is not a keeper: start it with `decloud node --keeper`, or push to it alone with --sms",
                sms.url()
            )));
        }
        if let Some(first) = infos.first().map(|i: &SmsInfo| (i.chain_id, i.hub))
            && first != (info.chain_id, info.hub)
        {
            return Err(SmsClientError::Invalid(format!(
                "the keeper at {} serves chain {} (hub {}), not the others' chain {} (hub {}): check --keepers",
                sms.url(),
                info.chain_id,
                info.hub,
                first.0,
                first.1
            )));
        }
        infos.push(info);
    }
    let members = infos
        .iter()
        .map(|i| crate::keepers::Keeper {
            address: i.attester,
            hpke_public_key: i.hpke_public_key.clone(),
        })
        .collect();
    let group = crate::keepers::KeeperGroup::new(epoch, threshold, members)
        .map_err(|e| SmsClientError::Invalid(e.to_string()))?;
    Ok((group, infos))
}

/// Splits `value` k-of-n among `keepers` (k = `threshold`, n = their number) and writes share
/// i, sealed to keeper i, as `owner`'s secret `(kind, object, name)` at keeper i. Every keeper
/// must answer: a secret is split for a whole group or not at all (a keeper that refuses
/// leaves the others with shares nobody can use below k; push again to rotate).
#[allow(clippy::too_many_arguments)]
pub async fn push_to_keepers(
    keepers: &[SmsClient],
    threshold: usize,
    owner: &PrivateKeySigner,
    kind: SecretKind,
    object: Address,
    name: &str,
    value: &[u8],
    now: u64,
) -> Result<Vec<SecretInfo>, SmsClientError> {
    push_to_keepers_of_epoch(keepers, threshold, 0, owner, kind, object, name, value, now).await
}

/// [`push_to_keepers`] for the group drawn at keeper epoch `epoch` (the epoch is in every
/// share's group id): a re-split at an epoch change writes the next version at each keeper.
#[allow(clippy::too_many_arguments)]
pub async fn push_to_keepers_of_epoch(
    keepers: &[SmsClient],
    threshold: usize,
    epoch: u64,
    owner: &PrivateKeySigner,
    kind: SecretKind,
    object: Address,
    name: &str,
    value: &[u8],
    now: u64,
) -> Result<Vec<SecretInfo>, SmsClientError> {
    // The share's header, commitments and tag must fit in a keeper's 64 KiB.
    let overhead = 512;
    if value.len() + overhead > MAX_SECRET_BYTES {
        return Err(SmsClientError::Invalid(format!(
            "the secret is {} bytes: split among keepers it must be at most {} bytes; store a key to the data, not the data",
            value.len(),
            MAX_SECRET_BYTES - overhead
        )));
    }
    let (group, _) = keeper_group(keepers, threshold, epoch).await?;
    let shares =
        crate::keepers::split(&group, value).map_err(|e| SmsClientError::Invalid(e.to_string()))?;
    let mut written = Vec::with_capacity(shares.len());
    for (sms, share) in keepers.iter().zip(&shares) {
        let w = sms
            .prepare_write(owner, kind, object, name, share, now)
            .await?;
        written.push(sms.write(&w).await?);
    }
    Ok(written)
}
