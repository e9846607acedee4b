//! Tests of `order.rs`.
use super::*;
use alloy::primitives::{address, keccak256};
use alloy::signers::local::PrivateKeySigner;

/// The Solidity source whose type strings the hub hashes.
const ORDERS_SOL: &str = include_str!("../../../contracts/src/libs/Orders.sol");

/// The string literal inside `NAME_TYPEHASH = keccak256("...")` in Orders.sol.
fn solidity_type_string(constant: &str) -> String {
    let start = ORDERS_SOL
        .find(&format!("{constant} = keccak256("))
        .unwrap_or_else(|| panic!("{constant} not found in Orders.sol"));
    let rest = &ORDERS_SOL[start..];
    let open = rest.find('"').unwrap() + 1;
    let close = open + rest[open..].find('"').unwrap();
    rest[open..close].to_string()
}

fn domain() -> Domain {
    Domain::new(
        31337,
        address!("0x5FbDB2315678afecb367f032d93F642f64180aa3"),
    )
}

fn app_order() -> AppOrder {
    AppOrder {
        app: Address::repeat_byte(0xa1),
        app_price: U256::from(5u64),
        volume: 10,
        tag: Tag::TEE,
        requester_restrict: Address::repeat_byte(0xb2),
        expiry: 1_900_000_000,
        salt: B256::repeat_byte(0x5a),
        ..Default::default()
    }
}

fn request_order() -> RequestOrder {
    RequestOrder {
        app: Address::repeat_byte(1),
        app_max_price: U256::from(1),
        dataset: Address::repeat_byte(2),
        dataset_max_price: U256::from(2),
        workerpool: Address::repeat_byte(3),
        workerpool_max_price: U256::from(3),
        requester: Address::repeat_byte(4),
        volume: 5,
        tag: Tag::bit(3),
        category: 2,
        trust: 100,
        beneficiary: Address::repeat_byte(5),
        callback: Address::repeat_byte(6),
        params: r#"{"args":"--n 3"}"#.into(),
        expiry: 7,
        salt: B256::repeat_byte(8),
        sign: Bytes::new(),
    }
}

#[test]
fn type_strings_and_hashes_are_the_contracts() {
    let cases = [
        (
            "APP_TYPEHASH",
            typed::AppOrder::eip712_encode_type(),
            app_order().typed().eip712_type_hash(),
        ),
        (
            "DATASET_TYPEHASH",
            typed::DatasetOrder::eip712_encode_type(),
            DatasetOrder::default().typed().eip712_type_hash(),
        ),
        (
            "WORKERPOOL_TYPEHASH",
            typed::WorkerpoolOrder::eip712_encode_type(),
            WorkerpoolOrder::default().typed().eip712_type_hash(),
        ),
        (
            "REQUEST_TYPEHASH",
            typed::RequestOrder::eip712_encode_type(),
            request_order().typed().eip712_type_hash(),
        ),
    ];
    for (constant, ours, hash) in cases {
        let theirs = solidity_type_string(constant);
        assert_eq!(ours, theirs, "{constant}");
        assert_eq!(hash, keccak256(theirs.as_bytes()), "{constant}");
    }
    // Pinned values: a change to the contracts' types must be a deliberate change here too.
    assert_eq!(
        keccak256(solidity_type_string("APP_TYPEHASH")),
        keccak256(
            "AppOrder(address app,uint256 appprice,uint256 volume,bytes32 tag,address datasetrestrict,address workerpoolrestrict,address requesterrestrict,uint256 expiry,bytes32 salt)"
        )
    );
}

#[test]
fn struct_hash_is_typehash_then_the_abi_head_like_orders_sol() {
    // Orders.hash copies the 9 static words after the type hash; the request order's
    // 14th word (params) is replaced by keccak256(params).
    let o = app_order();
    let mut words = Vec::new();
    words.extend_from_slice(o.typed().eip712_type_hash().as_slice());
    let word = |a: &Address| B256::left_padding_from(a.as_slice());
    words.extend_from_slice(word(&o.app).as_slice());
    words.extend_from_slice(&o.app_price.to_be_bytes::<32>());
    words.extend_from_slice(&U256::from(o.volume).to_be_bytes::<32>());
    words.extend_from_slice(o.tag.0.as_slice());
    words.extend_from_slice(word(&o.dataset_restrict).as_slice());
    words.extend_from_slice(word(&o.workerpool_restrict).as_slice());
    words.extend_from_slice(word(&o.requester_restrict).as_slice());
    words.extend_from_slice(&U256::from(o.expiry).to_be_bytes::<32>());
    words.extend_from_slice(o.salt.as_slice());
    assert_eq!(words.len(), 0x140);
    assert_eq!(o.struct_hash(), keccak256(&words));

    let r = request_order();
    let enc = r.typed().eip712_encode_data();
    assert_eq!(enc.len(), 16 * 32);
    assert_eq!(
        &enc[13 * 32..14 * 32],
        keccak256(r.params.as_bytes()).as_slice()
    );

    // digest = keccak256("\x19\x01" ‖ domainSeparator ‖ structHash)
    let d = domain();
    let digest = keccak256(
        [
            &[0x19u8, 0x01][..],
            d.separator().as_slice(),
            o.struct_hash().as_slice(),
        ]
        .concat(),
    );
    assert_eq!(o.hash(&d), digest);
}

