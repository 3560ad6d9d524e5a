# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pptv.dcos.release_record with backend zookeeper, against a real ZooKeeper.

The ZooKeeper is Debian's, standalone on a free loopback port (tests/support/zk_server.py). The
module runs through ansible-playbook (tests/support/ansible_run.py). What it reports is checked
against an independent read of the znodes with a separate kazoo client; tampering is done with
that client too, as an operator with zkCli would. Each test has its own znode root
``/pptvreg-<random>``, deleted at the end.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

import pytest
from support.ansible_run import ROOT, run_play

from ansible_collections.pptv.dcos.plugins.module_utils._release import sign

PREFIX = "pptvreg-"
KEY = "pptvreg-signing-key-0123456789"
OTHER_KEY = "pptvreg-another-key-9876543210"
APP = PREFIX + "shop/web"
IMAGE = f"127.0.0.1:5000/{PREFIX}shop/web"
D1, D2, D3 = ("sha256:" + c * 64 for c in "123")
POLICY_INT = f"policy: pptv.dcos requires a passing record in env int for {APP}@"


class Store:
    """One test's znode root, the module's store options for it, and an independent reader."""

    def __init__(self, zookeeper, client):
        self.top = f"/{PREFIX}{uuid.uuid4().hex[:8]}"
        self.root = self.top + "/releases"
        self.base = self.root + "/records"
        self.client = client
        self.args = {"backend": "zookeeper", "zk_hosts": zookeeper.hosts, "zk_root": self.root}

    def nodes(self):
        """``[(path, record)]`` of every record znode, in sequence order."""
        if not self.client.exists(self.base):
            return []
        children = sorted(self.client.get_children(self.base))
        return [(f"{self.base}/{c}", json.loads(self.client.get(f"{self.base}/{c}")[0])) for c in children]


@pytest.fixture
def store(zookeeper, zk_client):
    made = Store(zookeeper, zk_client)
    yield made
    zk_client.delete(made.top, recursive=True)


def task(store, state, key=KEY, **args):
    options = {"state": state, "app": APP, "signing_key": key, **store.args, **args}
    return {"pptv.dcos.release_record": options, "ignore_errors": True}


def recorded(store, digest, env, result, job, key=KEY, **extra):
    fields = {"image": IMAGE, "digest": digest, "env": env, "result": result, "user": "pptvreg", "job": job}
    return task(store, "recorded", key=key, **fields, **extra)


def test_record_verify_and_query_newest_first(store):
    results = run_play(
        [
            recorded(store, D1, "int", "passed", "j1"),
            recorded(store, D2, "int", "failed", "j2"),
            recorded(store, D2, "func-shop", "passed", "j3"),
            recorded(store, D1, "int", "passed", "j1"),  # the same record again
            task(store, "verified", digest=D1, required_envs=["int"]),
            task(store, "verified", digest=D2, required_envs=["int"]),
            task(store, "verified", digest=D3, required_envs=["int"]),
            task(store, "query"),
            task(store, "query", digest=D2),
        ]
    )
    first, second, third, again, ok, refused, unknown, listed, narrowed = results
    for result in (first, second, third):
        assert result.changed and not result.failed and result["appended"], result
    assert not again.changed and not again["appended"] and again["count"] == 3, again
    nodes = store.nodes()
    assert [path for path, _r in nodes] == [
        first["record"]["where"],
        second["record"]["where"],
        third["record"]["where"],
    ]
    assert all(path.startswith(store.base + "/record-") for path, _r in nodes)
    assert [(r["digest"], r["env"], r["result"], r["job"]) for _p, r in nodes] == [
        (D1, "int", "passed", "j1"),
        (D2, "int", "failed", "j2"),
        (D2, "func-shop", "passed", "j3"),
    ]
    assert all(r["signature"] == sign(r, KEY.encode()) for _p, r in nodes)

    assert not ok.failed, ok
    assert ok["msg"].startswith(POLICY_INT + D1 + ": found") and ok["policy"] == "pptv.dcos"
    assert ok["record"]["where"] == nodes[0][0] and ok["image_ref"] == f"{IMAGE}@{D1}"
    assert refused.failed and refused["msg"].startswith(POLICY_INT + D2), refused
    assert "the newest record in int is failed" in refused["msg"]
    assert unknown.failed and "none for this digest" in unknown["msg"] and unknown["policy"] == "pptv.dcos"

    assert [r["job"] for r in listed["records"]] == ["j3", "j2", "j1"], listed
    assert [r["where"] for r in listed["records"]] == [path for path, _r in reversed(nodes)]
    assert all(r["valid"] for r in listed["records"]) and listed["invalid"] == []
    assert listed["passed_digests"] == [D2, D1]
    assert [r["job"] for r in narrowed["records"]] == ["j3", "j2"]
    assert KEY not in listed["stdout"]


