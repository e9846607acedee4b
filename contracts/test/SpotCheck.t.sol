// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {Fixture} from "./utils/Fixture.sol";
import {IHubErrors} from "../src/interfaces/IHub.sol";
import {Draw} from "../src/libs/Draw.sol";
import {Deal, DrawProof, DatasetOrder, AuditedFinalize} from "../src/libs/Types.sol";
import {HubAudit} from "../src/HubAudit.sol";

/// Spot checks (HubSelection's contributeAudit, HubAudit's finalizeAudited): a task of a random deal with q in
/// its tag is audited or not by the beacon round due after its consensus; the auditors are drawn from that
/// round, skipping the task's contributors; a contradicted task fails and its contributors are slashed.
contract SpotCheckTest is Fixture {
    bytes32 internal constant TAG_RANDOM = bytes32(uint256(2));
    uint256 internal constant MIN = 50e9;
    uint256 internal constant TRUST = 3; // two contributors, two auditors
    uint256 internal constant ACCOUNTS_SLOT = 3; // HubBase._accounts

    HubAudit internal aud; // the hub's address seen through the audits' facet ABI
    Draw.Worker[] internal _snap;
    Deal internal _deal;
    bytes32 internal constant TRUTH = keccak256("truth");
    bytes32 internal constant LIE = keccak256("lie");

    function setUp() public override {
        super.setUp();
        aud = HubAudit(address(hub));
        vm.prank(scheduler);
        hubx.setMinWorkerStake(pool, MIN);
        for (uint256 i; i < 6; ++i) {
            vm.prank(workers[i]);
            hubx.joinPool(pool, MIN + i * 10e9);
        }
    }

    // ---- helpers ---------------------------------------------------------------------------------

    function _members() internal view returns (address[] memory l) {
        l = new address[](6);
        for (uint256 i; i < 6; ++i) {
            l[i] = workers[i];
        }
        _sort(l);
    }

    function _sort(address[] memory l) internal pure {
        for (uint256 i = 1; i < l.length; ++i) {
            for (uint256 j = i; j > 0 && l[j] < l[j - 1]; --j) {
                (l[j], l[j - 1]) = (l[j - 1], l[j]);
            }
        }
    }

    function _spotTag(uint256 q) internal pure returns (bytes32) {
        return TAG_RANDOM | bytes32(q << 16);
    }

    /// A random deal at TRUST with spot-check byte `q`, its snapshot kept.
    function _spotDeal(uint256 q) internal returns (Deal memory d) {
        sel.commitSnapshot(pool, _members());
        address[] memory l = _members();
        delete _snap;
        for (uint256 i; i < l.length; ++i) {
            (uint256 stake,,,,) = hubx.poolMember(pool, l[i]);
            _snap.push(Draw.Worker(l[i], stake, sel.workerCluster(pool, l[i])));
        }
        // a time the beacon's clock covers (evmnet's genesis is in 2024)
        vm.warp(beacon.roundTime(10_000_000));
        DatasetOrder memory none;
        d = _match(
            _appOrder(app, 1),
            none,
            _poolOrder(1, TRUST, _spotTag(q)),
            _requestOrder(app, address(0), 1, TRUST, _spotTag(q), address(0))
        );
        _deal = d;
    }

    function _proof(uint256 position) internal view returns (DrawProof memory p) {
        p.wave = 0;
        p.position = position;
        p.snapshot = _snap;
    }

    /// Wave 0's round set to `seed`'s randomness; the two workers first chosen contribute `digest` and reach
    /// consensus. Returns them in address order.
    function _contributeTask(Deal memory d, bytes32 digest) internal returns (address[] memory c) {
        (uint64 round, uint256 opensAt,) = sel.wave(d, 0);
        // the wave's round is published at its time, not before (the beacon refuses a round ahead of time)
        vm.warp(beacon.roundTime(round) > opensAt ? beacon.roundTime(round) : opensAt);
        beacon.put(round, keccak256("wave 0"));
        (uint256[] memory idx, bool[] memory chosen) =
            Draw.draw(beacon.randomness(round), _dealId(d), 0, 8, _snap);
        c = new address[](2);
        uint256 n;
        for (uint256 j; j < 8 && n < 2; ++j) {
            if (!chosen[j]) continue;
            c[n++] = _snap[idx[j]].worker;
            _contributeDrawnAt(d, c[n - 1], j, digest);
        }
        assertEq(n, 2, "two drawn contributors");
        assertEq(hubx.task(_taskId(d, 0)).status, 2, "consensus");
        _sort(c);
    }

    function _contributeDrawnAt(Deal memory d, address w, uint256 j, bytes32 digest) internal {
        bytes32 taskid = _taskId(d, 0);
        DrawProof memory p = _proof(j);
        vm.prank(w);
        sel.contributeDrawn(d, 0, _resultHash(taskid, digest), _resultSeal(w, taskid, digest), p);
    }

    function _auditRound(Deal memory d) internal view returns (uint64 round) {
        (, round,,) = sel.audit(d, 0);
    }

    /// A randomness for the audit round that audits the task (`audited`) or not, under spot-check byte q.
    function _pickRandomness(Deal memory d, uint256 q, bool audited) internal pure returns (bytes32 r) {
        for (uint256 k;; ++k) {
            r = keccak256(abi.encode("audit randomness", k));
            bool a = uint256(keccak256(abi.encodePacked(r, _dealId(d), uint256(0), "audit"))) >> 248 < q;
            if (a == audited) return r;
        }
    }

    function _contributed(address w, address[] memory c) internal pure returns (bool) {
        for (uint256 i; i < c.length; ++i) {
            if (c[i] == w) return true;
        }
        return false;
    }

    /// The audit's positions (not skipped, not a contributor) in order, up to `n`, under randomness `r`.
    function _auditors(Deal memory d, bytes32 r, address[] memory c, uint256 n)
        internal
        view
        returns (uint256[] memory pos, address[] memory who)
    {
        bytes32 auditid = keccak256(abi.encodePacked(_taskId(d, 0), "audit"));
        (uint256[] memory idx, bool[] memory chosen) = Draw.draw(r, auditid, 0, 32, _snap);
        pos = new uint256[](n);
        who = new address[](n);
        uint256 k;
        for (uint256 j; j < 32 && k < n; ++j) {
            address w = _snap[idx[j]].worker;
            if (!chosen[j] || _contributed(w, c)) continue;
            pos[k] = j;
            who[k++] = w;
        }
        assertEq(k, n, "enough auditors drawn");
    }

    function _auditId(Deal memory d) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked(_taskId(d, 0), "audit"));
    }

    function _contributeAudit(Deal memory d, address w, uint256 position, bytes32 digest) internal {
        bytes32 auditid = _auditId(d);
        vm.prank(w);
        sel.contributeAudit(
            d, 0, _resultHash(auditid, digest), _resultSeal(w, auditid, digest), _proof(position)
        );
    }

    function _finalizeAudited(address[] memory ws, address[] memory auditors, bytes32 digest) internal {
        AuditedFinalize memory f;
        f.workers = ws;
        f.auditors = auditors;
        f.digest = digest;
        f.resultsLocation = "ipfs://result";
        vm.prank(scheduler);
        aud.finalizeAudited(_deal, 0, f);
    }

    function _setScore(address w, uint256 score) internal {
        bytes32 slot = keccak256(abi.encode(w, ACCOUNTS_SLOT));
        uint256 a = uint256(vm.load(address(hub), slot));
        vm.store(address(hub), slot, bytes32((a & ((1 << 224) - 1)) | (score << 224)));
        assertEq(hubx.scoreOf(w), score, "score set");
    }

    /// Every token the hub holds is accounted for: balances, frozen amounts, pool stakes, attesters, kitty.
    function _assertAccounted() internal view {
        uint256 sum = _total();
        for (uint256 i; i < workers.length; ++i) {
            (uint256 stake,,,,) = hubx.poolMember(pool, workers[i]);
            sum += stake;
        }
        assertEq(sum, token.balanceOf(address(hub)), "every token accounted for");
    }

    function _revealAll(bytes32 id, address[] memory ws, bytes32 digest) internal {
        for (uint256 i; i < ws.length; ++i) {
            vm.prank(ws[i]);
            hub.reveal(id, digest);
        }
    }

    /// The task's contributors reveal through revealSpotChecked (`reveal` refuses a spot-checked task).
    function _revealTask(Deal memory d, address[] memory ws, bytes32 digest) internal {
        for (uint256 i; i < ws.length; ++i) {
            vm.prank(ws[i]);
            sel.revealSpotChecked(d, 0, digest);
        }
    }

    // ---- the audit is decided by the round after the consensus ----------------------------------

    function test_the_audit_is_decided_only_by_the_round_after_the_consensus() public {
        Deal memory d = _spotDeal(255);
        address[] memory c = _contributeTask(d, TRUTH);
        bytes32 taskid = _taskId(d, 0);
        uint64 round = _auditRound(d);
        assertEq(round, beacon.roundAt(block.timestamp) + 2, "the round due two periods after the consensus");
        (uint64 waveRound,,) = sel.wave(d, 0);
        assertTrue(round > waveRound, "a round after the one the contributors knew");
        assertTrue(beacon.roundTime(round) > block.timestamp + PERIOD, "published after the consensus");
        (,, uint8 state,) = sel.audit(d, 0);
        assertEq(state, 0, "unknown until the round is on chain");
        // nobody reveals the task's digest while an auditor could still copy it
        vm.prank(c[0]);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.SpotChecked.selector, taskid));
        hub.reveal(taskid, TRUTH);
        vm.prank(c[0]);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.RoundNotAvailable.selector, round));
        sel.revealSpotChecked(d, 0, TRUTH);
        // finalize refuses a spot-checked task; finalizeAudited waits for the round
        vm.prank(scheduler);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.SpotChecked.selector, taskid));
        hub.finalize(d, 0, "", "", c);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.RoundNotAvailable.selector, round));
        _finalizeAudited(c, new address[](0), TRUTH);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.RoundNotAvailable.selector, round));
        _contributeAudit(d, workers[0], 0, TRUTH);
        // the round does not audit this task: nobody audits, the task settles as usual
        beacon.put(round, _pickRandomness(d, 255, false));
        (,, state,) = sel.audit(d, 0);
        assertEq(state, 1, "not audited");
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.NotAudited.selector, taskid));
        _contributeAudit(d, workers[0], 0, TRUTH);
        // not picked: the contributors reveal as soon as the round is in
        _revealTask(d, c, TRUTH);
        uint256 before = hubx.balanceOf(c[0]);
        _finalizeAudited(c, new address[](0), TRUTH);
        assertEq(hubx.task(taskid).status, 3, "completed");
        assertTrue(hubx.balanceOf(c[0]) > before, "the contributor is paid");
        _assertAccounted();
    }

    function test_an_auditor_not_drawn_is_refused() public {
        Deal memory d = _spotDeal(255);
        address[] memory c = _contributeTask(d, TRUTH);
        bytes32 r = _pickRandomness(d, 255, true);
        beacon.put(_auditRound(d), r);
        (,, uint8 state,) = sel.audit(d, 0);
        assertEq(state, 2, "audited");
        (uint256[] memory pos, address[] memory who) = _auditors(d, r, c, 1);
        address other;
        for (uint256 i; i < 6 && other == address(0); ++i) {
            if (workers[i] != who[0] && !_contributed(workers[i], c)) other = workers[i];
        }
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.NotAuditor.selector, _taskId(d, 0), pos[0], who[0]));
        _contributeAudit(d, other, pos[0], TRUTH);
    }

    function test_an_auditor_who_contributed_to_the_task_is_refused() public {
        Deal memory d = _spotDeal(255);
        address[] memory c = _contributeTask(d, TRUTH);
        bytes32 r = _pickRandomness(d, 255, true);
        beacon.put(_auditRound(d), r);
        (uint256[] memory idx, bool[] memory chosen) = Draw.draw(r, _auditId(d), 0, 32, _snap);
        uint256 j;
        while (!(chosen[j] && _contributed(_snap[idx[j]].worker, c))) ++j;
        address w = _snap[idx[j]].worker;
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.AuditorExcluded.selector, _taskId(d, 0), j, w));
        _contributeAudit(d, w, j, TRUTH);
    }

    function test_an_audit_after_its_window_is_refused() public {
        Deal memory d = _spotDeal(255);
        address[] memory c = _contributeTask(d, TRUTH);
        bytes32 r = _pickRandomness(d, 255, true);
        beacon.put(_auditRound(d), r);
        (,,, uint256 closesAt) = sel.audit(d, 0);
        assertEq(closesAt, block.timestamp + REF, "the window lasts AUDIT_RATIO refs from the consensus");
        (uint256[] memory pos, address[] memory who) = _auditors(d, r, c, 1);
        vm.warp(closesAt);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.AuditClosed.selector, _taskId(d, 0), closesAt));
        _contributeAudit(d, who[0], pos[0], TRUTH);
    }

    // ---- settlements -----------------------------------------------------------------------------

    /// Both contributors lie alike and reach consensus; the audit says otherwise: the task fails, the requester
    /// gets its price back, the liars lose their stakes and their whole score, the auditors share the stakes.
    function test_a_contradicting_audit_fails_the_task_and_slashes_the_liars() public {
        Deal memory d = _spotDeal(255);
        address[] memory c = _contributeTask(d, LIE);
        bytes32 taskid = _taskId(d, 0);
        _setScore(c[0], 30);
        _setScore(c[1], 12);
        bytes32 r = _pickRandomness(d, 255, true);
        beacon.put(_auditRound(d), r);
        (uint256[] memory pos, address[] memory who) = _auditors(d, r, c, 2);
        _contributeAudit(d, who[0], pos[0], TRUTH);
        // the audit has no consensus yet and its window is open
        (,,, uint256 closesAt) = sel.audit(d, 0);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.AuditPending.selector, taskid, closesAt));
        _finalizeAudited(c, new address[](0), LIE);
        _contributeAudit(d, who[1], pos[1], TRUTH);
        _revealTask(d, c, LIE);
        address[] memory auditors = new address[](2);
        (auditors[0], auditors[1]) = (who[0], who[1]);
        _sort(auditors);
        _revealAll(_auditId(d), auditors, TRUTH);

        _keepBalances(c, auditors);
        _assertAccounted();
        vm.expectEmit(address(hub));
        emit TaskAudited(taskid, 2);
        _finalizeAudited(c, auditors, LIE);
        assertEq(hubx.task(taskid).status, 4, "failed");
        _checkContradiction(d, c, auditors);
        _assertAccounted();
    }

    uint256[] internal _before;

    function _keepBalances(address[] memory c, address[] memory auditors) internal {
        delete _before;
        _before.push(hubx.balanceOf(requester));
        _before.push(hubx.frozenOf(requester));
        _before.push(hubx.frozenOf(scheduler));
        for (uint256 i; i < 2; ++i) {
            _before.push(hubx.frozenOf(c[i]));
            _before.push(hubx.balanceOf(auditors[i]));
        }
    }

    function _checkContradiction(Deal memory d, address[] memory c, address[] memory auditors) internal view {
        uint256 stake = d.workerStake;
        assertTrue(stake > 0, "a stake at risk");
        uint256 price = APP_PRICE + POOL_PRICE;
        assertEq(hubx.balanceOf(requester), _before[0] + price, "the requester is refunded");
        assertEq(hubx.frozenOf(requester), _before[1] - price, "nothing left locked");
        assertEq(hubx.frozenOf(scheduler), _before[2] - POOL_PRICE * STAKE_RATIO / 100, "stake back");
        for (uint256 i; i < 2; ++i) {
            assertEq(hubx.frozenOf(c[i]), _before[3 + 2 * i] - stake, "the liar's stake is seized");
            assertEq(hubx.scoreOf(c[i]), 0, "the liar's score goes to 0");
            assertEq(
                hubx.balanceOf(auditors[i]), _before[4 + 2 * i] + 2 * stake, "stake back + a seized stake"
            );
            assertEq(hubx.scoreOf(auditors[i]), 1, "auditor's score + 1");
        }
    }

    event TaskAudited(bytes32 indexed taskid, uint8 outcome);

    /// The audit agrees: the task completes, the auditors share the workers' reward per head with the winners.
    function test_an_agreeing_audit_is_paid_from_the_workers_reward() public {
        Deal memory d = _spotDeal(255);
        address[] memory c = _contributeTask(d, TRUTH);
        bytes32 taskid = _taskId(d, 0);
        bytes32 r = _pickRandomness(d, 255, true);
        beacon.put(_auditRound(d), r);
        (uint256[] memory pos, address[] memory who) = _auditors(d, r, c, 2);
        _contributeAudit(d, who[0], pos[0], TRUTH);
        // one auditor committed, the audit still takes commitments: the task's digest stays hidden
        (,,, uint256 closesAt) = sel.audit(d, 0);
        vm.prank(c[0]);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.AuditPending.selector, taskid, closesAt));
        sel.revealSpotChecked(d, 0, TRUTH);
        _contributeAudit(d, who[1], pos[1], TRUTH);
        // the audit's commitments are in (consensus): the contributors reveal
        _revealTask(d, c, TRUTH);
        address[] memory auditors = new address[](2);
        (auditors[0], auditors[1]) = (who[0], who[1]);
        _sort(auditors);
        // the reveals of the audit are awaited
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.RevealsPending.selector, _auditId(d), 0, 2));
        _finalizeAudited(c, auditors, TRUTH);
        _revealAll(_auditId(d), auditors, TRUTH);
        uint256 a0 = hubx.balanceOf(auditors[0]);
        uint256 w0 = hubx.balanceOf(c[0]);
        _finalizeAudited(c, auditors, TRUTH);
        assertEq(hubx.task(taskid).status, 3, "completed");
        uint256 workersReward = POOL_PRICE * (100 - REWARD_RATIO) / 100;
        // four heads: two winners, two auditors
        assertEq(hubx.balanceOf(auditors[0]), a0 + d.workerStake + workersReward / 4, "auditor paid");
        assertEq(hubx.balanceOf(c[0]), w0 + d.workerStake + workersReward / 4, "winner paid the rest");
        _assertAccounted();
    }

    /// An auditor that reaches the audit's consensus but never reveals loses its stake and its whole score, however
    /// high: it can't take its place in an audit and then hide from it at the cost of a loser's penalty only.
    function test_an_auditor_hiding_from_the_audit_loses_its_whole_score() public {
        Deal memory d = _spotDeal(255);
        address[] memory c = _contributeTask(d, TRUTH);
        bytes32 r = _pickRandomness(d, 255, true);
        beacon.put(_auditRound(d), r);
        (uint256[] memory pos, address[] memory who) = _auditors(d, r, c, 2);
        _setScore(who[1], 300);
        _contributeAudit(d, who[0], pos[0], TRUTH);
        _contributeAudit(d, who[1], pos[1], TRUTH);
        _revealTask(d, c, TRUTH);
        vm.prank(who[0]);
        hub.reveal(_auditId(d), TRUTH);
        vm.warp(hubx.task(_auditId(d)).revealDeadline);
        address[] memory auditors = new address[](2);
        (auditors[0], auditors[1]) = (who[0], who[1]);
        _sort(auditors);
        uint256 hidden = hubx.balanceOf(who[1]);
        _finalizeAudited(c, auditors, TRUTH);
        assertEq(hubx.task(_taskId(d, 0)).status, 3, "completed");
        assertEq(hubx.scoreOf(who[1]), 0, "the hiding auditor's score goes to 0");
        assertEq(hubx.balanceOf(who[1]), hidden, "and its stake is not returned");
        assertEq(hubx.scoreOf(who[0]), 1, "the revealing auditor's score + 1");
        _assertAccounted();
    }

    /// One auditor came, the other did not: after the window the audit is void, the absent one slashable, and
    /// the task settles as usual.
    function test_a_void_audit_lets_the_task_settle_and_the_absent_auditor_is_slashed() public {
        Deal memory d = _spotDeal(255);
        address[] memory c = _contributeTask(d, TRUTH);
        bytes32 taskid = _taskId(d, 0);
        bytes32 r = _pickRandomness(d, 255, true);
        beacon.put(_auditRound(d), r);
        (uint256[] memory pos, address[] memory who) = _auditors(d, r, c, 2);
        _contributeAudit(d, who[0], pos[0], TRUTH);
        (,,, uint256 closesAt) = sel.audit(d, 0);
        vm.warp(closesAt - 1);
        vm.prank(c[0]);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.AuditPending.selector, taskid, closesAt));
        sel.revealSpotChecked(d, 0, TRUTH);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.NotSlashable.selector, taskid, who[1]));
        sel.slashAbsentAuditor(d, 0, _proof(pos[1]));
        vm.warp(closesAt);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.NotSlashable.selector, taskid, who[0]));
        sel.slashAbsentAuditor(d, 0, _proof(pos[0]));
        (uint256 before,,,,) = hubx.poolMember(pool, who[1]);
        sel.slashAbsentAuditor(d, 0, _proof(pos[1]));
        // the window closed void: nothing left to copy into, the contributors reveal
        _revealTask(d, c, TRUTH);
        (uint256 afterSlash,,,,) = hubx.poolMember(pool, who[1]);
        assertEq(before - afterSlash, d.workerStake, "the absent auditor's pool stake is slashed");
        uint256 a0 = hubx.balanceOf(who[0]);
        address[] memory one = new address[](1);
        one[0] = who[0];
        _finalizeAudited(c, one, TRUTH);
        assertEq(hubx.task(taskid).status, 3, "completed");
        assertEq(hubx.balanceOf(who[0]), a0 + d.workerStake, "a void audit's contributor gets its stake back");
        _assertAccounted();
    }

    /// A lazy auditor waits for the contributors' reveal to copy their digest: the reveal is refused as long as
    /// the audit takes commitments, so when the digest appears the lazy auditor's window has closed; it gains
    /// nothing and is slashed as absent. revealBatch refuses a spot-checked task as `reveal` does.
    function test_a_lazy_auditor_never_sees_the_digest_before_its_window_closes() public {
        Deal memory d = _spotDeal(255);
        address[] memory c = _contributeTask(d, TRUTH);
        bytes32 taskid = _taskId(d, 0);
        bytes32 r = _pickRandomness(d, 255, true);
        beacon.put(_auditRound(d), r);
        (uint256[] memory pos, address[] memory who) = _auditors(d, r, c, 2);
        _contributeAudit(d, who[0], pos[0], TRUTH);
        (,,, uint256 closesAt) = sel.audit(d, 0);
        bytes32[] memory ids = new bytes32[](1);
        bytes32[] memory digests = new bytes32[](1);
        (ids[0], digests[0]) = (taskid, TRUTH);
        for (uint256 at = block.timestamp; at < closesAt; at += REF / 4) {
            vm.warp(at);
            vm.prank(c[1]);
            vm.expectRevert(abi.encodeWithSelector(IHubErrors.AuditPending.selector, taskid, closesAt));
            sel.revealSpotChecked(d, 0, TRUTH);
            vm.prank(c[1]);
            vm.expectRevert(abi.encodeWithSelector(IHubErrors.SpotChecked.selector, taskid));
            sel.revealBatch(ids, digests);
        }
        // the window closed: the digest comes out, too late to copy
        vm.warp(closesAt);
        vm.expectEmit(address(hub));
        emit TaskReveal(taskid, c[0], TRUTH);
        _revealTask(d, c, TRUTH);
        uint256 lazyBalance = hubx.balanceOf(who[1]);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.AuditClosed.selector, taskid, closesAt));
        _contributeAudit(d, who[1], pos[1], TRUTH);
        (uint256 stake,,,,) = hubx.poolMember(pool, who[1]);
        sel.slashAbsentAuditor(d, 0, _proof(pos[1]));
        (uint256 slashed,,,,) = hubx.poolMember(pool, who[1]);
        assertEq(stake - slashed, d.workerStake, "the lazy auditor loses the deal's stake");
        address[] memory one = new address[](1);
        one[0] = who[0];
        _finalizeAudited(c, one, TRUTH);
        assertEq(hubx.task(taskid).status, 3, "completed");
        assertEq(hubx.balanceOf(who[1]), lazyBalance, "and gains nothing");
        _assertAccounted();
    }

    event TaskReveal(bytes32 indexed taskid, address indexed worker, bytes32 digest);

    /// Without the random tag q means nothing: the deal finalizes as any other.
    function test_q_without_random_selection_is_ignored() public {
        DatasetOrder memory none;
        Deal memory d = _match(
            _appOrder(app, 1),
            none,
            _poolOrder(1, 1, bytes32(uint256(255) << 16)),
            _requestOrder(app, address(0), 1, 1, bytes32(uint256(255) << 16), address(0))
        );
        bytes32 taskid = _taskId(d, 0);
        _contribute(d, 0, 0, TRUTH);
        _reveal(d, 0, 0, TRUTH);
        _finalize(d, 0, _none());
        assertEq(hubx.task(taskid).status, 3, "completed");
        (,, uint8 state,) = sel.audit(d, 0);
        assertEq(state, 0, "no audit");
    }

    /// The scheduler never finalizes: the requester claims after the final deadline, and the auditors get their
    /// stakes back through releaseAudit.
    function test_a_claimed_tasks_auditors_get_their_stakes_back() public {
        Deal memory d = _spotDeal(255);
        address[] memory c = _contributeTask(d, TRUTH);
        bytes32 r = _pickRandomness(d, 255, true);
        beacon.put(_auditRound(d), r);
        (uint256[] memory pos, address[] memory who) = _auditors(d, r, c, 1);
        _contributeAudit(d, who[0], pos[0], TRUTH);
        address[] memory one = new address[](1);
        one[0] = who[0];
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.TaskNotClaimable.selector, _taskId(d, 0), 2));
        aud.releaseAudit(d, 0, one);
        vm.warp(block.timestamp + 10 * REF);
        hubx.claim(d, 0, c);
        uint256 frozen = hubx.frozenOf(who[0]);
        aud.releaseAudit(d, 0, one);
        assertEq(hubx.frozenOf(who[0]), frozen - d.workerStake, "the auditor's stake is unlocked");
        vm.expectRevert();
        aud.releaseAudit(d, 0, one);
        _assertAccounted();
    }

    // ---- accounting --------------------------------------------------------------------------------

    /// Whatever the task's result, the audit's outcome, who reveals and who is slashed, every token the hub
    /// holds stays accounted for, and the task ends completed or failed.
    function testFuzz_every_token_is_accounted_for_whatever_the_audit(uint8 flags) public {
        Deal memory d = _spotDeal(255);
        bytes32 taskDigest = flags & 1 != 0 ? LIE : TRUTH;
        address[] memory c = _contributeTask(d, taskDigest);
        bool isAudited = flags & 2 != 0;
        bytes32 r = _pickRandomness(d, 255, isAudited);
        beacon.put(_auditRound(d), r);
        address[] memory auditors = new address[](0);
        if (!isAudited) _revealTask(d, c, taskDigest);
        if (isAudited) {
            uint256 n = flags & 4 != 0 ? 2 : 1;
            (uint256[] memory pos, address[] memory who) = _auditors(d, r, c, 2);
            auditors = new address[](n);
            for (uint256 k; k < n; ++k) {
                _contributeAudit(d, who[k], pos[k], flags & 8 != 0 ? LIE : TRUTH);
                auditors[k] = who[k];
            }
            _sort(auditors);
            (,,, uint256 closesAt) = sel.audit(d, 0);
            // two agreeing auditors reach the audit's consensus; one waits for the window's end
            if (n == 1) vm.warp(closesAt);
            _revealTask(d, c, taskDigest);
            if (n == 2 && flags & 16 != 0) {
                _revealAll(_auditId(d), auditors, flags & 8 != 0 ? LIE : TRUTH);
            } else if (n == 2) {
                // nobody reveals: wait for the audit's reveal deadline
                vm.warp(block.timestamp + 2 * REF);
            } else {
                if (flags & 32 != 0) sel.slashAbsentAuditor(d, 0, _proof(pos[1]));
            }
        }
        _assertAccounted();
        _finalizeAudited(c, auditors, taskDigest);
        uint8 status = hubx.task(_taskId(d, 0)).status;
        assertTrue(status == 3 || status == 4, "settled");
        _assertAccounted();
    }

    // ---- gas -------------------------------------------------------------------------------------

    event log_named_uint(string key, uint256 val);

    /// Execution gas (no 21k, no calldata) of finalizing a trust-3 random task, each case in its own test so
    /// that the same slots are warm in each (those the task's earlier transactions touched):
    /// `forge test --match-test test_gas_of_spot_checks -vv`.
    function test_gas_of_spot_checks_none() public {
        Deal memory d = _spotDeal(0);
        address[] memory c = _contributeTask(d, TRUTH);
        uint256 g0 = gasleft();
        vm.prank(c[0]);
        hub.reveal(_taskId(d, 0), TRUTH);
        emit log_named_uint("reveal (task), no spot checks", g0 - gasleft());
        vm.prank(c[1]);
        hub.reveal(_taskId(d, 0), TRUTH);
        uint256 g = gasleft();
        _finalize(d, 0, c);
        emit log_named_uint("finalize, no spot checks", g - gasleft());
    }

    function test_gas_of_spot_checks_not_audited() public {
        Deal memory d = _spotDeal(255);
        address[] memory c = _contributeTask(d, TRUTH);
        beacon.put(_auditRound(d), _pickRandomness(d, 255, false));
        uint256 g0 = gasleft();
        vm.prank(c[0]);
        sel.revealSpotChecked(d, 0, TRUTH);
        emit log_named_uint("revealSpotChecked (task), not audited", g0 - gasleft());
        vm.prank(c[1]);
        sel.revealSpotChecked(d, 0, TRUTH);
        uint256 g = gasleft();
        _finalizeAudited(c, new address[](0), TRUTH);
        emit log_named_uint("finalizeAudited, not audited", g - gasleft());
    }

    function test_gas_of_spot_checks_audited() public {
        Deal memory d = _spotDeal(255);
        address[] memory c = _contributeTask(d, TRUTH);
        bytes32 r = _pickRandomness(d, 255, true);
        beacon.put(_auditRound(d), r);
        (uint256[] memory pos, address[] memory who) = _auditors(d, r, c, 2);
        for (uint256 k; k < 2; ++k) {
            uint256 g0 = gasleft();
            _contributeAudit(d, who[k], pos[k], TRUTH);
            emit log_named_uint("contributeAudit", g0 - gasleft());
        }
        uint256 g2 = gasleft();
        vm.prank(c[0]);
        sel.revealSpotChecked(d, 0, TRUTH);
        emit log_named_uint("revealSpotChecked (task), audit in", g2 - gasleft());
        vm.prank(c[1]);
        sel.revealSpotChecked(d, 0, TRUTH);
        _sort(who);
        for (uint256 k; k < 2; ++k) {
            uint256 g1 = gasleft();
            vm.prank(who[k]);
            hub.reveal(_auditId(d), TRUTH);
            emit log_named_uint("reveal (audit)", g1 - gasleft());
        }
        uint256 g = gasleft();
        _finalizeAudited(c, who, TRUTH);
        emit log_named_uint("finalizeAudited, audited and agreeing", g - gasleft());
    }
}
