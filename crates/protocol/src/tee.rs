//! The signed messages of confidential computing, shared by the secret management service, the
//! TEE worker, the client and the hub (see `docs/confidential.md`):
//!
//! - [`PutSecret`]: an owner's EIP-712 write of one secret to a key holder (the SMS). The domain
//!   names the chain and the hub; the nonce is the owner's last + 1, the version only grows, the
//!   deadline is at most [`MAX_WRITE_AHEAD_SECS`] ahead.
//! - [`EnclaveAttested`]: a key holder's EIP-712 statement that the enclave key `enclave` was
//!   born in an enclave whose evidence appraised for `taskId` with `measurement` and
//!   `tcbStatus`; the hub's `contributeAndFinalize` counts these from registered attesters. It
//!   commits to what was appraised ([`evidence_hash`]), so that a key holder that signs for
//!   evidence that does not appraise can be challenged on chain with that evidence and slashed.
//!
//! Both are signed in the hub's domain ([`Domain`]) so a signature is valid on one chain and one
//! hub only.
//!
//! A TEE contribution carries the enclave's 65-byte result signature followed by k packed
//! attestations ([`enclave_evidence`]); a deal's k comes from its tag ([`attestations_required`],
//! [`tag_for_attestations`]).

use alloy::primitives::{Address, B256, Bytes};
use alloy::signers::SignerSync;
use alloy::sol_types::SolStruct;
use serde::{Deserialize, Serialize};

use crate::ProtocolError;
use crate::order::{Domain, recover};
use crate::tag::Tag;

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
            bytes32 evidenceHash;
        }
    }
}

/// What [`EnclaveAttested::evidenceHash`] commits to: `keccak256(quote ‖ H ‖ nonce)`, the evidence
/// the key holder appraised and the two inputs of its `report_data` that only the enclave and the
/// key holder know (the rest is on chain). With them, anyone can recompute on chain what the
/// quote must say (`challengeAttestation`); without H and the nonce, a `report_data` that differs
/// would prove nothing.
pub fn evidence_hash(quote: &[u8], hpke_public_key: &[u8; 32], nonce: &[u8; 32]) -> B256 {
    let mut h = alloy::primitives::Keccak256::new();
    h.update(quote);
    h.update(hpke_public_key);
    h.update(nonce);
    h.finalize()
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

/// The first tag bit that raises a deal's attestation count (the hub's `TAG_ATTESTATIONS_SHIFT`).
pub const TAG_ATTESTATIONS_SHIFT: u32 = 8;

/// The most attestations a tag can ask for (bits 8-15 all set).
pub const MAX_ATTESTATIONS: usize = 9;

/// How many `EnclaveAttested` signatures a TEE contribution to a deal of tag `tag` needs, as the
/// hub counts them: 1 when none of bits 8-15 is set, else 2 + the index of the highest one set.
/// A deal's tag is the union of its orders' tags, so k is the largest any order asks for.
pub fn attestations_required(tag: Tag) -> usize {
    let bits = (alloy::primitives::U256::from_be_bytes(tag.0.0) >> TAG_ATTESTATIONS_SHIFT).byte(0);
    if bits == 0 {
        1
    } else {
        2 + (7 - bits.leading_zeros() as usize)
    }
}

/// The tag bits that ask for `k` attestations: bits 8 .. 8 + k - 2 (none for k = 1). A workerpool
/// order offering up to k sets these, so it covers any request asking for k or fewer.
pub fn tag_for_attestations(k: usize) -> Result<Tag, ProtocolError> {
    if !(1..=MAX_ATTESTATIONS).contains(&k) {
        return Err(ProtocolError::BadAttestationCount { k });
    }
    let bits = (1u64 << (k - 1)) - 1;
    Ok(Tag(B256::from(
        alloy::primitives::U256::from(bits) << TAG_ATTESTATIONS_SHIFT,
    )))
}

/// One key holder's signed attestation, as a contribution carries it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedAttestation {
    /// Who signed it (the hub recovers it; kept here to order and deduplicate).
    pub attester: Address,
    /// The attested TCB status ([`tcb_status`]).
    pub tcb_status: u8,
    /// Unix seconds after which the hub refuses it.
    pub expiry: u64,
    /// The evidence it commits to ([`evidence_hash`]).
    pub evidence_hash: B256,
    /// The 65-byte signature r ‖ s ‖ v over the [`EnclaveAttested`] digest.
    pub signature: Bytes,
}

/// The size of one packed attestation: tcbStatus (1), expiry (8), evidenceHash (32),
/// signature (65).
pub const PACKED_ATTESTATION_BYTES: usize = 106;

