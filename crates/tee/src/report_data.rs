//! The 64 bytes an enclave binds into its evidence.
//!
//! `report_data = SHA-512("decloud/tee/v1" ‖ chainId ‖ taskId ‖ app checksum ‖ addr(E) ‖ H ‖
//! sms nonce)`, with `chainId` as a 32-byte big-endian integer (a Solidity `uint256`), `taskId`
//! and the app checksum as 32 bytes each, `addr(E)` the 20-byte address of the enclave's
//! result-signing key, `H` the enclave's 32-byte X25519 public key and the 32-byte single-use
//! nonce the key holder handed out. Every field has a fixed length, so the concatenation is
//! unambiguous. The worker builds it inside the enclave; a key holder rebuilds it from what it
//! knows and compares, so a quote can't be replayed for another task, chain, app, key or
//! request.

use std::fmt;
use std::str::FromStr;

use alloy::primitives::{Address, B256, U256};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha512};

/// The domain tag that starts every decloud `report_data` preimage (versioned: a new layout
/// gets a new tag, so an old quote never matches a new layout).
pub const REPORT_DATA_DOMAIN: &[u8] = b"decloud/tee/v1";

/// The fields `report_data` commits to, in their order of `docs/confidential.md` (“`report_data`”).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportDataFields {
    /// The chain the task lives on.
    pub chain_id: u64,
    /// The task (`keccak(dealid, index)`).
    pub task_id: B256,
    /// The sha256 of the wasm module the deal names (the app's on-chain checksum).
    pub app_checksum: B256,
    /// The address of the enclave's per-task secp256k1 key E, which signs the result.
    pub enclave: Address,
    /// The enclave's per-task X25519 public key H, to which secrets are sealed.
    pub hpke_public_key: [u8; 32],
    /// The single-use nonce the key holder handed out for this release.
    pub nonce: [u8; 32],
}

impl ReportDataFields {
    /// The exact bytes that are hashed (useful to other implementations and to tests).
    pub fn preimage(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(REPORT_DATA_DOMAIN.len() + 32 * 5 + 20);
        out.extend_from_slice(REPORT_DATA_DOMAIN);
        out.extend_from_slice(&U256::from(self.chain_id).to_be_bytes::<32>());
        out.extend_from_slice(self.task_id.as_slice());
        out.extend_from_slice(self.app_checksum.as_slice());
        out.extend_from_slice(self.enclave.as_slice());
        out.extend_from_slice(&self.hpke_public_key);
        out.extend_from_slice(&self.nonce);
        out
    }

    /// The `report_data` these fields give.
    pub fn report_data(&self) -> ReportData {
        ReportData(Sha512::digest(self.preimage()).into())
    }
}

/// 64 bytes of `report_data`, as found in a TD report or an SGX enclave report.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReportData(pub [u8; 64]);

impl ReportData {
    /// Reads `report_data` from a slice; `None` unless it is exactly 64 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        Some(Self(bytes.try_into().ok()?))
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 64] {
        &self.0
    }

    /// Whether these bytes are what `fields` give (constant-time: the expected value is not
    /// secret, but there is no reason to leak how much of a forged one matched).
    pub fn matches(&self, fields: &ReportDataFields) -> bool {
        let expected = fields.report_data();
        ring_constant_time_eq(&self.0, &expected.0)
    }
}

fn ring_constant_time_eq(a: &[u8; 64], b: &[u8; 64]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl fmt::Debug for ReportData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ReportData(0x{})", hex::encode(self.0))
    }
}

impl fmt::Display for ReportData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{}", hex::encode(self.0))
    }
}

/// `report_data` that is not 64 bytes of hex.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("report_data must be 64 bytes written as 128 hex digits (optionally 0x-prefixed)")]
pub struct ReportDataParseError;

impl FromStr for ReportData {
    type Err = ReportDataParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.strip_prefix("0x").unwrap_or(s);
        let bytes = hex::decode(s).map_err(|_| ReportDataParseError)?;
        Self::from_slice(&bytes).ok_or(ReportDataParseError)
    }
}

impl Serialize for ReportData {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ReportData {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields() -> ReportDataFields {
        ReportDataFields {
            chain_id: 31337,
            task_id: B256::repeat_byte(0x11),
            app_checksum: B256::repeat_byte(0x22),
            enclave: Address::repeat_byte(0x33),
            hpke_public_key: [0x44; 32],
            nonce: [0x55; 32],
        }
    }

    #[test]
    fn preimage_layout_is_the_documented_one() {
        let p = fields().preimage();
        assert_eq!(p.len(), 14 + 32 + 32 + 32 + 20 + 32 + 32);
        assert_eq!(&p[..14], b"decloud/tee/v1");
        assert_eq!(&p[14..46][24..], &31337u64.to_be_bytes());
        assert_eq!(&p[14..46][..24], &[0u8; 24]);
        assert_eq!(&p[46..78], &[0x11; 32]);
        assert_eq!(&p[78..110], &[0x22; 32]);
        assert_eq!(&p[110..130], &[0x33; 20]);
        assert_eq!(&p[130..162], &[0x44; 32]);
        assert_eq!(&p[162..194], &[0x55; 32]);
        let rd = fields().report_data();
        let expected: [u8; 64] = Sha512::digest(&p).into();
        assert_eq!(rd.0, expected);
    }

    #[test]
    fn every_field_changes_report_data() {
        let base = fields().report_data();
        let mut f = fields();
        f.chain_id = 1;
        assert_ne!(f.report_data(), base);
        let mut f = fields();
        f.task_id = B256::repeat_byte(0x12);
        assert_ne!(f.report_data(), base);
        let mut f = fields();
        f.app_checksum = B256::repeat_byte(0x23);
        assert_ne!(f.report_data(), base);
        let mut f = fields();
        f.enclave = Address::repeat_byte(0x34);
        assert_ne!(f.report_data(), base);
        let mut f = fields();
        f.hpke_public_key[0] ^= 1;
        assert_ne!(f.report_data(), base);
        let mut f = fields();
        f.nonce[31] ^= 1;
        assert_ne!(f.report_data(), base);
        assert!(base.matches(&fields()));
        assert!(!base.matches(&f));
    }

    #[test]
    fn parses_and_prints_hex() {
        let rd = fields().report_data();
        let text = rd.to_string();
        assert_eq!(text.parse::<ReportData>().unwrap(), rd);
        assert_eq!(text[2..].parse::<ReportData>().unwrap(), rd);
        assert!("0x1234".parse::<ReportData>().is_err());
        assert!(text.replace('a', "g").parse::<ReportData>().is_err() || !text.contains('a'));
        let json = serde_json::to_string(&rd).unwrap();
        assert_eq!(serde_json::from_str::<ReportData>(&json).unwrap(), rd);
    }
}
