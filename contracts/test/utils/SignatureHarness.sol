// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {Hub} from "../../src/Hub.sol";

/// @notice The hub itself with its internal signature check exposed, so that the off-chain check
/// (the market's, `decloud_protocol::order::recover`) can be compared with the very code that
/// accepts or refuses an order at match time (crates/chain/tests/signatures_on_chain.rs deploys it
/// from `contracts/out`). The constructor's addresses only need to be non-zero: nothing is called.
contract SignatureHarness is Hub {
    constructor() Hub(address(1), address(2), address(3), address(4), address(5)) {}

    /// @notice `Hub._isValidSig(signer, h, sign)` for every i.
    function validAll(address[] calldata signers, bytes32[] calldata hashes, bytes[] calldata signs)
        external
        view
        returns (bool[] memory out)
    {
        out = new bool[](signs.length);
        for (uint256 i; i < signs.length; ++i) {
            out[i] = _isValidSig(signers[i], hashes[i], signs[i]);
        }
    }
}
