# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""playbooks/deploy_env.yml end to end on a private lab instance and the real Docker engine.

The playbook runs with the lab inventory, as `make demo` runs it, with the environment's network,
pool file and Marathon URL pointed at this suite's own (prefix ``pptvenv-``).
"""

from __future__ import annotations

import socket
import time

import pytest
import requests
from support.ansible_run import ROOT, run_playbook
from support.lab import lab_instance
from support.procs import docker

PREFIX = "pptvenv-"
NETWORK = {
    "name": "pptvenv-net",
    "subnet": "10.232.7.0/24",
    "gateway": "10.232.7.1",
    "bridge_name": "br-pptvenv",
    "default_gateway": "10.232.7.254",
}
PLAYBOOK = ROOT / "playbooks" / "deploy_env.yml"
INVENTORY = ROOT / "inventories" / "lab"


def _remove_network():
    for container in docker(
        "network", "inspect", "-f", "{{range .Containers}}{{.Name}} {{end}}", NETWORK["name"]
    ).stdout.split():
        docker("network", "disconnect", "-f", NETWORK["name"], container)
    docker("network", "rm", NETWORK["name"])


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    _remove_network()  # a killed earlier run may have left it
    pool_path = tmp_path_factory.mktemp("pptvenv-pool") / "ip_pool.json"
    with lab_instance(PREFIX) as lab:
        extra_vars = {
            "marathon_url": lab.url,
            "dcos_env": "pptvenv",
            "dcos_network": NETWORK,
            "dcos_ip_pool": {
                "name": "pptvenv",
                "path": str(pool_path),
                "subnets": [NETWORK["subnet"]],
                "gateway": NETWORK["default_gateway"],
                "reserved": [NETWORK["gateway"]],
                "allocation_ranges": ["10.232.7.100-10.232.7.199"],
            },
            "dcos_deploy_timeout": 240,
        }
        first = run_playbook(PLAYBOOK, INVENTORY, extra_vars)
        yield {"lab": lab, "vars": extra_vars, "first": first}
    _remove_network()


def _deploy(env):
    report = run_playbook(PLAYBOOK, INVENTORY, env["vars"])
    assert report["rc"] == 0, report["stdout"][-4000:]
    return report


def _allocations(report):
    """app ID -> IP, as the allocation task of the playbook returned them."""
    for play in report["plays"]:
        for task in play["tasks"]:
            if task["task"]["name"].startswith("Allocate each app's IP"):
                result = task["hosts"]["lab-engine"]
                return {item["app_id"]: item["ip"] for item in result["allocations"]}
    raise AssertionError("the playbook has no allocation task")


def _container_ips(lab):
    """app ID -> the IPs its running containers really have on the environment's network."""
    ips = {}
    for container_id in docker(
        "ps", "-q", "--filter", f"label=org.pptv.dcos.lab.instance={lab.instance}"
    ).stdout.split():
        inspect = docker(
            "inspect",
            "-f",
            '{{index .Config.Labels "org.pptv.dcos.lab.app"}} {{(index .NetworkSettings.Networks "'
            + NETWORK["name"]
            + '").IPAddress}}',
            container_id,
        ).stdout.split()
        if len(inspect) == 2:
            ips.setdefault(inspect[0], []).append(inspect[1])
    return ips


def _redis_ping(ip):
    with socket.create_connection((ip, 6379), timeout=10) as conn:
        conn.sendall(b"PING\r\n")
        return conn.recv(64)


def test_first_deploy_puts_every_app_on_its_own_fixed_ip(env):
    report = env["first"]
    assert report["rc"] == 0, report["stdout"][-4000:]
    assert report["stats"]["lab-engine"]["changed"] >= 2  # the allocation and the deployment
    allocations = _allocations(report)
    assert set(allocations) == {"/pptvenv/redis", "/pptvenv/web"}
    assert len(set(allocations.values())) == 2, "two apps must never share an IP"
    assert _container_ips(env["lab"]) == {app_id: [ip] for app_id, ip in allocations.items()}


def test_every_app_answers_on_its_fixed_ip(env):
    allocations = _allocations(env["first"])
    page = requests.get(f"http://{allocations['/pptvenv/web']}:8080/", timeout=10)
    assert page.status_code == 200
    assert page.text.strip() == "/pptvenv/web"
    assert _redis_ping(allocations["/pptvenv/redis"]) == b"+PONG\r\n"


def test_every_app_carries_the_discovery_contract_labels(env):
    allocations = _allocations(env["first"])
    expected = {
        "/pptvenv/web": {"name": "web.pptv.lab", "port": "8080", "protocol": "http"},
        "/pptvenv/redis": {"name": "redis.pptv.lab", "port": "6379", "protocol": "tcp"},
    }
    for app_id, want in expected.items():
        labels = requests.get(env["lab"].url + "/v2/apps" + app_id, timeout=10).json()["app"]["labels"]
        assert labels == {
            "pptv.dcos/contract": "1",
            "pptv.dcos/env": "pptvenv",
            "pptv.dcos/name": want["name"],
            "pptv.dcos/port": want["port"],
            "pptv.dcos/protocol": want["protocol"],
            "pptv.dcos/ip": allocations[app_id],
        }


def test_running_again_changes_nothing(env):
    report = _deploy(env)
    assert report["stats"]["lab-engine"]["changed"] == 0
    assert _allocations(report) == _allocations(env["first"])


def test_an_app_deleted_and_deployed_again_gets_its_old_ip_back(env):
    lab, before = env["lab"], _allocations(env["first"])
    requests.delete(lab.url + "/v2/apps/pptvenv/web", timeout=10).raise_for_status()
    deadline = time.monotonic() + 60
    while "/pptvenv/web" in _container_ips(lab) or requests.get(lab.url + "/v2/deployments", timeout=10).json():
        assert time.monotonic() < deadline, "the deleted app's tasks did not stop"
        time.sleep(0.5)

    report = _deploy(env)
    assert report["stats"]["lab-engine"]["changed"] >= 1  # the app was created again
    assert _allocations(report) == before
    assert _container_ips(lab)["/pptvenv/web"] == [before["/pptvenv/web"]]
    page = requests.get(f"http://{before['/pptvenv/web']}:8080/", timeout=10)
    assert page.text.strip() == "/pptvenv/web"
