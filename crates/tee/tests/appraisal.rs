//! Appraisal of `sim` and real `tdx` quotes with the DCAP verifier, and every way it must refuse.

use std::time::{SystemTime, UNIX_EPOCH};

use alloy::primitives::{Address, B256};
use decloud_tee::sim::{SimAttester, SimPlatform, sim_runner_measurements};
use decloud_tee::{
    AppraisalError, Appraiser, Attester, Collateral, DcapAppraiser, Evidence, Policy,
    ReportDataFields, TcbStatus, TdMeasurements, TeeKind,
};

const DEVNET: u64 = 31337;

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn fields(nonce: u8) -> ReportDataFields {
    ReportDataFields {
        chain_id: DEVNET,
        task_id: B256::repeat_byte(0xaa),
        app_checksum: B256::repeat_byte(0xbb),
        enclave: Address::repeat_byte(0xcc),
        hpke_public_key: [0xdd; 32],
        nonce: [nonce; 32],
    }
}

fn strict() -> Policy {
    Policy::strict(sim_runner_measurements().measurement())
}

fn sim_evidence() -> Evidence {
    SimAttester::new(DEVNET)
        .unwrap()
        .evidence(&fields(1).report_data())
        .unwrap()
}

fn collateral(name: &str) -> Collateral {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    Collateral::from_json(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn sim_quote_appraises_under_the_test_root() {
    let appraiser = DcapAppraiser::sim(DEVNET).unwrap();
    let evidence = sim_evidence();
    let rd = fields(1).report_data();
    let a = appraiser
        .appraise(&evidence, &rd, &strict(), now())
        .unwrap();
    assert_eq!(a.kind, TeeKind::Sim);
    assert_eq!(a.measurement, sim_runner_measurements().measurement());
    assert_eq!(a.registers, sim_runner_measurements());
    assert_eq!(a.report_data, rd);
    assert_eq!(a.tcb_status, TcbStatus::UpToDate);
    assert!(!a.debug);
    assert_eq!(a.fmspc.len(), 12);
    assert!(a.collateral_expires > now());
    // The evidence survives the wire.
    let json = serde_json::to_string(&evidence).unwrap();
    let back: Evidence = serde_json::from_str(&json).unwrap();
    assert_eq!(back, evidence);
    appraiser.appraise(&back, &rd, &strict(), now()).unwrap();
    assert!(appraiser.announcement().contains("SIMULATED"));
}

#[test]
fn sim_quote_is_byte_exact_tdx_v4() {
    let quote = SimAttester::new(DEVNET)
        .unwrap()
        .quote(&fields(1).report_data())
        .unwrap();
    assert_eq!(u16::from_le_bytes([quote[0], quote[1]]), 4, "version");
    assert_eq!(u16::from_le_bytes([quote[2], quote[3]]), 2, "ECDSA P-256");
    assert_eq!(
        u32::from_le_bytes(quote[4..8].try_into().unwrap()),
        0x81,
        "TDX"
    );
    assert_eq!(&quote[12..28], &decloud_tee::quote::INTEL_QE_VENDOR_ID);
    // report_data is the last 64 bytes of the 584-byte TD report after the 48-byte header.
    assert_eq!(
        &quote[48 + 520..48 + 584],
        fields(1).report_data().as_bytes()
    );
    let sig_len = u32::from_le_bytes(quote[632..636].try_into().unwrap()) as usize;
    assert_eq!(quote.len(), 636 + sig_len);
    let info = decloud_tee::quote::read_td_quote(&quote).unwrap();
    assert_eq!(info.version, 4);
    assert_eq!(info.measurements, sim_runner_measurements());
    assert!(!info.debug);
}

#[test]
fn debug_td_is_refused() {
    let evidence = SimAttester::new(DEVNET)
        .unwrap()
        .debug(true)
        .evidence(&fields(1).report_data())
        .unwrap();
    let err = DcapAppraiser::sim(DEVNET)
        .unwrap()
        .appraise(&evidence, &fields(1).report_data(), &strict(), now())
        .unwrap_err();
    assert_eq!(err, AppraisalError::Debug, "{err}");
}

#[test]
fn wrong_measurement_is_refused() {
    let other = TdMeasurements {
        mr_td: [7; 48],
        rtmr: [[0; 48]; 4],
    };
    let evidence = SimAttester::with_platform(
        DEVNET,
        &SimPlatform::committed(),
        other,
        Some(decloud_tee::sim::sim_collateral()),
    )
    .unwrap()
    .evidence(&fields(1).report_data())
    .unwrap();
    let err = DcapAppraiser::sim(DEVNET)
        .unwrap()
        .appraise(&evidence, &fields(1).report_data(), &strict(), now())
        .unwrap_err();
    assert!(
        matches!(err, AppraisalError::MeasurementMismatch { ref got, .. } if *got == other.measurement().to_string()),
        "{err}"
    );
    // The same quote passes when the policy names that measurement.
    DcapAppraiser::sim(DEVNET)
        .unwrap()
        .appraise(
            &evidence,
            &fields(1).report_data(),
            &Policy::strict(other.measurement()),
            now(),
        )
        .unwrap();
}

#[test]
fn edited_report_data_is_refused() {
    let appraiser = DcapAppraiser::sim(DEVNET).unwrap();
    let mut evidence = sim_evidence();
    // Edited in the quote: the attestation key's signature no longer covers it.
    evidence.quote[48 + 520] ^= 1;
    let err = appraiser
        .appraise(&evidence, &fields(1).report_data(), &strict(), now())
        .unwrap_err();
    assert!(matches!(err, AppraisalError::BadSignature(_)), "{err}");
    // A genuine quote over other report_data (another nonce): not the one this request expects.
    let evidence = sim_evidence();
    let err = appraiser
        .appraise(&evidence, &fields(2).report_data(), &strict(), now())
        .unwrap_err();
    assert_eq!(err, AppraisalError::ReportDataMismatch, "{err}");
}

#[test]
fn expired_collateral_is_refused() {
    // The committed collateral's nextUpdate is 2049-12-31.
    let after = 2_524_608_000 + 86_400 * 2; // 2050-01-02
    let err = DcapAppraiser::sim(DEVNET)
        .unwrap()
        .appraise(&sim_evidence(), &fields(1).report_data(), &strict(), after)
        .unwrap_err();
    assert!(matches!(err, AppraisalError::CollateralExpired(_)), "{err}");
    // And before it was issued (2026-01-01).
    let before = 1_767_225_600 - 86_400;
    let err = DcapAppraiser::sim(DEVNET)
        .unwrap()
        .appraise(&sim_evidence(), &fields(1).report_data(), &strict(), before)
        .unwrap_err();
    assert!(matches!(err, AppraisalError::CollateralExpired(_)), "{err}");
}

#[test]
fn out_of_date_tcb_is_refused_unless_the_policy_lists_its_advisories() {
    let appraiser = DcapAppraiser::sim(DEVNET)
        .unwrap()
        .with_collateral(collateral("sim-out-of-date-collateral.json"));
    let evidence = sim_evidence();
    let rd = fields(1).report_data();
    let err = appraiser
        .appraise(&evidence, &rd, &strict(), now())
        .unwrap_err();
    assert!(
        matches!(err, AppraisalError::TcbNotAccepted { status: TcbStatus::OutOfDate, ref advisories } if advisories.contains("INTEL-SA-00837")),
        "{err}"
    );
    // Allowing the status without the advisory is not enough.
    let half = strict().allow_tcb(TcbStatus::OutOfDate, &[]);
    assert!(appraiser.appraise(&evidence, &rd, &half, now()).is_err());
    let allowed = strict().allow_tcb(TcbStatus::OutOfDate, &["INTEL-SA-00837"]);
    let a = appraiser.appraise(&evidence, &rd, &allowed, now()).unwrap();
    assert_eq!(a.tcb_status, TcbStatus::OutOfDate);
    assert_eq!(a.advisory_ids, vec!["INTEL-SA-00837".to_string()]);
}

#[test]
fn evidence_collateral_does_not_override_the_appraisers() {
    // A prover attaching other (here: out-of-date) collateral changes nothing: the appraiser's own
    // collateral is used.
    let mut evidence = sim_evidence();
    evidence.collateral = Some(collateral("sim-out-of-date-collateral.json"));
    DcapAppraiser::sim(DEVNET)
        .unwrap()
        .appraise(&evidence, &fields(1).report_data(), &strict(), now())
        .unwrap();
}

#[test]
fn pck_certificate_revoked_by_the_crl_is_refused() {
    let err = DcapAppraiser::sim(DEVNET)
        .unwrap()
        .with_collateral(collateral("sim-revoked-collateral.json"))
        .appraise(&sim_evidence(), &fields(1).report_data(), &strict(), now())
        .unwrap_err();
    assert!(matches!(err, AppraisalError::Revoked(_)), "{err}");
}

#[test]
fn quote_under_another_root_is_refused() {
    let rogue: SimPlatform = serde_json::from_str(
        &std::fs::read_to_string(format!(
            "{}/tests/data/rogue-platform.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap(),
    )
    .unwrap();
    let rogue_collateral = collateral("rogue-collateral.json");
    let evidence = SimAttester::with_platform(
        DEVNET,
        &rogue,
        sim_runner_measurements(),
        Some(rogue_collateral.clone()),
    )
    .unwrap()
    .evidence(&fields(1).report_data())
    .unwrap();
    // With the pinned collateral.
    let err = DcapAppraiser::sim(DEVNET)
        .unwrap()
        .appraise(&evidence, &fields(1).report_data(), &strict(), now())
        .unwrap_err();
    assert!(matches!(err, AppraisalError::UntrustedRoot(_)), "{err}");
    // With the rogue's own collateral, pinning the test root: still refused.
    let err = DcapAppraiser::with_root(
        TeeKind::Sim,
        DEVNET,
        decloud_tee::sim::SIM_ROOT_CA_DER.to_vec(),
    )
    .unwrap()
    .with_collateral(rogue_collateral.clone())
    .appraise(&evidence, &fields(1).report_data(), &strict(), now())
    .unwrap_err();
    assert!(matches!(err, AppraisalError::UntrustedRoot(_)), "{err}");
    // The rogue PKI is well formed: pinning its own root accepts it (so the refusals above are
    // about the root, nothing else).
    let rogue_root = std::fs::read(format!(
        "{}/tests/data/rogue-root-ca.der",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    DcapAppraiser::with_root(TeeKind::Sim, DEVNET, rogue_root)
        .unwrap()
        .with_collateral(rogue_collateral)
        .appraise(&evidence, &fields(1).report_data(), &strict(), now())
        .unwrap();
    // A sim quote is not a real TDX quote: Intel's root refuses it.
    let mut evidence = sim_evidence();
    evidence.kind = TeeKind::Tdx;
    let err = DcapAppraiser::intel(1)
        .with_collateral(decloud_tee::sim::sim_collateral())
        .appraise(&evidence, &fields(1).report_data(), &strict(), now())
        .unwrap_err();
    assert!(matches!(err, AppraisalError::UntrustedRoot(_)), "{err}");
}

#[test]
fn sim_is_refused_on_a_non_devnet_chain() {
    for chain in [1u64, 10, 137, 42161, 11155111] {
        let err = SimAttester::new(chain).unwrap_err();
        assert!(err.to_string().contains("refused on chain"), "{err}");
        assert_eq!(
            DcapAppraiser::sim(chain).unwrap_err(),
            AppraisalError::SimOnNonDevnet { chain_id: chain }
        );
        assert!(DcapAppraiser::with_root(TeeKind::Sim, chain, vec![]).is_err());
        // sim evidence handed to a production appraiser.
        let err = DcapAppraiser::intel(chain)
            .appraise(&sim_evidence(), &fields(1).report_data(), &strict(), now())
            .unwrap_err();
        assert_eq!(err, AppraisalError::SimOnNonDevnet { chain_id: chain });
    }
    for chain in decloud_protocol::DEVNET_CHAIN_IDS {
        SimAttester::new(chain).unwrap();
        DcapAppraiser::sim(chain).unwrap();
    }
    // The devnet `decloud devnet up` starts is one of them.
    assert!(decloud_protocol::is_devnet_chain_id(
        decloud_chain::anvil::DEVNET_CHAIN_ID
    ));
}

#[test]
fn truncated_or_garbage_quotes_are_refused() {
    let appraiser = DcapAppraiser::sim(DEVNET).unwrap();
    let rd = fields(1).report_data();
    let good = sim_evidence();
    for len in [0, 1, 47, 48, 100, 631, 632, 636, 700, good.quote.len() - 1] {
        let mut e = good.clone();
        e.quote.truncate(len);
        let err = appraiser.appraise(&e, &rd, &strict(), now()).unwrap_err();
        assert!(
            !matches!(err, AppraisalError::ReportDataMismatch),
            "len {len}: {err}"
        );
        assert!(!err.to_string().contains('\n'), "one line: {err}");
    }
    let mut e = good.clone();
    e.quote = vec![0xff; 5000];
    let err = appraiser.appraise(&e, &rd, &strict(), now()).unwrap_err();
    assert!(matches!(err, AppraisalError::Malformed(_)), "{err}");
    // An SGX-shaped header (version 3, TEE type 0).
    let mut e = good;
    e.quote[0] = 3;
    e.quote[4] = 0;
    assert!(appraiser.appraise(&e, &rd, &strict(), now()).is_err());
}

#[test]
fn empty_policy_and_wrong_kind_are_refused() {
    let appraiser = DcapAppraiser::sim(DEVNET).unwrap();
    let empty = Policy {
        measurements: vec![],
        accepted_tcb: vec![],
        allowed_advisories: vec![],
    };
    let rd = fields(1).report_data();
    assert_eq!(
        appraiser.appraise(&sim_evidence(), &rd, &empty, now()),
        Err(AppraisalError::EmptyPolicy)
    );
    let mut e = sim_evidence();
    e.kind = TeeKind::Tdx;
    assert!(matches!(
        appraiser.appraise(&e, &rd, &strict(), now()),
        Err(AppraisalError::WrongKind { .. })
    ));
}

/// A real TDX quote (from the `dcap-qvl` crate's samples) with its Intel collateral, appraised
/// under Intel's real root at a time inside the collateral's window.
#[test]
fn real_tdx_quote_appraises_under_intels_root() {
    let dir = format!("{}/tests/data", env!("CARGO_MANIFEST_DIR"));
    let quote = std::fs::read(format!("{dir}/intel-tdx-quote.bin")).unwrap();
    let collateral = collateral("intel-tdx-collateral.json");
    let info = decloud_tee::quote::read_td_quote(&quote).unwrap();
    assert_eq!(info.version, 4);
    assert!(!info.debug);
    let evidence = Evidence {
        kind: TeeKind::Tdx,
        quote,
        collateral: Some(collateral),
    };
    let at = 1_750_600_000; // 2025-06-22, between issueDate 2025-06-19 and nextUpdate 2025-07-19
    let appraiser = DcapAppraiser::intel(1);
    assert!(
        appraiser
            .announcement()
            .contains("44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3")
    );
    let policy = Policy::strict(info.measurements.measurement());
    let a = appraiser
        .appraise(&evidence, &info.report_data, &policy, at)
        .unwrap();
    assert_eq!(a.kind, TeeKind::Tdx);
    assert_eq!(a.registers, info.measurements);
    assert_eq!(a.report_data, info.report_data);
    assert_eq!(a.tcb_status, TcbStatus::UpToDate);
    assert_eq!(a.fmspc, "B0C06F000000");
    // The same quote under the test root: refused.
    let err = DcapAppraiser::with_root(TeeKind::Tdx, 1, decloud_tee::sim::SIM_ROOT_CA_DER.to_vec())
        .unwrap()
        .appraise(&evidence, &info.report_data, &policy, at)
        .unwrap_err();
    assert!(matches!(err, AppraisalError::UntrustedRoot(_)), "{err}");
    // And after the collateral's nextUpdate: expired.
    let err = appraiser
        .appraise(&evidence, &info.report_data, &policy, 1_753_000_000)
        .unwrap_err();
    assert!(matches!(err, AppraisalError::CollateralExpired(_)), "{err}");
}

/// Outside a TDX guest (no configfs-tsm report interface) the attester says what it needs.
#[test]
fn tdx_attester_without_configfs_tsm_says_what_is_needed() {
    let root = tempfile::tempdir().unwrap();
    let missing = decloud_tee::tdx::TdxAttester::with_root(root.path().join("missing"));
    assert!(!missing.available());
    assert_eq!(missing.kind(), TeeKind::Tdx);
    let err = missing.evidence(&fields(1).report_data()).unwrap_err();
    assert!(err.to_string().contains("configfs-tsm"), "{err}");
    // A directory without the kernel behind it: creating the entry works, there is no quote.
    let err = decloud_tee::tdx::TdxAttester::with_root(root.path())
        .evidence(&fields(1).report_data())
        .unwrap_err();
    assert!(err.to_string().contains("outblob"), "{err}");
}
