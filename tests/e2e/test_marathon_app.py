# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""marathon_app, marathon_app_info and the marathon_endpoints lookup against a private lab.

The modules run through ``ansible-playbook`` and talk to the lab through a recording proxy
(``support.recording_proxy``), so "no write request sent" is the proxy's count of non-GET
requests. Every result is checked with an independent GET sent straight to the lab.
The lab runs with basic auth on, so every call also exercises the credentials path.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid

import pytest
import requests
from support.ansible_run import run_play, run_task
from support.lab import lab_instance
from support.recording_proxy import RecordingProxy

from ansible_collections.pptv.dcos.plugins.module_utils._marathon_client import MarathonClient

PREFIX = "pptvhm-"
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
    assert PASSWORD not in created["stdout"]
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


def test_scale_restart_stop_absent_twice(mar, direct, group):
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

    first = mar({"app_id": app_id, "state": "absent"})
    assert first.changed
    assert direct.get(f"/v2/apps{app_id}").status_code == 404
    second = mar({"app_id": app_id, "state": "absent"})
    assert not second.changed
    assert mar.proxy.writes() == []


@pytest.fixture
def held_port():
    """A host port held by a listening socket: a task that publishes it can never start."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("0.0.0.0", 0))  # noqa: S104 - Docker publishes on 0.0.0.0; this blocks it
        sock.listen()
        yield sock.getsockname()[1]


def failing(port, **extra):
    """An app whose task cannot start (its host port is taken): its deployment never ends."""
    return sleeper(
        networks=[{"mode": "container/bridge"}],
        container={
            "type": "DOCKER",
            "docker": {"image": IMAGE},
            "portMappings": [{"containerPort": 80, "hostPort": port}],
        },
        **extra,
    )


def test_a_lock_is_waited_out(mar, direct, group, held_port):
    app_id = f"{group}/locked"
    started = direct.put(f"/v2/apps{app_id}", failing(held_port))
    assert started.status_code == 201, started.text
    blocking = started.json()["deploymentId"]
    assert blocking in direct.deployment_ids()
    # Whoever started the blocking deployment cancels it once the module has been refused (409)
    # and has waited a little.

    def cancel_when_refused():
        deadline = time.time() + 60
        while time.time() < deadline and not any(r[2] == 409 for r in mar.proxy.requests()):
            time.sleep(0.1)
        time.sleep(2)
        direct.delete(f"/v2/deployments/{blocking}", params={"force": "true"})

    mar.proxy.clear()
    cancel = threading.Thread(target=cancel_when_refused)
    cancel.start()
    try:
        waited = mar({"app_id": app_id, "definition": sleeper(instances=2)})
    finally:
        cancel.join()
    assert waited.changed, waited
    puts = [r for r in mar.proxy.requests() if r[0] == "PUT"]
    assert [r[2] for r in puts] == [409, 200]  # refused while locked, sent again once free
    assert all("force=true" not in r[1] for r in puts)
    assert any(r[1] == "/v2/deployments" for r in mar.proxy.requests())  # it waited on the deployment list
    app = direct.app(app_id)
    assert app["instances"] == 2
    assert all(m.get("hostPort") != held_port for m in app["container"].get("portMappings") or [])
    # Marathon's default mapping for a bridge app without mappings does not make the next run a change
    assert not mar({"app_id": app_id, "definition": sleeper(instances=2)}).changed
    assert len(task_ids(direct, app_id)) == 2


def test_a_lock_past_the_timeout_fails_and_force_overrides_it(mar, direct, group, held_port):
    app_id = f"{group}/stuck"
    blocked = direct.put(f"/v2/apps{app_id}", failing(held_port))
    assert blocked.status_code == 201, blocked.text
    stuck_id = blocked.json()["deploymentId"]

    refused = mar({"app_id": app_id, "definition": sleeper(networks=[{"mode": "host"}]), "wait_timeout": 3})
    assert_clean_failure(refused)
    assert not refused.changed
    assert stuck_id in refused["msg"]
    assert "use force=true" in refused["msg"]
    assert direct.app(app_id)["container"]["portMappings"][0]["hostPort"] == held_port

    forced = mar({"app_id": app_id, "definition": sleeper(networks=[{"mode": "host"}]), "force": True})
    assert forced.changed, forced
    assert [(r[0], "force=true" in r[1], r[2]) for r in mar.proxy.writes()] == [("PUT", True, 200)]
    assert stuck_id not in direct.deployment_ids()
    assert direct.app(app_id)["networks"] == [{"mode": "host"}]
    assert forced["tasks"]["running"] == 1


def test_wait_timeout_names_the_deployment_and_its_step(mar, direct, group, held_port):
    app_id = f"{group}/never"
    result = mar({"app_id": app_id, "definition": failing(held_port), "wait_timeout": 3})
    assert_clean_failure(result)
    assert result.changed  # the app was written; only the wait gave up
    deployments = [d for d in direct.get("/v2/deployments").json() if app_id in d["affectedApps"]]
    assert len(deployments) == 1
    step = f"step {deployments[0]['currentStep']}/{deployments[0]['totalSteps']}"
    assert result["msg"].startswith(f"timed out after 3s waiting for deployment {deployments[0]['id']} on {step} (")
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
    assert [w[:2] for w in mar.proxy.writes()] == [("PUT", "/v2/apps"), ("DELETE", f"/v2/apps{group}/a09?force=false")]
    assert [a["app_id"] for a in mixed["apps"] if a["changed"]] == [f"{group}/a07", f"{group}/a09"]
    assert direct.app(f"{group}/a07")["labels"] == {"pptv.test": "changed"}
    assert direct.app(f"{group}/a09") is None


# -- bad input ----------------------------------------------------------------------------------


def _closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_bad_input_fails_cleanly(proxy, direct):
    """Each case is a task of one play (one ansible-playbook start for all)."""
    conn = {"url": proxy.url, "username": USER, "password": PASSWORD}
    dead = f"http://127.0.0.1:{_closed_port()}"
    bad_x = "/pptvhm-bad/x"
    cases = [
        ({"app_id": "/PPTVHM/Bad_Id", "definition": {"cmd": "x"}}, "is not valid: a Marathon app id"),
        ({"app_id": bad_x, "definition": {"cmd": "x", "mem": "lots"}}, "definition.mem: must be a number, got 'lots'"),
        ({"app_id": bad_x, "definition": {"cmd": "x"}, "instances": -2}, "instances: must be 0 or more, got -2"),
        (
            {"app_id": bad_x, "definition": {"cmd": "x", "killSelection": "RANDOM"}},
            "Marathon answered HTTP 422 to PUT ",
        ),
        (
            {"app_id": bad_x, "definition": sleeper(), "url": [dead, dead.replace("127.0.0.1", "127.0.0.2")]},
            f"Marathon is unreachable: GET /v2/apps{bad_x} failed on every URL tried: {dead} (connection refused)",
        ),
        (
            {"app_id": bad_x, "definition": sleeper(), "password": "not-the-password-91"},
            "Marathon rejected the credentials (HTTP 401)",
        ),
        (
            {"apps": [{"app_id": "/pptvhm-bad/y"}, {"app_id": "pptvhm-bad/y/"}]},
            "apps[1].app_id: /pptvhm-bad/y is listed twice",
        ),
        # issue 10: each refused before anything is sent, naming the option
        (
            {"app_id": bad_x, "definition": sleeper(cpus=float("inf"))},
            "definition.cpus: must be a finite number, got inf",
        ),
        (
            {"app_id": bad_x, "definition": sleeper(mem=float("nan"))},
            "definition.mem: must be a finite number, got nan",
        ),
        (
            {"app_id": bad_x, "definition": sleeper(portDefinitions=[{"port": 70000}])},
            "definition.portDefinitions[0].port: must be 65535 or less, got 70000",
        ),
        (
            {"app_id": bad_x, "definition": sleeper(upgradeStrategy={"minimumHealthCapacity": 2})},
            "definition.upgradeStrategy.minimumHealthCapacity: must be 1 or less, got 2",
        ),
        ({"app_id": bad_x, "definition": sleeper(cpu=1)}, "definition.cpu: not a field of a Marathon app definition"),
        ({"app_id": bad_x, "definition": sleeper(), "timeout": -1}, "timeout: must be more than 0, got -1"),
        ({"app_id": bad_x, "definition": sleeper(), "wait_timeout": -1}, "wait_timeout: must be more than 0, got -1"),
        (
            {
                "app_id": bad_x,
                "definition": sleeper(),
                "url": [proxy.url.replace("://", f"://{USER}:{PASSWORD}@")],
                "username": None,
                "password": None,
            },
            "holds credentials (user:password@); give them as the username and password options",
        ),
    ]
    tasks = [
        {"name": f"case {n}", "pptv.dcos.marathon_app": dict(conn, **args), "ignore_errors": True}
        for n, (args, _message) in enumerate(cases)
    ]
    # and a dead first URL is skipped for a live one
    tasks.append(
        {"name": "fallback", "pptv.dcos.marathon_app": dict(conn, app_id=bad_x, state="absent", url=[dead, proxy.url])}
    )
    proxy.clear()
    results = run_play(tasks)
    for (_args, message), result in zip(cases, results):
        assert result.failed, result
        assert message in result["msg"], result["msg"]
        assert "Traceback" not in result["stdout"]
        assert "not-the-password-91" not in result["stdout"]
        assert PASSWORD not in result["stdout"]
    validation = results[3]
    assert "/killSelection" in validation["msg"]
    assert validation["marathon_details"][0]["path"] == "/killSelection"
    assert results[4]["urls_tried"] == [dead, dead.replace("127.0.0.1", "127.0.0.2")]
    fallback = results[-1]
    assert not fallback.failed and not fallback.changed
    assert [w[:2] for w in proxy.writes()] == [("PUT", f"/v2/apps{bad_x}")]  # only the one Marathon refused
    assert direct.get(f"/v2/apps{bad_x}").status_code == 404


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
    # issue 10: Ansible reads 'banana' as false for a bool option, and port -1 as the last port:
    # through a real ansible-playbook run, each must fail naming the option instead.
    hostile = {
        "healthy_only='banana'": "healthy_only: must be a boolean (true or false), got 'banana'",
        "port_index=-1": "port_index: must be 0 or more, got -1",
        "port_index=1": f"port_index: 1 is out of range: app {app_id} has 1 port(s) (port_index 0 to 0)",
        "timeout=-1": "timeout: must be more than 0, got -1",
    }
    for option in hostile:
        lookup = (
            f"query('pptv.dcos.marathon_endpoints', '{app_id}', url='{lab.url}', "
            f"username='{USER}', password='{PASSWORD}', {option})"
        )
        tasks.append({"name": option, "ansible.builtin.debug": {"msg": "{{ " + lookup + " }}"}, "ignore_errors": True})
    play = [{"hosts": "localhost", "gather_facts": False, "module_defaults": defaults, "tasks": tasks}]
    deployed, info, endpoints, *refused = run_play_with_defaults(play)
    for result, message in zip(refused, hostile.values()):
        assert result.failed, result
        assert f"pptv.dcos.marathon_endpoints: {message}" in result["msg"], result["msg"]
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


def test_the_client_core_reads_the_event_stream(lab, group):
    """The discovery daemon's view: the core used outside Ansible, following Marathon's events."""
    client = MarathonClient(lab.url, username=USER, password=PASSWORD, timeout=15)
    app_id = f"{group}/events"
    events = client.events()
    assert next(events)[0] == "event_stream_attached"
    client.put_app(app_id, sleeper())
    seen = []
    for event_type, data in events:
        seen.append(event_type)
        if event_type == "status_update_event" and data["appId"] == app_id and data["taskStatus"] == "TASK_RUNNING":
            break
    events.close()
    assert "deployment_info" in seen or "api_post_event" in seen
