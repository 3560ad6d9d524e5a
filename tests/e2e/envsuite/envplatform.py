# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The platform of the environment and release suites (tests/e2e/envsuite), built once per package.

Built the way `make demo` builds the lab's, with resources of its own (prefix ``pptvenvs-``, subnet
10.210.40.0/24): a private lab API reached from the network through a TCP relay, a gateway host and
a GlusterFS storage host (systemd containers), and this machine as the Docker host, its Gluster
logs and data mounts made by site.yml. The lab inventory's group_vars (its catalogue, its envs) are
used as they are; only addresses, paths and the Marathon URL are this suite's. ``int`` and the two
functional envs are deployed in parallel when the platform is built; ``prod`` has a DNS server and a
gateway address but no apps until the release suite promotes one.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import ansible
import requests
import yaml
from support.ansible_run import ROOT, run_playbook
from support.lab import lab_instance
from support.procs import docker

PREFIX = "pptvenvs-"
NETWORK = {
    "name": "pptvenvs-net",
    "subnet": "10.210.40.0/24",
    "gateway": "10.210.40.1",
    "bridge_name": "br-pptvenvs",
    "default_gateway": "10.210.40.254",
}
GATEWAY_HOST, GATEWAY_HOST_IP = "pptvenvs-gateway", "10.210.40.12"
STORAGE_HOST, STORAGE_HOST_IP = "pptvenvs-storage", "10.210.40.13"
ENVS = {
    "int": {"gateway": "10.210.40.20", "dns_ip": "10.210.40.30"},
    "func-shop": {"gateway": "10.210.40.21", "dns_ip": "10.210.40.31"},
    "func-pay": {"gateway": "10.210.40.22", "dns_ip": "10.210.40.32"},
    "prod": {"gateway": "10.210.40.23", "dns_ip": "10.210.40.33"},
}
# The envs deploy_env.yml deploys when the platform is built (prod gets its apps by promotion).
DEPLOYED_ENVS = ["int", "func-shop", "func-pay"]
MOUNTS = Path("/var/lib/pptv-dcos/e2e/pptvenvs")
LOGS_ROOT, DATA_ROOT = MOUNTS / "logs", MOUNTS / "data"
SECRET = "cHB0dmVudnMtZTJlLXRlc3Qta2V5LW5vdC1hLXNlY3JldCEhIQ=="
PLAYBOOKS = ROOT / "playbooks"
HOST_IMAGE = os.environ.get("PPTV_E2E_HOST_IMAGE", "pptv-dcos/molecule:bookworm")
ANSIBLE_PACKAGE = os.path.realpath(os.path.dirname(ansible.__file__))
PLAYBOOK_ENV = {"ANSIBLE_PIPELINING": "1"}


# ----------------------------------------------------------------------------- helpers


def wait(predicate, timeout, what, interval=0.5):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(interval)


