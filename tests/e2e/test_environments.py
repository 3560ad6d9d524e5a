# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Environments end to end: site.yml, then int + two functional envs deployed in parallel.

One platform per module, built the way `make demo` builds the lab's, with resources of its own
(prefix ``pptvenvs-``, subnet 10.210.40.0/24): a private lab API reached from the network
through a TCP relay, a gateway host and a GlusterFS storage host (systemd containers), and this
machine as the Docker host, its Gluster logs and data mounts made by site.yml. The lab
inventory's group_vars (its catalogue, its three envs) are used as they are; only addresses,
paths and the Marathon URL are this suite's.

What it proves (issue 13): the same name means something else in each env; a name a functional
env lacks lands in int; apps start with ``--dns`` at their env's DNS; data survives a task kill
and sits on the Gluster brick; logs land on the Gluster path; re-deploying changes nothing;
tearing down one env leaves no apps, addresses or records of it and the others working; bad
catalogue input fails before anything is deployed, naming the entry.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import ansible
import pytest
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
}
MOUNTS = Path("/var/lib/pptv-dcos/e2e/pptvenvs")
LOGS_ROOT, DATA_ROOT = MOUNTS / "logs", MOUNTS / "data"
SECRET = "cHB0dmVudnMtZTJlLXRlc3Qta2V5LW5vdC1hLXNlY3JldCEhIQ=="
PLAYBOOKS = ROOT / "playbooks"
HOST_IMAGE = os.environ.get("PPTV_E2E_HOST_IMAGE", "pptv-dcos/molecule:bookworm")
ANSIBLE_PACKAGE = os.path.realpath(os.path.dirname(ansible.__file__))
PLAYBOOK_ENV = {"ANSIBLE_PIPELINING": "1"}
pytestmark = pytest.mark.timeout(3000)


# ----------------------------------------------------------------------------- helpers


def _wait(predicate, timeout, what, interval=0.5):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(interval)


