//! The devnet beacon node over HTTP: drand's JSON shape, rounds that verify against the key
//! `/info` serves, and clear refusals.

use decloud_beacon::node::{BeaconConfig, Info, Round, start};
use decloud_beacon::{PublicKey, SCHEME, Signature};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[tokio::test]
async fn the_node_serves_rounds_that_verify_in_drands_shape() {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let node = start(BeaconConfig {
        listen: ([127, 0, 0, 1], 0).into(),
        seed: "node test".into(),
        threshold: 3,
        members: 5,
        genesis: Some(now - 60),
        period: 2,
    })
    .await
    .unwrap();
    let http = reqwest::Client::new();
    let info: Info = http
        .get(format!("{}/info", node.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info.scheme, SCHEME);
    assert_eq!(&info, node.info());
    assert_eq!(info.period, 2);
    let pk = PublicKey::from_hex(&info.public_key).unwrap();

    let round: Round = http
        .get(format!("{}/public/7", node.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(round.round, 7);
    let sig = Signature::from_hex(&round.signature).unwrap();
    assert!(pk.verify_round(7, &sig));
    assert_eq!(round.randomness, hex::encode(sig.randomness()));

    // the producer loop publishes the latest round (at least round 31: genesis was 60 s ago)
    let mut latest = None;
    for _ in 0..50 {
        let r = http
            .get(format!("{}/public/latest", node.url()))
            .send()
            .await
            .unwrap();
        if r.status().is_success() {
            latest = Some(r.json::<Round>().await.unwrap());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let latest = latest.expect("a latest round");
    assert!(latest.round >= 31, "latest round {}", latest.round);
    assert!(pk.verify_round(
        latest.round,
        &Signature::from_hex(&latest.signature).unwrap()
    ));

    // a round far ahead, round 0 and junk are refused with a reason
    let r = http
        .get(format!("{}/public/{}", node.url(), latest.round + 1000))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.text().await.unwrap().contains("not produced yet"));
    let r = http
        .get(format!("{}/public/0", node.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = http
        .get(format!("{}/public/abc", node.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("not a round number"));
}

#[tokio::test]
async fn a_bad_group_is_refused_at_start() {
    let err = start(BeaconConfig {
        listen: ([127, 0, 0, 1], 0).into(),
        threshold: 4,
        members: 3,
        ..BeaconConfig::default()
    })
    .await
    .err()
    .expect("refused");
    assert!(err.to_string().contains("1 ≤ t ≤ n"), "{err}");
}
