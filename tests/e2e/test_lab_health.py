# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Health checks run for real; unhealthy tasks are replaced; rolling upgrades keep capacity."""

from __future__ import annotations

import subprocess
import threading
import time

import pytest
from labhelpers import EventStream, http_app

# Probe every second; a generous timeout, so that a loaded machine does not fail healthy tasks
# (failing checks here fail fast anyway: a 404 or a refused connection).
FAST = {"gracePeriodSeconds": 15, "intervalSeconds": 1, "timeoutSeconds": 5, "maxConsecutiveFailures": 2}


def _healthy(tasks):
    return [
        t
        for t in tasks
        if t["state"] == "TASK_RUNNING"
        and t.get("healthCheckResults")
        and all(r["alive"] for r in t["healthCheckResults"])
    ]


def _wait_healthy(api, app_id, count, timeout=60):
    def ready():
        tasks = api.tasks(app_id)
        return tasks if len(_healthy(tasks)) == count == len(tasks) else None

    return api.wait_for(
        ready,
        timeout,
        what=f"{count} healthy tasks",
    )


@pytest.mark.parametrize(
    "check",
    [
        {"protocol": "HTTP", "path": "/health", "portIndex": 0},
        {"protocol": "MESOS_HTTP", "path": "/health", "portIndex": 0, "delaySeconds": 0},
        {"protocol": "TCP", "portIndex": 0},
        {"protocol": "MESOS_TCP", "portIndex": 0, "delaySeconds": 0},
        {"protocol": "COMMAND", "command": {"value": "test -f /tmp/health"}},
    ],
    ids=lambda c: c["protocol"],
)
def test_health_check_protocols_report_results(api, app_id, check):
    api.post("/v2/apps", json=http_app(app_id, healthChecks=[dict(FAST, **check)]))
    task = _wait_healthy(api, app_id, 1)[0]
    result = task["healthCheckResults"][0]
    assert result["alive"] is True and result["consecutiveFailures"] == 0
    assert (
        result["firstSuccess"] and result["lastSuccess"] and result["instanceId"] == task["id"].rsplit("._app.", 1)[0]
    )
    app = api.get(f"/v2/apps{app_id}").json()["app"]
    assert (app["tasksHealthy"], app["tasksUnhealthy"]) == (1, 0)


def test_failing_health_check_kills_and_replaces_the_task(lab, api, app_id):
    stream = EventStream(
        lab.url,
        (
            "health_status_changed_event",
            "unhealthy_instance_kill_event",
            "instance_health_changed_event",
            "status_update_event",
        ),
    )
    try:
        body = http_app(app_id, healthChecks=[dict(FAST, protocol="HTTP", path="/health")])
        api.post("/v2/apps", json=body)
        first = _wait_healthy(api, app_id, 1)[0]
        # Once healthy, the health file disappears (the test removes it: no race with a timer).
        cid = _task_container(lab, first["id"])
        subprocess.run(["docker", "exec", cid, "rm", "-f", "/tmp/health"], check=True, capture_output=True)
        seen = stream.collect_until(lambda t, d: t == "unhealthy_instance_kill_event", 40)
        kill = seen[-1][1]
        assert kill["taskId"] == first["id"] and kill["appId"] == app_id, (first, seen)
        flips = [d["alive"] for t, d in seen if t == "health_status_changed_event"]
        assert flips[:2] == [True, False]
        assert [d["healthy"] for t, d in seen if t == "instance_health_changed_event"][:2] == [True, False]
        # The replacement is the same instance's next incarnation, healthy again.
        instance = first["id"].rsplit("._app.", 1)[0]
        replaced = api.wait_for(
            lambda: [t for t in _healthy(api.tasks(app_id)) if t["id"] == f"{instance}._app.2"], 40, what="replacement"
        )
        assert replaced
        failure = api.get(f"/v2/apps{app_id}").json()["app"].get("lastTaskFailure")
        assert failure["taskId"] == first["id"]
    finally:
        stream.close()


def test_an_app_whose_checks_never_pass_stays_readable_and_its_tasks_are_replaced(api, app_id):
    # Nothing listens on the port: checks fail from the first probe, inside and after the grace
    # period. Reading the app must keep working while results are still partial.
    checks = [dict(FAST, protocol="HTTP", path="/", gracePeriodSeconds=1), dict(FAST, protocol="TCP")]
    body = http_app(app_id, healthChecks=checks)
    body["cmd"] = "sleep 3600"
    api.post("/v2/apps", json=body)
    first = api.wait_for(lambda: api.tasks(app_id), 30, what="a task")[0]

    def replaced():
        response = api.get(f"/v2/apps{app_id}?embed=app.tasks")
        assert response.status_code == 200, response.text
        app = response.json()["app"]
        assert app["tasksHealthy"] == 0
        return app if app.get("lastTaskFailure", {}).get("taskId") == first["id"] else None

    app = api.wait_for(replaced, 60, what="the never-healthy task replaced")
    assert all(t["id"] != first["id"] for t in app["tasks"])


