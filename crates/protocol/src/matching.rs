//! The pure part of `matchOrders`: the compatibility checks the hub runs before it looks at the
//! chain (`Hub._checkCompatibility` and `_checkTag`), in the same order, so the first failure
//! here is the error the hub would revert with. What needs chain state (owners, signatures,
//! remaining volumes, balances, the category's existence, the TEE flag of the app) is not
//! checked here.

use alloy::primitives::{Address, U256};

use crate::{AppOrder, DatasetOrder, RequestOrder, Tag, WorkerpoolOrder};

/// The scheduler locks this percentage of the workerpool price per task at match time.
pub const SCHEDULER_STAKE_RATIO: u64 = 30;
/// Largest volume of a single deal.
pub const MAX_DEAL_VOLUME: u64 = u32::MAX as u64;
/// Largest price the hub accepts (`type(uint96).max`).
pub const MAX_PRICE: U256 = U256::from_limbs([u64::MAX, u32::MAX as u64, 0, 0]);
/// Largest trust the hub accepts.
pub const MAX_TRUST: u64 = u32::MAX as u64;

/// Why four orders can't be matched. Each variant is the hub's custom error of the same name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MatchError {
    /// The request names another app than the app order's.
    #[error("the request asks for app {requested} but the app order is for {offered}")]
    AppMismatch {
        /// In the request.
        requested: Address,
        /// In the app order.
        offered: Address,
    },
    /// The request names another dataset (or none) than the dataset order's.
    #[error("the request asks for dataset {requested} but the dataset order is for {offered}")]
    DatasetMismatch {
        /// In the request.
        requested: Address,
        /// In the dataset order.
        offered: Address,
    },
    /// The request names another workerpool.
    #[error(
        "the request asks for workerpool {requested} but the workerpool order is for {offered}"
    )]
    WorkerpoolMismatch {
        /// In the request.
        requested: Address,
        /// In the workerpool order.
        offered: Address,
    },
    /// The categories differ.
    #[error(
        "the request asks for category {requested} but the workerpool offers category {offered}"
    )]
    CategoryMismatch {
        /// In the request.
        requested: u64,
        /// In the workerpool order.
        offered: u64,
    },
    /// The workerpool does not accept that much trust.
    #[error("the request asks for trust {requested} but the workerpool accepts at most {offered}")]
    TrustNotOffered {
        /// In the request.
        requested: u64,
        /// In the workerpool order.
        offered: u64,
    },
    /// The trust does not fit in 32 bits.
    #[error("trust {trust} is too large (at most {MAX_TRUST})")]
    TrustTooLarge {
        /// The request's trust.
        trust: u64,
    },
    /// The app order costs more than the request pays.
    #[error("the app order costs {price} but the request pays at most {max}")]
    AppPriceTooHigh {
        /// Price.
        price: U256,
        /// The request's maximum.
        max: U256,
    },
    /// The dataset order costs more than the request pays.
    #[error("the dataset order costs {price} but the request pays at most {max}")]
    DatasetPriceTooHigh {
        /// Price.
        price: U256,
        /// The request's maximum.
        max: U256,
    },
    /// The workerpool order costs more than the request pays.
    #[error("the workerpool order costs {price} but the request pays at most {max}")]
    WorkerpoolPriceTooHigh {
        /// Price.
        price: U256,
        /// The request's maximum.
        max: U256,
    },
    /// A price above 2^96 - 1.
    #[error("price {price} is too large (at most 2^96 - 1)")]
    PriceTooLarge {
        /// The price.
        price: U256,
    },
    /// The workerpool does not offer every required tag bit.
    #[error("the workerpool offers tag {offered} but the orders require {required}")]
    TagNotOffered {
        /// Union of the app, dataset and request tags.
        required: Tag,
        /// The workerpool's tag.
        offered: Tag,
    },
    /// A restriction of the app order excludes the dataset, workerpool or requester.
    #[error("the app order is restricted to {restriction}, which is not {actual}")]
    AppOrderRestricted {
        /// The restriction.
        restriction: Address,
        /// What it was compared with.
        actual: Address,
    },
    /// A restriction of the dataset order excludes the app, workerpool or requester.
    #[error("the dataset order is restricted to {restriction}, which is not {actual}")]
    DatasetOrderRestricted {
        /// The restriction.
        restriction: Address,
        /// What it was compared with.
        actual: Address,
    },
    /// A restriction of the workerpool order excludes the app, dataset or requester.
    #[error("the workerpool order is restricted to {restriction}, which is not {actual}")]
    WorkerpoolOrderRestricted {
        /// The restriction.
        restriction: Address,
        /// What it was compared with.
        actual: Address,
    },
}

