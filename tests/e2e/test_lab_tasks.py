# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tasks as containers: docker parameters, networks, ports, lifecycle, backoff, kills, queue."""

from __future__ import annotations

import random
import subprocess
import time

import pytest
from labhelpers import APP_IMAGE, docker_inspect, sleeper


@pytest.fixture(scope="module")
def network():
    """A user-defined bridge network (pptvlab-net-*) with a free /24."""
    name = f"pptvlab-net-{random.randint(0, 1 << 30):x}"
    existing = subprocess.run(
        ["docker", "network", "ls", "-q", "--filter", "name=pptvlab-net-"], capture_output=True, text=True, check=False
    )
    for old in existing.stdout.split():
        subprocess.run(["docker", "network", "rm", old], capture_output=True, check=False)
    for _attempt in range(20):
        third = random.randint(1, 254)
        subnet = f"10.213.{third}.0/24"
        made = subprocess.run(
            ["docker", "network", "create", "--subnet", subnet, "--gateway", f"10.213.{third}.1", name],
            capture_output=True,
            text=True,
            check=False,
        )
        if made.returncode == 0:
            break
    else:
        pytest.fail(f"could not create a test network: {made.stderr}")
    yield {"name": name, "prefix": f"10.213.{third}."}
    subprocess.run(["docker", "network", "rm", name], capture_output=True, check=False)


def _container(lab, task_id):
    for cid in lab.containers():
        if docker_inspect(cid, '{{ index .Config.Labels "org.pptv.dcos.lab.task" }}') == task_id:
            return cid
    raise AssertionError(f"no container for {task_id}")


def test_net_and_ip_parameters_give_exactly_that_ip(api, lab, app_id, network):
    ip = network["prefix"] + "77"
    body = sleeper(app_id)
    body["container"]["docker"]["parameters"] = [
        {"key": "net", "value": network["name"]},
        {"key": "ip", "value": ip},
        {"key": "hostname", "value": "pptvlab-host"},
        {"key": "add-host", "value": "db.pptvlab:10.213.0.9"},
        {"key": "dns-search", "value": "pptvlab.test"},
        {"key": "label", "value": "pptvlab.extra=yes"},
        {"key": "env", "value": "FROM_PARAM=1"},
        {"key": "cap-add", "value": "NET_ADMIN"},
        {"key": "log-driver", "value": "json-file"},
        {"key": "log-opt", "value": "max-size=1m"},
    ]
    api.post("/v2/apps", json=body)
    task = api.wait_running(app_id, 1)[0]
    assert task["ipAddresses"] == [{"ipAddress": ip, "protocol": "IPv4"}]
    cid = _container(lab, task["id"])
    assert docker_inspect(
        cid, "{{ range $k, $v := .NetworkSettings.Networks }}{{ $k }}={{ $v.IPAddress }} {{ end }}"
    ) == (f"{network['name']}={ip}")
    assert docker_inspect(cid, "{{ .Config.Hostname }}") == "pptvlab-host"
    assert docker_inspect(cid, "{{ .HostConfig.ExtraHosts }}") == "[db.pptvlab:10.213.0.9]"
    assert docker_inspect(cid, "{{ .HostConfig.DnsSearch }}") == "[pptvlab.test]"
    assert docker_inspect(cid, '{{ index .Config.Labels "pptvlab.extra" }}') == "yes"
    assert "FROM_PARAM=1" in docker_inspect(cid, "{{ .Config.Env }}")
    assert docker_inspect(cid, "{{ .HostConfig.CapAdd }}") == "[NET_ADMIN]"
    assert docker_inspect(cid, "{{ .HostConfig.LogConfig.Config }}") == "map[max-size:1m]"


def test_unknown_parameter_fails_the_task_with_a_clear_message(api, app_id):
    body = sleeper(app_id, backoffSeconds=60)
    body["container"]["docker"]["parameters"] = [{"key": "no-such-flag", "value": "1"}]
    api.post("/v2/apps", json=body)
    failure = api.wait_for(
        lambda: api.get(f"/v2/apps{app_id}").json()["app"].get("lastTaskFailure"), 30, what="lastTaskFailure"
    )
    assert failure["state"] == "TASK_FAILED"
    assert "unknown flag: --no-such-flag" in failure["message"]
    queue = api.get("/v2/queue").json()["queue"]
    entry = next(q for q in queue if q["app"]["id"] == app_id)
    assert entry["count"] == 1 and entry["delay"]["overdue"] is False and entry["delay"]["timeLeftSeconds"] > 0
    assert api.delete(f"/v2/queue{app_id}/delay").status_code == 204


