//! Appraisal of TDX quotes with Intel's DCAP verification (`dcap-qvl`) under a pinned root.

use dcap_qvl::verify::QuoteVerifier;
use dcap_qvl::{QuotePolicy, TcbStatus as DcapTcbStatus};
use sha2::{Digest, Sha256};

use crate::quote::{TD_ATTRIBUTE_DEBUG, TEE_TYPE_TDX, TdMeasurements, one_line};
use crate::sim::{SIM_ROOT_CA_DER, sim_announcement, sim_collateral};
use crate::{
    Appraisal, AppraisalError, Appraiser, Collateral, Evidence, Policy, ReportData, TcbStatus,
    TeeKind, is_devnet_chain_id,
};

/// Intel's SGX Provisioning Certification Root CA (DER), the root every real TDX quote chains
/// to. SHA-256 `44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3`.
pub const INTEL_ROOT_CA_DER: &[u8] = include_bytes!("intel-root-ca.der");

/// Verifies quotes against one pinned root with `dcap-qvl`, then applies decloud's policy.
pub struct DcapAppraiser {
    kind: TeeKind,
    chain_id: u64,
    root_der: Vec<u8>,
    collateral: Option<Collateral>,
    verifier: QuoteVerifier,
}

impl std::fmt::Debug for DcapAppraiser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DcapAppraiser")
            .field("kind", &self.kind)
            .field("chain_id", &self.chain_id)
            .field("root_sha256", &self.root_fingerprint())
            .finish_non_exhaustive()
    }
}

impl DcapAppraiser {
    /// Appraises real TDX quotes under Intel's root, for any chain. Collateral must come with
    /// the evidence or through [`Self::with_collateral`].
    pub fn intel(chain_id: u64) -> Self {
        Self::build(TeeKind::Tdx, chain_id, INTEL_ROOT_CA_DER.to_vec(), None)
    }

    /// Appraises `sim` quotes under the committed test root with the committed collateral;
    /// refused unless `chain_id` is a devnet.
    pub fn sim(chain_id: u64) -> Result<Self, AppraisalError> {
        if !is_devnet_chain_id(chain_id) {
            return Err(AppraisalError::SimOnNonDevnet { chain_id });
        }
        Ok(Self::build(
            TeeKind::Sim,
            chain_id,
            SIM_ROOT_CA_DER.to_vec(),
            Some(sim_collateral()),
        ))
    }

    /// The appraiser for a backend chosen by name (`--tee sim|tdx`).
    pub fn for_kind(kind: TeeKind, chain_id: u64) -> Result<Self, AppraisalError> {
        match kind {
            TeeKind::Sim => Self::sim(chain_id),
            TeeKind::Tdx => Ok(Self::intel(chain_id)),
        }
    }

    /// An appraiser pinning another root (a private PKI, or a test); `sim` still needs a devnet.
    pub fn with_root(
        kind: TeeKind,
        chain_id: u64,
        root_der: Vec<u8>,
    ) -> Result<Self, AppraisalError> {
        if kind == TeeKind::Sim && !is_devnet_chain_id(chain_id) {
            return Err(AppraisalError::SimOnNonDevnet { chain_id });
        }
        Ok(Self::build(kind, chain_id, root_der, None))
    }

    fn build(
        kind: TeeKind,
        chain_id: u64,
        root_der: Vec<u8>,
        collateral: Option<Collateral>,
    ) -> Self {
        let verifier = QuoteVerifier::new(root_der.clone()).allow_debug(false);
        Self {
            kind,
            chain_id,
            root_der,
            collateral,
            verifier,
        }
    }

    /// Uses this collateral, in preference to any the evidence carries (so that a prover can't
    /// pick older, still-valid collateral that rates its platform better).
    pub fn with_collateral(mut self, collateral: Collateral) -> Self {
        self.collateral = Some(collateral);
        self
    }

    /// SHA-256 of the pinned root certificate, hex.
    pub fn root_fingerprint(&self) -> String {
        hex::encode(Sha256::digest(&self.root_der))
    }
}

impl Appraiser for DcapAppraiser {
    fn kind(&self) -> TeeKind {
        self.kind
    }

