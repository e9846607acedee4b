//! Orders survive JSON unchanged (same hash, same signature), and arbitrary JSON never panics
//! the parser: the market reads orders from strangers.

use alloy::primitives::{Address, B256, Bytes, U256};
use decloud_protocol::{AppOrder, Domain, Order, RequestOrder, Tag, WorkerpoolOrder};
use proptest::prelude::*;

fn address() -> impl Strategy<Value = Address> {
    prop_oneof![
        Just(Address::ZERO),
        any::<[u8; 20]>().prop_map(Address::from)
    ]
}

fn u256() -> impl Strategy<Value = U256> {
    any::<[u64; 4]>().prop_map(U256::from_limbs)
}

fn tag() -> impl Strategy<Value = Tag> {
    any::<[u8; 32]>().prop_map(|b| Tag(B256::from(b)))
}

fn request() -> impl Strategy<Value = RequestOrder> {
    (
        (
            address(),
            u256(),
            address(),
            u256(),
            address(),
            u256(),
            address(),
        ),
        (
            any::<u64>(),
            tag(),
            any::<u64>(),
            any::<u64>(),
            address(),
            address(),
        ),
        (
            ".*",
            any::<u64>(),
            any::<[u8; 32]>(),
            proptest::collection::vec(any::<u8>(), 0..70),
        ),
    )
        .prop_map(|(a, b, c)| RequestOrder {
            app: a.0,
            app_max_price: a.1,
            dataset: a.2,
            dataset_max_price: a.3,
            workerpool: a.4,
            workerpool_max_price: a.5,
            requester: a.6,
            volume: b.0,
            tag: b.1,
            category: b.2,
            trust: b.3,
            beneficiary: b.4,
            callback: b.5,
            params: c.0,
            expiry: c.1,
            salt: B256::from(c.2),
            sign: Bytes::from(c.3),
        })
}

proptest! {
    #[test]
    fn request_orders_round_trip(order in request()) {
        let domain = Domain::new(31337, Address::repeat_byte(9));
        let json = serde_json::to_string(&order).unwrap();
        let back: RequestOrder = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(back.hash(&domain), order.hash(&domain));
        prop_assert_eq!(back, order);
    }

    #[test]
    fn pool_orders_round_trip(pool in address(), price in u256(), volume in any::<u64>(), t in tag(), category in any::<u64>(), trust in any::<u64>(), r in address(), salt in any::<[u8; 32]>()) {
        let order = WorkerpoolOrder {
            workerpool: pool, workerpool_price: price, volume, tag: t, category, trust,
            requester_restrict: r, salt: B256::from(salt), ..Default::default()
        };
        let back: WorkerpoolOrder = serde_json::from_str(&serde_json::to_string(&order).unwrap()).unwrap();
        prop_assert_eq!(back, order);
    }

    #[test]
    fn arbitrary_text_never_panics(text in ".*") {
        let _ = serde_json::from_str::<AppOrder>(&text);
        let _ = serde_json::from_str::<RequestOrder>(&text);
        let _ = text.parse::<Tag>();
        let _ = decloud_protocol::parse_amount(&text);
    }

    #[test]
    fn arbitrary_field_values_never_panic(
        price in prop_oneof![Just("\"-1\"".to_string()), Just("1e3".to_string()), Just("\"99999999999999999999999999999999999999999999999999999999999999999999999999999999\"".to_string()), "[0-9]{1,90}", "\"[0-9a-z ]{0,20}\""],
        volume in prop_oneof![Just("-1".to_string()), Just("1.5".to_string()), Just("18446744073709551616".to_string()), "[0-9]{1,25}"],
        tag in prop_oneof![Just("[\"tee\"]".to_string()), Just("\"0x12\"".to_string()), Just("[1,2]".to_string()), "\"[a-z0-9,]{0,12}\""],
        sign in prop_oneof![Just("\"0x\"".to_string()), Just("\"zz\"".to_string()), "\"0x[0-9a-f]{0,140}\""],
    ) {
        let json = format!(r#"{{"app":"0x0000000000000000000000000000000000000001","app_price":{price},"volume":{volume},"tag":{tag},"sign":{sign}}}"#);
        if let Ok(order) = serde_json::from_str::<AppOrder>(&json) {
            let domain = Domain::new(1, Address::ZERO);
            let _ = order.hash(&domain);
            let _ = order.signer(&domain);
        }
    }
}
