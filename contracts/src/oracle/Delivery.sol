// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

/// @notice A certified result of a proxy task on a source chain A, addressed to a consumer on a
/// destination chain B, with its traceability. Committee members sign it with EIP-712 in the domain of
/// the destination's gateway (`name="decloud-gateway"`, `version="1"`, chainId = B, verifyingContract =
/// the gateway), so a signature is good for one chain and one gateway only. The callback data travels
/// beside the struct: `digest` is its keccak256 (what the source hub certified for a callback deal).
struct Delivery {
    uint256 sourceChainId;
    address sourceHub;
    bytes32 dealid;
    bytes32 taskid;
    address app;
    address dataset;
    address workerpool;
    bytes32 tag;
    uint256 trust;
    bytes32 digest;
    address consumer;
    bytes4 method;
    uint256 gasLimit;
}

/// @title DeliveryHash
/// @notice EIP-712 hashing of a `Delivery`, shared by the gateway (on B) and the committee (on A, which
/// checks signatures made for B's domain when it slashes).
library DeliveryHash {
    bytes32 internal constant TYPEHASH = keccak256(
        "Delivery(uint256 sourceChainId,address sourceHub,bytes32 dealid,bytes32 taskid,address app,address dataset,address workerpool,bytes32 tag,uint256 trust,bytes32 digest,address consumer,bytes4 method,uint256 gasLimit)"
    );
    bytes32 internal constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    bytes32 internal constant NAME_HASH = keccak256("decloud-gateway");
    bytes32 internal constant VERSION_HASH = keccak256("1");

    /// @notice The domain separator of the gateway `gateway` on chain `chainId`.
    function domain(uint256 chainId, address gateway) internal pure returns (bytes32) {
        return keccak256(abi.encode(DOMAIN_TYPEHASH, NAME_HASH, VERSION_HASH, chainId, gateway));
    }

    /// @notice hashStruct(d).
    function structHash(Delivery calldata d) internal pure returns (bytes32 h) {
        // abi.encode of the 13 static fields after the typehash is exactly EIP-712's encodeData
        // (bytes4 is left-aligned in both).
        bytes32 t = TYPEHASH;
        assembly ("memory-safe") {
            let m := mload(0x40)
            mstore(m, t)
            calldatacopy(add(m, 0x20), d, 0x1a0)
            h := keccak256(m, 0x1c0)
        }
    }

    /// @notice The digest a member signs: keccak256("\x19\x01" ‖ domain ‖ hashStruct(d)).
    function typed(bytes32 domainSeparator, Delivery calldata d) internal pure returns (bytes32 h) {
        bytes32 s = structHash(d);
        assembly ("memory-safe") {
            let m := mload(0x40)
            mstore(m, 0x1901)
            mstore(add(m, 0x20), domainSeparator)
            mstore(add(m, 0x40), s)
            h := keccak256(add(m, 0x1e), 0x42)
        }
    }
}
