//! Rust bindings of the protocol contracts, generated at compile time from the committed
//! artifacts in `contracts/artifacts/` (so building needs no Node and no solc). Each binding
//! carries its ABI and creation bytecode: `DevToken::deploy(&provider)` deploys it.
//!
//! The hub is two contracts sharing one address: `Hub` (escrow, matching, the task hot path)
//! and `HubExtension` (administration, categories, order presign/cancel and hashes, views,
//! `reopen`, `claim`), which the hub reaches through its fallback by delegatecall; HubExtension's
//! own fallback reaches `HubSelection` (random worker selection), deployed apart and set once. Callers
//! never need to know which one holds a function: [`IHub`] is everything the hub serves at its
//! address (functions, events, errors), so bind `IHub::new(contracts.hub, provider)` (or take
//! [`crate::client::Client::hub`]). `Hub` is bound for its deployment bytecode, `HubExtension`
//! for its ABI only. See docs/protocol.md.

// The generated constructors and calls take one argument per Solidity parameter.
#![allow(clippy::too_many_arguments)]

alloy::sol!(
    #[sol(rpc)]
    #[derive(Debug)]
    DevToken,
    "../../contracts/artifacts/DevToken.json"
);

alloy::sol!(
    #[sol(rpc)]
    #[derive(Debug)]
    IHub,
    "../../contracts/artifacts/IHub.json"
);

/// `Hub`'s binding, in a module of its own: its ABI names `Draw.Worker` too, which each
/// binding would otherwise define at the top level next to [`IHub`]'s.
pub mod hub {
    #![allow(missing_docs, clippy::too_many_arguments)]
    alloy::sol!(
        #[sol(rpc)]
        #[derive(Debug)]
        Hub,
        "../../contracts/artifacts/Hub.json"
    );
}
pub use hub::Hub;

/// `HubExtension`'s binding, in a module of its own: its ABI names `Draw.Worker` too, which each
/// binding would otherwise define at the top level next to [`IHub`]'s.
pub mod hub_extension {
    #![allow(missing_docs, clippy::too_many_arguments)]
    alloy::sol!(
        #[sol(rpc)]
        #[derive(Debug)]
        HubExtension,
        "../../contracts/artifacts/HubExtension.json"
    );
}
pub use hub_extension::HubExtension;

/// `HubSelection`'s binding, in a module of its own: its ABI names `Draw.Worker` too, which each
/// binding would otherwise define at the top level next to [`IHub`]'s.
pub mod hub_selection {
    #![allow(missing_docs, clippy::too_many_arguments)]
    alloy::sol!(
        #[sol(rpc)]
        #[derive(Debug)]
        HubSelection,
        "../../contracts/artifacts/HubSelection.json"
    );
}
pub use hub_selection::HubSelection;

/// `HubKeepers`' binding (the attester registry and keepers facet, reached through
/// HubSelection's fallback), in a module of its own for the same reason; deployments use it
/// to create the facet before HubSelection.
pub mod hub_keepers {
    #![allow(missing_docs, clippy::too_many_arguments)]
    alloy::sol!(
        #[sol(rpc)]
        #[derive(Debug)]
        HubKeepers,
        "../../contracts/artifacts/HubKeepers.json"
    );
}
pub use hub_keepers::HubKeepers;

/// `HubAudit`'s binding (the facet settling spot-checked tasks, reached through HubSelection's
/// fallback); deployments use it to create the facet before HubSelection.
pub mod hub_audit {
    #![allow(missing_docs, clippy::too_many_arguments)]
    alloy::sol!(
        #[sol(rpc)]
        #[derive(Debug)]
        HubAudit,
        "../../contracts/artifacts/HubAudit.json"
    );
}
pub use hub_audit::HubAudit;

alloy::sol!(
    #[sol(rpc)]
    #[derive(Debug)]
    Beacon,
    "../../contracts/artifacts/Beacon.json"
);

alloy::sol!(
    #[sol(rpc)]
    #[derive(Debug)]
    KeeperRegistry,
    "../../contracts/artifacts/KeeperRegistry.json"
);

alloy::sol!(
    #[sol(rpc)]
    #[derive(Debug)]
    AppRegistry,
    "../../contracts/artifacts/AppRegistry.json"
);

alloy::sol!(
    #[sol(rpc)]
    #[derive(Debug)]
    DatasetRegistry,
    "../../contracts/artifacts/DatasetRegistry.json"
);

alloy::sol!(
    #[sol(rpc)]
    #[derive(Debug)]
    WorkerpoolRegistry,
    "../../contracts/artifacts/WorkerpoolRegistry.json"
);

alloy::sol!(
    #[sol(rpc)]
    #[derive(Debug)]
    MedianOracle,
    "../../contracts/artifacts/MedianOracle.json"
);

alloy::sol!(
    #[sol(rpc)]
    #[derive(Debug)]
    IResultReceiver,
    "../../contracts/artifacts/IResultReceiver.json"
);

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn union<T: Ord + Copy>(a: &[T], b: &[T]) -> Vec<T> {
        a.iter()
            .chain(b)
            .copied()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    }

    /// The forge test checks IHub's functions; this checks that a revert or a log of any of the
    /// five contracts (the hub and its four facets) decodes through IHub.
    #[test]
    fn ihub_has_every_event_and_error_of_the_hub() {
        assert_eq!(
            IHub::IHubErrors::SELECTORS,
            union(
                &union(
                    Hub::HubErrors::SELECTORS,
                    HubExtension::HubExtensionErrors::SELECTORS
                ),
                &union(
                    &union(
                        HubSelection::HubSelectionErrors::SELECTORS,
                        HubKeepers::HubKeepersErrors::SELECTORS
                    ),
                    HubAudit::HubAuditErrors::SELECTORS
                )
            )
        );
        assert_eq!(
            IHub::IHubEvents::SELECTORS,
            union(
                &union(
                    Hub::HubEvents::SELECTORS,
                    HubExtension::HubExtensionEvents::SELECTORS
                ),
                &union(
                    &union(
                        HubSelection::HubSelectionEvents::SELECTORS,
                        HubKeepers::HubKeepersEvents::SELECTORS
                    ),
                    HubAudit::HubAuditEvents::SELECTORS
                )
            )
        );
        assert_eq!(
            IHub::IHubCalls::SELECTORS,
            union(
                &union(
                    Hub::HubCalls::SELECTORS,
                    HubExtension::HubExtensionCalls::SELECTORS
                ),
                &union(
                    &union(
                        HubSelection::HubSelectionCalls::SELECTORS,
                        HubKeepers::HubKeepersCalls::SELECTORS
                    ),
                    HubAudit::HubAuditCalls::SELECTORS
                )
            )
        );
    }
}
