//! Quotes for the hub's on-chain challenge (`contracts/test/Challenge.t.sol` reads
//! `contracts/test/tee-vectors.json`): real `sim` quotes (the same TDX v4 bytes the `tdx` backend
//! gets from the kernel) for an honest enclave, a debug TD and another runner, the fields their
//! `report_data` binds, and SHA-512 digests of inputs around the block boundaries, so that the
//! contract's quote offsets and its SHA-512 are checked against this crate's.
//!
//! Quotes are signed with a fresh attestation key each time, so the file is not rewritten on
//! every run: this test checks the committed one (each quote parses, says what the file says, and
//! binds the fields) and rewrites it with `WRITE_VECTORS=1` or when it is missing.

use alloy::primitives::{Address, B256};
use decloud_tee::quote::{TdMeasurements, read_td_quote};
use decloud_tee::sim::{SimAttester, SimPlatform, sim_collateral, sim_runner_measurements};
use decloud_tee::{ReportData, ReportDataFields};
use sha2::{Digest, Sha384, Sha512};

const PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../contracts/test/tee-vectors.json"
);

/// SHA-512 inputs: empty, short, the last one-block length (111), the first two-block one (112),
/// a report_data preimage's (194), and more than two blocks.
const SHA512_LENGTHS: [usize; 6] = [0, 3, 111, 112, 194, 300];

fn fields() -> ReportDataFields {
    ReportDataFields {
        chain_id: 31337,
        task_id: B256::repeat_byte(0x7a),
        app_checksum: B256::repeat_byte(0xc5),
        enclave: Address::repeat_byte(0xe1),
        hpke_public_key: [0x44; 32],
        nonce: [0x4e; 32],
    }
}

fn other_runner() -> TdMeasurements {
    TdMeasurements {
        mr_td: Sha384::digest(b"another runner").into(),
        rtmr: [[0; 48]; 4],
    }
}

fn sha512_input(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + 3) as u8).collect()
}

fn hex0x(b: &[u8]) -> String {
    format!("0x{}", hex::encode(b))
}

fn write() {
    let f = fields();
    let rd = f.report_data();
    let honest = SimAttester::new(31337).unwrap();
    let debug = SimAttester::new(31337).unwrap().debug(true);
    let other = SimAttester::with_platform(
        31337,
        &SimPlatform::committed(),
        other_runner(),
        Some(sim_collateral()),
    )
    .unwrap();
    let mut json = serde_json::json!({
        "chainId": f.chain_id,
        "taskId": f.task_id,
        "appChecksum": f.app_checksum,
        "enclave": f.enclave,
        "hpkeKey": hex0x(&f.hpke_public_key),
        "nonce": hex0x(&f.nonce),
        "reportData": hex0x(rd.as_bytes()),
        "simMeasurement": hex0x(&sim_runner_measurements().measurement().0),
        "otherMeasurement": hex0x(&other_runner().measurement().0),
        "honestQuote": hex0x(&honest.quote(&rd).unwrap()),
        "debugQuote": hex0x(&debug.quote(&rd).unwrap()),
        "otherRunnerQuote": hex0x(&other.quote(&rd).unwrap()),
    });
    for (i, len) in SHA512_LENGTHS.iter().enumerate() {
        let input = sha512_input(*len);
        json[format!("sha512Input{i}")] = hex0x(&input).into();
        json[format!("sha512Digest{i}")] = hex0x(&Sha512::digest(&input)).into();
    }
    std::fs::write(PATH, serde_json::to_string_pretty(&json).unwrap() + "\n").unwrap();
}

fn bytes(v: &serde_json::Value, key: &str) -> Vec<u8> {
    let s = v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is missing"));
    hex::decode(s.trim_start_matches("0x")).unwrap()
}

#[test]
fn challenge_vectors_are_real_quotes_binding_their_fields() {
    if std::env::var_os("WRITE_VECTORS").is_some() || !std::path::Path::new(PATH).exists() {
        write();
    }
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(PATH).unwrap())
        .expect("contracts/test/tee-vectors.json parses");
    let f = fields();
    assert_eq!(bytes(&v, "reportData"), f.report_data().as_bytes());
    assert_eq!(bytes(&v, "taskId"), f.task_id.as_slice());
    assert_eq!(bytes(&v, "appChecksum"), f.app_checksum.as_slice());
    assert_eq!(bytes(&v, "enclave"), f.enclave.as_slice());
    assert_eq!(bytes(&v, "hpkeKey"), f.hpke_public_key);
    assert_eq!(bytes(&v, "nonce"), f.nonce);
    let sim = sim_runner_measurements().measurement().0;
    let other = other_runner().measurement().0;
    assert_eq!(bytes(&v, "simMeasurement"), sim);
    assert_eq!(bytes(&v, "otherMeasurement"), other);
    for (key, debug, measurement) in [
        ("honestQuote", false, sim),
        ("debugQuote", true, sim),
        ("otherRunnerQuote", false, other),
    ] {
        let info = read_td_quote(&bytes(&v, key)).unwrap_or_else(|e| panic!("{key}: {e}"));
        assert_eq!(info.version, 4, "{key} is a TDX v4 quote");
        assert_eq!(info.debug, debug, "{key}'s debug bit");
        assert_eq!(
            info.measurements.measurement().0,
            measurement,
            "{key}'s runner"
        );
        assert_eq!(
            info.report_data,
            ReportData(f.report_data().0),
            "{key} binds the fields"
        );
    }
    // the honest quote appraises as a real one would (so the contract is shown real evidence)
    let appraiser = decloud_tee::DcapAppraiser::sim(31337).unwrap();
    let evidence = decloud_tee::Evidence {
        kind: decloud_tee::TeeKind::Sim,
        quote: bytes(&v, "honestQuote"),
        collateral: Some(sim_collateral()),
    };
    let policy = decloud_tee::Policy::strict(decloud_tee::Measurement(sim));
    let now = 1_800_000_000;
    decloud_tee::Appraiser::appraise(&appraiser, &evidence, &f.report_data(), &policy, now)
        .expect("the honest quote appraises");
    for (i, len) in SHA512_LENGTHS.iter().enumerate() {
        let input = bytes(&v, &format!("sha512Input{i}"));
        assert_eq!(input, sha512_input(*len));
        assert_eq!(
            bytes(&v, &format!("sha512Digest{i}")),
            &Sha512::digest(&input)[..]
        );
    }
}
