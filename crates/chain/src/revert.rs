//! Decoding of revert data into one-line messages: the hub's custom errors (with what to do
//! about the common ones), the token's and the registries' errors, `Error(string)` and
//! `Panic(uint256)`.

use alloy::primitives::U256;
use alloy::sol_types::{Panic, Revert, SolError, SolInterface};
use decloud_protocol::format_amount;

use crate::contracts::{AppRegistry, Beacon, DevToken, IHub, KeeperRegistry, WorkerpoolRegistry};

/// solady's `SafeTransferLib.TransferFromFailed()` (not in the hub's ABI).
const TRANSFER_FROM_FAILED: [u8; 4] = [0x79, 0x39, 0xf4, 0x24];
/// solady's `SafeTransferLib.TransferFailed()`.
const TRANSFER_FAILED: [u8; 4] = [0x90, 0xb8, 0xec, 0x18];

/// A readable message for revert `data` from any decloud contract.
pub fn describe_revert(data: &[u8]) -> String {
    if data.is_empty() {
        return "the transaction reverted without a reason".into();
    }
    if let Ok(e) = IHub::IHubErrors::abi_decode(data) {
        return describe_hub_error(&e);
    }
    if let Ok(e) = Beacon::BeaconErrors::abi_decode(data) {
        use Beacon::BeaconErrors as B;
        return match e {
            B::BadBeaconSignature(x) => format!(
                "not the beacon group's signature of round {}: fetch the round again from the beacon",
                x.round
            ),
            B::RoundAlreadyVerified(x) => {
                format!("round {} is already on chain: nothing to submit", x.round)
            }
            B::RoundTooFarAhead(x) => format!(
                "round {} is due at {} but the chain is at {}: submit it once it is published",
                x.round, x.dueAt, x.now_
            ),
            other => format!("beacon error: {}", debug_name(&other)),
        };
    }
    if let Ok(e) = KeeperRegistry::KeeperRegistryErrors::abi_decode(data) {
        use KeeperRegistry::KeeperRegistryErrors as K;
        return match e {
            K::UrlTooLong(x) => format!(
                "the URL is {} bytes long and the keeper registry takes at most {}: shorten it",
                x.length, x.max
            ),
            K::UrlNotHttps(_) => {
                "the keeper registry takes https:// URLs only (a keeper serves TLS): give its https URL".into()
            }
            K::UrlNotPrintable(x) => format!(
                "the URL holds a space, a control character or a non-ASCII byte at byte {}: percent-encode it",
                x.index
            ),
        };
    }
    if let Ok(e) = DevToken::DevTokenErrors::abi_decode(data) {
        return match e {
            DevToken::DevTokenErrors::InsufficientBalance(_) => {
                "not enough tokens in the wallet: get some (on a devnet, the dev accounts are funded) or use a smaller amount".into()
            }
            DevToken::DevTokenErrors::InsufficientAllowance(_) => {
                "the hub is not allowed to move that many tokens: approve it first".into()
            }
            other => format!("token error: {}", debug_name(&other)),
        };
    }
    if let Ok(e) = WorkerpoolRegistry::WorkerpoolRegistryErrors::abi_decode(data) {
        use WorkerpoolRegistry::WorkerpoolRegistryErrors as W;
        return match e {
            W::NotWorkerpoolOwner(x) => format!("{} does not own workerpool {}: use the owner's wallet", x.caller, x.workerpool),
            W::RatioTooLarge(x) => format!("ratio {} is too large: ratios are percentages (0-100)", x.ratio),
            W::TokenAlreadyExists(_) => "this resource is already registered (same owner and fields): change its name or reuse it".into(),
            W::TokenDoesNotExist(_) => "no such resource in the registry: check the address".into(),
            W::NotOwnerNorApproved(_) => "the wallet neither owns nor is approved for this resource".into(),
            other => format!("registry error: {}", debug_name(&other)),
        };
    }
    if let Ok(e) = AppRegistry::AppRegistryErrors::abi_decode(data) {
        return match e {
            AppRegistry::AppRegistryErrors::EmptyChecksum(_) => {
                "the checksum is empty: give the sha256 of the module or file".into()
            }
            other => format!("registry error: {}", debug_name(&other)),
        };
    }
    match data.get(..4) {
        Some(s) if s == TRANSFER_FROM_FAILED => {
            return "the token transfer to the hub failed: the wallet holds fewer tokens than that, or the hub is not approved for them".into();
        }
        Some(s) if s == TRANSFER_FAILED => return "the token transfer from the hub failed".into(),
        _ => {}
    }
    if let Ok(r) = Revert::abi_decode(data) {
        return r.reason;
    }
    if let Ok(p) = Panic::abi_decode(data) {
        return format!("the contract panicked ({p})");
    }
    format!(
        "unknown error 0x{}",
        alloy::hex::encode(&data[..data.len().min(4)])
    )
}

