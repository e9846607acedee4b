//! A t-of-n group of test keys: any t partial signatures combine into the one group signature
//! that the group key verifies; fewer than t, a duplicate or a forged partial are refused, and
//! t − 1 honest partials interpolated anyway give a signature that does not verify.

use decloud_beacon::group::interpolate;
use decloud_beacon::{BeaconError, Partial, PublicKey, Signature, ThresholdGroup};
use proptest::prelude::*;

fn subset(members: u32, pick: &[bool]) -> Vec<u32> {
    (1..=members).filter(|i| pick[(*i - 1) as usize]).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_t_of_n_partials_give_the_group_signature(
        seed in any::<[u8; 16]>(),
        members in 3u32..8,
        threshold_frac in 0.3f64..1.0,
        pick in proptest::collection::vec(any::<bool>(), 8),
        round in 1u64..1_000_000_000,
    ) {
        let threshold = ((members as f64 * threshold_frac).ceil() as u32).clamp(2, members);
        let group = ThresholdGroup::from_seed(&seed, threshold, members).unwrap();
        let expected = group.sign_round(round);
        prop_assert!(group.public_key().verify_round(round, &expected));
        // a subset of size >= t from the random picks, topped up from the last members
        let mut ids = subset(members, &pick);
        let mut next = members;
        while (ids.len() as u32) < threshold {
            if !ids.contains(&next) { ids.push(next); }
            next -= 1;
        }
        let partials: Vec<Partial> = ids.iter().map(|i| group.partial(*i, round).unwrap()).collect();
        prop_assert_eq!(group.combine(round, &partials).unwrap(), expected);
        // t - 1 of them are refused, and their interpolation is no group signature
        let short = &partials[..threshold as usize - 1];
        prop_assert_eq!(
            group.combine(round, short),
            Err(BeaconError::TooFewPartials { have: short.len(), need: threshold })
        );
        prop_assert!(!group.public_key().verify_round(round, &interpolate(short)));
    }
}

#[test]
fn bad_partials_are_refused() {
    let group = ThresholdGroup::from_seed(b"devnet", 2, 3).unwrap();
    let p1 = group.partial(1, 7).unwrap();
    let p2 = group.partial(2, 7).unwrap();
    assert_eq!(
        group.combine(7, &[p1, p1]),
        Err(BeaconError::DuplicateMember(1))
    );
    let forged = Partial {
        index: 2,
        signature: group.partial(3, 7).unwrap().signature,
    };
    assert_eq!(
        group.combine(7, &[p1, forged]),
        Err(BeaconError::BadPartial(2))
    );
    let other_round = group.partial(2, 8).unwrap();
    assert_eq!(
        group.combine(7, &[p1, other_round]),
        Err(BeaconError::BadPartial(2))
    );
    assert_eq!(group.partial(4, 7), Err(BeaconError::UnknownMember(4)));
    assert_eq!(group.partial(0, 7), Err(BeaconError::UnknownMember(0)));
    assert!(group.combine(7, &[p1, p2]).is_ok());
    assert!(matches!(
        ThresholdGroup::from_seed(b"x", 0, 3),
        Err(BeaconError::BadThreshold { .. })
    ));
    assert!(matches!(
        ThresholdGroup::from_seed(b"x", 4, 3),
        Err(BeaconError::BadThreshold { .. })
    ));
}

#[test]
fn encodings_round_trip_and_refuse_junk() {
    let group = ThresholdGroup::from_seed(b"devnet", 2, 3).unwrap();
    let pk = group.public_key();
    assert_eq!(PublicKey::from_bytes(&pk.to_bytes()).unwrap(), pk);
    let sig = group.sign_round(42);
    assert_eq!(Signature::from_bytes(&sig.to_bytes()).unwrap(), sig);
    assert_eq!(
        Signature::from_bytes(&[0u8; 63]),
        Err(BeaconError::SignatureLength(63))
    );
    assert_eq!(
        Signature::from_bytes(&[0u8; 64]),
        Err(BeaconError::SignatureNotOnCurve)
    );
    assert_eq!(
        Signature::from_bytes(&[0xff; 64]),
        Err(BeaconError::NotCanonical)
    );
    let mut bent = sig.to_bytes();
    bent[63] ^= 1;
    assert_eq!(
        Signature::from_bytes(&bent),
        Err(BeaconError::SignatureNotOnCurve)
    );
    assert_eq!(
        PublicKey::from_bytes(&[0u8; 128]),
        Err(BeaconError::PublicKeyNotOnCurve)
    );
    assert_eq!(Signature::from_hex("zz"), Err(BeaconError::Hex));
}

/// Sign, verify and combine times (`cargo nextest run --workspace --run-ignored only -E
/// 'test(measure_times)' --no-capture`): printed, never asserted.
#[test]
#[ignore]
fn measure_times() {
    use std::time::Instant;
    let n = 50u32;
    let group = ThresholdGroup::from_seed(b"measure", 3, 5).unwrap();
    let t0 = Instant::now();
    for r in 0..n as u64 {
        std::hint::black_box(group.partial(1, r).unwrap());
    }
    let sign = t0.elapsed() / n;
    let partials: Vec<Partial> = (1..=3).map(|i| group.partial(i, 9).unwrap()).collect();
    let t0 = Instant::now();
    for _ in 0..n {
        std::hint::black_box(interpolate(&partials));
    }
    let combine = t0.elapsed() / n;
    let t0 = Instant::now();
    for _ in 0..n {
        std::hint::black_box(group.combine(9, &partials).unwrap());
    }
    let combine_checked = t0.elapsed() / n;
    let sig = group.sign_round(9);
    let t0 = Instant::now();
    for _ in 0..n {
        std::hint::black_box(group.public_key().verify_round(9, &sig));
    }
    let verify = t0.elapsed() / n;
    println!("sign (hash to G1 + scalar mul): {sign:?}");
    println!("combine 3 partials (Lagrange):  {combine:?}");
    println!("combine 3 partials, each verified first: {combine_checked:?}");
    println!("verify (hash + 2 pairings):     {verify:?}");
}
