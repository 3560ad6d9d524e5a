# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pptv.dcos.gluster_volume against real glusterd servers (Debian's glusterfs-server).

Most tests run on this host: a session fixture reuses a healthy glusterd or starts one (pid and
log files under a tmp dir) and stops only the one it started. Bricks are directories under a tmp
dir on the root partition, all on this host, so volumes are created with ``force``. Every volume,
brick directory and mount point is named ``pptvgl-*``; leftovers of a killed earlier run are
removed first. Results are checked with an independent ``gluster ... --xml`` read parsed here, and
with files on the bricks.

The pool test runs three systemd containers with Debian's glusterfs-server on a network of their
own (``pptvgl-net``, containers ``pptvgl-node1..3``) and drives the module inside them over the
Docker connection.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml
from support.ansible_run import ROOT, TaskResult, ansible_env, run_play
from support.procs import docker

PREFIX = "pptvgl-"
HOST = socket.gethostname()


def gluster(*args, check=True):
    """``gluster --mode=script <args> --xml`` parsed; raises unless opRet is 0 when ``check``."""
    proc = subprocess.run(
        ["gluster", "--mode=script", *args, "--xml"], capture_output=True, text=True, timeout=120, check=False
    )
    root = ET.fromstring(proc.stdout)
    if check and root.findtext("opRet") != "0":
        raise AssertionError(f"gluster {' '.join(args)}: {root.findtext('opErrstr')}")
    return root


def info_element(root):
    """The ``<volume>`` element of ``volume info`` output, or None when glusterd says it does not exist."""
    if root.findtext("opRet") != "0":
        assert "does not exist" in root.findtext("opErrstr")
        return None
    return root.find("volInfo/volumes/volume")


def volume_info(name):
    return info_element(gluster("volume", "info", name, check=False))


def bricks_of(vol):
    return [b.findtext("name") for b in vol.iter("brick")]


def option_value(name, key):
    value = gluster("volume", "get", name, key).findtext("volGetopts/Opt/Value")
    return value.replace(" (DEFAULT)", "")


