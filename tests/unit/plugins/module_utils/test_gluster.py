# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The gluster core against XML captured from a real glusterd 10.3 (fixtures/gluster/capture.sh).

Only the runner (the ``run_command`` boundary) is replaced: :class:`FakeGluster` answers each
command with a captured XML file and records what was run.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from ansible_collections.pptv.dcos.plugins.module_utils._diff import ChangeRecord
from ansible_collections.pptv.dcos.plugins.module_utils._errors import DcosError
from ansible_collections.pptv.dcos.plugins.module_utils._gluster import (
    GlusterCli,
    PeerIndex,
    VolumeManager,
    parse_peers,
    parse_quota,
    parse_size,
    parse_spec,
    parse_task_status,
    parse_volume_get,
    parse_volumes,
    values_equal,
)

FIXTURES = Path(__file__).parent / "fixtures" / "gluster"
B = "/tmp/pptvgl-fx"
R = [f"vm:{B}/r{i}" for i in range(1, 5)]


def fixture(name):
    return (FIXTURES / f"{name}.xml").read_text()


def root(name):
    return ET.fromstring(fixture(name))


class FakeGluster:
    """A runner: ``answers`` maps a command (without binary, --mode=script, --xml) to fixture names.

    A list of names is answered in turn, the last one repeated; ``calls`` records every command.
    """

    def __init__(self, answers):
        self.answers = {key: list(value) if isinstance(value, list) else [value] for key, value in answers.items()}
        self.calls = []

    def __call__(self, args):
        assert args[:2] == ["gluster", "--mode=script"] and args[-1] == "--xml", args
        key = " ".join(args[2:-1])
        self.calls.append(key)
        if key not in self.answers:
            raise AssertionError("unexpected command: " + key)
        queue = self.answers[key]
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(answer, tuple):  # (rc, stdout, stderr) of a failure without XML
            return answer
        return 0, fixture(answer), ""

    def ran(self, prefix):
        return [call for call in self.calls if call.startswith(prefix)]


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def manager(runner, check=False, **params):
    params.setdefault("name", "pptvgl-fx-r")
    spec = parse_spec(params)
    clock = Clock()
    peers = PeerIndex(parse_peers(root("pool_list")), local_names={"vm"}, is_local_address=lambda host: False)
    mgr = VolumeManager(GlusterCli(runner), spec, ChangeRecord(check, diff_mode=True), clock.sleep, clock, peers)
    record = mgr.compare()
    if not check and record.changed:
        mgr.apply()
    return mgr, record


# -- reading the XML ----------------------------------------------------------------------------


def test_volume_info_of_a_new_replica_volume():
    vol = parse_volumes(root("info_replica_created"))["pptvgl-fx-r"]
    assert vol["status"] == "Created"
    assert (vol["type"], vol["replica"], vol["arbiter"], vol["brick_count"]) == ("Replicate", 2, 0, 2)
    assert vol["transport"] == "tcp"
    assert [b["name"] for b in vol["bricks"]] == R[:2]
    assert vol["bricks"][0]["path"] == f"{B}/r1" and vol["bricks"][0]["host"] == "vm"
    assert vol["bricks"][0]["host_uuid"] == parse_peers(root("pool_list"))[0]["uuid"]
    assert vol["options"]["nfs.disable"] == "on"


def test_volume_info_marks_the_arbiter_brick():
    vol = parse_volumes(root("info_arbiter"))["pptvgl-fx-a"]
    assert (vol["replica"], vol["arbiter"]) == (3, 1)
    assert [b["arbiter"] for b in vol["bricks"]] == [False, False, True]


def test_volume_info_of_disperse_and_distributed_replicate():
    vol = parse_volumes(root("info_disperse"))["pptvgl-fx-d"]
    assert (vol["type"], vol["disperse"], vol["redundancy"]) == ("Disperse", 3, 1)
    vol = parse_volumes(root("info_dist_replicate"))["pptvgl-fx-r"]
    assert (vol["type"], vol["dist_count"], vol["brick_count"]) == ("Distributed-Replicate", 2, 4)
    assert vol["status"] == "Started"