/// A readable message for one of the hub's custom errors.
pub fn describe_hub_error(e: &IHub::IHubErrors) -> String {
    use IHub::IHubErrors as E;
    match e {
        E::InsufficientBalance(x) => format!(
            "insufficient balance: {} has {} free in the escrow and needs {}; deposit more with `decloud account deposit`",
            x.account,
            format_amount(x.balance),
            format_amount(x.needed)
        ),
        E::OrderFullyConsumed(x) => format!(
            "order {} is already fully consumed: pick another order from the order book",
            x.orderHash
        ),
        E::OrderCancelled(x) => format!(
            "order {} was cancelled by its owner: pick another order",
            x.orderHash
        ),
        E::OrderExpired(x) => format!(
            "order {} expired at {} (unix time): sign a new one",
            x.orderHash, x.expiry
        ),
        E::InvalidSignature(x) => format!(
            "order {} is not signed by {} (its resource owner or requester): sign it again with the owner's wallet, and do not change it after signing",
            x.orderHash, x.signer
        ),
        E::UnknownResource(x) => format!(
            "{} is not a deployed app, dataset or workerpool: check the address",
            x.resource
        ),
        E::UnknownCategory(x) => format!(
            "category {} does not exist: see `decloud category list`",
            x.category
        ),
        E::AppMismatch(x) => mismatch("app", x.requested, x.offered),
        E::DatasetMismatch(x) => mismatch("dataset", x.requested, x.offered),
        E::WorkerpoolMismatch(x) => mismatch("workerpool", x.requested, x.offered),
        E::CategoryMismatch(x) => format!(
            "the request asks for category {} but the workerpool order offers category {}",
            x.requested, x.offered
        ),
        E::TrustNotOffered(x) => format!(
            "the request asks for trust {} but the workerpool accepts at most {}: lower --trust or pick another workerpool",
            x.requested, x.offered
        ),
        E::TrustTooLarge(x) => format!("trust {} is too large (at most 4294967295)", x.trust),
        E::AppPriceTooHigh(x) => price_too_high("app", x.price, x.max),
        E::DatasetPriceTooHigh(x) => price_too_high("dataset", x.price, x.max),
        E::WorkerpoolPriceTooHigh(x) => price_too_high("workerpool", x.price, x.max),
        E::PriceTooLarge(x) => format!(
            "price {} is too large (prices are at most 2^96 - 1 nano-units)",
            x.price
        ),
        E::TagNotOffered(x) => format!(
            "the workerpool offers tag {} but the orders require {}: pick a workerpool offering every required tag",
            decloud_protocol::Tag(x.offered),
            decloud_protocol::Tag(x.required)
        ),
        E::TeeAppRequired(x) => format!(
            "app {} has no TEE fingerprint (mrenclave) but the deal requires a TEE",
            x.app
        ),
        E::AppOrderRestricted(x) => restricted("app", x.restriction, x.actual),
        E::DatasetOrderRestricted(x) => restricted("dataset", x.restriction, x.actual),
        E::WorkerpoolOrderRestricted(x) => restricted("workerpool", x.restriction, x.actual),
        E::NotOrderSigner(x) => format!(
            "{} may not manage order {}: only its signer (the resource owner or requester) can",
            x.caller, x.orderHash
        ),
        E::AmountTooLarge(x) => format!(
            "amount {} is too large for the escrow",
            format_amount(x.amount)
        ),
        E::ZeroAddress(_) => "the zero address is not allowed here".into(),
        E::NotAdmin(x) => format!("{} is not the hub admin", x.caller),
        E::UnknownDeal(x) => format!(
            "deal {} is unknown (or the deal passed does not match it)",
            x.dealid
        ),
        E::NotScheduler(x) => format!("{} is not the deal's scheduler ({})", x.caller, x.scheduler),
        E::TaskNotActive(x) => format!("task {} is not active (status {})", x.taskid, x.status),
        E::TaskNotRevealing(x) => format!(
            "task {} is not in its reveal phase (status {})",
            x.taskid, x.status
        ),
        E::TaskNotClaimable(x) => {
            format!("task {} cannot be claimed (status {})", x.taskid, x.status)
        }
        E::FinalDeadlineNotReached(x) => format!(
            "task {} can be claimed only after its final deadline ({} unix time)",
            x.taskid, x.deadline
        ),
        E::TooFewAttestations(x) => format!(
            "task {} needs {} enclave attestations by distinct registered attesters, {} given: ask more key holders (decloud attester list)",
            x.taskid, x.required, x.given
        ),
        E::UnknownAttester(x) => format!(
            "an attestation for task {} recovers {}, not a registered attester: it was signed by another key or for another task, enclave or measurement",
            x.taskid, x.signer
        ),
        E::DuplicateAttester(x) => format!(
            "attester {} signed two attestations of task {}: k counts distinct attesters",
            x.attester, x.taskid
        ),
        E::AttestersNotSorted(x) => format!(
            "the attestations of task {} are not in increasing attester order ({} out of place): pack them with decloud_protocol::tee::enclave_evidence",
            x.taskid, x.attester
        ),
        E::AttestationExpired(x) => format!(
            "attestation {} of task {} expired at {}: get a fresh one",
            x.index, x.taskid, x.expiry
        ),
        E::TcbStatusNotAccepted(x) => format!(
            "task {}: TCB status {} is not accepted by the app's policy: update the platform, or the app owner allows it (setTcbPolicy)",
            x.taskid, x.tcbStatus
        ),
        E::AttesterIsLeaving(x) => format!(
            "attester {} is leaving (stake unlocks at {}): its attestations no longer count",
            x.attester, x.leavingAt
        ),
        E::AttesterUnderstaked(x) => format!(
            "attester {} holds a stake of {} below the minimum {}: it must add stake (decloud attester register --add) before its attestations count",
            x.attester,
            format_amount(x.stake),
            format_amount(x.minimum)
        ),
        E::AttesterBanned(x) => format!(
            "attester {} was slashed and can never attest again",
            x.attester
        ),
        E::AttesterRegistryClosed(_) => {
            "the attester registry is closed (minimum stake 0): the hub admin must set a minimum stake first".into()
        }
        E::AttesterStakeBelowMinimum(x) => format!(
            "a stake of {} is below the attesters' minimum {}: stake more",
            format_amount(x.stake),
            format_amount(x.minimum)
        ),
        E::AlreadyAttester(x) => format!("{} is already a registered attester", x.attester),
        E::NotAttester(x) => format!("{} is not a registered attester", x.attester),
        E::AttesterNotLeaving(x) => format!(
            "attester {} has not announced leaving: run decloud attester leave first",
            x.attester
        ),
        E::AttesterStakeLocked(x) => format!(
            "attester {}'s stake stays locked until {} (unix seconds): withdraw after that",
            x.attester, x.until
        ),
        E::DrawnWorkersOnly(x) => format!(
            "task {} belongs to a random-selection deal: only its drawn workers contribute, with the proof of their position (a scheduler's authorization counts for nothing)",
            x.taskid
        ),
        E::NotDrawn(x) => format!(
            "position {} of wave {} of task {} is held by {}, not by the sender: only the drawn worker may contribute there",
            x.position, x.wave, x.taskid, x.drawn
        ),
        E::PositionSkipped(x) => format!(
            "position {} of wave {} of task {} was skipped by worker distancing (its worker, or its cluster, was drawn earlier)",
            x.position, x.wave, x.taskid
        ),
        E::RoundNotAvailable(x) => format!(
            "beacon round {} is not on chain yet: submit it (anyone may) once it is published, then retry",
            x.round
        ),
        E::PositionExpired(x) => format!(
            "wave {} of task {} closed at {} (unix seconds): the next wave draws the replacement",
            x.wave, x.taskid, x.deadline
        ),
        E::SelectionNotSet(_) => {
            "this hub has no random-selection facet: random-selection deals are not available on this chain".into()
        }
        E::NoSnapshotBefore(x) => format!(
            "workerpool {} committed no registry snapshot before {}: commit one (anyone may; the scheduler does when its registry changes) before matching random-selection deals",
            x.workerpool, x.time
        ),
        E::NoFailedCallback(x) => format!(
            "task {} has no failed callback waiting for a retry: it succeeded or was retried already, or the callback and data are not the task's (see `decloud task show {}`)",
            x.taskid, x.taskid
        ),
        E::KeepersNotEnabled(_) => {
            "the hub has no keeper epochs yet: its admin sets their length first (`decloud attester keeper-epoch --set SECONDS`)".into()
        }
        E::NotDatasetOwner(x) => format!(
            "{} does not own dataset {}: only its owner sets its keeper group",
            x.caller, x.dataset
        ),
        E::InvalidKeeperGroup(x) => format!(
            "a keeper group of {} with threshold {} is not one: n from 1 to 9, k from 1 to n",
            x.n, x.k
        ),
        E::NoKeeperGroup(x) => format!(
            "dataset {} has no keeper group: its owner sets one (`decloud dataset keeper-group`)",
            x.dataset
        ),
        E::EpochOver(x) => format!(
            "keeper epoch {} of dataset {} is over: draw the current or the next one",
            x.epoch, x.dataset
        ),
        E::KeepersAlreadyDrawn(x) => format!(
            "keeper epoch {} of dataset {} is drawn already: `decloud dataset keepers {} --epoch {}` shows who",
            x.epoch, x.dataset, x.dataset, x.epoch
        ),
        E::NoAttesterSnapshotBefore(x) => format!(
            "no attester snapshot was committed before {} (the epoch's draw time): commit one (`decloud attester snapshot`) before the draw time of the next epoch",
            x.time
        ),
        E::NotEnoughKeepers(x) => format!(
            "dataset {} wants {} keepers but the snapshot gives {} staked attesters: fewer keepers, or more attesters",
            x.dataset, x.wanted, x.drawn
        ),
        E::KeepersNotDrawn(x) => format!(
            "keeper epoch {} of dataset {} is not drawn: nobody counts until it is (`decloud dataset draw-keepers`)",
            x.epoch, x.dataset
        ),
        E::NotKeeperOfEpoch(x) => format!(
            "attester {} is not a keeper of dataset {} in epoch {}: only the epoch's drawn keepers attest for it",
            x.signer, x.dataset, x.epoch
        ),
        E::SpotChecked(x) => format!(
            "{} belongs to a spot-checked deal: its contributors reveal with revealSpotChecked once its audit can no longer copy their digest, the scheduler finalizes it with finalizeAudited once its audit round is on chain",
            x.id
        ),
        E::NotAudited(x) => format!(
            "task {} is not audited (its audit round says so): nobody contributes to its audit",
            x.taskid
        ),
        E::AuditPending(x) => format!(
            "the audit of task {} has no consensus yet and its window closes at {} (unix seconds): the task's result is revealed, and the task finalized, after its auditors agree or the window closes",
            x.taskid, x.closesAt
        ),
        E::AuditClosed(x) => format!(
            "the audit window of task {} closed at {} (unix seconds): no audit contribution is accepted any more",
            x.taskid, x.closedAt
        ),
        E::NotAuditor(x) => format!(
            "audit position {} of task {} is held by {}, not by the sender: only the drawn auditor contributes there",
            x.position, x.taskid, x.drawn
        ),
        E::AuditorExcluded(x) => format!(
            "{} drawn at audit position {} of task {} contributed to the task (or shares a cluster with a contributor): it can't audit it",
            x.worker, x.position, x.taskid
        ),
        E::AttestationConsistent(x) => format!(
            "attester {}'s attestation of task {} agrees with the evidence it signed (not a debug TD, the app's runner, report_data binds the task): there is nothing to challenge",
            x.attester, x.taskid
        ),
        E::EvidenceNotAttested(x) => format!(
            "the quote, H and nonce given hash to {}, but the attestation commits to {}: give the evidence the attester signed (the worker keeps it in attestations/<task>.json)",
            x.given, x.evidenceHash
        ),
        E::UnsupportedQuote(x) => format!(
            "the evidence ({} bytes) is not an Intel TDX v4 quote: the hub can only challenge those",
            x.length
        ),
        E::NothingToSlash(x) => format!(
            "{} has no stake to slash (not an attester, already slashed, or withdrawn)",
            x.attester
        ),
        other => debug_name(other),
    }
}

