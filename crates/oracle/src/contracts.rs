//! Bindings of the oracle contracts, from the committed artifacts: the gateway and its work passes
//! on the destination chain, the committee on the source chain, and the example feeds.

// The generated constructors and calls take one argument per Solidity parameter.
#![allow(clippy::too_many_arguments)]
#![allow(missing_docs)]

alloy::sol!(
    #[sol(rpc)]
    #[derive(Debug)]
    Gateway,
    "../../contracts/artifacts/Gateway.json"
);

alloy::sol!(
    #[sol(rpc)]
    #[derive(Debug)]
    WorkPasses,
    "../../contracts/artifacts/WorkPasses.json"
);

alloy::sol!(
    #[sol(rpc)]
    #[derive(Debug)]
    Committee,
    "../../contracts/artifacts/Committee.json"
);

alloy::sol!(
    #[sol(rpc)]
    #[derive(Debug)]
    SingleResultFeed,
    "../../contracts/artifacts/SingleResultFeed.json"
);

alloy::sol!(
    #[sol(rpc)]
    #[derive(Debug)]
    MedianFeed,
    "../../contracts/artifacts/MedianFeed.json"
);

alloy::sol!(
    #[sol(rpc)]
    #[derive(Debug)]
    StakeVoteFeed,
    "../../contracts/artifacts/StakeVoteFeed.json"
);