def test_volume_info_of_all_and_none():
    assert sorted(parse_volumes(root("info_all"))) == ["pptvgl-fx-s", "pptvgl-fx-s2"]
    assert parse_volumes(root("info_none")) == {}


def test_volume_get_strips_the_default_marker():
    defaults = parse_volume_get(root("get_all_defaults"))
    assert len(defaults) > 300
    assert defaults["nfs.disable"] == ["on"]
    assert defaults["delay-gen.enable"] == [""]  # an empty default
    assert not any(v.endswith("(DEFAULT)") for values in defaults.values() for v in values)
    # two translators share this key: two defaults while unset, one value once set
    assert defaults["performance.cache-size"] == ["32MB", "128MB"]
    values = parse_volume_get(root("get_all_options"))
    assert values["performance.cache-size"] == ["64MB"]
    assert values["performance.client-io-threads"] == ["yes"]
    assert list(parse_volume_get(root("get_short_name"))) == ["performance.cache-size"]  # short name resolved


def test_pool_quota_and_task_status():
    (peer,) = parse_peers(root("pool_list"))
    assert peer["local"] and peer["connected"] and peer["hostnames"] == ["localhost"]
    assert parse_quota(root("quota_list")) == {"/logs": 10 * 1024**2, "/data": 1536 * 1024**2}
    assert parse_task_status(root("rebalance_status")) == "completed"
    assert parse_task_status(root("remove_brick_status")) == "completed"


# -- values -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wanted", "current"),
    [
        ("on", "yes"),
        (True, "on"),
        ("True", "enable"),
        ("1", "on"),
        ("off", "no"),
        (False, "disable"),
        ("0", "false"),
        ("64MB", "67108864"),
        ("0.5GB", "512MB"),
        ("64mb", "64MB"),
        (32, "32"),
        ("10.0.0.*", "10.0.0.*"),
    ],
)
def test_values_glusterd_reads_the_same(wanted, current):
    assert values_equal(wanted, current)


@pytest.mark.parametrize(
    ("wanted", "current"),
    [("on", "off"), (True, "no"), ("64MB", "65MB"), ("10%", "10"), ("full", "diff"), ("on", None), ("32", "33")],
)
def test_values_that_differ(wanted, current):
    assert not values_equal(wanted, current)


@pytest.mark.parametrize(
    ("text", "size"),
    [("10MB", 10 * 1024**2), ("1.5GB", 1536 * 1024**2), ("67108864", 67108864), ("2tb", 2 * 1024**4), ("7B", 7)],
)
def test_sizes(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["64M", "64MiB", "ten", "", "1.2.3GB"])
def test_not_sizes(text):
    assert parse_size(text) is None


