// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {ECDSA} from "solady/utils/ECDSA.sol";
import {SafeTransferLib} from "solady/utils/SafeTransferLib.sol";
import {Delivery, DeliveryHash} from "./Delivery.sol";
import {IResultReceiver} from "../interfaces/IResultReceiver.sol";

/// @title Committee
/// @notice The source-chain end of proxy tasks: staked signers who sign each certified result as a
/// `Delivery` for a destination gateway. A proxy deal names this contract as its `callback`, so the hub
/// hands it each finalized task's callback data (whose keccak256 the hub checked against the consensus
/// digest): `certified(taskid)` is then the only digest a member may sign for the task. A member who signs
/// two different digests for one task (equivocation), or a digest other than the certified one, loses its
/// whole stake: half to whoever brings the two signatures, half burnt (kept here forever). Members leave
/// after an unbonding delay, so evidence can still reach them. See docs/oracles.md.
contract Committee is IResultReceiver {
    /// @notice A member's stake and its leaving time (0: staying).
    struct Member {
        uint256 stake;
        uint64 leavingAt;
        bool listed;
    }

    /// @notice The hub whose results are certified (only it may call `receiveResult`).
    address public immutable hub;
    /// @notice The staking token (the hub's escrow token).
    address public immutable token;
    /// @notice Smallest stake a member locks.
    uint256 public immutable minStake;
    /// @notice Seconds between `leave` and `withdraw`.
    uint64 public immutable unbonding;

    /// @notice Members by address.
    mapping(address => Member) public memberOf;
    /// @notice Every address that ever joined, in order (the active ones have stake and no leavingAt).
    address[] internal _joined;
    /// @notice keccak256 of each finalized proxy task's callback data, as the hub delivered it.
    mapping(bytes32 taskid => bytes32 digest) public certified;
    /// @notice Stakes seized and not paid to reporters (burnt).
    uint256 public burnt;

    /// @notice A member joined or added stake.
    event MemberJoined(address indexed member, uint256 stake);
    /// @notice A member will be able to withdraw at `at`.
    event MemberLeaving(address indexed member, uint64 at);
    /// @notice A member withdrew its stake.
    event MemberLeft(address indexed member, uint256 stake);
    /// @notice A member was slashed on evidence brought by `reporter`.
    event MemberSlashed(
        address indexed member, bytes32 indexed taskid, address indexed reporter, uint256 stake
    );
    /// @notice The hub certified a proxy task's result.
    event Certified(bytes32 indexed taskid, bytes32 digest);

    /// @notice The stake is below the minimum.
    error StakeTooLow(uint256 stake, uint256 minStake);
    /// @notice Not an active member (or already leaving).
    error NotActive(address account);
    /// @notice The unbonding delay has not passed.
    error StillBonded(uint64 at);
    /// @notice Only the hub calls `receiveResult`.
    error NotHub(address caller);
    /// @notice The two statements do not convict: different tasks or sources, the same digest, different
    /// signers, or a signer with no stake.
    error NoEquivocation();
    /// @notice The statement agrees with the certified digest, or the task is not certified yet.
    error NotWrong(bytes32 taskid);

    constructor(address hub_, address token_, uint256 minStake_, uint64 unbonding_) {
        hub = hub_;
        token = token_;
        minStake = minStake_;
        unbonding = unbonding_;
    }

    /// @notice Joins (or adds to one's stake) with `amount` tokens (approve this contract first).
    function join(uint256 amount) external {
        Member storage m = memberOf[msg.sender];
        if (m.leavingAt != 0) revert NotActive(msg.sender);
        uint256 stake = m.stake + amount;
        if (stake < minStake) revert StakeTooLow(stake, minStake);
        if (!m.listed) {
            m.listed = true;
            _joined.push(msg.sender);
        }
        m.stake = stake;
        SafeTransferLib.safeTransferFrom(token, msg.sender, address(this), amount);
        emit MemberJoined(msg.sender, stake);
    }

    /// @notice Starts leaving: stops being a member now, may withdraw after the unbonding delay.
    function leave() external {
        Member storage m = memberOf[msg.sender];
        if (m.stake == 0 || m.leavingAt != 0) revert NotActive(msg.sender);
        m.leavingAt = uint64(block.timestamp) + unbonding;
        emit MemberLeaving(msg.sender, m.leavingAt);
    }

    /// @notice Withdraws the stake after the unbonding delay.
    function withdraw() external {
        Member storage m = memberOf[msg.sender];
        if (m.leavingAt == 0 || m.stake == 0) revert NotActive(msg.sender);
        if (block.timestamp < m.leavingAt) revert StillBonded(m.leavingAt);
        uint256 stake = m.stake;
        m.stake = 0;
        m.leavingAt = 0;
        SafeTransferLib.safeTransfer(token, msg.sender, stake);
        emit MemberLeft(msg.sender, stake);
    }

    /// @notice Active members (staked and not leaving), the committee the gateways mirror.
    function members() external view returns (address[] memory active) {
        address[] memory all = _joined;
        active = new address[](all.length);
        uint256 n;
        for (uint256 i; i < all.length; ++i) {
            Member storage m = memberOf[all[i]];
            if (m.stake != 0 && m.leavingAt == 0) active[n++] = all[i];
        }
        assembly ("memory-safe") {
            mstore(active, n)
        }
    }

    /// @inheritdoc IResultReceiver
    function receiveResult(bytes32 taskid, bytes calldata result) external {
        if (msg.sender != hub) revert NotHub(msg.sender);
        bytes32 digest = keccak256(result);
        certified[taskid] = digest;
        emit Certified(taskid, digest);
    }

    /// @notice Who signed `d` for the gateway `gateway` on chain `chainId` (0 for a bad signature).
    function signerOf(Delivery calldata d, uint256 chainId, address gateway, bytes calldata sig)
        public
        view
        returns (address)
    {
        return ECDSA.tryRecoverCalldata(DeliveryHash.typed(DeliveryHash.domain(chainId, gateway), d), sig);
    }

    /// @notice Slashes the member who signed two different digests for one task of one source hub (each
    /// statement for any destination chain and gateway).
    function slashEquivocation(
        Delivery calldata a,
        uint256 chainA,
        address gatewayA,
        bytes calldata sigA,
        Delivery calldata b,
        uint256 chainB,
        address gatewayB,
        bytes calldata sigB
    ) external {
        address signer = signerOf(a, chainA, gatewayA, sigA);
        if (
            signer == address(0) || a.taskid != b.taskid || a.sourceChainId != b.sourceChainId
                || a.sourceHub != b.sourceHub || a.digest == b.digest
                || signerOf(b, chainB, gatewayB, sigB) != signer
        ) revert NoEquivocation();
        _slash(signer, a.taskid);
    }

    /// @notice Slashes the member who signed, for a task of this chain's hub, a digest other than the one the
    /// hub certified.
    function slashWrongDigest(Delivery calldata d, uint256 chainId, address gateway, bytes calldata sig)
        external
    {
        bytes32 good = certified[d.taskid];
        if (good == bytes32(0) || d.digest == good || d.sourceChainId != block.chainid || d.sourceHub != hub)
        {
            revert NotWrong(d.taskid);
        }
        address signer = signerOf(d, chainId, gateway, sig);
        if (signer == address(0)) revert NotWrong(d.taskid);
        _slash(signer, d.taskid);
    }

    function _slash(address signer, bytes32 taskid) private {
        Member storage m = memberOf[signer];
        uint256 stake = m.stake;
        if (stake == 0) revert NoEquivocation();
        m.stake = 0;
        // A slashed member is out; what it staked again would need a new join.
        m.leavingAt = 0;
        uint256 reward = stake / 2;
        burnt += stake - reward;
        SafeTransferLib.safeTransfer(token, msg.sender, reward);
        emit MemberSlashed(signer, taskid, msg.sender, stake);
    }
}
