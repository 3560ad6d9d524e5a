# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Promotion records: append-only, signed, the policy check, both stores (a real file; a fake kazoo client)."""

from __future__ import annotations

import json
import multiprocessing
import os
from pathlib import Path
from types import SimpleNamespace

import pytest
from kazoo import exceptions as kazoo_exceptions

from ansible_collections.pptv.dcos.plugins.module_utils._diff import ChangeRecord
from ansible_collections.pptv.dcos.plugins.module_utils._errors import DcosError
from ansible_collections.pptv.dcos.plugins.module_utils._release import (
    FileStore,
    ReleaseRecordManager,
    ZooKeeperStore,
    sign,
)

KEY = "k" * 32
OTHER_KEY = "o" * 32
DIGEST = "sha256:" + "a" * 64
DIGEST_2 = "sha256:" + "b" * 64
IMAGE = "registry.example:5000/shop/web"
TICKS = iter(range(10**6))


def clock():
    return f"2025-01-01T12:{next(TICKS) % 60:02d}:00Z"


def params(state="recorded", **extra):
    base = {"state": state, "app": "shop/web", "signing_key": KEY}
    if state == "recorded":
        base.update(image=IMAGE, digest=DIGEST, env="int", result="passed", user="alice", job="42")
    if state == "verified":
        base.update(digest=DIGEST, required_envs=["int"])
    base.update(extra)
    return base


def run(store, check=False, diff=False, **kwargs):
    record = ChangeRecord(check_mode=check, diff_mode=diff)
    return ReleaseRecordManager(params(**kwargs), record, now=clock).run(store)


@pytest.fixture
def store(tmp_path):
    return FileStore(str(tmp_path / "releases.jsonl"))


