// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {AppOrder, DatasetOrder, WorkerpoolOrder, RequestOrder, Deal} from "./Types.sol";

/// @title Orders
/// @notice EIP-712 struct hashes of the four order types (the `sign` field is not hashed) and the hash
/// of a deal. Hashes copy the ABI head of the calldata struct in one go instead of re-encoding each field.
library Orders {
    bytes32 internal constant APP_TYPEHASH = keccak256(
        "AppOrder(address app,uint256 appprice,uint256 volume,bytes32 tag,address datasetrestrict,address workerpoolrestrict,address requesterrestrict,uint256 expiry,bytes32 salt)"
    );
    bytes32 internal constant DATASET_TYPEHASH = keccak256(
        "DatasetOrder(address dataset,uint256 datasetprice,uint256 volume,bytes32 tag,address apprestrict,address workerpoolrestrict,address requesterrestrict,uint256 expiry,bytes32 salt)"
    );
    bytes32 internal constant WORKERPOOL_TYPEHASH = keccak256(
        "WorkerpoolOrder(address workerpool,uint256 workerpoolprice,uint256 volume,bytes32 tag,uint256 category,uint256 trust,address apprestrict,address datasetrestrict,address requesterrestrict,uint256 expiry,bytes32 salt)"
    );
    bytes32 internal constant REQUEST_TYPEHASH = keccak256(
        "RequestOrder(address app,uint256 appmaxprice,address dataset,uint256 datasetmaxprice,address workerpool,uint256 workerpoolmaxprice,address requester,uint256 volume,bytes32 tag,uint256 category,uint256 trust,address beneficiary,address callback,string params,uint256 expiry,bytes32 salt)"
    );

    function hash(AppOrder calldata o) internal pure returns (bytes32 h) {
        // Reading the fields makes the ABI decoder reject dirty address bits before they are hashed raw.
        _touch(o.app, o.datasetrestrict, o.workerpoolrestrict, o.requesterrestrict);
        uint256 head;
        assembly ("memory-safe") {
            head := o
        }
        return _hashHead(APP_TYPEHASH, head, 0x120); // 9 static words
    }

    function hash(DatasetOrder calldata o) internal pure returns (bytes32 h) {
        _touch(o.dataset, o.apprestrict, o.workerpoolrestrict, o.requesterrestrict);
        uint256 head;
        assembly ("memory-safe") {
            head := o
        }
        return _hashHead(DATASET_TYPEHASH, head, 0x120);
    }

    function hash(WorkerpoolOrder calldata o) internal pure returns (bytes32 h) {
        _touch(o.workerpool, o.apprestrict, o.datasetrestrict, o.requesterrestrict);
        uint256 head;
        assembly ("memory-safe") {
            head := o
        }
        return _hashHead(WORKERPOOL_TYPEHASH, head, 0x160); // 11 static words
    }

    function hash(RequestOrder calldata o) internal pure returns (bytes32 h) {
        _touch(o.app, o.dataset, o.workerpool, o.requester);
        _touch(o.beneficiary, o.callback, address(0), address(0));
        bytes32 paramsHash = keccak256(bytes(o.params));
        bytes32 typehash = REQUEST_TYPEHASH;
        assembly ("memory-safe") {
            let m := mload(0x40)
            mstore(m, typehash)
            calldatacopy(add(m, 0x20), o, 0x200) // 16 head words, word 13 is the offset of params
            mstore(add(m, 0x1c0), paramsHash) // 0x20 + 13 * 0x20
            h := keccak256(m, 0x220)
        }
    }

    /// @notice keccak256(abi.encode(deal)), computed on the calldata copy.
    function hash(Deal calldata d) internal pure returns (bytes32 h) {
        assembly ("memory-safe") {
            let m := mload(0x40)
            calldatacopy(m, d, 0x2a0) // 21 words
            h := keccak256(m, 0x2a0)
        }
    }

    function hashMemory(Deal memory d) internal pure returns (bytes32 h) {
        assembly ("memory-safe") {
            h := keccak256(d, 0x2a0)
        }
    }

    /// keccak256(typehash ‖ the `size` bytes of calldata at `head`): the struct hash of an order whose
    /// fields are all static words.
    function _hashHead(bytes32 typehash, uint256 head, uint256 size) private pure returns (bytes32 h) {
        assembly ("memory-safe") {
            let m := mload(0x40)
            mstore(m, typehash)
            calldatacopy(add(m, 0x20), head, size)
            h := keccak256(m, add(size, 0x20))
        }
    }

    function _touch(address, address, address, address) private pure {}
}
