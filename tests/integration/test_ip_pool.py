# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pptv.dcos.ip_pool and its lookup, on both backends: a JSON file and a real ZooKeeper.

Every test runs once per backend with the same assertions. The ZooKeeper is Debian's, started
standalone on a free loopback port with its own data directory (tests/support/zk_server.py).
What the module returns is always checked against an independent read of the store: the JSON file
read back, or the znodes read with a separate kazoo client.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import yaml
from support.ansible_run import ROOT, ansible_env, run_play, run_task

PREFIX = "pptvnet-"


class FileBackend:
    name = "file"

    def __init__(self, tmp):
        self.path = Path(tmp) / f"{PREFIX}pool.json"
        self.args = {"backend": "file", "path": str(self.path)}

    def allocations(self, pool):
        """{app_id: ip} read straight from the state file (which must be valid JSON)."""
        if not self.path.exists():
            return {}
        state = json.loads(self.path.read_text())
        entry = state["pools"].get(pool)
        return {} if entry is None else {app: rec["ip"] for app, rec in entry["allocations"].items()}

    def snapshot(self):
        return hashlib.sha256(self.path.read_bytes()).hexdigest() if self.path.exists() else None

    def consistent(self, pool):
        ips = list(self.allocations(pool).values())
        return len(ips) == len(set(ips))


class ZooKeeperBackend:
    name = "zookeeper"

    def __init__(self, zookeeper, client):
        self.client = client
        self.root = f"/{PREFIX}{uuid.uuid4().hex[:8]}"
        self.args = {"backend": "zookeeper", "zk_hosts": zookeeper.hosts, "zk_root": self.root}

    def allocations(self, pool):
        base = f"{self.root}/pools/{pool}/apps"
        if not self.client.exists(base):
            return {}
        found = {}
        for child in self.client.get_children(base):
            data, _stat = self.client.get(f"{base}/{child}")
            found[child.replace("%2F", "/")] = json.loads(data)["ip"]
        return found

    def snapshot(self):
        def walk(path):
            if not self.client.exists(path):
                return None
            data, stat = self.client.get(path)
            return [data, stat.mzxid, {c: walk(f"{path}/{c}") for c in sorted(self.client.get_children(path))}]

        return json.dumps(walk(self.root), default=repr)

    def consistent(self, pool):
        """Every app node has its address node and the other way round; no address twice."""
        apps = self.allocations(pool)
        ips_base = f"{self.root}/pools/{pool}/ips"
        owners = {}
        if self.client.exists(ips_base):
            for ip in self.client.get_children(ips_base):
                owners[ip] = json.loads(self.client.get(f"{ips_base}/{ip}")[0])["app_id"]
        return len(set(apps.values())) == len(apps) and {ip: app for app, ip in apps.items()} == owners


@pytest.fixture(params=["file", "zookeeper"])
def backend(request, tmp_path):
    if request.param == "file":
        yield FileBackend(tmp_path)
    else:
        store = ZooKeeperBackend(request.getfixturevalue("zookeeper"), request.getfixturevalue("zk_client"))
        yield store
        store.client.delete(store.root, recursive=True)


def pool_args(backend, pool=PREFIX + "oak", **extra):
    args = {"pool": pool}
    args.update(backend.args)
    args.update({key: value for key, value in extra.items() if value is not None})
    return args


def define(backend, pool=PREFIX + "oak", **spec):
    args = pool_args(backend, pool, state="present")
    args.update(spec)
    result = run_task("ip_pool", args)
    assert not result.failed, result
    return result


SMALL = {"subnets": ["10.231.60.0/29"], "gateway": "10.231.60.1", "reserved": ["10.231.60.2"]}
# 10.231.60.0/29: .0 network, .7 broadcast, .1 gateway, .2 reserved -> .3 .4 .5 .6 can be handed out.


def step(backend, check=False, diff=False, **args):
    """One ip_pool task of a play (ansible-playbook runs are costly: tests batch their steps)."""
    return {"pptv.dcos.ip_pool": pool_args(backend, **args), "ignore_errors": True, "check_mode": check, "diff": diff}


