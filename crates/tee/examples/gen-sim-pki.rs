//! Generates the `sim` backend's test PKI and collateral, once; the outputs are committed.
//!
//! ```sh
//! cargo run -p decloud-tee --example gen-sim-pki
//! ```
//!
//! It builds a PKI shaped like Intel's (root CA → PCK platform CA → PCK certificate, and root →
//! TCB signing certificate), CRLs for both CAs, and TCB info and QE identity signed by the TCB
//! signing key. The platform-specific parts (the PCK certificate's SGX extension with FMSPC and
//! SVNs, the QE report, the TDX module fields, the TCB levels) are copied from the real Intel
//! TDX quote and collateral in `tests/data/`, so the simulated platform looks like that real one
//! to the verifier. Every key is freshly generated; only the PCK key is written out (a `sim`
//! attester needs it), the other private keys are dropped.
//!
//! Writes `sim-pki/{root-ca.der,platform.json,collateral.json}` and, for the tests,
//! `tests/data/sim-{out-of-date,revoked}-collateral.json` and `tests/data/rogue-*` (a second,
//! unrelated PKI of the same shape). ALL OF THIS IS TEST MATERIAL: anyone holding the committed
//! PCK key can forge `sim` quotes, which is why `sim` is refused outside devnets.

use std::path::Path;

use dcap_qvl::QuoteCollateralV3;
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, CustomExtension,
    DistinguishedName, DnType, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose,
    PKCS_ECDSA_P256_SHA256, RevocationReason, RevokedCertParams, SerialNumber, date_time_ymd,
};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};

const SGX_EXTENSION_OID: &[u64] = &[1, 2, 840, 113741, 1, 13, 1];
const ISSUE_DATE: &str = "2026-01-01T00:00:00Z";
const NEXT_UPDATE: &str = "2049-12-31T00:00:00Z";

type BoxError = Box<dyn std::error::Error>;

struct Key {
    pkcs8: Vec<u8>,
    ring: EcdsaKeyPair,
    rcgen: KeyPair,
}

fn new_key(rng: &SystemRandom) -> Result<Key, BoxError> {
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, rng)
        .map_err(|_| "keygen")?
        .as_ref()
        .to_vec();
    let ring = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8, rng)
        .map_err(|e| format!("{e}"))?;
    let rcgen = KeyPair::try_from(pkcs8.as_slice())?;
    assert!(rcgen.is_compatible(&PKCS_ECDSA_P256_SHA256));
    Ok(Key { pkcs8, ring, rcgen })
}

fn sign_raw(key: &Key, rng: &SystemRandom, msg: &[u8]) -> Result<Vec<u8>, BoxError> {
    Ok(key
        .ring
        .sign(rng, msg)
        .map_err(|_| "sign")?
        .as_ref()
        .to_vec())
}

fn params(cn: &str, ca: Option<u8>, serial: u64) -> CertificateParams {
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn.push(DnType::OrganizationName, "decloud TEST PKI (not Intel)");
    dn.push(DnType::CountryName, "ZZ");
    p.distinguished_name = dn;
    p.not_before = date_time_ymd(2026, 1, 1);
    p.not_after = date_time_ymd(2049, 12, 31);
    p.serial_number = Some(SerialNumber::from(serial));
    p.key_identifier_method = KeyIdMethod::Sha256;
    match ca {
        Some(0) => {
            p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
            p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        }
        Some(_) => {
            p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        }
        None => {
            p.is_ca = IsCa::ExplicitNoCa;
            p.key_usages = vec![
                KeyUsagePurpose::DigitalSignature,
                KeyUsagePurpose::ContentCommitment,
            ];
        }
    }
    p
}

fn crl(revoked: Option<u64>) -> CertificateRevocationListParams {
    CertificateRevocationListParams {
        this_update: date_time_ymd(2026, 1, 1),
        next_update: date_time_ymd(2049, 12, 31),
        crl_number: SerialNumber::from(1u64),
        issuing_distribution_point: None,
        revoked_certs: revoked
            .into_iter()
            .map(|serial| RevokedCertParams {
                serial_number: SerialNumber::from(serial),
                revocation_time: date_time_ymd(2026, 1, 2),
                reason_code: Some(RevocationReason::KeyCompromise),
                invalidity_date: None,
            })
            .collect(),
        key_identifier_method: KeyIdMethod::Sha256,
    }
}

