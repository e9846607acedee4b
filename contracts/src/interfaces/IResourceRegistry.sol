// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

/// @title IResourceRegistry
/// @notice What the hub reads from the app, dataset and workerpool registries.
interface IResourceRegistry {
    /// @notice The owner of resource `id` (address(0) when unregistered) and its registry-specific flags:
    /// apps: bit 0 = has a TEE fingerprint (mrenclave != 0), bits 1-3 = TCB statuses 1-3 its enclaves may
    /// have (see AppRegistry.setTcbPolicy); datasets: 0; workerpools:
    /// bits 0-7 = workerStakeRatio (percent), bits 8-15 = schedulerRewardRatio (percent).
    function ownerInfo(address id) external view returns (address owner, uint96 extra);
}

/// @title IAppTee
/// @notice What the hub reads of a TEE app when it counts attestations: the accepted enclave measurement.
/// The app's TCB policy is in its `ownerInfo` flags (bits 1-3: TCB statuses 1-3 accepted besides
/// up to date).
interface IAppTee {
    /// @notice The app's mrenclave (the runner measurement its enclaves must have; 0 for a non-TEE app).
    function mrenclaveOf(address app) external view returns (bytes32);
}