def steps(*tasks):
    return run_play(list(tasks))


def allocate(backend, app_id, check=False, diff=False, **extra):
    return run_task("ip_pool", pool_args(backend, app_id=app_id, **extra), check=check, diff=diff)


def test_allocation_is_keyed_by_app_and_skips_what_is_not_free(backend):
    created, same, first, again, checked, others = steps(
        step(backend, state="present", **SMALL),
        step(backend, state="present", **SMALL),
        step(backend, app_id="/shop/redis", diff=True),
        step(backend, app_id="shop/redis"),  # no leading slash: the same app
        step(backend, app_id="/shop/redis", check=True),
        step(backend, app_ids=["/shop/web", "/shop/api", "/shop/db"]),
    )
    assert created.changed and created["size"] == 4, created
    assert not same.changed
    assert first.changed and not first.failed, first
    assert (first["ip"], first["prefix"], first["subnet"], first["gateway"], first["pool"]) == (
        "10.231.60.3",
        29,
        "10.231.60.0/29",
        "10.231.60.1",
        PREFIX + "oak",
    )
    assert first["diff"] == {"before": {"/shop/redis": None}, "after": {"/shop/redis": "10.231.60.3"}}
    assert not again.changed and again["ip"] == "10.231.60.3", again
    assert not checked.changed and checked["ip"] == "10.231.60.3"
    assert others.changed, others
    assert [a["ip"] for a in others["allocations"]] == ["10.231.60.4", "10.231.60.5", "10.231.60.6"]
    assert backend.allocations(PREFIX + "oak") == {
        "/shop/redis": "10.231.60.3",
        "/shop/web": "10.231.60.4",
        "/shop/api": "10.231.60.5",
        "/shop/db": "10.231.60.6",
    }
    assert backend.consistent(PREFIX + "oak")


def test_exhausted_pool_fails_naming_it_and_writes_nothing(backend):
    steps(step(backend, state="present", **SMALL), step(backend, app_ids=["/a", "/b", "/c"]))
    before = backend.snapshot()
    full = allocate(backend, None, app_ids=["/d", "/e"])
    assert full.failed, full
    assert f"pool {PREFIX}oak is exhausted" in full["msg"] and "/d, /e" in full["msg"]
    # All or nothing: /d could have had the last address, but /e could not.
    assert backend.snapshot() == before
    last, over = steps(step(backend, app_id="/d"), step(backend, app_id="/f"))
    assert last.changed and last["ip"] == "10.231.60.6"
    assert over.failed and f"pool {PREFIX}oak is exhausted" in over["msg"]


def test_multi_subnet_pool_spills_over_and_allocation_range_is_honoured(backend):
    _pool, got, explicit, outside = steps(
        step(
            backend,
            state="present",
            subnets=["10.231.61.0/30", "10.231.62.0/24"],
            gateway="10.231.61.1",
            allocation_ranges=["10.231.61.0/30", "10.231.62.100-10.231.62.101"],
        ),
        step(backend, app_ids=["/a", "/b", "/c"]),
        # An explicit address may lie outside the allocation range, never outside the subnets.
        step(backend, app_id="/d", ip="10.231.62.7"),
        step(backend, app_id="/e", ip="10.231.63.7"),
    )
    assert [a["ip"] for a in got["allocations"]] == ["10.231.61.2", "10.231.62.100", "10.231.62.101"], got
    assert [a["subnet"] for a in got["allocations"]] == ["10.231.61.0/30", "10.231.62.0/24", "10.231.62.0/24"]
    assert explicit["ip"] == "10.231.62.7"
    assert outside.failed and "outside every subnet" in outside["msg"]
    assert backend.allocations(PREFIX + "oak") == {
        "/a": "10.231.61.2",
        "/b": "10.231.62.100",
        "/c": "10.231.62.101",
        "/d": "10.231.62.7",
    }


