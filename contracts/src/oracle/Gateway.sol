// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {ECDSA} from "solady/utils/ECDSA.sol";
import {Delivery, DeliveryHash} from "./Delivery.sol";
import {WorkPasses} from "./WorkPasses.sol";

/// @title Gateway
/// @notice The destination-chain end of proxy tasks. A relayer (anyone) brings a `Delivery` signed by
/// `threshold` members of the committee (which stakes on the source chain), with the callback data;
/// the gateway checks the signatures (EIP-712, this chain and this gateway only), the source workerpool's
/// work pass on the consumer, replay, then calls the consumer's method with the delivery's gas cap.
/// A consumer that reverts, loops or eats its gas never fails the delivery: the failure is recorded
/// with its reason and anyone can retry it. Holders of a pass can also push results themselves (`push`,
/// e.g. an attested enclave). The relayer is paid the consumer's fee from the consumer's deposit,
/// whether the consumer's call succeeded or not. See docs/oracles.md.
contract Gateway {
    /// @notice What happened to a delivery key: NONE, DELIVERED (the consumer accepted), FAILED (the
    /// consumer's call failed; `retry` may deliver it).
    enum Status {
        NONE,
        DELIVERED,
        FAILED
    }

    /// @notice Largest gas cap a delivery may give its consumer.
    uint256 public constant MAX_CALLBACK_GAS = 5_000_000;
    /// @notice Most revert bytes kept as a failure's reason (a consumer cannot make us copy more).
    uint256 public constant MAX_REASON_BYTES = 256;

    /// @notice The work passes of this chain (deployed by this gateway).
    WorkPasses public immutable passes;
    /// @notice EIP-712 type of a committee handover, signed by the outgoing committee in this gateway's domain.
    bytes32 public constant HANDOVER_TYPEHASH =
        keccak256("Handover(uint256 epoch,address[] members,uint256 threshold)");
    /// @notice Signatures a delivery needs.
    uint256 public threshold;
    /// @notice Committee epoch: increases at each change of members.
    uint256 public epoch;
    /// @notice Committee members of the current epoch.
    address[] internal _members;
    /// @notice Member → epoch in which it is a member (0: never).
    mapping(address => uint256) public memberEpoch;

    /// @dev One word per delivery key: 0 (none), DELIVERED_WORD, or the hash of the failed delivery (what
    /// `retry` must bring back). One word, so a delivery costs one fresh storage write.
    mapping(bytes32 key => bytes32) internal _record;
    bytes32 internal constant DELIVERED_WORD = bytes32(uint256(1));

    /// @notice Each consumer's deposit for relayer fees (wei).
    mapping(address consumer => uint256) public deposit;
    /// @notice The fee a consumer pays per delivery (wei), set by its owner.
    mapping(address consumer => uint256) public fee;
    /// @notice Fees earned by each relayer, withdrawable.
    mapping(address relayer => uint256) public earned;

    /// @dev The source of the delivery being made, for the consumer to read back (`source()`).
    address transient _sourceWorkerpool;
    address transient _sourceApp;
    bytes32 transient _sourceDeal;

    /// @notice A result reached its consumer.
    event Delivered(bytes32 indexed key, bytes32 indexed taskid, address indexed consumer);
    /// @notice The consumer's call failed; `reason` is its revert data (truncated), empty when it ran out of gas
    /// or returned no reason.
    event CallbackFailed(
        bytes32 indexed key,
        bytes32 indexed taskid,
        address indexed consumer,
        bool outOfGas,
        bytes reason,
        bytes data
    );
    /// @notice The committee changed.
    event CommitteeSet(uint256 indexed epoch, address[] members, uint256 threshold);
    /// @notice A consumer's deposit or fee changed.
    event Funded(address indexed consumer, uint256 deposit, uint256 fee);

    /// @notice A handover names epoch `epoch`, the next one is `next`: an old (replayed) or a skipping one.
    error StaleEpoch(uint256 epoch, uint256 next);
    /// @notice Threshold 0, above the member count, or a repeated/zero member.
    error BadCommittee();
    /// @notice The delivery names another source than ... or is malformed (callback data not matching digest).
    error DigestMismatch(bytes32 taskid);
    /// @notice Fewer valid signatures than the threshold.
    error TooFewSignatures(uint256 got, uint256 needs);
    /// @notice Signature `index` is not a current member's, or signers are not in strictly increasing order.
    error NotMember(uint256 index, address signer);
    /// @notice This delivery was already made (or failed, then use `retry`).
    error AlreadyDelivered(bytes32 key, Status status);
    /// @notice The gas cap is 0 or above MAX_CALLBACK_GAS.
    error BadGasLimit(uint256 gasLimit);
    /// @notice The transaction does not carry enough gas to give the consumer its whole cap.
    error NotEnoughGas(uint256 left, uint256 needs);
    /// @notice `retry` of a key that did not fail, or with another delivery than the failed one.
    error NothingToRetry(bytes32 key);
    /// @notice The consumer's owner only.
    error NotOwner(address consumer, address caller);
    /// @notice Arrays of different lengths.
    error LengthMismatch();

    /// @notice The first committee is the deployer's word; every later one is the outgoing committee's
    /// (`handover`).
    constructor(address[] memory members_, uint256 threshold_) {
        passes = new WorkPasses(address(this));
        _setCommittee(members_, threshold_);
    }

    /// @notice What happened to the delivery `key`.
    function status(bytes32 key) public view returns (Status) {
        bytes32 r = _record[key];
        return r == bytes32(0) ? Status.NONE : r == DELIVERED_WORD ? Status.DELIVERED : Status.FAILED;
    }

    /// @notice The hash of the failed delivery `key` (zero unless it failed).
    function failedHash(bytes32 key) external view returns (bytes32) {
        bytes32 r = _record[key];
        return r == DELIVERED_WORD ? bytes32(0) : r;
    }

    /// @notice The EIP-712 domain separator of this gateway on this chain.
    function domainSeparator() public view returns (bytes32) {
        return DeliveryHash.domain(block.chainid, address(this));
    }

    /// @notice The EIP-712 digest committee members sign for `d`.
    function deliveryDigest(Delivery calldata d) external view returns (bytes32) {
        return DeliveryHash.typed(domainSeparator(), d);
    }

    /// @notice The replay key of a delivery: one per (source chain, hub, task, consumer, method).
    function deliveryKey(
        uint256 sourceChainId,
        address sourceHub,
        bytes32 taskid,
        address consumer,
        bytes4 method
    ) public pure returns (bytes32) {
        return keccak256(abi.encode(sourceChainId, sourceHub, taskid, consumer, method));
    }

    /// @notice During a consumer's call: the workerpool (or, for a `push`, the holder) and the app whose
    /// result is being delivered (zero outside a delivery). Voting consumers weigh sources with it.
    function source() external view returns (address workerpool, address app, bytes32 dealid) {
        return (_sourceWorkerpool, _sourceApp, _sourceDeal);
    }

    /// @notice Current committee members.
    function members() external view returns (address[] memory) {
        return _members;
    }

    /// @notice The digest the outgoing committee signs to hand over to `members_` with `threshold_` at epoch
    /// `nextEpoch` (EIP-712, this chain and this gateway).
    function handoverDigest(uint256 nextEpoch, address[] calldata members_, uint256 threshold_)
        public
        view
        returns (bytes32)
    {
        bytes32 structHash = keccak256(
            abi.encode(HANDOVER_TYPEHASH, nextEpoch, keccak256(abi.encodePacked(members_)), threshold_)
        );
        return keccak256(abi.encodePacked("\x19\x01", domainSeparator(), structHash));
    }

    /// @notice Replaces the committee on the word of `threshold` members of the outgoing one: their signatures
    /// of `handoverDigest(epoch + 1, members_, threshold_)` in strictly increasing address order. Anyone may
    /// carry it; it is good once, since the epoch moves on.
    function handover(
        uint256 nextEpoch,
        address[] calldata members_,
        uint256 threshold_,
        bytes[] calldata sigs
    ) external {
        if (nextEpoch != epoch + 1) revert StaleEpoch(nextEpoch, epoch + 1);
        _checkSignatures(handoverDigest(nextEpoch, members_, threshold_), sigs);
        _setCommittee(members_, threshold_);
    }

    /// @notice Adds `msg.value` to `consumer`'s deposit; its owner may also set the fee per delivery
    /// (anyone else passes the current fee).
    function fund(address consumer, uint256 feePerDelivery) external payable {
        if (feePerDelivery != fee[consumer]) {
            if (passes.ownerOf(consumer) != msg.sender) revert NotOwner(consumer, msg.sender);
            fee[consumer] = feePerDelivery;
        }
        deposit[consumer] += msg.value;
        emit Funded(consumer, deposit[consumer], feePerDelivery);
    }

    /// @notice Sends the caller's earned fees to it.
    function withdraw() external {
        uint256 amount = earned[msg.sender];
        earned[msg.sender] = 0;
        (bool ok,) = msg.sender.call{value: amount}("");
        require(ok);
    }

    /// @notice Delivers one result: `sigs` are 65-byte signatures of members in strictly increasing address
    /// order, at least `threshold` of them.
    function deliver(Delivery calldata d, bytes calldata data, bytes[] calldata sigs) external {
        bytes32 ds = domainSeparator();
        uint256 paid = _deliverOne(ds, d, data, sigs);
        _sourceWorkerpool = address(0);
        _sourceApp = address(0);
        _sourceDeal = bytes32(0);
        if (paid != 0) earned[msg.sender] += paid;
    }

    /// @notice Delivers many results in one transaction (one fee credit for the relayer).
    function deliverBatch(Delivery[] calldata ds_, bytes[] calldata data, bytes[][] calldata sigs) external {
        if (ds_.length != data.length || ds_.length != sigs.length) revert LengthMismatch();
        bytes32 ds = domainSeparator();
        uint256 paid;
        for (uint256 i; i < ds_.length; ++i) {
            paid += _deliverOne(ds, ds_[i], data[i], sigs[i]);
        }
        _sourceWorkerpool = address(0);
        _sourceApp = address(0);
        _sourceDeal = bytes32(0);
        if (paid != 0) earned[msg.sender] += paid;
    }

    /// @notice A pass holder pushes its own result `data` for `id` to `consumer.method` (no committee: the
    /// consumer trusts the holder's pass, e.g. an attested enclave). Replay key: (this chain, holder, id).
    function push(address consumer, bytes4 method, bytes32 id, bytes calldata data, uint256 gasLimit)
        external
    {
        passes.consume(msg.sender, consumer, method);
        bytes32 key = deliveryKey(block.chainid, msg.sender, id, consumer, method);
        if (_record[key] != bytes32(0)) revert AlreadyDelivered(key, status(key));
        bytes32 h = keccak256(abi.encode(consumer, method, id, keccak256(data), gasLimit));
        _sourceWorkerpool = msg.sender;
        _call(key, h, consumer, method, id, data, gasLimit);
        _sourceWorkerpool = address(0);
    }

    /// @notice Calls the consumer again for a failed delivery `d` (anyone may, e.g. once the consumer is
    /// fixed); on success the key becomes DELIVERED, else the new failure is recorded.
    function retry(Delivery calldata d, bytes calldata data) external {
        bytes32 key = deliveryKey(d.sourceChainId, d.sourceHub, d.taskid, d.consumer, d.method);
        bytes32 h = DeliveryHash.structHash(d);
        if (_record[key] != h || h == DELIVERED_WORD || keccak256(data) != d.digest) {
            revert NothingToRetry(key);
        }
        _sourceWorkerpool = d.workerpool;
        _sourceApp = d.app;
        _sourceDeal = d.dealid;
        _call(key, h, d.consumer, d.method, d.taskid, data, d.gasLimit);
        _sourceWorkerpool = address(0);
        _sourceApp = address(0);
        _sourceDeal = bytes32(0);
    }

    /// @notice Retries a failed `push` (same arguments as the push).
    function retryPush(
        address holder,
        address consumer,
        bytes4 method,
        bytes32 id,
        bytes calldata data,
        uint256 gasLimit
    ) external {
        bytes32 key = deliveryKey(block.chainid, holder, id, consumer, method);
        bytes32 h = keccak256(abi.encode(consumer, method, id, keccak256(data), gasLimit));
        if (_record[key] != h || h == DELIVERED_WORD) revert NothingToRetry(key);
        _sourceWorkerpool = holder;
        _call(key, h, consumer, method, id, data, gasLimit);
        _sourceWorkerpool = address(0);
    }

    function _deliverOne(bytes32 ds, Delivery calldata d, bytes calldata data, bytes[] calldata sigs)
        private
        returns (uint256 paid)
    {
        if (keccak256(data) != d.digest) revert DigestMismatch(d.taskid);
        bytes32 key = deliveryKey(d.sourceChainId, d.sourceHub, d.taskid, d.consumer, d.method);
        if (_record[key] != bytes32(0)) revert AlreadyDelivered(key, status(key));
        _checkSignatures(DeliveryHash.typed(ds, d), sigs);
        passes.consume(d.workerpool, d.consumer, d.method);
        _sourceWorkerpool = d.workerpool;
        _sourceApp = d.app;
        _sourceDeal = d.dealid;
        _call(key, DeliveryHash.structHash(d), d.consumer, d.method, d.taskid, data, d.gasLimit);
        uint256 f = fee[d.consumer];
        if (f != 0 && deposit[d.consumer] >= f) {
            deposit[d.consumer] -= f;
            paid = f;
        }
    }

    function _checkSignatures(bytes32 digest, bytes[] calldata sigs) private view {
        uint256 t = threshold;
        if (sigs.length < t) revert TooFewSignatures(sigs.length, t);
        uint256 e = epoch;
        address last;
        for (uint256 i; i < t; ++i) {
            address signer = ECDSA.tryRecoverCalldata(digest, sigs[i]);
            if (signer <= last || memberEpoch[signer] != e) revert NotMember(i, signer);
            last = signer;
        }
    }

    /// @dev Calls `consumer.method(taskid, data)` with exactly `gasLimit` gas and records the outcome.
    function _call(
        bytes32 key,
        bytes32 h,
        address consumer,
        bytes4 method,
        bytes32 taskid,
        bytes calldata data,
        uint256 gasLimit
    ) private {
        if (gasLimit == 0 || gasLimit > MAX_CALLBACK_GAS) revert BadGasLimit(gasLimit);
        (bool ok, bool outOfGas, bytes memory reason) =
            _capped(consumer, abi.encodeWithSelector(method, taskid, data), gasLimit);
        if (ok) {
            _record[key] = DELIVERED_WORD;
            emit Delivered(key, taskid, consumer);
        } else {
            _record[key] = h;
            emit CallbackFailed(key, taskid, consumer, outOfGas, reason, data);
        }
    }

    /// @dev A call with exactly `gasLimit` gas that copies at most MAX_REASON_BYTES of what the callee
    /// returns (so a consumer cannot make the gateway pay for a huge revert).
    function _capped(address target, bytes memory callData, uint256 gasLimit)
        private
        returns (bool ok, bool outOfGas, bytes memory reason)
    {
        // EIP-150 passes at most 63/64 of what is left: without this check a relayer could starve the
        // consumer on purpose and have a good result recorded as failed.
        uint256 needs = gasLimit + gasLimit / 63 + 30_000;
        if (gasleft() < needs) revert NotEnoughGas(gasleft(), needs);
        reason = new bytes(MAX_REASON_BYTES);
        uint256 before = gasleft();
        uint256 returned;
        assembly ("memory-safe") {
            ok := call(gasLimit, target, 0, add(callData, 0x20), mload(callData), 0, 0)
            returned := returndatasize()
            if gt(returned, MAX_REASON_BYTES) { returned := MAX_REASON_BYTES }
            returndatacopy(add(reason, 0x20), 0, returned)
            mstore(reason, returned)
        }
        outOfGas = !ok && returned == 0 && before - gasleft() >= gasLimit;
    }

    function _setCommittee(address[] memory members_, uint256 threshold_) private {
        if (threshold_ == 0 || threshold_ > members_.length) revert BadCommittee();
        uint256 e = ++epoch;
        delete _members;
        for (uint256 i; i < members_.length; ++i) {
            address m = members_[i];
            if (m == address(0) || memberEpoch[m] == e) revert BadCommittee();
            memberEpoch[m] = e;
            _members.push(m);
        }
        threshold = threshold_;
        emit CommitteeSet(e, members_, threshold_);
    }
}
