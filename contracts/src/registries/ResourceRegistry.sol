// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {ERC721} from "solady/tokens/ERC721.sol";
import {IResourceRegistry} from "../interfaces/IResourceRegistry.sol";

/// @title ResourceRegistry
/// @notice Common base of the app, dataset and workerpool registries. A resource is an ERC-721 token;
/// its identifier is an `address` derived from the registration data (no per-resource contract),
/// and the token id is `uint256(uint160(id))`. The registry-specific flags the hub needs at match time
/// live in the 96 bits of ERC-721 extra data beside the owner, so the hub reads owner and flags with one
/// storage read.
abstract contract ResourceRegistry is ERC721, IResourceRegistry {
    /// @inheritdoc IResourceRegistry
    function ownerInfo(address id) external view returns (address owner, uint96 extra) {
        owner = _ownerOf(uint256(uint160(id)));
        extra = _getExtraData(uint256(uint160(id)));
    }

    /// @notice Whether `id` is registered.
    function exists(address id) external view returns (bool) {
        return _exists(uint256(uint160(id)));
    }

    /// @notice The owner of resource `id` (reverts with TokenDoesNotExist if unknown).
    function ownerOfResource(address id) external view returns (address) {
        return ownerOf(uint256(uint160(id)));
    }

    function tokenURI(uint256 id) public view override returns (string memory) {
        if (!_exists(id)) revert TokenDoesNotExist();
        return "";
    }

    /// @dev Mints `id` to `owner` with `extra` flags; reverts with TokenAlreadyExists on a duplicate.
    function _register(address owner, address id, uint96 extra) internal {
        _mint(owner, uint256(uint160(id)));
        if (extra != 0) _setExtraData(uint256(uint160(id)), extra);
    }
}
