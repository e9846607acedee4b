// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {GasFlows} from "./GasFlows.s.sol";
import {HubKit} from "../test/utils/HubKit.sol";
import {Hub} from "../src/Hub.sol";
import {HubExtension} from "../src/HubExtension.sol";
import {HubSelection} from "../src/HubSelection.sol";
import {Beacon} from "../src/beacon/Beacon.sol";
import {Draw} from "../src/libs/Draw.sol";
import {Deal, DrawProof} from "../src/libs/Types.sol";

/// @notice The trust-5 flows of scripts/gas-report, on a pool of five staked members: `trust5` (the
/// scheduler chooses the three workers and authorizes them) and `trust5-random` (random selection: the
/// three workers are drawn by a beacon round and prove their positions with `contributeDrawn`).
///
/// A random deal's round is fixed by its start (two periods after it), which the broadcast's own chain sets:
/// a script simulated before anything is mined can't know it. So `trust5-random` runs in two broadcasts,
/// PHASE=match (set-up, the pool's members and snapshot, the match; the deal is written to STATE_FILE)
/// then PHASE=tasks (the round, signed here for the chain's own clock, and the task's transactions).
/// The beacon is the devnet's: `decloud node --beacon`'s test group, a round a second, whose group secret
/// is public (keccak256(seed ‖ 0), decloud-beacon's `ThresholdGroup::from_seed`), so the script signs a
/// round as the group would: sk · H(round) on G1.
contract RandomFlows is GasFlows {
    uint256 internal constant MEMBERS = 5;
    uint256 internal constant MIN_STAKE = 10e9;
    bytes32 internal constant TAG_RANDOM = bytes32(uint256(2));
    /// BN254's group order.
    uint256 internal constant R =
        21888242871839275222246405745257275088548364400416034343698204186575808495617;
    string internal constant RESULTS = "https://results.decloud.example/0x5f70bf18a086007016e948b04aed3b82";

    function run() external override {
        string memory flow = vm.envOr("FLOW", string("trust5"));
        string memory phase = vm.envOr("PHASE", string("match"));
        string memory state = vm.envOr("STATE_FILE", string("cache/random-flow.hex"));
        deployerPk = vm.envOr(
            "DEPLOYER_PK", uint256(0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80)
        );
        bytes32 f = keccak256(bytes(flow));
        if (f == keccak256("trust5")) {
            _setup();
            _members();
            _chosen();
        } else if (f == keccak256("trust5-random") && keccak256(bytes(phase)) == keccak256("match")) {
            _setup();
            _members();
            Deal memory d = _match(app, false, 1, 5, TAG_RANDOM);
            vm.writeFile(state, vm.toString(abi.encode(address(hub), beacon, d)));
        } else if (f == keccak256("trust5-random")) {
            Deal memory d;
            address h;
            (h, beacon, d) = abi.decode(vm.parseBytes(vm.readFile(state)), (address, address, Deal));
            (hub, hubx) = (Hub(h), HubExtension(h));
            _random(d);
        } else {
            revert("unknown FLOW");
        }
    }

    /// The devnet beacon: the test group's key (decloud_chain's DEVNET_BEACON_PUBLIC_KEY), genesis now, a
    /// round a second (DEVNET_BEACON_PERIOD).
    function _beaconArgs() internal view override returns (bytes memory) {
        return abi.encode(
            [
                0x3021e522d3351b07c917993a1c6d18d5f78def5d239c35333bf8d5c7a9c8197f,
                0x1d19d752b874d68bc40eb215e1870b6da2e60793d6ce30ff050441a24244587b,
                0x2de482a0bd067fe12204138f73f161faf26065f6dc60c7e0891c82320d3d552b,
                0x04ae94feb5e829c92054ad288a12acd68deb9b2752cca0a3922ad29a083391fe
            ],
            uint64(block.timestamp),
            uint64(1)
        );
    }

    /// Set-up, not measured: a fifth worker funded, the five workers staked members of the pool, and the
    /// pool's registry snapshot committed (before the match: a deal draws over the last snapshot before its
    /// start). Both flows run on the same pool.
    function _members() internal {
        vm.startBroadcast(deployerPk);
        _gasTo(vm.addr(WORKER_PK_BASE + WORKERS));
        vm.stopBroadcast();
        _fund(WORKER_PK_BASE + WORKERS, 100e9);
        vm.startBroadcast(SCHEDULER_PK);
        hubx.setMinWorkerStake(pool, MIN_STAKE);
        vm.stopBroadcast();
        for (uint256 i; i < MEMBERS; ++i) {
            vm.startBroadcast(WORKER_PK_BASE + i);
            hubx.joinPool(pool, MIN_STAKE);
            vm.stopBroadcast();
        }
        vm.startBroadcast(SCHEDULER_PK);
        HubSelection(address(hub)).commitSnapshot(pool, _sortedMembers());
        vm.stopBroadcast();
    }

    function _gasTo(address to) internal {
        (bool ok,) = payable(to).call{value: 10 ether}("");
        require(ok);
    }

    /// Today's trust-5 task: the scheduler authorizes three workers (weight 2 each, fresh), which contribute,
    /// reveal, and the scheduler finalizes.
    function _chosen() internal {
        Deal memory d = _match(app, false, 1, 5, 0);
        _initialize(d);
        bytes32 digest = keccak256("result-digest");
        address[] memory ws = new address[](3);
        for (uint256 k; k < 3; ++k) {
            _contribute(d, 0, WORKER_PK_BASE + k, digest);
            ws[k] = vm.addr(WORKER_PK_BASE + k);
        }
        for (uint256 k; k < 3; ++k) {
            _reveal(d, 0, WORKER_PK_BASE + k, digest);
        }
        _finalize(d, 0, _sort(ws));
    }

    /// The random task, after its match: the task initialized by the scheduler (as the pool's scheduler does,
    /// before the round is due), the wave's round submitted (shared by every task tied to it), the three drawn workers contribute with the
    /// proofs of their positions, reveal, and the scheduler finalizes.
    function _random(Deal memory d) internal {
        Beacon b = Beacon(beacon);
        (uint64 round,,) = HubSelection(address(hub)).wave(d, 0);
        require(
            b.roundTime(round) <= block.timestamp + b.period(), "the round is not due yet: mine a block first"
        );
        _initialize(d);
        (uint256 hx, uint256 hy) = b.roundPoint(round);
        uint256 sk = uint256(keccak256(abi.encodePacked("decloud devnet beacon", uint32(0)))) % R;
        uint256[2] memory sig = _ecMul(hx, hy, sk);
        vm.startBroadcast(deployerPk);
        b.submitHinted(round, sig, b.hints(round));
        vm.stopBroadcast();

        Draw.Worker[] memory snap = _snapshot();
        (uint256[] memory idx, bool[] memory chosen) =
            Draw.draw(b.randomness(round), HubKit.dealId(d), 0, 32, snap);
        bytes32 digest = keccak256("result-digest");
        uint256[] memory pks = new uint256[](3);
        address[] memory ws = new address[](3);
        uint256 done;
        for (uint256 j; j < 32 && done < 3; ++j) {
            if (!chosen[j]) continue;
            ws[done] = snap[idx[j]].worker;
            pks[done] = _keyOf(ws[done]);
            _contributeDrawn(d, pks[done], DrawProof(0, 0, j, snap), digest);
            ++done;
        }
        require(done == 3, "three chosen positions");
        for (uint256 k; k < 3; ++k) {
            _reveal(d, 0, pks[k], digest);
        }
        _finalize(d, 0, _sort(ws));
    }

    /// Worker `pk` contributes `digest` to task 0 of `d` with the proof of its position.
    function _contributeDrawn(Deal memory d, uint256 pk, DrawProof memory proof, bytes32 digest) internal {
        bytes32 taskid = HubKit.taskId(d, 0);
        address worker = vm.addr(pk);
        vm.startBroadcast(pk);
        HubSelection(address(hub))
            .contributeDrawn(
                d, 0, HubKit.resultHash(taskid, digest), HubKit.resultSeal(worker, taskid, digest), proof
            );
        vm.stopBroadcast();
    }

    /// The members in increasing address order, as commitSnapshot takes them.
    function _sortedMembers() internal pure returns (address[] memory l) {
        l = new address[](MEMBERS);
        for (uint256 i; i < MEMBERS; ++i) {
            l[i] = vm.addr(WORKER_PK_BASE + i);
        }
        l = _sort(l);
    }

    /// The snapshot as commitSnapshot stored it: every member at the minimum stake, no cluster.
    function _snapshot() internal pure returns (Draw.Worker[] memory s) {
        address[] memory l = _sortedMembers();
        s = new Draw.Worker[](MEMBERS);
        for (uint256 i; i < MEMBERS; ++i) {
            s[i] = Draw.Worker(l[i], MIN_STAKE, 0);
        }
    }

    function _keyOf(address worker) internal pure returns (uint256) {
        for (uint256 i; i < MEMBERS; ++i) {
            if (vm.addr(WORKER_PK_BASE + i) == worker) return WORKER_PK_BASE + i;
        }
        revert("not a member");
    }

    function _sort(address[] memory l) internal pure returns (address[] memory) {
        for (uint256 i = 1; i < l.length; ++i) {
            for (uint256 j = i; j > 0 && l[j] < l[j - 1]; --j) {
                (l[j], l[j - 1]) = (l[j - 1], l[j]);
            }
        }
        return l;
    }

    /// s · (x, y) on G1, by the ecMul precompile.
    function _ecMul(uint256 x, uint256 y, uint256 s) internal view returns (uint256[2] memory out) {
        (bool ok, bytes memory ret) = address(7).staticcall(abi.encode(x, y, s));
        require(ok && ret.length == 64, "ecMul");
        out = abi.decode(ret, (uint256[2]));
    }
}
