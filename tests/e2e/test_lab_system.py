# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""System endpoints, deployments revert/cancel, auth, limits, and a lab restart."""

from __future__ import annotations

import json
import subprocess
import time

import pytest
import requests
from labhelpers import IMAGE, Api, EventStream, sleeper
from support.lab import lab_instance


def test_ping_answers_by_accept_header(api):
    plain = api.get("/ping")
    assert (plain.status_code, plain.text) == (200, "pong")
    assert plain.headers["Content-Type"].startswith("text/plain")
    as_json = api.get("/ping", headers={"Accept": "application/json"})
    assert (as_json.status_code, as_json.json()) == (200, "pong")
    assert api.get("/ping", headers={"Accept": "image/png"}).status_code == 204


def test_info_leader_metrics_and_unknown_route(api, lab):
    info = api.get("/v2/info").json()
    assert info["name"] == "marathon" and info["version"].startswith("1.11.")
    assert info["elected"] is True and info["leader"] == f"127.0.0.1:{lab.port}"
    assert info["http_config"]["http_port"] == lab.port
    assert info["marathon_config"]["local_port_min"] < info["marathon_config"]["local_port_max"]
    assert api.get("/v2/leader").json() == {"leader": f"127.0.0.1:{lab.port}"}
    metrics = api.get("/metrics").json()
    assert metrics["gauges"]["marathon.apps.active.gauge"]["value"] == len(api.get("/v2/apps").json()["apps"])
    assert "marathon.http.requests.counter" in metrics["counters"]
    unknown = api.get("/v2/nothing-here")
    assert unknown.status_code == 500 and unknown.json() == {"message": "URI not found"}


def _stuck_upgrade(api, app_id):
    api.post("/v2/apps", json=sleeper(app_id, instances=1, backoffSeconds=30))
    api.wait_running(app_id, 1)
    api.wait_deployed()
    response = api.put(f"/v2/apps{app_id}", json={"cmd": "exit 1"})
    dep = response.json()["deploymentId"]
    plan = next(d for d in api.deployments() if d["id"] == dep)
    assert plan["affectedApps"] == [app_id] and plan["totalSteps"] == 1
    api.wait_for(lambda: api.get(f"/v2/apps{app_id}").json()["app"].get("lastTaskFailure"), 30, what="new task to fail")
    return dep


def test_deployments_list_revert_and_cancel(api, app_id):
    dep = _stuck_upgrade(api, app_id)
    listed = next(d for d in api.deployments() if d["id"] == dep)
    assert listed["currentStep"] == 1
    assert listed["currentActions"] == [{"action": "RestartApplication", "app": app_id, "readinessCheckResults": []}]
    assert listed["steps"] == [{"actions": [{"action": "RestartApplication", "app": app_id}]}]
    # Revert: a new deployment that goes back to the original definition.
    reverted = api.delete(f"/v2/deployments/{dep}")
    assert reverted.status_code == 200
    assert reverted.json()["deploymentId"] != dep
    assert reverted.headers["Marathon-Deployment-Id"] == reverted.json()["deploymentId"]
    api.wait_deployed(reverted.json()["deploymentId"])
    assert api.get(f"/v2/apps{app_id}").json()["app"]["cmd"] == "sleep 3600"
    assert [t["state"] for t in api.wait_running(app_id, 1)] == ["TASK_RUNNING"]
    # Cancel (force): 202, no body, the app keeps its new definition.
    dep = api.put(f"/v2/apps{app_id}", json={"cmd": "exit 2"}).json()["deploymentId"]
    cancelled = api.delete(f"/v2/deployments/{dep}?force=true")
    assert cancelled.status_code == 202 and cancelled.content == b""
    assert dep not in [d["id"] for d in api.deployments()]
    assert api.get(f"/v2/apps{app_id}").json()["app"]["cmd"] == "exit 2"
    missing = api.delete(f"/v2/deployments/{dep}")
    assert missing.status_code == 404
    assert missing.json() == {"message": f"DeploymentPlan {dep} does not exist"}


@pytest.fixture(scope="module")
def guarded():
    users = {"users": {"admin": {"password": "s3cret"}, "viewer": {"password": "look", "role": "reader"}}}
    with lab_instance("pptvlab-", auth=json.dumps(users), max_running_deployments=1) as instance:
        yield instance


