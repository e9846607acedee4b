//! The market's OpenAPI description (`GET /openapi.json`) against what it really serves: the
//! routes agree both ways, and what the API fuzzer (`scripts/api-fuzz`) found is fixed: an
//! out-of-range page size was silently clamped, and the description's bounds of the integer
//! query parameters were not the service's.

use std::time::Duration;

use decloud_market::{MarketConfig, RunningMarket};
use decloud_testkit::Devnet;
use decloud_testkit::openapi::{description, route_mismatches};
use serde_json::Value;

async fn market(devnet: &Devnet, db: &tempfile::TempDir) -> RunningMarket {
    decloud_market::start(MarketConfig {
        transport: decloud_service::transport::Transport::InsecureHttp,
        listen: "127.0.0.1:0".parse().unwrap(),
        database_url: format!("sqlite://{}", db.path().join("market.db").display()),
        profile: devnet.profile().clone(),
        follow_interval: Duration::from_secs(3600),
        limits: decloud_market::MarketLimits::default(),
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_description_lists_exactly_the_routes_served() {
    let devnet = Devnet::start().await.unwrap();
    let db = tempfile::tempdir().unwrap();
    let market = market(&devnet, &db).await;
    let mismatches = route_mismatches(&market.url(), include_str!("../src/api.rs"))
        .await
        .unwrap();
    assert!(mismatches.is_empty(), "{mismatches:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn integer_query_parameters_are_bounded_as_described() {
    let devnet = Devnet::start().await.unwrap();
    let db = tempfile::tempdir().unwrap();
    let market = market(&devnet, &db).await;
    let http = reqwest::Client::new();
    let description = description(&market.url()).await.unwrap();
    let parameters = description["paths"]["/v1/orderbook/{kind}"]["get"]["parameters"]
        .as_array()
        .unwrap();
    let bounds = |name: &str| {
        let schema = &parameters.iter().find(|p| p["name"] == name).unwrap()["schema"];
        (
            u128::from(schema["minimum"].as_u64().unwrap()),
            u128::from(schema["maximum"].as_u64().unwrap()),
        )
    };
    for name in ["page", "page_size", "category", "trust", "max_price"] {
        let (min, max) = bounds(name);
        for (value, accepted) in [(min, true), (max, true), (max + 1, false)] {
            let response = http
                .get(format!("{}/v1/orderbook/app?{name}={value}", market.url()))
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap();
            if accepted {
                assert_eq!(status, 200, "{name}={value}: {body}");
            } else {
                assert_eq!(status, 400, "{name}={value}: {body}");
                assert!(
                    body["error"].as_str().unwrap().contains(name),
                    "{name}={value}: {body}"
                );
            }
        }
    }
    // Below the described minimum too, with a reason that says what to ask for.
    let response = http
        .get(format!("{}/v1/orderbook/app?page_size=0", market.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["error"],
        "page_size 0 is out of range: ask for 1 to 200 orders per page"
    );
}