def glusterd_healthy():
    try:
        proc = subprocess.run(
            ["gluster", "--mode=script", "pool", "list", "--xml"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "<opRet>0</opRet>" in proc.stdout


def gluster_mounts():
    """(source, mount point) of every glusterfs FUSE mount of ours, from /proc/mounts."""
    found = []
    with open("/proc/mounts", encoding="utf-8") as mounts:
        for line in mounts:
            source, target, fstype = line.split()[:3]
            if fstype == "fuse.glusterfs" and (PREFIX in source or PREFIX in target):
                found.append((source, target))
    return found


def clean_leftovers():
    for _source, target in gluster_mounts():
        subprocess.run(["umount", "-l", target], check=False)
    names = [v.text for v in gluster("volume", "list").iter("volume")]
    for name in names:
        if name.startswith(PREFIX):
            gluster("volume", "stop", name, "force", check=False)
            gluster("volume", "delete", name, check=False)


@pytest.fixture(scope="session")
def glusterd(tmp_path_factory):
    """A healthy glusterd: the one already running, or one this fixture starts (and stops)."""
    started = None
    if not glusterd_healthy():
        state = tmp_path_factory.mktemp("pptvgl-glusterd")
        pid_file = state / "glusterd.pid"
        subprocess.run(
            ["glusterd", "-p", str(pid_file), "-l", str(state / "glusterd.log"), "--log-level", "INFO"], check=True
        )
        for _attempt in range(60):
            if glusterd_healthy():
                break
            time.sleep(0.5)
        else:
            raise AssertionError("glusterd did not answer; see " + str(state / "glusterd.log"))
        started = int(pid_file.read_text().strip())
    clean_leftovers()
    yield
    clean_leftovers()
    if started:
        os.kill(started, signal.SIGTERM)


@pytest.fixture
def bricks(glusterd, tmp_path_factory):
    """A fresh directory for bricks; ``bricks(n)`` gives ``n`` brick names on this host."""
    base = tmp_path_factory.mktemp(PREFIX + "bricks")

    def make(count, start=1):
        return [f"{HOST}:{base}/b{i}" for i in range(start, start + count)]

    make.base = base
    return make


@pytest.fixture
def volname(glusterd, request):
    """A volume name of ours for this test; the volume is deleted after the test."""
    # Short: glusterd 10.3 loses track of remove-brick tasks of volumes with long names (47 chars).
    name = PREFIX + "-".join(request.node.name.split("_")[1:4])[:24]
    yield name
    gluster("volume", "stop", name, "force", check=False)
    gluster("volume", "delete", name, check=False)


@pytest.fixture
def mount(glusterd, tmp_path_factory):
    """``mount(volume)`` mounts it with FUSE and returns the mount point; unmounted afterwards."""
    points = []

    def do(volume):
        point = tmp_path_factory.mktemp(PREFIX + "mnt")
        subprocess.run(["mount", "-t", "glusterfs", f"{HOST}:/{volume}", str(point)], check=True, timeout=60)
        points.append(point)
        return point

    yield do
    for point in points:
        subprocess.run(["umount", str(point)], check=False)


def gv(args, **keys):
    """A task of the module under test (failures are returned, not fatal)."""
    task = {"name": "gluster_volume", "pptv.dcos.gluster_volume": args, "ignore_errors": True}
    task.update(keys)
    return task


def read(*args):
    """A task reading ``gluster --mode=script <args> --xml`` in the play: the independent check."""
    return {
        "name": "read",
        "ansible.builtin.command": {"argv": ["gluster", "--mode=script", *args, "--xml"]},
        "changed_when": False,
    }


def xml(result):
    """The XML a :func:`read` task printed."""
    return ET.fromstring("\n".join(result["stdout_lines"]))


def status(result):
    return info_element(xml(result)).findtext("statusStr")


def ok(result):
    assert not result.failed, result.get("msg")
    return result


def started(name, brick_names, **extra):
    args = {"name": name, "state": "started", "replica": 2, "bricks": brick_names, "force": True}
    args.update(extra)
    return args


# ---------------------------------------------------------------------------------------------


def test_create_replica_check_mode_then_real_then_unchanged(volname, bricks):
    brick_names = bricks(2)
    args = {"name": volname, "replica": 2, "bricks": brick_names, "force": True}
    planned, after_check, created, after_create, again, checked = run_play(
        [
            gv(args, check_mode=True),
            read("volume", "info", volname),
            gv(args),
            read("volume", "info", volname),
            gv(args),
            gv(args, check_mode=True),
        ],
        diff=True,
    )
    assert ok(planned).changed
    assert planned["actions"] == [
        f"{shutil.which('gluster')} --mode=script volume create {volname} replica 2 {' '.join(brick_names)} force"
    ]
    assert info_element(xml(after_check)) is None  # check mode created nothing

    assert ok(created).changed
    vol = info_element(xml(after_create))
    assert vol.findtext("statusStr") == "Created"
    assert vol.findtext("replicaCount") == "2"
    assert bricks_of(vol) == brick_names
    assert created["diff"]["before"] == {"state": "absent", "bricks": []}
    assert created["diff"]["after"] == {"state": "created", "bricks": brick_names}
    assert created["volume"]["bricks"][1]["path"] == brick_names[1].split(":", 1)[1]

    assert not ok(again).changed and again["actions"] == []
    assert not ok(checked).changed
    assert volume_info(volname).findtext("statusStr") == "Created"


def test_start_stop_start(volname, bricks):
    args = started(volname, bricks(2))
    stop = dict(args, state="stopped")
    results = run_play(
        [
            gv(args),
            read("volume", "info", volname),
            gv(args),
            gv(stop, check_mode=True),
            read("volume", "info", volname),
            gv(stop),
            read("volume", "info", volname),
            gv(stop),
            gv(args),
            read("volume", "info", volname),
            gv(dict(args, state="present")),
        ],
        diff=True,
    )
    first, info1, again, planned, info2, stopped, info3, stopped_again, restarted, info4, present = results
    assert ok(first).changed and status(info1) == "Started"
    assert not ok(again).changed
    assert ok(planned).changed and planned["diff"]["after"] == {"state": "stopped"}
    assert status(info2) == "Started"  # check mode stopped nothing
    assert ok(stopped).changed and status(info3) == "Stopped"
    assert not ok(stopped_again).changed
    assert ok(restarted).changed and restarted["diff"]["before"] == {"state": "stopped"}
    assert status(info4) == "Started"
    assert not ok(present).changed  # present leaves a running volume running


def test_options_with_boolean_spellings_and_sizes(volname, bricks):
    args = started(volname, bricks(2))
    # A YAML boolean, a size and an int.
    first = dict(
        args,
        options={
            "performance.client-io-threads": True,
            "performance.cache-size": "64MB",
            "performance.io-thread-count": 32,
        },
    )
    spellings = ("yes", "true", "enable", "1", "on")
    tasks = [gv(args), gv(first), read("volume", "get", volname, "all"), gv(first)]
    tasks += [
        gv(dict(args, options={"performance.client-io-threads": word, "performance.cache-size": 67108864}))
        for word in spellings
    ]
    # Short names the CLI completes, and a change of value.
    tasks += [
        gv(dict(args, options={"client-io-threads": "off", "cache-size": "128MB"})),
        read("volume", "get", volname, "all"),
        gv(dict(args, options={"client-io-threads": "disable"})),
    ]
    results = run_play(tasks, diff=True)
    created, result, values, rerun = results[:4]
    respelled = results[4 : 4 + len(spellings)]
    changed, values2, disabled = results[4 + len(spellings) :]

    def value(read_result, key):
        for opt in xml(read_result).iter("Opt"):
            if opt.findtext("Option") == key:
                return opt.findtext("Value")
        raise AssertionError(key)

    assert ok(created).changed
    assert ok(result).changed
    assert result["diff"]["after"]["options"] == {
        "performance.client-io-threads": "on",
        "performance.cache-size": "64MB",
        "performance.io-thread-count": "32",
    }
    assert value(values, "performance.client-io-threads") == "on"
    assert value(values, "performance.cache-size") == "64MB"
    assert value(values, "performance.io-thread-count") == "32"
    assert not ok(rerun).changed
    for word, same in zip(spellings, respelled):
        assert not ok(same).changed, (word, same.get("actions"))

    assert ok(changed).changed
    assert changed["diff"]["before"]["options"] == {"client-io-threads": "on", "cache-size": "64MB"}
    assert value(values2, "performance.client-io-threads") == "off"
    assert value(values2, "performance.cache-size") == "128MB"
    assert not ok(disabled).changed


def test_invalid_option_name_changes_nothing(volname, bricks):
    args = started(volname, bricks(2))
    bad = dict(args, options={"performance.cache-size": "48MB", "pptvgl.no-such-option": "on"})
    created, result, value = run_play([gv(args), gv(bad), read("volume", "get", volname, "performance.cache-size")])
    assert ok(created).changed
    assert result.failed and not result.changed
    assert result["msg"].startswith("options: ") and "pptvgl.no-such-option" in result["msg"]
    assert "Did you mean" in result["msg"]  # glusterd's own opErrstr
    assert xml(value).findtext("volGetopts/Opt/Value") == "32MB (DEFAULT)"  # nothing was set


def test_invalid_option_on_create_leaves_no_volume(volname, bricks):
    args = dict(started(volname, bricks(2)), options={"pptvgl.no-such-option": "on"})
    result, info = run_play([gv(args), read("volume", "info", volname)])
    assert result.failed
    assert "pptvgl.no-such-option" in result["msg"] and "deleted again" in result["msg"]
    assert info_element(xml(info)) is None


def test_add_brick_pair_rebalance_and_refused_removal(volname, bricks):
    args = started(volname, bricks(2))
    grown = dict(args, bricks=bricks(4), rebalance=True, rebalance_wait=True)
    results = run_play(
        [
            gv(args),
            gv(grown, check_mode=True),
            read("volume", "info", volname),
            gv(grown),
            read("volume", "info", volname),
            read("volume", "rebalance", volname, "status"),
            gv(grown),
            gv(args),
            read("volume", "info", volname),
            gv(dict(args, allow_brick_removal=True)),
            read("volume", "info", volname),
        ],
        diff=True,
    )
    created, planned, info1, result, info2, rebalance, again, refused, info3, removed, info4 = results
    assert ok(created).changed
    assert ok(planned).changed and any(" add-brick " in a for a in planned["actions"])
    assert len(bricks_of(info_element(xml(info1)))) == 2  # check mode added nothing

    assert ok(result).changed
    assert result["diff"]["after"]["bricks"] == bricks(4)
    vol = info_element(xml(info2))
    assert bricks_of(vol) == bricks(4)
    assert vol.findtext("typeStr") == "Distributed-Replicate"
    assert xml(rebalance).findtext("volRebalance/aggregate/statusStr") == "completed"
    assert not ok(again).changed

    assert refused.failed and not refused.changed
    assert "allow_brick_removal" in refused["msg"]
    assert refused["bricks_to_remove"] == bricks(2, start=3)
    assert bricks_of(info_element(xml(info3))) == bricks(4)

    assert ok(removed).changed
    assert bricks_of(info_element(xml(info4))) == bricks(2)


def test_quota_on_a_directory(volname, bricks, mount):
    args = started(volname, bricks(2))
    (created,) = run_play([gv(args)])
    assert ok(created).changed
    (mount(volname) / "logs").mkdir()

    results = run_play(
        [
            gv(dict(args, quota={"/logs": "10MB"})),
            read("volume", "quota", volname, "list"),
            gv(dict(args, quota={"/logs": "10240KB"})),
            gv(dict(args, quota={"/logs": "0.5GB"})),
            read("volume", "quota", volname, "list"),
            gv(dict(args, quota={"/pptvgl-nowhere": "1GB"})),
        ],
        diff=True,
    )
    result, limits, same, bigger, limits2, missing = results
    assert ok(result).changed
    assert result["diff"] == {"before": {"quota": {"/logs": None}}, "after": {"quota": {"/logs": "10MB"}}}
    assert xml(limits).findtext("volQuota/limit/path") == "/logs"
    assert xml(limits).findtext("volQuota/limit/hard_limit") == str(10 * 1024**2)
    assert not ok(same).changed  # the same size in another unit
    assert ok(bigger).changed
    assert xml(limits2).findtext("volQuota/limit/hard_limit") == str(512 * 1024**2)
    assert missing.failed and "No such file or directory" in missing["msg"]


def test_fuse_mount_writes_through_to_both_bricks(volname, bricks, mount):
    (created,) = run_play([gv(started(volname, bricks(2)))])
    assert ok(created).changed
    point = mount(volname)
    (point / "hello.txt").write_text("written through FUSE\n")
    os.sync()
    for brick in bricks(2):
        path = brick.split(":", 1)[1]
        with open(os.path.join(path, "hello.txt"), encoding="utf-8") as copy:
            assert copy.read() == "written through FUSE\n"


def test_absent_twice(volname, bricks):
    absent = {"name": volname, "state": "absent"}
    results = run_play(
        [
            gv(started(volname, bricks(2))),
            gv(absent, check_mode=True),
            read("volume", "info", volname),
            gv(absent),
            read("volume", "info", volname),
            gv(absent),
        ],
        diff=True,
    )
    created, planned, info1, first, info2, second = results
    assert ok(created).changed
    assert ok(planned).changed and status(info1) == "Started"
    assert ok(first).changed
    assert first["diff"] == {"before": {"state": "started"}, "after": {"state": "absent"}}
    assert info_element(xml(info2)) is None
    assert not ok(second).changed


def test_bad_input_gives_clear_errors(volname, bricks):
    local = bricks(1)[0]
    results = run_play(
        [
            gv({"name": volname, "replica": 2, "bricks": [local, "pptvgl-ghost:/srv/brick"], "force": True}),
            gv({"name": volname, "replica": 2, "bricks": bricks(3), "force": True}),
            gv({"name": volname, "replica": 2, "disperse": 3, "bricks": bricks(6)}),
            gv({"name": volname, "replica": 2, "bricks": ["no-path-here"]}),
            read("volume", "info", volname),
        ]
    )
    unknown_peer, odd, exclusive, not_a_brick, info = results
    assert unknown_peer.failed
    assert "pptvgl-ghost" in unknown_peer["msg"] and "trusted storage pool" in unknown_peer["msg"]
    assert unknown_peer["missing_peers"] == ["pptvgl-ghost"]
    assert odd.failed and odd["msg"].startswith("bricks: 3 bricks cannot form sets of 2")
    assert exclusive.failed and "replica" in exclusive["msg"] and "disperse" in exclusive["msg"]
    assert not_a_brick.failed and "bricks[0]" in not_a_brick["msg"]
    assert info_element(xml(info)) is None


def test_hostile_names_and_values_change_nothing(volname, bricks):
    """Issue 10: a name with a trailing newline is refused (it used to pass a ``$`` regex), nested
    option values are refused, a timeout must be more than 0; glusterd is left as it was."""
    two = bricks(2)
    base = {"replica": 2, "bricks": two, "force": True}
    results = run_play(
        [
            gv(dict(base, name=volname + "\n")),
            gv(dict(base, name=volname + "/x")),
            gv(dict(base, name=volname, options={"auth.allow": ["10.0.0.1", "10.0.0.2"]})),
            gv(dict(base, name=volname, timeout=-1)),
            read("volume", "info", volname),
        ]
    )
    newline, slash, nested, timeout, info = results
    assert newline.failed and newline["msg"].startswith(f"name: {volname + chr(10)!r} is not valid"), newline
    assert slash.failed and slash["msg"].startswith(f"name: '{volname}/x' is not valid"), slash
    assert nested.failed and nested["msg"].startswith("options.auth.allow: must be a string, a number"), nested
    assert timeout.failed and timeout["msg"] == "timeout: must be more than 0, got -1", timeout
    assert not any(result.changed for result in (newline, slash, nested, timeout))
    assert info_element(xml(info)) is None


def test_arbiter_marker_on_the_last_brick_of_each_set(volname, bricks):
    names = bricks(3)
    marked = {"brick": names[2], "arbiter": True}
    results = run_play(
        [
            gv({"name": volname, "replica": 3, "bricks": [*names[:2], marked], "force": True}),
            read("volume", "info", volname),
            gv({"name": volname, "replica": 3, "arbiter": 1, "bricks": [*names[:2], names[2] + " (arbiter)"]}),
            gv({"name": volname, "replica": 3, "bricks": [dict(marked, brick=names[0]), *names[1:]]}),
        ]
    )
    created, info, same, misplaced = results
    assert ok(created).changed
    vol = info_element(xml(info))
    assert vol.findtext("arbiterCount") == "1"
    assert [b.findtext("isArbiter") for b in vol.iter("brick")] == ["0", "0", "1"]
    assert not ok(same).changed
    assert misplaced.failed and "last brick of each replica set" in misplaced["msg"]


def test_disperse_volume(volname, bricks):
    args = {"name": volname, "disperse": 3, "redundancy": 1, "bricks": bricks(3), "force": True}
    created, info, again = run_play([gv(args), read("volume", "info", volname), gv(args)])
    assert ok(created).changed
    vol = info_element(xml(info))
    assert (vol.findtext("disperseCount"), vol.findtext("redundancyCount")) == ("3", "1")
    assert vol.findtext("typeStr") == "Disperse"
    assert not ok(again).changed


# -- a pool of three servers in containers ------------------------------------------------------

NODES = ["pptvgl-node1", "pptvgl-node2", "pptvgl-node3"]
NODE_IMAGE = "pptvgl-glusterfs:bookworm"
NETWORK = "pptvgl-net"


def node_gluster(node, *args):
    return docker("exec", node, "gluster", "--mode=script", *args, "--xml", check=False).stdout


def remove_nodes():
    docker("rm", "-f", *NODES, check=False)
    docker("network", "rm", NETWORK, check=False)


def wait_connected(node, peer):
    for _attempt in range(60):
        out = node_gluster(node, "pool", "list")
        if "<opRet>0</opRet>" in out and peer is None:
            return
        if peer and any(
            p.findtext("hostname") == peer and p.findtext("connected") == "1" for p in ET.fromstring(out).iter("peer")
        ):
            return
        time.sleep(1)
    raise AssertionError(f"{node}: glusterd not ready or {peer} not connected")


@pytest.fixture(scope="session")
def pool():
    """Three servers; node1 and node2 form a pool, node3 runs glusterd but is not probed yet."""
    if docker("image", "inspect", NODE_IMAGE, check=False).returncode != 0:
        docker("build", "-t", NODE_IMAGE, str(Path(__file__).parent / "files" / "gluster"), check=True)
    remove_nodes()
    docker("network", "create", NETWORK, check=True)
    try:
        for node in NODES:
            docker(
                "run", "-d", "--name", node, "--hostname", node, "--network", NETWORK,
                "--cap-add", "SYS_ADMIN", "--cap-add", "NET_ADMIN", "--security-opt", "seccomp=unconfined",
                "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw", "--tmpfs", "/run", "--tmpfs", "/run/lock",
                NODE_IMAGE, "/sbin/init", check=True,
            )  # fmt: skip
        for node in NODES:
            wait_connected(node, None)
            docker("exec", node, "mkdir", "-p", "/bricks", check=True)
        node_gluster(NODES[0], "peer", "probe", NODES[1])
        wait_connected(NODES[0], NODES[1])
        yield
    finally:
        remove_nodes()


def run_on(node, tasks, diff=False):
    """Run ``tasks`` with ansible-playbook on ``node`` over the Docker connection."""
    connection = {"ansible_connection": "community.docker.docker", "ansible_python_interpreter": "/usr/bin/python3"}
    hosts = {n: dict(connection) for n in NODES}
    play = [{"hosts": node, "gather_facts": False, "tasks": tasks}]
    with tempfile.TemporaryDirectory(prefix="pptvgl-play-") as tmp:
        (Path(tmp) / "play.yml").write_text(yaml.safe_dump(play, sort_keys=False))
        (Path(tmp) / "hosts.yml").write_text(yaml.safe_dump({"all": {"hosts": hosts}}))
        cmd = [str(ROOT / ".venv" / "bin" / "ansible-playbook"), "-i", f"{tmp}/hosts.yml", f"{tmp}/play.yml"]
        if diff:
            cmd.append("--diff")
        proc = subprocess.run(
            cmd, cwd=ROOT, env=ansible_env(), capture_output=True, text=True, timeout=600, check=False
        )
    try:
        report = json.loads(proc.stdout)
    except ValueError as exc:
        raise AssertionError(f"no JSON from ansible-playbook:\n{proc.stdout}\n{proc.stderr}") from exc
    return [TaskResult(task["hosts"].get(node, {})) for task in report["plays"][0]["tasks"]]


def test_pool_of_three_servers_with_an_arbiter(pool):
    name = PREFIX + "pool"
    args = {
        "name": name,
        "state": "started",
        "replica": 3,
        "bricks": [
            f"{NODES[0]}:/bricks/pv",
            f"{NODES[1]}:/bricks/pv",
            {"brick": f"{NODES[2]}:/bricks/pa", "arbiter": True},
        ],
        "force": True,  # the bricks sit on the containers' root file system
        "options": {"cluster.quorum-type": "auto"},
    }
    (missing,) = run_on(NODES[0], [gv(args)])
    assert missing.failed
    assert missing["missing_peers"] == [NODES[2]] and NODES[2] in missing["msg"]
    assert "<opRet>-1</opRet>" in node_gluster(NODES[0], "volume", "info", name)

    node_gluster(NODES[0], "peer", "probe", NODES[2])
    wait_connected(NODES[0], NODES[2])
    created, info, again = run_on(NODES[0], [gv(args), read("volume", "info", name), gv(args)], diff=True)
    assert ok(created).changed
    vol = info_element(xml(info))
    assert vol.findtext("statusStr") == "Started"
    assert [b.findtext("isArbiter") for b in vol.iter("brick")] == ["0", "0", "1"]
    assert len({b.findtext("hostUuid") for b in vol.iter("brick")}) == 3  # one brick per server
    assert created["diff"]["after"]["bricks"][2] == f"{NODES[2]}:/bricks/pa (arbiter)"
    assert not ok(again).changed

    # node2 knows node1 only by the name it learned (pptvgl-node1.pptvgl-net): same volume, no change.
    same, gone, info2, gone_again = run_on(
        NODES[1],
        [
            gv(args),
            gv({"name": name, "state": "absent"}),
            read("volume", "info", name),
            gv({"name": name, "state": "absent"}),
        ],
    )
    assert not ok(same).changed, same.get("actions")
    assert ok(gone).changed
    assert info_element(xml(info2)) is None
    assert not ok(gone_again).changed