def test_requested_ip_and_release(backend):
    _pool, asked, same, taken, reserved, moved = steps(
        step(backend, state="present", **SMALL),
        step(backend, app_id="/a", ip="10.231.60.5"),
        step(backend, app_id="/a", ip="10.231.60.5"),
        step(backend, app_id="/b", ip="10.231.60.5"),
        step(backend, app_id="/b", ip="10.231.60.2"),
        step(backend, app_id="/a", ip="10.231.60.6"),
    )
    assert asked["ip"] == "10.231.60.5" and asked.changed
    assert not same.changed
    assert taken.failed and "held by /a" in taken["msg"], taken
    assert reserved.failed and "reserved" in reserved["msg"]
    assert moved.failed and "already holds 10.231.60.5" in moved["msg"]

    before = backend.snapshot()
    planned = allocate(backend, "/a", state="released", check=True, diff=True)
    assert planned.changed and planned["diff"]["before"] == {"/a": "10.231.60.5"}, planned
    assert backend.snapshot() == before
    released, again, reused = steps(
        step(backend, app_id="/a", state="released"),
        step(backend, app_id="/a", state="released"),
        step(backend, app_id="/b", ip="10.231.60.5"),
    )
    assert released.changed and released["released"] == ["/a"]
    assert not again.changed
    assert reused.changed and reused["ip"] == "10.231.60.5"
    assert backend.allocations(PREFIX + "oak") == {"/b": "10.231.60.5"}


def test_check_mode_allocation_writes_nothing(backend):
    run_task("ip_pool", pool_args(backend, state="present", **SMALL))
    before = backend.snapshot()
    planned = allocate(backend, "/a", check=True)
    assert planned.changed and planned["ip"] == "10.231.60.3", planned
    assert backend.snapshot() == before
    assert backend.allocations(PREFIX + "oak") == {}


def test_shrinking_under_live_allocations_is_refused(backend):
    _pool, _a, _b, shrink = steps(
        step(backend, state="present", subnets=["10.231.64.0/24"], gateway="10.231.64.1"),
        step(backend, app_id="/a", ip="10.231.64.200"),
        step(backend, app_id="/b"),  # 10.231.64.2
        step(backend, state="present", subnets=["10.231.64.0/25"], gateway="10.231.64.1", reserved=["10.231.64.2"]),
    )
    assert shrink.failed, shrink
    assert {(c["app_id"], c["ip"]) for c in shrink["conflicts"]} == {("/a", "10.231.64.200"), ("/b", "10.231.64.2")}
    assert "/a holds 10.231.64.200" in shrink["msg"]
    # Growing is fine, and a planned update in check mode writes nothing.
    before = backend.snapshot()
    grow = run_task(
        "ip_pool",
        pool_args(backend, state="present", subnets=["10.231.64.0/23"], gateway="10.231.64.1"),
        check=True,
        diff=True,
    )
    assert grow.changed and grow["diff"]["after"]["pool"]["subnets"] == ["10.231.64.0/23"], grow
    assert backend.snapshot() == before

    absent, forced, gone = steps(
        step(backend, state="absent"), step(backend, state="absent", force=True), step(backend, state="absent")
    )
    assert absent.failed and "still has live allocations" in absent["msg"]
    assert forced.changed and forced["released"] == ["/a", "/b"], forced
    assert not gone.changed
    assert backend.allocations(PREFIX + "oak") == {}


def test_bad_input_names_the_option(backend):
    cases = [
        ({"subnets": ["10.231.65.0/33"]}, "subnets"),
        ({"subnets": ["10.231.65.9/24"]}, "host bits"),
        ({"subnets": ["10.231.65.0/24"], "gateway": "10.231.66.1"}, "gateway: 10.231.66.1 is outside"),
        ({"subnets": ["10.231.65.0/24"], "reserved": ["10.231.65.9-10.231.65.2"]}, "reserved"),
        ({"app_id": "/a"}, "does not exist"),
        ({"app_id": "/Bad_App"}, "is not valid: a Marathon app id"),
    ]
    results = steps(*[step(backend, state="present" if "subnets" in args else None, **args) for args, _w in cases])
    for (args, words), result in zip(cases, results):
        assert result.failed and words in result["msg"], (args, result)
    assert "Traceback" not in results[0]["stdout"]
    assert backend.snapshot() is None or backend.allocations(PREFIX + "oak") == {}


