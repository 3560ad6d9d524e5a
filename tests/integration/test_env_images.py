# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The environment images (scripts/images.sh) on the real Docker engine: sample, MariaDB, ZooKeeper, Redis.

A private bridge network ``pptvimg-net`` holds one environment at fixed addresses: Redis, MariaDB,
ZooKeeper and two sample containers playing ``/t/api`` and ``/t/web``. The production names
(``redis.pptv.lab``...) are mapped to those addresses with ``--add-host`` (an environment's DNS
server is tested elsewhere); every container's DNS server is its own loopback, or an address on
our network where nothing listens, so no query leaves the machine. Data and log directories are
bind-mounted from pytest's temporary directory, as deployments mount Gluster directories.
Everything is named ``pptvimg-*`` and removed before and after the module, even when it fails.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import time

import pytest
from kazoo.client import KazooClient
from support.procs import docker

PREFIX = "pptvimg-"
NET = PREFIX + "net"
SUBNET, GATEWAY = "10.212.30.0/24", "10.212.30.1"
IPS = {
    "redis": "10.212.30.11",
    "mariadb": "10.212.30.12",
    "zookeeper": "10.212.30.13",
    "api": "10.212.30.21",
    "web": "10.212.30.22",
    "down": "10.212.30.23",
    "stray": "10.212.30.24",
    "canary": "10.212.30.25",
}
NOBODY = "10.212.30.99"  # no container has this address
DEAD_DNS = "10.212.30.250"  # nor this one: a DNS server that never answers
HOSTS = (
    f"redis.pptv.lab:{IPS['redis']}",
    f"mariadb.pptv.lab:{IPS['mariadb']}",
    f"zookeeper.pptv.lab:{IPS['zookeeper']}",
    f"api.pptv.lab:{IPS['api']}",
)
IMAGES = {
    "redis": "pptv-dcos/redis:bookworm",
    "mariadb": "pptv-dcos/mariadb:bookworm",
    "zookeeper": "pptv-dcos/zookeeper:bookworm",
    "sample": "pptv-dcos/sample:bookworm",
}
DATA_DIRS = {"redis": "/data", "mariadb": "/var/lib/mysql", "zookeeper": "/var/lib/zookeeper"}
SQL = ["mariadb", "-usample", "-psample-not-a-secret", "-h127.0.0.1", "sample", "-N", "-B", "-e"]


def cleanup():
    names = docker("ps", "-aq", "--filter", f"name=^{PREFIX}").stdout.split()
    if names:
        docker("rm", "-f", "-v", *names)
    if docker("network", "inspect", NET).returncode == 0:
        docker("network", "rm", NET)


def wait_for(what, probe, timeout=90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if probe():
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"{what} did not come up within {timeout}s")


