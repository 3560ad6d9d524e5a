# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The discovery daemon as a host process against a private lab, with real BIND, Nginx, ZooKeeper.

* The lab (``lab_instance("pptvsd-")``) runs the apps as Docker containers.
* Env ``int``'s DNS is the ``pptv-dcos/bind:bookworm`` image run **as a Marathon app** of the lab
  on a fixed IP of our own Docker network; env ``func-a``'s DNS is a ``named`` on loopback
  (``tests/support/bind.py``). Both hold the same TSIG key.
* One Nginx master on loopback serves both gateways (``127.0.57.1`` for int, ``127.0.57.2`` for
  func-a); the daemon writes its ``conf.d``.
* ZooKeeper elects the DNS writer; a second daemon (its own, never-started Nginx configuration,
  validated only) is the standby.

Every claim is observed independently of the daemon: ``dig``-style queries with dnspython to each
DNS server, HTTP requests through the gateway, the files in ``conf.d``, Nginx's own error log
(one "SIGHUP received" line per reload) and BIND's statistics (UPDATE messages received).

The tests run in order and build on each other (one environment for the module, to keep the
wall time small).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest
import requests
from support import nginx as support_nginx
from support.bind import Bind
from support.bind import clean_stale as clean_stale_bind
from support.lab import ROOT, lab_instance
from support.procs import docker, free_port, pid_alive
from support.zk_server import start_zookeeper

PREFIX = "pptvsd-"
NETWORK = "pptvsd-net"
SUBNETS = ("10.239.71.0/24", "10.239.72.0/24", "10.239.73.0/24")
NGINX = support_nginx.NGINX
KEY_NAME = "pptvsd-key"
INT_GATEWAY = "127.0.57.1"
FUNC_GATEWAY = "127.0.57.2"
HTTP_PORT = 18080
DB_PORT = 15432
BIND_IMAGE = "pptv-dcos/bind:bookworm"
APP_IMAGE = "pptv-dcos/app:bookworm"
ZONE = "example.com"
SERVE = 'mkdir -p /srv && echo "$MESOS_TASK_ID" > /srv/index.html && cd /srv && exec python3 -m http.server {port}'

pytestmark = pytest.mark.timeout(300)


