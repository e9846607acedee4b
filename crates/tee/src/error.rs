//! Why evidence could not be produced or was not accepted: one line each, saying what to do.

use crate::TcbStatus;

/// Evidence could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum AttestError {
    /// The `sim` backend was asked to attest for a chain that is not a devnet.
    #[error(
        "the sim TEE backend is refused on chain {chain_id}: it is a simulation under a published test key, accepted only on devnet chains ({devnets}); use --tee tdx on a real chain"
    )]
    SimOnNonDevnet {
        /// The chain asked for.
        chain_id: u64,
        /// The devnet chain ids, for the message.
        devnets: String,
    },
    /// The simulated platform description (committed test PKI) is unusable.
    #[error(
        "the sim platform is invalid: {0}; regenerate it with `cargo run -p decloud-tee --example gen-sim-pki`"
    )]
    SimPlatform(String),
    /// The kernel's configfs-tsm report interface is missing or failed.
    #[error(
        "the TDX quote could not be obtained from {path}: {reason}; run inside a TDX guest with configfs-tsm (Linux ≥ 6.7) mounted at /sys/kernel/config"
    )]
    Tsm {
        /// The configfs path involved.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// The platform produced a quote that does not bind the requested `report_data`.
    #[error(
        "the TDX quote the kernel returned does not carry the requested report_data (another process may share the configfs entry); retry"
    )]
    ReportDataNotBound,
    /// The platform produced something that is not a TDX quote.
    #[error("the platform returned evidence that does not parse: {0}")]
    BadEvidence(String),
}

/// Evidence was refused. Nothing is released on any of these.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppraisalError {
    /// The bytes are not a well-formed quote.
    #[error(
        "the evidence is not a well-formed TDX quote ({0}); send the quote bytes the attester produced, unmodified"
    )]
    Malformed(String),
    /// The evidence names a backend this appraiser does not accept.
    #[error(
        "evidence of kind {got} cannot be appraised by a {expected} appraiser; the worker must use --tee {expected}"
    )]
    WrongKind {
        /// The evidence's kind.
        got: String,
        /// The appraiser's kind.
        expected: String,
    },
    /// `sim` evidence or a `sim` appraiser on a chain that is not a devnet.
    #[error(
        "sim attestation is refused on chain {chain_id}: it is a simulation under a published test key, accepted only on devnet chains; use tdx on a real chain"
    )]
    SimOnNonDevnet {
        /// The chain.
        chain_id: u64,
    },
    /// No collateral to appraise with.
    #[error(
        "no collateral (TCB info, QE identity, CRLs) for this quote; attach it to the evidence or configure the appraiser with it"
    )]
    MissingCollateral,
    /// The quote's certificates (or the collateral's) do not chain to the pinned root.
    #[error(
        "the quote is not signed under the pinned root CA ({0}); it comes from another PKI and is refused"
    )]
    UntrustedRoot(String),
    /// A certificate on the way to the root is on a CRL.
    #[error(
        "a certificate in the quote's chain is revoked by the CRL ({0}); the platform's key must not be trusted"
    )]
    Revoked(String),
    /// The collateral (or a certificate, or a CRL) is outside its validity window.
    #[error(
        "the collateral has expired or is not yet valid ({0}); fetch fresh collateral (TCB info, QE identity, CRLs) and retry"
    )]
    CollateralExpired(String),
    /// A signature in the quote does not verify: the quote was altered after signing.
    #[error("a signature in the quote does not verify ({0}); the quote was altered or forged")]
    BadSignature(String),
    /// The TD or enclave runs in debug mode (its memory is readable by the host).
    #[error(
        "the enclave runs with the DEBUG attribute set, so its host can read its memory; run a production (non-debug) TD"
    )]
    Debug,
    /// The platform's TCB status is not one the policy accepts.
    #[error(
        "the platform's TCB status is {status}{advisories}, which the policy does not accept; update the platform's firmware/microcode or allow these advisories in the app's policy"
    )]
    TcbNotAccepted {
        /// The status found.
        status: TcbStatus,
        /// The advisories, pre-formatted (`" (INTEL-SA-…)"` or empty).
        advisories: String,
    },
    /// The enclave is not running the expected code.
    #[error(
        "the enclave's measurement {got} is not one the policy accepts (expected {expected}); run the runner the app names"
    )]
    MeasurementMismatch {
        /// What the quote says (hex).
        got: String,
        /// What the policy accepts (hex, comma-separated).
        expected: String,
    },
    /// The quote binds other `report_data` than the request computed.
    #[error(
        "the quote's report_data is not the one this request expects (wrong task, chain, app, enclave key or nonce); request a new nonce and attest again"
    )]
    ReportDataMismatch,
    /// A policy that can accept nothing was given.
    #[error(
        "the attestation policy lists no accepted measurement; configure the app's runner measurement"
    )]
    EmptyPolicy,
    /// Any other refusal by the DCAP verifier.
    #[error("the quote was refused by DCAP verification: {0}")]
    Refused(String),
}
