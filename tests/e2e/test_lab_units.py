# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lab's pure parts, without an engine: Marathon -> Docker options, app normalisation,
timestamps, label selectors, and the state machine driven by a fake driver."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "lab"))

from marathon_lab import appdef, core  # noqa: E402
from marathon_lab.core import Config, Lab  # noqa: E402
from marathon_lab.driver import LaunchFailed, run_options  # noqa: E402
from marathon_lab.errors import ApiError, ValidationFailed  # noqa: E402
from marathon_lab.http import label_matches, parse_label_selector  # noqa: E402
from marathon_lab.util import canonical_ts, ts_from_ms  # noqa: E402


def _app(**extra):
    body = {"id": "/grp/app", "cmd": "sleep 1", "container": {"type": "DOCKER", "docker": {"image": "img:1"}}}
    body.update(extra)
    return appdef.normalise(body)


def test_defaults_follow_marathon():
    config = Config()
    assert (config.port, config.listen) == (8080, "127.0.0.1")
    assert config.heartbeat_seconds == 10  # Jetty's EventSource heartbeat
    assert config.event_stream_max_outstanding == 1024
    assert config.max_running_deployments == 100
    assert (config.service_port_min, config.service_port_max) == (10000, 20000)


def test_timestamps_are_marathons_format():
    assert ts_from_ms(1_000) == "1970-01-01T00:00:01.000Z"
    assert ts_from_ms(1_700_000_000_007) == "2023-11-14T22:13:20.007Z"
    assert canonical_ts("2015-09-29T15:59:51.1+02:00") == "2015-09-29T13:59:51.100Z"
    assert canonical_ts("not a date") is None


def test_run_options_map_marathon_to_docker():
    app = _app(env={"A": "1"}, cpus=0.5, mem=64)
    app["container"]["docker"]["parameters"] = [
        {"key": "net", "value": "pptv-lab"},
        {"key": "ip", "value": "10.1.2.3"},
        {"key": "dns", "value": "10.1.2.1"},
        {"key": "dns-search", "value": "svc.test"},
        {"key": "volume", "value": "/srv:/data:ro"},
        {"key": "hostname", "value": "h1"},
        {"key": "add-host", "value": "db:10.1.2.9"},
        {"key": "label", "value": "k=v"},
        {"key": "env", "value": "B=2"},
        {"key": "log-driver", "value": "syslog"},
        {"key": "log-opt", "value": "tag=x"},
        {"key": "cap-add", "value": "NET_ADMIN"},
        {"key": "ulimit", "value": "nofile=1024:2048"},
    ]
    opts = run_options(app, {}, {"A": "1"}, {"lab": "1"}, {})
    assert opts["entrypoint"] == ["/bin/sh", "-c"] and opts["command"] == ["sleep 1"]
    assert opts["network"] == "pptv-lab" and "network_mode" not in opts
    assert opts["_endpoint"] == {"ipv4_address": "10.1.2.3"}
    assert opts["dns"] == ["10.1.2.1"] and opts["dns_search"] == ["svc.test"]
    assert opts["volumes"] == ["/srv:/data:ro"] and opts["hostname"] == "h1"
    assert opts["extra_hosts"] == {"db": "10.1.2.9"}
    assert opts["labels"] == {"lab": "1", "k": "v"} and opts["environment"] == {"A": "1", "B": "2"}
    assert opts["log_config"] == {"type": "syslog", "config": {"tag": "x"}}
    assert opts["cap_add"] == ["NET_ADMIN"]
    assert opts["ulimits"] == [{"Name": "nofile", "Soft": 1024, "Hard": 2048}]
    assert opts["cpu_shares"] == 512 and opts["mem_limit"] == "64m"


def test_run_options_args_bridge_ports_and_volumes():
    app = _app(cmd=None, args=["serve", "--port", "80"], networks=[{"mode": "container/bridge"}])
    app["container"]["portMappings"] = [{"containerPort": 80, "hostPort": 0, "protocol": "tcp", "servicePort": 0}]
    app["container"]["volumes"] = [{"containerPath": "/data", "hostPath": "/srv/data", "mode": "RO"}]
    opts = run_options(app, {}, {}, {}, {(80, "tcp"): 31005})
    assert "entrypoint" not in opts and opts["command"] == ["serve", "--port", "80"]
    assert opts["network"] == "bridge" and opts["ports"] == {"80/tcp": 31005}
    assert opts["volumes"] == ["/srv/data:/data:ro"]


