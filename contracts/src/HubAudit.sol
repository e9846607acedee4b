// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {Deal, AuditedFinalize, ReplicatedFinalize} from "./libs/Types.sol";
import {HubBase} from "./HubBase.sol";
import {HubSpot} from "./HubSpot.sol";

/// @title HubAudit
/// @notice The settlement of spot-checked tasks (finalizeAudited, releaseAudit) and the batch finalization of
/// replicated tasks (finalizeReplicatedBatch): reached through HubSelection's fallback for these three selectors
/// (HubSelection has no room left for the payment code), sharing HubBase's storage. See
/// docs/randomness.md#spot-checks.
contract HubAudit is HubSpot {
    address internal immutable _auditBeacon;

    constructor(
        address token_,
        address appRegistry_,
        address datasetRegistry_,
        address workerpoolRegistry_,
        address beacon_
    ) HubBase(token_, appRegistry_, datasetRegistry_, workerpoolRegistry_) {
        _auditBeacon = beacon_;
    }

    function _beacon() internal view override returns (address) {
        return _auditBeacon;
    }

    /// @notice The scheduler finalizes revealing task `index` of a spot-checked deal, once the audit round is on
    /// chain (RoundNotAvailable before) and either the task is not audited, or the audit reached consensus and
    /// its reveals are in (or their deadline passed), or the audit window closed without consensus (a void
    /// audit: AuditPending before). Not audited, void or agreeing: the task settles as `finalize` does, and an
    /// agreeing audit's revealed auditors share, per head with the task's winners, the workers' reward.
    /// Contradicted: the task fails, the requester and the scheduler get their locks back, every task
    /// contributor loses its stake (a revealed one, proven in the contradicted consensus, its whole score) and
    /// the revealed auditors share the seized stakes.
    function finalizeAudited(Deal calldata deal, uint256 index, AuditedFinalize calldata f)
        external
        nonReentrant
    {
        if (msg.sender != deal.scheduler) revert NotScheduler(msg.sender, deal.scheduler);
        (bytes32 dealid, bytes32 taskid, uint256 t) = _spotTask(deal, index);
        uint8 outcome;
        {
            (uint64 round, bytes32 r, uint256 closesAt) = _auditRound(deal, t);
            if (r == 0) revert RoundNotAvailable(round);
            if (_audited(r, dealid, index, deal.tag)) outcome = _auditOutcome(taskid, closesAt, f.digest);
        }
        emit TaskAudited(taskid, outcome);
        if (outcome == _CONTRADICTED) {
            _contradict(deal, taskid, t, f);
            return;
        }
        _complete(deal, taskid, t, f.callbackData);
        uint256 workersReward = deal.workerpoolPrice * (100 - deal.schedulerRewardRatio) / 100;
        uint256 schedulerReward = deal.workerpoolPrice - workersReward;
        if (outcome == _AGREED) {
            uint256 winners = t & _FLAG_REPLICATED == 0 ? 1 : (t >> 128) & _MASK16;
            uint256 part = _settleAudit(deal, taskid, f.auditors, workersReward, winners);
            workersReward -= part;
        } else if (outcome == _VOID) {
            _releaseAudit(deal, taskid, f.auditors);
        }
        if (t & _FLAG_REPLICATED == 0) {
            if (t & _FLAG_REVEALED == 0) revert NoReveal(taskid);
            _release(address(uint160(t >> 96)), deal.workerStake, workersReward);
        } else {
            schedulerReward += _payReplicated(taskid, t, workersReward, deal.workerStake, f.workers);
        }
        _payOwners(deal, schedulerReward);
        emit TaskFinalize(taskid, f.resultsLocation, f.callbackData);
        _callback(deal.callback, taskid, f.callbackData);
    }

    /// @notice `finalize` for several revealing tasks of one deal in one transaction, sent by the deal's scheduler:
    /// each element carries what `finalize` takes for its task (the contributor list is ignored at trust <= 1,
    /// where finalizeBatch is cheaper). Each task is checked and paid as `finalize` checks and pays it (the kitty
    /// pays its part once per task) and emits its TaskFinalize; the callbacks run last. One refused task reverts
    /// the whole batch with its error (the scheduler then finalizes its tasks one by one).
    function finalizeReplicatedBatch(Deal calldata deal, ReplicatedFinalize[] calldata tasks)
        external
        nonReentrant
    {
        if (msg.sender != deal.scheduler) revert NotScheduler(msg.sender, deal.scheduler);
        bytes32 dealid = _checkDeal(deal);
        if (_spotChecked(deal.tag)) revert SpotChecked(dealid);
        uint256 n = tasks.length;
        uint256 workersReward = deal.workerpoolPrice * (100 - deal.schedulerRewardRatio) / 100;
        uint256 schedulerReward = (deal.workerpoolPrice - workersReward) * n;
        bytes32[] memory taskids = new bytes32[](n);
        for (uint256 i; i < n; ++i) {
            uint256 remainder;
            (taskids[i], remainder) = _finalizeListed(deal, dealid, tasks[i], workersReward);
            schedulerReward += remainder;
        }
        _payOwners(deal, schedulerReward, n);
        if (deal.callback != address(0)) {
            for (uint256 i; i < n; ++i) {
                _callback(deal.callback, taskids[i], tasks[i].callbackData);
            }
        }
    }

    /// One task of finalizeReplicatedBatch: checked, completed, its workers paid and its TaskFinalize emitted as
    /// `finalize` does; returns its id and the rounding remainder of its workers' pay (the scheduler's).
    function _finalizeListed(
        Deal calldata deal,
        bytes32 dealid,
        ReplicatedFinalize calldata f,
        uint256 workersReward
    ) internal returns (bytes32 taskid, uint256 remainder) {
        if (f.index >= deal.volume) revert TaskIndexOutOfRange(f.index, deal.volume);
        taskid = keccak256(abi.encodePacked(dealid, f.index));
        uint256 t = _tasks[taskid];
        if (uint8(t) != STATUS_REVEALING) revert TaskNotRevealing(taskid, uint8(t));
        _complete(deal, taskid, t, f.callbackData);
        if (t & _FLAG_REPLICATED == 0) {
            if (t & _FLAG_REVEALED == 0) revert NoReveal(taskid);
            _release(address(uint160(t >> 96)), deal.workerStake, workersReward);
        } else {
            remainder = _payReplicated(taskid, t, workersReward, deal.workerStake, f.workers);
        }
        emit TaskFinalize(taskid, f.resultsLocation, f.callbackData);
    }

    /// @notice Once task `index` failed by `claim` (its final deadline passed unfinalized), anyone gives its
    /// audit's contributors, listed complete in increasing address order, their stakes back.
    function releaseAudit(Deal calldata deal, uint256 index, address[] calldata auditors)
        external
        nonReentrant
    {
        bytes32 taskid = _taskOf(deal, index);
        uint256 t = _tasks[taskid];
        if (uint8(t) != STATUS_FAILED) revert TaskNotClaimable(taskid, uint8(t));
        _releaseAudit(deal, taskid, auditors);
    }

    /// The outcome of an audited task: agreed or contradicted once the audit has consensus (`digest` must be the
    /// task's consensus digest), void once its window closed without; AuditPending before.
    function _auditOutcome(bytes32 taskid, uint256 closesAt, bytes32 digest) internal view returns (uint8) {
        bytes32 auditid = _auditId(taskid);
        if (uint8(_tasks[auditid]) == STATUS_REVEALING) {
            bytes32 rh = keccak256(abi.encodePacked(taskid, digest));
            if (_groups[keccak256(abi.encodePacked(taskid, rh))] & _GROUP_CONSENSUS == 0) {
                revert NotConsensusResult(taskid, rh);
            }
            bytes32 ah = keccak256(abi.encodePacked(auditid, digest));
            return _groups[keccak256(abi.encodePacked(auditid, ah))] & _GROUP_CONSENSUS != 0
                ? _AGREED
                : _CONTRADICTED;
        }
        if (block.timestamp < closesAt) revert AuditPending(taskid, closesAt);
        return _VOID;
    }

    /// A contradicted task: failed; the requester's price and the scheduler's stake unlocked; every contributor's
    /// stake seized (a revealed one's score to 0, the others' lowered as losers'); the revealed auditors share the
    /// seized stakes, the rounding remainder (or everything, when none revealed) to the kitty.
    function _contradict(Deal calldata deal, bytes32 taskid, uint256 t, AuditedFinalize calldata f) internal {
        _tasks[taskid] = (t & ~uint256(0xff)) | STATUS_FAILED;
        uint256 stake = deal.workerStake;
        uint256 seized;
        if (t & _FLAG_REPLICATED == 0) {
            address w = address(uint160(t >> 96));
            _spendFrozen(w, stake);
            _accounts[w] &= (1 << 224) - 1;
            seized = stake;
        } else {
            address[] calldata workers = f.workers;
            if (workers.length != ((t >> 96) & _MASK16)) revert InvalidContributorList(taskid);
            address prev;
            for (uint256 i; i < workers.length; ++i) {
                address w = workers[i];
                bytes32 ckey = keccak256(abi.encodePacked(taskid, w));
                uint256 c = _contributions[ckey];
                if (w <= prev || c == 0) revert InvalidContributorList(taskid);
                prev = w;
                _contributions[ckey] = 0;
                _spendFrozen(w, stake);
                seized += stake;
                if (uint8(c) == CONTRIBUTION_REVEALED) _accounts[w] &= (1 << 224) - 1;
                else _penalize(w);
            }
        }
        _release(deal.requester, deal.appPrice + deal.datasetPrice + deal.workerpoolPrice, 0);
        _release(deal.scheduler, deal.workerpoolPrice * SCHEDULER_STAKE_RATIO / 100, 0);
        uint256 paid = _settleAudit(deal, taskid, f.auditors, seized, 0);
        kitty += uint144(seized - paid);
    }

    /// Settles an audit that reached consensus: the contributors listed (all, in increasing address order) who
    /// revealed are paid per head, with their stake back and score + 1; the others lose their stake (added to
    /// the pot) and score as losers. The pot: `pool` when `winners` is 0 (a contradiction), else the revealed
    /// auditors' per-head share of `pool` against `winners` task winners. Returns the part of `pool` taken.
    function _settleAudit(
        Deal calldata deal,
        bytes32 taskid,
        address[] calldata auditors,
        uint256 pool,
        uint256 winners
    ) internal returns (uint256 paid) {
        bytes32 auditid = _auditId(taskid);
        uint256 a = _tasks[auditid];
        uint256 stake = deal.workerStake;
        (uint256 seized, uint256 reveals) = _auditLosers(auditid, a, auditors, stake);
        _tasks[auditid] = (a & ~uint256(0xff)) | STATUS_COMPLETED;
        if (reveals == 0) {
            kitty += uint144(seized);
            return 0;
        }
        paid = winners == 0 ? pool : pool * reveals / (reveals + winners);
        uint256 share = (paid + seized) / reveals;
        _payAuditors(auditid, auditors, stake, share);
        // what the per-head division leaves goes to the kitty
        kitty += uint144(paid + seized - share * reveals);
    }

    /// Each revealed auditor gets its stake back, `share`, and score + 1.
    function _payAuditors(bytes32 auditid, address[] calldata auditors, uint256 stake, uint256 share)
        internal
    {
        for (uint256 i; i < auditors.length; ++i) {
            address w = auditors[i];
            bytes32 ckey = keccak256(abi.encodePacked(auditid, w));
            if (uint8(_contributions[ckey]) == CONTRIBUTION_REVEALED) {
                _contributions[ckey] = 0;
                _release(w, stake, share);
                uint256 acc = _accounts[w];
                if (acc >> 224 < type(uint32).max) _accounts[w] = acc + (1 << 224);
            }
        }
    }

    /// Checks the audit's contributor list (complete, increasing); seizes the stakes of those who did not reveal and zeroes their scores
    /// (once the audit's reveals are all in, or their deadline passed: RevealsPending before).
    function _auditLosers(bytes32 auditid, uint256 a, address[] calldata auditors, uint256 stake)
        internal
        returns (uint256 seized, uint256 reveals)
    {
        if (auditors.length != ((a >> 96) & _MASK16)) revert InvalidContributorList(auditid);
        address prev;
        for (uint256 i; i < auditors.length; ++i) {
            address w = auditors[i];
            if (w <= prev) revert InvalidContributorList(auditid);
            prev = w;
            if (uint8(_contributions[keccak256(abi.encodePacked(auditid, w))]) == CONTRIBUTION_REVEALED) {
                ++reveals;
            }
        }
        uint256 expected = (a >> 128) & _MASK16;
        if (reveals < expected && block.timestamp < ((a >> 56) & _MASK40)) {
            revert RevealsPending(auditid, reveals, expected);
        }
        for (uint256 i; i < auditors.length; ++i) {
            bytes32 ckey = keccak256(abi.encodePacked(auditid, auditors[i]));
            uint256 c = _contributions[ckey];
            if (c == 0) revert InvalidContributorList(auditid);
            if (uint8(c) != CONTRIBUTION_REVEALED) {
                _contributions[ckey] = 0;
                _spendFrozen(auditors[i], stake);
                // an auditor that dissents from (or hides from) the audit's certified result loses its whole score
                _accounts[auditors[i]] &= (1 << 224) - 1;
                seized += stake;
            }
        }
    }

    /// A void audit (or one whose task was claimed): every contributor listed (all, increasing) gets its stake
    /// back; the audit is closed.
    function _releaseAudit(Deal calldata deal, bytes32 taskid, address[] calldata auditors) internal {
        bytes32 auditid = _auditId(taskid);
        uint256 a = _tasks[auditid];
        uint8 status = uint8(a);
        if (status == STATUS_COMPLETED || status == STATUS_FAILED) revert TaskNotActive(auditid, status);
        if (auditors.length != ((a >> 96) & _MASK16)) revert InvalidContributorList(auditid);
        address prev;
        for (uint256 i; i < auditors.length; ++i) {
            address w = auditors[i];
            bytes32 ckey = keccak256(abi.encodePacked(auditid, w));
            if (w <= prev || _contributions[ckey] == 0) revert InvalidContributorList(auditid);
            prev = w;
            _contributions[ckey] = 0;
            _release(w, deal.workerStake, 0);
        }
        if (a != 0) _tasks[auditid] = (a & ~uint256(0xff)) | STATUS_FAILED;
    }
}