impl MatchError {
    /// The name of the hub's custom error this mirrors (e.g. `"TagNotOffered"`).
    pub fn hub_error(&self) -> &'static str {
        match self {
            Self::AppMismatch { .. } => "AppMismatch",
            Self::DatasetMismatch { .. } => "DatasetMismatch",
            Self::WorkerpoolMismatch { .. } => "WorkerpoolMismatch",
            Self::CategoryMismatch { .. } => "CategoryMismatch",
            Self::TrustNotOffered { .. } => "TrustNotOffered",
            Self::TrustTooLarge { .. } => "TrustTooLarge",
            Self::AppPriceTooHigh { .. } => "AppPriceTooHigh",
            Self::DatasetPriceTooHigh { .. } => "DatasetPriceTooHigh",
            Self::WorkerpoolPriceTooHigh { .. } => "WorkerpoolPriceTooHigh",
            Self::PriceTooLarge { .. } => "PriceTooLarge",
            Self::TagNotOffered { .. } => "TagNotOffered",
            Self::AppOrderRestricted { .. } => "AppOrderRestricted",
            Self::DatasetOrderRestricted { .. } => "DatasetOrderRestricted",
            Self::WorkerpoolOrderRestricted { .. } => "WorkerpoolOrderRestricted",
        }
    }
}

/// What a deal of these orders would look like, before chain state limits the volume.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Terms {
    /// The deal's tag: app | dataset | request.
    pub tag: Tag,
    /// What the requester pays per task (app + dataset + workerpool prices).
    pub price_per_task: U256,
    /// What the scheduler locks per task (30 % of the workerpool price).
    pub scheduler_stake_per_task: U256,
    /// The volume if nothing was consumed yet: the smallest of the orders' volumes, capped.
    pub max_volume: u64,
}