# -- validation of the request ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"name": "all"}, "name: 'all' is reserved"),
        ({"name": "bad name"}, "name: 'bad name' is not valid: letters, digits, '-' and '_'"),
        ({"name": "logs\n"}, "name: 'logs\\n' is not valid"),
        ({"name": "lo/gs"}, "name: 'lo/gs' is not valid"),
        ({"name": "-logs"}, "name: '-logs' is not valid"),
        ({"name": ""}, "name: must be a non-empty string"),
        ({"name": "v" * 109}, "name: must be at most 108 characters, got 109"),
        ({"name": "v", "replica": "two"}, "replica: must be an integer, got 'two'"),
        ({"name": "v", "replica": 1}, "replica: must be 2 or more, got 1"),
        ({"name": "v", "bricks": ["vm:/b\n"]}, "bricks[0]: 'vm:/b\\n' must not contain whitespace"),
        ({"name": "v", "options": {"nfs.disable\n": "on"}}, "options: 'nfs.disable\\n' is not an option name"),
        ({"name": "v", "options": {"auth.allow": ["a", "b"]}}, "options.auth.allow: must be a string, a number"),
        ({"name": "v", "quota": {"/logs\n": "1GB"}}, "quota: '/logs\\n' must be an absolute path"),
        ({"name": "v", "timeout": -1}, "timeout: must be more than 0, got -1"),
        ({"name": "v", "timeout": float("inf")}, "timeout: must be a finite number"),
        ({"name": "v", "replica": 2, "bricks": R[:3]}, "bricks: 3 bricks cannot form sets of 2"),
        ({"name": "v", "disperse": 3, "bricks": R[:4]}, "bricks: 4 bricks cannot form sets of 3"),
        ({"name": "v", "replica": 2, "disperse": 3}, "replica and disperse cannot be combined"),
        ({"name": "v", "redundancy": 1}, "redundancy needs disperse"),
        ({"name": "v", "disperse": 4, "redundancy": 2}, "redundancy: 2 is too high for disperse 4"),
        ({"name": "v", "replica": 2, "arbiter": 1, "bricks": R[:2]}, "arbiter: needs replica 3"),
        ({"name": "v", "bricks": [R[0], R[0]]}, "bricks[1]: vm:/tmp/pptvgl-fx/r1 is listed twice"),
        ({"name": "v", "bricks": ["vm"]}, "bricks[0]: 'vm' is not a brick"),
        ({"name": "v", "bricks": ["vm:relative"]}, "bricks[0]: 'vm:relative' is not a brick"),
        ({"name": "v", "bricks": [{"host": "vm"}]}, "bricks[0]: give brick (host:/path) or both host and path"),
        ({"name": "v", "bricks": [{"brick": R[0], "size": 1}]}, "bricks[0]: unknown keys ['size']"),
        ({"name": "v", "bricks": [3]}, "bricks[0]: expected host:/path or a dict, not int"),
        (
            {"name": "v", "replica": 3, "bricks": [R[0] + " (arbiter)", R[1], R[2]]},
            "bricks[0]: vm:/tmp/pptvgl-fx/r1 is marked as arbiter, but the arbiter is the last brick",
        ),
        ({"name": "v", "arbiter": 0, "bricks": [{"brick": R[0], "arbiter": True}]}, "bricks[0]: marked as arbiter"),
        ({"name": "v", "options": {"a b": "on"}}, "options: 'a b' is not an option name"),
        ({"name": "v", "options": {"nfs.disable": None}}, "options: nfs.disable has no value"),
        ({"name": "v", "quota": {"logs": "1GB"}}, "quota: 'logs' must be an absolute path"),
        ({"name": "v", "quota": {"/logs": "lots"}}, "quota: /logs: 'lots' is not a size"),
        ({"name": "v", "timeout": 0}, "timeout: must be more than 0, got 0"),
    ],
)
def test_bad_requests_name_the_option(params, message):
    with pytest.raises(DcosError) as error:
        parse_spec(params)
    assert error.value.msg.startswith(message), error.value.msg


def test_arbiter_markers_in_every_spelling():
    spec = parse_spec(
        {
            "name": "v",
            "replica": 3,
            "bricks": [R[0], {"host": "vm", "path": f"{B}/r2/"}, {"brick": R[2], "arbiter": "yes"}],
        }
    )
    assert spec.arbiter == 1
    assert [b.label() for b in spec.bricks] == [R[0], R[1], R[2] + " (arbiter)"]
    # arbiter: 1 without markers puts the arbiter last in each set
    spec = parse_spec({"name": "v", "replica": 3, "arbiter": 1, "bricks": R[:3]})
    assert [b.arbiter for b in spec.bricks] == [False, False, True]


# -- plan and apply -----------------------------------------------------------------------------


def new_volume_answers(**extra):
    answers = {
        "volume info pptvgl-fx-r": ["info_missing", "info_replica_created"],
        "pool list": "pool_list",
        f"volume create pptvgl-fx-r replica 2 {R[0]} {R[1]} force": "create_replica",
        "volume get pptvgl-fx-r performance.cache-size": "get_short_name",
        "volume set pptvgl-fx-r performance.cache-size 64MB": "set_ok",
        "volume start pptvgl-fx-r": "start",
        "volume delete pptvgl-fx-r": "delete",
    }
    answers.update(extra)
    return answers


