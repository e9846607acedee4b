//! decloud attestation: evidence produced inside an enclave ([`Attester`]) and its appraisal by
//! a key holder ([`Appraiser`]).
//!
//! Evidence is an Intel TDX quote (version 4). Two backends produce it:
//!
//! - [`tdx::TdxAttester`] asks the kernel of a TDX guest (configfs-tsm) for a real quote, which
//!   chains to Intel's SGX root CA;
//! - [`sim::SimAttester`] builds the same bytes itself and signs them under the committed
//!   **test PKI** in `sim-pki/`. Anyone can forge such quotes (the keys are public), so `sim` is
//!   refused on every chain that is not a devnet ([`decloud_protocol::is_devnet_chain_id`]).
//!
//! One appraiser, [`DcapAppraiser`], verifies both with the `dcap-qvl` crate (Intel's DCAP
//! verification in pure Rust), given the pinned root and the collateral: Intel's root for `tdx`,
//! the test root for `sim`. There is no appraiser that accepts everything.
//!
//! A release (`docs/confidential.md`) goes: the key holder hands out a nonce; the enclave builds
//! [`ReportDataFields`] (chain, task, app checksum, its keys, the nonce), asks its attester for
//! evidence over [`ReportDataFields::report_data`]; the key holder rebuilds the same fields and
//! calls [`Appraiser::appraise`] with the app's [`Policy`]. With k keepers each appraises the same
//! evidence on its own.

mod appraise;
mod error;
pub mod quote;
mod report_data;
pub mod sim;
pub mod tdx;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use appraise::{DcapAppraiser, INTEL_ROOT_CA_DER};
pub use error::{AppraisalError, AttestError};
pub use quote::{Measurement, TdMeasurements};
pub use report_data::{REPORT_DATA_DOMAIN, ReportData, ReportDataFields, ReportDataParseError};

use decloud_protocol::{DEVNET_CHAIN_IDS, is_devnet_chain_id};

pub(crate) fn devnet_list() -> String {
    DEVNET_CHAIN_IDS
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Which TEE backend produced (or may appraise) evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TeeKind {
    /// A simulated TDX platform under the committed test PKI (devnet only; protects nothing).
    Sim,
    /// A real Intel TDX guest, appraised under Intel's root CA.
    Tdx,
}

impl TeeKind {
    /// The lowercase name (`sim`, `tdx`) used on the command line and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            TeeKind::Sim => "sim",
            TeeKind::Tdx => "tdx",
        }
    }
}

impl fmt::Display for TeeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A TEE backend name that is neither `sim` nor `tdx`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown TEE backend {0:?}: use sim (devnet only) or tdx")]
pub struct UnknownTeeKind(String);

impl FromStr for TeeKind {
    type Err = UnknownTeeKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "sim" => Ok(TeeKind::Sim),
            "tdx" => Ok(TeeKind::Tdx),
            other => Err(UnknownTeeKind(other.chars().take(32).collect())),
        }
    }
}

/// The DCAP collateral of a quote: TCB info, QE identity, the CRLs and their issuer chains, all
/// signed under the root; anyone may transport it, the appraiser verifies it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Collateral(pub dcap_qvl::QuoteCollateralV3);

impl fmt::Debug for Collateral {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Collateral(..)")
    }
}

impl Collateral {
    /// Reads collateral from its JSON form (the field names of Intel's PCCS / `dcap-qvl`).
    pub fn from_json(json: &str) -> Result<Self, AppraisalError> {
        serde_json::from_str(json).map_err(|e| {
            AppraisalError::Malformed(quote::one_line(&format!("collateral JSON: {e}")))
        })
    }
}

/// What an enclave hands to a key holder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// The backend that produced it. Informative only: the pinned root decides.
    pub kind: TeeKind,
    /// The raw quote bytes (hex on the wire).
    #[serde(with = "hex_bytes")]
    pub quote: Vec<u8>,
    /// Collateral for the quote, if the attester has it; the appraiser's own is used otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collateral: Option<Collateral>,
}

/// What an appraisal established about an enclave. Every field was verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Appraisal {
    /// The backend whose root the quote chained to.
    pub kind: TeeKind,
    /// The runner measurement (`SHA-256(MRTD ‖ RTMR0..2)`), one the policy accepted.
    pub measurement: Measurement,
    /// The TD's measurement registers.
    pub registers: TdMeasurements,
    /// The `report_data` the quote binds (equal to the expected one).
    pub report_data: ReportData,
    /// The platform's TCB status (converged over platform, TDX module and QE).
    pub tcb_status: TcbStatus,
    /// Intel security advisories that apply to the platform's TCB level.
    pub advisory_ids: Vec<String>,
    /// Whether the TD runs in debug mode; always `false` (debug is refused).
    pub debug: bool,
    /// The platform's FMSPC (family-model-stepping-platform-customSKU), hex.
    pub fmspc: String,
    /// When the earliest piece of the collateral expires (unix seconds).
    pub collateral_expires: u64,
}