def test_grace_period_ignores_early_failures(api, app_id):
    body = http_app(app_id, healthChecks=[dict(FAST, protocol="HTTP", path="/health", gracePeriodSeconds=60)])
    body["cmd"] = "sleep 3; cd /tmp && echo ok > health && exec python3 -m http.server $PORT0"
    api.post("/v2/apps", json=body)
    task = _wait_healthy(api, app_id, 1, timeout=30)[0]
    # Failures while the server was not yet up did not count: still the first incarnation.
    assert task["id"].endswith("._app.1"), api.get(f"/v2/apps{app_id}").json()["app"].get("lastTaskFailure")
    assert task["healthCheckResults"][0]["lastFailure"] is None


@pytest.mark.parametrize(
    ("strategy", "floor", "ceiling"),
    [
        ({"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0.0}, 2, 3),
        ({"minimumHealthCapacity": 1.0, "maximumOverCapacity": 0.34}, 3, 4),
    ],
    ids=["min0.5-over0", "min1-over0.34"],
)
def test_rolling_upgrade_never_drops_below_minimum_health_capacity(api, app_id, strategy, floor, ceiling):
    checks = [dict(FAST, protocol="HTTP", path="/health")]
    api.post("/v2/apps", json=http_app(app_id, instances=3, healthChecks=checks, upgradeStrategy=strategy))
    _wait_healthy(api, app_id, 3)
    api.wait_deployed()
    samples = []
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            tasks = api.tasks(app_id)
            samples.append((len(_healthy(tasks)), len([t for t in tasks if t["state"] != "TASK_KILLED"])))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        response = api.put(f"/v2/apps{app_id}", json={"env": {"RELEASE": "2"}})
        assert response.status_code == 200
        api.wait_deployed(response.json()["deploymentId"], timeout=90)
    finally:
        stop.set()
        sampler.join(5)
    app = api.get(f"/v2/apps{app_id}").json()["app"]
    tasks = _wait_healthy(api, app_id, 3)
    assert {t["version"] for t in tasks} == {app["version"]}
    assert samples and min(s[0] for s in samples) >= floor, samples
    assert max(s[1] for s in samples) <= ceiling, samples


def test_restart_replaces_every_task_rolling(api, app_id):
    checks = [dict(FAST, protocol="TCP")]
    api.post("/v2/apps", json=http_app(app_id, instances=2, healthChecks=checks))
    before = {t["id"] for t in _wait_healthy(api, app_id, 2)}
    api.wait_deployed()
    old = api.get(f"/v2/apps{app_id}").json()["app"]
    response = api.post(f"/v2/apps{app_id}/restart")
    assert response.status_code == 200
    assert response.headers["Marathon-Deployment-Id"] == response.json()["deploymentId"]
    plan = next(d for d in api.deployments() if d["id"] == response.json()["deploymentId"])
    assert plan["steps"] == [{"actions": [{"action": "RestartApplication", "app": app_id}]}]
    api.wait_deployed(response.json()["deploymentId"], timeout=60)
    after = {t["id"] for t in _wait_healthy(api, app_id, 2)}
    assert not before & after
    app = api.get(f"/v2/apps{app_id}").json()["app"]
    assert app["version"] != old["version"]
    assert app["versionInfo"]["lastConfigChangeAt"] == app["version"]
    assert app["versionInfo"]["lastScalingAt"] == old["versionInfo"]["lastScalingAt"]


@pytest.mark.parametrize("protocol", ["HTTPS", "MESOS_HTTPS"])
def test_https_checks_probe_a_tls_server(api, app_id, tmp_path, protocol):
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=pptvlab",
         "-keyout", str(tmp_path / "key.pem"), "-out", str(tmp_path / "cert.pem")],
        check=True, capture_output=True,
    )  # fmt: skip
    serve = (
        "import http.server, os, ssl; "
        "s = http.server.HTTPServer(('', int(os.environ['PORT0'])), http.server.SimpleHTTPRequestHandler); "
        "c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); c.load_cert_chain('/tls/cert.pem', '/tls/key.pem'); "
        "s.socket = c.wrap_socket(s.socket, server_side=True); s.serve_forever()"
    )
    check = dict(FAST, protocol=protocol, path="/", portIndex=0)
    if protocol.startswith("MESOS"):
        check["delaySeconds"] = 0
    body = http_app(app_id, healthChecks=[check])
    body["cmd"] = f'cd /tmp && exec python3 -c "{serve}"'
    body["container"]["volumes"] = [{"containerPath": "/tls", "hostPath": str(tmp_path), "mode": "RO"}]
    api.post("/v2/apps", json=body)
    task = _wait_healthy(api, app_id, 1)[0]
    assert task["healthCheckResults"][0]["alive"] is True


