//! The hub's attester registry (the key holders whose `EnclaveAttested` signatures a TEE task
//! needs, see `docs/protocol.md`) and the TEE fast path: register with a stake, add to it,
//! announce leaving, withdraw after the delay, read one attester or all of them, and
//! `contributeAndFinalize` with the enclave's evidence.

use alloy::primitives::{Address, U256};
use alloy::rpc::types::{Filter, TransactionReceipt};
use alloy::sol_types::SolEvent;
use serde::Serialize;

use crate::ChainError;
use crate::actions::deposit_at_least;
use crate::client::Client;
use crate::contracts::IHub;
use crate::follower::get_logs_chunked;

/// Blocks per `eth_getLogs` request when listing attesters (public providers refuse more).
const LOG_RANGE: u64 = 10_000;

/// One attester's record at the hub.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AttesterInfo {
    /// The attester's address (its wallet signs the attestations).
    pub address: Address,
    /// The stake it has locked (token units).
    pub stake: U256,
    /// When it registered (unix seconds; 0 when it never did or withdrew).
    pub registered_at: u64,
    /// When its stake unlocks, once it announced leaving (0 while it attests).
    pub leaving_at: u64,
    /// Whether it was slashed (its key can never register again).
    pub slashed: bool,
    /// Whether its attestations count now: registered, not leaving, not slashed, staked at
    /// least the current minimum.
    pub active: bool,
}

/// Registers the client's wallet as an attester, locking `stake` from its escrow balance
/// (depositing what the balance lacks first).
pub async fn register(client: &Client, stake: U256) -> Result<TransactionReceipt, ChainError> {
    deposit_at_least(client, stake).await?;
    let tx = client
        .hub()
        .registerAttester(stake)
        .into_transaction_request();
    client.send("registering as an attester", tx).await
}

/// Adds `amount` to the client's attester stake (depositing what the balance lacks first).
pub async fn add_stake(client: &Client, amount: U256) -> Result<TransactionReceipt, ChainError> {
    deposit_at_least(client, amount).await?;
    let tx = client
        .hub()
        .addAttesterStake(amount)
        .into_transaction_request();
    client.send("adding to the attester stake", tx).await
}

/// Announces that the client's attester leaves: its attestations stop counting at once, and
/// its stake unlocks after the hub's `ATTESTER_LEAVE_DELAY`.
pub async fn leave(client: &Client) -> Result<TransactionReceipt, ChainError> {
    let tx = client.hub().leaveAttesters().into_transaction_request();
    client.send("leaving the attesters", tx).await
}

/// Takes the client's unlocked attester stake back into its escrow balance.
pub async fn withdraw(client: &Client) -> Result<TransactionReceipt, ChainError> {
    let tx = client
        .hub()
        .withdrawAttesterStake()
        .into_transaction_request();
    client.send("withdrawing the attester stake", tx).await
}

/// The hub's admin sets the attesters' minimum stake (0 closes registration).
pub async fn set_min_stake(
    client: &Client,
    min_stake: U256,
) -> Result<TransactionReceipt, ChainError> {
    let tx = client
        .hub()
        .setMinAttesterStake(min_stake)
        .into_transaction_request();
    client
        .send("setting the attesters' minimum stake", tx)
        .await
}

/// The attesters' current minimum stake.
pub async fn min_stake(client: &Client) -> Result<U256, ChainError> {
    client
        .read(
            "reading the attesters' minimum stake",
            client.hub().minAttesterStake(),
        )
        .await
}

/// `address`'s attester record (all zero when it never registered).
pub async fn attester(client: &Client, address: Address) -> Result<AttesterInfo, ChainError> {
    let r = client
        .read("reading an attester", client.hub().attester(address))
        .await?;
    Ok(AttesterInfo {
        address,
        stake: r.stake,
        registered_at: r.registeredAt.saturating_to(),
        leaving_at: r.leavingAt.saturating_to(),
        slashed: r.slashed,
        active: r.active,
    })
}