def test_lookup_returns_the_ip_and_allocates_only_when_asked(backend):
    options = ", ".join(f"{k}={v!r}" for k, v in pool_args(backend).items())
    tasks = [
        step(backend, state="present", **SMALL),
        step(backend, app_id="/a"),
        {"ansible.builtin.set_fact": {"one": f"{{{{ lookup('pptv.dcos.ip_pool', '/a', {options}) }}}}"}},
        {
            "ansible.builtin.set_fact": {
                "many": f"{{{{ query('pptv.dcos.ip_pool', 'a', '/b', {options}, allocate=true, details=true) }}}}"
            }
        },
        {"ansible.builtin.debug": {"msg": "{{ [one, many] }}"}},
        {
            "ansible.builtin.debug": {"msg": f"{{{{ lookup('pptv.dcos.ip_pool', '/zzz', {options}) }}}}"},
            "ignore_errors": True,
        },
    ]
    results = run_play(tasks)
    one, many = results[4]["msg"]
    assert one == "10.231.60.3"
    assert [(m["app_id"], m["ip"], m["prefix"]) for m in many] == [("/a", "10.231.60.3", 29), ("/b", "10.231.60.4", 29)]
    assert results[5].failed and "holds no address for /zzz" in results[5]["msg"]
    assert backend.allocations(PREFIX + "oak") == {"/a": "10.231.60.3", "/b": "10.231.60.4"}


def _lookup(expression):
    return {"ansible.builtin.debug": {"msg": "{{ " + expression + " }}"}, "ignore_errors": True}


def test_hostile_names_and_store_options_fail_naming_the_option(tmp_path):
    """Through ansible-playbook, so that Ansible's own option parsing runs first (issue 10)."""
    path = str(tmp_path / f"{PREFIX}pool.json")
    default = Path("/var/lib/pptv-dcos/ip_pool.json")
    default_before = default.read_bytes() if default.exists() else None
    base = {"pool": PREFIX + "oak", "path": path}
    at = f"path={path!r}, pool={PREFIX + 'oak'!r}"
    bad = {"bad_pool": PREFIX + "oak\n"}  # a real newline, as a variable
    tasks = [
        {"pptv.dcos.ip_pool": dict(base, **SMALL)},
        {"pptv.dcos.ip_pool": dict(base, pool=PREFIX + "oak\n", **SMALL), "ignore_errors": True},
        {"pptv.dcos.ip_pool": dict(base, path="", **SMALL), "ignore_errors": True},
        {"pptv.dcos.ip_pool": dict(base, path="relative.json", **SMALL), "ignore_errors": True},
        {"pptv.dcos.ip_pool": dict(base, backend="zookeeper", zk_hosts="::::,,", app_id="/a"), "ignore_errors": True},
        {"pptv.dcos.ip_pool": dict(base, lock_timeout=-1, app_id="/a"), "ignore_errors": True},
        _lookup(f"lookup('pptv.dcos.ip_pool', '/a', {at}, allocate='banana')"),
        _lookup(f"lookup('pptv.dcos.ip_pool', '/a', {at}, allocate=true, details='maybe')"),
        _lookup(f"lookup('pptv.dcos.ip_pool', '/a', pool={PREFIX + 'oak'!r}, path='')"),
        dict(_lookup(f"lookup('pptv.dcos.ip_pool', '/a', path={path!r}, pool=bad_pool, allocate=true)"), vars=bad),
        _lookup(f"lookup('pptv.dcos.ip_pool', '/a', {at}, allocate='yes')"),
    ]
    results = run_play(tasks)
    expected = [
        (1, "pool: 'pptvnet-oak\\n' is not valid"),
        (2, "path: must be the absolute path of the state file, got ''"),
        (3, "path: must be an absolute path"),
        (4, "zk_hosts: '::::' is not 'host' or 'host:port'"),
        (5, "lock_timeout: must be 0 or more"),
        (6, "allocate: must be a boolean (true or false), got 'banana'"),
        (7, "details: must be a boolean (true or false), got 'maybe'"),
        (8, "path: must be the absolute path of the state file, got ''"),
        (9, "pool: 'pptvnet-oak\\n' is not valid"),
    ]
    for index, words in expected:
        assert results[index].failed and words in results[index]["msg"], (index, results[index])
        assert not results[index].changed, (index, results[index])
    assert "Traceback" not in results[0]["stdout"]
    assert results[10]["msg"] == "10.231.60.3"  # 'yes' is a boolean: the lookup allocated
    assert json.loads(Path(path).read_text())["pools"].keys() == {PREFIX + "oak"}
    assert not (tmp_path / "relative.json").exists()
    assert (default.read_bytes() if default.exists() else None) == default_before


