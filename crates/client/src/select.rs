//! The selection rules: which published app, dataset and workerpool orders a request may use,
//! and which combination is the cheapest. Pure functions over what the market listed; the
//! chain is asked elsewhere ([`crate::market`]).

use std::collections::HashMap;

use alloy::primitives::{Address, U256};
use decloud_market::BookEntry;
use decloud_protocol::{AppOrder, DatasetOrder, Tag, WorkerpoolOrder};
use serde::de::DeserializeOwned;

/// What the requester asks for: the terms every order picked must accept.
#[derive(Clone, Debug)]
pub struct Demand {
    /// The app to run.
    pub app: Address,
    /// The dataset to run on, if any.
    pub dataset: Option<Address>,
    /// Only this workerpool (any by default).
    pub workerpool: Option<Address>,
    /// Required trust.
    pub trust: u64,
    /// Category of the work.
    pub category: u64,
    /// Requirements beyond those of the app and dataset orders.
    pub tag: Tag,
    /// Tasks wanted.
    pub volume: u64,
    /// Who buys (the orders' requester restrictions must allow it).
    pub requester: Address,
}

impl Demand {
    /// The dataset's address, zero without one (what the orders' restrictions compare to).
    pub fn dataset_or_zero(&self) -> Address {
        self.dataset.unwrap_or(Address::ZERO)
    }
}

/// A listed order and its parsed body.
pub type Listed<T> = (BookEntry, T);

/// The orders the market listed for a demand, each list cheapest first.
#[derive(Clone, Debug, Default)]
pub struct Offers {
    /// App orders.
    pub apps: Vec<Listed<AppOrder>>,
    /// Dataset orders (empty without a dataset).
    pub datasets: Vec<Listed<DatasetOrder>>,
    /// Workerpool orders.
    pub pools: Vec<Listed<WorkerpoolOrder>>,
}

/// Whether an order's restriction (zero: anyone) lets `actual` in.
pub fn allows(restriction: Address, actual: Address) -> bool {
    restriction.is_zero() || restriction == actual
}

/// The entries still open at `now` (volume left, not expired) whose body parses as `T`, in the
/// order given.
pub fn open_orders<T: DeserializeOwned>(
    entries: impl IntoIterator<Item = BookEntry>,
    now: u64,
) -> Vec<Listed<T>> {
    entries
        .into_iter()
        .filter(|e| e.remaining != 0 && (e.expiry == 0 || e.expiry > now))
        .filter_map(|e| {
            let order = serde_json::from_value::<T>(e.order.clone()).ok()?;
            Some((e, order))
        })
        .collect()
}

impl Offers {
    /// Keeps the orders whose restrictions and terms accept `demand`.
    pub fn compatible_with(mut self, demand: &Demand) -> Self {
        let me = demand.requester;
        let app = demand.app;
        let dataset = demand.dataset_or_zero();
        self.apps.retain(|(_, o)| {
            allows(o.requester_restrict, me) && allows(o.dataset_restrict, dataset)
        });
        self.datasets
            .retain(|(_, o)| allows(o.requester_restrict, me) && allows(o.app_restrict, app));
        self.pools.retain(|(_, o)| {
            allows(o.requester_restrict, me)
                && allows(o.app_restrict, app)
                && allows(o.dataset_restrict, dataset)
                && o.category == demand.category
                && o.trust >= demand.trust
                && o.tag.covers(demand.tag)
        });
        self
    }
}

/// Indices of the orders picked in the [`Offers`] lists, and the price of one task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pick {
    /// Index in [`Offers::apps`].
    pub app: usize,
    /// Index in [`Offers::datasets`].
    pub dataset: Option<usize>,
    /// Index in [`Offers::pools`].
    pub pool: usize,
    /// App, dataset and workerpool prices of one task.
    pub per_task: U256,
}

/// What [`select`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selection {
    /// The cheapest compatible orders whose scheduler can stake.
    pub staked: Option<Pick>,
    /// The cheapest compatible orders, ignoring the scheduler's stake.
    pub cheapest_unstaked: Option<Pick>,
    /// Compatible workerpools whose scheduler can't stake.
    pub unstaked: Vec<Address>,
}

/// What a scheduler must stake to take `volume` tasks (capped by what the order has left) at
/// `price` each: a fixed share of the workerpool price per task.
pub fn scheduler_stake(price: U256, volume: u64, remaining: u64) -> U256 {
    price * U256::from(decloud_protocol::matching::SCHEDULER_STAKE_RATIO) / U256::from(100)
        * U256::from(volume.min(remaining))
}

/// The cheapest combination of one app order, one dataset order (when `with_dataset`) and one
/// workerpool order that fit each other's restrictions and tags. The lists are already
/// filtered against the demand ([`Offers::compatible_with`]) and sorted cheapest first;
/// `stakes` is each scheduler's free escrow balance.
pub fn select(
    offers: &Offers,
    with_dataset: bool,
    stakes: &HashMap<Address, U256>,
    volume: u64,
) -> Selection {
    let mut out = Selection::default();
    for (p, (entry, wp)) in offers.pools.iter().enumerate() {
        let fits = |restriction: Address, tag: Tag| {
            allows(restriction, wp.workerpool) && wp.tag.covers(tag)
        };
        let Some(a) = offers
            .apps
            .iter()
            .position(|(_, o)| fits(o.workerpool_restrict, o.tag))
        else {
            continue;
        };
        let d = if with_dataset {
            match offers
                .datasets
                .iter()
                .position(|(_, o)| fits(o.workerpool_restrict, o.tag))
            {
                Some(d) => Some(d),
                None => continue,
            }
        } else {
            None
        };
        let per_task = offers.apps[a].1.app_price
            + d.map(|d| offers.datasets[d].1.dataset_price)
                .unwrap_or_default()
            + wp.workerpool_price;
        let stake = scheduler_stake(wp.workerpool_price, volume, entry.remaining);
        let free = stakes.get(&entry.signer).copied().unwrap_or_default();
        let pick = Pick {
            app: a,
            dataset: d,
            pool: p,
            per_task,
        };
        let slot = if free >= stake {
            &mut out.staked
        } else {
            out.unstaked.push(wp.workerpool);
            &mut out.cheapest_unstaked
        };
        if slot.as_ref().is_none_or(|b| per_task < b.per_task) {
            *slot = Some(pick);
        }
    }
    out
}

/// The orders picked, taken out of the [`Offers`].
#[derive(Clone, Debug)]
pub struct Choice {
    /// The app order.
    pub app: Listed<AppOrder>,
    /// The dataset order, if any.
    pub dataset: Option<Listed<DatasetOrder>>,
    /// The workerpool order.
    pub workerpool: Listed<WorkerpoolOrder>,
    /// Price of one task.
    pub per_task: U256,
}

impl Pick {
    /// The orders this pick points at.
    pub fn resolve(&self, offers: &Offers) -> Choice {
        Choice {
            app: offers.apps[self.app].clone(),
            dataset: self.dataset.map(|d| offers.datasets[d].clone()),
            workerpool: offers.pools[self.pool].clone(),
            per_task: self.per_task,
        }
    }
}

impl Choice {
    /// The deal's volume: the request's, capped by what each order has left.
    pub fn deal_volume(&self, requested: u64) -> u64 {
        [
            requested,
            self.app.0.remaining,
            self.workerpool.0.remaining,
            self.dataset
                .as_ref()
                .map(|d| d.0.remaining)
                .unwrap_or(u64::MAX),
        ]
        .into_iter()
        .min()
        .unwrap_or(1)
    }
}

#[cfg(test)]
mod tests;
