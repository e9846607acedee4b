//! Intel's TDX quote, version 4, with a TD 1.0 report body: the encoder the `sim` backend signs
//! with, and a reader for the fields decloud uses.
//!
//! Layout (Intel TDX DCAP Quote Generation Library and Quote Verification Library, "Quote
//! Format" appendix; all integers little-endian):
//!
//! ```text
//! header (48)       version u16 = 4, attestation key type u16 = 2 (ECDSA-256 P-256),
//!                   TEE type u32 = 0x81 (TDX), reserved u16 ×2, QE vendor id (16), user data (20)
//! TD report (584)   TEE_TCB_SVN 16, MRSEAM 48, MRSIGNERSEAM 48, SEAMATTRIBUTES 8, TDATTRIBUTES 8,
//!                   XFAM 8, MRTD 48, MRCONFIGID 48, MROWNER 48, MROWNERCONFIG 48, RTMR0..3 48×4,
//!                   REPORTDATA 64
//! u32               length of the signature data that follows
//! signature data    ECDSA signature over header‖report (r‖s, 64), attestation public key (x‖y, 64),
//!                   certification data: type u16 = 6 (QE report certification data), size u32,
//!                     QE report (384), QE report signature by the PCK key (64),
//!                     QE authentication data: size u16 + bytes,
//!                     certification data: type u16 = 5 (PCK certificate chain, PEM), size u32, PEM
//! ```

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::AppraisalError;
use crate::report_data::ReportData;

/// Quote version of a TDX quote with a TD 1.0 body.
pub const TDX_QUOTE_VERSION: u16 = 4;
/// Attestation key type ECDSA-256 with the P-256 curve.
pub const ATTESTATION_KEY_TYPE_ECDSA_P256: u16 = 2;
/// TEE type of a TD.
pub const TEE_TYPE_TDX: u32 = 0x81;
/// Intel's QE vendor id (`939A7233-F79C-4CA9-940A-0DB3957F0607`).
pub const INTEL_QE_VENDOR_ID: [u8; 16] = [
    0x93, 0x9A, 0x72, 0x33, 0xF7, 0x9C, 0x4C, 0xA9, 0x94, 0x0A, 0x0D, 0xB3, 0x95, 0x7F, 0x06, 0x07,
];
/// Length of the quote header.
pub const HEADER_LEN: usize = 48;
/// Length of a TD 1.0 report body.
pub const TD_REPORT_LEN: usize = 584;
/// Length of an SGX enclave report (the QE's report).
pub const ENCLAVE_REPORT_LEN: usize = 384;
/// Certification data type: QE report certification data.
pub const CERT_TYPE_QE_REPORT: u16 = 6;
/// Certification data type: PCK certificate chain in PEM.
pub const CERT_TYPE_PCK_CHAIN: u16 = 5;
/// The TD attribute bit (TUD byte 0, bit 0) that marks a debuggable TD.
pub const TD_ATTRIBUTE_DEBUG: u8 = 0x01;

/// A TD's measurement registers: MRTD (the initial image) and the four runtime registers.
#[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TdMeasurements {
    /// MRTD: the measurement of the TD's initial contents (firmware and boot image).
    #[serde(with = "hex48")]
    pub mr_td: [u8; 48],
    /// RTMR0..3: the runtime measurement registers (RTMR3 is extendable by the TD itself).
    #[serde(with = "hex48x4")]
    pub rtmr: [[u8; 48]; 4],
}

impl std::fmt::Debug for TdMeasurements {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TdMeasurements")
            .field("mr_td", &hex::encode(self.mr_td))
            .field("measurement", &self.measurement())
            .finish()
    }
}

impl TdMeasurements {
    /// The 32-byte measurement decloud pins (the on-chain app field `mrenclave`):
    /// `SHA-256(MRTD ‖ RTMR0 ‖ RTMR1 ‖ RTMR2)`. MRTD and RTMR0..2 are the firmware, kernel and
    /// boot chain; RTMR3 is left out because the TD extends it at run time.
    pub fn measurement(&self) -> Measurement {
        let mut h = Sha256::new();
        h.update(self.mr_td);
        for r in &self.rtmr[..3] {
            h.update(r);
        }
        Measurement(h.finalize().into())
    }
}

