//! Appraisal never panics on bytes from the network, and never accepts an altered signed part.

use std::sync::LazyLock;

use alloy::primitives::{Address, B256};
use decloud_tee::sim::{SimAttester, sim_runner_measurements};
use decloud_tee::{
    Appraiser, Attester, DcapAppraiser, Evidence, Policy, ReportDataFields, TeeKind,
};
use proptest::prelude::*;

const NOW: u64 = 1_800_000_000;

static GOOD: LazyLock<Evidence> = LazyLock::new(|| {
    SimAttester::new(31337)
        .unwrap()
        .evidence(&fields().report_data())
        .unwrap()
});
static APPRAISER: LazyLock<DcapAppraiser> = LazyLock::new(|| DcapAppraiser::sim(31337).unwrap());

fn fields() -> ReportDataFields {
    ReportDataFields {
        chain_id: 31337,
        task_id: B256::repeat_byte(1),
        app_checksum: B256::repeat_byte(2),
        enclave: Address::repeat_byte(3),
        hpke_public_key: [4; 32],
        nonce: [5; 32],
    }
}

fn policy() -> Policy {
    Policy::strict(sim_runner_measurements().measurement())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..6000)) {
        let e = Evidence { kind: TeeKind::Sim, quote: bytes.clone(), collateral: None };
        prop_assert!(APPRAISER.appraise(&e, &fields().report_data(), &policy(), NOW).is_err());
        let _ = decloud_tee::quote::read_td_quote(&bytes);
    }

    #[test]
    fn a_flipped_byte_in_the_signed_part_is_refused(at in 0usize..632, bit in 0u8..8) {
        let mut e = GOOD.clone();
        e.quote[at] ^= 1 << bit;
        prop_assert!(APPRAISER.appraise(&e, &fields().report_data(), &policy(), NOW).is_err());
    }

    #[test]
    fn any_flipped_byte_never_panics(at in 0usize..4000, bit in 0u8..8) {
        let mut e = GOOD.clone();
        let at = at % e.quote.len();
        e.quote[at] ^= 1 << bit;
        let _ = APPRAISER.appraise(&e, &fields().report_data(), &policy(), NOW);
    }

    #[test]
    fn a_truncated_quote_is_refused(len in 0usize..4000) {
        let mut e = GOOD.clone();
        let len = len % e.quote.len();
        e.quote.truncate(len);
        prop_assert!(APPRAISER.appraise(&e, &fields().report_data(), &policy(), NOW).is_err());
    }
}

#[test]
fn the_good_quote_passes_at_the_fuzz_time() {
    APPRAISER
        .appraise(&GOOD, &fields().report_data(), &policy(), NOW)
        .unwrap();
}