WRITER = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
from ansible_collections.pptv.dcos.plugins.module_utils._diff import ChangeRecord
from ansible_collections.pptv.dcos.plugins.module_utils._release import ReleaseRecordManager, open_store
base, jobs = json.loads(sys.argv[2]), json.loads(sys.argv[3])
store = open_store(base)
sys.stdin.readline()  # both writers start together
appended = 0
for job in jobs:
    result = ReleaseRecordManager(dict(base, job=job), ChangeRecord()).run(store)
    appended += result["appended"]
store.close()
print(appended)
"""


def test_two_concurrent_writers_keep_every_record_once(store):
    """Each writer appends its own 15 records and the same 15 shared ones, at the same time."""
    base = dict(
        task(store, "recorded")["pptv.dcos.release_record"],
        image=IMAGE,
        digest=D1,
        env="int",
        result="passed",
        user="pptvreg",
    )
    shared = [f"shared-{n}" for n in range(15)]
    writers = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                WRITER,
                str(ROOT / ".collections"),
                json.dumps(base),
                json.dumps([job for n in range(15) for job in (f"{name}-{n}", shared[n])]),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("a", "b")
    ]
    for writer in writers:
        writer.stdin.write("go\n")
        writer.stdin.flush()
    outputs = [writer.communicate(timeout=300) for writer in writers]
    for writer, (_out, err) in zip(writers, outputs):
        assert writer.returncode == 0, err
    appended = [int(out) for out, _err in outputs]
    jobs = [record["job"] for _path, record in store.nodes()]
    assert sorted(jobs) == sorted([f"a-{n}" for n in range(15)] + [f"b-{n}" for n in range(15)] + shared)
    assert sum(appended) == 45 and min(appended) >= 15, appended
    # The parent's version counts the appends: one bump per record, none lost.
    assert store.client.get(store.base)[1].version == 45
    listed = run_play([task(store, "query")])[0]
    assert listed["count"] == 45 and listed["invalid"] == [], listed


def test_a_record_altered_in_zookeeper_is_untrusted_and_never_passes(store):
    first, second = run_play([recorded(store, D1, "int", "passed", "j1"), recorded(store, D2, "int", "failed", "j2")])
    assert first.changed and second.changed
    edits = {
        # A failed record turned into a passing one, and a passing one given another job.
        second["record"]["where"]: (b'"result":"failed"', b'"result":"passed"'),
        first["record"]["where"]: (b'"job":"j1"', b'"job":"j9"'),
    }
    for path, (old, new) in edits.items():
        data, stat = store.client.get(path)
        assert old in data
        store.client.set(path, data.replace(old, new), version=stat.version)
    d2, d1, listed = run_play(
        [
            task(store, "verified", digest=D2, required_envs=["int"]),
            task(store, "verified", digest=D1, required_envs=["int"]),
            task(store, "query"),
        ]
    )
    for result, digest in ((d2, D2), (d1, D1)):
        assert result.failed and result["msg"].startswith(POLICY_INT + digest), result
        assert "none for this digest" in result["msg"] and "not trusted" in result["msg"]
        assert "signature does not verify" in result["msg"]
    assert second["record"]["where"] in d2["msg"]
    assert [r["valid"] for r in listed["records"]] == [False, False], listed
    assert {r["where"] for r in listed["invalid"]} == set(edits)
    assert all("signature does not verify" in r["reason"] for r in listed["invalid"])
    assert listed["passed_digests"] == []
    # Recording the genuine record again appends it (the altered one is not it), and it passes.
    again, ok = run_play(
        [recorded(store, D1, "int", "passed", "j1"), task(store, "verified", digest=D1, required_envs=["int"])]
    )
    assert again.changed and again["appended"] and len(again["invalid"]) == 2, again
    assert not ok.failed and ok["record"]["where"] == again["record"]["where"], ok
    assert len(store.nodes()) == 3


def test_records_signed_with_another_key_are_untrusted(store):
    made, other_verify, other_query, own_verify = run_play(
        [
            recorded(store, D1, "int", "passed", "j1"),
            task(store, "verified", key=OTHER_KEY, digest=D1, required_envs=["int"]),
            task(store, "query", key=OTHER_KEY),
            task(store, "verified", digest=D1, required_envs=["int"]),
        ]
    )
    assert made.changed, made
    assert other_verify.failed and other_verify["msg"].startswith(POLICY_INT + D1), other_verify
    assert "signature does not verify" in other_verify["msg"]
    assert [r["valid"] for r in other_query["records"]] == [False] and other_query["passed_digests"] == []
    assert other_query["invalid"][0]["where"] == made["record"]["where"]
    assert not own_verify.failed, own_verify
    for result in (made, other_verify, other_query, own_verify):
        assert KEY not in result["stdout"] and OTHER_KEY not in result["stdout"]