def wait_for(predicate, what, timeout=60.0, interval=0.2):
    """Poll until ``predicate()`` is truthy (a bound on waiting, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
        except Exception as exc:  # noqa: BLE001 (shown if the wait times out)
            last = exc
        else:
            if last:
                return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last value: {last!r}")


# -- the world -------------------------------------------------------------------------------------


class NginxMaster(support_nginx.NginxMaster):
    def __init__(self, root, run=True):
        super().__init__(root, http_extra="    proxy_connect_timeout 2s;", run=run)

    def files(self):
        return {p.name: p.read_text() for p in sorted(self.confd.glob("upstream-*.conf"))}


class DaemonProcess:
    def __init__(self, root, config):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.config_path = self.root / "discovery.json"
        self.config_path.write_text(json.dumps(config, indent=2))
        self.port = int(config["listen"].rsplit(":", 1)[1])
        self.log_path = self.root / "daemon.log"
        self.proc = None

    def start(self):
        env = dict(os.environ, PYTHONPATH=str(ROOT / ".collections"))
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child writes to it while it lives
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ansible_collections.pptv.dcos.plugins.module_utils._discovery_daemon",
                "--config",
                str(self.config_path),
                "--log-level",
                "DEBUG",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        log.close()
        wait_for(lambda: self.status()["last_sync"], f"the daemon's first sync; log:\n{self.log()}", 60)
        return self

    def status(self):
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"the daemon exited with {self.proc.returncode}:\n{self.log()}")
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/status", timeout=5) as response:
            return json.load(response)

    def metrics(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as response:
            return response.read().decode()

    def log(self):
        return self.log_path.read_text(errors="replace")[-6000:] if self.log_path.exists() else ""

    def stop(self, sig=signal.SIGTERM):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


class World:
    pass


def _create_network():
    docker("network", "rm", NETWORK)
    for subnet in SUBNETS:
        gateway = subnet.replace("0/24", "1")
        # Dynamic addresses from the upper half only: the fixed IPs (.53, .60) stay free.
        ip_range = subnet.replace("0/24", "128/25")
        made = docker("network", "create", "--subnet", subnet, "--ip-range", ip_range, "--gateway", gateway, NETWORK)
        if made.returncode == 0:
            return subnet.rsplit(".", 1)[0]
    raise RuntimeError(f"cannot create the Docker network {NETWORK}: {made.stderr}")


def _daemon_config(w, root, nginx, reload=True):
    return {
        "marathon": {"urls": [w.lab.url], "timeout": 10, "stream_timeout": 5},
        "listen": f"127.0.0.1:{free_port()}",
        "state_dir": str(Path(root) / "state"),
        "min_interval": 0.5,
        "resync_interval": 300,
        "retry_interval": 0.5,
        "nginx": {"conf_dir": str(nginx.confd), "nginx_binary": NGINX, "nginx_conf": str(nginx.conf), "reload": reload},
        "dns": {
            "key_name": KEY_NAME,
            "key_secret": w.key_secret,
            "key_algorithm": "hmac-sha256",
            "ttl": 30,
            "timeout": 2,
        },
        "zookeeper": {"hosts": w.zk.hosts, "path": "/pptvsd/dns-writer", "session_timeout": 4},
        "environments": {
            "int": {
                "zones": [ZONE],
                "gateway": INT_GATEWAY,
                "dns_server": w.int_dns_ip,
                "dns_port": 53,
                "dns_app": "/int/dns",
            },
            "func-a": {
                "zones": [ZONE],
                "gateway": FUNC_GATEWAY,
                "dns_server": "127.0.0.1",
                "dns_port": w.func_dns.port,
            },
        },
        "fallback_env": "int",
    }


@pytest.fixture(scope="module")
def world():
    clean_stale_bind()
    for stale in Path(tempfile.gettempdir()).glob(PREFIX + "e2e-*"):
        owner = stale.name.rsplit("-", 1)[-1]
        if not (owner.isdigit() and pid_alive(int(owner))):
            shutil.rmtree(stale, ignore_errors=True)
    # Our own directory (kept after a failed run for its logs; removed by the next run).
    root = Path(tempfile.mkdtemp(prefix=f"{PREFIX}e2e-", suffix=f"-{os.getpid()}"))
    w = World()
    w.root = root
    w.key_secret = base64.b64encode(os.urandom(32)).decode()
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        # The network first, so that it is removed last (after the lab removed its containers).
        net = _create_network()
        stack.callback(docker, "network", "rm", NETWORK)
        w.lab = stack.enter_context(lab_instance(PREFIX))
        w.api = requests.Session()
        w.int_dns_ip = f"{net}.53"
        w.db_ip = f"{net}.60"
        w.zk = start_zookeeper(root / "zk", tag=PREFIX)
        stack.callback(w.zk.stop)
        w.func_dns = Bind(zones=(ZONE,), key_name=KEY_NAME)
        w.func_dns.key_secret = w.key_secret
        w.func_dns.start()
        stack.callback(w.func_dns.stop)
        w.nginx = NginxMaster(root / "nginx-a").start()
        stack.callback(w.nginx.stop)
        w.nginx_b = NginxMaster(root / "nginx-b", run=False)
        # The int env's DNS server: our BIND image as a Marathon app on a fixed IP.
        put(
            w,
            "/int/dns",
            {
                "container": {
                    "type": "DOCKER",
                    "docker": {
                        "image": BIND_IMAGE,
                        "parameters": [{"key": "net", "value": NETWORK}, {"key": "ip", "value": w.int_dns_ip}],
                    },
                },
                "env": {
                    "PPTV_DNS_ZONES": ZONE,
                    "PPTV_DNS_KEY_NAME": KEY_NAME,
                    "PPTV_DNS_KEY_SECRET": w.key_secret,
                    "PPTV_DNS_NS_ADDRESS": w.int_dns_ip,
                },
                "cpus": 0.1,
                "mem": 64,
                "instances": 1,
            },
        )
        wait_for(lambda: query(w.int_dns_ip, 53, ZONE, "SOA")[0] == "NOERROR", "the int DNS app to answer")
        w.daemon_a = DaemonProcess(root / "daemon-a", _daemon_config(w, root / "daemon-a", w.nginx))
        stack.callback(lambda: w.daemon_a.stop(signal.SIGKILL))
        w.daemon_a.start()
        wait_for(lambda: w.daemon_a.status()["dns_writer"], "daemon A to become the DNS writer", 30)
        w.daemon_b = None
        stack.callback(lambda: w.daemon_b and w.daemon_b.stop(signal.SIGKILL))
        print(f"\n[pptvsd] setup took {time.monotonic() - started:.1f} s")
        yield w
        print(f"[pptvsd] module took {time.monotonic() - started:.1f} s")


# -- helpers ---------------------------------------------------------------------------------------


def put(w, app_id, body):
    response = w.api.put(f"{w.lab.url}/v2/apps{app_id}", json=dict(body, id=app_id), timeout=30)
    assert response.status_code in (200, 201), response.text
    return response.json()


def tasks(w, app_id):
    response = w.api.get(f"{w.lab.url}/v2/apps{app_id}/tasks", timeout=30)
    return response.json().get("tasks", []) if response.status_code == 200 else []


def running(w, app_id, count):
    found = [t for t in tasks(w, app_id) if t["state"] == "TASK_RUNNING"]
    return found if len(found) == count else None


def service(w, app_id, env, name, port, protocol="http", instances=1, ip=None, **labels):
    # On our network (never the host's: the gateway listens on the same port on loopback).
    parameters = [{"key": "net", "value": NETWORK}]
    if ip:
        parameters.append({"key": "ip", "value": ip})
    body = {
        "cmd": SERVE.format(port=port),
        "container": {"type": "DOCKER", "docker": {"image": APP_IMAGE, "parameters": parameters}},
        "cpus": 0.1,
        "mem": 32,
        "instances": instances,
        "labels": {
            "pptv.dcos/contract": "1",
            "pptv.dcos/env": env,
            "pptv.dcos/name": name,
            "pptv.dcos/port": str(port),
            "pptv.dcos/protocol": protocol,
            **({"pptv.dcos/ip": ip} if ip else {}),
            **{"pptv.dcos/" + key.replace("_", "-"): value for key, value in labels.items()},
        },
    }
    put(w, app_id, body)
    wait_for(lambda: running(w, app_id, instances), f"{app_id} to run {instances} task(s)")


def query(server, port, name, rdtype="A"):
    """``(rcode, sorted answers)`` straight from the server (no recursion)."""
    message = dns.message.make_query(name, rdtype)
    message.flags &= ~dns.flags.RD
    response = dns.query.udp(message, server, port=port, timeout=2)
    answers = sorted(r.to_text() for rrset in response.answer for r in rrset)
    return dns.rcode.to_text(response.rcode()), answers


def int_dns(w, name, rdtype="A"):
    return query(w.int_dns_ip, 53, name, rdtype)


def func_dns(w, name, rdtype="A"):
    return query("127.0.0.1", w.func_dns.port, name, rdtype)


def through_gateway(gateway, name, port=HTTP_PORT):
    request = urllib.request.Request(f"http://{gateway}:{port}/", headers={"Host": name})
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.read().decode().strip()


def task_ids(w, app_id):
    return sorted(t["id"] for t in tasks(w, app_id) if t["state"] == "TASK_RUNNING")


def upstream_servers(w, name):
    text = w.nginx.files().get(name, "")
    return sorted(line.strip() for line in text.splitlines() if line.strip().startswith("server ") and ":" in line)


# -- the tests -------------------------------------------------------------------------------------


def test_deploy_gives_dns_answers_and_requests_through_the_gateway(world):
    w = world
    service(w, "/int/web", "int", "web.example.com", HTTP_PORT, aliases="www.example.com")
    service(w, "/int/db", "int", "db.example.com", DB_PORT, protocol="tcp", ip=w.db_ip)
    service(w, "/func-a/web", "func-a", "web.example.com", HTTP_PORT)
    wait_for(lambda: int_dns(w, "web.example.com") == ("NOERROR", [INT_GATEWAY]), "int web in int DNS")
    assert int_dns(w, "www.example.com") == ("NOERROR", [INT_GATEWAY])
    wait_for(lambda: int_dns(w, "db.example.com") == ("NOERROR", [w.db_ip]), "int db in int DNS")
    # func-a: its own web, int's db by fallback.
    wait_for(lambda: func_dns(w, "web.example.com") == ("NOERROR", [FUNC_GATEWAY]), "func-a web in func-a DNS")
    wait_for(lambda: func_dns(w, "db.example.com") == ("NOERROR", [w.db_ip]), "int db in func-a DNS (fallback)")
    assert func_dns(w, "www.example.com") == ("NOERROR", [INT_GATEWAY])  # func-a lacks www: int's gateway
    assert int_dns(w, "nothing.example.com")[0] == "NXDOMAIN"
    # Requests through each env's gateway reach that env's task.
    int_task, func_task = task_ids(w, "/int/web")[0], task_ids(w, "/func-a/web")[0]
    wait_for(lambda: through_gateway(INT_GATEWAY, "web.example.com") == int_task, "int web through the gateway")
    assert through_gateway(INT_GATEWAY, "www.example.com") == int_task
    wait_for(lambda: through_gateway(FUNC_GATEWAY, "web.example.com") == func_task, "func-a web through the gateway")
    assert w.nginx.test_config().returncode == 0
    status = w.daemon_a.status()
    assert status["last_error"] is None, status["last_error"]
    assert [a["app_id"] for a in status["environments"]["int"]["apps"]] == ["/int/db", "/int/web"]
    assert status["environments"]["int"]["dns"] == w.int_dns_ip


def test_scale_up_and_down(world):
    w = world
    name = "upstream-int_web.example.com_18080.conf"
    put(w, "/int/web", {"instances": 3})
    wait_for(lambda: running(w, "/int/web", 3), "3 web tasks")
    wait_for(lambda: len(upstream_servers(w, name)) == 3, "3 servers in the upstream")
    ips = sorted(t["ipAddresses"][0]["ipAddress"] for t in tasks(w, "/int/web"))
    assert upstream_servers(w, name) == sorted(f"server {ip}:{HTTP_PORT};" for ip in ips)
    seen = wait_for(
        lambda: len({through_gateway(INT_GATEWAY, "web.example.com") for _attempt in range(12)}) == 3,
        "requests to reach all three tasks",
    )
    assert seen
    put(w, "/int/web", {"instances": 1})
    wait_for(lambda: running(w, "/int/web", 1) and len(tasks(w, "/int/web")) == 1, "1 web task")
    wait_for(lambda: len(upstream_servers(w, name)) == 1, "1 server in the upstream")
    (only,) = task_ids(w, "/int/web")
    wait_for(lambda: through_gateway(INT_GATEWAY, "web.example.com") == only, "the remaining task")


def test_a_killed_task_is_replaced_in_the_upstream(world):
    w = world
    name = "upstream-int_web.example.com_18080.conf"
    (old,) = task_ids(w, "/int/web")
    old_ip = tasks(w, "/int/web")[0]["ipAddresses"][0]["ipAddress"]
    response = w.api.delete(f"{w.lab.url}/v2/apps/int/web/tasks/{old}", timeout=30)
    assert response.status_code == 200, response.text
    new = wait_for(lambda: [t for t in task_ids(w, "/int/web") if t != old], "a replacement task")
    new_ip = next(t["ipAddresses"][0]["ipAddress"] for t in tasks(w, "/int/web") if t["id"] == new[0])
    wait_for(
        lambda: upstream_servers(w, name) == [f"server {new_ip}:{HTTP_PORT};"], "the upstream to hold the new task"
    )
    if old_ip != new_ip:
        assert old_ip not in w.nginx.files()[name]
    wait_for(lambda: through_gateway(INT_GATEWAY, "web.example.com") == new[0], "requests to reach the new task")


def test_a_deleted_app_leaves_dns_and_nginx(world):
    w = world
    service(w, "/int/tmp", "int", "tmp.example.com", HTTP_PORT)
    wait_for(lambda: int_dns(w, "tmp.example.com") == ("NOERROR", [INT_GATEWAY]), "tmp in int DNS")
    wait_for(lambda: func_dns(w, "tmp.example.com") == ("NOERROR", [INT_GATEWAY]), "tmp in func-a DNS")
    assert w.api.delete(f"{w.lab.url}/v2/apps/int/tmp", timeout=30).status_code == 200
    wait_for(lambda: int_dns(w, "tmp.example.com")[0] == "NXDOMAIN", "tmp to leave int DNS")
    wait_for(lambda: func_dns(w, "tmp.example.com")[0] == "NXDOMAIN", "tmp to leave func-a DNS")
    wait_for(lambda: "upstream-int_tmp.example.com_18080.conf" not in w.nginx.files(), "tmp's upstream to go")


def test_hostile_labels_quarantine_that_app_only(world):
    w = world
    service(w, "/int/evil", "int", "evil.example.com;include", HTTP_PORT)
    service(w, "/int/api", "int", "api.example.com", HTTP_PORT)  # another app, deployed meanwhile
    service(w, "/int/dup", "int", "api.example.com", HTTP_PORT)  # claims api's name later
    wait_for(lambda: int_dns(w, "api.example.com") == ("NOERROR", [INT_GATEWAY]), "api in int DNS")
    status = wait_for(
        lambda: (s := w.daemon_a.status())
        and {q["app_id"] for q in s["quarantined"]} == {"/int/evil", "/int/dup"}
        and s,
        "evil and dup quarantined",
    )
    reasons = {q["app_id"]: q["reason"] for q in status["quarantined"]}
    assert "forbidden character ';'" in reasons["/int/evil"]
    assert "already claimed in env int by /int/api" in reasons["/int/dup"]
    wait_for(lambda: int_dns(w, "evil.example.com")[0] == "NXDOMAIN", "evil to leave DNS")
    assert "include" not in "".join(w.nginx.files().values())
    api_task = task_ids(w, "/int/api")[0]
    wait_for(lambda: through_gateway(INT_GATEWAY, "api.example.com") == api_task, "api through the gateway")
    assert w.nginx.test_config().returncode == 0
    assert "pptv_discovery_quarantined_apps 2" in w.daemon_a.metrics()
    for app_id in ("/int/evil", "/int/dup"):
        w.api.delete(f"{w.lab.url}/v2/apps{app_id}", timeout=30)


def test_the_env_dns_task_killed_comes_back_empty_and_is_refilled(world):
    w = world
    (old,) = task_ids(w, "/int/dns")
    assert w.api.delete(f"{w.lab.url}/v2/apps/int/dns/tasks/{old}", timeout=30).status_code == 200
    wait_for(lambda: [t for t in task_ids(w, "/int/dns") if t != old], "Marathon to relaunch the DNS task")
    # The relaunched BIND starts with an empty zone; the daemon notices and rewrites it.
    wait_for(lambda: int_dns(w, "web.example.com") == ("NOERROR", [INT_GATEWAY]), "web back in int DNS", 60)
    wait_for(lambda: int_dns(w, "db.example.com") == ("NOERROR", [w.db_ip]), "db back in int DNS")
    assert int_dns(w, "api.example.com") == ("NOERROR", [INT_GATEWAY])
    assert int_dns(w, f"_pptv-discovery.{ZONE}", "TXT")[0] == "NOERROR"


def test_lab_api_restart_drops_the_stream_and_the_daemon_reconverges(world):
    w = world
    before = w.daemon_a.status()["stream_reconnects"]
    w.lab.restart()
    wait_for(lambda: w.daemon_a.status()["stream_reconnects"] > before, "the daemon to reattach the stream")
    service(w, "/int/after", "int", "after.example.com", HTTP_PORT)
    wait_for(lambda: int_dns(w, "after.example.com") == ("NOERROR", [INT_GATEWAY]), "after in int DNS")
    after_task = task_ids(w, "/int/after")[0]
    wait_for(lambda: through_gateway(INT_GATEWAY, "after.example.com") == after_task, "after through the gateway")


def settle(w):
    """Wait until the daemon has nothing pending: two status reads a sync apart agree."""
    first = w.daemon_a.status()["syncs"]
    time.sleep(1.5)
    return w.daemon_a.status()["syncs"] == first


def test_a_daemon_restart_with_nothing_changed_reloads_nothing_and_updates_nothing(world):
    w = world
    wait_for(lambda: settle(w), "the daemon to settle")
    reloads, func_updates = w.nginx.reloads(), w.func_dns.updates_received()
    files = w.nginx.files()
    w.daemon_a.stop()
    w.daemon_a.start()
    wait_for(lambda: w.daemon_a.status()["dns_writer"], "daemon A to be the DNS writer again", 30)
    wait_for(lambda: w.daemon_a.status()["syncs"] >= 2 and settle(w), "the full resync as writer")
    status = w.daemon_a.status()
    assert status["nginx_reloads"] == 0 and status["dns_updates"] == 0, status
    assert w.nginx.reloads() == reloads
    assert w.func_dns.updates_received() == func_updates
    assert w.nginx.files() == files
    assert status["last_error"] is None


def test_the_standby_writes_when_the_writer_dies(world):
    w = world
    w.daemon_b = DaemonProcess(w.root / "daemon-b", _daemon_config(w, w.root / "daemon-b", w.nginx_b, reload=False))
    w.daemon_b.start()
    assert w.daemon_b.status()["dns_writer"] is False
    # The standby keeps its own Nginx files (validated, never reloaded here).
    wait_for(lambda: "upstream-int_web.example.com_18080.conf" in w.nginx_b.files(), "the standby's Nginx files")
    w.daemon_a.stop(signal.SIGKILL)  # no clean session end: ZooKeeper expires it
    wait_for(lambda: w.daemon_b.status()["dns_writer"], "the standby to take the writer lock", 60)
    service(w, "/int/late", "int", "late.example.com", DB_PORT, protocol="tcp")
    late_ip = tasks(w, "/int/late")[0]["ipAddresses"][0]["ipAddress"]
    wait_for(lambda: int_dns(w, "late.example.com") == ("NOERROR", [late_ip]), "the standby to write late")
    wait_for(lambda: func_dns(w, "late.example.com") == ("NOERROR", [late_ip]), "late in func-a by fallback")
    assert w.daemon_b.status()["dns_updates"] > 0
