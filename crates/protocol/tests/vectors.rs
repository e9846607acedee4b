//! The contracts' test vectors (`contracts/test/vectors.json`, written by forge's `VectorsTest`
//! from the Solidity code itself): every value the Rust mirror computes must equal them.

use std::str::FromStr;

use alloy::primitives::{Address, B256, Bytes, U256, eip191_hash_message, keccak256};
use alloy::sol_types::SolValue;
use decloud_protocol::consensus::{reached, vote_weight};
use decloud_protocol::{
    AppOrder, DatasetOrder, Domain, Order, RequestOrder, Tag, WorkerpoolOrder, ids, result, typed,
};
use serde_json::Value;

fn vectors() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../contracts/test/vectors.json"
    );
    let text = std::fs::read_to_string(path).expect("contracts/test/vectors.json is committed");
    serde_json::from_str(&text).expect("valid JSON")
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str().unwrap_or_else(|| panic!("missing {k}"))
}
fn addr(v: &Value, k: &str) -> Address {
    s(v, k).parse().unwrap()
}
fn b32(v: &Value, k: &str) -> B256 {
    s(v, k).parse().unwrap()
}
fn u256(v: &Value, k: &str) -> U256 {
    U256::from_str(s(v, k)).unwrap()
}
fn u64_(v: &Value, k: &str) -> u64 {
    s(v, k).parse().unwrap()
}

#[test]
fn orders_deal_ids_and_task_hashes_match_the_contracts() {
    let v = vectors();
    let domain = Domain::new(v["chainId"].as_u64().unwrap(), addr(&v, "hub"));
    assert_eq!(domain.separator(), b32(&v, "domainSeparator"));

    let a = &v["appOrder"];
    let app = AppOrder {
        app: addr(a, "app"),
        app_price: u256(a, "appprice"),
        volume: u64_(a, "volume"),
        tag: Tag(b32(a, "tag")),
        dataset_restrict: addr(a, "datasetrestrict"),
        workerpool_restrict: addr(a, "workerpoolrestrict"),
        requester_restrict: addr(a, "requesterrestrict"),
        expiry: u64_(a, "expiry"),
        salt: b32(a, "salt"),
        sign: Bytes::new(),
    };
    let d = &v["datasetOrder"];
    let dataset = DatasetOrder {
        dataset: addr(d, "dataset"),
        dataset_price: u256(d, "datasetprice"),
        volume: u64_(d, "volume"),
        tag: Tag(b32(d, "tag")),
        app_restrict: addr(d, "apprestrict"),
        workerpool_restrict: addr(d, "workerpoolrestrict"),
        requester_restrict: addr(d, "requesterrestrict"),
        expiry: u64_(d, "expiry"),
        salt: b32(d, "salt"),
        sign: Bytes::new(),
    };
    let w = &v["workerpoolOrder"];
    let pool = WorkerpoolOrder {
        workerpool: addr(w, "workerpool"),
        workerpool_price: u256(w, "workerpoolprice"),
        volume: u64_(w, "volume"),
        tag: Tag(b32(w, "tag")),
        category: u64_(w, "category"),
        trust: u64_(w, "trust"),
        app_restrict: addr(w, "apprestrict"),
        dataset_restrict: addr(w, "datasetrestrict"),
        requester_restrict: addr(w, "requesterrestrict"),
        expiry: u64_(w, "expiry"),
        salt: b32(w, "salt"),
        sign: Bytes::new(),
    };
    let r = &v["requestOrder"];
    let params: Bytes = s(r, "paramsUtf8Hex").parse().unwrap();
    let request = RequestOrder {
        app: addr(r, "app"),
        app_max_price: u256(r, "appmaxprice"),
        dataset: addr(r, "dataset"),
        dataset_max_price: u256(r, "datasetmaxprice"),
        workerpool: addr(r, "workerpool"),
        workerpool_max_price: u256(r, "workerpoolmaxprice"),
        requester: addr(r, "requester"),
        volume: u64_(r, "volume"),
        tag: Tag(b32(r, "tag")),
        category: u64_(r, "category"),
        trust: u64_(r, "trust"),
        beneficiary: addr(r, "beneficiary"),
        callback: addr(r, "callback"),
        params: String::from_utf8(params.to_vec()).unwrap(),
        expiry: u64_(r, "expiry"),
        salt: b32(r, "salt"),
        sign: Bytes::new(),
    };
    let o = &v["orders"];
    assert_eq!(app.hash(&domain), b32(o, "appOrderHash"));
    assert_eq!(dataset.hash(&domain), b32(o, "datasetOrderHash"));
    assert_eq!(pool.hash(&domain), b32(o, "workerpoolOrderHash"));
    let request_hash = request.hash(&domain);
    assert_eq!(request_hash, b32(o, "requestOrderHash"));

    // The deal: decode the contracts' abi.encode(deal), check it is the deal of these orders,
    // and recompute its hash, record and ids.
    let dv = &v["deal"];
    let encoded: Bytes = s(dv, "dealAbiEncoded").parse().unwrap();
    let deal = typed::Deal::abi_decode(&encoded).unwrap();
    assert_eq!(deal.abi_encode(), encoded.to_vec());
    assert_eq!(deal.app, app.app);
    assert_eq!(deal.appPrice, app.app_price);
    assert_eq!(deal.requestHash, request_hash);
    assert_eq!(deal.tag, app.tag.union(dataset.tag).union(request.tag).0);
    assert_eq!(deal.appOwner, addr(dv, "appOwner"));
    assert_eq!(deal.workerStake, u256(dv, "workerStake"));
    assert_eq!(ids::deal_hash(&deal), b32(dv, "dealHash"));
    assert_eq!(ids::deal_commitment(&deal), b32(dv, "dealRecordCommitment"));
    let dealid = ids::deal_id(request_hash, u64_(dv, "botFirst"));
    assert_eq!(dealid, b32(dv, "dealid"));
    assert_eq!(ids::deal_id_of(&deal), dealid);
    let task = ids::task_id(dealid, 2);
    assert_eq!(task, b32(dv, "taskid2"));

    // The task's hashes (for task 2).
    let t = &v["task"];
    let (worker, enclave, digest) = (addr(t, "worker"), addr(t, "enclave"), b32(t, "digest"));
    let c = result::commitment(worker, task, digest);
    assert_eq!(c.result_hash, b32(t, "resultHash"));
    assert_eq!(c.result_seal, b32(t, "resultSeal"));
    let auth = result::authorization_message(worker, task, enclave);
    assert_eq!(auth, b32(t, "authorizationMessage"));
    assert_eq!(eip191_hash_message(auth), b32(t, "authorizationDigest"));
    assert_eq!(result::enclave_message(&c), b32(t, "enclaveMessage"));
    assert_eq!(
        B256::from(result::replicated_commit(&c)),
        b32(t, "replicatedCommit208")
    );
}

