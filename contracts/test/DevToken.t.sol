// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {DevToken} from "../src/DevToken.sol";

contract DevTokenTest {
    DevToken internal token;

    function setUp() public {
        token = new DevToken();
    }

    function test_faucetMints() public {
        token.faucet(address(0xBEEF), 5e9);
        require(token.balanceOf(address(0xBEEF)) == 5e9, "balance");
        require(token.totalSupply() == 5e9, "supply");
    }

    function test_faucetRefusesTooMuch() public {
        uint256 tooMuch = token.FAUCET_MAX() + 1;
        try token.faucet(address(this), tooMuch) {
            revert("expected FaucetAmountTooLarge");
        } catch (bytes memory reason) {
            require(bytes4(reason) == DevToken.FaucetAmountTooLarge.selector, "wrong error");
        }
    }
}
