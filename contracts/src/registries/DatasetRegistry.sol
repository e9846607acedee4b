// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {ResourceRegistry} from "./ResourceRegistry.sol";

/// @title DatasetRegistry
/// @notice Datasets as ERC-721 tokens. A dataset's id is
/// `address(uint160(uint256(keccak256(abi.encode(owner, name, uri, checksum)))))`; `checksum` is stored,
/// `name` and `uri` are emitted in DatasetRegistered (and committed in the id).
contract DatasetRegistry is ResourceRegistry {
    mapping(address => bytes32) internal _checksums;

    /// @notice The checksum was zero.
    error EmptyChecksum();

    event DatasetRegistered(
        address indexed dataset, address indexed owner, string name, string uri, bytes32 checksum
    );

    function name() public pure override returns (string memory) {
        return "decloud datasets";
    }

    function symbol() public pure override returns (string memory) {
        return "DCDATA";
    }

    /// @notice The id `register` would give for these fields when called by `owner`.
    function predictId(address owner, string calldata name_, string calldata uri, bytes32 checksum)
        public
        pure
        returns (address)
    {
        return address(uint160(uint256(keccak256(abi.encode(owner, name_, uri, checksum)))));
    }

    /// @notice Registers a dataset owned by the caller; reverts with TokenAlreadyExists on a duplicate.
    function register(string calldata name_, string calldata uri, bytes32 checksum)
        external
        returns (address dataset)
    {
        if (checksum == 0) revert EmptyChecksum();
        dataset = predictId(msg.sender, name_, uri, checksum);
        _register(msg.sender, dataset, 0);
        _checksums[dataset] = checksum;
        emit DatasetRegistered(dataset, msg.sender, name_, uri, checksum);
    }

    /// @notice The stored fields of `dataset` (zeros when unregistered).
    function datasetInfo(address dataset) external view returns (address owner, bytes32 checksum) {
        owner = _ownerOf(uint256(uint160(dataset)));
        checksum = _checksums[dataset];
    }
}
