// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {Beacon} from "../../src/beacon/Beacon.sol";

/// A beacon with evmnet's key whose rounds a test may also store directly (`put`), to reach waves and rounds
/// for which no real signature is at hand; the real-signature refusals run against `submit` itself.
contract BeaconWithPut is Beacon {
    constructor(uint256[4] memory pk, uint64 genesis_, uint64 period_) Beacon(pk, genesis_, period_) {}

    function put(uint64 round, bytes32 value) external {
        randomness[round] = value;
    }
}
