//! The signed messages of confidential computing, shared by the secret management service, the
//! TEE worker, the client and the hub (see `docs/confidential.md`):
//!
//! - [`PutSecret`]: an owner's EIP-712 write of one secret to a key holder (the SMS). The domain
//!   names the chain and the hub; the nonce is the owner's last + 1, the version only grows, the
//!   deadline is at most [`MAX_WRITE_AHEAD_SECS`] ahead.
//! - [`EnclaveAttested`]: a key holder's EIP-712 statement that the enclave key `enclave` was
//!   born in an enclave whose evidence appraised for `taskId` with `measurement` and
//!   `tcbStatus`; the hub's `contributeAndFinalize` counts these from registered attesters.
//!
//! Both are signed in the hub's domain ([`Domain`]) so a signature is valid on one chain and one
//! hub only.

use alloy::primitives::{Address, B256, Bytes};
use alloy::signers::SignerSync;
use alloy::sol_types::SolStruct;
use serde::{Deserialize, Serialize};

use crate::ProtocolError;
use crate::order::{Domain, recover};

/// The largest secret a key holder stores, in bytes (iExec's SMS: 4 KiB).
pub const MAX_SECRET_BYTES: usize = 64 * 1024;

/// How far ahead a write's deadline may be, in seconds.
pub const MAX_WRITE_AHEAD_SECS: u64 = 3600;

/// The EIP-712 structs, field for field as the contracts declare them.
pub mod typed {
    alloy::sol! {
        /// An owner's write of one secret (see the module docs).
        #[derive(Debug, PartialEq, Eq)]
        struct PutSecret {
            address owner;
            uint8 kind;
            address object;
            string name;
            bytes32 ciphertextHash;
            uint64 version;
            uint64 nonce;
            uint64 deadline;
        }

        /// A key holder's attestation of one enclave key for one task (see the module docs).
        #[derive(Debug, PartialEq, Eq)]
        struct EnclaveAttested {
            bytes32 taskId;
            address enclave;
            bytes32 measurement;
            uint8 tcbStatus;
            uint64 expiry;
        }
    }
}

pub use typed::{EnclaveAttested, PutSecret};

/// What a secret is, and so who may write it and which object it hangs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[repr(u8)]
pub enum SecretKind {
    /// A dataset's decryption key (an age identity); object = the dataset, writer = its owner.
    DatasetKey = 0,
    /// An app developer's secret; object = the app, writer = its owner.
    AppSecret = 1,
    /// A requester's named secret; object = the requester's own address.
    RequesterSecret = 2,
    /// A beneficiary's result recipient (an age public key, public but authenticated);
    /// object = the beneficiary's own address.
    ResultRecipient = 3,
}

impl SecretKind {
    /// Every kind, in code order.
    pub const ALL: [SecretKind; 4] = [
        Self::DatasetKey,
        Self::AppSecret,
        Self::RequesterSecret,
        Self::ResultRecipient,
    ];

    /// The kind's code in [`PutSecret::kind`].
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The kind of a code, if it names one.
    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.code() == code)
    }

    /// Whether the object is the owner's own address (requester secrets, result recipients)
    /// rather than a registered app or dataset the owner must own on chain.
    pub fn object_is_owner(self) -> bool {
        matches!(self, Self::RequesterSecret | Self::ResultRecipient)
    }
}

/// The TCB status codes of [`EnclaveAttested::tcbStatus`], as the hub reads them.
pub mod tcb_status {
    /// The platform's TCB is up to date.
    pub const UP_TO_DATE: u8 = 0;
    /// Up to date, with software hardening needed (accepted only if the app allows it).
    pub const SW_HARDENING_NEEDED: u8 = 1;
    /// Configuration needed (accepted only if the app allows it).
    pub const CONFIGURATION_NEEDED: u8 = 2;
    /// Out of date (accepted only if the app allows its advisories).
    pub const OUT_OF_DATE: u8 = 3;
}

/// The EIP-712 digest of `message` in `domain`.
pub fn signing_hash<T: SolStruct>(message: &T, domain: &Domain) -> B256 {
    message.eip712_signing_hash(&domain.eip712())
}

/// Signs `message` in `domain` with `signer`; returns the 65-byte signature.
pub fn sign<T: SolStruct, S: SignerSync + ?Sized>(
    message: &T,
    domain: &Domain,
    signer: &S,
) -> Result<Bytes, ProtocolError> {
    let signature = signer
        .sign_hash_sync(&signing_hash(message, domain))
        .map_err(|e| ProtocolError::Signing {
            reason: e.to_string(),
        })?;
    Ok(Bytes::copy_from_slice(&signature.as_bytes()))
}

/// Who signed `message` in `domain` (`what` names the message in errors).
pub fn signer_of<T: SolStruct>(
    what: &'static str,
    message: &T,
    domain: &Domain,
    sign: &[u8],
) -> Result<Address, ProtocolError> {
    recover(what, sign, signing_hash(message, domain))
}

#[cfg(test)]
mod tests {
    use alloy::signers::local::PrivateKeySigner;

    use super::*;

    fn domain() -> Domain {
        Domain::new(31337, Address::repeat_byte(0x11))
    }

    fn attested() -> EnclaveAttested {
        EnclaveAttested {
            taskId: B256::repeat_byte(1),
            enclave: Address::repeat_byte(2),
            measurement: B256::repeat_byte(3),
            tcbStatus: tcb_status::UP_TO_DATE,
            expiry: 1_900_000_000,
        }
    }

    #[test]
    fn a_signature_recovers_its_signer_in_its_domain_only() {
        let key = PrivateKeySigner::random();
        let sign = sign(&attested(), &domain(), &key).unwrap();
        assert_eq!(
            signer_of("attestation", &attested(), &domain(), &sign).unwrap(),
            key.address()
        );
        let other_chain = Domain::new(1, domain().hub);
        assert_ne!(
            signer_of("attestation", &attested(), &other_chain, &sign).unwrap(),
            key.address()
        );
        let mut edited = attested();
        edited.tcbStatus = tcb_status::OUT_OF_DATE;
        assert_ne!(
            signer_of("attestation", &edited, &domain(), &sign).unwrap(),
            key.address()
        );
    }

    #[test]
    fn type_strings_are_the_documented_ones() {
        assert_eq!(
            EnclaveAttested::eip712_root_type(),
            "EnclaveAttested(bytes32 taskId,address enclave,bytes32 measurement,uint8 tcbStatus,uint64 expiry)"
        );
        assert_eq!(
            PutSecret::eip712_root_type(),
            "PutSecret(address owner,uint8 kind,address object,string name,bytes32 ciphertextHash,uint64 version,uint64 nonce,uint64 deadline)"
        );
    }

    #[test]
    fn kinds_round_trip_through_their_codes() {
        for kind in SecretKind::ALL {
            assert_eq!(SecretKind::from_code(kind.code()), Some(kind));
        }
        assert_eq!(SecretKind::from_code(4), None);
    }
}
