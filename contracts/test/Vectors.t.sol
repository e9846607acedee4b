// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {Fixture} from "./utils/Fixture.sol";
import {AppOrder, DatasetOrder, WorkerpoolOrder, RequestOrder, Deal} from "../src/libs/Types.sol";
import {Consensus} from "../src/libs/Consensus.sol";

/// Test vectors for the Rust mirror (docs/protocol.md): every id and hash computed by the contracts on
/// fixed inputs, kept in test/vectors.json. This test fails when the committed file is stale;
/// regenerate it with `WRITE_VECTORS=1 ../.tools/bin/forge test --match-contract VectorsTest`.
/// `paramsUtf8Hex` is the hex of the request's `params` string; `dealAbiEncoded` is abi.encode(deal) (21 words), whose
/// keccak256 is `dealHash`.
contract VectorsTest is Fixture {
    string internal constant PATH = "test/vectors.json";

    function _kv(string memory k, string memory v, bool last) internal pure returns (string memory) {
        return string.concat('    "', k, '": "', v, last ? '"\n' : '",\n');
    }

    function _b(bytes32 x) internal pure returns (string memory) {
        return vm.toString(x);
    }

    function _a(address x) internal pure returns (string memory) {
        return vm.toString(x);
    }

    function _u(uint256 x) internal pure returns (string memory) {
        return vm.toString(x);
    }

    function _orders()
        internal
        view
        returns (
            AppOrder memory ao,
            DatasetOrder memory dso,
            WorkerpoolOrder memory wpo,
            RequestOrder memory ro
        )
    {
        ao.app = app;
        ao.appprice = 3e9;
        ao.volume = 10;
        ao.tag = bytes32(uint256(1) << 4);
        ao.workerpoolrestrict = pool;
        ao.expiry = 1_800_000_000;
        ao.salt = keccak256("app salt");
        dso.dataset = dataset;
        dso.datasetprice = 2e9;
        dso.volume = 7;
        dso.apprestrict = app;
        dso.salt = keccak256("dataset salt");
        wpo.workerpool = pool;
        wpo.workerpoolprice = 10e9;
        wpo.volume = 100;
        wpo.tag = bytes32(uint256(0x11));
        wpo.category = 0;
        wpo.trust = 5;
        wpo.requesterrestrict = requester;
        wpo.salt = keccak256("workerpool salt");
        ro.app = app;
        ro.appmaxprice = 4e9;
        ro.dataset = dataset;
        ro.datasetmaxprice = 2e9;
        ro.workerpool = pool;
        ro.workerpoolmaxprice = 12e9;
        ro.requester = requester;
        ro.volume = 5;
        ro.tag = bytes32(uint256(1) << 4);
        ro.category = 0;
        ro.trust = 3;
        ro.beneficiary = address(0xBE);
        ro.callback = address(0);
        ro.params = '{"args":"--size 1024","inputs":["https://example.com/in.txt"]}';
        ro.expiry = 0;
        ro.salt = keccak256("request salt");
    }

    function _json() internal returns (string memory j) {
        (AppOrder memory ao, DatasetOrder memory dso, WorkerpoolOrder memory wpo, RequestOrder memory ro) =
            _orders();
        j = string.concat(
            "{\n",
            '  "chainId": ',
            _u(block.chainid),
            ',\n  "hub": "',
            _a(address(hub)),
            '",\n  "domainSeparator": "',
            _b(hubx.domainSeparator()),
            '",\n'
        );
        j = string.concat(j, _inputs(ao, dso, wpo, ro));
        j = string.concat(j, '  "orders": {\n', _kv("appOrderHash", _b(hubx.hashAppOrder(ao)), false));
        j = string.concat(j, _kv("datasetOrderHash", _b(hubx.hashDatasetOrder(dso)), false));
        j = string.concat(j, _kv("workerpoolOrderHash", _b(hubx.hashWorkerpoolOrder(wpo)), false));
        j = string.concat(j, _kv("requestOrderHash", _b(hubx.hashRequestOrder(ro)), true), "  },\n");
        // sign and match: the deal, its id, commitment and task ids
        ao.sign = _sign(APP_OWNER_PK, hubx.hashAppOrder(ao));
        dso.sign = _sign(DATASET_OWNER_PK, hubx.hashDatasetOrder(dso));
        wpo.sign = _sign(SCHEDULER_PK, hubx.hashWorkerpoolOrder(wpo));
        ro.sign = _sign(REQUESTER_PK, hubx.hashRequestOrder(ro));
        Deal memory d = _match(ao, dso, wpo, ro);
        j = string.concat(j, _dealVectors(d), _taskVectors(_taskId(d, 2)));
        j = string.concat(j, _registryVectors(), _consensusVectors(), "}\n");
    }

    function _inputs(
        AppOrder memory ao,
        DatasetOrder memory dso,
        WorkerpoolOrder memory wpo,
        RequestOrder memory ro
    ) internal pure returns (string memory j) {
        j = string.concat(
            '  "appOrder": {\n', _kv("app", _a(ao.app), false), _kv("appprice", _u(ao.appprice), false)
        );
        j = string.concat(j, _kv("volume", _u(ao.volume), false), _kv("tag", _b(ao.tag), false));
        j = string.concat(j, _kv("datasetrestrict", _a(ao.datasetrestrict), false));
        j = string.concat(j, _kv("workerpoolrestrict", _a(ao.workerpoolrestrict), false));
        j = string.concat(j, _kv("requesterrestrict", _a(ao.requesterrestrict), false));
        j = string.concat(j, _kv("expiry", _u(ao.expiry), false), _kv("salt", _b(ao.salt), true), "  },\n");
        j = string.concat(j, '  "datasetOrder": {\n', _kv("dataset", _a(dso.dataset), false));
        j = string.concat(
            j, _kv("datasetprice", _u(dso.datasetprice), false), _kv("volume", _u(dso.volume), false)
        );
        j = string.concat(j, _kv("tag", _b(dso.tag), false), _kv("apprestrict", _a(dso.apprestrict), false));
        j = string.concat(j, _kv("workerpoolrestrict", _a(dso.workerpoolrestrict), false));
        j = string.concat(j, _kv("requesterrestrict", _a(dso.requesterrestrict), false));
        j = string.concat(j, _kv("expiry", _u(dso.expiry), false), _kv("salt", _b(dso.salt), true), "  },\n");
        j = string.concat(j, '  "workerpoolOrder": {\n', _kv("workerpool", _a(wpo.workerpool), false));
        j = string.concat(j, _kv("workerpoolprice", _u(wpo.workerpoolprice), false));
        j = string.concat(j, _kv("volume", _u(wpo.volume), false), _kv("tag", _b(wpo.tag), false));
        j = string.concat(j, _kv("category", _u(wpo.category), false), _kv("trust", _u(wpo.trust), false));
        j = string.concat(j, _kv("apprestrict", _a(wpo.apprestrict), false));
        j = string.concat(j, _kv("datasetrestrict", _a(wpo.datasetrestrict), false));
        j = string.concat(j, _kv("requesterrestrict", _a(wpo.requesterrestrict), false));
        j = string.concat(j, _kv("expiry", _u(wpo.expiry), false), _kv("salt", _b(wpo.salt), true), "  },\n");
        j = string.concat(j, _requestInputs(ro));
    }

    function _requestInputs(RequestOrder memory ro) internal pure returns (string memory j) {
        j = string.concat('  "requestOrder": {\n', _kv("app", _a(ro.app), false));
        j = string.concat(
            j, _kv("appmaxprice", _u(ro.appmaxprice), false), _kv("dataset", _a(ro.dataset), false)
        );
        j = string.concat(j, _kv("datasetmaxprice", _u(ro.datasetmaxprice), false));
        j = string.concat(j, _kv("workerpool", _a(ro.workerpool), false));
        j = string.concat(j, _kv("workerpoolmaxprice", _u(ro.workerpoolmaxprice), false));
        j = string.concat(j, _kv("requester", _a(ro.requester), false), _kv("volume", _u(ro.volume), false));
        j = string.concat(j, _kv("tag", _b(ro.tag), false), _kv("category", _u(ro.category), false));
        j = string.concat(j, _kv("trust", _u(ro.trust), false), _kv("beneficiary", _a(ro.beneficiary), false));
        j = string.concat(j, _kv("callback", _a(ro.callback), false));
        j = string.concat(j, _kv("paramsUtf8Hex", vm.toString(abi.encodePacked(ro.params)), false));
        j = string.concat(j, _kv("expiry", _u(ro.expiry), false), _kv("salt", _b(ro.salt), true), "  },\n");
    }

    function _dealVectors(Deal memory d) internal view returns (string memory j) {
        bytes32 dealid = _dealId(d);
        (bytes32 commitment,) = hubx.dealRecord(dealid);
        j = string.concat('  "deal": {\n', _kv("appOwner", _a(d.appOwner), false));
        j = string.concat(j, _kv("datasetOwner", _a(d.datasetOwner), false));
        j = string.concat(j, _kv("scheduler", _a(d.scheduler), false));
        j = string.concat(j, _kv("requester", _a(d.requester), false));
        j = string.concat(j, _kv("tag", _b(d.tag), false));
        j = string.concat(j, _kv("workClockTimeRef", _u(d.workClockTimeRef), false));
        j = string.concat(j, _kv("workerStake", _u(d.workerStake), false));
        j = string.concat(j, _kv("schedulerRewardRatio", _u(d.schedulerRewardRatio), false));
        j = string.concat(j, _kv("botFirst", _u(d.botFirst), false));
        j = string.concat(j, _kv("volume", _u(d.volume), false));
        j = string.concat(j, '    "dealAbiEncoded": "', vm.toString(abi.encode(d)), '",\n');
        j = string.concat(j, _kv("dealHash", _b(keccak256(abi.encode(d))), false));
        j = string.concat(j, _kv("dealRecordCommitment", _b(commitment), false));
        j = string.concat(j, _kv("dealid", _b(dealid), false));
        j = string.concat(j, _kv("taskid2", _b(_taskId(d, 2)), true), "  },\n");
    }

    function _taskVectors(bytes32 taskid) internal view returns (string memory) {
        address worker = workers[0];
        bytes32 digest = keccak256("result digest");
        bytes32 rh = _resultHash(taskid, digest);
        bytes32 rs = _resultSeal(worker, taskid, digest);
        bytes32 authMsg = keccak256(abi.encodePacked(worker, taskid, enclave));
        bytes32 enclaveMsg = keccak256(abi.encodePacked(rh, rs));
        string memory j = string.concat('  "task": {\n', _kv("worker", _a(worker), false));
        j = string.concat(j, _kv("enclave", _a(enclave), false), _kv("digest", _b(digest), false));
        j = string.concat(j, _kv("resultHash", _b(rh), false), _kv("resultSeal", _b(rs), false));
        j = string.concat(j, _kv("authorizationMessage", _b(authMsg), false));
        j = string.concat(
            j,
            _kv(
                "authorizationDigest",
                _b(keccak256(abi.encodePacked("\x19Ethereum Signed Message:\n32", authMsg))),
                false
            )
        );
        j = string.concat(j, _kv("enclaveMessage", _b(enclaveMsg), false));
        return
            string.concat(
                j, _kv("replicatedCommit208", _b(bytes32(uint256(enclaveMsg) >> 48)), true), "  },\n"
            );
    }

    function _registryVectors() internal view returns (string memory) {
        string memory j = string.concat('  "registries": {\n', _kv("appOwner", _a(appOwner), false));
        j = string.concat(
            j,
            _kv(
                "appId(hello, https://apps.example/hello.wasm, keccak256(hello-module), 0)",
                _a(
                    apps.predictId(
                        appOwner, "hello", "https://apps.example/hello.wasm", keccak256("hello-module"), 0
                    )
                ),
                false
            )
        );
        j = string.concat(j, _kv("datasetOwner", _a(datasetOwner), false));
        j = string.concat(
            j,
            _kv(
                "datasetId(data, https://data.example/data.bin, keccak256(data))",
                _a(
                    datasets.predictId(
                        datasetOwner, "data", "https://data.example/data.bin", keccak256("data")
                    )
                ),
                false
            )
        );
        j = string.concat(j, _kv("scheduler", _a(scheduler), false));
        return string.concat(j, _kv("workerpoolId(pool, count 0)", _a(pool), true), "  },\n");
    }

    function _consensusVectors() internal pure returns (string memory s) {
        uint16[2][10] memory weights = [
            [uint16(0), 1],
            [uint16(8), 1],
            [uint16(9), 1],
            [uint16(11), 1],
            [uint16(12), 1],
            [uint16(30), 1],
            [uint16(300), 1],
            [uint16(3001), 1],
            [uint16(300), 100],
            [uint16(3001), 20]
        ];
        s = '  "workerWeight(score,trust)": {';
        for (uint256 i; i < weights.length; ++i) {
            s = string.concat(
                s,
                '"',
                _u(weights[i][0]),
                ",",
                _u(weights[i][1]),
                '": ',
                _u(Consensus.workerWeight(weights[i][0], weights[i][1])),
                i + 1 < weights.length ? ", " : ""
            );
        }
        s = string.concat(s, "},\n", '  "reached(group,members,sumGroups,trust)": {');
        uint24[4][10] memory cases = [
            [uint24(2), 1, 2, 1],
            [uint24(2), 1, 2, 2],
            [uint24(4), 2, 4, 2],
            [uint24(2), 1, 2, 3],
            [uint24(4), 2, 4, 3],
            [uint24(4), 2, 6, 3],
            [uint24(8), 3, 10, 3],
            [uint24(99), 1, 99, 100],
            [uint24(81), 2, 81, 100],
            [uint24(0), 0, 0, 1]
        ];
        for (uint256 i; i < cases.length; ++i) {
            s = string.concat(
                s,
                '"',
                _u(cases[i][0]),
                ",",
                _u(cases[i][1]),
                ",",
                _u(cases[i][2]),
                ",",
                _u(cases[i][3]),
                '": ',
                vm.toString(Consensus.reached(cases[i][0], cases[i][1], cases[i][2], cases[i][3])),
                i + 1 < cases.length ? ", " : ""
            );
        }
        s = string.concat(s, "}\n");
    }

    function test_vectorsAreCurrent() public {
        string memory expected = _json();
        if (vm.envOr("WRITE_VECTORS", uint256(0)) == 1) {
            vm.writeFile(PATH, expected);
            return;
        }
        assertEq(
            keccak256(bytes(vm.readFile(PATH))),
            keccak256(bytes(expected)),
            "test/vectors.json is stale: WRITE_VECTORS=1 forge test --match-contract VectorsTest"
        );
    }
}