def test_basic_auth_401_and_403(guarded):
    base = guarded.url
    anonymous = requests.get(base + "/v2/apps", timeout=10)
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"] == 'Basic realm="Mesosphere Marathon"'
    assert anonymous.json() == {"message": "Invalid username or password."}
    assert requests.get(base + "/v2/apps", auth=("admin", "wrong"), timeout=10).status_code == 401
    assert requests.get(base + "/v2/apps", auth=("viewer", "look"), timeout=10).status_code == 200
    viewer = requests.Session()
    viewer.auth = ("viewer", "look")
    denied = viewer.post(base + "/v2/apps", json=sleeper("/pptvlab/a", instances=0), timeout=10)
    assert denied.status_code == 403
    assert denied.json() == {"message": "Not Authorized to perform this action!"}
    # The refused body was consumed: the same keep-alive connection still answers correctly.
    assert viewer.get(base + "/v2/apps", timeout=10).json() == {"apps": []}
    assert requests.get(base + "/ping", timeout=10).status_code == 200
    events = EventStream(base)
    assert events.status == 401
    events.close()
    admin = Api(base)
    admin.session.auth = ("admin", "s3cret")
    assert admin.post("/v2/apps", json=sleeper("/pptvlab/a", instances=0)).status_code == 201
    admin.wait_deployed()
    assert admin.delete("/v2/apps/pptvlab/a").status_code == 200
    admin.wait_deployed()  # the next test counts running deployments


def test_max_running_deployments_is_403(guarded):
    admin = Api(guarded.url)
    admin.session.auth = ("admin", "s3cret")
    admin.wait_deployed()
    # A deployment that stays running: its only task fails and backs off for 30 s.
    first = admin.post("/v2/apps", json=sleeper("/pptvlab/m1", instances=1, cmd="exit 1", backoffSeconds=30))
    assert first.status_code == 201
    refused = admin.post("/v2/apps", json=sleeper("/pptvlab/m2", instances=0))
    assert refused.status_code == 403
    assert refused.json()["message"].startswith("Max number (1) of running deployments is achieved")
    admin.delete("/v2/apps/pptvlab/m1")
    admin.wait_deployed()


def test_restart_keeps_apps_adopts_containers_and_closes_streams():
    with lab_instance("pptvlab-") as lab:
        api = Api(lab.url)
        api.post("/v2/apps", json=sleeper("/pptvlab/keep", instances=2))
        api.post("/v2/apps", json=sleeper("/pptvlab/lost", instances=1))
        before = {t["id"] for t in api.wait_running("/pptvlab/keep", 2)}
        lost_task = api.wait_running("/pptvlab/lost", 1)[0]["id"]
        api.wait_deployed()
        app_before = api.get("/v2/apps/pptvlab/keep").json()["app"]
        containers_before = set(lab.containers())
        stream = EventStream(lab.url)
        assert stream.next()[0] == "event_stream_attached"

        lab.stop_process()
        assert stream.closed.wait(10)
        stream.close()
        # While it is down: one task's container vanishes, and a stray with our label appears.
        lost_container = next(
            c
            for c in containers_before
            if subprocess.run(
                ["docker", "inspect", "-f", '{{ index .Config.Labels "org.pptv.dcos.lab.task" }}', c],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            == lost_task
        )
        subprocess.run(["docker", "rm", "-f", lost_container], capture_output=True, check=True)
        stray = subprocess.run(
            ["docker", "run", "-d", "--label", f"org.pptv.dcos.lab.instance={lab.instance}",
             "--label", "org.pptv.dcos.lab.task=gone.instance-x._app.1", "--name", f"{lab.name_prefix}stray",
             IMAGE, "sleep", "600"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip

        lab.start()
        again = EventStream(lab.url)
        assert again.status == 200 and again.next()[0] == "event_stream_attached"
        again.close()
        app_after = api.get("/v2/apps/pptvlab/keep").json()["app"]
        assert app_after["version"] == app_before["version"]
        assert {t["id"] for t in app_after["tasks"]} == before
        assert all(t["state"] == "TASK_RUNNING" for t in app_after["tasks"])
        assert containers_before - {lost_container} <= set(lab.containers())
        assert stray not in lab.containers()
        relaunched = api.wait_running("/pptvlab/lost", 1)
        assert relaunched[0]["id"] != lost_task
        assert len(api.get("/v2/apps/pptvlab/keep/versions").json()["versions"]) == 1

        # A crash (SIGKILL) loses nothing that was acknowledged.
        api.put("/v2/apps/pptvlab/keep", json={"labels": {"after": "crash"}})
        lab.kill_process()
        lab.start()
        assert api.get("/v2/apps/pptvlab/keep").json()["app"]["labels"] == {"after": "crash"}


def test_finished_task_containers_stay_for_remove_delay():
    with lab_instance("pptvlab-", remove_delay_seconds=600) as lab:
        api = Api(lab.url)
        api.post("/v2/apps", json=sleeper("/pptvlab/once", instances=1, cmd="exit 0", backoffSeconds=600))
        failure_free = api.wait_for(lab.containers, 30, what="a container")
        api.wait_for(
            lambda: subprocess.run(
                ["docker", "inspect", "-f", "{{ .State.Status }}", failure_free[0]],
                capture_output=True,
                text=True,
                check=False,
            ).stdout.strip()
            == "exited",
            30,
            what="the task to finish",
        )
        # Finished (exit 0) and relaunched later; the stopped container is left behind, as Mesos does.
        time.sleep(1)
        assert failure_free[0] in lab.containers()
