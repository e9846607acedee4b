// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {ERC20} from "solady/tokens/ERC20.sol";

/// @title DevToken
/// @notice The devnet's escrow token: a plain ERC-20 with 9 decimals (prices are quoted in nano-units,
/// as iExec quotes nRLC) and a rate-limited faucet so that anyone on a devnet can get funds.
/// Production deployments point the hub at an existing token instead.
contract DevToken is ERC20 {
    /// @notice Most a single faucet call hands out: 1,000,000 whole tokens.
    uint256 public constant FAUCET_MAX = 1_000_000 * 1e9;

    /// @notice The faucet was asked for more than FAUCET_MAX in one call.
    error FaucetAmountTooLarge(uint256 requested, uint256 max);

    function name() public pure override returns (string memory) {
        return "decloud devnet token";
    }

    function symbol() public pure override returns (string memory) {
        return "DCT";
    }

    function decimals() public pure override returns (uint8) {
        return 9;
    }

    /// @notice Mints `amount` to `to`; devnet only, so there is no owner to ask.
    function faucet(address to, uint256 amount) external {
        if (amount > FAUCET_MAX) revert FaucetAmountTooLarge(amount, FAUCET_MAX);
        _mint(to, amount);
    }
}
