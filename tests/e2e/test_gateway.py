# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""playbooks/gateway.yml + deploy_env.yml end to end: the roles' assembly on a private lab.

A private lab API (reached from the lab network through the lab's TCP relay, as `make lab-up`
does), a network of its own, and a systemd container as the gateway host. gateway.yml puts the
`int` env's DNS server on Marathon and Nginx + the discovery daemon on the gateway; deploy_env.yml
deploys the catalogue; then every name is asked at the env's DNS and requested through the
gateway. The env's DNS task is killed: Marathon relaunches it with empty zones, and the daemon
writes the records again. Prefix ``pptvsdr-``, subnet 10.210.20.0/24.

The gateway host starts from the Molecule image (Nginx, dnspython, kazoo and PyYAML installed)
and gets ansible-core, which the daemon imports, by a read-only mount of this controller's
``ansible`` package instead of a download from Debian's mirror; service_discovery's Molecule
scenario installs the Debian packages themselves.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time

import ansible
import pytest
import requests
import yaml
from support.ansible_run import ROOT, run_playbook
from support.lab import lab_instance
from support.procs import docker

PREFIX = "pptvsdr-"
NETWORK = {
    "name": "pptvsdr-gw-net",
    "subnet": "10.210.20.0/24",
    "gateway": "10.210.20.1",
    "bridge_name": "br-pptvsdrgw",
    "default_gateway": "10.210.20.254",
}
GATEWAY_HOST = "pptvsdr-gw-gateway"
GATEWAY_HOST_IP = "10.210.20.12"
ENV_GATEWAY = "10.210.20.20"
ENV_DNS = "10.210.20.30"
DNS_APP = "/pptv-dcos/dns-int"
SECRET = "cHB0dnNkci1lMmUtdGVzdC1rZXktbm90LWEtc2VjcmV0IQ=="
PLAYBOOKS = ROOT / "playbooks"
HOST_IMAGE = os.environ.get("PPTV_E2E_HOST_IMAGE", "pptv-dcos/molecule:bookworm")
# A fresh gateway host installs Debian packages (ansible-core) from the mirror: the module's
# fixture can take longer than the suite's default limit on a busy machine.
pytestmark = pytest.mark.timeout(2400)
# Fewer round trips per task over the Docker connection.
PLAYBOOK_ENV = {"ANSIBLE_PIPELINING": "1"}
ANSIBLE_PACKAGE = os.path.realpath(os.path.dirname(ansible.__file__))
# Debian's ansible-core is replaced by the mount above; the others are in the Molecule image.
GATEWAY_PACKAGES = ["python3", "python3-dnspython", "python3-kazoo", "python3-yaml"]


def _run(name, platform_or_inventory, extra_vars=None):
    if isinstance(platform_or_inventory, dict):
        inventory, extra_vars = platform_or_inventory["inventory"], platform_or_inventory["vars"]
    else:
        inventory = platform_or_inventory
    return run_playbook(PLAYBOOKS / name, inventory, extra_vars, env=PLAYBOOK_ENV, timeout=1800)


def _remove_leftovers():
    docker("rm", "-f", "-v", GATEWAY_HOST)
    for container in docker(
        "network", "inspect", "-f", "{{range .Containers}}{{.Name}} {{end}}", NETWORK["name"]
    ).stdout.split():
        docker("network", "disconnect", "-f", NETWORK["name"], container)
    docker("network", "rm", NETWORK["name"])