/// The TCB status of a platform, as Intel's TCB info names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TcbStatus {
    /// Patched, nothing to do.
    UpToDate,
    /// Needs software hardening (mitigations in the enclave) for listed advisories.
    SWHardeningNeeded,
    /// Needs a platform configuration change.
    ConfigurationNeeded,
    /// Both of the above.
    ConfigurationAndSWHardeningNeeded,
    /// Firmware or microcode is behind: known vulnerabilities apply.
    OutOfDate,
    /// Out of date and needs a configuration change.
    OutOfDateConfigurationNeeded,
    /// TD 1.5: launched on an out-of-date TCB that has since been updated.
    TDRelaunchAdvised,
    /// TD 1.5: as above and needs a configuration change.
    TDRelaunchAdvisedConfigurationNeeded,
    /// The platform's keys are revoked (never accepted).
    Revoked,
}

impl fmt::Display for TcbStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl From<dcap_qvl::TcbStatus> for TcbStatus {
    fn from(s: dcap_qvl::TcbStatus) -> Self {
        use dcap_qvl::TcbStatus as D;
        match s {
            D::UpToDate => TcbStatus::UpToDate,
            D::SWHardeningNeeded => TcbStatus::SWHardeningNeeded,
            D::ConfigurationNeeded => TcbStatus::ConfigurationNeeded,
            D::ConfigurationAndSWHardeningNeeded => TcbStatus::ConfigurationAndSWHardeningNeeded,
            D::OutOfDate => TcbStatus::OutOfDate,
            D::OutOfDateConfigurationNeeded => TcbStatus::OutOfDateConfigurationNeeded,
            D::TDRelaunchAdvised => TcbStatus::TDRelaunchAdvised,
            D::TDRelaunchAdvisedConfigurationNeeded => {
                TcbStatus::TDRelaunchAdvisedConfigurationNeeded
            }
            D::Revoked => TcbStatus::Revoked,
        }
    }
}

/// What a key holder requires of an enclave before releasing anything to it. Debug mode is
/// always refused and collateral must be valid at the appraisal time; neither is a knob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    /// The runner measurements accepted (the app's on-chain `mrenclave`); must not be empty.
    pub measurements: Vec<Measurement>,
    /// TCB statuses accepted besides `UpToDate` (e.g. `SWHardeningNeeded`), each only when every
    /// advisory that applies is listed in `allowed_advisories`. `Revoked` is never accepted.
    #[serde(default)]
    pub accepted_tcb: Vec<TcbStatus>,
    /// Intel advisories (`INTEL-SA-…`) the app's owner accepts on a platform not up to date.
    #[serde(default)]
    pub allowed_advisories: Vec<String>,
}

impl Policy {
    /// The strict policy: this runner measurement, TCB up to date.
    pub fn strict(measurement: Measurement) -> Self {
        Self {
            measurements: vec![measurement],
            accepted_tcb: Vec::new(),
            allowed_advisories: Vec::new(),
        }
    }

    /// Also accepts `status` when all its advisories are in `advisories`.
    pub fn allow_tcb(mut self, status: TcbStatus, advisories: &[&str]) -> Self {
        self.accepted_tcb.push(status);
        self.allowed_advisories
            .extend(advisories.iter().map(|a| a.to_string()));
        self
    }
}

/// Produces evidence inside an enclave.
pub trait Attester: Send + Sync {
    /// The backend.
    fn kind(&self) -> TeeKind;

    /// A quote binding these 64 bytes, with collateral when the backend has it.
    fn evidence(&self, report_data: &ReportData) -> Result<Evidence, AttestError>;

    /// The measurement registers this enclave reports (for logs and for configuring policies).
    fn measurements(&self) -> Result<TdMeasurements, AttestError>;

    /// One line for `/health` and the start-up log of a service using this attester.
    fn announcement(&self) -> String;
}

/// Verifies evidence against a pinned root, collateral and a policy.
pub trait Appraiser: Send + Sync {
    /// The backend whose evidence this appraiser accepts.
    fn kind(&self) -> TeeKind;

    /// Appraises `evidence` at `now` (unix seconds): the quote chains to the pinned root, no
    /// certificate is revoked, the collateral is valid at `now`, the TD is not in debug mode,
    /// the TCB status and measurement satisfy `policy`, and the quote binds exactly
    /// `expected_report_data`. Returns the verified claims, or why not.
    fn appraise(
        &self,
        evidence: &Evidence,
        expected_report_data: &ReportData,
        policy: &Policy,
        now: u64,
    ) -> Result<Appraisal, AppraisalError>;

    /// One line for `/health` and the start-up log of a service using this appraiser.
    fn announcement(&self) -> String;
}

mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        hex::decode(s.strip_prefix("0x").unwrap_or(&s)).map_err(serde::de::Error::custom)
    }
}
