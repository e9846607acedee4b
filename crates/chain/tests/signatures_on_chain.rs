//! The off-chain signature check (`decloud_protocol::order::recover`, what the market and every
//! client use) against the hub's own check (`Hub._isValidSig`, exposed by
//! `contracts/test/utils/SignatureHarness.sol`) on random signatures and their mangled forms:
//! `v` of 0, 1, 27, 28 or anything else, high `s`, the 64-byte EIP-2098 form, zero scalars and
//! wrong lengths. Whatever the market accepts, the hub must accept, and the other way round —
//! or a copy of an order with a signature the hub refuses could take the order's place in the
//! book.

use alloy::primitives::{B256, Bytes, U256};
use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use decloud_protocol::order::recover;
use decloud_testkit::Devnet;
use decloud_testkit::fixtures::deploy_test_contract;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

alloy::sol! {
    #[sol(rpc)]
    interface SignatureHarness {
        function validAll(address[] signers, bytes32[] hashes, bytes[] signs)
            external view returns (bool[] memory out);
    }
}

/// The secp256k1 group order.
const N: U256 = U256::from_be_bytes([
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
    0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41,
]);

/// Random cases compared per run; each is one batched call.
const CASES: u32 = 48;
/// Signatures per batched call.
const BATCH: usize = 12;

/// How a good signature is mangled before both sides judge it.
#[derive(Clone, Copy, Debug)]
enum Mangle {
    /// As signed: 65 bytes, v = 27 or 28.
    Good,
    /// v replaced (0, 1, the other parity, or any byte).
    V(u8),
    /// s replaced by n − s with v flipped: the same signer for `ecrecover`.
    HighS,
    /// s replaced by n − s, v kept: another signer.
    HighSSameV,
    /// The 64-byte EIP-2098 form.
    Compact,
    /// The 64-byte form of a high-s signature.
    CompactHighS,
    /// r or s zeroed.
    ZeroScalar(bool),
    /// Cut or extended to this length.
    Length(usize),
    /// One byte of r or s flipped.
    Flip(usize),
}

fn mangle() -> impl Strategy<Value = Mangle> {
    prop_oneof![
        Just(Mangle::Good),
        prop_oneof![
            Just(0u8),
            Just(1),
            Just(27),
            Just(28),
            Just(29),
            any::<u8>()
        ]
        .prop_map(Mangle::V),
        Just(Mangle::HighS),
        Just(Mangle::HighSSameV),
        Just(Mangle::Compact),
        Just(Mangle::CompactHighS),
        any::<bool>().prop_map(Mangle::ZeroScalar),
        prop_oneof![Just(0usize), Just(63), Just(66), 0usize..130].prop_map(Mangle::Length),
        (0usize..64).prop_map(Mangle::Flip),
    ]
}

/// The signature bytes after `m`, from a good 65-byte one.
fn apply(good: &[u8; 65], m: Mangle) -> Vec<u8> {
    let (r, s, v) = (&good[..32], U256::from_be_slice(&good[32..64]), good[64]);
    let high = (N - s).to_be_bytes::<32>();
    let join = |s: &[u8], v: Option<u8>| [r, s, v.as_slice()].concat();
    let compact = |s: &[u8; 32], parity: bool| {
        let mut vs = *s;
        vs[0] |= u8::from(parity) << 7;
        [r, &vs[..]].concat()
    };
    match m {
        Mangle::Good => good.to_vec(),
        Mangle::V(v) => join(&good[32..64], Some(v)),
        Mangle::HighS => join(&high, Some(55 - v)),
        Mangle::HighSSameV => join(&high, Some(v)),
        Mangle::Compact => compact(&s.to_be_bytes::<32>(), v == 28),
        Mangle::CompactHighS => compact(&high, v == 27),
        Mangle::ZeroScalar(zero_r) => {
            let mut bytes = good.to_vec();
            let range = if zero_r { 0..32 } else { 32..64 };
            bytes[range].fill(0);
            bytes
        }
        Mangle::Length(len) => {
            let mut bytes = good.to_vec();
            bytes.resize(len, 0xab);
            bytes
        }
        Mangle::Flip(i) => {
            let mut bytes = good.to_vec();
            bytes[i] ^= 0x01;
            bytes
        }
    }
}

#[test]
fn the_off_chain_signature_check_agrees_with_the_hub() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    // The harness is the hub plus test entry points, which puts it over the 24 KiB limit the hub
    // itself stays under; the limit is the deployment's concern, not the signature check's.
    let devnet = rt
        .block_on(Devnet::start_with_anvil_args(&[
            "--disable-code-size-limit",
        ]))
        .unwrap();
    let provider = devnet.provider(0);
    let address = rt
        .block_on(deploy_test_contract(&provider, "SignatureHarness"))
        .unwrap();
    let harness = SignatureHarness::new(address, provider);
    let mut runner = TestRunner::new(Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    });
    let case = vec((any::<[u8; 32]>(), any::<[u8; 32]>(), mangle()), BATCH);
    let seen_valid = std::cell::Cell::new(0u32);
    let seen_invalid = std::cell::Cell::new(0u32);
    runner
        .run(&case, |inputs| {
            let mut signers = Vec::new();
            let mut hashes = Vec::new();
            let mut signs = Vec::new();
            for (key, hash, m) in &inputs {
                let Ok(signer) = PrivateKeySigner::from_slice(key) else {
                    continue;
                };
                let hash = B256::from(*hash);
                let good = signer.sign_hash_sync(&hash).unwrap().as_bytes();
                signers.push(signer.address());
                hashes.push(hash);
                signs.push(Bytes::from(apply(&good, *m)));
            }
            let hub = rt.block_on(async {
                harness
                    .validAll(signers.clone(), hashes.clone(), signs.clone())
                    .call()
                    .await
                    .unwrap()
            });
            for (i, hub_accepts) in hub.iter().enumerate() {
                let ours = recover("order", &signs[i], hashes[i]).ok() == Some(signers[i]);
                prop_assert_eq!(
                    ours,
                    *hub_accepts,
                    "signature {} ({} bytes) by {}",
                    signs[i],
                    signs[i].len(),
                    signers[i]
                );
                let seen = if ours { &seen_valid } else { &seen_invalid };
                seen.set(seen.get() + 1);
            }
            Ok(())
        })
        .unwrap();
    // Both verdicts were exercised, or the comparison proves little.
    let (valid, invalid) = (seen_valid.get(), seen_invalid.get());
    assert!(
        valid > 50 && invalid > 50,
        "{valid} valid, {invalid} invalid"
    );
}