def test_check_mode_plans_the_create_and_runs_nothing_that_writes():
    gluster = FakeGluster(new_volume_answers())
    mgr, plan = manager(
        gluster, check=True, replica=2, bricks=R[:2], force=True, state="started",
        options={"performance.cache-size": "64MB"},
    )  # fmt: skip
    assert plan.steps == [
        f"gluster --mode=script volume create pptvgl-fx-r replica 2 {R[0]} {R[1]} force",
        "gluster --mode=script volume set pptvgl-fx-r performance.cache-size 64MB",
        "gluster --mode=script volume start pptvgl-fx-r",
    ]
    assert gluster.calls == ["volume info pptvgl-fx-r"]
    assert plan.diff() == {
        "before": {"state": "absent", "bricks": [], "options": {"performance.cache-size": None}},
        "after": {"state": "started", "bricks": R[:2], "options": {"performance.cache-size": "64MB"}},
    }


def test_create_checks_option_names_then_sets_and_starts():
    gluster = FakeGluster(new_volume_answers())
    mgr, plan = manager(
        gluster, replica=2, bricks=R[:2], force=True, state="started", options={"performance.cache-size": "64MB"}
    )
    assert gluster.calls[1:] == [
        f"volume create pptvgl-fx-r replica 2 {R[0]} {R[1]} force",
        "volume get pptvgl-fx-r performance.cache-size",
        "volume set pptvgl-fx-r performance.cache-size 64MB",
        "volume start pptvgl-fx-r",
    ]
    assert mgr.record.applied == plan.steps
    assert mgr.volume_after(check_mode=False)["status"] == "Created"  # the fixture re-read


def test_a_failure_after_create_deletes_the_new_volume_again():
    gluster = FakeGluster(new_volume_answers(**{"volume get pptvgl-fx-r nosuch.option": "get_unknown"}))
    with pytest.raises(DcosError) as error:
        manager(gluster, replica=2, bricks=R[:2], force=True, options={"nosuch.option": "on"})
    assert error.value.msg.startswith("options: unknown to gluster: nosuch.option (Did you mean auth.allow")
    assert "has been deleted again" in error.value.msg
    assert gluster.calls[-1] == "volume delete pptvgl-fx-r"
    assert not gluster.ran("volume set")


def test_existing_volume_with_equal_options_is_unchanged():
    gluster = FakeGluster(
        {
            "volume info pptvgl-fx-r": "info_replica_options",
            "pool list": "pool_list",
            "volume get pptvgl-fx-r all": "get_all_options",
        }
    )
    mgr, plan = manager(
        gluster,
        replica=2,
        bricks=R[:2],
        state="started",
        options={"performance.client-io-threads": True, "performance.cache-size": "67108864", "nfs.disable": "1"},
    )
    assert not plan.changed
    assert gluster.ran("volume set") == []


def test_changed_options_go_in_one_set_and_the_diff_shows_them():
    gluster = FakeGluster(
        {
            "volume info pptvgl-fx-r": "info_replica_options",
            "volume get pptvgl-fx-r all": "get_all_options",
            "volume set pptvgl-fx-r performance.client-io-threads disable performance.cache-size 128MB": "set_ok",
        }
    )
    _mgr, plan = manager(
        gluster, options={"performance.client-io-threads": "disable", "performance.cache-size": "128MB"}
    )
    assert plan.diff() == {
        "before": {"options": {"performance.client-io-threads": "yes", "performance.cache-size": "64MB"}},
        "after": {"options": {"performance.client-io-threads": "disable", "performance.cache-size": "128MB"}},
    }
    assert gluster.ran("volume set") == [
        "volume set pptvgl-fx-r performance.client-io-threads disable performance.cache-size 128MB"
    ]


def test_an_option_with_two_defaults_is_set_until_both_agree():
    gluster = FakeGluster(
        {
            "volume info pptvgl-fx-r": "info_replica_created",
            "volume get pptvgl-fx-r all": "get_all_defaults",
            "volume set pptvgl-fx-r performance.cache-size 32MB": "set_ok",
        }
    )
    _mgr, plan = manager(gluster, options={"performance.cache-size": "32MB"})
    assert plan.diff()["before"] == {"options": {"performance.cache-size": "32MB / 128MB"}}