/// Checks that the orders are compatible, as the hub does before reading chain state. Pass
/// [`DatasetOrder::none`] when the request uses no dataset.
pub fn check(
    app: &AppOrder,
    dataset: &DatasetOrder,
    pool: &WorkerpoolOrder,
    request: &RequestOrder,
) -> Result<Terms, MatchError> {
    use MatchError as E;
    if request.app != app.app {
        return Err(E::AppMismatch {
            requested: request.app,
            offered: app.app,
        });
    }
    if request.dataset != dataset.dataset {
        return Err(E::DatasetMismatch {
            requested: request.dataset,
            offered: dataset.dataset,
        });
    }
    if !request.workerpool.is_zero() && request.workerpool != pool.workerpool {
        return Err(E::WorkerpoolMismatch {
            requested: request.workerpool,
            offered: pool.workerpool,
        });
    }
    if request.category != pool.category {
        return Err(E::CategoryMismatch {
            requested: request.category,
            offered: pool.category,
        });
    }
    if request.trust > pool.trust {
        return Err(E::TrustNotOffered {
            requested: request.trust,
            offered: pool.trust,
        });
    }
    if request.trust > MAX_TRUST {
        return Err(E::TrustTooLarge {
            trust: request.trust,
        });
    }
    if app.app_price > request.app_max_price {
        return Err(E::AppPriceTooHigh {
            price: app.app_price,
            max: request.app_max_price,
        });
    }
    if dataset.dataset_price > request.dataset_max_price {
        return Err(E::DatasetPriceTooHigh {
            price: dataset.dataset_price,
            max: request.dataset_max_price,
        });
    }
    if pool.workerpool_price > request.workerpool_max_price {
        return Err(E::WorkerpoolPriceTooHigh {
            price: pool.workerpool_price,
            max: request.workerpool_max_price,
        });
    }
    for price in [app.app_price, dataset.dataset_price, pool.workerpool_price] {
        if price > MAX_PRICE {
            return Err(E::PriceTooLarge { price });
        }
    }
    let restrict =
        |restriction: Address, actual: Address| restriction.is_zero() || restriction == actual;
    for (r, a) in [
        (app.dataset_restrict, dataset.dataset),
        (app.workerpool_restrict, pool.workerpool),
        (app.requester_restrict, request.requester),
    ] {
        if !restrict(r, a) {
            return Err(E::AppOrderRestricted {
                restriction: r,
                actual: a,
            });
        }
    }
    if !dataset.dataset.is_zero() {
        for (r, a) in [
            (dataset.app_restrict, app.app),
            (dataset.workerpool_restrict, pool.workerpool),
            (dataset.requester_restrict, request.requester),
        ] {
            if !restrict(r, a) {
                return Err(E::DatasetOrderRestricted {
                    restriction: r,
                    actual: a,
                });
            }
        }
    }
    for (r, a) in [
        (pool.app_restrict, app.app),
        (pool.dataset_restrict, dataset.dataset),
        (pool.requester_restrict, request.requester),
    ] {
        if !restrict(r, a) {
            return Err(E::WorkerpoolOrderRestricted {
                restriction: r,
                actual: a,
            });
        }
    }
    let tag = app.tag.union(dataset.tag).union(request.tag);
    if !pool.tag.covers(tag) {
        return Err(E::TagNotOffered {
            required: tag,
            offered: pool.tag,
        });
    }
    let dataset_price = if dataset.dataset.is_zero() {
        U256::ZERO
    } else {
        dataset.dataset_price
    };
    let mut max_volume = app.volume.min(pool.volume).min(request.volume);
    if !dataset.dataset.is_zero() {
        max_volume = max_volume.min(dataset.volume);
    }
    Ok(Terms {
        tag,
        price_per_task: app.app_price + dataset_price + pool.workerpool_price,
        scheduler_stake_per_task: pool.workerpool_price * U256::from(SCHEDULER_STAKE_RATIO)
            / U256::from(100),
        max_volume: max_volume.min(MAX_DEAL_VOLUME),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn orders() -> (AppOrder, DatasetOrder, WorkerpoolOrder, RequestOrder) {
        let app = AppOrder {
            app: Address::repeat_byte(1),
            app_price: U256::from(3),
            volume: 10,
            ..Default::default()
        };
        let pool = WorkerpoolOrder {
            workerpool: Address::repeat_byte(3),
            workerpool_price: U256::from(100),
            volume: 5,
            tag: Tag::TEE,
            category: 1,
            trust: 10,
            ..Default::default()
        };
        let request = RequestOrder {
            app: app.app,
            app_max_price: U256::from(3),
            workerpool_max_price: U256::from(100),
            requester: Address::repeat_byte(4),
            volume: 7,
            tag: Tag::TEE,
            category: 1,
            trust: 5,
            ..Default::default()
        };
        (app, DatasetOrder::none(), pool, request)
    }

    #[test]
    fn compatible_orders_give_the_deal_terms() {
        let (a, d, p, r) = orders();
        let t = check(&a, &d, &p, &r).unwrap();
        assert_eq!(t.price_per_task, U256::from(103));
        assert_eq!(t.scheduler_stake_per_task, U256::from(30));
        assert_eq!(t.max_volume, 5);
        assert_eq!(t.tag, Tag::TEE);
    }

    #[test]
    fn each_check_fails_with_the_hubs_error() {
        let (a, d, p, r) = orders();
        let mut r2 = r.clone();
        r2.trust = 11;
        assert_eq!(
            check(&a, &d, &p, &r2).unwrap_err().hub_error(),
            "TrustNotOffered"
        );
        let mut p2 = p.clone();
        p2.tag = Tag::NONE;
        assert_eq!(
            check(&a, &d, &p2, &r).unwrap_err().hub_error(),
            "TagNotOffered"
        );
        let mut a2 = a.clone();
        a2.app_price = U256::from(4);
        assert_eq!(
            check(&a2, &d, &p, &r).unwrap_err().hub_error(),
            "AppPriceTooHigh"
        );
        let mut p3 = p.clone();
        p3.requester_restrict = Address::repeat_byte(9);
        let e = check(&a, &d, &p3, &r).unwrap_err();
        assert_eq!(e.hub_error(), "WorkerpoolOrderRestricted");
        assert!(e.to_string().contains("restricted"));
        let mut r3 = r.clone();
        r3.workerpool = Address::repeat_byte(8);
        assert_eq!(
            check(&a, &d, &p, &r3).unwrap_err().hub_error(),
            "WorkerpoolMismatch"
        );
        let mut p4 = p.clone();
        p4.workerpool_price = MAX_PRICE + U256::from(1);
        let mut r4 = r.clone();
        r4.workerpool_max_price = p4.workerpool_price;
        assert_eq!(
            check(&a, &d, &p4, &r4).unwrap_err().hub_error(),
            "PriceTooLarge"
        );
    }
}
