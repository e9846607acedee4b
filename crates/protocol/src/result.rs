//! What a worker commits and reveals, and the signatures around a contribution.
//!
//! - `resultHash = keccak256(abi.encodePacked(taskid, digest))`
//! - `resultSeal = keccak256(abi.encodePacked(worker, taskid, digest))`
//! - the scheduler authorizes a worker with an EIP-191 signature over
//!   `keccak256(abi.encodePacked(worker, taskid, enclave))`
//! - a TEE enclave signs (EIP-191) `keccak256(abi.encodePacked(resultHash, resultSeal))`
//! - for a deal with a callback, `digest = keccak256(callbackData)`

use alloy::primitives::{Address, B256, Bytes, keccak256};
use alloy::signers::SignerSync;

use crate::ProtocolError;
use crate::order::recover;

/// A contribution's commitment: what `contribute` takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Commitment {
    /// `keccak256(taskid ‖ digest)`: the same for every worker with the same result.
    pub result_hash: B256,
    /// `keccak256(worker ‖ taskid ‖ digest)`: proves this worker knew the digest.
    pub result_seal: B256,
}

/// `keccak256(abi.encodePacked(taskid, digest))`.
pub fn result_hash(task_id: B256, digest: B256) -> B256 {
    keccak256([task_id.as_slice(), digest.as_slice()].concat())
}

/// `keccak256(abi.encodePacked(worker, taskid, digest))`.
pub fn result_seal(worker: Address, task_id: B256, digest: B256) -> B256 {
    keccak256([worker.as_slice(), task_id.as_slice(), digest.as_slice()].concat())
}

/// The result hash and seal of `worker`'s result `digest` for `task_id`.
pub fn commitment(worker: Address, task_id: B256, digest: B256) -> Commitment {
    Commitment {
        result_hash: result_hash(task_id, digest),
        result_seal: result_seal(worker, task_id, digest),
    }
}

/// What the hub stores of a replicated contribution: the top 208 bits of
/// `keccak256(abi.encodePacked(resultHash, resultSeal))`, shifted down (`commit` of the hub's
/// `contribution` view).
pub fn replicated_commit(c: &Commitment) -> alloy::primitives::U256 {
    alloy::primitives::U256::from_be_bytes(enclave_message(c).0) >> 48
}

/// The digest of a callback result: `keccak256(callbackData)`.
pub fn callback_digest(callback_data: &[u8]) -> B256 {
    keccak256(callback_data)
}

/// The message the scheduler signs to authorize `worker` on `task_id` (with `enclave`, or zero):
/// `keccak256(abi.encodePacked(worker, taskid, enclave))`, signed with the EIP-191 prefix.
pub fn authorization_message(worker: Address, task_id: B256, enclave: Address) -> B256 {
    keccak256([worker.as_slice(), task_id.as_slice(), enclave.as_slice()].concat())
}

/// The scheduler's authorization signature (65 bytes) for `worker` on `task_id`.
pub fn sign_authorization<S: SignerSync + ?Sized>(
    scheduler: &S,
    worker: Address,
    task_id: B256,
    enclave: Address,
) -> Result<Bytes, ProtocolError> {
    sign_eip191(scheduler, authorization_message(worker, task_id, enclave))
}

/// Who signed an authorization (compare with the deal's scheduler).
pub fn authorization_signer(
    sign: &[u8],
    worker: Address,
    task_id: B256,
    enclave: Address,
) -> Result<Address, ProtocolError> {
    recover_eip191(
        "authorization",
        sign,
        authorization_message(worker, task_id, enclave),
    )
}

/// Authorization `sign` of (`worker`, `task_id`, `enclave`) in the 64-byte compact form of
/// EIP-2098 (r ‖ yParity·2²⁵⁵ + s), which the hub's ECDSA check also accepts: one ABI word of
/// calldata less than 65 bytes (140 gas per TEE task). Returned as it is unless it is a 65-byte
/// signature that recovers to `scheduler` (an ERC-1271 scheduler's signature is not ECDSA).
pub fn compact_authorization(
    sign: &Bytes,
    scheduler: Address,
    worker: Address,
    task_id: B256,
    enclave: Address,
) -> Bytes {
    let signed_by_scheduler = sign.len() == 65
        && authorization_signer(sign, worker, task_id, enclave).is_ok_and(|a| a == scheduler);
    match alloy::primitives::Signature::from_raw(sign) {
        Ok(signature) if signed_by_scheduler => Bytes::copy_from_slice(&signature.as_erc2098()),
        _ => sign.clone(),
    }
}