/// The 32-byte runner measurement a policy expects (see [`TdMeasurements::measurement`]).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Measurement(#[serde(with = "hex32")] pub [u8; 32]);

impl std::fmt::Debug for Measurement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Measurement(0x{})", hex::encode(self.0))
    }
}

impl std::fmt::Display for Measurement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "0x{}", hex::encode(self.0))
    }
}

/// The fields of a TD report the `sim` backend copies from a real platform (so that the test
/// collateral's TCB levels and TDX module identity apply) plus the TD's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TdReportBody {
    /// TEE_TCB_SVN: the TDX module's SVNs.
    pub tee_tcb_svn: [u8; 16],
    /// MRSEAM: the TDX module's measurement.
    pub mr_seam: [u8; 48],
    /// MRSIGNERSEAM: the TDX module's signer (zero for Intel's).
    pub mr_signer_seam: [u8; 48],
    /// SEAMATTRIBUTES.
    pub seam_attributes: [u8; 8],
    /// TDATTRIBUTES (byte 0 bit 0 is DEBUG).
    pub td_attributes: [u8; 8],
    /// XFAM: the extended features the TD may use.
    pub xfam: [u8; 8],
    /// MRTD and RTMR0..3.
    pub measurements: TdMeasurements,
    /// The 64 bytes the TD bound.
    pub report_data: ReportData,
}

impl TdReportBody {
    /// The 584 bytes of the body, in Intel's order (MRCONFIGID, MROWNER, MROWNERCONFIG are zero).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(TD_REPORT_LEN);
        out.extend_from_slice(&self.tee_tcb_svn);
        out.extend_from_slice(&self.mr_seam);
        out.extend_from_slice(&self.mr_signer_seam);
        out.extend_from_slice(&self.seam_attributes);
        out.extend_from_slice(&self.td_attributes);
        out.extend_from_slice(&self.xfam);
        out.extend_from_slice(&self.measurements.mr_td);
        out.extend_from_slice(&[0u8; 48 * 3]);
        for r in &self.measurements.rtmr {
            out.extend_from_slice(r);
        }
        out.extend_from_slice(self.report_data.as_bytes());
        debug_assert_eq!(out.len(), TD_REPORT_LEN);
        out
    }
}

/// The 48-byte header of a TDX v4 quote with an ECDSA P-256 attestation key from Intel's QE.
pub fn tdx_v4_header() -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[0..2].copy_from_slice(&TDX_QUOTE_VERSION.to_le_bytes());
    h[2..4].copy_from_slice(&ATTESTATION_KEY_TYPE_ECDSA_P256.to_le_bytes());
    h[4..8].copy_from_slice(&TEE_TYPE_TDX.to_le_bytes());
    h[12..28].copy_from_slice(&INTEL_QE_VENDOR_ID);
    h
}

/// The QE's part of the signature data (everything after the quote's own signature): the
/// attestation public key and the QE report certification data carrying the PCK chain.
pub fn qe_certification_tail(
    attestation_public_key: &[u8; 64],
    qe_report: &[u8; ENCLAVE_REPORT_LEN],
    qe_report_signature: &[u8; 64],
    qe_auth_data: &[u8],
    pck_chain_pem: &[u8],
) -> Vec<u8> {
    let mut inner = Vec::with_capacity(ENCLAVE_REPORT_LEN + 64 + 2 + qe_auth_data.len() + 6);
    inner.extend_from_slice(qe_report);
    inner.extend_from_slice(qe_report_signature);
    inner.extend_from_slice(&(qe_auth_data.len() as u16).to_le_bytes());
    inner.extend_from_slice(qe_auth_data);
    inner.extend_from_slice(&CERT_TYPE_PCK_CHAIN.to_le_bytes());
    inner.extend_from_slice(&(pck_chain_pem.len() as u32).to_le_bytes());
    inner.extend_from_slice(pck_chain_pem);

    let mut out = Vec::with_capacity(64 + 6 + inner.len());
    out.extend_from_slice(attestation_public_key);
    out.extend_from_slice(&CERT_TYPE_QE_REPORT.to_le_bytes());
    out.extend_from_slice(&(inner.len() as u32).to_le_bytes());
    out.extend_from_slice(&inner);
    out
}