def lines(store):
    with open(store.path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


# -- recorded: append-only, idempotent ------------------------------------------------------------


def test_a_record_is_appended_signed_and_the_same_one_is_not_appended_twice(store):
    first = run(store)
    assert first["changed"] and first["appended"] and first["count"] == 1
    assert first["actions"] == [f"append passed record of shop/web@{DIGEST} in env int"]
    stored = lines(store)[0]
    assert stored["signature"] == sign(stored, KEY.encode()) and stored["time"].endswith("Z")
    assert first["record"]["where"] == f"{store.path}:1" and first["record"]["valid"]
    # Same app, image, digest, env, result and job: nothing appended, even from another user.
    again = run(store, user="bob", notes="rerun")
    assert not again["changed"] and not again["appended"] and again["actions"] == []
    assert again["record"]["user"] == "alice" and len(lines(store)) == 1


def test_history_is_append_only_and_a_later_record_supersedes_for_the_policy(store):
    run(store)
    snapshots = [Path(store.path).read_bytes()]
    run(store, result="failed", job="43")
    snapshots.append(Path(store.path).read_bytes())
    assert snapshots[1].startswith(snapshots[0])  # never rewritten, only appended to
    with pytest.raises(DcosError) as refused:
        run(store, state="verified")
    assert "the newest record in int is failed" in refused.value.msg
    run(store, result="passed", job="44")
    after = Path(store.path).read_bytes()
    assert after.startswith(snapshots[1])
    ok = run(store, state="verified")
    assert ok["record"]["job"] == "44" and ok["image_ref"] == f"{IMAGE}@{DIGEST}" and not ok["changed"]
    assert [r["job"] for r in ok["records"]] == ["44", "43", "42"]  # the whole history, newest first


# -- verified: the policy -------------------------------------------------------------------------


def test_a_digest_without_a_passing_record_is_refused_naming_the_policy(store):
    run(store, env="func-shop")  # passed, but not in the env the policy asks for
    run(store, digest=DIGEST_2)  # passed in int, but another digest
    with pytest.raises(DcosError) as refused:
        run(store, state="verified")
    msg = refused.value.msg
    assert msg.startswith(f"policy: pptv.dcos requires a passing record in env int for shop/web@{DIGEST}; none found")
    assert "func-shop passed" in msg  # the records it did find
    assert refused.value.details["policy"] == "pptv.dcos"
    # A passing record in any one of the required envs is enough.
    ok = run(store, state="verified", required_envs=["func-shop", "int"])
    assert ok["record"]["env"] == "func-shop"
    with pytest.raises(DcosError) as none:
        run(store, state="verified", digest="sha256:" + "c" * 64, required_envs=["func-x", "int"])
    assert "requires a passing record in one of the envs func-x, int" in none.value.msg
    assert "records: none for this digest" in none.value.msg


def test_verified_with_an_image_counts_only_that_repository(store):
    run(store, image="other.example/shop/web")
    with pytest.raises(DcosError) as refused:
        run(store, state="verified", image=IMAGE)
    assert "only records of image registry.example:5000/shop/web count" in refused.value.msg
    assert run(store, state="verified", image="other.example/shop/web")["image_ref"].startswith("other.example/")


def test_an_edited_record_is_reported_and_never_trusted(store):
    run(store, result="failed")
    text = Path(store.path).read_text(encoding="utf-8")
    Path(store.path).write_text(encoding="utf-8", data=text.replace('"result":"failed"', '"result":"passed"'))
    with pytest.raises(DcosError) as refused:
        run(store, state="verified")
    msg = refused.value.msg
    assert "none found" in msg and "1 record(s) ignored, not trusted" in msg and "signature does not verify" in msg
    assert refused.value.details["invalid"][0]["where"] == f"{store.path}:1"
    listed = run(store, state="query")["records"]
    assert listed[0]["valid"] is False and listed[0]["result"] == "passed"
    assert run(store, state="query")["passed_digests"] == []  # an untrusted pass counts nowhere


@pytest.mark.parametrize(
    "edit",
    [
        lambda r: r.update(job="99"),  # a field changed
        lambda r: r.pop("notes"),  # a field removed
        lambda r: r.update(approved=True),  # a field added
        lambda r: r.update(signature="hmac-sha256:" + "0" * 64),  # a signature made up
        lambda r: r.update(signature=sign(dict(r, result="passed"), OTHER_KEY.encode())),  # signed with another key
    ],
)
def test_any_edit_of_a_signed_record_fails_verification(store, edit):
    run(store, result="failed")
    record = lines(store)[0]
    edit(record)
    Path(store.path).write_text(encoding="utf-8", data=json.dumps(record) + "\n")
    result = run(store, state="query")
    assert result["invalid"] and result["invalid"][0]["valid"] is False and result["invalid"][0]["reason"]


def test_a_record_with_a_key_twice_is_not_trusted(store):
    run(store, result="failed")
    line = Path(store.path).read_text(encoding="utf-8").strip()
    Path(store.path).write_text(encoding="utf-8", data=line[:-1] + ',"result":"passed"}\n')
    assert "duplicate keys result" in run(store, state="query")["invalid"][0]["reason"]


def test_the_wrong_key_trusts_nothing(store):
    run(store)
    with pytest.raises(DcosError) as refused:
        run(store, state="verified", signing_key=OTHER_KEY)
    assert "none found" in refused.value.msg and "signed with another key" in refused.value.msg
    # And a record made with the wrong key is a new record, not "the same one".
    again = run(store, signing_key=OTHER_KEY)
    assert again["changed"] and len(lines(store)) == 2


def test_a_torn_last_line_is_reported_and_the_next_record_starts_on_its_own_line(store):
    run(store)
    with open(store.path, "a", encoding="utf-8") as handle:
        handle.write('{"version": 1, "app": "shop/w')  # a crash mid-write
    result = run(store, digest=DIGEST_2)
    assert result["record"]["where"] == f"{store.path}:3"
    assert result["invalid"][0]["where"] == f"{store.path}:2" and "not a JSON record" in result["invalid"][0]["reason"]
    assert run(store, state="verified", digest=DIGEST_2)["record"]["digest"] == DIGEST_2


# -- query ----------------------------------------------------------------------------------------


def test_query_lists_an_apps_records_newest_first_with_filters(store):
    run(store, digest=DIGEST)
    run(store, digest=DIGEST_2)
    run(store, digest=DIGEST_2, result="failed", job="50", env="func-shop")
    run(store, app="pay/api", image="registry.example:5000/pay/api")
    everything = run(store, state="query")
    assert [r["digest"] for r in everything["records"]] == [DIGEST_2, DIGEST_2, DIGEST]
    assert everything["passed_digests"] == [DIGEST_2, DIGEST] and everything["count"] == 3
    assert not everything["changed"]
    failed = run(store, state="query", result="failed")
    assert [r["job"] for r in failed["records"]] == ["50"]
    assert run(store, state="query", env="int", digest=DIGEST)["count"] == 1


# -- check and diff mode --------------------------------------------------------------------------


def test_check_mode_reports_the_append_and_writes_nothing(store, tmp_path):
    planned = run(store, check=True, diff=True)
    assert planned["changed"] and planned["appended"] and planned["record"]["where"] is None
    assert planned["diff"]["before"] == {"count": 0, "record": None}
    assert planned["diff"]["after"]["count"] == 1 and planned["diff"]["after"]["record"]["digest"] == DIGEST
    assert list(tmp_path.iterdir()) == []  # not even the lock file
    run(store)
    before = Path(store.path).read_bytes()
    assert not run(store, check=True)["changed"]
    assert run(store, check=True, result="failed", job="2")["changed"]
    assert Path(store.path).read_bytes() == before


def test_diff_shows_the_count_and_the_record_appended(store):
    run(store)
    result = run(store, diff=True, digest=DIGEST_2)
    assert result["diff"]["before"] == {"count": 1, "record": None}
    assert result["diff"]["after"]["count"] == 2 and result["diff"]["after"]["record"]["digest"] == DIGEST_2
    assert "diff" not in run(store, digest=DIGEST_2)  # only with --diff


# -- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "digest",
    [
        "sha256:" + "a" * 63,
        "sha256:" + "a" * 65,
        "sha256:" + "A" * 64,
        "sha512:" + "a" * 64,
        "a" * 64,
        "sha256:" + "a" * 64 + "\n",
        " sha256:" + "a" * 64,
        "sha256:" + "g" * 64,
        "",
        None,
    ],
)
def test_a_bad_digest_is_refused_naming_digest(store, digest):
    for state in ("recorded", "verified"):
        with pytest.raises(DcosError) as err:
            run(store, state=state, digest=digest)
        assert err.value.msg.startswith("digest"), err.value.msg
    assert not os.path.exists(store.path)


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ({"image": "registry.example/shop/web:1.2"}, "image: 'registry.example/shop/web:1.2' carries a tag"),
        ({"image": f"shop/web@{DIGEST}"}, "image:"),
        ({"image": "Shop/Web"}, "image:"),
        ({"env": "Int"}, "env: 'Int' is not valid"),
        ({"env": "int\n"}, "env:"),
        ({"app": "/shop/web"}, "app: '/shop/web' is not valid"),
        ({"result": "ok"}, "result: must be one of passed, failed"),
        ({"user": "al\nice"}, "user:"),
        ({"job": ""}, "job"),
        ({"notes": "a\x00b"}, "notes:"),
        ({"required_envs": ["int"]}, "required_envs: not used with state=recorded"),
        ({"signing_key": "short"}, "signing_key: must be at least 16 characters"),
        ({"signing_key": None}, "signing_key: required"),
        ({"state": "promoted"}, "state: must be one of"),
        ({"state": "verified", "env": "int"}, "env: not used with state=verified"),
        ({"state": "verified", "required_envs": ["int", "INT"]}, "required_envs[1]:"),
        ({"state": "verified", "required_envs": ["int", "int"]}, "names an env twice"),
        ({"state": "verified", "required_envs": []}, "required_envs: required with state=verified"),
        ({"state": "query", "job": "1"}, "job: not used with state=query"),
    ],
)
def test_bad_input_names_the_option(store, extra, words):
    with pytest.raises(DcosError) as err:
        run(store, **extra)
    assert words in err.value.msg
    if isinstance(extra.get("signing_key"), str):
        assert extra["signing_key"] not in err.value.msg  # never the key itself


