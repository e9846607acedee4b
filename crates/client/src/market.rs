//! Buying work: reading the market's offers for a demand, checking the cheapest against the
//! chain (the market follows it with a delay), and building, checking and signing the request
//! that matches them.

use std::collections::{BTreeSet, HashMap};

use alloy::primitives::{Address, B256, U256};
use alloy::signers::local::PrivateKeySigner;
use decloud_chain::client::Client;
use decloud_market::client::MarketClient;
use decloud_market::{BookEntry, BookQuery, OrderKind};
use decloud_protocol::{DatasetOrder, Order, RequestOrder, format_amount};
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::select::{Choice, Demand, Listed, Offers, open_orders, select};

/// Pages of each order book read when looking for orders.
const MAX_PAGES: u32 = 5;
/// Orders per page read.
const PAGE_SIZE: u32 = 200;

/// Open orders of `kind` matching `query`, cheapest first, parsed.
async fn candidates<T: DeserializeOwned>(
    market: &MarketClient,
    kind: OrderKind,
    mut query: BookQuery,
    now: u64,
) -> Result<Vec<Listed<T>>> {
    query.page_size = Some(PAGE_SIZE);
    let mut out = Vec::new();
    for page in 0..MAX_PAGES {
        query.page = page;
        let found = market
            .orderbook(kind, &query)
            .await
            .map_err(|source| Error::OrderBook {
                kind: kind.as_str(),
                source,
            })?;
        let n = found.orders.len();
        out.extend(open_orders(found.orders, now));
        if (n as u32) < PAGE_SIZE {
            break;
        }
    }
    Ok(out)
}

/// The market's open offers for `demand` at `now`, each list cheapest first and filtered by the
/// selection rules; fails when no app order (or no dataset order) may be used.
pub async fn offers(market: &MarketClient, demand: &Demand, now: u64) -> Result<Offers> {
    let apps = candidates(
        market,
        OrderKind::App,
        BookQuery {
            resource: Some(demand.app),
            ..BookQuery::default()
        },
        now,
    )
    .await?;
    let datasets = match demand.dataset {
        Some(d) => {
            candidates(
                market,
                OrderKind::Dataset,
                BookQuery {
                    resource: Some(d),
                    ..BookQuery::default()
                },
                now,
            )
            .await?
        }
        None => Vec::new(),
    };
    let pools = candidates(
        market,
        OrderKind::Workerpool,
        BookQuery {
            resource: demand.workerpool,
            category: Some(demand.category),
            trust: Some(demand.trust),
            ..BookQuery::default()
        },
        now,
    )
    .await?;
    let offers = Offers {
        apps,
        datasets,
        pools,
    }
    .compatible_with(demand);
    if offers.apps.is_empty() {
        return Err(Error::NoAppOrder {
            app: demand.app,
            market: market.url().to_string(),
        });
    }
    if demand.dataset.is_some() && offers.datasets.is_empty() {
        return Err(Error::NoDatasetOrder {
            dataset: demand.dataset_or_zero(),
            app: demand.app,
            market: market.url().to_string(),
        });
    }
    Ok(offers)
}

/// What is left of a published offer on chain now (0 when consumed or cancelled).
pub async fn remaining_on_chain(client: &Client, entry: &BookEntry) -> Result<u64> {
    let status = crate::orders::order_status(client, entry.hash).await?;
    if status.cancelled {
        return Ok(0);
    }
    let consumed = u64::try_from(status.consumed).unwrap_or(u64::MAX);
    Ok(entry.volume.saturating_sub(consumed))
}

/// Fails with "insufficient balance" and the amount to deposit when `requester` can't pay
/// `volume` tasks of `choice`.
pub async fn check_balance(
    client: &Client,
    requester: Address,
    choice: &Choice,
    volume: u64,
) -> Result<()> {
    let cost = choice.per_task * U256::from(volume);
    let balance = client.escrow_balance(requester).await?;
    if balance < cost {
        return Err(Error::InsufficientBalance {
            requester,
            balance: format_amount(balance),
            cost: format_amount(cost),
            volume,
            per_task: format_amount(choice.per_task),
            missing: format_amount(cost - balance).replace(' ', ""),
        });
    }
    Ok(())
}