def test_task_json_env_and_resources(api, lab, app_id):
    body = sleeper(app_id, instances=1, env={"GREETING": "hi"}, labels={"svc": "x"}, cpus=0.25, mem=48)
    body["portDefinitions"] = [{"port": 0, "protocol": "tcp", "name": "http"}]
    api.post("/v2/apps", json=body)
    task = api.wait_running(app_id, 1)[0]
    assert task["id"].startswith(app_id.strip("/").replace("/", "_") + ".instance-")
    assert task["id"].endswith("._app.1")
    assert task["slaveId"] and task["host"] and task["stagedAt"] and task["startedAt"]
    assert len(task["ports"]) == 1 and task["servicePorts"][0] >= 10000
    cid = _container(lab, task["id"])
    env = docker_inspect(cid, "{{ range .Config.Env }}{{ . }}\n{{ end }}").splitlines()
    assert "GREETING=hi" in env
    assert f"MESOS_TASK_ID={task['id']}" in env
    assert f"MARATHON_APP_ID={app_id}" in env
    assert f"PORT0={task['ports'][0]}" in env and f"PORT_HTTP={task['ports'][0]}" in env
    assert "MARATHON_APP_LABEL_SVC=x" in env
    assert docker_inspect(cid, "{{ .HostConfig.Memory }}") == str(48 * 1024 * 1024)
    assert docker_inspect(cid, "{{ .HostConfig.CpuShares }}") == "256"
    assert docker_inspect(cid, "{{ .HostConfig.NetworkMode }}") == "host"


def test_bridge_port_mapping_serves_on_the_host_port(api, app_id):
    body = {
        "id": app_id,
        "cmd": "cd /tmp && echo hello > index.html && exec python3 -m http.server 8000",
        "cpus": 0.01,
        "mem": 32,
        "instances": 1,
        "container": {
            "type": "DOCKER",
            "docker": {"image": APP_IMAGE},
            "portMappings": [{"containerPort": 8000, "hostPort": 0}],
        },
        "networks": [{"mode": "container/bridge"}],
    }
    api.post("/v2/apps", json=body)
    task = api.wait_running(app_id, 1)[0]
    assert task["ipAddresses"][0]["ipAddress"].count(".") == 3
    import requests  # noqa: PLC0415

    host_port = task["ports"][0]
    text = api.wait_for(lambda: _get(requests, f"http://127.0.0.1:{host_port}/index.html"), 20, what="http answer")
    assert text.strip() == "hello"


def _get(requests, url):
    try:
        response = requests.get(url, timeout=2)
        return response.text if response.status_code == 200 else None
    except requests.RequestException:
        return None


def test_failed_task_is_relaunched_with_backoff(api, app_id):
    api.post(
        "/v2/apps",
        json=sleeper(app_id, cmd="sleep 0.5; exit 3", backoffSeconds=1, backoffFactor=2, maxLaunchDelaySeconds=3),
    )
    seen = {}

    def launches():
        for task in api.tasks(app_id):
            seen.setdefault(task["id"], time.time())
        return len(seen) >= 3 and seen

    api.wait_for(launches, 40, what="three launches")
    ids = sorted(seen, key=seen.get)
    instance = ids[0].rsplit("._app.", 1)[0]
    # The same instance is relaunched with the next incarnation.
    assert [i.rsplit("._app.", 1)[0] for i in ids[:3]] == [instance] * 3
    assert [int(i.rsplit(".", 1)[1]) for i in ids[:3]] == [1, 2, 3]
    gap1 = seen[ids[1]] - seen[ids[0]]
    gap2 = seen[ids[2]] - seen[ids[1]]
    assert gap2 > gap1  # the delay grows by backoffFactor
    failure = api.get(f"/v2/apps{app_id}").json()["app"]["lastTaskFailure"]
    assert failure["state"] == "TASK_FAILED" and "status 3" in failure["message"]


def test_kill_task_without_scale_replaces_it(api, app_id):
    api.post("/v2/apps", json=sleeper(app_id, instances=2))
    tasks = api.wait_running(app_id, 2)
    victim = tasks[0]["id"]
    killed = api.delete(f"/v2/apps{app_id}/tasks/{victim}")
    assert killed.status_code == 200
    assert killed.json()["task"]["id"] == victim

    def replaced_ok():
        tasks = api.tasks(app_id)
        fresh = len(tasks) == 2 and victim not in [t["id"] for t in tasks]
        return tasks if fresh and all(t["state"] == "TASK_RUNNING" for t in tasks) else None

    replaced = api.wait_for(replaced_ok, 30, what="replacement")
    assert api.get(f"/v2/apps{app_id}").json()["app"]["instances"] == 2
    assert len(replaced) == 2


def test_kill_with_scale_makes_a_deployment_and_lowers_instances(api, app_id):
    api.post("/v2/apps", json=sleeper(app_id, instances=2))
    tasks = api.wait_running(app_id, 2)
    api.wait_deployed()
    response = api.delete(f"/v2/apps{app_id}/tasks/{tasks[0]['id']}?scale=true")
    assert response.status_code == 200
    assert set(response.json()) == {"deploymentId", "version"}
    assert response.headers["Marathon-Deployment-Id"] == response.json()["deploymentId"]
    api.wait_deployed(response.json()["deploymentId"])
    assert api.get(f"/v2/apps{app_id}").json()["app"]["instances"] == 1
    assert [t["id"] for t in api.wait_running(app_id, 1)] == [tasks[1]["id"]]
    both = api.delete(f"/v2/apps{app_id}/tasks/{tasks[1]['id']}?scale=true&wipe=true")
    assert both.status_code == 400
    assert api.delete(f"/v2/apps{app_id}/tasks/nope").status_code == 404