def test_module_and_lookup_open_the_same_file_from_the_environment(tmp_path):
    path = tmp_path / f"{PREFIX}env.json"
    pool = PREFIX + "env"
    tasks = [
        {"pptv.dcos.ip_pool": dict(pool=pool, **SMALL)},
        {"pptv.dcos.ip_pool": {"pool": pool, "app_id": "/a"}, "register": "got"},
        {"ansible.builtin.debug": {"msg": "{{ [got.ip, lookup('pptv.dcos.ip_pool', '/a', pool='" + pool + "')] }}"}},
        {"pptv.dcos.ip_pool": {"pool": pool, "app_id": "/b"}, "diff": True},
    ]
    results = run_play(tasks, env={"PPTV_DCOS_IP_POOL_PATH": str(path)})
    assert not any(result.failed for result in results), results
    assert results[2]["msg"] == ["10.231.60.3", "10.231.60.3"]
    assert "diff" not in results[1]  # only with --diff
    assert results[3]["diff"] == {"before": {"/b": None}, "after": {"/b": "10.231.60.4"}}
    state = json.loads(path.read_text())
    assert {app: rec["ip"] for app, rec in state["pools"][pool]["allocations"].items()} == {
        "/a": "10.231.60.3",
        "/b": "10.231.60.4",
    }


# -- concurrency ----------------------------------------------------------------------------------


def _playbook(tmp, backend, pool):
    play = [
        {
            "hosts": "localhost",
            "gather_facts": False,
            "tasks": [
                {
                    "pptv.dcos.ip_pool": dict(pool_args(backend, pool), app_id="{{ app }}"),
                    "register": "got",
                },
                {"ansible.builtin.debug": {"msg": "IP={{ got.ip }}"}},
            ],
        }
    ]
    path = Path(tmp) / "allocate.yml"
    path.write_text(yaml.safe_dump(play))
    return path