/// The cheapest orders of `offers` that fit `demand`, whose scheduler can stake for it and that
/// are still open on chain, once the requester is known to be able to pay for them. Orders
/// the chain shows consumed or cancelled since the market listed them are dropped and the
/// choice made again.
pub async fn choose(
    client: &Client,
    market_url: &str,
    mut offers: Offers,
    demand: &Demand,
) -> Result<Choice> {
    // A scheduler must stake a share of the workerpool price per task: read what each can.
    let mut stakes = HashMap::new();
    let schedulers: BTreeSet<Address> = offers.pools.iter().map(|(e, _)| e.signer).collect();
    for scheduler in schedulers {
        let free = client.escrow_balance(scheduler).await?;
        stakes.insert(scheduler, free);
    }
    let pick = loop {
        let picked = select(&offers, demand.dataset.is_some(), &stakes, demand.volume);
        let Some(pick) = picked.staked else {
            return Err(no_pick(client, market_url, &offers, demand, picked).await);
        };
        let app_left = remaining_on_chain(client, &offers.apps[pick.app].0).await?;
        offers.apps[pick.app].0.remaining = app_left;
        let pool_left = remaining_on_chain(client, &offers.pools[pick.pool].0).await?;
        offers.pools[pick.pool].0.remaining = pool_left;
        let dataset_left = match pick.dataset {
            Some(d) => {
                let left = remaining_on_chain(client, &offers.datasets[d].0).await?;
                offers.datasets[d].0.remaining = left;
                left
            }
            None => u64::MAX,
        };
        if app_left == 0 {
            offers.apps.remove(pick.app);
            if offers.apps.is_empty() {
                return Err(Error::AppOrdersGone {
                    app: demand.app,
                    market: market_url.to_string(),
                });
            }
        } else if pool_left == 0 {
            offers.pools.remove(pick.pool);
        } else if dataset_left == 0 {
            if let Some(d) = pick.dataset {
                offers.datasets.remove(d);
            }
            if offers.datasets.is_empty() {
                return Err(Error::DatasetOrdersGone {
                    dataset: demand.dataset_or_zero(),
                    market: market_url.to_string(),
                });
            }
        } else {
            break pick;
        }
    };
    let choice = pick.resolve(&offers);
    check_balance(
        client,
        demand.requester,
        &choice,
        choice.deal_volume(demand.volume),
    )
    .await?;
    Ok(choice)
}

/// Why nothing could be picked: the requester's own shortfall first (the one it can fix), then
/// schedulers that can't stake, then no compatible workerpool at all.
async fn no_pick(
    client: &Client,
    market_url: &str,
    offers: &Offers,
    demand: &Demand,
    picked: crate::select::Selection,
) -> Error {
    if let (Some(&workerpool), Some(cheapest)) =
        (picked.unstaked.first(), &picked.cheapest_unstaked)
    {
        let choice = cheapest.resolve(offers);
        let volume = choice.deal_volume(demand.volume);
        if let Err(e) = check_balance(client, demand.requester, &choice, volume).await {
            return e;
        }
        return Error::Unstaked {
            workerpool,
            others: match picked.unstaked.len() - 1 {
                0 => String::new(),
                n => format!(" (and those of {n} other orders)"),
            },
        };
    }
    let mut wanted = format!(
        "category {}, trust at least {}",
        demand.category, demand.trust
    );
    if !demand.tag.is_empty() {
        wanted.push_str(&format!(", tag {}", demand.tag));
    }
    if let Some(w) = demand.workerpool {
        wanted.push_str(&format!(", workerpool {w}"));
    }
    Error::NoWorkerpoolOrder {
        market: market_url.to_string(),
        wanted,
        flags: if demand.workerpool.is_some() {
            " / --workerpool"
        } else {
            ""
        },
    }
}

/// What the app receives with each task, beyond the orders.
#[derive(Clone, Debug, Default)]
pub struct TaskParams {
    /// Arguments passed to the app (one string, split like a command line by the worker).
    pub args: Option<String>,
    /// URLs of input files the workers download into /in.
    pub input_files: Vec<String>,
    /// Contract receiving the result.
    pub callback: Option<Address>,
    /// Who may read the results (the requester by default).
    pub beneficiary: Option<Address>,
    /// The requester's named secrets (in the SMS) a TEE task's enclave gets.
    pub secrets: Vec<String>,
}

