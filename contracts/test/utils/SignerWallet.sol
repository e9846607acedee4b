// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @notice A minimal ERC-1271 contract wallet for off-chain tests (the SMS's owner check): it
/// accepts a signature over a hash when its deployer's key made it, and says no otherwise.
contract SignerWallet {
    address public immutable owner;

    constructor() {
        owner = msg.sender;
    }

    function isValidSignature(bytes32 h, bytes calldata sig) external view returns (bytes4) {
        if (sig.length != 65) return bytes4(0xffffffff);
        (bytes32 r, bytes32 s) = abi.decode(sig[:64], (bytes32, bytes32));
        uint8 v = uint8(sig[64]);
        return ecrecover(h, v, r, s) == owner ? bytes4(0x1626ba7e) : bytes4(0xffffffff);
    }
}