/// Everything one PKI produces.
struct Pki {
    root_der: Vec<u8>,
    platform: serde_json::Value,
    collateral: QuoteCollateralV3,
    out_of_date: QuoteCollateralV3,
    revoked: QuoteCollateralV3,
}

fn build_pki(
    label: &str,
    intel_quote: &[u8],
    intel_collateral: &QuoteCollateralV3,
) -> Result<Pki, BoxError> {
    let rng = SystemRandom::new();
    let quote = dcap_qvl::quote::Quote::parse(intel_quote).map_err(|e| format!("{e:#}"))?;
    let td = quote
        .report
        .as_td10()
        .ok_or("the sample is not a TD quote")?;
    let dcap_qvl::quote::AuthData::V4(auth) = &quote.auth_data else {
        return Err("the sample quote has no v4 auth data".into());
    };
    let qe_report = auth.qe_report_data.qe_report;
    let intel_leaf = {
        let certs = pem_certs(&auth.qe_report_data.certification_data.body.data)?;
        certs
            .into_iter()
            .next()
            .ok_or("no PCK certificate in the sample")?
    };
    let (_, intel_leaf) = x509_parser::parse_x509_certificate(&intel_leaf)?;
    let sgx_ext = intel_leaf
        .extensions()
        .iter()
        .find(|e| e.oid.to_id_string() == "1.2.840.113741.1.13.1")
        .ok_or("the sample PCK certificate has no SGX extension")?
        .value
        .to_vec();

    let root_key = new_key(&rng)?;
    let ca_key = new_key(&rng)?;
    let pck_key = new_key(&rng)?;
    let tcb_key = new_key(&rng)?;

    let root_params = params(&format!("decloud TEST SGX Root CA{label}"), Some(1), 1);
    let root_cert = root_params.self_signed(&root_key.rcgen)?;
    let root = Issuer::new(root_params, &root_key.rcgen);

    let ca_params = params(
        &format!("decloud TEST SGX PCK Platform CA{label}"),
        Some(0),
        2,
    );
    let ca_cert = ca_params.signed_by(&ca_key.rcgen, &root)?;
    let ca = Issuer::new(ca_params, &ca_key.rcgen);

    let pck_serial = 3u64;
    let mut pck_params = params(
        &format!("decloud TEST SGX PCK Certificate{label}"),
        None,
        pck_serial,
    );
    pck_params
        .custom_extensions
        .push(CustomExtension::from_oid_content(
            SGX_EXTENSION_OID,
            sgx_ext,
        ));
    let pck_cert = pck_params.signed_by(&pck_key.rcgen, &ca)?;

    let tcb_params = params(&format!("decloud TEST SGX TCB Signing{label}"), None, 4);
    let tcb_cert = tcb_params.signed_by(&tcb_key.rcgen, &root)?;

    let root_crl = crl(None).signed_by(&root)?;
    let pck_crl = crl(None).signed_by(&ca)?;
    let pck_crl_revoked = crl(Some(pck_serial)).signed_by(&ca)?;

    let tcb_chain = format!("{}{}", tcb_cert.pem(), root_cert.pem());
    let pck_crl_chain = format!("{}{}", ca_cert.pem(), root_cert.pem());

    let redate = |json: &str| -> Result<String, BoxError> {
        let mut v: serde_json::Value = serde_json::from_str(json)?;
        v["issueDate"] = ISSUE_DATE.into();
        v["nextUpdate"] = NEXT_UPDATE.into();
        Ok(serde_json::to_string(&v)?)
    };
    let tcb_info = redate(&intel_collateral.tcb_info)?;
    let qe_identity = redate(&intel_collateral.qe_identity)?;
    let tcb_info_out_of_date = {
        let mut v: serde_json::Value = serde_json::from_str(&tcb_info)?;
        let levels = v["tcbLevels"].as_array_mut().ok_or("tcbLevels")?;
        // The platform matches the first (newest) level; rate it out of date.
        levels[0]["tcbStatus"] = "OutOfDate".into();
        levels[0]["advisoryIDs"] = serde_json::json!(["INTEL-SA-00837"]);
        serde_json::to_string(&v)?
    };

    let collateral_with = |tcb_info: &str, pck_crl: &[u8]| -> Result<QuoteCollateralV3, BoxError> {
        Ok(QuoteCollateralV3 {
            pck_crl_issuer_chain: pck_crl_chain.clone(),
            root_ca_crl: root_crl.der().to_vec(),
            pck_crl: pck_crl.to_vec(),
            tcb_info_issuer_chain: tcb_chain.clone(),
            tcb_info: tcb_info.to_string(),
            tcb_info_signature: sign_raw(&tcb_key, &rng, tcb_info.as_bytes())?,
            qe_identity_issuer_chain: tcb_chain.clone(),
            qe_identity: qe_identity.clone(),
            qe_identity_signature: sign_raw(&tcb_key, &rng, qe_identity.as_bytes())?,
            pck_certificate_chain: None,
        })
    };

    let platform = serde_json::json!({
        "pck_chain_pem": format!("{}{}{}", pck_cert.pem(), ca_cert.pem(), root_cert.pem()),
        "pck_key_pkcs8": hex::encode(&pck_key.pkcs8),
        "qe_report": hex::encode(qe_report),
        "tee_tcb_svn": hex::encode(td.tee_tcb_svn),
        "mr_seam": hex::encode(td.mr_seam),
        "mr_signer_seam": hex::encode(td.mr_signer_seam),
        "seam_attributes": hex::encode(td.seam_attributes),
        // A production TD: DEBUG clear, SEPT_VE_DISABLE set (what the sample has).
        "td_attributes": hex::encode({ let mut a = td.td_attributes; a[0] &= !1; a }),
        "xfam": hex::encode(td.xfam),
    });
    let _ = (&root_key.pkcs8, &ca_key.pkcs8, &tcb_key.pkcs8);
    Ok(Pki {
        root_der: root_cert.der().to_vec(),
        platform,
        collateral: collateral_with(&tcb_info, pck_crl.der())?,
        out_of_date: collateral_with(&tcb_info_out_of_date, pck_crl.der())?,
        revoked: collateral_with(&tcb_info, pck_crl_revoked.der())?,
    })
}

