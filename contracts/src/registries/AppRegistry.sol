// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {ResourceRegistry} from "./ResourceRegistry.sol";

/// @title AppRegistry
/// @notice Apps as ERC-721 tokens. An app's id is
/// `address(uint160(uint256(keccak256(abi.encode(owner, name, uri, checksum, mrenclave)))))`, so the id
/// commits to every registration field; `checksum` (sha256 of the WASI module) and `mrenclave` (TEE
/// fingerprint, 0 for none) are stored, `name` and `uri` are emitted in AppRegistered (and committed in
/// the id) rather than stored, which keeps a registration under 150k gas.
contract AppRegistry is ResourceRegistry {
    /// @notice Extra-data flag: the app has a TEE fingerprint.
    uint96 public constant FLAG_TEE = 1;

    struct App {
        bytes32 checksum;
        bytes32 mrenclave;
    }

    mapping(address => App) internal _apps;

    /// @notice The checksum was zero.
    error EmptyChecksum();

    event AppRegistered(
        address indexed app,
        address indexed owner,
        string name,
        string uri,
        bytes32 checksum,
        bytes32 mrenclave
    );

    function name() public pure override returns (string memory) {
        return "decloud apps";
    }

    function symbol() public pure override returns (string memory) {
        return "DCAPP";
    }

    /// @notice The id `register` would give for these fields when called by `owner`.
    function predictId(
        address owner,
        string calldata name_,
        string calldata uri,
        bytes32 checksum,
        bytes32 mrenclave
    ) public pure returns (address) {
        return address(uint160(uint256(keccak256(abi.encode(owner, name_, uri, checksum, mrenclave)))));
    }

    /// @notice Registers an app owned by the caller; reverts with TokenAlreadyExists on a duplicate.
    function register(string calldata name_, string calldata uri, bytes32 checksum, bytes32 mrenclave)
        external
        returns (address app)
    {
        if (checksum == 0) revert EmptyChecksum();
        app = predictId(msg.sender, name_, uri, checksum, mrenclave);
        _register(msg.sender, app, mrenclave == 0 ? 0 : FLAG_TEE);
        _apps[app].checksum = checksum;
        if (mrenclave != 0) _apps[app].mrenclave = mrenclave;
        emit AppRegistered(app, msg.sender, name_, uri, checksum, mrenclave);
    }

    /// @notice The stored fields of `app` (zeros when unregistered).
    function appInfo(address app) external view returns (address owner, bytes32 checksum, bytes32 mrenclave) {
        owner = _ownerOf(uint256(uint160(app)));
        App storage a = _apps[app];
        checksum = a.checksum;
        mrenclave = a.mrenclave;
    }
}