#[test]
fn domain_separator_is_solady_s() {
    // keccak256(abi.encode(DOMAIN_TYPEHASH, keccak256(name), keccak256(version), chainId, hub))
    let d = domain();
    let typehash = keccak256(
        "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)",
    );
    let enc = [
        typehash.as_slice(),
        keccak256("decloud").as_slice(),
        keccak256("1").as_slice(),
        &U256::from(31337).to_be_bytes::<32>(),
        B256::left_padding_from(d.hub.as_slice()).as_slice(),
    ]
    .concat();
    assert_eq!(d.separator(), keccak256(enc));
}

#[test]
fn sign_and_verify() {
    let owner = PrivateKeySigner::random();
    let d = domain();
    let mut o = app_order();
    assert!(matches!(o.signer(&d), Err(ProtocolError::Unsigned { .. })));
    let h = o.sign_with(&owner, &d).unwrap();
    assert_eq!(o.sign.len(), 65);
    assert_eq!(o.verify(&d, owner.address()).unwrap(), h);

    let mut changed = o.clone();
    changed.volume += 1;
    assert!(matches!(
        changed.verify(&d, owner.address()),
        Err(ProtocolError::WrongSigner { .. })
    ));
    let other_chain = Domain::new(1, d.hub);
    assert!(o.verify(&other_chain, owner.address()).is_err());
    let mut garbage = o.clone();
    garbage.sign = Bytes::from(vec![1u8; 13]);
    assert!(matches!(
        garbage.signer(&d),
        Err(ProtocolError::MalformedSignature { len: 13, .. })
    ));

    // EIP-2098 compact signatures are accepted like the hub does.
    let sig = Signature::from_raw(&o.sign).unwrap();
    let mut compact = o.clone();
    compact.sign = Bytes::copy_from_slice(&sig.as_erc2098());
    assert_eq!(compact.signer(&d).unwrap(), owner.address());
}

#[test]
fn every_field_changes_the_hash() {
    let d = domain();
    let base = request_order();
    let h = base.hash(&d);
    let edits: Vec<fn(&mut RequestOrder)> = vec![
        |o| o.app = Address::repeat_byte(0x71),
        |o| o.app_max_price += U256::from(1),
        |o| o.dataset = Address::ZERO,
        |o| o.dataset_max_price += U256::from(1),
        |o| o.workerpool = Address::ZERO,
        |o| o.workerpool_max_price += U256::from(1),
        |o| o.requester = Address::repeat_byte(0x72),
        |o| o.volume += 1,
        |o| o.tag = Tag::NONE,
        |o| o.category += 1,
        |o| o.trust += 1,
        |o| o.beneficiary = Address::ZERO,
        |o| o.callback = Address::ZERO,
        |o| o.params.push(' '),
        |o| o.expiry += 1,
        |o| o.salt = B256::ZERO,
    ];
    for (i, edit) in edits.iter().enumerate() {
        let mut o = base.clone();
        edit(&mut o);
        assert_ne!(o.hash(&d), h, "edit {i}");
    }
    let mut o = base.clone();
    o.sign = Bytes::from(vec![1, 2, 3]);
    assert_eq!(o.hash(&d), h, "the signature is not hashed");
}

#[test]
fn order_kinds_parse_and_print() {
    for kind in OrderKind::ALL {
        assert_eq!(kind.as_str().parse::<OrderKind>().unwrap(), kind);
        assert_eq!(kind.to_string(), kind.as_str());
        assert_eq!(
            serde_json::to_string(&kind).unwrap(),
            format!("\"{}\"", kind.as_str())
        );
    }
    assert_eq!(AppOrder::KIND.label(), "app order");
    let e = "apps".parse::<OrderKind>().unwrap_err();
    assert_eq!(
        e.to_string(),
        "unknown order kind \"apps\": use app, dataset, workerpool or request"
    );
}