impl SignedAttestation {
    /// Signs `message` in `domain` with `signer` (a registered attester's wallet).
    pub fn sign<S: SignerSync + ?Sized>(
        message: &EnclaveAttested,
        domain: &Domain,
        signer: &S,
    ) -> Result<Self, ProtocolError> {
        let signature = sign(message, domain, signer)?;
        let attester = signer_of("attestation", message, domain, &signature)?;
        Ok(Self {
            attester,
            tcb_status: message.tcbStatus,
            expiry: message.expiry,
            evidence_hash: message.evidenceHash,
            signature,
        })
    }

    /// Checks that `signature` over `message` in `domain` is `attester`'s and keeps it.
    pub fn verified(
        message: &EnclaveAttested,
        domain: &Domain,
        signature: Bytes,
    ) -> Result<Self, ProtocolError> {
        if signature.len() != 65 {
            return Err(ProtocolError::MalformedSignature {
                kind: "attestation",
                len: signature.len(),
            });
        }
        let attester = signer_of("attestation", message, domain, &signature)?;
        Ok(Self {
            attester,
            tcb_status: message.tcbStatus,
            expiry: message.expiry,
            evidence_hash: message.evidenceHash,
            signature,
        })
    }

    /// The 106 bytes the hub reads: tcbStatus, expiry (big-endian), evidenceHash, signature.
    pub fn packed(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(PACKED_ATTESTATION_BYTES);
        out.push(self.tcb_status);
        out.extend_from_slice(&self.expiry.to_be_bytes());
        out.extend_from_slice(self.evidence_hash.as_slice());
        out.extend_from_slice(&self.signature);
        out
    }
}

/// One attestation with the evidence it commits to: everything `challengeAttestation` needs
/// besides the deal. The TEE worker keeps one per key holder's answer (`attestations/<task>.json`
/// in its data directory); none of it is secret (a quote, a public key, a used nonce).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttestationEvidence {
    /// The deal of the task.
    pub deal_id: B256,
    /// The task's index in the deal.
    pub index: u64,
    /// The task.
    pub task_id: B256,
    /// The enclave key E.
    pub enclave: Address,
    /// The measurement the statement names.
    pub measurement: B256,
    /// The TCB status code the statement names.
    pub tcb_status: u8,
    /// The statement's expiry.
    pub expiry: u64,
    /// Who signed it, as it said.
    pub attester: Address,
    /// The attester's EIP-712 signature.
    pub signature: Bytes,
    /// The quote the attester appraised.
    pub quote: Bytes,
    /// The enclave's X25519 key H.
    pub hpke_public_key: B256,
    /// The attester's nonce.
    pub nonce: B256,
}

impl AttestationEvidence {
    /// The statement, its evidence hash recomputed from the quote, H and the nonce kept here: a
    /// signature over it recovers the attester only if that is what it signed.
    pub fn statement(&self) -> EnclaveAttested {
        EnclaveAttested {
            taskId: self.task_id,
            enclave: self.enclave,
            measurement: self.measurement,
            tcbStatus: self.tcb_status,
            expiry: self.expiry,
            evidenceHash: evidence_hash(&self.quote, &self.hpke_public_key.0, &self.nonce.0),
        }
    }
}