/// The message a TEE enclave signs: `keccak256(abi.encodePacked(resultHash, resultSeal))`.
pub fn enclave_message(c: &Commitment) -> B256 {
    keccak256([c.result_hash.as_slice(), c.result_seal.as_slice()].concat())
}

/// The enclave's signature (65 bytes) over a commitment.
pub fn sign_enclave<S: SignerSync + ?Sized>(
    enclave: &S,
    c: &Commitment,
) -> Result<Bytes, ProtocolError> {
    sign_eip191(enclave, enclave_message(c))
}

/// Signs `keccak256("\x19Ethereum Signed Message:\n32" ‖ message)`, as solady's
/// `toEthSignedMessageHash(bytes32)` expects.
fn sign_eip191<S: SignerSync + ?Sized>(signer: &S, message: B256) -> Result<Bytes, ProtocolError> {
    let signature =
        signer
            .sign_message_sync(message.as_slice())
            .map_err(|e| ProtocolError::Signing {
                reason: e.to_string(),
            })?;
    Ok(Bytes::copy_from_slice(&signature.as_bytes()))
}

fn recover_eip191(
    kind: &'static str,
    sign: &[u8],
    message: B256,
) -> Result<Address, ProtocolError> {
    recover(kind, sign, alloy::primitives::eip191_hash_message(message))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::signers::local::PrivateKeySigner;

    #[test]
    fn authorization_round_trips() {
        let scheduler = PrivateKeySigner::random();
        let worker = Address::repeat_byte(1);
        let task = B256::repeat_byte(2);
        let sign = sign_authorization(&scheduler, worker, task, Address::ZERO).unwrap();
        assert_eq!(sign.len(), 65);
        assert_eq!(
            authorization_signer(&sign, worker, task, Address::ZERO).unwrap(),
            scheduler.address()
        );
        assert_ne!(
            authorization_signer(&sign, Address::repeat_byte(3), task, Address::ZERO).unwrap(),
            scheduler.address()
        );
        assert!(authorization_signer(&sign[..10], worker, task, Address::ZERO).is_err());
    }

    #[test]
    fn a_compact_authorization_recovers_the_same_scheduler() {
        let scheduler = PrivateKeySigner::random();
        let (worker, task, enclave) = (
            Address::repeat_byte(1),
            B256::repeat_byte(2),
            Address::repeat_byte(3),
        );
        // both recovery ids: the parity bit must land in s's top bit
        for i in 0..8u8 {
            let task = B256::repeat_byte(i);
            let sign = sign_authorization(&scheduler, worker, task, enclave).unwrap();
            let compact = compact_authorization(&sign, scheduler.address(), worker, task, enclave);
            assert_eq!(compact.len(), 64);
            assert_eq!(compact[..32], sign[..32], "r is kept");
            assert_eq!(
                authorization_signer(&compact, worker, task, enclave).unwrap(),
                scheduler.address()
            );
        }
        // not the scheduler's ECDSA signature (another signer, another enclave, not 65 bytes):
        // sent as it is, for the hub to judge (an ERC-1271 scheduler's signature is not ECDSA)
        let sign = sign_authorization(&scheduler, worker, task, enclave).unwrap();
        let other = Address::repeat_byte(9);
        assert_eq!(
            compact_authorization(&sign, other, worker, task, enclave),
            sign
        );
        assert_eq!(
            compact_authorization(&sign, scheduler.address(), worker, task, other),
            sign
        );
        let short = Bytes::from_static(&[7; 10]);
        assert_eq!(
            compact_authorization(&short, scheduler.address(), worker, task, enclave),
            short
        );
    }

    #[test]
    fn seal_binds_the_worker_and_hash_does_not() {
        let task = B256::repeat_byte(9);
        let digest = B256::repeat_byte(4);
        let a = commitment(Address::repeat_byte(1), task, digest);
        let b = commitment(Address::repeat_byte(2), task, digest);
        assert_eq!(a.result_hash, b.result_hash);
        assert_ne!(a.result_seal, b.result_seal);
        let mut packed = Vec::new();
        packed.extend_from_slice(Address::repeat_byte(1).as_slice());
        packed.extend_from_slice(task.as_slice());
        packed.extend_from_slice(digest.as_slice());
        assert_eq!(
            packed.len(),
            84,
            "abi.encodePacked(address, bytes32, bytes32) is 20 + 32 + 32 bytes"
        );
        assert_eq!(a.result_seal, keccak256(&packed));
        let enclave = PrivateKeySigner::random();
        let s = sign_enclave(&enclave, &a).unwrap();
        assert_eq!(
            recover_eip191("enclave", &s, enclave_message(&a)).unwrap(),
            enclave.address()
        );
    }
}