fn price_too_high(what: &str, price: U256, max: U256) -> String {
    format!(
        "the {what} order costs {} but the request pays at most {}: raise the request's maximum or pick a cheaper order",
        format_amount(price),
        format_amount(max)
    )
}

fn mismatch(
    what: &str,
    requested: alloy::primitives::Address,
    offered: alloy::primitives::Address,
) -> String {
    format!("the request asks for {what} {requested} but the {what} order is for {offered}")
}

fn restricted(
    what: &str,
    restriction: alloy::primitives::Address,
    actual: alloy::primitives::Address,
) -> String {
    format!("the {what} order is restricted to {restriction}, which is not {actual}")
}

/// `Variant(Inner { a: 1 })` → `Inner { a: 1 }`: the error's name and its fields.
fn debug_name<T: std::fmt::Debug>(e: &T) -> String {
    let s = format!("{e:?}");
    match (s.find('('), s.ends_with(')')) {
        (Some(i), true) => s[i + 1..s.len() - 1].to_string(),
        _ => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::primitives::{Address, B256};

    /// Each revert payload with the phrases its one-line description must hold.
    fn assert_describes(cases: &[(Vec<u8>, &[&str])]) {
        for (data, phrases) in cases {
            let msg = describe_revert(data);
            for phrase in *phrases {
                assert!(msg.contains(phrase), "{msg:?} lacks {phrase:?}");
            }
        }
    }

    #[test]
    fn hub_errors_are_readable() {
        assert_describes(&[
            (
                IHub::InsufficientBalance {
                    account: Address::repeat_byte(1),
                    balance: U256::from(1_000_000_000u64),
                    needed: U256::from(3_000_000_000u64),
                }
                .abi_encode(),
                &["insufficient balance", "1 DCT", "deposit"],
            ),
            (
                IHub::OrderFullyConsumed {
                    orderHash: B256::repeat_byte(2),
                }
                .abi_encode(),
                &["already fully consumed"],
            ),
            (
                IHub::SpotChecked {
                    id: B256::repeat_byte(4),
                }
                .abi_encode(),
                &["spot-checked", "finalizeAudited"],
            ),
            (
                IHub::AuditorExcluded {
                    taskid: B256::repeat_byte(5),
                    position: U256::from(3u8),
                    worker: Address::repeat_byte(6),
                }
                .abi_encode(),
                &["contributed to the task", "can't audit"],
            ),
        ]);
        // An error without a sentence of its own is named.
        let data = IHub::WeightOverflow {
            taskid: B256::repeat_byte(3),
        }
        .abi_encode();
        assert!(describe_revert(&data).starts_with("WeightOverflow"));
    }

    #[test]
    fn registry_errors_are_readable() {
        assert_describes(&[
            (
                AppRegistry::EmptyChecksum {}.abi_encode(),
                &["checksum is empty"],
            ),
            (
                WorkerpoolRegistry::TokenAlreadyExists {}.abi_encode(),
                &["already registered"],
            ),
            (
                WorkerpoolRegistry::RatioTooLarge {
                    ratio: U256::from(101),
                }
                .abi_encode(),
                &["101"],
            ),
        ]);
    }

    #[test]
    fn other_reverts() {
        assert!(describe_revert(&TRANSFER_FROM_FAILED).contains("approved"));
        assert_eq!(
            describe_revert(&[]),
            "the transaction reverted without a reason"
        );
        assert!(describe_revert(&[1, 2, 3, 4, 5]).starts_with("unknown error 0x01020304"));
        assert!(describe_revert(&[1]).starts_with("unknown error"));
    }
}