#[test]
fn registry_ids_match_the_contracts() {
    let v = vectors();
    let reg = &v["registries"];
    assert_eq!(
        ids::app_id(
            addr(reg, "appOwner"),
            "hello",
            "https://apps.example/hello.wasm",
            keccak256("hello-module"),
            B256::ZERO
        ),
        addr(
            reg,
            "appId(hello, https://apps.example/hello.wasm, keccak256(hello-module), 0)"
        )
    );
    assert_eq!(
        ids::dataset_id(
            addr(reg, "datasetOwner"),
            "data",
            "https://data.example/data.bin",
            keccak256("data")
        ),
        addr(
            reg,
            "datasetId(data, https://data.example/data.bin, keccak256(data))"
        )
    );
    assert_eq!(
        ids::workerpool_id(addr(reg, "scheduler"), "pool", 0),
        addr(reg, "workerpoolId(pool, count 0)")
    );
}

#[test]
fn consensus_matches_the_contracts() {
    let v = vectors();
    for (args, weight) in v["workerWeight(score,trust)"].as_object().unwrap() {
        let n: Vec<u64> = args.split(',').map(|x| x.parse().unwrap()).collect();
        assert_eq!(
            vote_weight(n[0], n[1]),
            weight.as_u64().unwrap(),
            "workerWeight({args})"
        );
    }
    for (args, expected) in v["reached(group,members,sumGroups,trust)"]
        .as_object()
        .unwrap()
    {
        let n: Vec<u128> = args.split(',').map(|x| x.parse().unwrap()).collect();
        assert_eq!(
            reached(n[0], n[1] as u32, n[2], n[3] as u64),
            expected.as_bool().unwrap(),
            "reached({args})"
        );
    }
}