def _start_gateway_host():
    image = HOST_IMAGE
    if docker("image", "inspect", image).returncode != 0:
        image = "pptv-dcos/systemd:bookworm"
    docker(
        "network", "create", "--driver", "bridge",
        "--subnet", NETWORK["subnet"], "--gateway", NETWORK["gateway"],
        "--aux-address", f"DefaultGatewayIPv4={NETWORK['default_gateway']}",
        "-o", f"com.docker.network.bridge.name={NETWORK['bridge_name']}",
        NETWORK["name"],
    )  # fmt: skip
    run = docker(
        "run", "-d", "--name", GATEWAY_HOST, "--hostname", "gateway",
        "--network", NETWORK["name"], "--ip", GATEWAY_HOST_IP,
        "--cap-add", "SYS_ADMIN", "--cap-add", "NET_ADMIN", "--security-opt", "seccomp=unconfined",
        "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw", "--tmpfs", "/run", "--tmpfs", "/run/lock",
        "-v", f"{ANSIBLE_PACKAGE}:/usr/local/lib/python3.11/dist-packages/ansible:ro",
        image, "/sbin/init",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    deadline = time.monotonic() + 60
    while docker("exec", GATEWAY_HOST, "systemctl", "is-system-running").stdout.strip() not in ("running", "degraded"):
        assert time.monotonic() < deadline, "the gateway host's systemd did not come up"
        time.sleep(0.5)


def _inventory(tmp_path):
    """The lab inventory's group_vars, with hosts of our own."""
    inventory = tmp_path / "inventory"
    shutil.copytree(ROOT / "inventories" / "lab" / "group_vars", inventory / "group_vars")
    hosts = {
        "all": {
            "vars": {"ansible_python_interpreter": "/usr/bin/python3"},
            "children": {
                "gateways": {
                    "hosts": {
                        "gateway": {
                            "ansible_connection": "community.docker.docker",
                            "ansible_host": GATEWAY_HOST,
                            "lab_ip": GATEWAY_HOST_IP,
                        }
                    }
                },
                "docker_hosts": {
                    "hosts": {
                        "lab-engine": {
                            "ansible_connection": "local",
                            "ansible_python_interpreter": "{{ ansible_playbook_python }}",
                        }
                    }
                },
                "controller": {"hosts": {"lab-engine": None}},
            },
        }
    }
    (inventory / "hosts.yml").write_text(yaml.safe_dump(hosts))
    return inventory


def _dig(name, server=ENV_DNS):
    proc = subprocess.run(
        ["dig", "+short", "+norecurse", "+time=2", "+tries=1", f"@{server}", name, "A"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    return proc.stdout.split() if proc.returncode == 0 else None


def _wait(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def _status():
    return requests.get(f"http://{GATEWAY_HOST_IP}:9900/status", timeout=5).json()


def _dns_container(lab):
    for container_id in docker(
        "ps", "-q", "--filter", f"label=org.pptv.dcos.lab.instance={lab.instance}"
    ).stdout.split():
        app = docker("inspect", "-f", '{{index .Config.Labels "org.pptv.dcos.lab.app"}}', container_id).stdout.strip()
        if app == DNS_APP:
            return container_id
    return None


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    _remove_leftovers()
    tmp_path = tmp_path_factory.mktemp("pptvsdr-gw")
    relay = None
    with lab_instance(PREFIX) as lab:
        try:
            _start_gateway_host()
            relay = subprocess.Popen(  # noqa: S603 - our own module
                [sys.executable, "-m", "marathon_lab.ctl", "relay",
                 "--bind", f"{NETWORK['gateway']}:{lab.port}", "--to", f"127.0.0.1:{lab.port}"],
                env=dict(os.environ, PYTHONPATH=str(ROOT / "lab")),
            )  # fmt: skip
            _wait(lambda: _connects(NETWORK["gateway"], lab.port), 15, "the API relay")
            extra_vars = {
                "marathon_url": lab.url,
                "marathon_urls_from_hosts": [f"http://{NETWORK['gateway']}:{lab.port}"],
                "dcos_env": "int",
                "dcos_network": NETWORK,
                "dcos_ip_pool": {
                    "name": "pptvsdr",
                    "path": str(tmp_path / "ip_pool.json"),
                    "subnets": [NETWORK["subnet"]],
                    "gateway": NETWORK["default_gateway"],
                    "reserved": [NETWORK["gateway"], GATEWAY_HOST_IP, "10.210.20.20-10.210.20.29"],
                    "allocation_ranges": ["10.210.20.100-10.210.20.199"],
                },
                "dcos_envs": {"int": {"gateway": ENV_GATEWAY, "dns_ip": ENV_DNS}},
                "dcos_dns_tsig_secret": SECRET,
                "dcos_discovery_listen": f"{GATEWAY_HOST_IP}:9900",
                "dcos_deploy_timeout": 240,
                "service_discovery_packages": GATEWAY_PACKAGES,
            }
            inventory = _inventory(tmp_path)
            gateway = _run("gateway.yml", inventory, extra_vars)
            assert gateway["rc"] == 0, gateway["stdout"][-6000:]
            deploy = _run("deploy_env.yml", inventory, extra_vars)
            assert deploy["rc"] == 0, deploy["stdout"][-6000:]
            yield {"lab": lab, "vars": extra_vars, "inventory": inventory, "gateway": gateway}
        finally:
            if relay is not None:
                relay.terminate()
                relay.wait(10)
            _remove_leftovers()


def _connects(host, port):
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def _app_ip(lab, app_id):
    return requests.get(f"{lab.url}/v2/apps{app_id}", timeout=10).json()["app"]["labels"]["pptv.dcos/ip"]


def test_the_env_dns_answers_http_names_with_the_gateway_and_tcp_names_with_the_app(platform):
    assert _wait(lambda: _dig("web.pptv.lab") == [ENV_GATEWAY] or None, 60, "web.pptv.lab at the env DNS")
    redis_ip = _app_ip(platform["lab"], "/int/redis")
    assert _wait(lambda: _dig("redis.pptv.lab") == [redis_ip] or None, 60, "redis.pptv.lab at the env DNS")
    assert _dig("nothing.pptv.lab") == []
    # Authoritative only: a name outside its zones is refused, never looked up elsewhere.
    refused = subprocess.run(
        ["dig", "+time=2", "+tries=1", f"@{ENV_DNS}", "example.com", "A"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert "status: REFUSED" in refused.stdout


def test_a_request_through_the_gateway_reaches_each_http_app(platform):
    def answer():
        try:
            page = requests.get(f"http://{ENV_GATEWAY}:8080/", headers={"Host": "web.pptv.lab"}, timeout=5)
        except requests.RequestException:
            return None
        return page if page.status_code == 200 else None

    assert _wait(answer, 60, "web.pptv.lab through the gateway").text.strip() == "/int/web"
    redis_ip = _app_ip(platform["lab"], "/int/redis")
    with socket.create_connection((redis_ip, 6379), timeout=10) as conn:
        conn.sendall(b"PING\r\n")
        assert conn.recv(64) == b"+PONG\r\n"


def test_the_check_playbook_proves_every_name(platform):
    report = _run("check_discovery.yml", platform)
    assert report["rc"] == 0, report["stdout"][-6000:]
    assert report["stats"]["lab-engine"]["failures"] == 0


def test_the_daemon_status_shows_the_env_and_its_apps(platform):
    status = _wait(lambda: _status() if _status()["environments"]["int"]["apps"] else None, 60, "apps on /status")
    env = status["environments"]["int"]
    assert env["gateway"] == ENV_GATEWAY
    assert env["dns"] == ENV_DNS
    assert env["dns_app"] == DNS_APP
    assert {app["name"] for app in env["apps"]} == {"web.pptv.lab", "redis.pptv.lab"}
    assert status["quarantined"] == []


def test_running_the_gateway_playbook_again_changes_nothing(platform):
    report = _run("gateway.yml", platform)
    assert report["rc"] == 0, report["stdout"][-6000:]
    assert {host: stats["changed"] for host, stats in report["stats"].items()} == {"gateway": 0, "lab-engine": 0}


def test_a_relaunched_dns_task_gets_its_records_back(platform):
    lab = platform["lab"]
    before = _dns_container(lab)
    assert before is not None
    _wait(lambda: _dig("web.pptv.lab") == [ENV_GATEWAY] or None, 60, "web.pptv.lab before the kill")
    docker("kill", before)
    # Marathon relaunches the task on the same fixed IP, with zones that start empty ...
    after = _wait(lambda: (c := _dns_container(lab)) not in (None, before) and c, 90, "the relaunched DNS task")
    assert after != before
    # ... and the daemon notices and writes every record again.
    assert _wait(lambda: _dig("web.pptv.lab") == [ENV_GATEWAY] or None, 90, "web.pptv.lab after the relaunch")
    redis_ip = _app_ip(lab, "/int/redis")
    assert _wait(lambda: _dig("redis.pptv.lab") == [redis_ip] or None, 30, "redis.pptv.lab after the relaunch")
    assert _status()["environments"]["int"]["dns_ok"] is True