def test_an_unknown_option_on_an_existing_volume_fails_before_any_change():
    gluster = FakeGluster(
        {
            "volume info pptvgl-fx-r": "info_replica_options",
            "volume get pptvgl-fx-r all": "get_all_options",
            "volume get pptvgl-fx-r nosuch.option": "get_unknown",
        }
    )
    with pytest.raises(DcosError) as error:
        manager(gluster, options={"performance.cache-size": "1GB", "nosuch.option": "on"})
    assert error.value.details["unknown_options"] == ["nosuch.option (Did you mean auth.allow?)"]
    assert gluster.ran("volume set") == []


def test_glusterd_refusing_a_value_reports_its_opErrstr():
    gluster = FakeGluster(
        {
            "volume info pptvgl-fx-r": "info_replica_options",
            "volume get pptvgl-fx-r all": "get_all_options",
            "volume set pptvgl-fx-r performance.cache-size banana": "set_bad_value",
        }
    )
    with pytest.raises(DcosError) as error:
        manager(gluster, options={"performance.cache-size": "banana"})
    assert error.value.details["op_errstr"] == 'invalid number format "banana" in option "cache-size"'
    assert 'invalid number format "banana"' in error.value.msg


def test_start_stop_and_absent_plans():
    gluster = FakeGluster({"volume info pptvgl-fx-r": "info_replica_stopped", "volume start pptvgl-fx-r": "start"})
    _mgr, plan = manager(gluster, state="started")
    assert plan.diff() == {"before": {"state": "stopped"}, "after": {"state": "started"}}
    assert gluster.ran("volume start") == ["volume start pptvgl-fx-r"]

    gluster = FakeGluster({"volume info pptvgl-fx-r": "info_replica_options", "volume stop pptvgl-fx-r": "stop"})
    _mgr, plan = manager(gluster, state="stopped")
    assert plan.diff() == {"before": {"state": "started"}, "after": {"state": "stopped"}}

    gluster = FakeGluster(
        {
            "volume info pptvgl-fx-r": "info_replica_options",
            "volume stop pptvgl-fx-r": "stop",
            "volume delete pptvgl-fx-r": "delete",
        }
    )
    _mgr, plan = manager(gluster, state="absent")
    assert gluster.calls[1:] == ["volume stop pptvgl-fx-r", "volume delete pptvgl-fx-r"]
    gluster = FakeGluster({"volume info pptvgl-fx-r": "info_missing"})
    assert not manager(gluster, state="absent")[1].changed


def test_a_refused_start_carries_opErrstr_and_a_started_volume_is_left_alone():
    gluster = FakeGluster(
        {"volume info pptvgl-fx-r": "info_replica_stopped", "volume start pptvgl-fx-r": "start_again"}
    )
    with pytest.raises(DcosError) as error:
        manager(gluster, state="started")
    assert error.value.details["op_errstr"] == "Volume pptvgl-fx-r already started"
    gluster = FakeGluster({"volume info pptvgl-fx-r": "info_replica_options"})
    assert not manager(gluster, state="started")[1].changed


def test_add_a_replica_pair_then_rebalance_and_wait():
    gluster = FakeGluster(
        {
            "volume info pptvgl-fx-r": ["info_replica_options", "info_dist_replicate"],
            "pool list": "pool_list",
            f"volume add-brick pptvgl-fx-r replica 2 {R[2]} {R[3]} force": "add_brick",
            "volume rebalance pptvgl-fx-r start": "rebalance_start",
            "volume rebalance pptvgl-fx-r status": "rebalance_status",
        }
    )
    mgr, plan = manager(gluster, state="started", bricks=R, force=True, rebalance=True, rebalance_wait=True)
    assert plan.diff() == {"before": {"bricks": R[:2]}, "after": {"bricks": R}}
    assert gluster.calls[-3:] == [
        f"volume add-brick pptvgl-fx-r replica 2 {R[2]} {R[3]} force",
        "volume rebalance pptvgl-fx-r start",
        "volume rebalance pptvgl-fx-r status",
    ]
    assert [b["name"] for b in mgr.volume_after(False)["bricks"]] == R