def _dig(name, env):
    proc = subprocess.run(
        ["dig", "+short", "+norecurse", "+time=2", "+tries=1", f"@{ENVS[env]['dns_ip']}", name, "A"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    return proc.stdout.split() if proc.returncode == 0 else None


def _get(env, name, port, path="/"):
    """GET through ``env``'s gateway with ``name`` as Host; the response, or None."""
    try:
        answer = requests.get(f"http://{ENVS[env]['gateway']}:{port}{path}", headers={"Host": name}, timeout=15)
    except requests.RequestException:
        return None
    return answer if answer.status_code == 200 else None


def _deps(env, name="web.pptv.lab", port=8080):
    """The sample app's /deps answer through ``env``'s gateway, as {dependency name: entry}."""

    def answer():
        page = _get(env, name, port, "/deps")
        if page is None:
            return None
        deps = {d["name"]: d for d in page.json()["deps"]}
        return deps if all(d["reached"] for d in deps.values()) else None

    return _wait(answer, 120, f"every dependency of {name} reached in {env}", interval=1)


def _connects(host, port):
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def _redis(ip, *command):
    """One Redis command over RESP; the first reply line."""
    payload = f"*{len(command)}\r\n" + "".join(f"${len(str(c).encode())}\r\n{c}\r\n" for c in command)
    with socket.create_connection((ip, 6379), timeout=10) as conn:
        conn.sendall(payload.encode())
        reply = conn.recv(4096).decode()
    return reply.split("\r\n")


def _host_vars(name, ip, **extra):
    return {"ansible_connection": "community.docker.docker", "ansible_host": name, "lab_ip": ip, **extra}


def _inventory(tmp_path):
    """The lab inventory's group_vars, with hosts of our own."""
    inventory = tmp_path / "inventory"
    shutil.copytree(ROOT / "inventories" / "lab" / "group_vars", inventory / "group_vars")
    engine = {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}"}
    hosts = {
        "all": {
            "vars": {"ansible_python_interpreter": "/usr/bin/python3"},
            "children": {
                "gateways": {"hosts": {"gateway": _host_vars(GATEWAY_HOST, GATEWAY_HOST_IP)}},
                "storage_nodes": {
                    "hosts": {
                        "storage": _host_vars(STORAGE_HOST, STORAGE_HOST_IP, glusterfs_server_address=STORAGE_HOST_IP)
                    }
                },
                "docker_hosts": {"hosts": {"lab-engine": engine}},
                "controller": {"hosts": {"lab-engine": None}},
            },
        }
    }
    (inventory / "hosts.yml").write_text(yaml.safe_dump(hosts))
    return inventory


def _run(name, platform, extra=None, **kwargs):
    extra_vars = dict(platform["vars"], **(extra or {}))
    return run_playbook(PLAYBOOKS / name, platform["inventory"], extra_vars, env=PLAYBOOK_ENV, timeout=1800, **kwargs)


def _unmount_ours():
    for line in Path("/proc/mounts").read_text().splitlines():
        point = line.split()[1]
        if point.startswith(str(MOUNTS)):
            subprocess.run(["umount", "-l", point], check=False, capture_output=True)


def _remove_leftovers():
    _unmount_ours()
    docker("rm", "-f", "-v", GATEWAY_HOST, STORAGE_HOST)
    for container in docker(
        "network", "inspect", "-f", "{{range .Containers}}{{.Name}} {{end}}", NETWORK["name"]
    ).stdout.split():
        docker("network", "disconnect", "-f", NETWORK["name"], container)
    docker("network", "rm", NETWORK["name"])


def _start_host(name, ip, *extra):
    run = docker(
        "run", "-d", "--name", name, "--hostname", name.removeprefix(PREFIX),
        "--network", NETWORK["name"], "--ip", ip,
        "--cap-add", "SYS_ADMIN", "--cap-add", "NET_ADMIN", "--security-opt", "seccomp=unconfined",
        "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw", "--tmpfs", "/run", "--tmpfs", "/run/lock",
        *extra, HOST_IMAGE, "/sbin/init",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    _wait(
        lambda: docker("exec", name, "systemctl", "is-system-running").stdout.strip() in ("running", "degraded"),
        60,
        f"systemd in {name}",
    )


def _start_hosts():
    docker(
        "network", "create", "--driver", "bridge",
        "--subnet", NETWORK["subnet"], "--gateway", NETWORK["gateway"],
        "--aux-address", f"DefaultGatewayIPv4={NETWORK['default_gateway']}",
        "-o", f"com.docker.network.bridge.name={NETWORK['bridge_name']}",
        NETWORK["name"],
    )  # fmt: skip
    # The daemon imports ansible-core: the controller's, mounted read-only (no download).
    _start_host(
        GATEWAY_HOST, GATEWAY_HOST_IP, "-v", f"{ANSIBLE_PACKAGE}:/usr/local/lib/python3.11/dist-packages/ansible:ro"
    )
    _start_host(STORAGE_HOST, STORAGE_HOST_IP, "--device", "/dev/fuse")


def _deploy_in_parallel(platform, envs):
    with concurrent.futures.ThreadPoolExecutor(len(envs)) as pool:
        futures = {env: pool.submit(_run, "deploy_env.yml", platform, {"env": env}) for env in envs}
        return {env: future.result() for env, future in futures.items()}


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    _remove_leftovers()
    tmp_path = tmp_path_factory.mktemp("pptvenvs")
    relay = None
    with lab_instance(PREFIX) as lab:
        try:
            _start_hosts()
            relay = subprocess.Popen(  # noqa: S603 - our own module
                [sys.executable, "-m", "marathon_lab.ctl", "relay",
                 "--bind", f"{NETWORK['gateway']}:{lab.port}", "--to", f"127.0.0.1:{lab.port}"],
                env=dict(os.environ, PYTHONPATH=str(ROOT / "lab")),
            )  # fmt: skip
            _wait(lambda: _connects(NETWORK["gateway"], lab.port), 15, "the API relay")
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
                "inventory": _inventory(tmp_path),
                "pool": tmp_path / "ip_pool.json",
            }
            site = _run("site.yml", platform)
            assert site["rc"] == 0, site["stdout"][-8000:]
            platform["deploys"] = _deploy_in_parallel(platform, list(ENVS))
            yield platform
        finally:
            if relay is not None:
                relay.terminate()
                relay.wait(10)
            _remove_leftovers()


def _app(platform, app_id):
    answer = requests.get(f"{platform['lab'].url}/v2/apps{app_id}", timeout=10)
    return answer.json()["app"] if answer.status_code == 200 else None


def _ip(platform, app_id):
    return _app(platform, app_id)["labels"]["pptv.dcos/ip"]


def _apps(platform, group):
    return [a["id"] for a in requests.get(f"{platform['lab'].url}/v2/apps", timeout=10).json()["apps"]
            if a["id"].startswith(group + "/")]  # fmt: skip


def _containers_of(platform, app_id):
    lab = platform["lab"]
    found = []
    for container in docker("ps", "-q", "--filter", f"label=org.pptv.dcos.lab.instance={lab.instance}").stdout.split():
        if (
            docker("inspect", "-f", '{{index .Config.Labels "org.pptv.dcos.lab.app"}}', container).stdout.strip()
            == app_id
        ):
            found.append(container)
    return found


def _brick_path(volume):
    info = docker("exec", STORAGE_HOST, "gluster", "volume", "info", volume).stdout
    brick = next(line for line in info.splitlines() if line.startswith("Brick1:"))
    return brick.split(":", 2)[2].strip()


# ----------------------------------------------------------------------------- tests


def test_every_env_deploys_in_parallel_with_its_own_services(platform):
    for env, report in platform["deploys"].items():
        assert report["rc"] == 0, f"{env}: " + report["stdout"][-8000:]
    assert sorted(_apps(platform, "/int")) == ["/int/api", "/int/mariadb", "/int/redis", "/int/web", "/int/zookeeper"]
    # A functional env: its project's services plus copies of the shared services they declare.
    assert sorted(_apps(platform, "/func-shop")) == ["/func-shop/redis", "/func-shop/web"]
    assert sorted(_apps(platform, "/func-pay")) == ["/func-pay/api", "/func-pay/mariadb", "/func-pay/zookeeper"]


def test_the_same_name_means_something_else_in_each_env(platform):
    int_redis, shop_redis = _ip(platform, "/int/redis"), _ip(platform, "/func-shop/redis")
    assert int_redis != shop_redis
    assert _wait(lambda: _dig("redis.pptv.lab", "int") == [int_redis], 60, "redis in int")
    assert _wait(lambda: _dig("redis.pptv.lab", "func-shop") == [shop_redis], 60, "redis in func-shop")
    # func-pay has no Redis of its own: the name is int's.
    assert _wait(lambda: _dig("redis.pptv.lab", "func-pay") == [int_redis], 60, "redis in func-pay (fallback)")
    # An http name answers the env's own gateway where the env has the service, int's where not.
    assert _wait(lambda: _dig("web.pptv.lab", "func-shop") == [ENVS["func-shop"]["gateway"]], 60, "web in func-shop")
    assert _wait(lambda: _dig("web.pptv.lab", "func-pay") == [ENVS["int"]["gateway"]], 60, "web in func-pay")
    assert _wait(lambda: _dig("api.pptv.lab", "func-shop") == [ENVS["int"]["gateway"]], 60, "api in func-shop")


def test_the_sample_app_sees_its_own_env_and_falls_back_to_int(platform):
    shop = _deps("func-shop")
    assert shop["redis.pptv.lab"]["address"] == _ip(platform, "/func-shop/redis")
    assert shop["redis.pptv.lab"]["answer"] == "PONG"
    # func-shop has no api: the call lands in int, through int's gateway.
    assert shop["api.pptv.lab"]["address"] == ENVS["int"]["gateway"]
    assert shop["api.pptv.lab"]["answer"] == "/int/api"

    in_int = _deps("int")
    assert in_int["redis.pptv.lab"]["address"] == _ip(platform, "/int/redis")
    assert in_int["api.pptv.lab"]["answer"] == "/int/api"

    pay = _deps("func-pay", "api.pptv.lab", 8081)
    assert pay["mariadb.pptv.lab"]["address"] == _ip(platform, "/func-pay/mariadb")
    assert pay["zookeeper.pptv.lab"]["address"] == _ip(platform, "/func-pay/zookeeper")
    # api calls Redis without declaring it: func-pay has no copy, so it reaches int's.
    assert pay["redis.pptv.lab"]["address"] == _ip(platform, "/int/redis")


def test_every_app_runs_on_its_ip_with_its_env_dns(platform):
    seen = set()
    for env in ENVS:
        for app_id in _apps(platform, f"/{env}"):
            (container,) = _containers_of(platform, app_id)
            ip = _ip(platform, app_id)
            networks = json.loads(docker("inspect", "-f", "{{json .NetworkSettings.Networks}}", container).stdout)
            assert networks[NETWORK["name"]]["IPAddress"] == ip
            assert json.loads(docker("inspect", "-f", "{{json .HostConfig.Dns}}", container).stdout) == [
                ENVS[env]["dns_ip"]
            ]
            assert ip not in seen
            seen.add(ip)


def test_every_app_carries_exactly_the_contract_labels(platform):
    for app_id, fqdn, port, protocol in [
        ("/func-shop/web", "web.pptv.lab", "8080", "http"),
        ("/func-shop/redis", "redis.pptv.lab", "6379", "tcp"),
        ("/int/zookeeper", "zookeeper.pptv.lab", "2181", "tcp"),
    ]:
        app = _app(platform, app_id)
        assert app["labels"] == {
            "pptv.dcos/contract": "1",
            "pptv.dcos/env": app_id.split("/")[1],
            "pptv.dcos/name": fqdn,
            "pptv.dcos/port": port,
            "pptv.dcos/protocol": protocol,
            "pptv.dcos/ip": _ip(platform, app_id),
        }


def test_an_env_dns_answers_only_for_its_zones(platform):
    refused = subprocess.run(
        ["dig", "+time=2", "+tries=1", f"@{ENVS['func-shop']['dns_ip']}", "example.com", "A"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert "status: REFUSED" in refused.stdout
    assert _dig("nothing.pptv.lab", "func-shop") == []


def test_the_daemon_status_shows_every_env(platform):
    def status():
        envs = requests.get(f"http://{GATEWAY_HOST_IP}:9900/status", timeout=5).json()["environments"]
        return envs if all(envs[e]["apps"] for e in ENVS) else None

    envs = _wait(status, 60, "apps of every env on /status")
    assert {app["name"] for app in envs["func-shop"]["apps"]} == {"web.pptv.lab", "redis.pptv.lab"}
    assert envs["func-pay"]["dns"] == ENVS["func-pay"]["dns_ip"]
    assert envs["func-pay"]["dns_app"] == "/pptv-dcos/dns-func-pay"


def test_the_check_playbook_proves_every_name_of_an_env(platform):
    report = _run("check_discovery.yml", platform, {"env": "func-pay"})
    assert report["rc"] == 0, report["stdout"][-6000:]
    assert report["stats"]["lab-engine"]["failures"] == 0


def test_running_the_gateway_playbook_again_changes_nothing(platform):
    report = _run("gateway.yml", platform)
    assert report["rc"] == 0, report["stdout"][-6000:]
    assert {host: stats["changed"] for host, stats in report["stats"].items()} == {"gateway": 0, "lab-engine": 0}


def test_logs_land_on_the_gluster_logs_volume(platform):
    _deps("func-shop")
    log = LOGS_ROOT / "func-shop" / "web" / "web.log"
    assert _wait(lambda: log.exists() and "/deps" in log.read_text(), 30, "the sample's log line")
    brick = _brick_path("logs")
    on_brick = docker("exec", STORAGE_HOST, "cat", f"{brick}/func-shop/web/web.log").stdout
    assert "/deps" in on_brick


def _mount_client_pid(path):
    """PID of the glusterfs FUSE client serving ``path``."""
    found = subprocess.run(
        ["pgrep", "-f", "--", f"--volfile-id=/logs {path}$"], capture_output=True, text=True, check=False
    )
    (pid,) = found.stdout.split()
    return int(pid)


def test_site_remounts_a_stale_logs_mount_and_changes_nothing_else(platform):
    # A FUSE client killed hard leaves the mount point answering ENOTCONN.
    os.kill(_mount_client_pid(LOGS_ROOT), 9)
    with pytest.raises(OSError) as stale:
        _wait(lambda: not os.stat(LOGS_ROOT) and None, 10, "the mount to go stale")
    assert stale.value.errno == 107  # ENOTCONN
    report = _run("site.yml", platform)
    assert report["rc"] == 0, report["stdout"][-6000:]
    # Unmounted lazily and mounted again on this host; nothing else changed anywhere.
    assert {host: stats["changed"] for host, stats in report["stats"].items()} == {
        "gateway": 0,
        "storage": 0,
        "lab-engine": 2,
    }
    assert (LOGS_ROOT / "func-shop" / "web" / "web.log").exists()


def test_data_survives_a_task_kill(platform):
    app_id = "/func-shop/redis"
    ip = _ip(platform, app_id)
    assert _redis(ip, "SET", "pptvenvs-key", "kept")[0] == "+OK"
    (before,) = _containers_of(platform, app_id)
    docker("kill", before)
    after = _wait(lambda: (c := _containers_of(platform, app_id)) and c[0] != before and c[0], 90, "the relaunch")
    assert after != before
    assert _wait(lambda: _connects(ip, 6379), 60, "the relaunched Redis")
    assert _wait(lambda: _redis(ip, "GET", "pptvenvs-key")[:2] == ["$4", "kept"], 30, "the key after the relaunch")
    # The data sits on the Gluster data volume, not on this host.
    brick = _brick_path("data")
    listing = docker("exec", STORAGE_HOST, "ls", f"{brick}/func-shop/redis").stdout.split()
    assert any(name.startswith("appendonly") for name in listing), listing


def test_the_status_playbook_prints_a_table_per_env(platform):
    report = _run("status_env.yml", platform)
    assert report["rc"] == 0, report["stdout"][-6000:]
    assert report["stats"]["lab-engine"]["changed"] == 0
    out = report["stdout"]
    web_ip = _ip(platform, "/func-shop/web")
    redis_ip = _ip(platform, "/func-shop/redis")
    assert "/func-shop/web" in out and web_ip in out and "/func-pay/zookeeper" in out
    assert redis_ip in out  # the DNS answer for redis.pptv.lab in func-shop
    assert "1/1 healthy" in out


def test_deploying_again_changes_nothing(platform):
    report = _run("deploy_env.yml", platform, {"env": "func-pay"})
    assert report["rc"] == 0, report["stdout"][-6000:]
    assert {host: stats["changed"] for host, stats in report["stats"].items()} == {"lab-engine": 0}


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda c: c[3].update(dependencies=["api", "redis", "memcached"]), ["entry 3 (web)", "memcached"]),
        (lambda c: c.append(dict(c[0])), ["entry 5 (redis)", "redis"]),
        (
            lambda c: c.append(
                {"name": "web2", "image": "pptv-dcos/sample:bookworm", "port": 8080, "fqdn": "web.pptv.lab"}
            ),
            ["entry 5 (web2)", "port clash"],
        ),  # fmt: skip
        (None, ["Func_Shop"]),
    ],
    ids=["unknown-dependency", "duplicate-name", "port-clash", "bad-env-name"],
)
def test_bad_catalogue_input_fails_before_anything_is_deployed(platform, change, words):
    catalogue = yaml.safe_load((ROOT / "inventories" / "lab" / "group_vars" / "all.yml").read_text())["dcos_catalogue"]
    extra = {"env": "Func_Shop"}
    if change is not None:
        change(catalogue)
        extra = {"env": "func-shop", "dcos_catalogue": catalogue}
    before = requests.get(f"{platform['lab'].url}/v2/apps", timeout=10).json()["apps"]
    report = _run("deploy_env.yml", platform, extra)
    assert report["rc"] != 0
    for word in words:
        assert word in report["stdout"], report["stdout"][-4000:]
    after = requests.get(f"{platform['lab'].url}/v2/apps", timeout=10).json()["apps"]
    assert [(a["id"], a["version"]) for a in after] == [(a["id"], a["version"]) for a in before]


def test_a_relaunched_dns_task_gets_its_records_back(platform):
    dns_app = "/pptv-dcos/dns-func-pay"
    (before,) = _containers_of(platform, dns_app)
    docker("kill", before)
    _wait(lambda: (c := _containers_of(platform, dns_app)) and c[0] != before, 90, "the relaunched DNS task")
    # The daemon writes the env's own records and the fallback ones again.
    assert _wait(
        lambda: _dig("api.pptv.lab", "func-pay") == [ENVS["func-pay"]["gateway"]], 90, "api after the relaunch"
    )
    assert _wait(lambda: _dig("redis.pptv.lab", "func-pay") == [_ip(platform, "/int/redis")], 60, "redis after it")


def test_teardown_removes_one_env_and_leaves_the_others_working(platform):
    shop_ips = {_ip(platform, a) for a in _apps(platform, "/func-shop")}
    report = _run("teardown_env.yml", platform, {"env": "func-shop"})
    assert report["rc"] == 0, report["stdout"][-6000:]
    assert _apps(platform, "/func-shop") == []
    assert requests.get(f"{platform['lab'].url}/v2/groups/func-shop", timeout=10).status_code == 404
    allocations = json.loads(platform["pool"].read_text())["pools"]["pptvenvs"]["allocations"]
    assert not [a for a in allocations if a.startswith("/func-shop/")]
    assert not shop_ips & {v if isinstance(v, str) else v.get("ip") for v in allocations.values()}
    # Its names now mean int's, none of its own records is left.
    assert _wait(lambda: _dig("redis.pptv.lab", "func-shop") == [_ip(platform, "/int/redis")], 60, "redis fallback")
    assert _wait(lambda: _dig("web.pptv.lab", "func-shop") == [ENVS["int"]["gateway"]], 60, "web fallback")
    # The logs stay unless asked.
    assert (LOGS_ROOT / "func-shop" / "web" / "web.log").exists()
    # The other envs still work.
    assert _deps("int")["redis.pptv.lab"]["answer"] == "PONG"
    assert _deps("func-pay", "api.pptv.lab", 8081)["mariadb.pptv.lab"]["reached"]
    again = _run("teardown_env.yml", platform, {"env": "func-shop"})
    assert again["rc"] == 0, again["stdout"][-6000:]
    assert {host: stats["changed"] for host, stats in again["stats"].items()} == {"lab-engine": 0}


def test_an_app_deleted_and_deployed_again_gets_its_old_address_back(platform):
    before = _ip(platform, "/func-pay/api")
    requests.delete(f"{platform['lab'].url}/v2/apps/func-pay/api", timeout=10).raise_for_status()
    _wait(lambda: _app(platform, "/func-pay/api") is None, 60, "the app gone")
    report = _run("deploy_env.yml", platform, {"env": "func-pay"})
    assert report["rc"] == 0, report["stdout"][-6000:]
    assert _ip(platform, "/func-pay/api") == before