def tcp_ask(ip, port, data, timeout=3):
    with socket.create_connection((ip, port), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                break
            chunks.append(chunk)
            if data != b"srvr" and chunk.endswith(b"\r\n"):
                break
        return b"".join(chunks)


def redis(*words):
    """One Redis command over the protocol, from the host to the container; the reply line."""
    command = f"*{len(words)}\r\n".encode() + b"".join(f"${len(w)}\r\n{w}\r\n".encode() for w in words)
    return tcp_ask(IPS["redis"], 6379, command).decode()


def http_get(ip, port, path, timeout=30):
    conn = http.client.HTTPConnection(ip, port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


class Env:
    """The environment's containers; ``run(name)`` (re)creates one with its fixed address and mounts."""

    def __init__(self, root):
        self.root = root

    def data(self, name):
        path = self.root / f"data-{name}"
        path.mkdir(exist_ok=True)
        return path

    def logs(self, name):
        path = self.root / f"logs-{name}"
        path.mkdir(exist_ok=True)
        return path

    def run(self, name, image=None, env=(), hosts=HOSTS, dns="127.0.0.1"):
        args = ["run", "-d", "--name", PREFIX + name, "--network", NET, "--ip", IPS[name], "--dns", dns]
        args += [f"--add-host={host}" for host in hosts]
        args += [f"--env={item}" for item in env]
        if name in DATA_DIRS:
            args += ["-v", f"{self.data(name)}:{DATA_DIRS[name]}"]
        else:
            args += ["-v", f"{self.logs(name)}:/home/logs"]
        proc = docker(*args, image or IMAGES[name])
        assert proc.returncode == 0, proc.stderr
        self.wait(name)

    def wait(self, name):
        ip = IPS[name]
        if name == "redis":
            wait_for(name, lambda: redis("PING") == "+PONG\r\n")
        elif name == "mariadb":
            wait_for(name, lambda: docker("exec", PREFIX + name, *SQL, "SELECT 1").stdout.strip() == "1")
        elif name == "zookeeper":
            wait_for(name, lambda: tcp_ask(ip, 2181, b"srvr").startswith(b"Zookeeper version"))
        else:
            port = 9000 if name == "stray" else 8081 if name in ("api", "down", "canary") else 8080
            wait_for(name, lambda: http_get(ip, port, "/health", timeout=2) == (200, "ok\n"))

    def stop(self, name):
        """``docker stop`` (SIGTERM, then SIGKILL after 30 s); the exit code, the container removed."""
        assert docker("stop", "-t", "30", PREFIX + name).returncode == 0
        code = docker("inspect", "-f", "{{.State.ExitCode}}", PREFIX + name).stdout.strip()
        docker("rm", "-f", "-v", PREFIX + name)
        return int(code)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    cleanup()
    missing = [image for image in IMAGES.values() if docker("image", "inspect", image).returncode != 0]
    assert not missing, f"images missing (make setup builds them): {missing}"
    proc = docker("network", "create", "--subnet", SUBNET, "--gateway", GATEWAY, NET)
    assert proc.returncode == 0, proc.stderr
    try:
        environment = Env(tmp_path_factory.mktemp(PREFIX + "env"))
        for name in ("redis", "mariadb", "zookeeper"):
            environment.run(name)
        environment.run("api", IMAGES["sample"], ["MARATHON_APP_ID=/t/api"])
        environment.run("web", IMAGES["sample"], ["MARATHON_APP_ID=/t/web"])
        yield environment
    finally:
        cleanup()


def deps_of(name, port):
    status, body = http_get(IPS[name], port, "/deps")
    assert status == 200, body
    return json.loads(body)


def by_name(answer):
    return {dep["name"]: dep for dep in answer["deps"]}


def test_root_and_health_answer_the_app_id(env):
    assert http_get(IPS["web"], 8080, "/") == (200, "/t/web\n")
    assert http_get(IPS["api"], 8081, "/") == (200, "/t/api\n")
    assert http_get(IPS["web"], 8080, "/health") == (200, "ok\n")
    assert http_get(IPS["web"], 8080, "/nothing-here")[0] == 404


def test_web_reaches_api_and_redis(env):
    answer = deps_of("web", 8080)
    assert answer["app"] == "/t/web" and answer["service"] == "web"
    deps = by_name(answer)
    assert [dep["name"] for dep in answer["deps"]] == ["api.pptv.lab", "redis.pptv.lab"]
    api, cache = deps["api.pptv.lab"], deps["redis.pptv.lab"]
    assert api == {
        "name": "api.pptv.lab", "port": 8081, "kind": "http", "address": IPS["api"],
        "reached": True, "answer": "/t/api", "error": None,
    }  # fmt: skip
    assert cache == {
        "name": "redis.pptv.lab", "port": 6379, "kind": "redis", "address": IPS["redis"],
        "reached": True, "answer": "PONG", "error": None,
    }  # fmt: skip


def test_api_queries_mariadb_and_asks_zookeeper(env):
    answer = deps_of("api", 8081)
    assert answer["app"] == "/t/api" and answer["service"] == "api"
    deps = by_name(answer)
    assert set(deps) == {"mariadb.pptv.lab", "zookeeper.pptv.lab", "redis.pptv.lab"}
    for name, dep in deps.items():
        assert dep["reached"] is True and dep["error"] is None, dep
        assert dep["address"] == IPS[name.split(".")[0]], dep
    # The query ran on the server: its host name (the container's short ID) and the database.
    container_id = docker("inspect", "-f", "{{.Config.Hostname}}", PREFIX + "mariadb").stdout.strip()
    assert deps["mariadb.pptv.lab"]["answer"].split()[:2] == [container_id, "sample"]
    assert deps["mariadb.pptv.lab"]["kind"] == "mysql"
    assert deps["zookeeper.pptv.lab"]["answer"].startswith("Zookeeper version: 3.")
    assert deps["redis.pptv.lab"]["answer"] == "PONG"


def test_unreachable_dependencies_are_reported_not_waited_for(env):
    # mariadb.pptv.lab names an address nobody has; zookeeper.pptv.lab is in no hosts entry and
    # the DNS server never answers; redis is there.
    hosts = [f"mariadb.pptv.lab:{NOBODY}", f"redis.pptv.lab:{IPS['redis']}"]
    env.run("down", IMAGES["sample"], ["MARATHON_APP_ID=/t/down", "SAMPLE_SERVICE=api"], hosts=hosts, dns=DEAD_DNS)
    answer = deps_of("down", 8081)  # the client waits up to 30 s; the server's bound is about 5 s
    assert answer["app"] == "/t/down" and answer["service"] == "api"
    deps = by_name(answer)
    mariadb, zookeeper, cache = deps["mariadb.pptv.lab"], deps["zookeeper.pptv.lab"], deps["redis.pptv.lab"]
    assert mariadb["address"] == NOBODY
    assert mariadb["reached"] is False and mariadb["answer"] is None and mariadb["error"], mariadb
    assert zookeeper["address"] is None
    assert zookeeper["reached"] is False and zookeeper["answer"] is None and zookeeper["error"], zookeeper
    assert cache["reached"] is True and cache["answer"] == "PONG", cache


def test_unknown_service_starts_without_dependencies(env):
    env.run("stray", IMAGES["sample"], ["MARATHON_APP_ID=/t/other", "SAMPLE_PORT=9000"])
    assert deps_of("stray", 9000) == {"app": "/t/other", "service": "other", "deps": []}
    assert "WARNING: service 'other' is not in" in docker("logs", PREFIX + "stray").stderr


def test_a_canary_plays_its_main_service(env):
    # A release's canary app /prod/api-canary-2 runs the same image as the service api.
    env.run("canary", IMAGES["sample"], ["MARATHON_APP_ID=/t/api-canary-2"])
    answer = deps_of("canary", 8081)  # api's port, from the config
    assert (answer["app"], answer["service"]) == ("/t/api-canary-2", "api")
    assert [dep["name"] for dep in answer["deps"]] == ["mariadb.pptv.lab", "zookeeper.pptv.lab", "redis.pptv.lab"]


def test_requests_are_logged_in_the_mounted_log_dir(env):
    http_get(IPS["web"], 8080, "/health?from=log-test")
    log = (env.logs("web") / "web.log").read_text().splitlines()
    # time, client (the host's address on the network), method, path, status
    line = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ " + re.escape(GATEWAY) + r" GET /health\?from=log-test 200")
    assert any(line.fullmatch(entry) for entry in log), log
    assert "GET /health?from=log-test 200" in docker("logs", PREFIX + "web").stdout


def test_sample_stops_on_sigterm(env):
    docker("rm", "-f", PREFIX + "stray")
    env.run("stray", IMAGES["sample"], ["MARATHON_APP_ID=/t/other", "SAMPLE_PORT=9000"])
    # Exit status 0, not 137: it ended on SIGTERM, before docker stop's SIGKILL.
    assert env.stop("stray") == 0


def test_redis_data_survives_a_new_container(env):
    assert redis("SET", "pptvimg-key", "kept") == "+OK\r\n"
    assert env.stop("redis") == 0
    env.run("redis")
    assert redis("GET", "pptvimg-key") == "$4\r\nkept\r\n"
    assert any(env.data("redis").glob("appendonlydir/*.aof")), list(env.data("redis").iterdir())


def test_mariadb_rows_survive_a_new_container(env):
    sql = "CREATE TABLE IF NOT EXISTS kept (id INT PRIMARY KEY, v VARCHAR(20)); INSERT INTO kept VALUES (1, 'row-one');"
    proc = docker("exec", PREFIX + "mariadb", *SQL, sql)
    assert proc.returncode == 0, proc.stderr
    assert env.stop("mariadb") == 0
    env.run("mariadb")
    assert docker("exec", PREFIX + "mariadb", *SQL, "SELECT v FROM kept WHERE id = 1").stdout.strip() == "row-one"
    assert "keeping the existing data directory" in docker("logs", PREFIX + "mariadb").stderr
    # And the application still reaches it with its baked credentials.
    assert by_name(deps_of("api", 8081))["mariadb.pptv.lab"]["reached"] is True


def test_zookeeper_znode_survives_a_new_container(env):
    client = KazooClient(hosts=f"{IPS['zookeeper']}:2181")
    client.start(timeout=15)
    try:
        client.create("/pptvimg", b"kept")
    finally:
        client.stop()
        client.close()
    assert (env.data("zookeeper") / "myid").read_text().strip() == "1"
    env.stop("zookeeper")  # the JVM ends through its shutdown hooks (exit status 143)
    env.run("zookeeper")
    client = KazooClient(hosts=f"{IPS['zookeeper']}:2181")
    client.start(timeout=15)
    try:
        assert client.get("/pptvimg")[0] == b"kept"
    finally:
        client.stop()
        client.close()