/// Assembles a quote from its signed part (`header ‖ body`), the quote signature and the QE tail.
pub fn assemble(signed: &[u8], signature: &[u8; 64], qe_tail: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(signed.len() + 4 + 64 + qe_tail.len());
    out.extend_from_slice(signed);
    out.extend_from_slice(&((64 + qe_tail.len()) as u32).to_le_bytes());
    out.extend_from_slice(signature);
    out.extend_from_slice(qe_tail);
    out
}

/// What a TDX quote says about its TD, read without any verification: for an attester to check
/// what the platform produced, and for display. Trust it only after appraisal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TdQuoteInfo {
    /// The quote version (4 or 5).
    pub version: u16,
    /// The TD's measurement registers.
    pub measurements: TdMeasurements,
    /// The TD's `report_data`.
    pub report_data: ReportData,
    /// Whether the TD's DEBUG attribute is set.
    pub debug: bool,
}

/// Reads a TDX quote's TD fields (any TD report version); refuses SGX quotes and garbage.
pub fn read_td_quote(quote: &[u8]) -> Result<TdQuoteInfo, AppraisalError> {
    let parsed = dcap_qvl::quote::Quote::parse(quote)
        .map_err(|e| AppraisalError::Malformed(one_line(&format!("{e:#}"))))?;
    if parsed.header.tee_type != TEE_TYPE_TDX {
        return Err(AppraisalError::Malformed(
            "the quote is not a TDX quote (TEE type is not 0x81)".into(),
        ));
    }
    let td = parsed
        .report
        .as_td10()
        .ok_or_else(|| AppraisalError::Malformed("the quote carries no TD report".into()))?;
    Ok(TdQuoteInfo {
        version: parsed.header.version,
        measurements: TdMeasurements {
            mr_td: td.mr_td,
            rtmr: [td.rt_mr0, td.rt_mr1, td.rt_mr2, td.rt_mr3],
        },
        report_data: ReportData(td.report_data),
        debug: td.td_attributes[0] & TD_ATTRIBUTE_DEBUG != 0,
    })
}

/// Collapses a multi-line error chain into one line for logs and HTTP answers.
pub(crate) fn one_line(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if out.len() > 300 {
        let mut cut = 300;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push('…');
    }
    out
}

macro_rules! hex_array {
    ($name:ident, $n:expr) => {
        pub(crate) mod $name {
            use serde::{Deserialize, Deserializer, Serializer};

            pub(crate) fn serialize<S: Serializer>(v: &[u8; $n], s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&hex::encode(v))
            }

            pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
                d: D,
            ) -> Result<[u8; $n], D::Error> {
                let s = String::deserialize(d)?;
                let bytes = hex::decode(s.strip_prefix("0x").unwrap_or(&s))
                    .map_err(serde::de::Error::custom)?;
                bytes.try_into().map_err(|_| {
                    serde::de::Error::custom(concat!("expected ", stringify!($n), " bytes of hex"))
                })
            }
        }
    };
}

hex_array!(hex32, 32);
hex_array!(hex48, 48);

pub(crate) mod hex48x4 {
    use serde::{Deserialize, Deserializer, Serializer, ser::SerializeSeq};

    pub(crate) fn serialize<S: Serializer>(v: &[[u8; 48]; 4], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(4))?;
        for r in v {
            seq.serialize_element(&hex::encode(r))?;
        }
        seq.end()
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[[u8; 48]; 4], D::Error> {
        let v = Vec::<String>::deserialize(d)?;
        if v.len() != 4 {
            return Err(serde::de::Error::custom("expected 4 RTMRs"));
        }
        let mut out = [[0u8; 48]; 4];
        for (o, s) in out.iter_mut().zip(&v) {
            let bytes =
                hex::decode(s.strip_prefix("0x").unwrap_or(s)).map_err(serde::de::Error::custom)?;
            *o = bytes
                .try_into()
                .map_err(|_| serde::de::Error::custom("expected 48 bytes of hex per RTMR"))?;
        }
        Ok(out)
    }
}
