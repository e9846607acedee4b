//! Rust bindings of the protocol contracts, generated at compile time from the committed
//! artifacts in `contracts/artifacts/` (so building needs no Node and no solc). Each binding
//! carries its ABI and creation bytecode: `DevToken::deploy(&provider)` deploys it.
//!
//! The hub is two contracts sharing one address: `Hub` (escrow, matching, the task hot path)
//! and `HubExtension` (administration, categories, order presign/cancel and hashes, views,
//! `reopen`, `claim`), which the hub reaches through its fallback by delegatecall. Bind
//! `HubExtension::new(contracts.hub, provider)` for the latter: never the extension's own
//! address. Both carry every hub event and error. See docs/protocol.md.

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
    Hub,
    "../../contracts/artifacts/Hub.json"
);

alloy::sol!(
    #[sol(rpc)]
    #[derive(Debug)]
    HubExtension,
    "../../contracts/artifacts/HubExtension.json"
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
