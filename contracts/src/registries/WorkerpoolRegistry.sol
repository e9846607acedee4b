// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {ResourceRegistry} from "./ResourceRegistry.sol";

/// @title WorkerpoolRegistry
/// @notice Workerpools as ERC-721 tokens; the owner is the pool's scheduler. A workerpool's id is
/// `address(uint160(uint256(keccak256(abi.encode(owner, description, nonce)))))` where `nonce` is the
/// registry-wide count of workerpools registered before it. The policy (`workerStakeRatio`,
/// `schedulerRewardRatio`, percents) lives in the token's extra data; the hub copies it into each deal at
/// match time, so a policy change never affects a running deal.
contract WorkerpoolRegistry is ResourceRegistry {
    uint256 public count;

    /// @notice The SHA-256 fingerprint of the public key (SubjectPublicKeyInfo) of each
    /// workerpool's scheduler TLS key: workers and clients pin it and refuse any other key.
    mapping(address workerpool => bytes32 fingerprint) public schedulerKey;

    /// @notice A ratio was above 100 percent.
    error RatioTooLarge(uint256 ratio);
    /// @notice Only the workerpool's owner may change its policy.
    error NotWorkerpoolOwner(address workerpool, address caller);

    event WorkerpoolRegistered(
        address indexed workerpool,
        address indexed owner,
        string description,
        uint8 workerStakeRatio,
        uint8 schedulerRewardRatio
    );
    event WorkerpoolPolicyUpdated(
        address indexed workerpool, uint8 workerStakeRatio, uint8 schedulerRewardRatio
    );

    event SchedulerKeySet(address indexed workerpool, bytes32 fingerprint);

    function name() public pure override returns (string memory) {
        return "decloud workerpools";
    }

    function symbol() public pure override returns (string memory) {
        return "DCPOOL";
    }

    /// @notice The id the next registration by `owner` with `description` gets.
    function predictId(address owner, string calldata description) public view returns (address) {
        return address(uint160(uint256(keccak256(abi.encode(owner, description, count)))));
    }

    /// @notice Registers a workerpool owned (scheduled) by the caller.
    function register(string calldata description, uint8 workerStakeRatio, uint8 schedulerRewardRatio)
        external
        returns (address workerpool)
    {
        _checkRatios(workerStakeRatio, schedulerRewardRatio);
        workerpool = predictId(msg.sender, description);
        unchecked {
            ++count;
        }
        _register(msg.sender, workerpool, _pack(workerStakeRatio, schedulerRewardRatio));
        emit WorkerpoolRegistered(workerpool, msg.sender, description, workerStakeRatio, schedulerRewardRatio);
    }

    /// @notice Changes the policy of `workerpool` for future deals; owner only.
    function setPolicy(address workerpool, uint8 workerStakeRatio, uint8 schedulerRewardRatio) external {
        uint256 id = uint256(uint160(workerpool));
        if (ownerOf(id) != msg.sender) revert NotWorkerpoolOwner(workerpool, msg.sender);
        _checkRatios(workerStakeRatio, schedulerRewardRatio);
        _setExtraData(id, _pack(workerStakeRatio, schedulerRewardRatio));
        emit WorkerpoolPolicyUpdated(workerpool, workerStakeRatio, schedulerRewardRatio);
    }

    /// @notice Publishes the fingerprint of the TLS key `workerpool`'s scheduler presents (zero:
    /// none); owner only. Workers and clients that read it from here trust no other key.
    function setSchedulerKey(address workerpool, bytes32 fingerprint) external {
        uint256 id = uint256(uint160(workerpool));
        if (ownerOf(id) != msg.sender) revert NotWorkerpoolOwner(workerpool, msg.sender);
        schedulerKey[workerpool] = fingerprint;
        emit SchedulerKeySet(workerpool, fingerprint);
    }

    /// @notice The owner (scheduler) and policy of `workerpool`.
    function workerpoolInfo(address workerpool)
        external
        view
        returns (address owner, uint8 workerStakeRatio, uint8 schedulerRewardRatio)
    {
        uint256 id = uint256(uint160(workerpool));
        owner = _ownerOf(id);
        uint96 extra = _getExtraData(id);
        workerStakeRatio = uint8(extra);
        schedulerRewardRatio = uint8(extra >> 8);
    }

    function _checkRatios(uint8 a, uint8 b) internal pure {
        if (a > 100) revert RatioTooLarge(a);
        if (b > 100) revert RatioTooLarge(b);
    }

    function _pack(uint8 a, uint8 b) internal pure returns (uint96) {
        return uint96(a) | (uint96(b) << 8);
    }
}
