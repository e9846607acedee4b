// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {OracleFeed} from "./OracleFeed.sol";

/// @title SingleResultFeed
/// @notice Acceptance by one certified result: each delivered result is published at once (the trust is
/// the source task's: its Proof-of-Contribution or its enclave, and the committee's signatures).
contract SingleResultFeed is OracleFeed {
    constructor(address gateway_, bytes32 feedId_, address owner_) OracleFeed(gateway_, feedId_, owner_) {}

    function _accept(bytes32, address, bytes32 round, int256 value) internal override {
        _publish(round, value);
    }
}