/// Every address that ever registered as an attester (from the hub's `AttesterRegistered`
/// events since its deployment), with its current record, in registration order; those that
/// withdrew are left out.
pub async fn list(client: &Client) -> Result<Vec<AttesterInfo>, ChainError> {
    let filter = Filter::new()
        .address(client.profile().contracts.hub)
        .event_signature(IHub::AttesterRegistered::SIGNATURE_HASH);
    let logs = get_logs_chunked(
        client.provider(),
        &filter,
        client.profile().deployment_block,
        None,
        LOG_RANGE,
    )
    .await
    .map_err(|e| ChainError::tx("listing the attesters", e))?;
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for log in logs {
        let Ok(event) = IHub::AttesterRegistered::decode_log(&log.inner) else {
            continue;
        };
        if !seen.insert(event.attester) {
            continue;
        }
        let info = attester(client, event.attester).await?;
        if info.registered_at != 0 || info.slashed {
            out.push(info);
        }
    }
    Ok(out)
}

/// Contributes and finalizes task `index` of the TEE deal `deal` in one transaction (trust <= 1
/// deals with the TEE tag): `result.enclaveSign` is what
/// `decloud_protocol::tee::enclave_evidence` builds (the enclave's signature and the deal's k
/// attestations).
pub async fn contribute_and_finalize(
    client: &Client,
    deal: IHub::Deal,
    index: u64,
    result: IHub::FastResult,
) -> Result<TransactionReceipt, ChainError> {
    let tx = client
        .hub()
        .contributeAndFinalize(deal, U256::from(index), result)
        .into_transaction_request();
    client
        .send("contributing and finalizing the TEE task", tx)
        .await
}

/// What a challenge found in the evidence, from `AttestationContradicted`'s bits.
pub fn contradictions(bits: u64) -> Vec<&'static str> {
    [
        (1, "the TD is a debug TD"),
        (2, "its runner measurement is not the one signed"),
        (4, "its runner measurement is not the app's mrenclave"),
        (
            8,
            "its report_data does not bind the task, the app, the enclave key and the signed H and nonce",
        ),
    ]
    .into_iter()
    .filter(|(bit, _)| bits & bit != 0)
    .map(|(_, what)| what)
    .collect()
}

/// What `challengeAttestation` did: the attester slashed, why, and what moved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChallengeOutcome {
    /// The attester who lost its stake.
    pub attester: Address,
    /// `AttestationContradicted`'s bits (see [`contradictions`]).
    pub contradictions: u64,
    /// The stake seized.
    pub amount: U256,
    /// The challenger's share of it.
    pub reward: U256,
    /// The transaction.
    pub transaction: alloy::primitives::B256,
}

/// Challenges attestation `attestation` of task `index` of `deal` with the evidence it commits
/// to (`quote`, the enclave's X25519 key and the attester's nonce): the hub slashes its signer
/// when the quote contradicts it, and refuses (`AttestationConsistent`) when it does not; a
/// refused challenge fails at gas estimation and sends nothing.
pub async fn challenge(
    client: &Client,
    deal: IHub::Deal,
    index: u64,
    attestation: IHub::EnclaveAttestation,
    quote: alloy::primitives::Bytes,
    hpke_key: alloy::primitives::B256,
    nonce: alloy::primitives::B256,
) -> Result<ChallengeOutcome, ChainError> {
    let hub = client.hub();
    let call =
        hub.challengeAttestation(deal, U256::from(index), attestation, quote, hpke_key, nonce);
    let receipt = client
        .send(
            "challenging the attestation",
            call.into_transaction_request(),
        )
        .await?;
    let mut outcome = ChallengeOutcome {
        attester: Address::ZERO,
        contradictions: 0,
        amount: U256::ZERO,
        reward: U256::ZERO,
        transaction: receipt.transaction_hash,
    };
    for log in receipt.inner.logs() {
        if let Ok(e) = IHub::AttestationContradicted::decode_log_data(log.data()) {
            outcome.contradictions = u64::try_from(e.contradictions).unwrap_or(u64::MAX);
        } else if let Ok(e) = IHub::AttesterSlashed::decode_log_data(log.data()) {
            outcome.attester = e.attester;
            outcome.amount = e.amount;
            outcome.reward = e.reward;
        }
    }
    Ok(outcome)
}