def _parallel(playbook, apps):
    cmd = [
        str(ROOT / ".venv" / "bin" / "ansible-playbook"),
        "-i",
        "localhost,",
        "-c",
        "local",
        "-e",
        "ansible_python_interpreter=" + sys.executable,
    ]
    procs = [
        subprocess.Popen(
            [*cmd, "-e", f"app={app}", str(playbook)],
            cwd=ROOT,
            env=ansible_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for app in apps
    ]
    got = {}
    for app, proc in zip(apps, procs):
        out, _err = proc.communicate(timeout=300)
        report = json.loads(out)
        result = report["plays"][0]["tasks"][0]["hosts"]["localhost"]
        assert not result.get("failed"), result
        got[app] = result["ip"]
    return got


def test_twenty_parallel_playbooks_get_twenty_distinct_ips(backend, tmp_path):
    pool = PREFIX + "par"
    define(backend, pool=pool, subnets=["10.231.70.0/24"], gateway="10.231.70.1")
    apps = [f"/par/app-{n:02d}" for n in range(20)]
    playbook = _playbook(tmp_path, backend, pool)
    first = _parallel(playbook, apps)
    assert len(set(first.values())) == 20
    assert backend.allocations(pool) == first
    assert backend.consistent(pool)
    # The same 20 again (one process: the concurrent path is the one above) -> the same IPs.
    again = run_task("ip_pool", pool_args(backend, pool, app_ids=apps))
    assert not again.changed and not again.failed, again
    assert {a["app_id"]: a["ip"] for a in again["allocations"]} == first
    assert backend.allocations(pool) == first


WORKER = r"""
import sys
sys.path.insert(0, sys.argv[1])
from ansible_collections.pptv.dcos.plugins.module_utils._ippool import open_store
import json
params = json.loads(sys.argv[2])
store = open_store(params)
n = 0
while True:
    store.allocate(params["pool"], [("/kill/app-%d" % n, None)])
    print(n, flush=True)
    n += 1
"""


def test_sigkill_while_allocating_leaves_no_duplicate_and_no_corrupt_state(backend):
    pool = PREFIX + "kill"
    define(backend, pool=pool, subnets=["10.231.72.0/22"], gateway="10.231.72.1")
    params = pool_args(backend, pool)
    for round_ in range(3):
        # Two writers at once, one of them killed mid-stream.
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", WORKER, str(ROOT / ".collections"), json.dumps(params)],
                stdout=subprocess.PIPE,
                text=True,
                start_new_session=True,
            )
            for _worker in range(2)
        ]
        victim = procs[round_ % 2]
        deadline = time.monotonic() + 30
        while len(backend.allocations(pool)) < 10 * (round_ + 1) and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(victim.pid, signal.SIGKILL)
        for proc in procs:
            if proc is not victim:
                proc.terminate()
            proc.wait(timeout=30)
        assert victim.returncode == -signal.SIGKILL
        assert backend.consistent(pool)
    held = backend.allocations(pool)
    assert len(held) >= 30
    # The store still works after the kills (no stale lock, no half-written allocation).
    after = allocate(backend, "/kill/after", pool=pool)
    assert after.changed and after["ip"] not in held.values(), after
    assert backend.consistent(pool)


# -- reconcile with Marathon (a private lab instance) ----------------------------------------------

SYNC_NET = PREFIX + "sync"


@pytest.fixture(scope="module")
def lab(sync_network):
    from support.lab import lab_instance

    with lab_instance(PREFIX) as instance:
        yield instance


@pytest.fixture(scope="module")
def sync_network():
    subprocess.run(["docker", "network", "rm", SYNC_NET], capture_output=True, check=False)
    subprocess.run(
        ["docker", "network", "create", "--subnet", "10.231.80.0/24", "--gateway", "10.231.80.254",
         "--ip-range", "10.231.80.128/26", SYNC_NET],
        capture_output=True, check=True,
    )  # fmt: skip
    yield SYNC_NET
    subprocess.run(["docker", "network", "rm", SYNC_NET], capture_output=True, check=False)


def marathon(url, method, path, body=None):
    import urllib.request

    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url + path, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read() or b"null")


def sleeper(app_id, instances=0, params=(), **extra):
    body = {
        "id": app_id,
        "cmd": "sleep 3600",
        "cpus": 0.01,
        "mem": 16,
        "instances": instances,
        "container": {
            "type": "DOCKER",
            "docker": {"image": "pptv-dcos/base:bookworm", "parameters": [{"key": k, "value": v} for k, v in params]},
        },
    }
    body.update(extra)
    return body


