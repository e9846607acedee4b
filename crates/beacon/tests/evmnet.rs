//! Real rounds of the League of Entropy's evmnet chain (published signatures, copied from
//! public material) verify in Rust against the chain's public key, and their randomness is
//! sha256 of the signature as drand serves it.

use decloud_beacon::{EVMNET_PUBLIC_KEY, PublicKey, Signature};

/// (round, signature, randomness as drand's API reports it or "" when not published beside it)
const REAL_ROUNDS: &[(u64, &str, &str)] = &[
    (
        1000,
        "06fd5996329504d3a56b482d9222bf7205857d0a9559ddd216ca31a286f6a8cc0a120f021aac2f13553fb164f62bc3a5ca32c76dea88a777b39bcf3cac5fdbd6",
        "0e6745667465a6f9dce5d5f994656955080be14c469ff17fc4fc588c925a8504",
    ),
    (
        10_000_000,
        "2c7b65b5acfe55256910ca71cf0a0fa71ac34c2a1167f86a22930a03e70ebec00f7a530796e7ee38600b06da0390634a9b154e3eebc3b323dde2111e1c8ebdf3",
        "",
    ),
    (
        18_710_192,
        "174c481ee5453aa002b6a5e4e4b3bad70c62933a286285b5c22e1d6b9304b4d40720072ba15a5c6dfe9f271bd48fd36b9d488334da388da85e45451f95ad1427",
        "7e4275a00825f58a689a547e8a728ca497c85cb2b08af3f8b6e75776bd64f385",
    ),
];

#[test]
fn real_evmnet_rounds_verify() {
    let pk = PublicKey::from_hex(EVMNET_PUBLIC_KEY).expect("the evmnet key parses");
    for (round, sig, randomness) in REAL_ROUNDS {
        let s = Signature::from_hex(sig).expect("signature parses");
        assert!(pk.verify_round(*round, &s), "round {round} verifies");
        assert!(
            !pk.verify_round(round + 1, &s),
            "round {round}'s signature is not round {}'s",
            round + 1
        );
        if !randomness.is_empty() {
            assert_eq!(
                hex::encode(s.randomness()),
                *randomness,
                "round {round} randomness"
            );
        }
    }
}

#[test]
fn the_hints_prove_the_same_point_for_real_rounds() {
    use decloud_beacon::h2c;
    for (round, _, _) in REAL_ROUNDS {
        let h = h2c::round_hints(*round);
        // the inverse is never zero and at least one root per map is given
        assert_ne!(h[0], [0u8; 32]);
        assert!(h[1..4].iter().any(|w| *w != [0u8; 32]));
        assert!(h[4..7].iter().any(|w| *w != [0u8; 32]));
    }
}