def dig(name, env):
    proc = subprocess.run(
        ["dig", "+short", "+norecurse", "+time=2", "+tries=1", f"@{ENVS[env]['dns_ip']}", name, "A"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    return proc.stdout.split() if proc.returncode == 0 else None


def get_by_name(env, name, port, path="/"):
    """GET through ``env``'s gateway with ``name`` as Host; the response, or None."""
    try:
        answer = requests.get(f"http://{ENVS[env]['gateway']}:{port}{path}", headers={"Host": name}, timeout=15)
    except requests.RequestException:
        return None
    return answer if answer.status_code == 200 else None


def deps_of(env, name="web.pptv.lab", port=8080):
    """The sample app's /deps answer through ``env``'s gateway, as {dependency name: entry}."""

    def answer():
        page = get_by_name(env, name, port, "/deps")
        if page is None:
            return None
        deps = {d["name"]: d for d in page.json()["deps"]}
        return deps if all(d["reached"] for d in deps.values()) else None

    return wait(answer, 120, f"every dependency of {name} reached in {env}", interval=1)


def connects(host, port):
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def redis_command(ip, *command):
    """One Redis command over RESP; the first reply line."""
    payload = f"*{len(command)}\r\n" + "".join(f"${len(str(c).encode())}\r\n{c}\r\n" for c in command)
    with socket.create_connection((ip, 6379), timeout=10) as conn:
        conn.sendall(payload.encode())
        reply = conn.recv(4096).decode()
    return reply.split("\r\n")


def host_vars(name, ip, **extra):
    return {"ansible_connection": "community.docker.docker", "ansible_host": name, "lab_ip": ip, **extra}


def make_inventory(tmp_path):
    """The lab inventory's group_vars, with hosts of our own."""
    inventory = tmp_path / "inventory"
    shutil.copytree(ROOT / "inventories" / "lab" / "group_vars", inventory / "group_vars")
    engine = {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}"}
    hosts = {
        "all": {
            "vars": {"ansible_python_interpreter": "/usr/bin/python3"},
            "children": {
                "gateways": {"hosts": {"gateway": host_vars(GATEWAY_HOST, GATEWAY_HOST_IP)}},
                "storage_nodes": {
                    "hosts": {
                        "storage": host_vars(STORAGE_HOST, STORAGE_HOST_IP, glusterfs_server_address=STORAGE_HOST_IP)
                    }
                },
                "docker_hosts": {"hosts": {"lab-engine": engine}},
                "controller": {"hosts": {"lab-engine": None}},
            },
        }
    }
    (inventory / "hosts.yml").write_text(yaml.safe_dump(hosts))
    return inventory


def run(name, platform, extra=None, **kwargs):
    extra_vars = dict(platform["vars"], **(extra or {}))
    return run_playbook(PLAYBOOKS / name, platform["inventory"], extra_vars, env=PLAYBOOK_ENV, timeout=1800, **kwargs)


def unmount_ours():
    for line in Path("/proc/mounts").read_text().splitlines():
        point = line.split()[1]
        if point.startswith(str(MOUNTS)):
            subprocess.run(["umount", "-l", point], check=False, capture_output=True)


def remove_leftovers():
    unmount_ours()
    docker("rm", "-f", "-v", GATEWAY_HOST, STORAGE_HOST)
    for container in docker(
        "network", "inspect", "-f", "{{range .Containers}}{{.Name}} {{end}}", NETWORK["name"]
    ).stdout.split():
        docker("network", "disconnect", "-f", NETWORK["name"], container)
    docker("network", "rm", NETWORK["name"])


def start_host(name, ip, *extra):
    run = docker(
        "run", "-d", "--name", name, "--hostname", name.removeprefix(PREFIX),
        "--network", NETWORK["name"], "--ip", ip,
        "--cap-add", "SYS_ADMIN", "--cap-add", "NET_ADMIN", "--security-opt", "seccomp=unconfined",
        "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw", "--tmpfs", "/run", "--tmpfs", "/run/lock",
        *extra, HOST_IMAGE, "/sbin/init",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    wait(
        lambda: docker("exec", name, "systemctl", "is-system-running").stdout.strip() in ("running", "degraded"),
        60,
        f"systemd in {name}",
    )


def start_hosts():
    docker(
        "network", "create", "--driver", "bridge",
        "--subnet", NETWORK["subnet"], "--gateway", NETWORK["gateway"],
        "--aux-address", f"DefaultGatewayIPv4={NETWORK['default_gateway']}",
        "-o", f"com.docker.network.bridge.name={NETWORK['bridge_name']}",
        NETWORK["name"],
    )  # fmt: skip
    # The daemon imports ansible-core: the controller's, mounted read-only (no download).
    start_host(
        GATEWAY_HOST, GATEWAY_HOST_IP, "-v", f"{ANSIBLE_PACKAGE}:/usr/local/lib/python3.11/dist-packages/ansible:ro"
    )
    start_host(STORAGE_HOST, STORAGE_HOST_IP, "--device", "/dev/fuse")


def deploy_in_parallel(platform, envs):
    with concurrent.futures.ThreadPoolExecutor(len(envs)) as pool:
        futures = {env: pool.submit(run, "deploy_env.yml", platform, {"env": env}) for env in envs}
        return {env: future.result() for env, future in futures.items()}


def app_of(platform, app_id):
    answer = requests.get(f"{platform['lab'].url}/v2/apps{app_id}", timeout=10)
    return answer.json()["app"] if answer.status_code == 200 else None


def app_ip(platform, app_id):
    return app_of(platform, app_id)["labels"]["pptv.dcos/ip"]


def apps_in(platform, group):
    return [a["id"] for a in requests.get(f"{platform['lab'].url}/v2/apps", timeout=10).json()["apps"]
            if a["id"].startswith(group + "/")]  # fmt: skip


def containers_of(platform, app_id):
    lab = platform["lab"]
    found = []
    for container in docker("ps", "-q", "--filter", f"label=org.pptv.dcos.lab.instance={lab.instance}").stdout.split():
        if (
            docker("inspect", "-f", '{{index .Config.Labels "org.pptv.dcos.lab.app"}}', container).stdout.strip()
            == app_id
        ):
            found.append(container)
    return found


def brick_path(volume):
    info = docker("exec", STORAGE_HOST, "gluster", "volume", "info", volume).stdout
    brick = next(line for line in info.splitlines() if line.startswith("Brick1:"))
    return brick.split(":", 2)[2].strip()


@contextlib.contextmanager
def build_platform(tmp_path_factory):
    """Build the platform, yield it (a dict: lab, vars, inventory, pool, deploys), remove it."""
    remove_leftovers()
    tmp_path = tmp_path_factory.mktemp("pptvenvs")
    relay = None
    with lab_instance(PREFIX) as lab:
        try:
            start_hosts()
            relay = subprocess.Popen(  # noqa: S603 - our own module
                [sys.executable, "-m", "marathon_lab.ctl", "relay",
                 "--bind", f"{NETWORK['gateway']}:{lab.port}", "--to", f"127.0.0.1:{lab.port}"],
                env=dict(os.environ, PYTHONPATH=str(ROOT / "lab")),
            )  # fmt: skip
            wait(lambda: connects(NETWORK["gateway"], lab.port), 15, "the API relay")
            extra_vars = {
                "marathon_url": lab.url,
                "marathon_urls_from_hosts": [f"http://{NETWORK['gateway']}:{lab.port}"],
                "lab_network_name": NETWORK["name"],
                "lab_network_bridge": NETWORK["bridge_name"],
                "lab_network_subnet": NETWORK["subnet"],
                "lab_network_gateway": NETWORK["gateway"],
                "lab_network_router": NETWORK["default_gateway"],
                "dcos_ip_pool": {
                    "name": "pptvenvs",
                    "path": str(tmp_path / "ip_pool.json"),
                    "subnets": [NETWORK["subnet"]],
                    "gateway": NETWORK["default_gateway"],
                    "reserved": [NETWORK["gateway"], GATEWAY_HOST_IP, STORAGE_HOST_IP, "10.210.40.20-10.210.40.29"],
                    "allocation_ranges": ["10.210.40.100-10.210.40.199"],
                },
                "dcos_envs": ENVS,
                "dcos_logs_root": str(LOGS_ROOT),
                "dcos_data_root": str(DATA_ROOT),
                "dcos_dns_tsig_secret": SECRET,
                "dcos_discovery_listen": f"{GATEWAY_HOST_IP}:9900",
                "dcos_deploy_timeout": 300,
            }
            platform = {
                "lab": lab,
                "vars": extra_vars,
                "inventory": make_inventory(tmp_path),
                "pool": tmp_path / "ip_pool.json",
            }
            site = run("site.yml", platform)
            assert site["rc"] == 0, site["stdout"][-8000:]
            platform["deploys"] = deploy_in_parallel(platform, DEPLOYED_ENVS)
            yield platform
        finally:
            if relay is not None:
                relay.terminate()
                relay.wait(10)
            remove_leftovers()