#[test]
fn any_order_is_the_order_inside() {
    let owner = PrivateKeySigner::random();
    let d = domain();
    let mut any = AnyOrder::from(app_order());
    let hash = any.sign_with(&owner, &d).unwrap();
    let AnyOrder::App(app) = &any else {
        panic!("an app order")
    };
    assert_eq!(hash, app.hash(&d));
    assert_eq!(any.kind(), OrderKind::App);
    assert_eq!(
        (
            any.resource(),
            any.price(),
            any.volume(),
            any.tag(),
            any.expiry(),
            any.salt()
        ),
        (
            app.app,
            app.app_price,
            app.volume,
            app.tag,
            app.expiry,
            app.salt
        )
    );
    assert_eq!(
        (any.category(), any.trust(), any.requester()),
        (None, None, None)
    );
    assert_eq!(any.verify(&d, owner.address()).unwrap(), hash);
    assert_eq!(any.signer(&d).unwrap(), owner.address());
    assert_eq!(any.struct_hash(), app.struct_hash());
    assert_eq!(
        serde_json::to_value(&any).unwrap(),
        serde_json::to_value(app).unwrap()
    );
    let json = serde_json::to_value(&any).unwrap();
    assert_eq!(
        AnyOrder::deserialize_as(OrderKind::App, &json).unwrap(),
        any
    );
    assert!(AnyOrder::deserialize_as(OrderKind::Workerpool, &json).is_err());

    let r = AnyOrder::from(request_order());
    assert_eq!(r.kind(), OrderKind::Request);
    assert_eq!(r.resource(), Address::repeat_byte(1));
    assert_eq!(
        r.price(),
        U256::from(3),
        "a request's price is its workerpool max price"
    );
    assert_eq!((r.category(), r.trust()), (Some(2), Some(100)));
    assert_eq!(r.requester(), Some(Address::repeat_byte(4)));
    assert_eq!(r.dataset(), Some(Address::repeat_byte(2)));
    assert_eq!(r.workerpool(), Some(Address::repeat_byte(3)));
    assert_eq!(AnyOrder::from(AppOrder::default()).workerpool(), None);
}

#[test]
fn signed_is_typed_then_the_signature() {
    use alloy::sol_types::SolValue;
    let mut r = request_order();
    r.sign = Bytes::from(vec![9u8; 65]);
    let signed = r.signed();
    assert_eq!(signed.sign, r.sign);
    // The head of both encodings holds the same fields, in the same order.
    let typed = r.typed().abi_encode_params();
    let full = signed.abi_encode_params();
    assert_eq!(&typed[..13 * 32], &full[..13 * 32]);
    assert_eq!(&typed[14 * 32..16 * 32], &full[14 * 32..16 * 32]);
}

#[test]
fn json_is_readable_and_round_trips() {
    let owner = PrivateKeySigner::random();
    let mut o = app_order();
    o.sign_with(&owner, &domain()).unwrap();
    let json = serde_json::to_value(&o).unwrap();
    assert_eq!(json["app_price"], "5");
    assert_eq!(json["tag"], serde_json::json!(["tee"]));
    assert_eq!(json["volume"], 10);
    assert!(
        json.get("dataset_restrict").is_none(),
        "zero restrictions are left out"
    );
    assert_eq!(serde_json::from_value::<AppOrder>(json).unwrap(), o);

    let minimal: WorkerpoolOrder = serde_json::from_str(
        r#"{"workerpool":"0x0000000000000000000000000000000000000003","workerpool_price":100,"category":1,"trust":5}"#,
    )
    .unwrap();
    assert_eq!(minimal.volume, 1);
    assert_eq!(minimal.workerpool_price, U256::from(100));
    assert!(serde_json::from_str::<WorkerpoolOrder>(r#"{"workerpool":"0x0000000000000000000000000000000000000003","workerpool_price":"1","trsut":5}"#).is_err());
    assert!(
        serde_json::from_str::<AppOrder>(
            r#"{"app":"0x0000000000000000000000000000000000000003","app_price":"-1"}"#
        )
        .is_err()
    );
    let r = request_order();
    assert_eq!(
        serde_json::from_str::<RequestOrder>(&serde_json::to_string(&r).unwrap()).unwrap(),
        r
    );
}