def _task_container(lab, task_id):
    for cid in lab.containers():
        out = subprocess.run(
            ["docker", "inspect", "-f", '{{ index .Config.Labels "org.pptv.dcos.lab.task" }}', cid],
            capture_output=True,
            text=True,
            check=False,
        )
        if out.stdout.strip() == task_id:
            return cid
    raise AssertionError(f"no container for {task_id}")


def _readiness(api, app_id):
    return api.get(f"/v2/apps{app_id}?embed=app.readiness").json()["app"].get("readinessCheckResults")


def _make_ready(lab, task_id):
    cid = _task_container(lab, task_id)
    subprocess.run(["docker", "exec", cid, "sh", "-c", "echo ok > /tmp/ready"], check=True, capture_output=True)


READY = {
    "name": "warm",
    "protocol": "HTTP",
    "path": "/ready",
    "portName": "http",
    "intervalSeconds": 2,
    "timeoutSeconds": 1,
    "httpStatusCodesForReady": [200],
    "preserveLastResponse": True,
}


def test_deployments_wait_for_readiness_checks(api, lab, app_id):
    """A deployment ends only once the new task's readiness check passes; old tasks stay till then."""
    created = api.post("/v2/apps", json=http_app(app_id, readinessChecks=[READY]))
    assert created.status_code == 201
    assert created.json()["readinessChecks"] == [READY]
    deployment = created.headers["Marathon-Deployment-Id"]

    def not_ready_yet():
        # (Probes before http.server listens fail to connect: those results have no lastResponse.)
        results = _readiness(api, app_id)
        return results if results and results[0]["ready"] is False and "lastResponse" in results[0] else None

    results = api.wait_for(not_ready_yet, 60, what="a readiness result that is not ready")
    (task,) = api.wait_running(app_id, 1)
    assert results == [
        {
            "name": "warm",
            "taskId": task["id"],
            "ready": False,
            "lastResponse": results[0]["lastResponse"],
        }
    ]
    assert results[0]["lastResponse"]["status"] == 404  # http.server: /tmp/ready does not exist yet
    assert "text/html" in results[0]["lastResponse"]["contentType"]
    # The task runs, and yet the deployment waits, reporting the results in its current action.
    (plan,) = [d for d in api.deployments() if d["id"] == deployment]
    (action,) = plan["currentActions"]
    assert action["action"] == "ScaleApplication" and action["readinessCheckResults"][0]["taskId"] == task["id"]
    _make_ready(lab, task["id"])
    api.wait_deployed(deployment)
    assert _readiness(api, app_id) == []  # results belong to a running deployment step only

    # A restart: the old task is killed only once the new one is ready (minimumHealthCapacity 1).
    restarted = api.post(f"/v2/apps{app_id}/restart").json()

    def new_task_checked():
        results = _readiness(api, app_id)
        return results if results and results[0]["taskId"] != task["id"] else None

    new_id = api.wait_for(new_task_checked, 60, what="the new task's readiness result")[0]["taskId"]
    states = {t["id"]: t["state"] for t in api.tasks(app_id)}
    assert states[task["id"]] == "TASK_RUNNING" and restarted["deploymentId"] in [d["id"] for d in api.deployments()]
    _make_ready(lab, new_id)
    api.wait_deployed(restarted["deploymentId"])
    assert [t["id"] for t in api.wait_running(app_id, 1)] == [new_id]


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"portName": "nope"}, "/readinessChecks(0)"),
        ({"timeoutSeconds": 5, "intervalSeconds": 5}, "/readinessChecks(0)"),
        ({"protocol": "TCP"}, "/readinessChecks(0)/protocol"),
        ({"httpStatusCodesForReady": []}, "/readinessChecks(0)/httpStatusCodesForReady"),
    ],
)
def test_invalid_readiness_checks_are_422(api, app_id, change, path):
    response = api.post("/v2/apps", json=http_app(app_id, readinessChecks=[dict(READY, **change)]))
    assert response.status_code == 422
    assert response.json()["message"] == "Object is not valid"
    assert path in [d["path"] for d in response.json()["details"]]
