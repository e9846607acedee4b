// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {Deal, EnclaveAttestation} from "./libs/Types.sol";
import {ECDSA} from "solady/utils/ECDSA.sol";
import {Draw} from "./libs/Draw.sol";
import {Sha512} from "./libs/Sha512.sol";
import {HubBase} from "./HubBase.sol";

/// @notice What the keepers' draw reads from the beacon contract (contracts/src/beacon/Beacon.sol).
interface IKeeperBeacon {
    function randomness(uint64 round) external view returns (bytes32);
    function roundAt(uint256 t) external view returns (uint64);
}

/// @notice What a challenge reads of the deal's app (registries/AppRegistry.sol).
interface IAppInfo {
    function appInfo(address app) external view returns (address owner, bytes32 checksum, bytes32 mrenclave);
}

/// @title HubKeepers
/// @notice The attester registry (the key holders whose `EnclaveAttested` signatures the hub counts) and the
/// keepers drawn per epoch among them. Deployed by HubSelection and reached by delegatecall from its fallback
/// (Hub -> HubExtension -> HubSelection -> HubKeepers), it shares HubBase's storage; the hub's address serves
/// it (bind IHub). See docs/confidential.md.
contract HubKeepers is HubBase {
    /// @notice Rounds between the one current at a keeper draw's time and the draw's round (as
    /// HubSelection.SELECTION_ROUND_DELAY): the round is published at least one period after the snapshot froze.
    uint64 public constant KEEPER_ROUND_DELAY = 2;
    uint256 internal constant _MASK32 = (1 << 32) - 1;

    /// The randomness beacon (HubSelection.beacon).
    address internal immutable _keeperBeacon;
    /// @notice Where keepers publish their URLs (registries/KeeperRegistry.sol; zero: none). An immutable, not
    /// storage: the hub's storage layout is shared by every facet.
    address public immutable keeperRegistry;

    constructor(
        address token_,
        address appRegistry_,
        address datasetRegistry_,
        address workerpoolRegistry_,
        address beacon_,
        address keeperRegistry_
    ) HubBase(token_, appRegistry_, datasetRegistry_, workerpoolRegistry_) {
        if (beacon_ == address(0)) revert ZeroAddress();
        _keeperBeacon = beacon_;
        keeperRegistry = keeperRegistry_;
    }

    // ---------------------------------------------------------------------------------------------
    // Attester registry (moved here from HubExtension to make room in the hub; same ABI at the hub's
    // address): the key holders (SMS nodes) whose EnclaveAttested signatures the hub counts.
    // An attester locks a stake from its escrow balance (at least minAttesterStake), can announce
    // leaving (its signatures stop counting at once) and withdraw after ATTESTER_LEAVE_DELAY, and loses
    // its stake to anyone who shows two of its attestations of one task for different enclave keys.
    // ---------------------------------------------------------------------------------------------

    /// @notice How long a leaving attester's stake stays slashable after it stops counting.
    uint256 public constant ATTESTER_LEAVE_DELAY = 7 days;
    /// @notice Percent of a slashed stake paid to whoever brought the evidence; the rest goes to the kitty.
    uint256 public constant ATTESTER_SLASH_REWARD_RATIO = 50;

    /// @notice The caller registers as an attester, locking `stake` from its escrow balance.
    function registerAttester(uint256 stake) external notEntered {
        uint256 minStake = minAttesterStake;
        if (minStake == 0) revert AttesterRegistryClosed();
        if (stake < minStake) revert AttesterStakeBelowMinimum(stake, minStake);
        uint256 r = _attesters[msg.sender];
        if (r & _ATTESTER_SLASHED != 0) revert AttesterBanned(msg.sender);
        if (r != 0) revert AlreadyAttester(msg.sender);
        _debit(msg.sender, stake);
        // a new registration index (what keeper draws store) and one more attester in the snapshots
        uint256 c = _attesterCounts + 1 + (1 << 32);
        if (c & _MASK24 == 0) revert AttesterIndexesExhausted();
        _attesterCounts = c;
        _attesters[msg.sender] = stake | (block.timestamp << 112) | ((c & _MASK24) << _ATTESTER_INDEX_SHIFT);
        emit AttesterRegistered(msg.sender, stake);
    }

    /// @notice A registered attester (not leaving) adds `amount` to its stake.
    function addAttesterStake(uint256 amount) external notEntered {
        uint256 r = _activeAttester(msg.sender);
        uint256 stake = (r & _MASK112) + amount;
        if (stake > _MASK112) revert AmountTooLarge(stake);
        _debit(msg.sender, amount);
        _attesters[msg.sender] = r + amount;
        emit AttesterStakeAdded(msg.sender, amount, stake);
    }

    /// @notice The caller stops attesting: its signatures no longer count, and its stake comes back with
    /// withdrawAttesterStake after ATTESTER_LEAVE_DELAY (slashable until then).
    function leaveAttesters() external notEntered {
        uint256 r = _activeAttester(msg.sender);
        uint256 leavingAt = block.timestamp + ATTESTER_LEAVE_DELAY;
        _attesters[msg.sender] = r | (leavingAt << 152);
        _attesterCounts -= 1 << 32;
        emit AttesterLeaving(msg.sender, leavingAt);
    }

    /// @notice After its leave delay, the caller's attester stake goes back to its escrow balance.
    function withdrawAttesterStake() external notEntered {
        uint256 r = _attesters[msg.sender];
        if (r == 0 || r & _ATTESTER_SLASHED != 0) revert NotAttester(msg.sender);
        uint256 leavingAt = (r >> 152) & _MASK40;
        if (leavingAt == 0) revert AttesterNotLeaving(msg.sender);
        if (block.timestamp < leavingAt) revert AttesterStakeLocked(msg.sender, leavingAt);
        delete _attesters[msg.sender];
        uint256 stake = r & _MASK112;
        _credit(msg.sender, stake);
        emit AttesterLeft(msg.sender, stake);
    }

    /// @notice Slashes the attester who signed both `a` and `b`: two attestations of one task for two
    /// different enclave keys break the one-enclave-per-task rule. Its whole stake is seized (the caller
    /// gets ATTESTER_SLASH_REWARD_RATIO percent unless it is the attester, the kitty the rest) and its key
    /// can never register again. Leaving attesters are slashable until they withdraw.
    function slashAttester(EnclaveAttestation calldata a, EnclaveAttestation calldata b) external notEntered {
        if (a.taskId != b.taskId) revert EvidenceTaskMismatch(a.taskId, b.taskId);
        if (a.enclave == b.enclave) revert EvidenceSameEnclave(a.enclave);
        address signer = _attestationSigner(a);
        address other = _attestationSigner(b);
        if (signer != other || signer == address(0)) revert EvidenceSignerMismatch(signer, other);
        uint256 r = _attesters[signer];
        uint256 stake = r & _MASK112;
        if (r == 0 || r & _ATTESTER_SLASHED != 0) revert NothingToSlash(signer);
        _seizeAttester(signer, r);
        uint256 reward = msg.sender == signer ? 0 : stake * ATTESTER_SLASH_REWARD_RATIO / 100;
        _credit(msg.sender, reward);
        kitty += uint144(stake - reward);
        emit AttesterSlashed(signer, a.taskId, msg.sender, stake, reward);
    }

    // ---------------------------------------------------------------------------------------------
    // Challenges (docs/confidential.md#challenge-and-slash): an attestation commits to the evidence its
    // signer appraised (evidenceHash = keccak256(quote ‖ H ‖ nonce)); whoever shows that evidence and finds
    // in it what the statement denies takes the signer's stake, as slashAttester does. Checked at the fixed
    // offsets of an Intel TDX v4 quote (what the tdx and sim backends produce): the TD's DEBUG attribute,
    // the runner measurement SHA-256(MRTD ‖ RTMR0 ‖ RTMR1 ‖ RTMR2), and report_data. Not checkable on chain:
    // the quote's signature chain up to Intel's root and the TCB status (no P-256 precompile, no X.509).
    // ---------------------------------------------------------------------------------------------

    /// The domain tag that opens every report_data preimage (decloud_tee::REPORT_DATA_DOMAIN).
    bytes14 internal constant _REPORT_DATA_DOMAIN = "decloud/tee/v1";
    /// Offsets in a TDX v4 quote: the 48-byte header, then the TD report body.
    uint256 internal constant _Q_TD_ATTRIBUTES = 168;
    uint256 internal constant _Q_MRTD = 184;
    uint256 internal constant _Q_RTMR0 = 376;
    uint256 internal constant _Q_REPORT_DATA = 568;
    uint256 internal constant _Q_BODY_END = 632;

    /// @notice Slashes the attester who signed `a` (an attestation of task `index` of `deal`) when the evidence
    /// it committed to contradicts it. `quote`, `hpkeKey` (H) and `nonce` must be what `a.evidenceHash` commits
    /// to. Contradictions (see AttestationContradicted): the TD is a debug TD; its measurement is not
    /// `a.measurement` or not the app's mrenclave; its report_data is not SHA-512("decloud/tee/v1" ‖ chainId ‖
    /// taskId ‖ app checksum ‖ a.enclave ‖ H ‖ nonce). The whole stake is seized as by slashAttester (the caller
    /// gets ATTESTER_SLASH_REWARD_RATIO percent unless it is the attester, the kitty the rest). Reverts with
    /// AttestationConsistent when the evidence agrees with the statement, UnsupportedQuote when it is not a TDX
    /// v4 quote, NothingToSlash when the signer has no stake left (a second challenge).
    function challengeAttestation(
        Deal calldata deal,
        uint256 index,
        EnclaveAttestation calldata a,
        bytes calldata quote,
        bytes32 hpkeKey,
        bytes32 nonce
    ) external notEntered {
        bytes32 taskid = _taskOf(deal, index);
        if (a.taskId != taskid) revert EvidenceTaskMismatch(a.taskId, taskid);
        address signer = _attestationSigner(a);
        uint256 r = _attesters[signer];
        if (signer == address(0) || r == 0 || r & _ATTESTER_SLASHED != 0) revert NothingToSlash(signer);
        uint256 contradictions = _contradictions(deal.app, a, quote, hpkeKey, nonce);
        if (contradictions == 0) revert AttestationConsistent(signer, taskid);
        uint256 stake = r & _MASK112;
        _seizeAttester(signer, r);
        uint256 reward = msg.sender == signer ? 0 : stake * ATTESTER_SLASH_REWARD_RATIO / 100;
        _credit(msg.sender, reward);
        kitty += uint144(stake - reward);
        emit AttestationContradicted(signer, taskid, contradictions);
        emit AttesterSlashed(signer, taskid, msg.sender, stake, reward);
    }

    /// What in `quote` contradicts `a` (an attestation for a task of `app`), as AttestationContradicted's bits;
    /// refuses a quote, H and nonce that are not what `a.evidenceHash` commits to.
    function _contradictions(
        address app,
        EnclaveAttestation calldata a,
        bytes calldata quote,
        bytes32 hpkeKey,
        bytes32 nonce
    ) internal view returns (uint256 c) {
        {
            bytes32 given = keccak256(abi.encodePacked(quote, hpkeKey, nonce));
            if (given != a.evidenceHash) revert EvidenceNotAttested(a.evidenceHash, given);
        }
        (bool debug, bytes32 measurement) = _tdxClaims(quote);
        (, bytes32 checksum, bytes32 mrenclave) = IAppInfo(address(appRegistry)).appInfo(app);
        if (debug) c = 1;
        if (measurement != a.measurement) c |= 2;
        if (measurement != mrenclave) c |= 4;
        (bytes32 hi, bytes32 lo) = reportDataOf(a.taskId, checksum, a.enclave, hpkeKey, nonce);
        if (
            bytes32(quote[_Q_REPORT_DATA:_Q_REPORT_DATA + 32]) != hi
                || bytes32(quote[_Q_REPORT_DATA + 32:_Q_BODY_END]) != lo
        ) {
            c |= 8;
        }
    }

    /// @notice What a TDX v4 quote claims, read at fixed offsets (its signatures are not checked): whether the TD
    /// is a debug TD, its runner measurement SHA-256(MRTD ‖ RTMR0 ‖ RTMR1 ‖ RTMR2), its 64-byte report_data.
    function tdxQuoteClaims(bytes calldata quote)
        external
        view
        returns (bool debug, bytes32 measurement, bytes32 reportDataHi, bytes32 reportDataLo)
    {
        (debug, measurement) = _tdxClaims(quote);
        reportDataHi = bytes32(quote[_Q_REPORT_DATA:_Q_REPORT_DATA + 32]);
        reportDataLo = bytes32(quote[_Q_REPORT_DATA + 32:_Q_BODY_END]);
    }

    /// The debug bit and the runner measurement of TDX v4 quote `quote`; refuses anything else.
    function _tdxClaims(bytes calldata quote) internal view returns (bool debug, bytes32 measurement) {
        // header: version 4 (u16 LE), then at byte 4 the TEE type 0x81 = TDX (u32 LE)
        if (
            quote.length < _Q_BODY_END || uint16(bytes2(quote[0:2])) != 0x0400
                || uint32(bytes4(quote[4:8])) != 0x81000000
        ) revert UnsupportedQuote(quote.length);
        debug = uint8(quote[_Q_TD_ATTRIBUTES]) & 1 != 0;
        measurement = sha256(abi.encodePacked(quote[_Q_MRTD:_Q_MRTD + 48], quote[_Q_RTMR0:_Q_RTMR0 + 144]));
    }

    /// @notice The report_data an honest enclave binds for `taskid` on this chain: SHA-512("decloud/tee/v1" ‖
    /// chainId ‖ taskid ‖ appChecksum ‖ enclave ‖ hpkeKey ‖ nonce), as its two halves.
    function reportDataOf(
        bytes32 taskid,
        bytes32 appChecksum,
        address enclave,
        bytes32 hpkeKey,
        bytes32 nonce
    ) public view returns (bytes32 hi, bytes32 lo) {
        return Sha512.hash(
            abi.encodePacked(_REPORT_DATA_DOMAIN, block.chainid, taskid, appChecksum, enclave, hpkeKey, nonce)
        );
    }

    /// Marks attester `who` (record `r`, not slashed) slashed with no stake, and out of the snapshots' count
    /// unless it was already leaving.
    function _seizeAttester(address who, uint256 r) internal {
        _attesters[who] = (r & ~_MASK112) | _ATTESTER_SLASHED;
        if ((r >> 152) & _MASK40 == 0) _attesterCounts -= 1 << 32;
    }

    /// @notice `attester`'s record: its locked stake, when it registered, when its stake unlocks (0 while
    /// active), whether it was slashed; and whether its signatures count now.
    function attester(address who)
        external
        view
        returns (uint256 stake, uint256 registeredAt, uint256 leavingAt, bool slashed, bool active)
    {
        uint256 r = _attesters[who];
        stake = r & _MASK112;
        registeredAt = (r >> 112) & _MASK40;
        leavingAt = (r >> 152) & _MASK40;
        slashed = r & _ATTESTER_SLASHED != 0;
        active = r != 0 && !slashed && leavingAt == 0 && stake >= minAttesterStake;
    }

    /// @notice How many attestations a TEE contribution to a deal of tag `tag` needs.
    function attestationsRequired(bytes32 tag) external pure returns (uint256) {
        return _attestationsRequired(tag);
    }

    /// @notice The EIP-712 digest an attester signs for `a` (its `sign` is ignored).
    function hashEnclaveAttested(EnclaveAttestation calldata a) public view returns (bytes32) {
        return _hashTypedData(
            keccak256(
                abi.encode(
                    ENCLAVE_ATTESTED_TYPEHASH,
                    a.taskId,
                    a.enclave,
                    a.measurement,
                    a.tcbStatus,
                    a.expiry,
                    a.evidenceHash
                )
            )
        );
    }

    function _attestationSigner(EnclaveAttestation calldata a) internal view returns (address) {
        return ECDSA.tryRecoverCalldata(hashEnclaveAttested(a), a.sign);
    }

    function _activeAttester(address who) internal view returns (uint256 r) {
        r = _attesters[who];
        if (r == 0 || r & _ATTESTER_SLASHED != 0) revert NotAttester(who);
        uint256 leavingAt = (r >> 152) & _MASK40;
        if (leavingAt != 0) revert AttesterIsLeaving(who, leavingAt);
    }

    /// balance -= amount (the amount leaves the free balance for a stake held by the hub)
    function _debit(address account, uint256 amount) internal {
        uint256 a = _accounts[account];
        uint256 bal = a & _MASK112;
        if (bal < amount) revert InsufficientBalance(account, bal, amount);
        unchecked {
            _accounts[account] = a - amount;
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Keepers drawn per epoch (docs/confidential.md#keepers-drawn-per-epoch): a dataset's k-of-n key keepers
    // are drawn by the beacon from the registered attesters, not chosen by its owner.
    // - The admin sets the epoch length L (seconds), once: epoch e is [e * L, (e + 1) * L).
    // - Anyone commits the attester snapshot (every attester registered, not leaving, not slashed, in
    //   increasing address order; stakes read from the registry, 0 below the minimum), as pool snapshots.
    // - Epoch e is drawn during epoch e - 1 so that the owner can re-split its key before e starts: at
    //   keeperDrawTime(e) = e * L - L / 2, over the last attester snapshot committed strictly before it, with
    //   beacon round roundAt(keeperDrawTime(e)) + KEEPER_ROUND_DELAY, published after the snapshot froze.
    // - Anyone draws a dataset's epoch (drawKeepers) once its round is on chain and before the epoch ends,
    //   once: n distinct attesters, stake-weighted (Draw.pick), positions keccak(R, dataset, epoch, j).
    // - The hub then counts an attestation for a TEE deal on the dataset only from a keeper of the current
    //   epoch's draw, and requires at least the group's threshold k (Hub._checkAttestations).
    // ---------------------------------------------------------------------------------------------

    /// @notice The largest keeper group (the draw packs 9 keeper indexes in one word, and a deal asks at most
    /// 9 attestations).
    uint256 public constant MAX_KEEPERS = 9;
    /// @notice A draw scans at most this many positions to find n distinct keepers.
    uint256 public constant MAX_KEEPER_POSITIONS = 64;

    /// @notice The admin sets the keepers' epoch length (seconds), once: changing it would renumber the epochs
    /// already drawn.
    function setKeeperEpochLength(uint256 length) external onlyAdmin {
        if (length == 0 || length > _MASK32) revert InvalidEpochLength(length);
        uint256 c = _attesterCounts;
        if ((c >> 96) & _MASK32 != 0) revert EpochLengthAlreadySet((c >> 96) & _MASK32);
        _attesterCounts = c | (length << 96);
        emit KeeperEpochLengthSet(length);
    }

    /// @notice The keepers' epoch length in seconds (0 until the admin sets it).
    function keeperEpochLength() public view returns (uint256) {
        return (_attesterCounts >> 96) & _MASK32;
    }

    /// @notice The current keeper epoch.
    function keeperEpoch() external view returns (uint256) {
        uint256 length = keeperEpochLength();
        if (length == 0) revert KeepersNotEnabled();
        return block.timestamp / length;
    }

    /// @notice The dataset's owner asks for a keeper group of `n` keepers, any `k` of which rebuild its key
    /// (n = 0 removes the group: any registered attester counts again). Takes effect at once: from then on a
    /// TEE task on the dataset needs k attestations by keepers of the current epoch's draw.
    function setKeeperGroup(address dataset, uint256 n, uint256 k) external notEntered {
        address owner = _resourceOwner(datasetRegistry, dataset);
        if (msg.sender != owner) revert NotDatasetOwner(dataset, msg.sender);
        if (n == 0) {
            delete _keeperGroups[dataset];
        } else {
            if (k == 0 || k > n || n > MAX_KEEPERS) revert InvalidKeeperGroup(n, k);
            uint256 length = keeperEpochLength();
            if (length == 0) revert KeepersNotEnabled();
            _keeperGroups[dataset] = n | (k << 8) | (length << 16);
        }
        emit KeeperGroupSet(dataset, n, k);
    }

    /// @notice The dataset's keeper group: its size and threshold (both 0: no group).
    function keeperGroup(address dataset) external view returns (uint256 n, uint256 k) {
        uint256 g = _keeperGroups[dataset];
        return (g & 0xff, (g >> 8) & 0xff);
    }

    /// @notice Anyone commits the attester snapshot: `attesters` must list every attester registered, not
    /// leaving and not slashed, in strictly increasing address order; stakes are read from the registry (0 for
    /// one below the minimum stake: it is never drawn). Returns the snapshot's index.
    function commitAttesterSnapshot(address[] calldata attesters)
        external
        notEntered
        returns (uint256 index)
    {
        uint256 c = _attesterCounts;
        uint256 active = (c >> 32) & _MASK32;
        if (attesters.length != active) revert IncompleteAttesterSnapshot(attesters.length, active);
        Draw.Worker[] memory snap = new Draw.Worker[](attesters.length);
        uint256 minStake = minAttesterStake;
        address prev;
        for (uint256 i; i < attesters.length; ++i) {
            address a = attesters[i];
            if (a <= prev) revert AttesterSnapshotNotSorted(a);
            prev = a;
            uint256 r = _attesters[a];
            if (r == 0 || r & _ATTESTER_SLASHED != 0 || (r >> 152) & _MASK40 != 0) revert NotAttester(a);
            uint256 stake = r & _MASK112;
            snap[i] = Draw.Worker(a, stake < minStake ? 0 : stake, 0);
        }
        bytes32 root = keccak256(abi.encode(snap));
        index = (c >> 64) & _MASK32;
        _attesterSnapshots[index] = (uint256(root) & ~_MASK40) | block.timestamp;
        _attesterCounts = c + (1 << 64);
        emit AttesterSnapshot(index, root, snap);
    }

    /// @notice How many attester snapshots were committed, and how many attesters the next one lists.
    function attesterSnapshotCount() external view returns (uint256 count, uint256 attesters) {
        uint256 c = _attesterCounts;
        return ((c >> 64) & _MASK32, (c >> 32) & _MASK32);
    }

    /// @notice Attester snapshot `index`: the top 216 bits of its root (the rest zero) and when it was committed.
    function attesterSnapshotRecord(uint256 index) external view returns (bytes32 root, uint256 committedAt) {
        uint256 s = _attesterSnapshots[index];
        return (bytes32(s & ~_MASK40), s & _MASK40);
    }

    /// @notice The index of the last attester snapshot committed strictly before `time`.
    function attesterSnapshotBefore(uint256 time) public view returns (uint256) {
        uint256 lo;
        uint256 hi = (_attesterCounts >> 64) & _MASK32;
        while (lo < hi) {
            uint256 mid = (lo + hi) >> 1;
            if (_attesterSnapshots[mid] & _MASK40 < time) lo = mid + 1;
            else hi = mid;
        }
        if (lo == 0) revert NoAttesterSnapshotBefore(time);
        return lo - 1;
    }

    /// @notice When epoch `epoch` is drawn (the middle of the epoch before) and with which beacon round.
    function keeperDrawRound(uint256 epoch) public view returns (uint64 round, uint256 drawTime) {
        uint256 length = keeperEpochLength();
        if (length == 0) revert KeepersNotEnabled();
        if (epoch == 0 || epoch > type(uint40).max) revert InvalidEpoch(epoch);
        drawTime = epoch * length - length / 2;
        round = IKeeperBeacon(_keeperBeacon).roundAt(drawTime) + KEEPER_ROUND_DELAY;
    }

    /// @notice Anyone draws the keepers of `dataset` for `epoch` with the attester snapshot the epoch draws over
    /// (index `snapshotIndex`, as AttesterSnapshot emitted it). Refused when the dataset has no group, the epoch
    /// is over (late) or already drawn (replay), the snapshot is not the epoch's, or the round is not on chain.
    function drawKeepers(
        address dataset,
        uint256 epoch,
        uint256 snapshotIndex,
        Draw.Worker[] calldata snapshot
    ) external notEntered returns (address[] memory keepers) {
        uint256 g = _keeperGroups[dataset];
        if (g == 0) revert NoKeeperGroup(dataset);
        if (block.timestamp >= (epoch + 1) * ((g >> 16) & _MASK32)) revert EpochOver(dataset, epoch);
        if (_keeperDraws[dataset][epoch] != 0) revert KeepersAlreadyDrawn(dataset, epoch);
        (uint64 round, uint256 drawTime) = keeperDrawRound(epoch);
        _checkAttesterSnapshot(snapshotIndex, drawTime, snapshot);
        bytes32 randomness = IKeeperBeacon(_keeperBeacon).randomness(round);
        if (randomness == 0) revert RoundNotAvailable(round);
        keepers = new address[](g & 0xff);
        _keeperDraws[dataset][epoch] = _drawKeepers(randomness, dataset, epoch, snapshot, keepers);
        emit KeepersDrawn(dataset, epoch, round, keepers);
    }

    /// @notice Whether `who` is one of the keepers drawn for `dataset` in `epoch` (false when not drawn).
    function isKeeper(address dataset, uint256 epoch, address who) external view returns (bool) {
        uint256 d = _keeperDraws[dataset][epoch];
        uint256 idx = (_attesters[who] >> _ATTESTER_INDEX_SHIFT) & _MASK24;
        for (uint256 q; q < (d & 0xff); ++q) {
            if (idx != 0 && (d >> (8 + 24 * q)) & _MASK24 == idx) return true;
        }
        return false;
    }

    /// The snapshot is the last committed strictly before `drawTime`, with the stored root.
    function _checkAttesterSnapshot(uint256 k, uint256 drawTime, Draw.Worker[] calldata snapshot)
        internal
        view
    {
        uint256 s = _attesterSnapshots[k];
        uint256 next = _attesterSnapshots[k + 1];
        if (s == 0 || s & _MASK40 >= drawTime || (next != 0 && next & _MASK40 < drawTime)) {
            revert WrongAttesterSnapshot(k, drawTime);
        }
        if (uint256(Draw.hashOf(snapshot)) & ~_MASK40 != s & ~_MASK40) {
            revert AttesterSnapshotMismatch(k);
        }
    }

    /// Fills `keepers` with n distinct attesters drawn from `snapshot`; returns the draw word (see _keeperDraws).
    function _drawKeepers(
        bytes32 randomness,
        address dataset,
        uint256 epoch,
        Draw.Worker[] calldata snapshot,
        address[] memory keepers
    ) internal view returns (uint256 word) {
        Draw.Worker[] memory snap = snapshot;
        uint256[] memory cum = Draw.cumulate(snap);
        uint256 n = keepers.length;
        uint256[] memory picked = new uint256[](n);
        uint256 chosen;
        word = n | (1 << 255);
        for (uint256 j; j < MAX_KEEPER_POSITIONS && chosen < n; ++j) {
            uint256 w = Draw.pick(Draw.seed(randomness, bytes32(uint256(uint160(dataset))), epoch, j), cum);
            bool dup;
            for (uint256 q; q < chosen && !dup; ++q) {
                dup = picked[q] == w;
            }
            if (dup) continue;
            picked[chosen] = w;
            keepers[chosen] = snap[w].worker;
            word |= ((_attesters[snap[w].worker] >> _ATTESTER_INDEX_SHIFT) & _MASK24) << (8 + 24 * chosen);
            ++chosen;
        }
        if (chosen < n) revert NotEnoughKeepers(dataset, chosen, n);
    }
}