fn pem_certs(pem: &[u8]) -> Result<Vec<Vec<u8>>, BoxError> {
    let text = std::str::from_utf8(pem)?;
    let mut out = Vec::new();
    for block in text.split("-----BEGIN CERTIFICATE-----").skip(1) {
        let body = block
            .split("-----END CERTIFICATE-----")
            .next()
            .unwrap_or("");
        let b64: String = body.chars().filter(|c| !c.is_whitespace()).collect();
        out.push(b64_decode(&b64)?);
    }
    Ok(out)
}

fn b64_decode(s: &str) -> Result<Vec<u8>, BoxError> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(
        format!("-----BEGIN CERTIFICATE-----\n{s}\n-----END CERTIFICATE-----\n").as_bytes(),
    )?;
    Ok(pem.contents)
}

fn write_json(path: &Path, v: &impl serde::Serialize) -> Result<(), BoxError> {
    std::fs::write(path, serde_json::to_string_pretty(v)? + "\n")?;
    println!("wrote {}", path.display());
    Ok(())
}

fn main() -> Result<(), BoxError> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let data = dir.join("tests/data");
    let intel_quote = std::fs::read(data.join("intel-tdx-quote.bin"))?;
    let intel_collateral: QuoteCollateralV3 = serde_json::from_str(&std::fs::read_to_string(
        data.join("intel-tdx-collateral.json"),
    )?)?;

    let sim = build_pki("", &intel_quote, &intel_collateral)?;
    std::fs::write(dir.join("sim-pki/root-ca.der"), &sim.root_der)?;
    write_json(&dir.join("sim-pki/platform.json"), &sim.platform)?;
    write_json(&dir.join("sim-pki/collateral.json"), &sim.collateral)?;
    write_json(
        &data.join("sim-out-of-date-collateral.json"),
        &sim.out_of_date,
    )?;
    write_json(&data.join("sim-revoked-collateral.json"), &sim.revoked)?;

    let rogue = build_pki(" (rogue)", &intel_quote, &intel_collateral)?;
    std::fs::write(data.join("rogue-root-ca.der"), &rogue.root_der)?;
    write_json(&data.join("rogue-platform.json"), &rogue.platform)?;
    write_json(&data.join("rogue-collateral.json"), &rogue.collateral)?;
    Ok(())
}