def test_a_rebalance_whose_brick_processes_are_still_starting_is_waited_for():
    gluster = FakeGluster(
        {
            "volume info pptvgl-fx-r": ["info_replica_options", "info_dist_replicate"],
            "pool list": "pool_list",
            f"volume add-brick pptvgl-fx-r replica 2 {R[2]} {R[3]} force": "add_brick",
            "volume rebalance pptvgl-fx-r start": "rebalance_start",
            "volume rebalance pptvgl-fx-r status": ["rebalance_status_brick_op_failed", "rebalance_status"],
        }
    )
    manager(gluster, state="started", bricks=R, force=True, rebalance=True, rebalance_wait=True)
    assert gluster.calls[-2:] == ["volume rebalance pptvgl-fx-r status", "volume rebalance pptvgl-fx-r status"]


def test_peers_of_a_real_three_server_pool():
    peers = parse_peers(root("pool_list_three"))
    assert [p["hostnames"] for p in peers] == [["pptvgl-node2"], ["pptvgl-node3"], ["localhost"]]
    assert [p["state"] for p in peers] == ["Peer in Cluster", "Peer in Cluster", None]
    index = PeerIndex(peers, local_names={"pptvgl-node1"}, is_local_address=lambda host: False)
    assert index.find("pptvgl-node3")["uuid"] == "7cfe42e6-00b2-48bd-92d8-52563f6d1afe"
    assert index.find("PPTVGL-NODE1")["local"]
    assert index.find("pptvgl-node4") is None
    index.check(["pptvgl-node1", "pptvgl-node2", "pptvgl-node3"])


def test_a_peer_known_by_its_qualified_name_matches_its_short_name():
    # node2 learned node1's name by reverse lookup: pptvgl-node1.pptvgl-net
    index = PeerIndex(parse_peers(root("pool_list_from_second")), local_names={"pptvgl-node2"})
    assert index.find("pptvgl-node1")["hostnames"] == ["pptvgl-node1.pptvgl-net"]
    assert index.find("pptvgl-node1.pptvgl-net") is index.find("pptvgl-node1")
    assert index.find("pptvgl-node1.other") is None


def test_a_disconnected_peer_is_named():
    index = PeerIndex(parse_peers(root("pool_list_peer_down")), local_names={"pptvgl-node1"})
    with pytest.raises(DcosError) as error:
        index.check(["pptvgl-node1", "pptvgl-node3"])
    assert error.value.msg == "bricks: peers not connected: pptvgl-node3 (disconnected)"


def test_bricks_match_by_peer_uuid_not_by_spelling():
    """The volume knows its bricks as vm:/...; the task may name the same host otherwise."""
    gluster = FakeGluster({"volume info pptvgl-fx-r": "info_dist_replicate", "pool list": "pool_list"})
    spec = parse_spec({"name": "pptvgl-fx-r", "bricks": [r.replace("vm:", "gfs-a:") for r in R]})
    peers = PeerIndex(parse_peers(root("pool_list")), local_names={"gfs-a"}, is_local_address=lambda host: False)
    plan = VolumeManager(GlusterCli(gluster), spec, peer_index=peers).compare()
    assert not plan.changed


def test_removing_bricks_is_refused_without_the_flag():
    gluster = FakeGluster({"volume info pptvgl-fx-r": "info_dist_replicate"})
    with pytest.raises(DcosError) as error:
        manager(gluster, bricks=R[:2])
    assert "allow_brick_removal" in error.value.msg
    assert error.value.details["bricks_to_remove"] == R[2:]
    assert not gluster.ran("volume remove-brick")


