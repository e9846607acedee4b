// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

/// @notice A hook that checks the evidence of a pass granted for a proof (or an attested TEE): a zk
/// verifier, a TEE quote checker... set per consumer by its owner.
interface IPassVerifier {
    /// @notice True when `evidence` proves that `holder` may act on `consumer` for `reason`.
    function verifyPass(address holder, address consumer, uint8 reason, bytes32 evidence)
        external
        view
        returns (bool);
}

/// @title WorkPasses
/// @notice Work passes on the destination chain: a pass links one holder (an off-chain identity: a
/// workerpool, an enclave key, a person) to one consumer contract, or to some of its methods, with a
/// scope (OWN > DELEGATE > WORK > NONE), a validity window and a usage (one-time, per service: any
/// number of uses in the window, or n uses), for a reason (attested TEE, committee consensus, trusted
/// identity, proof) with its evidence. A holder has at most one pass per consumer (a new grant replaces
/// it). A consumer registers itself, naming its owner (scope OWN); an issuer grants only scopes below
/// its own and only methods it holds; the issuer or the consumer's owner revokes, and a revoked pass takes the passes granted under it along. The gateway that
/// deployed this contract consumes passes when it delivers (see docs/oracles.md).
contract WorkPasses {
    /// @notice What a pass allows, in increasing order: NONE, WORK (deliver results), DELEGATE (grant
    /// WORK), OWN (grant DELEGATE and WORK, revoke any pass of the consumer, set its verifier).
    enum Scope {
        NONE,
        WORK,
        DELEGATE,
        OWN
    }

    /// @notice How often a pass can be used: ONE_TIME (once), PER_SERVICE (any number of times in its
    /// window), N_USES (`uses` times).
    enum Usage {
        ONE_TIME,
        PER_SERVICE,
        N_USES
    }

    /// @notice Why the holder is trusted; the evidence (a hash: of a quote, of a committee decision, of an
    /// identity document, of a proof) is kept for anyone to audit. TEE and PROOF go through the consumer's
    /// verifier when one is set; PROOF needs one.
    enum Reason {
        TEE,
        COMMITTEE,
        IDENTITY,
        PROOF
    }

    /// @notice The terms of a grant. `uses` counts only for N_USES.
    struct Terms {
        Scope scope;
        Usage usage;
        uint32 uses;
        uint64 notBefore;
        uint64 notAfter;
        Reason reason;
        bytes32 evidence;
    }

    /// @notice One pass. `allMethods` or the listed methods (`allowsMethod`). `issuedBy` is the pass its issuer
    /// granted it under (0 for a consumer's registration): a pass is valid only while that one is not revoked.
    struct Pass {
        address holder;
        Scope scope;
        Usage usage;
        Reason reason;
        bool revoked;
        bool allMethods;
        uint32 usesLeft;
        uint64 notBefore;
        uint64 notAfter;
        uint64 issuedBy;
        address consumer;
        address issuer;
        bytes32 evidence;
    }

    /// @notice The gateway allowed to consume passes.
    address public immutable gateway;
    /// @notice Number of passes ever issued; pass ids start at 1.
    uint256 public passCount;
    /// @notice Pass by id.
    mapping(uint256 id => Pass) internal _passes;
    /// @notice The methods a pass lists (when not `allMethods`).
    mapping(uint256 id => mapping(bytes4 method => bool)) public allowsMethod;
    /// @notice The current pass of a holder on a consumer (0: none).
    mapping(address holder => mapping(address consumer => uint256 id)) public passOf;
    /// @notice The verifier of TEE and PROOF evidence of each consumer.
    mapping(address consumer => address) public verifierOf;
    /// @notice The owner a consumer registered (its OWN pass holder at registration).
    mapping(address consumer => address) public ownerOf;

    /// @notice A pass was issued (replacing `holder`'s previous pass on `consumer`, if any).
    event PassGranted(
        uint256 indexed id,
        address indexed holder,
        address indexed consumer,
        address issuer,
        Terms terms,
        bytes4[] methods
    );
    /// @notice A pass was revoked.
    event PassRevoked(uint256 indexed id, address indexed by);
    /// @notice A counted pass was used for `method` by the gateway.
    event PassUsed(uint256 indexed id, bytes4 method, uint32 usesLeft);
    /// @notice A consumer registered with `owner`.
    event ConsumerRegistered(address indexed consumer, address indexed owner, uint256 passId);
    /// @notice A consumer's verifier changed.
    event VerifierSet(address indexed consumer, address verifier);

    /// @notice The holder has no pass on this consumer.
    error NoPass(address holder, address consumer);
    /// @notice The pass was revoked.
    error PassRevokedError(uint256 id);
    /// @notice The pass is outside its validity window (now is `now_`).
    error PassNotValid(uint256 id, uint64 notBefore, uint64 notAfter, uint256 now_);
    /// @notice The pass has no use left.
    error PassExhausted(uint256 id);
    /// @notice The pass's scope is below what the action needs.
    error ScopeTooLow(uint256 id, Scope has, Scope needs);
    /// @notice The pass does not allow this method of the consumer.
    error MethodNotAllowed(uint256 id, bytes4 method);
    /// @notice An issuer may grant only scopes strictly below its own (and never NONE).
    error ScopeNotGrantable(Scope issuerScope, Scope requested);
    /// @notice The grant asks for a method, or a window, the issuer's pass does not cover.
    error BeyondIssuer(uint256 issuerPass);
    /// @notice The window is empty, or the usage's count makes no sense (N_USES needs uses > 0).
    error BadTerms();
    /// @notice The evidence does not satisfy the consumer's verifier (or PROOF without a verifier).
    error EvidenceRejected(address verifier);
    /// @notice Only the gateway consumes passes.
    error NotGateway(address caller);
    /// @notice The consumer is already registered.
    error AlreadyRegistered(address consumer);
    /// @notice Only the pass's issuer or the consumer's owner revokes it.
    error NotRevoker(uint256 id, address caller);
    /// @notice No such pass.
    error UnknownPass(uint256 id);
    /// @notice The pass its issuer granted it under (or one above it) was revoked.
    error IssuerRevoked(uint256 id, uint256 issuerPass);

    constructor(address gateway_) {
        gateway = gateway_;
    }

    /// @notice The pass `id`.
    function pass(uint256 id) external view returns (Pass memory) {
        return _passes[id];
    }

    /// @notice Called by a consumer contract (from its constructor, typically): `owner` gets an OWN pass
    /// on it, for every method, without end.
    function register(address owner) external returns (uint256 id) {
        address consumer = msg.sender;
        if (ownerOf[consumer] != address(0) || owner == address(0)) revert AlreadyRegistered(consumer);
        ownerOf[consumer] = owner;
        Terms memory own = Terms({
            scope: Scope.OWN,
            usage: Usage.PER_SERVICE,
            uses: 0,
            notBefore: 0,
            notAfter: type(uint64).max,
            reason: Reason.IDENTITY,
            evidence: bytes32(0)
        });
        id = _issue(owner, consumer, owner, 0, own, new bytes4[](0));
        emit ConsumerRegistered(consumer, owner, id);
    }

    /// @notice The consumer's owner sets the verifier of TEE and PROOF evidence (0: none).
    function setVerifier(address consumer, address verifier) external {
        _require(msg.sender, consumer, bytes4(0), Scope.OWN);
        verifierOf[consumer] = verifier;
        emit VerifierSet(consumer, verifier);
    }

    /// @notice Grants `holder` a pass on `consumer` (replacing its previous one). The caller's own pass on
    /// the consumer must be valid, above `t.scope`, cover `methods` (empty: every method, so the caller
    /// must hold every method) and the window.
    function grant(address holder, address consumer, Terms calldata t, bytes4[] calldata methods)
        external
        returns (uint256 id)
    {
        uint256 mine = _valid(msg.sender, consumer);
        _checkGrant(mine, t, methods);
        address verifier = verifierOf[consumer];
        if (t.reason == Reason.PROOF || (t.reason == Reason.TEE && verifier != address(0))) {
            if (
                verifier == address(0)
                    || !IPassVerifier(verifier).verifyPass(holder, consumer, uint8(t.reason), t.evidence)
            ) revert EvidenceRejected(verifier);
        }
        Terms memory terms = t;
        terms.uses = t.usage == Usage.ONE_TIME ? 1 : t.usage == Usage.N_USES ? t.uses : 0;
        id = _issue(holder, consumer, msg.sender, mine, terms, methods);
    }

    function _checkGrant(uint256 mine, Terms calldata t, bytes4[] calldata methods) private view {
        Pass storage issuer = _passes[mine];
        if (t.scope == Scope.NONE || t.scope >= issuer.scope) {
            revert ScopeNotGrantable(issuer.scope, t.scope);
        }
        if (t.notAfter <= t.notBefore || (t.usage == Usage.N_USES && t.uses == 0)) revert BadTerms();
        if (t.notAfter > issuer.notAfter || t.notBefore < issuer.notBefore) revert BeyondIssuer(mine);
        if (!issuer.allMethods) {
            if (methods.length == 0) revert BeyondIssuer(mine);
            for (uint256 i; i < methods.length; ++i) {
                if (!allowsMethod[mine][methods[i]]) revert BeyondIssuer(mine);
            }
        }
    }

    /// @notice Revokes pass `id`: its issuer or the consumer's owner (a valid OWN pass) may.
    function revoke(uint256 id) external {
        Pass storage p = _passes[id];
        if (p.holder == address(0)) revert UnknownPass(id);
        if (p.issuer != msg.sender) {
            uint256 own = passOf[msg.sender][p.consumer];
            Pass storage o = _passes[own];
            if (own == 0 || o.revoked || o.scope != Scope.OWN || block.timestamp > o.notAfter) {
                revert NotRevoker(id, msg.sender);
            }
        }
        p.revoked = true;
        emit PassRevoked(id, msg.sender);
    }

    /// @notice Uses `holder`'s pass on `consumer` for `method` (WORK or above): the gateway calls it for
    /// each delivery. Reverts with the reason when the pass does not allow it.
    function consume(address holder, address consumer, bytes4 method) external returns (uint256 id) {
        if (msg.sender != gateway) revert NotGateway(msg.sender);
        id = _require(holder, consumer, method, Scope.WORK);
        Pass storage p = _passes[id];
        // A pass without a count changes nothing when used: no write, no event.
        if (p.usage != Usage.PER_SERVICE) {
            uint32 left = p.usesLeft;
            if (left == 0) revert PassExhausted(id);
            p.usesLeft = --left;
            emit PassUsed(id, method, left);
        }
    }

    /// @notice Whether `holder` may deliver `method` to `consumer` now (for relayers, before sending):
    /// the revert data of the failure when not.
    function check(address holder, address consumer, bytes4 method)
        external
        view
        returns (bool ok, bytes memory why)
    {
        try this.checkOrRevert(holder, consumer, method) {
            return (true, "");
        } catch (bytes memory reason) {
            return (false, reason);
        }
    }

    /// @notice `check`'s body: reverts with the reason a delivery would be refused.
    function checkOrRevert(address holder, address consumer, bytes4 method) external view {
        uint256 id = _require(holder, consumer, method, Scope.WORK);
        Pass storage p = _passes[id];
        if (p.usage != Usage.PER_SERVICE && p.usesLeft == 0) revert PassExhausted(id);
    }

    function _valid(address holder, address consumer) private view returns (uint256 id) {
        id = passOf[holder][consumer];
        if (id == 0) revert NoPass(holder, consumer);
        Pass storage p = _passes[id];
        if (p.revoked) revert PassRevokedError(id);
        if (block.timestamp < p.notBefore || block.timestamp > p.notAfter) {
            revert PassNotValid(id, p.notBefore, p.notAfter, block.timestamp);
        }
        // Revocation cascades when a pass is used rather than when its issuer's is revoked, so revoking
        // never loops over what a pass issued: issuers' scopes strictly decrease, so the chain is at most
        // two passes above a WORK pass.
        uint256 up = p.issuedBy;
        while (up != 0) {
            Pass storage q = _passes[up];
            if (q.revoked) revert IssuerRevoked(id, up);
            up = q.issuedBy;
        }
    }

    function _require(address holder, address consumer, bytes4 method, Scope needs)
        private
        view
        returns (uint256 id)
    {
        id = _valid(holder, consumer);
        Pass storage p = _passes[id];
        if (p.scope < needs) revert ScopeTooLow(id, p.scope, needs);
        if (method != bytes4(0) && !p.allMethods && !allowsMethod[id][method]) {
            revert MethodNotAllowed(id, method);
        }
    }

    function _issue(
        address holder,
        address consumer,
        address issuer,
        uint256 issuedBy,
        Terms memory t,
        bytes4[] memory methods
    ) private returns (uint256 id) {
        id = ++passCount;
        _passes[id] = Pass({
            holder: holder,
            scope: t.scope,
            usage: t.usage,
            reason: t.reason,
            revoked: false,
            allMethods: methods.length == 0,
            usesLeft: t.uses,
            notBefore: t.notBefore,
            notAfter: t.notAfter,
            issuedBy: uint64(issuedBy),
            consumer: consumer,
            issuer: issuer,
            evidence: t.evidence
        });
        for (uint256 i; i < methods.length; ++i) {
            allowsMethod[id][methods[i]] = true;
        }
        passOf[holder][consumer] = id;
        emit PassGranted(id, holder, consumer, issuer, t, methods);
    }
}
