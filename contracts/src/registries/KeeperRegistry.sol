// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

/// @title KeeperRegistry
/// @notice Where each keeper (an attester of the hub: `decloud node --keeper`) publishes the public URL of its
/// SMS, so that a dataset's owner and a TEE worker find the keepers drawn for an epoch without a list typed by
/// hand. Each address sets only its own URL (`msg.sender`): the identity the hub counts is the attester's
/// address, so the URL is keyed by it. A URL is a claim, not a proof: whoever reads one still believes only
/// the signatures of the keeper's answers (docs/confidential.md, "Finding the keepers").
/// @dev Deployed beside the hub (the hub has no room left), its address reachable through the hub's keepers
/// facet (`keeperRegistry()`). URLs live in storage, enumerable in registration order, so that a reader needs
/// two calls and no log scan (public RPC providers cap `eth_getLogs`); `KeeperUrlSet` tells indexers.
contract KeeperRegistry {
    /// @notice The longest URL accepted, in bytes (a host, a port and a `#sha256:<64 hex>` pin fit easily).
    uint256 public constant MAX_URL_LENGTH = 256;

    /// @notice `keeper` set its URL to `url` (empty: removed).
    event KeeperUrlSet(address indexed keeper, string url);

    /// @notice The URL is longer than MAX_URL_LENGTH bytes.
    error UrlTooLong(uint256 length, uint256 max);
    /// @notice The URL does not start with `https://` (a keeper serves TLS only).
    error UrlNotHttps();
    /// @notice The URL holds a byte that is not printable ASCII (a space, a control character, UTF-8) at `index`.
    error UrlNotPrintable(uint256 index);

    mapping(address => string) internal _urls;
    mapping(address => bool) internal _listed;
    address[] internal _keepers;

    /// @notice The caller publishes its URL (`https://...`, printable ASCII, at most MAX_URL_LENGTH bytes), or
    /// removes it with the empty string.
    function setUrl(string calldata url) external {
        bytes calldata b = bytes(url);
        if (b.length > MAX_URL_LENGTH) revert UrlTooLong(b.length, MAX_URL_LENGTH);
        if (b.length != 0) {
            if (b.length <= 8 || bytes8(b[0:8]) != "https://") revert UrlNotHttps();
            for (uint256 i = 8; i < b.length; ++i) {
                if (uint8(b[i]) <= 0x20 || uint8(b[i]) >= 0x7f) revert UrlNotPrintable(i);
            }
            if (!_listed[msg.sender]) {
                _listed[msg.sender] = true;
                _keepers.push(msg.sender);
            }
        }
        _urls[msg.sender] = url;
        emit KeeperUrlSet(msg.sender, url);
    }

    /// @notice The URL `keeper` published (empty when none).
    function urlOf(address keeper) external view returns (string memory) {
        return _urls[keeper];
    }

    /// @notice How many addresses ever published a URL (those that removed it included).
    function keeperCount() external view returns (uint256) {
        return _keepers.length;
    }

    /// @notice Up to `count` of the addresses that ever published a URL from position `start`, in the order of
    /// their first URL, with their current URLs (empty for one removed).
    function keepers(uint256 start, uint256 count)
        external
        view
        returns (address[] memory addresses, string[] memory urls)
    {
        uint256 total = _keepers.length;
        uint256 n = start < total ? total - start : 0;
        if (count < n) n = count;
        addresses = new address[](n);
        urls = new string[](n);
        for (uint256 i = 0; i < n; ++i) {
            address k = _keepers[start + i];
            addresses[i] = k;
            urls[i] = _urls[k];
        }
    }
}