    fn appraise(
        &self,
        evidence: &Evidence,
        expected_report_data: &ReportData,
        policy: &Policy,
        now: u64,
    ) -> Result<Appraisal, AppraisalError> {
        if evidence.kind == TeeKind::Sim && !is_devnet_chain_id(self.chain_id) {
            return Err(AppraisalError::SimOnNonDevnet {
                chain_id: self.chain_id,
            });
        }
        if evidence.kind != self.kind {
            return Err(AppraisalError::WrongKind {
                got: evidence.kind.to_string(),
                expected: self.kind.to_string(),
            });
        }
        if policy.measurements.is_empty() {
            return Err(AppraisalError::EmptyPolicy);
        }
        let collateral = self
            .collateral
            .as_ref()
            .or(evidence.collateral.as_ref())
            .ok_or(AppraisalError::MissingCollateral)?;

        let claims = self
            .verifier
            .verify_with_policy(
                &evidence.quote,
                &collateral.0,
                now,
                &QuotePolicy::claims_only(now),
            )
            .map_err(|e| classify(&e))?;

        if claims.tee_type != TEE_TYPE_TDX {
            return Err(AppraisalError::Malformed(
                "the quote is an SGX quote; decloud expects a TDX quote".into(),
            ));
        }
        let td = claims
            .report
            .as_td10()
            .ok_or_else(|| AppraisalError::Malformed("the quote carries no TD report".into()))?;
        // dcap-qvl refuses debug TDs already (allow_debug(false)); checked again here so that
        // no configuration of the verifier can let one through.
        if td.td_attributes[0] & TD_ATTRIBUTE_DEBUG != 0 {
            return Err(AppraisalError::Debug);
        }
        if claims.earliest_expiration_date < now {
            return Err(AppraisalError::CollateralExpired(format!(
                "earliest expiry {} < now {now}",
                claims.earliest_expiration_date
            )));
        }

        let status = TcbStatus::from(claims.tcb.status);
        let advisories = claims.tcb.advisory_ids.clone();
        let tcb_ok = match claims.tcb.status {
            DcapTcbStatus::UpToDate => true,
            DcapTcbStatus::Revoked => false,
            _ => {
                policy.accepted_tcb.contains(&status)
                    && advisories.iter().all(|a| {
                        policy
                            .allowed_advisories
                            .iter()
                            .any(|ok| ok.eq_ignore_ascii_case(a))
                    })
            }
        };
        if !tcb_ok {
            return Err(AppraisalError::TcbNotAccepted {
                status,
                advisories: if advisories.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", advisories.join(", "))
                },
            });
        }

        let registers = TdMeasurements {
            mr_td: td.mr_td,
            rtmr: [td.rt_mr0, td.rt_mr1, td.rt_mr2, td.rt_mr3],
        };
        let measurement = registers.measurement();
        if !policy.measurements.contains(&measurement) {
            return Err(AppraisalError::MeasurementMismatch {
                got: measurement.to_string(),
                expected: policy
                    .measurements
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        let report_data = ReportData(td.report_data);
        if report_data != *expected_report_data {
            return Err(AppraisalError::ReportDataMismatch);
        }

        Ok(Appraisal {
            kind: self.kind,
            measurement,
            registers,
            report_data,
            tcb_status: status,
            advisory_ids: advisories,
            debug: false,
            fmspc: hex::encode_upper(claims.platform.pck.fmspc),
            collateral_expires: claims.earliest_expiration_date,
        })
    }

    fn announcement(&self) -> String {
        match self.kind {
            TeeKind::Sim => sim_announcement(self.chain_id),
            TeeKind::Tdx => format!(
                "TEE: Intel TDX (tdx) appraisal with DCAP under the pinned root sha256:{}",
                self.root_fingerprint()
            ),
        }
    }
}

/// Sorts a `dcap-qvl` refusal into the error a caller can act on. `dcap-qvl` reports with
/// `anyhow` messages; the phrases matched here are its own and `webpki`'s.
fn classify(e: &impl std::fmt::Display) -> AppraisalError {
    let text = one_line(&format!("{e:#}"));
    let has = |needle: &str| text.contains(needle);
    if has("Debug mode is enabled") || has("TD profiling is enabled") {
        AppraisalError::Debug
    } else if has("Failed to decode quote")
        || has("Unsupported DCAP quote version")
        || has("Unknown QE vendor")
        || has("Unsupported TEE type")
        || has("must have version")
        || has("Unsupported DCAP attestation key type")
        || has("Failed to extract PCK certificates")
        || has("too short")
        || has("Unsupported DCAP PCK cert format")
        || has("Invalid QE auth data length")
    {
        AppraisalError::Malformed(text)
    } else if has("CertRevoked") || has("Revoked") {
        if has("TCB status is invalid") {
            AppraisalError::TcbNotAccepted {
                status: TcbStatus::Revoked,
                advisories: String::new(),
            }
        } else {
            AppraisalError::Revoked(text)
        }
    } else if has("expired") || has("Expired") || has("NotValidYet") || has("in the future") {
        AppraisalError::CollateralExpired(text)
    } else if has("UnknownIssuer")
        || has("root ca")
        || has("CRL")
        || has("Crl")
        || has("issued directly by the root")
    {
        AppraisalError::UntrustedRoot(text)
    } else if has("ignature is invalid") || has("hash mismatch") || has("BadSignature") {
        AppraisalError::BadSignature(text)
    } else {
        AppraisalError::Refused(text)
    }
}