def test_tasks_endpoints_and_bulk_delete(api, app_id):
    api.post("/v2/apps", json=sleeper(app_id, instances=2))
    tasks = api.wait_running(app_id, 2)
    api.wait_deployed()
    listed = api.get("/v2/tasks").json()["tasks"]
    assert {t["id"] for t in tasks} <= {t["id"] for t in listed}
    assert {t["id"] for t in api.get("/v2/tasks?status=running").json()["tasks"]} >= {t["id"] for t in tasks}
    assert not [t for t in api.get("/v2/tasks?status=staging").json()["tasks"] if t["appId"] == app_id]
    text = api.get("/v2/tasks", headers={"Accept": "text/plain"})
    assert text.headers["Content-Type"].startswith("text/plain")
    line = next(x for x in text.text.splitlines() if x.startswith(app_id.strip("/").replace("/", "_")))
    assert len(line.split("\t")) == 4
    assert api.post("/v2/tasks/delete", json={"ids": ["nope"]}).status_code == 400
    response = api.post("/v2/tasks/delete?scale=true", json={"ids": [tasks[0]["id"]]})
    assert response.status_code == 200 and "deploymentId" in response.json()
    api.wait_deployed(response.json()["deploymentId"])
    assert api.get(f"/v2/apps{app_id}").json()["app"]["instances"] == 1
    wiped = api.delete(f"/v2/apps{app_id}/tasks?wipe=true")
    assert wiped.status_code == 200 and [t["id"] for t in wiped.json()["tasks"]] == [tasks[1]["id"]]


def test_scale_down_kills_youngest_first(api, app_id):
    api.post("/v2/apps", json=sleeper(app_id, instances=1))
    first = api.wait_running(app_id, 1)[0]["id"]
    api.wait_deployed()
    api.put(f"/v2/apps{app_id}", json={"instances": 3})
    api.wait_running(app_id, 3)
    api.wait_deployed()
    response = api.put(f"/v2/apps{app_id}", json={"instances": 1})
    api.wait_deployed(response.json()["deploymentId"])
    assert [t["id"] for t in api.tasks(app_id)] == [first]


def test_named_container_network_and_host_volume(api, lab, app_id, network, tmp_path):
    (tmp_path / "hello.txt").write_text("from the host\n")
    body = sleeper(app_id, cmd="cat /data/hello.txt > /data/seen.txt && sleep 3600")
    body["networks"] = [{"mode": "container", "name": network["name"]}]
    body["container"]["volumes"] = [{"containerPath": "/data", "hostPath": str(tmp_path), "mode": "RW"}]
    api.post("/v2/apps", json=body)
    task = api.wait_running(app_id, 1)[0]
    [address] = task["ipAddresses"]
    assert address["ipAddress"].startswith(network["prefix"])
    cid = _container(lab, task["id"])
    assert docker_inspect(cid, "{{ range $k, $v := .NetworkSettings.Networks }}{{ $k }}{{ end }}") == network["name"]
    api.wait_for((tmp_path / "seen.txt").exists, 20, what="the task to write through the volume")
    assert (tmp_path / "seen.txt").read_text() == "from the host\n"


def test_host_ports_are_drawn_like_marathon_not_lowest_free(api, lab, app_id):
    """Marathon takes host ports from a random start in the range (wrapping), not the lowest free.

    With lowest-free the three replacements would get exactly the three ports just freed; with a
    random start that happens with a probability of about (3/1001)**3, so this is no flake.
    """
    ports = [{"port": 0, "protocol": "tcp", "name": f"p{i}"} for i in range(2)]
    api.post("/v2/apps", json=sleeper(app_id, instances=3, portDefinitions=ports))
    first = api.wait_running(app_id, 3)
    # Every task holds its own host ports (the walk skips the ones in use).
    assert len({p for t in first for p in t["ports"]}) == 6
    freed = {p for t in first for p in t["ports"]}
    assert api.delete(f"/v2/apps{app_id}/tasks").status_code == 200
    old_ids = {t["id"] for t in first}

    def replaced():
        tasks = api.tasks(app_id)
        fresh = len(tasks) == 3 and not old_ids & {t["id"] for t in tasks}
        return tasks if fresh and all(t["state"] == "TASK_RUNNING" for t in tasks) else None

    new = {p for t in api.wait_for(replaced, 60, what="replacements") for p in t["ports"]}
    assert not new <= freed, f"the replacements reused exactly the freed ports {sorted(freed)}"