def test_run_options_reject_what_docker_would():
    app = _app()
    app["container"]["docker"]["parameters"] = [{"key": "bogus", "value": "1"}]
    with pytest.raises(LaunchFailed, match="unknown flag: --bogus"):
        run_options(app, {}, {}, {}, {})
    app["container"]["docker"]["parameters"] = [{"key": "ip", "value": "10.0.0.5"}]
    with pytest.raises(LaunchFailed, match="user specified IP address"):
        run_options(app, {}, {}, {}, {})  # host networking: --ip needs a user network


def test_normalise_defaults_and_legacy_forms():
    app = _app()
    assert app["networks"] == [{"mode": "host"}]
    assert app["portDefinitions"] == [{"port": 0, "protocol": "tcp", "name": "default", "labels": {}}]
    assert app["upgradeStrategy"] == {"minimumHealthCapacity": 1.0, "maximumOverCapacity": 1.0}
    assert (app["instances"], app["cpus"], app["mem"], app["backoffFactor"]) == (1, 1.0, 128.0, 1.15)
    legacy = appdef.normalise(
        {
            "id": "/x",
            "cmd": "x",
            "ipAddress": {"networkName": "n1"},
            "container": {"docker": {"image": "i", "portMappings": [{"containerPort": 53, "protocol": "udp"}]}},
        }
    )
    assert legacy["networks"] == [{"mode": "container", "name": "n1"}]
    assert legacy["container"]["portMappings"][0]["containerPort"] == 53
    assert "portMappings" not in legacy["container"]["docker"]


def test_normalise_collects_every_422_detail():
    with pytest.raises(ValidationFailed) as caught:
        appdef.normalise(
            {
                "id": "/x",
                "instances": -1,
                "upgradeStrategy": {"maximumOverCapacity": 2},
                "healthChecks": [{"protocol": "FTP"}],
            }
        )
    paths = [d["path"] for d in caught.value.body["details"]]
    assert paths == ["/", "/instances", "/upgradeStrategy/maximumOverCapacity", "/healthChecks(0)/protocol"]
    assert caught.value.status == 422


def test_ids_are_checked_and_made_absolute():
    assert appdef.check_id("int/redis") == "/int/redis"
    assert appdef.canonical_id("../b", "/a/c") == "/a/b"
    for bad in ("/UPPER", "/a/restart", "/a_b", ""):
        with pytest.raises(ValidationFailed):
            appdef.check_id(bad)


def test_label_selector_language():
    labels = {"tier": "web", "env": "int"}
    assert label_matches(labels, parse_label_selector("tier==web"))
    assert not label_matches(labels, parse_label_selector("tier!=web"))
    assert label_matches(labels, parse_label_selector("tier in (db, web),env"))
    assert not label_matches(labels, parse_label_selector("env notin (int)"))
    assert not label_matches(labels, parse_label_selector("missing"))


class FakeDriver:
    """Stands in for the Docker engine at the driver boundary."""

    def __init__(self):
        self.containers = {}

    def list_mine(self):
        return []

    def summaries(self):
        return {
            cid: {"state": "running" if c["running"] else "exited", "labels": {}} for cid, c in self.containers.items()
        }

    def launch(self, name, opts):
        cid = f"c{len(self.containers)}"
        self.containers[cid] = {"running": True, "name": name, "opts": opts}
        return cid

    def inspect(self, cid):
        c = self.containers.get(cid)
        if c is None:
            return None
        return {"id": cid, "running": c["running"], "status": "running" if c["running"] else "exited",
                "exitCode": c.get("exit", 0), "ips": [], "labels": {}, "error": "", "oomKilled": False}  # fmt: skip

    def stop(self, cid, grace):
        del grace
        self.containers[cid]["running"] = False

    def remove(self, cid):
        self.containers.pop(cid, None)


class SyncExecutor:
    """Runs submitted work at once, so that a tick is deterministic."""

    def submit(self, fn, *args):
        fn(*args)

    def shutdown(self, **_kwargs):
        pass


def _run_until(lab, predicate, rounds=50):
    for _round in range(rounds):
        lab.tick()
        if predicate():
            return
    raise AssertionError("state machine did not converge")


@pytest.fixture
def machine(tmp_path):
    lab = Lab(Config(state_dir=str(tmp_path), host_port_min=42000, host_port_max=42100), FakeDriver())
    lab.pool.shutdown()
    lab.kill_pool.shutdown()
    lab.pool = lab.kill_pool = SyncExecutor()
    return lab