/// What a TEE contribution passes as `enclaveSign`: the enclave's 65-byte result signature, then
/// the attestations packed in increasing attester order (the hub's duplicate check). Refuses a
/// malformed enclave signature and two attestations by one attester.
pub fn enclave_evidence(
    enclave_signature: &[u8],
    attestations: &[SignedAttestation],
) -> Result<Bytes, ProtocolError> {
    if enclave_signature.len() != 65 {
        return Err(ProtocolError::MalformedSignature {
            kind: "enclave signature",
            len: enclave_signature.len(),
        });
    }
    let mut sorted: Vec<&SignedAttestation> = attestations.iter().collect();
    sorted.sort_by_key(|a| a.attester);
    if let Some(w) = sorted.windows(2).find(|w| w[0].attester == w[1].attester) {
        return Err(ProtocolError::DuplicateAttester {
            attester: w[0].attester,
        });
    }
    let mut out = enclave_signature.to_vec();
    for a in sorted {
        if a.signature.len() != 65 {
            return Err(ProtocolError::MalformedSignature {
                kind: "attestation",
                len: a.signature.len(),
            });
        }
        out.extend_from_slice(&a.packed());
    }
    Ok(out.into())
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
            evidenceHash: evidence_hash(b"quote", &[4; 32], &[5; 32]),
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
        // the statement commits to the evidence: another quote, H or nonce is another statement
        for other in [
            evidence_hash(b"quotf", &[4; 32], &[5; 32]),
            evidence_hash(b"quote", &[6; 32], &[5; 32]),
            evidence_hash(b"quote", &[4; 32], &[6; 32]),
        ] {
            let mut edited = attested();
            edited.evidenceHash = other;
            assert_ne!(
                signer_of("attestation", &edited, &domain(), &sign).unwrap(),
                key.address()
            );
        }
    }

    #[test]
    fn type_strings_are_the_documented_ones() {
        assert_eq!(
            EnclaveAttested::eip712_root_type(),
            "EnclaveAttested(bytes32 taskId,address enclave,bytes32 measurement,uint8 tcbStatus,uint64 expiry,bytes32 evidenceHash)"
        );
        assert_eq!(
            PutSecret::eip712_root_type(),
            "PutSecret(address owner,uint8 kind,address object,string name,bytes32 ciphertextHash,uint64 version,uint64 nonce,uint64 deadline)"
        );
    }

    /// The string literal inside `NAME = keccak256("...")` in `source`.
    fn solidity_type_string(source: &str, constant: &str) -> String {
        let start = source
            .find(&format!("{constant} = keccak256("))
            .unwrap_or_else(|| panic!("{constant} not found"));
        let rest = &source[start..];
        let open = rest.find('"').unwrap() + 1;
        let close = open + rest[open..].find('"').unwrap();
        rest[open..close].to_string()
    }

    #[test]
    fn enclave_attested_is_the_hubs_type() {
        const HUB_BASE_SOL: &str = include_str!("../../../contracts/src/HubBase.sol");
        assert_eq!(
            solidity_type_string(HUB_BASE_SOL, "ENCLAVE_ATTESTED_TYPEHASH"),
            EnclaveAttested::eip712_root_type()
        );
        assert!(
            HUB_BASE_SOL.contains(&format!(
                "TAG_ATTESTATIONS_SHIFT = {TAG_ATTESTATIONS_SHIFT};"
            )),
            "the tag shift is the hub's"
        );
    }

    #[test]
    fn k_comes_from_tag_bits_8_to_15() {
        assert_eq!(attestations_required(Tag::TEE), 1);
        for k in 1..=MAX_ATTESTATIONS {
            let tag = Tag::TEE.union(tag_for_attestations(k).unwrap());
            assert_eq!(attestations_required(tag), k, "k = {k}");
        }
        // the union of two orders' tags asks for the larger k
        let two = tag_for_attestations(2).unwrap();
        let five = tag_for_attestations(5).unwrap();
        assert_eq!(attestations_required(two.union(five)), 5);
        // a lone high bit counts by its index; bits above 15 do not count
        assert_eq!(attestations_required(Tag::bit(10)), 4);
        assert_eq!(attestations_required(Tag::bit(16)), 1);
        assert_eq!(
            tag_for_attestations(0),
            Err(ProtocolError::BadAttestationCount { k: 0 })
        );
        assert_eq!(
            tag_for_attestations(10),
            Err(ProtocolError::BadAttestationCount { k: 10 })
        );
    }

    #[test]
    fn evidence_is_sorted_and_refuses_duplicates() {
        let keys: Vec<PrivateKeySigner> = (0..3).map(|_| PrivateKeySigner::random()).collect();
        let atts: Vec<SignedAttestation> = keys
            .iter()
            .map(|k| SignedAttestation::sign(&attested(), &domain(), k).unwrap())
            .collect();
        let evidence = enclave_evidence(&[7u8; 65], &atts).unwrap();
        assert_eq!(evidence.len(), 65 + 3 * PACKED_ATTESTATION_BYTES);
        let mut signers: Vec<Address> = atts.iter().map(|a| a.attester).collect();
        signers.sort();
        for (i, signer) in signers.iter().enumerate() {
            let at = 65 + i * PACKED_ATTESTATION_BYTES;
            let packed = &evidence[at..at + PACKED_ATTESTATION_BYTES];
            assert_eq!(packed[0], tcb_status::UP_TO_DATE);
            assert_eq!(packed[1..9], 1_900_000_000u64.to_be_bytes());
            assert_eq!(packed[9..41], attested().evidenceHash.0);
            let verified =
                SignedAttestation::verified(&attested(), &domain(), packed[41..].to_vec().into())
                    .unwrap();
            assert_eq!(verified.attester, *signer, "sorted by attester");
        }
        let dup = [atts[0].clone(), atts[1].clone(), atts[0].clone()];
        assert_eq!(
            enclave_evidence(&[7u8; 65], &dup),
            Err(ProtocolError::DuplicateAttester {
                attester: atts[0].attester
            })
        );
        assert!(matches!(
            enclave_evidence(&[7u8; 64], &atts),
            Err(ProtocolError::MalformedSignature { len: 64, .. })
        ));
    }

    #[test]
    fn kinds_round_trip_through_their_codes() {
        for kind in SecretKind::ALL {
            assert_eq!(SecretKind::from_code(kind.code()), Some(kind));
        }
        assert_eq!(SecretKind::from_code(4), None);
    }
}
