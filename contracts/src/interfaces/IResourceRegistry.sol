// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

/// @title IResourceRegistry
/// @notice What the hub reads from the app, dataset and workerpool registries.
interface IResourceRegistry {
    /// @notice The owner of resource `id` (address(0) when unregistered) and its registry-specific flags:
    /// apps: bit 0 = has a TEE fingerprint (mrenclave != 0); datasets: 0; workerpools:
    /// bits 0-7 = workerStakeRatio (percent), bits 8-15 = schedulerRewardRatio (percent).
    function ownerInfo(address id) external view returns (address owner, uint96 extra);
}