def test_state_machine_create_scale_upgrade_delete(machine):
    lab = machine
    app, plan = lab.create_app({"id": "/a", "cmd": "x", "instances": 2, "container": {"docker": {"image": "i"}}})
    assert [s["actions"][0]["action"] for s in plan["steps"]] == ["StartApplication", "ScaleApplication"]
    with pytest.raises(ApiError) as locked:
        lab.update_app("/a", {"instances": 3})
    assert locked.value.status == 409
    _run_until(lab, lambda: not lab.deployments)
    assert sorted(t["state"] for t in lab.tasks.values()) == ["TASK_RUNNING", "TASK_RUNNING"]
    old_ids = set(lab.tasks)
    created, plan, new = lab.update_app("/a", {"cmd": "y"})
    assert not created and plan["steps"] == [{"actions": [{"action": "RestartApplication", "app": "/a"}]}]
    assert new["version"] != app["version"]
    _run_until(lab, lambda: not lab.deployments)
    assert len(lab.tasks) == 2 and not old_ids & set(lab.tasks)
    lab.delete_app("/a")
    _run_until(lab, lambda: not lab.deployments)
    assert not lab.tasks and not lab.apps and not lab.driver.containers


def test_state_survives_a_reload(machine, tmp_path):
    machine.create_app({"id": "/p", "cmd": "x", "instances": 0})
    again = Lab(Config(state_dir=str(tmp_path)), FakeDriver())
    again.load()
    assert list(again.apps) == ["/p"] and list(again.versions["/p"]) == [machine.apps["/p"]["version"]]


def test_batch_plan_follows_dependencies(machine):
    apps = [
        {"id": "/d/web", "cmd": "x", "instances": 1, "dependencies": ["db"]},
        {"id": "/d/db", "cmd": "x", "instances": 1, "dependencies": ["/d/cache"]},
        {"id": "/d/cache", "cmd": "x", "instances": 1},
    ]
    plan = machine.update_many(apps)
    assert plan["steps"][0]["actions"][0]["action"] == "StartApplication"
    assert [[a["app"] for a in s["actions"]] for s in plan["steps"][1:]] == [["/d/cache"], ["/d/db"], ["/d/web"]]


def test_reverting_a_create_removes_the_app(machine):
    # A health check that never passes keeps the deployment open.
    never = {"protocol": "COMMAND", "command": {"value": "false"}, "gracePeriodSeconds": 300}
    _app_def, plan = machine.create_app({"id": "/r", "cmd": "x", "instances": 1, "healthChecks": [never]})
    machine.tick()
    machine.tick()
    assert machine.tasks and plan["id"] in machine.deployments
    revert = machine.revert_deployment(plan["id"])
    assert [s["actions"] for s in revert["steps"]] == [[{"action": "StopApplication", "app": "/r"}]]
    assert "/r" not in machine.apps
    _run_until(machine, lambda: not machine.deployments)
    assert not machine.tasks and not machine.driver.containers


class ScriptedRng:
    """Hands out the given start ports in order, checking that each lies in the range asked."""

    def __init__(self, *starts):
        self.starts = list(starts)
        self.asked = []

    def randrange(self, low, stop):
        value = self.starts.pop(0)
        self.asked.append((low, stop))
        assert low <= value < stop
        return value


@pytest.fixture
def all_ports_free(monkeypatch):
    """The host's own sockets are the boundary here: any client may hold a port of the range."""
    monkeypatch.setattr(core, "_port_free", lambda _port: True)


def _scripted_machine(tmp_path, *starts):
    config = Config(state_dir=str(tmp_path), host_port_min=42000, host_port_max=42009)
    lab = Lab(config, FakeDriver(), ScriptedRng(*starts))
    lab.pool.shutdown()
    lab.kill_pool.shutdown()
    lab.pool = lab.kill_pool = SyncExecutor()
    return lab


@pytest.mark.usefixtures("all_ports_free")
def test_host_ports_start_at_a_random_port_and_wrap(tmp_path):
    lab = _scripted_machine(tmp_path, 42008, 42008)
    ports = [{"port": 0, "protocol": "tcp", "name": f"p{i}"} for i in range(3)]
    lab.create_app({"id": "/w", "cmd": "x", "instances": 1, "portDefinitions": ports})
    _run_until(lab, lambda: not lab.deployments)
    (first,) = lab.tasks.values()
    # From the drawn start up to the end of the range, then from its beginning.
    assert first["ports"] == [42008, 42009, 42000]
    lab.update_app("/w", {"instances": 2})
    _run_until(lab, lambda: not lab.deployments)
    (second,) = [t for t in lab.tasks.values() if t["id"] != first["id"]]
    # Ports held by running tasks are skipped, the walk goes on (and wraps) from the same start.
    assert second["ports"] == [42001, 42002, 42003]
    assert lab.rng.asked == [(42000, 42010), (42000, 42010)]


