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

/// Splits `owner`'s named secret `name` `threshold`-of-n among `keepers` (n = their number):
/// each keeper gets only its share.
pub async fn push_secret_to_keepers(
    keepers: &[SmsClient],
    threshold: usize,
    owner: &PrivateKeySigner,
    name: &str,
    value: &[u8],
) -> Result<Vec<SecretInfo>, SmsClientError> {
    decloud_sms::api::check_name(name).map_err(|e| SmsClientError::Invalid(e.to_string()))?;
    if value.is_empty() {
        return Err(SmsClientError::Invalid(
            "the secret is empty: give its value with --file or on standard input".into(),
        ));
    }
    decloud_sms::client::push_to_keepers(
        keepers,
        threshold,
        owner,
        SecretKind::RequesterSecret,
        owner.address(),
        name,
        value,
        now(),
    )
    .await
}

/// Splits the key of `dataset` `threshold`-of-n among `keepers`: what `decloud dataset deploy
/// --encrypted --keepers ...` calls.
pub async fn push_dataset_key_to_keepers(
    keepers: &[SmsClient],
    threshold: usize,
    owner: &PrivateKeySigner,
    dataset: Address,
    identity: &decloud_age::Identity,
) -> Result<Vec<SecretInfo>, SmsClientError> {
    decloud_sms::client::push_to_keepers(
        keepers,
        threshold,
        owner,
        SecretKind::DatasetKey,
        dataset,
        DATASET_KEY_NAME,
        identity.to_secret_string().as_bytes(),
        now(),
    )
    .await
}

/// Re-splits the key of `dataset` `threshold`-of-n among `keepers`, the group drawn for keeper
/// epoch `epoch` (in draw order): what `decloud dataset reshare` calls at an epoch change.
pub async fn reshare_dataset_key(
    keepers: &[SmsClient],
    threshold: usize,
    epoch: u64,
    owner: &PrivateKeySigner,
    dataset: Address,
    identity: &decloud_age::Identity,
) -> Result<Vec<SecretInfo>, SmsClientError> {
    decloud_sms::client::push_to_keepers_of_epoch(
        keepers,
        threshold,
        epoch,
        owner,
        SecretKind::DatasetKey,
        dataset,
        DATASET_KEY_NAME,
        identity.to_secret_string().as_bytes(),
        now(),
    )
    .await
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

/// Pushes the key of `dataset` (the age identity that opens it), written by its owner: what
/// `decloud dataset deploy --encrypted` calls after registering the dataset.
pub async fn push_dataset_key(
    sms: &SmsClient,
    owner: &PrivateKeySigner,
    dataset: Address,
    identity: &decloud_age::Identity,
) -> Result<SecretInfo, SmsClientError> {
    sms.push_dataset_key(
        owner,
        dataset,
        identity.to_secret_string().as_bytes(),
        now(),
    )
    .await
}

/// Pushes the result recipient of `beneficiary` (its wallet signs): the public key TEE tasks
/// for it encrypt their results to. What `decloud result keygen` calls.
pub async fn push_result_recipient(
    sms: &SmsClient,
    beneficiary: &PrivateKeySigner,
    recipient: &decloud_age::Recipient,
) -> Result<SecretInfo, SmsClientError> {
    sms.push_result_recipient(beneficiary, &recipient.to_string(), now())
        .await
}

/// Gives the key holder the identity that opens the encrypted `app` (its app secret
/// [`decloud_protocol::encrypted_app::KEY_NAME`], written by the app's owner): what `decloud
/// app deploy --encrypted` calls after registering the app.
pub async fn push_app_key(
    sms: &SmsClient,
    owner: &PrivateKeySigner,
    app: Address,
    identity: &decloud_age::Identity,
) -> Result<SecretInfo, SmsClientError> {
    let write = sms
        .prepare_write(
            owner,
            SecretKind::AppSecret,
            app,
            decloud_protocol::encrypted_app::KEY_NAME,
            identity.to_secret_string().as_bytes(),
            now(),
        )
        .await?;
    sms.write(&write).await
}

/// Splits the identity that opens the encrypted `app` `threshold`-of-n among `keepers`.
pub async fn push_app_key_to_keepers(
    keepers: &[SmsClient],
    threshold: usize,
    owner: &PrivateKeySigner,
    app: Address,
    identity: &decloud_age::Identity,
) -> Result<Vec<SecretInfo>, SmsClientError> {
    decloud_sms::client::push_to_keepers(
        keepers,
        threshold,
        owner,
        SecretKind::AppSecret,
        app,
        decloud_protocol::encrypted_app::KEY_NAME,
        identity.to_secret_string().as_bytes(),
        now(),
    )
    .await
}
