// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {ResourceRegistry} from "./ResourceRegistry.sol";
import {IAppTee} from "../interfaces/IResourceRegistry.sol";

/// @title AppRegistry
/// @notice Apps as ERC-721 tokens. An app's id is
/// `address(uint160(uint256(keccak256(abi.encode(owner, name, uri, checksum, mrenclave)))))`, so the id
/// commits to every registration field; `checksum` (sha256 of the WASI module) and `mrenclave` (TEE
/// fingerprint, 0 for none) are stored, `name` and `uri` are emitted in AppRegistered (and committed in
/// the id) rather than stored, which keeps a registration under 150k gas.
contract AppRegistry is ResourceRegistry, IAppTee {
    /// @notice Extra-data flag: the app has a TEE fingerprint.
    uint96 public constant FLAG_TEE = 1;

    struct App {
        bytes32 checksum;
        bytes32 mrenclave;
    }

    mapping(address => App) internal _apps;

    /// @notice Extra-data bits 1-3: the TCB statuses (1 SW hardening needed, 2 configuration needed, 3 out
    /// of date) an app's enclaves may have besides up to date.
    uint96 public constant TCB_POLICY_MASK = 0xE;

    /// @notice The checksum was zero.
    error EmptyChecksum();
    /// @notice Only the app's owner sets its TCB policy.
    error NotAppOwner(address app, address caller);
    /// @notice The app has no mrenclave: it runs no enclave to have a TCB policy for.
    error NotTeeApp(address app);
    /// @notice The policy sets bits other than 1-3.
    error InvalidTcbPolicy(uint256 policy);

    /// @notice The app's owner changed the TCB statuses its enclaves may have (bits 1-3, see TCB_POLICY_MASK).
    event TcbPolicySet(address indexed app, uint256 policy);

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

    /// @notice The app's owner accepts enclaves whose TCB status is one of the bits of `policy` (bit s =
    /// status s, s in 1..3) besides up to date, which is always accepted; 0 accepts up to date only (the
    /// default). The hub reads the policy when it counts attestations, so a change applies to the app's
    /// tasks not yet contributed.
    function setTcbPolicy(address app, uint256 policy) external {
        uint256 id = uint256(uint160(app));
        if (_ownerOf(id) != msg.sender || msg.sender == address(0)) revert NotAppOwner(app, msg.sender);
        if (_getExtraData(id) & FLAG_TEE == 0) revert NotTeeApp(app);
        if (policy & ~uint256(TCB_POLICY_MASK) != 0) revert InvalidTcbPolicy(policy);
        _setExtraData(id, FLAG_TEE | uint96(policy));
        emit TcbPolicySet(app, policy);
    }

    /// @notice The TCB statuses besides up to date that `app`'s enclaves may have (bits 1-3).
    function tcbPolicy(address app) external view returns (uint256) {
        return _getExtraData(uint256(uint160(app))) & TCB_POLICY_MASK;
    }

    /// @inheritdoc IAppTee
    function mrenclaveOf(address app) external view returns (bytes32) {
        return _apps[app].mrenclave;
    }

    /// @notice The stored fields of `app` (zeros when unregistered).
    function appInfo(address app) external view returns (address owner, bytes32 checksum, bytes32 mrenclave) {
        owner = _ownerOf(uint256(uint160(app)));
        App storage a = _apps[app];
        checksum = a.checksum;
        mrenclave = a.mrenclave;
    }
}