def test_synced_records_used_addresses_releases_gone_apps_and_reports_conflicts(backend, lab, sync_network):
    pool = PREFIX + "sync"
    apps = [
        sleeper("/sync/param", params=[("net", sync_network), ("ip", "10.231.80.10")]),
        sleeper("/sync/label", labels={"pptv.dcos/ip": "10.231.80.11"}),
        sleeper("/sync/net", instances=1, networks=[{"mode": "container", "name": sync_network}]),
        sleeper("/sync/dup-a", params=[("ip", "10.231.80.20")]),
        sleeper("/sync/dup-b", params=[("ip", "10.231.80.20")]),
        sleeper("/sync/outside", params=[("ip", "10.231.99.5")]),
        sleeper("/sync/other", params=[("ip", "10.231.81.5")]),
        sleeper("/sync/reserved", params=[("ip", "10.231.80.200")]),
        sleeper("/sync/held", params=[("ip", "10.231.80.31")]),
    ]
    for app in apps:
        marathon(lab.url, "PUT", f"/v2/apps{app['id']}", app)
    deadline = time.monotonic() + 60
    task_ip = None
    while time.monotonic() < deadline and not task_ip:
        tasks = marathon(lab.url, "GET", "/v2/apps/sync/net?embed=app.tasks")["app"].get("tasks") or []
        task_ip = tasks and tasks[0].get("ipAddresses") and tasks[0]["ipAddresses"][0]["ipAddress"]
        time.sleep(0.5)
    assert task_ip and task_ip.startswith("10.231.80."), tasks

    steps(
        step(backend, pool=pool, state="present", subnets=["10.231.80.0/24"], gateway="10.231.80.254",
             reserved=["10.231.80.200"]),
        step(backend, pool=PREFIX + "other", state="present", subnets=["10.231.81.0/24"]),
        step(backend, pool=pool, app_id="/sync/gone", ip="10.231.80.40"),
        step(backend, pool=pool, app_id="/sync/held", ip="10.231.80.30"),
    )  # fmt: skip

    def sync(grace, check=False):
        return step(backend, pool=pool, state="synced", url=[lab.url], grace_period=grace, check=check, diff=True)

    before = backend.snapshot()
    planned, marked, again = steps(sync(0, check=True), sync(3600), sync(3600))
    # Check mode: everything listed, nothing written.
    assert planned.changed and not planned.failed, planned
    used = {"/sync/param": "10.231.80.10", "/sync/label": "10.231.80.11", "/sync/net": task_ip}
    assert {r["app_id"]: r["ip"] for r in planned["recorded"]} == used
    assert planned["released"] == ["/sync/gone"]
    kinds = {(c["kind"], c["ip"]) for c in planned["conflicts"]}
    assert kinds == {
        ("shared address", "10.231.80.20"),
        ("outside every pool", "10.231.99.5"),
        ("blocked address", "10.231.80.200"),
        ("address differs", "10.231.80.31"),
    }, planned["conflicts"]
    assert [c["app_ids"] for c in planned["conflicts"] if c["kind"] == "shared address"] == [
        ["/sync/dup-a", "/sync/dup-b"]
    ]
    # With a grace period the gone app is only marked; what apps use is recorded.
    assert marked.changed and marked["released"] == [], marked
    assert [p["app_id"] for p in marked["pending_release"]] == ["/sync/gone"]
    held = backend.allocations(pool)
    assert held == dict(used, **{"/sync/gone": "10.231.80.40", "/sync/held": "10.231.80.30"})
    assert backend.snapshot() != before
    # Nothing new: no change, conflicts still reported (never fixed).
    assert not again.changed, again
    assert len(again["conflicts"]) == 4
    released, quiet = steps(sync(0), sync(0))
    assert released.changed and released["released"] == ["/sync/gone"], released
    assert "/sync/gone" not in backend.allocations(pool)
    assert not quiet.changed
    assert backend.consistent(pool)


def test_credentials_in_the_marathon_url_never_show_in_the_result(backend):
    """The URL (option or MARATHON_URL) is only used by `synced`, but is part of every invocation."""
    secret_url = "http://admin:s3cret-pw@127.0.0.1:9"
    results = steps(
        step(backend, state="present", url=[secret_url], **SMALL),
        step(backend, state="synced", url=[secret_url]),
    )
    present, synced = results
    assert not present.failed, present
    assert synced.failed and "username and password" in synced["msg"], synced
    assert "s3cret-pw" not in present["stdout"]
    from_env = run_task("ip_pool", pool_args(backend, state="present", **SMALL), env={"MARATHON_URL": secret_url})
    assert not from_env.failed, from_env
    assert "s3cret-pw" not in from_env["stdout"]