impl TaskParams {
    /// The request's `params` field: a JSON object, empty when there is nothing to pass.
    pub fn to_params(&self) -> String {
        let mut params = serde_json::Map::new();
        if let Some(a) = &self.args {
            params.insert("args".into(), serde_json::json!(a));
        }
        if !self.input_files.is_empty() {
            params.insert("input_files".into(), serde_json::json!(self.input_files));
        }
        if !self.secrets.is_empty() {
            params.insert(
                decloud_sms::PARAMS_SECRETS_FIELD.into(),
                serde_json::json!(self.secrets),
            );
        }
        if params.is_empty() {
            String::new()
        } else {
            serde_json::Value::Object(params).to_string()
        }
    }
}

/// The request order that buys `choice` for `demand`, at the prices of the orders picked.
pub fn request_for(choice: &Choice, demand: &Demand, params: &TaskParams) -> RequestOrder {
    RequestOrder {
        app: demand.app,
        app_max_price: choice.app.1.app_price,
        dataset: demand.dataset_or_zero(),
        dataset_max_price: choice
            .dataset
            .as_ref()
            .map(|d| d.1.dataset_price)
            .unwrap_or_default(),
        workerpool: demand.workerpool.unwrap_or(Address::ZERO),
        workerpool_max_price: choice.workerpool.1.workerpool_price,
        requester: demand.requester,
        volume: demand.volume,
        tag: demand.tag,
        category: demand.category,
        trust: demand.trust,
        beneficiary: params.beneficiary.unwrap_or(demand.requester),
        callback: params.callback.unwrap_or(Address::ZERO),
        params: params.to_params(),
        expiry: 0,
        salt: B256::random(),
        sign: Default::default(),
    }
}

/// Checks `request` against `choice` with the hub's own rules (so a mismatch is reported before
/// anything is sent) and signs it; returns the request's hash.
pub fn sign_request(
    client: &Client,
    signer: &PrivateKeySigner,
    choice: &Choice,
    request: &mut RequestOrder,
) -> Result<B256> {
    let none = DatasetOrder::none();
    let dataset = choice.dataset.as_ref().map(|d| &d.1).unwrap_or(&none);
    decloud_protocol::matching::check(&choice.app.1, dataset, &choice.workerpool.1, request)
        .map_err(Error::Mismatch)?;
    Ok(request.sign_with(signer, &client.domain())?)
}

/// Sends `matchOrders` for `choice` and the signed `request`: the deal.
pub async fn match_choice(
    client: &Client,
    choice: &Choice,
    request: &RequestOrder,
) -> Result<decloud_chain::orders::MatchedDeal> {
    let none = DatasetOrder::none();
    let dataset = choice.dataset.as_ref().map(|d| &d.1).unwrap_or(&none);
    Ok(decloud_chain::orders::match_orders(
        client,
        &choice.app.1,
        dataset,
        &choice.workerpool.1,
        request,
    )
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_carry_only_what_is_given() {
        assert_eq!(TaskParams::default().to_params(), "");
        let p = TaskParams {
            args: Some("--n 3".into()),
            input_files: vec!["http://x/1".into()],
            secrets: vec!["api-token".into()],
            ..TaskParams::default()
        };
        let v: serde_json::Value = serde_json::from_str(&p.to_params()).unwrap();
        assert_eq!(v["args"], "--n 3");
        assert_eq!(v["input_files"][0], "http://x/1");
        // The field the SMS reads a deal's secrets from.
        assert_eq!(
            decloud_sms::api::named_secrets(&p.to_params()).unwrap(),
            vec!["api-token".to_owned()]
        );
    }

    #[test]
    fn errors_are_one_line_and_say_what_to_do() {
        let e = Error::InsufficientBalance {
            requester: Address::ZERO,
            balance: format_amount(U256::ZERO),
            cost: format_amount(U256::from(3)),
            volume: 3,
            per_task: format_amount(U256::from(1)),
            missing: "3".into(),
        }
        .to_string();
        assert!(
            !e.contains('\n') && e.contains("decloud account deposit 3"),
            "{e}"
        );
        let e = Error::UnknownTask(B256::ZERO).to_string();
        assert!(e.contains("decloud deal show"), "{e}");
    }
}