@pytest.mark.usefixtures("all_ports_free")
def test_a_port_freed_by_a_killed_task_is_not_the_next_handed_out(tmp_path):
    lab = _scripted_machine(tmp_path, 42004, 42007)
    lab.create_app({"id": "/k", "cmd": "x", "instances": 1})
    _run_until(lab, lambda: len(lab.tasks) == 1 and not lab.deployments)
    (old,) = lab.tasks.values()
    assert old["ports"] == [42004]
    lab.kill_tasks([old["id"]])
    _run_until(lab, lambda: [t["state"] for t in lab.tasks.values()] == ["TASK_RUNNING"] and old["id"] not in lab.tasks)
    (new,) = lab.tasks.values()
    # The lowest free port (42000) or the freed one (42004) would mix the old and new routes.
    assert new["ports"] == [42007]


def test_undeclared_fields_are_dropped_at_every_level_checked(caplog):
    body = {
        "id": "/u",
        "cmd": "x",
        "fooBar": 1,
        "container": {
            "type": "DOCKER",
            "extra": 2,
            "docker": {
                "image": "i",
                "network": "BRIDGE",
                "pull": 3,
                "parameters": [{"key": "k", "value": "v", "x": 4}],
            },
        },
        "healthChecks": [{"protocol": "TCP", "portIndex": 0, "retries": 5}],
        "upgradeStrategy": {"minimumHealthCapacity": 0.5, "typo": 6},
        "tasksRunning": 3,  # runtime fields of a GET body are not part of an app either
    }
    with caplog.at_level("WARNING", logger="marathon_lab.appdef"):
        app = appdef.normalise(body)
    assert "fooBar" not in app and "tasksRunning" not in app
    assert "extra" not in app["container"] and "pull" not in app["container"]["docker"]
    assert app["container"]["docker"]["parameters"] == [{"key": "k", "value": "v"}]
    assert "retries" not in app["healthChecks"][0]
    assert app["upgradeStrategy"] == {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 1.0}
    # The 1.4 input forms are declared (deprecated) fields: still read, then rewritten.
    assert app["networks"] == [{"mode": "container/bridge"}] and "network" not in app["container"]["docker"]
    (record,) = caplog.records
    assert record.getMessage() == (
        "dropped fields Marathon does not know (app /u): /fooBar, /container/extra, /container/docker/pull, "
        "/container/docker/parameters(0)/x, /healthChecks(0)/retries, /upgradeStrategy/typo"
    )


def test_readiness_checks_get_marathons_defaults_and_are_validated():
    ports = [{"port": 0, "name": "http-api"}]
    app = appdef.normalise({"id": "/r", "cmd": "x", "portDefinitions": ports, "readinessChecks": [{}]})
    assert app["readinessChecks"] == [appdef.READINESS_DEFAULTS]
    bad = [{"portName": "web", "timeoutSeconds": 30, "intervalSeconds": 30, "httpStatusCodesForReady": [200, 200]}]
    with pytest.raises(ValidationFailed) as failed:
        appdef.normalise({"id": "/r", "cmd": "x", "portDefinitions": ports, "readinessChecks": bad + [{}]})
    errors = {}
    for detail in failed.value.body["details"]:
        errors.setdefault(detail["path"], []).extend(detail["errors"])
    assert errors == {
        "/readinessChecks": ["Only one readinessCheck is supported"],
        "/readinessChecks(0)": [
            "timeoutSeconds must be smaller than intervalSeconds",
            "ReadinessCheck portName 'web' is not the name of a port of the app",
        ],
        "/readinessChecks(0)/httpStatusCodesForReady": ["must not contain duplicates"],
    }


def test_a_deployment_waits_until_the_new_task_is_ready(machine):
    lab = machine
    checks = [{"portName": "default", "intervalSeconds": 2, "timeoutSeconds": 1}]
    _app_def, plan = lab.create_app({"id": "/w", "cmd": "x", "readinessChecks": checks})
    _run_until(lab, lambda: [t["state"] for t in lab.tasks.values()] == ["TASK_RUNNING"])
    for _round in range(5):
        lab.tick()
    (task,) = lab.tasks.values()
    assert plan["id"] in lab.deployments and not lab.task_ready(task, lab.apps["/w"])
    task["ready"] = True  # what a passing probe records (probing needs a real task: the e2e suite)
    _run_until(lab, lambda: not lab.deployments)
