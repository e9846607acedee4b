//! The selection rules, on hand-made offers.

use super::*;
use alloy::primitives::B256;
use decloud_market::OrderStatus;
use decloud_protocol::Order;

const ME: Address = Address::repeat_byte(0xee);
const APP: Address = Address::repeat_byte(0xaa);
const DATA: Address = Address::repeat_byte(0xdd);
const POOL_A: Address = Address::repeat_byte(0x01);
const POOL_B: Address = Address::repeat_byte(0x02);
const SCHED_A: Address = Address::repeat_byte(0x51);
const SCHED_B: Address = Address::repeat_byte(0x52);

/// `order` as the market lists it: signed by `signer`, nothing of it consumed yet.
fn listed<O: Order + serde::Serialize>(signer: Address, order: O) -> Listed<O> {
    let entry = BookEntry {
        hash: B256::random(),
        kind: O::KIND,
        resource: Address::ZERO,
        signer,
        price: 0,
        volume: order.volume(),
        remaining: order.volume(),
        tag: B256::ZERO,
        category: None,
        trust: None,
        workerpool: None,
        dataset: None,
        expiry: 0,
        status: OrderStatus::Open,
        order: serde_json::json!(order),
    };
    (entry, order)
}

fn app(price: u64) -> Listed<AppOrder> {
    let o = AppOrder {
        app: APP,
        app_price: U256::from(price),
        volume: 100,
        ..AppOrder::default()
    };
    listed(APP, o)
}

fn dataset(price: u64) -> Listed<DatasetOrder> {
    let o = DatasetOrder {
        dataset: DATA,
        dataset_price: U256::from(price),
        volume: 100,
        ..DatasetOrder::default()
    };
    listed(DATA, o)
}

fn pool(workerpool: Address, scheduler: Address, price: u64) -> Listed<WorkerpoolOrder> {
    let o = WorkerpoolOrder {
        workerpool,
        workerpool_price: U256::from(price),
        volume: 100,
        ..WorkerpoolOrder::default()
    };
    listed(scheduler, o)
}

fn demand() -> Demand {
    Demand {
        app: APP,
        dataset: None,
        workerpool: None,
        trust: 0,
        category: 0,
        tag: Tag::NONE,
        volume: 1,
        requester: ME,
    }
}

fn rich() -> HashMap<Address, U256> {
    [
        (SCHED_A, U256::from(1_000_000)),
        (SCHED_B, U256::from(1_000_000)),
    ]
    .into()
}

fn pick(offers: Offers, d: &Demand) -> (Offers, Selection) {
    let offers = offers.compatible_with(d);
    let s = select(&offers, d.dataset.is_some(), &rich(), d.volume);
    (offers, s)
}

#[test]
fn cheapest_combination_first() {
    let offers = Offers {
        apps: vec![app(5), app(7)],
        datasets: vec![],
        pools: vec![pool(POOL_A, SCHED_A, 30), pool(POOL_B, SCHED_B, 20)],
    };
    let (offers, s) = pick(offers, &demand());
    let p = s.staked.expect("a pick");
    assert_eq!(offers.pools[p.pool].1.workerpool, POOL_B);
    assert_eq!(p.app, 0);
    assert_eq!(p.per_task, U256::from(25));
    assert!(s.unstaked.is_empty());
}

#[test]
fn dataset_price_counts_and_is_required() {
    let mut d = demand();
    d.dataset = Some(DATA);
    let offers = Offers {
        apps: vec![app(1)],
        datasets: vec![dataset(4)],
        pools: vec![pool(POOL_A, SCHED_A, 10)],
    };
    let (_, s) = pick(offers.clone(), &d);
    assert_eq!(s.staked.unwrap().per_task, U256::from(15));
    assert_eq!(s.staked.unwrap().dataset, Some(0));
    let none = Offers {
        datasets: vec![],
        ..offers
    };
    assert_eq!(pick(none, &d).1, Selection::default());
}

