//! Secrets in a secret management service (SMS): a requester's named secrets, a dataset's key,
//! a beneficiary's result recipient. Values are HPKE-sealed to the SMS and the write is an
//! EIP-712 `PutSecret` signed by the owner (see `docs/confidential.md`); nothing here prints or
//! logs a value.

use alloy::primitives::Address;
use alloy::signers::local::PrivateKeySigner;
use decloud_protocol::tee::SecretKind;

pub use decloud_sms::client::{DEFAULT_SMS_URL, SmsClient, SmsClientError};
pub use decloud_sms::{DATASET_KEY_NAME, PARAMS_SECRETS_FIELD, RESULT_RECIPIENT_NAME, SecretInfo};

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// Pushes (or rotates: the next version) `owner`'s named secret `name`.
pub async fn push_secret(
    sms: &SmsClient,
    owner: &PrivateKeySigner,
    name: &str,
    value: &[u8],
) -> Result<SecretInfo, SmsClientError> {
    decloud_sms::api::check_name(name).map_err(|e| SmsClientError::Invalid(e.to_string()))?;
    if value.is_empty() {
        return Err(SmsClientError::Invalid(
            "the secret is empty: give its value with --file or on standard input".into(),
        ));
    }
    sms.push_requester_secret(owner, name, value, now()).await
}

/// What the SMS holds for `owner`'s named secret `name` (never its value).
pub async fn show_secret(
    sms: &SmsClient,
    owner: Address,
    name: &str,
) -> Result<SecretInfo, SmsClientError> {
    decloud_sms::api::check_name(name).map_err(|e| SmsClientError::Invalid(e.to_string()))?;
    sms.show(SecretKind::RequesterSecret, owner, name).await
}

/// Pushes the key of `dataset` (an age identity, `AGE-SECRET-KEY-1...`), written by its owner:
/// what `decloud dataset deploy --encrypted` calls after registering the dataset.
pub async fn push_dataset_key(
    sms: &SmsClient,
    owner: &PrivateKeySigner,
    dataset: Address,
    identity: &str,
) -> Result<SecretInfo, SmsClientError> {
    let identity = identity.trim();
    if !identity.starts_with("AGE-SECRET-KEY-1") {
        return Err(SmsClientError::Invalid(
            "a dataset key is an age identity (AGE-SECRET-KEY-1...): make one with `age-keygen`"
                .into(),
        ));
    }
    sms.push_dataset_key(owner, dataset, identity.as_bytes(), now())
        .await
}
