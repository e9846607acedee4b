//! Rust bindings of the protocol contracts, generated at compile time from the committed
//! artifacts in `contracts/artifacts/` (so building needs no Node and no solc). Each binding
//! carries its ABI and creation bytecode: `DevToken::deploy(&provider)` deploys it.

alloy::sol!(
    #[sol(rpc)]
    #[derive(Debug)]
    DevToken,
    "../../contracts/artifacts/DevToken.json"
);