#[test]
fn restrictions_are_honoured() {
    let mut restricted_app = app(1);
    restricted_app.1.workerpool_restrict = POOL_A;
    let mut other_requester = app(0);
    other_requester.1.requester_restrict = Address::repeat_byte(0x99);
    let mut pool_for_other_app = pool(POOL_B, SCHED_B, 1);
    pool_for_other_app.1.app_restrict = Address::repeat_byte(0x98);
    let offers = Offers {
        apps: vec![other_requester, restricted_app],
        datasets: vec![],
        pools: vec![
            pool_for_other_app,
            pool(POOL_B, SCHED_B, 2),
            pool(POOL_A, SCHED_A, 3),
        ],
    };
    let (offers, s) = pick(offers, &demand());
    assert_eq!(
        offers.apps.len(),
        1,
        "the app order for another requester is dropped"
    );
    assert_eq!(
        offers.pools.len(),
        2,
        "the pool order for another app is dropped"
    );
    let p = s.staked.unwrap();
    // The app order only runs on POOL_A, so the cheaper POOL_B can't be used.
    assert_eq!(offers.pools[p.pool].1.workerpool, POOL_A);
    assert!(allows(Address::ZERO, ME) && allows(ME, ME) && !allows(APP, ME));
}

#[test]
fn tags_must_be_covered_by_the_pool() {
    let tee = Tag::TEE;
    let mut tee_app = app(1);
    tee_app.1.tag = tee;
    let mut tee_pool = pool(POOL_A, SCHED_A, 9);
    tee_pool.1.tag = tee;
    let offers = Offers {
        apps: vec![tee_app],
        datasets: vec![],
        pools: vec![pool(POOL_B, SCHED_B, 1), tee_pool],
    };
    let (offers, s) = pick(offers.clone(), &demand());
    assert_eq!(offers.pools[s.staked.unwrap().pool].1.workerpool, POOL_A);
    // A tag the request adds filters the pools too.
    let mut d = demand();
    d.tag = tee;
    let kept = offers.compatible_with(&d);
    assert_eq!(kept.pools.len(), 1);
}

#[test]
fn trust_and_category_filter_pools() {
    let mut trusted = pool(POOL_A, SCHED_A, 9);
    trusted.1.trust = 5;
    let mut other_category = pool(POOL_B, SCHED_B, 1);
    other_category.1.category = 2;
    let offers = Offers {
        apps: vec![app(1)],
        datasets: vec![],
        pools: vec![other_category, trusted],
    };
    let mut d = demand();
    d.trust = 3;
    let (offers_kept, s) = pick(offers.clone(), &d);
    assert_eq!(offers_kept.pools.len(), 1);
    assert_eq!(
        offers_kept.pools[s.staked.unwrap().pool].1.workerpool,
        POOL_A
    );
    d.trust = 6;
    assert!(pick(offers.clone(), &d).1.staked.is_none());
    d.trust = 0;
    d.category = 2;
    let (kept, _) = pick(offers, &d);
    assert_eq!(kept.pools[0].1.workerpool, POOL_B);
}

#[test]
fn volume_sets_the_stake_and_the_deal_size() {
    let offers = Offers {
        apps: vec![app(1)],
        datasets: vec![],
        pools: vec![pool(POOL_A, SCHED_A, 100)],
    };
    let stake_per_task = scheduler_stake(U256::from(100), 1, 100);
    assert!(!stake_per_task.is_zero());
    let stakes: HashMap<_, _> = [(SCHED_A, stake_per_task * U256::from(3))].into();
    let three = select(&offers, false, &stakes, 3);
    assert!(three.staked.is_some());
    let four = select(&offers, false, &stakes, 4);
    assert!(four.staked.is_none());
    assert_eq!(four.unstaked, vec![POOL_A]);
    assert!(four.cheapest_unstaked.is_some());
    // The stake only covers what the order has left.
    assert_eq!(
        scheduler_stake(U256::from(100), 50, 3),
        scheduler_stake(U256::from(100), 3, 100)
    );
    let choice = three.staked.unwrap().resolve(&offers);
    assert_eq!(choice.deal_volume(3), 3);
    assert_eq!(choice.deal_volume(1_000), 100);
}

#[test]
fn closed_and_expired_orders_are_not_candidates() {
    let (mut open, _) = app(1);
    open.expiry = 1_000;
    let mut expired = open.clone();
    expired.expiry = 500;
    let mut consumed = open.clone();
    consumed.remaining = 0;
    let mut unreadable = open.clone();
    unreadable.order = serde_json::json!("not an order");
    let mut forever = open.clone();
    forever.expiry = 0;
    let kept: Vec<Listed<AppOrder>> =
        open_orders([expired, open.clone(), consumed, unreadable, forever], 600);
    assert_eq!(kept.len(), 2);
    assert_eq!(kept[0].0.hash, open.hash);
    assert!(open_orders::<AppOrder>([open], 1_000).is_empty());
}
