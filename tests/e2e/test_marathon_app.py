# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""marathon_app, marathon_app_info and the marathon_endpoints lookup against a private lab.

The modules run through ``ansible-playbook`` and talk to the lab through a recording proxy
(``support.recording_proxy``), so "no write request sent" is the proxy's count of non-GET
requests. Every result is checked with an independent GET sent straight to the lab.
The lab runs with basic auth on, so every call also exercises the credentials path.
"""

from __future__ import annotations

import json
import socket
import time
import uuid

import pytest
import requests
from support.ansible_run import run_play, run_task
from support.lab import lab_instance
from support.recording_proxy import RecordingProxy

PREFIX = "pptvmar-"
USER, PASSWORD = "ops", "pw-e2e-7f3a"
IMAGE = "pptv-dcos/base:bookworm"
APP_IMAGE = "pptv-dcos/app:bookworm"


@pytest.fixture(scope="module")
def lab():
    with lab_instance(PREFIX, auth={"users": {USER: {"password": PASSWORD}}}) as instance:
        yield instance


@pytest.fixture(scope="module")
def proxy(lab):
    with RecordingProxy(lab.url) as recording:
        yield recording


class Direct:
    """Independent reads (and setup writes) straight to the lab, not through the module."""

    def __init__(self, base):
        self.base = base
        self.session = requests.Session()
        self.session.auth = (USER, PASSWORD)

    def get(self, path, **kwargs):
        return self.session.get(self.base + path, timeout=30, **kwargs)

    def put(self, path, body, **kwargs):
        return self.session.put(self.base + path, json=body, timeout=30, **kwargs)

    def delete(self, path, **kwargs):
        return self.session.delete(self.base + path, timeout=30, **kwargs)

    def app(self, app_id):
        response = self.get(f"/v2/apps{app_id}")
        return response.json()["app"] if response.status_code == 200 else None

    def deployment_ids(self):
        return [d["id"] for d in self.get("/v2/deployments").json()]

    def wait(self, predicate, timeout=60, what="condition"):
        deadline = time.time() + timeout
        while time.time() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def direct(lab):
    return Direct(lab.url)


@pytest.fixture
def group(direct):
    """A fresh group per test; its apps are removed afterwards."""
    name = f"/{PREFIX}{uuid.uuid4().hex[:6]}"
    yield name
    for app in direct.get("/v2/apps", params={"id": name + "/"}).json()["apps"]:
        direct.delete(f"/v2/apps{app['id']}", params={"force": "true"})
    direct.wait(lambda: not direct.get("/v2/apps", params={"id": name + "/"}).json()["apps"], 60, "apps removed")


@pytest.fixture
def mar(proxy):
    """Run marathon_app through the proxy; ``mar.proxy`` counts what it sent."""

    def run(args, check=False, diff=False, **connection):
        conn = {"url": proxy.url, "username": USER, "password": PASSWORD, "wait_timeout": 60}
        conn.update(connection)
        proxy.clear()
        return run_task("marathon_app", dict(conn, **args), check=check, diff=diff)

    run.proxy = proxy
    return run


def sleeper(instances=1, **extra):
    body = {
        "cmd": "sleep 3600",
        "cpus": 0.01,
        "mem": 16,
        "instances": instances,
        "container": {"type": "DOCKER", "docker": {"image": IMAGE}},
        "labels": {"pptv.test": "marathon_app"},
    }
    body.update(extra)
    return body


def web(instances=1, **extra):
    """An HTTP server with a health check (the lab probes it for real)."""
    body = {
        "cmd": "python3 -m http.server $PORT0",
        "cpus": 0.01,
        "mem": 32,
        "instances": instances,
        "portDefinitions": [{"port": 0, "name": "http"}],
        "container": {"type": "DOCKER", "docker": {"image": APP_IMAGE}},
        "healthChecks": [{"protocol": "HTTP", "path": "/", "intervalSeconds": 1, "gracePeriodSeconds": 30}],
    }
    body.update(extra)
    return body


def task_ids(direct, app_id):
    return sorted(t["id"] for t in direct.get(f"/v2/apps{app_id}/tasks").json().get("tasks", []))


def assert_clean_failure(result, *forbidden):
    assert result.failed, result
    assert "Traceback" not in result["stdout"]
    assert "exception" not in result or "Traceback" not in str(result["exception"])
    for secret in forbidden:
        assert secret not in result["stdout"]


# -- single app lifecycle -----------------------------------------------------------------------


def test_create_check_mode_idempotency_and_diff(mar, direct, group):
    app_id = f"{group}/web"
    definition = sleeper(instances=2, labels={"pptv.env": "int", "pptv.port": 8080})

    planned = mar({"app_id": app_id, "definition": definition}, check=True, diff=True)
    assert planned.changed
    assert planned["diff"]["before"] == {"app": None}
    assert planned["diff"]["after"]["app"]["labels"] == {"pptv.env": "int", "pptv.port": "8080"}
    assert mar.proxy.writes() == []
    assert direct.get(f"/v2/apps{app_id}").status_code == 404
    assert direct.deployment_ids() == []

    created = mar({"app_id": app_id, "definition": definition})
    assert created.changed
    assert created["changed_fields"] == ["app"]
    assert created["deployment_id"]
    assert created["tasks"]["running"] == 2
    assert [w[:2] for w in mar.proxy.writes()] == [("PUT", f"/v2/apps{app_id}")]
    app = direct.app(app_id)
    assert app["labels"] == {"pptv.env": "int", "pptv.port": "8080"}
    assert created["version"] == app["version"]
    assert len(task_ids(direct, app_id)) == 2

    again = mar({"app_id": app_id, "definition": definition})
    assert not again.changed
    assert again["changed_fields"] == []
    assert mar.proxy.writes() == []
    assert [r[0] for r in mar.proxy.requests()] == ["GET"]
    assert direct.app(app_id)["version"] == app["version"]

    relabel = dict(definition, labels={"pptv.env": "fun", "pptv.port": 8080})
    preview = mar({"app_id": app_id, "definition": relabel}, check=True, diff=True)
    assert preview.changed
    assert preview["changed_fields"] == ["labels.pptv.env"]
    assert preview["diff"] == {
        "before": {"labels": {"pptv.env": "int", "pptv.port": "8080"}},
        "after": {"labels": {"pptv.env": "fun", "pptv.port": "8080"}},
    }
    assert mar.proxy.writes() == []
    assert direct.app(app_id)["labels"]["pptv.env"] == "int"


def test_a_label_change_restarts_every_task(mar, direct, group):
    app_id = f"{group}/web"
    assert mar({"app_id": app_id, "definition": sleeper(instances=2)}).changed
    before = task_ids(direct, app_id)
    result = mar({"app_id": app_id, "definition": sleeper(instances=2, labels={"pptv.test": "other"})})
    assert result.changed
    assert result["changed_fields"] == ["labels.pptv.test"]
    assert direct.app(app_id)["labels"] == {"pptv.test": "other"}
    after = task_ids(direct, app_id)
    assert len(after) == 2
    assert not set(before) & set(after)


def test_scale_restart_stop(mar, direct, group):
    app_id = f"{group}/web"
    mar({"app_id": app_id, "definition": sleeper()})

    scaled = mar({"app_id": app_id, "instances": 3})
    assert scaled.changed and scaled["changed_fields"] == ["instances"]
    assert direct.app(app_id)["instances"] == 3
    assert len(task_ids(direct, app_id)) == 3
    assert not mar({"app_id": app_id, "instances": 3}).changed

    before = task_ids(direct, app_id)
    version = direct.app(app_id)["version"]
    restarted = mar({"app_id": app_id, "state": "restarted"})
    assert restarted.changed
    assert [w[:2] for w in mar.proxy.writes()] == [("POST", f"{'/v2/apps' + app_id}/restart")]
    assert direct.app(app_id)["version"] != version
    after = task_ids(direct, app_id)
    assert len(after) == 3 and not set(before) & set(after)

    stopped = mar({"app_id": app_id, "state": "stopped"})
    assert stopped.changed
    app = direct.app(app_id)
    assert app["instances"] == 0
    assert app["cmd"] == "sleep 3600"
    assert task_ids(direct, app_id) == []
    assert not mar({"app_id": app_id, "state": "stopped"}).changed
    assert mar.proxy.writes() == []


def test_absent_twice(mar, direct, group):
    app_id = f"{group}/web"
    mar({"app_id": app_id, "definition": sleeper()})
    first = mar({"app_id": app_id, "state": "absent"})
    assert first.changed
    assert direct.get(f"/v2/apps{app_id}").status_code == 404
    second = mar({"app_id": app_id, "state": "absent"})
    assert not second.changed
    assert mar.proxy.writes() == []


def test_a_lock_is_waited_out_and_overridden_with_force(mar, direct, group):
    app_id = f"{group}/slow"
    # Healthy only once the server is up, 12 s after start: the deployment holds the app meanwhile.
    slow = web(cmd="sleep 12 && python3 -m http.server $PORT0")
    started = direct.put(f"/v2/apps{app_id}", slow)
    assert started.status_code == 201, started.text
    blocking = started.json()["deploymentId"]
    assert blocking in direct.deployment_ids()

    waited = mar({"app_id": app_id, "definition": slow, "instances": 2})
    assert waited.changed, waited
    puts = [r for r in mar.proxy.requests() if r[0] == "PUT"]
    assert [r[2] for r in puts] == [409, 200]  # refused while locked, sent again once free
    assert all("force=true" not in r[1] for r in puts)
    assert direct.app(app_id)["instances"] == 2

    # A deployment that never finishes (the server never starts): waiting gives up, force wins.
    stuck = dict(slow, cmd="sleep 3600", instances=1)
    blocked = direct.put(f"/v2/apps{app_id}", stuck)
    assert blocked.status_code == 200, blocked.text
    stuck_id = blocked.json()["deploymentId"]
    refused = mar({"app_id": app_id, "definition": stuck, "instances": 3, "wait_timeout": 3})
    assert_clean_failure(refused)
    assert stuck_id in refused["msg"]
    assert "use force=true" in refused["msg"]
    assert direct.app(app_id)["instances"] == 1

    forced = mar({"app_id": app_id, "definition": web(), "force": True})
    assert forced.changed, forced
    assert any(r[0] == "PUT" and "force=true" in r[1] for r in mar.proxy.requests())
    assert stuck_id not in direct.deployment_ids()
    assert forced["tasks"]["healthy"] == 1


def test_wait_timeout_names_the_deployment_and_its_step(mar, direct, group):
    app_id = f"{group}/never"
    result = mar({"app_id": app_id, "definition": web(cmd="sleep 3600"), "wait_timeout": 3})
    print({k: v for k, v in result.items() if k != "stdout"})
    assert_clean_failure(result)
    assert result.changed  # the app was written; only the wait gave up
    deployment = direct.get(f"/v2/apps{app_id}").json()["app"]["deployments"][0]["id"]
    assert f"waiting for deployment {deployment} on step " in result["msg"]
    assert app_id in result["msg"]


def test_rollback_by_version(mar, direct, group):
    app_id = f"{group}/web"
    mar({"app_id": app_id, "definition": sleeper(labels={"release": "1"})})
    first = direct.app(app_id)["version"]
    mar({"app_id": app_id, "definition": sleeper(labels={"release": "2"})})
    assert direct.app(app_id)["labels"] == {"release": "2"}
    assert first in direct.get(f"/v2/apps{app_id}/versions").json()["versions"]

    back = mar({"app_id": app_id, "version": first})
    assert back.changed
    assert back["changed_fields"] == ["labels.release"]
    assert direct.app(app_id)["labels"] == {"release": "1"}
    assert not mar({"app_id": app_id, "version": first}).changed
    assert mar.proxy.writes() == []

    unknown = mar({"app_id": app_id, "version": "2001-01-01T00:00:00.000Z"})
    assert_clean_failure(unknown)
    assert "version: 2001-01-01T00:00:00.000Z is not a version of" in unknown["msg"]


def test_the_1_4_form_is_idempotent_against_the_lab(mar, direct, group):
    app_id = f"{group}/bridge"
    legacy = sleeper(
        container={
            "type": "DOCKER",
            "docker": {"image": IMAGE, "network": "BRIDGE", "portMappings": [{"containerPort": 80}]},
        },
        constraints=[["hostname", "unique"]],
        upgradeStrategy={"minimumHealthCapacity": 0.5},
        env={"WORKERS": 2},
    )
    assert mar({"app_id": app_id, "definition": legacy}).changed
    stored = direct.app(app_id)
    assert stored["networks"] == [{"mode": "container/bridge"}]
    assert not mar({"app_id": app_id, "definition": legacy}).changed
    assert mar.proxy.writes() == []
    # what Marathon returns, passed back as the definition, is a no-op too
    assert not mar({"app_id": app_id, "definition": stored}).changed


# -- many apps ----------------------------------------------------------------------------------


def test_bulk_converges_50_apps_in_one_call(mar, direct, group):
    apps = [{"app_id": f"{group}/a{n:02d}", "definition": sleeper()} for n in range(50)]
    first = mar({"apps": apps, "wait_timeout": 240})
    assert first.changed, first
    writes = mar.proxy.writes()
    assert [w[:2] for w in writes] == [("PUT", "/v2/apps")]
    assert len(first["deployment_ids"]) == 1
    listed = direct.get("/v2/apps", params={"id": group + "/"}).json()["apps"]
    assert len(listed) == 50
    assert all(a["tasksRunning"] == 1 for a in listed)
    assert all(a["tasks"]["running"] == 1 for a in first["apps"])

    again = mar({"apps": apps})
    assert not again.changed
    assert mar.proxy.requests() == [("GET", f"/v2/apps?id=%2F{group.strip('/')}%2F", 200)]

    apps[7]["definition"] = sleeper(labels={"pptv.test": "changed"})
    apps[9] = {"app_id": apps[9]["app_id"], "state": "absent"}
    mixed = mar({"apps": apps})
    assert mixed.changed
    assert [w[:2] for w in mar.proxy.writes()] == [("PUT", "/v2/apps"), ("DELETE", f"/v2/apps{group}/a09")]
    assert [a["app_id"] for a in mixed["apps"] if a["changed"]] == [f"{group}/a07", f"{group}/a09"]
    assert direct.app(f"{group}/a07")["labels"] == {"pptv.test": "changed"}
    assert direct.app(f"{group}/a09") is None


# -- bad input ----------------------------------------------------------------------------------


def _closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"app_id": "/PPTVMAR/Bad_Id", "definition": {"cmd": "x"}}, "is not a valid Marathon app id"),
        ({"app_id": "/pptvmar-bad/x", "definition": {"cmd": "x", "mem": "lots"}}, "definition.mem must be a number"),
        ({"app_id": "/pptvmar-bad/x", "definition": {"cmd": "x"}, "instances": -2}, "instances must be 0 or more"),
        (
            {"app_id": "/pptvmar-bad/x", "definition": {"cmd": "x", "upgradeStrategy": {"minimumHealthCapacity": 2}}},
            "HTTP 422",
        ),
    ],
)
def test_bad_input_fails_cleanly(mar, direct, args, message):
    result = mar(args)
    assert_clean_failure(result)
    assert message in result["msg"]
    assert direct.get("/v2/apps/pptvmar-bad/x").status_code == 404


def test_marathons_validation_error_names_the_field_path(mar):
    result = mar(
        {"app_id": "/pptvmar-bad/x", "definition": {"cmd": "x", "upgradeStrategy": {"minimumHealthCapacity": 2}}}
    )
    assert_clean_failure(result)
    assert "/upgradeStrategy/minimumHealthCapacity" in result["msg"]
    assert result["marathon_details"][0]["path"] == "/upgradeStrategy/minimumHealthCapacity"


def test_an_unreachable_url_lists_the_urls_tried(mar, proxy):
    dead = f"http://127.0.0.1:{_closed_port()}"
    result = mar(
        {"app_id": "/pptvmar-bad/x", "definition": sleeper()}, url=[dead, dead.replace("127.0.0.1", "127.0.0.2")]
    )
    assert_clean_failure(result, PASSWORD)
    assert result["msg"].startswith("Marathon is unreachable: GET /v2/apps/pptvmar-bad/x failed on every URL tried: ")
    assert dead in result["msg"]
    # a dead first URL is skipped for a live one
    fallback = mar({"app_id": "/pptvmar-bad/x", "state": "absent"}, url=[dead, proxy.url])
    assert not fallback.failed and not fallback.changed


def test_a_wrong_password_is_an_auth_error_that_hides_it(mar):
    result = mar({"app_id": "/pptvmar-bad/x", "definition": sleeper()}, password="not-the-password-91")
    assert_clean_failure(result, "not-the-password-91", PASSWORD)
    assert "Marathon rejected the credentials (HTTP 401)" in result["msg"]


# -- info, lookup, module_defaults --------------------------------------------------------------


def test_info_lookup_and_module_defaults(lab, proxy, direct, group):
    app_id = f"{group}/web"
    defaults = {"group/pptv.dcos.marathon": {"url": proxy.url, "username": USER, "password": PASSWORD}}
    tasks = [
        {
            "name": "deploy",
            "pptv.dcos.marathon_app": {"app_id": app_id, "definition": web(instances=2)},
            "register": "deployed",
        },
        {"name": "read", "pptv.dcos.marathon_app_info": {"group": group, "versions": True}, "register": "info"},
        {
            "name": "endpoints",
            "ansible.builtin.set_fact": {
                "endpoints": "{{ query('pptv.dcos.marathon_endpoints', '" + app_id + "', url='" + lab.url + "', "
                "username='" + USER + "', password='" + PASSWORD + "') }}"
            },
        },
    ]
    play = [{"hosts": "localhost", "gather_facts": False, "module_defaults": defaults, "tasks": tasks}]
    deployed, info, endpoints = run_play_with_defaults(play)
    assert deployed["changed"], deployed
    assert deployed["tasks"]["healthy"] == 2
    assert [a["id"] for a in info["apps"]] == [app_id]
    app = info["apps"][0]
    assert len(app["tasks"]) == 2
    assert all(t["healthCheckResults"][0]["alive"] for t in app["tasks"])
    assert app["versions"] == sorted(direct.get(f"/v2/apps{app_id}/versions").json()["versions"], reverse=True)
    expected = sorted(f"{t['host']}:{t['ports'][0]}" for t in direct.get(f"/v2/apps{app_id}/tasks").json()["tasks"])
    assert endpoints["ansible_facts"]["endpoints"] == expected
    for endpoint in expected:
        assert requests.get(f"http://{endpoint}/", timeout=10).status_code == 200


def run_play_with_defaults(play):
    # run_play builds its own play; module_defaults need a play-level key, so pass the tasks in a block.
    block = [{"block": play[0]["tasks"], "module_defaults": play[0]["module_defaults"]}]
    results = run_play(block)
    return results


def test_results_are_json_serialisable_and_hold_no_secret(mar, group):
    result = mar({"app_id": f"{group}/web", "definition": sleeper()})
    assert PASSWORD not in json.dumps({k: v for k, v in result.items() if k != "stdout"})