def test_a_bad_path_or_backend_names_the_option(tmp_path):
    for path in ("relative.jsonl", "", str(tmp_path) + "/"):
        with pytest.raises(DcosError) as err:
            FileStore(path)
        assert err.value.msg.startswith("path:")
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(DcosError) as err:
        run(FileStore(str(blocker / "releases.jsonl")))
    assert err.value.msg.startswith("path:")


# -- concurrency ----------------------------------------------------------------------------------


def _append_many(path, worker, count, same, barrier):
    store = FileStore(path)
    barrier.wait()
    for i in range(count):
        job = "same" if same else f"{worker}-{i}"
        ReleaseRecordManager(params(job=job), ChangeRecord()).run(store)


@pytest.mark.parametrize("same", [False, True], ids=["distinct", "identical"])
def test_two_processes_appending_at_once_lose_nothing_and_duplicate_nothing(store, same):
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(2)
    workers = [context.Process(target=_append_many, args=(store.path, w, 25, same, barrier)) for w in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
        assert worker.exitcode == 0
    stored = lines(store)
    assert all(record["signature"] == sign(record, KEY.encode()) for record in stored)
    if same:
        assert len(stored) == 1  # the check and the append happen under one lock
    else:
        assert sorted(r["job"] for r in stored) == sorted(f"{w}-{i}" for w in range(2) for i in range(25))


# -- the ZooKeeper store (fake kazoo client at the transport boundary) ----------------------------


class FakeZk:
    """The parts of kazoo the store uses: versioned nodes, sequential creates, a transaction.

    ``race`` is called once before the first commit (another controller appending meanwhile).
    """

    def __init__(self, race=None):
        self.nodes = {}
        self.seq = 0
        self.race = race
        self.commits = 0

    def get(self, path):
        if path not in self.nodes:
            raise kazoo_exceptions.NoNodeError()
        data, version = self.nodes[path]
        return data, SimpleNamespace(version=version)

    def get_children(self, path):
        if path not in self.nodes:
            raise kazoo_exceptions.NoNodeError()
        return [p[len(path) + 1 :] for p in self.nodes if p.rsplit("/", 1)[0] == path]

    def ensure_path(self, path):
        self.nodes.setdefault(path, (b"", 0))

    def create_sequential(self, base, data):
        path = f"{base}{self.seq:010d}"
        self.seq += 1
        self.nodes[path] = (data, 0)
        return path

    def transaction(self):
        zk = self
        ops = []

        class Tx:
            def set_data(self, path, data, version):
                ops.append(("set", path, data, version))

            def create(self, path, data, sequence):
                assert sequence
                ops.append(("create", path, data))

            def commit(self):
                zk.commits += 1
                if zk.race is not None:
                    race, zk.race = zk.race, None
                    race(zk)
                _set, path, data, version = ops[0]
                if zk.nodes[path][1] != version:
                    # What a real ZooKeeper answers: the op after the failing one is RuntimeInconsistency.
                    return [kazoo_exceptions.BadVersionError(), kazoo_exceptions.RuntimeInconsistency()]
                zk.nodes[path] = (data, version + 1)
                return [SimpleNamespace(version=version + 1), zk.create_sequential(ops[1][1], ops[1][2])]

        return Tx()


def _other_controller(zk):
    base = "/pptv/releases/records"
    store = ZooKeeperStore(hosts="zk:2181", root="/pptv/releases", client=zk)
    zk.race = None
    data, version = zk.nodes[base]
    zk.nodes[base] = (data, version + 1)
    ReleaseRecordManager(params(job="other"), ChangeRecord(), now=clock).run(store)


def test_the_zookeeper_store_appends_sequential_records_and_retries_a_lost_race():
    zk = FakeZk(race=_other_controller)
    store = ZooKeeperStore(hosts="zk:2181", root="/pptv/releases", client=zk)
    first = run(store)
    assert first["changed"] and first["record"]["where"] == "/pptv/releases/records/record-0000000001"
    assert zk.commits == 3  # ours lost to the other controller's, then won
    assert not run(store)["changed"]  # idempotent
    result = run(store, state="query")
    assert [r["job"] for r in result["records"]] == ["42", "other"] and all(r["valid"] for r in result["records"])
    assert run(store, state="verified")["record"]["where"] == "/pptv/releases/records/record-0000000001"
    for node in ("record-0000000000", "record-0000000001"):  # edited by hand in zkCli
        path = f"/pptv/releases/records/{node}"
        zk.nodes[path] = (zk.nodes[path][0].replace(b'"prod"', b'"int"').replace(b'"int"', b'"func-x"'), 0)
    with pytest.raises(DcosError) as refused:
        run(store, state="verified")
    assert "signature does not verify" in refused.value.msg and "none found" in refused.value.msg


def test_a_failed_create_in_the_append_transaction_is_raised_not_retried():
    """Only a lost race (BadVersionError) is retried; the op before the failing one is RolledBackError."""

    class NoCreate(FakeZk):
        def transaction(self):
            tx = super().transaction()
            tx.commit = lambda: [kazoo_exceptions.RolledBackError(), kazoo_exceptions.NoAuthError()]
            return tx

    zk = NoCreate()
    store = ZooKeeperStore(hosts="zk:2181", root="/pptv/releases", client=zk)
    with pytest.raises(DcosError) as err:
        run(store)
    assert err.value.msg.startswith("zk_hosts: ZooKeeper at zk:2181 failed (NoAuthError")


def test_kazoo_failures_name_zk_hosts():
    class Broken(FakeZk):
        def get(self, path):
            raise kazoo_exceptions.ConnectionLoss()

    store = ZooKeeperStore(hosts="zk:2181", root="/pptv/releases", client=Broken())
    for state in ("recorded", "verified", "query"):
        with pytest.raises(DcosError) as err:
            run(store, state=state)
        assert err.value.msg.startswith("zk_hosts: ZooKeeper at zk:2181 failed (ConnectionLoss")


@pytest.mark.parametrize("root", ["", "releases", "/pptv/", "/pp tv"])
def test_a_bad_zk_root_names_the_option(root):
    with pytest.raises(DcosError) as err:
        ZooKeeperStore(hosts="zk:2181", root=root, client=FakeZk())
    assert err.value.msg.startswith("zk_root")


def test_the_key_can_come_from_a_file_and_both_sources_are_refused(store, tmp_path):
    key_file = tmp_path / "key"
    key_file.write_text(KEY + "\n")  # the newline an editor adds is not part of the key
    run(store)
    assert run(store, state="verified", signing_key=None, signing_key_file=str(key_file))["record"]["valid"]
    with pytest.raises(DcosError) as both:
        run(store, state="query", signing_key_file=str(key_file))
    assert both.value.msg == "signing_key, signing_key_file: give one of them, not both"
    for path, words in ((str(tmp_path / "none"), "signing_key_file: cannot read"), ("key", "absolute path")):
        with pytest.raises(DcosError) as err:
            run(store, state="query", signing_key=None, signing_key_file=path)
        assert words in err.value.msg
    key_file.write_text("short")
    with pytest.raises(DcosError) as short:
        run(store, state="query", signing_key=None, signing_key_file=str(key_file))
    assert short.value.msg == "signing_key_file: must be at least 16 characters long"
