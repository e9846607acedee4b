// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {Test} from "./utils/Test.sol";

/// The JSON cheatcodes this test needs beyond the minimal Vm of utils.
interface VmJson {
    function parseJsonKeys(string calldata json, string calldata key) external pure returns (string[] memory);
}

/// IHub is written by hand, so it can drift from what the hub really serves. The selectors of its
/// functions must be exactly those of Hub, HubExtension, HubSelection and HubKeepers together (Hub's fallback delegates
/// every function it lacks to HubExtension, whose fallback delegates to HubSelection, whose fallback delegates to HubKeepers): a function missing from IHub can't be called by the Rust side,
/// one IHub has but neither contract serves reverts at run time.
contract IHubTest is Test {
    VmJson internal constant json = VmJson(address(uint160(uint256(keccak256("hevm cheat code")))));

    function _functions(string memory name) internal view returns (string[] memory) {
        string memory artifact = vm.readFile(string.concat("out/", name, ".sol/", name, ".json"));
        return json.parseJsonKeys(artifact, ".methodIdentifiers");
    }

    function _contains(string[] memory list, string memory s) internal pure returns (bool) {
        for (uint256 i; i < list.length; ++i) {
            if (keccak256(bytes(list[i])) == keccak256(bytes(s))) return true;
        }
        return false;
    }

    function test_ihub_serves_exactly_hub_and_extension() public view {
        string[] memory ihub = _functions("IHub");
        string[] memory hub = _functions("Hub");
        string[] memory ext = _functions("HubExtension");
        string[] memory sel = _functions("HubSelection");
        string[] memory kp = _functions("HubKeepers");
        string[] memory au = _functions("HubAudit");
        require(ihub.length > 0, "no functions read from the IHub artifact");
        for (uint256 i; i < ihub.length; ++i) {
            require(
                _contains(hub, ihub[i]) || _contains(ext, ihub[i]) || _contains(sel, ihub[i])
                    || _contains(kp, ihub[i]) || _contains(au, ihub[i]),
                string.concat("IHub declares a function the hub doesn't serve: ", ihub[i])
            );
        }
        for (uint256 i; i < hub.length; ++i) {
            require(_contains(ihub, hub[i]), string.concat("IHub lacks Hub's ", hub[i]));
        }
        for (uint256 i; i < ext.length; ++i) {
            require(_contains(ihub, ext[i]), string.concat("IHub lacks HubExtension's ", ext[i]));
        }
        for (uint256 i; i < sel.length; ++i) {
            require(_contains(ihub, sel[i]), string.concat("IHub lacks HubSelection's ", sel[i]));
        }
        for (uint256 i; i < kp.length; ++i) {
            require(_contains(ihub, kp[i]), string.concat("IHub lacks HubKeepers' ", kp[i]));
        }
        for (uint256 i; i < au.length; ++i) {
            require(_contains(ihub, au[i]), string.concat("IHub lacks HubAudit's ", au[i]));
        }
    }
}