def test_removing_bricks_starts_waits_and_commits():
    base = f"volume remove-brick pptvgl-fx-r {R[2]} {R[3]}"
    gluster = FakeGluster(
        {
            "volume info pptvgl-fx-r": ["info_dist_replicate", "info_replica_options"],
            f"{base} status": ["remove_brick_status_not_started", "remove_brick_status"],
            f"{base} start": "remove_brick_start",
            f"{base} commit": "remove_brick_commit",
        }
    )
    _mgr, plan = manager(gluster, bricks=R[:2], allow_brick_removal=True)
    assert gluster.calls[1:] == [
        f"{base} status",
        f"{base} start",
        f"{base} status",
        f"{base} commit",
    ]
    assert plan.diff() == {"before": {"bricks": R}, "after": {"bricks": R[:2]}}


def test_a_removal_that_stays_not_started_fails_with_glusterds_words():
    base = f"volume remove-brick pptvgl-fx-r {R[2]} {R[3]}"
    gluster = FakeGluster(
        {
            "volume info pptvgl-fx-r": "info_dist_replicate",
            f"{base} status": "remove_brick_status_not_started",
            f"{base} start": "remove_brick_start",
        }
    )
    with pytest.raises(DcosError) as error:
        manager(gluster, bricks=R[:2], allow_brick_removal=True)
    assert "remove-brick not started for volume pptvgl-fx-r" in error.value.msg
    assert not gluster.ran(f"{base} commit")


def test_mixed_sets_and_type_changes_are_refused():
    gluster = FakeGluster({"volume info pptvgl-fx-r": "info_dist_replicate", "pool list": "pool_list"})
    with pytest.raises(DcosError) as error:
        manager(gluster, bricks=[R[0], R[2], R[1], R[3]])
    assert "mixes bricks of volume pptvgl-fx-r" in error.value.msg
    with pytest.raises(DcosError) as error:
        manager(gluster, replica=3, bricks=R[:3] + [f"vm:{B}/r5", f"vm:{B}/r6", f"vm:{B}/r7"])
    assert error.value.msg.startswith("replica: volume pptvgl-fx-r has replica 2")


def test_missing_peers_are_named_before_anything_runs():
    gluster = FakeGluster({"volume info pptvgl-fx-r": "info_missing", "pool list": "pool_list"})
    with pytest.raises(DcosError) as error:
        manager(gluster, replica=2, bricks=[R[0], "gfs9:/b", "gfs8:/b", R[1]])
    assert error.value.msg.startswith("bricks: gfs9, gfs8 are not in the trusted storage pool")
    assert error.value.details["missing_peers"] == ["gfs9", "gfs8"]
    assert gluster.calls == ["volume info pptvgl-fx-r"]


def test_quota_enable_and_limits_compared_in_bytes():
    gluster = FakeGluster(
        {
            "volume info pptvgl-fx-r": "info_replica_options",
            "volume quota pptvgl-fx-r enable": "quota_enable",
            "volume quota pptvgl-fx-r limit-usage /logs 10MB": "quota_limit",
        }
    )
    _mgr, plan = manager(gluster, quota={"/logs": "10240KB"})
    assert plan.diff() == {"before": {"quota": {"/logs": None}}, "after": {"quota": {"/logs": "10MB"}}}
    # quota enabled (dist_replicate fixture) and the same limits in other units: nothing to do
    gluster = FakeGluster(
        {"volume info pptvgl-fx-r": "info_dist_replicate", "volume quota pptvgl-fx-r list": "quota_list"}
    )
    assert not manager(gluster, quota={"/logs": "10MB", "/data": "1.5GB"})[1].changed


def test_quota_needs_a_started_volume():
    gluster = FakeGluster({"volume info pptvgl-fx-r": "info_replica_stopped"})
    with pytest.raises(DcosError) as error:
        manager(gluster, quota={"/logs": "1GB"})
    assert error.value.msg.startswith("quota: volume pptvgl-fx-r must be started")


def test_a_glusterd_that_does_not_answer():
    down = (1, "Connection failed. Please check if gluster daemon is operational.\n", "")
    gluster = FakeGluster({"volume info pptvgl-fx-r": down})
    with pytest.raises(DcosError) as error:
        manager(gluster)
    assert "Connection failed" in error.value.msg and error.value.msg.startswith("name: cannot read volume")
