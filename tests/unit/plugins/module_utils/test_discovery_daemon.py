# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The discovery daemon with fakes only at its transport boundaries.

* Marathon: the HTTP opener (``open_url``'s signature) answers from a mutable app list.
* Nginx: the command runner answers ``nginx -t`` (and refuses a configuration holding a marker)
  and counts reloads; files are real, in a temporary directory.
* DNS: ``_dns.Client._exchange`` (the wire) is answered by an in-memory authoritative server
  that applies UPDATE messages, so ``_dns.converge`` runs unchanged.
"""

from __future__ import annotations

import io
import json
import os
import threading
import time
import urllib.request
from email.message import Message
from urllib.error import HTTPError, URLError

import dns.message
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import pytest
from kazoo.client import KazooState

from ansible_collections.pptv.dcos.plugins.module_utils import _discovery_daemon as daemon_mod
from ansible_collections.pptv.dcos.plugins.module_utils import _dns
from ansible_collections.pptv.dcos.plugins.module_utils._errors import DcosError

MARATHON = "http://marathon.test:8080"


# -- Marathon transport ----------------------------------------------------------------------------


class FakeResponse:
    def __init__(self, status, body, lines=None):
        self.status = status
        self._body = body
        self._lines = lines
        self.headers = Message()
        self.closed = False

    def read(self):
        return self._body

    def getcode(self):
        return self.status

    def __iter__(self):
        return iter(self._lines or [])

    def close(self):
        self.closed = True


class FakeMarathon:
    """``open_url`` stand-in: GET /v2/apps answers ``apps`` (or ``failure``); /v2/events a script."""

    def __init__(self, apps=()):
        self.apps = list(apps)
        self.failure = None  # an exception to raise, or bytes to answer instead of JSON
        self.calls = []
        self.streams = []  # list of lists of SSE lines, one per connection
        self.gate = None

    def __call__(self, url, data=None, headers=None, method="GET", timeout=None, **_kw):
        self.calls.append((method, url, (headers or {}).get("Accept")))
        if url.startswith(MARATHON + "/v2/events"):
            if not self.streams:
                raise URLError(ConnectionRefusedError(111, "Connection refused"))
            return FakeResponse(200, b"", lines=self.streams.pop(0))
        assert url.startswith(MARATHON + "/v2/apps?embed=apps.tasks"), url
        if self.gate is not None:
            self.gate.wait(10)
        failure = self.failure
        if isinstance(failure, bytes):
            return FakeResponse(200, failure)
        if failure is not None:
            raise failure
        return FakeResponse(200, json.dumps({"apps": self.apps}).encode())

    def app_gets(self):
        return sum(1 for _m, url, _a in self.calls if "/v2/apps" in url)


def http_error(status, body):
    return HTTPError(MARATHON + "/v2/apps", status, "error", Message(), io.BytesIO(body))


def task(task_id, ip, state="TASK_RUNNING", health=None):
    data = {"id": task_id, "state": state, "host": "agent1", "ipAddresses": [{"ipAddress": ip, "protocol": "IPv4"}]}
    if health is not None:
        data["healthCheckResults"] = [{"alive": health, "taskId": task_id}]
    return data


def app(app_id, name, port="8080", protocol="http", env="int", tasks=(), checks=0, **labels):
    data = {
        "id": app_id,
        "labels": {
            "pptv.dcos/contract": "1",
            "pptv.dcos/env": env,
            "pptv.dcos/name": name,
            "pptv.dcos/port": port,
            "pptv.dcos/protocol": protocol,
            **{"pptv.dcos/" + k.replace("_", "-"): v for k, v in labels.items()},
        },
        "version": "2026-01-01T00:00:00.000Z",
        "versionInfo": {"lastConfigChangeAt": "2026-01-01T00:00:00.000Z"},
        "tasks": list(tasks),
    }
    if checks:
        data["healthChecks"] = [{"protocol": "MESOS_HTTP"}]
    return data


# -- Nginx runner --------------------------------------------------------------------------------


class FakeNginx:
    """Answers ``nginx -t`` (refusing files that hold ``refuse``) and counts reloads."""

    def __init__(self, conf_dir):
        self.conf_dir = conf_dir
        self.refuse = None
        self.name_the_file = True
        self.tests = 0
        self.reloads = 0

    def __call__(self, argv):
        if "-t" in argv:
            self.tests += 1
            if self.refuse:
                for entry in sorted(os.listdir(self.conf_dir)):
                    path = os.path.join(self.conf_dir, entry)
                    with open(path, encoding="utf-8") as handle:
                        if entry.endswith(".conf") and self.refuse in handle.read():
                            where = f" in {path}:3" if self.name_the_file else ""
                            return 1, "", f"2026/12/02 10:00:00 [emerg] 1#1: invalid thing{where}\n"
            return 0, "", "nginx: configuration file test is successful\n"
        if "reload" in argv:
            self.reloads += 1
            return 0, "", ""
        raise AssertionError(argv)


# -- DNS wire ------------------------------------------------------------------------------------


class FakeDnsServer:
    """An authoritative server in memory for some zones: answers queries, applies UPDATEs."""

    def __init__(self, zones):
        self.zones = [dns.name.from_text(z) for z in zones]
        self.data = {}
        self.updates = 0
        self.down = False
        self.reset()

    def reset(self):
        """A restart with an empty zone (SOA and NS only)."""
        self.data = {}
        for zone in self.zones:
            self.data[(zone, dns.rdatatype.SOA)] = dns.rrset.from_text(
                zone, 300, "IN", "SOA", f"ns1.{zone} hostmaster.{zone} 1 3600 600 86400 60"
            )

    def names(self, rdtype="A"):
        wanted = dns.rdatatype.from_text(rdtype)
        return {
            name.to_text(omit_final_dot=True): sorted(r.to_text() for r in rrset)
            for (name, t), rrset in self.data.items()
            if t == wanted
        }

    def _apply(self, message):
        self.updates += 1
        for rrset in message.update:
            key = (rrset.name, rrset.rdtype)
            current = self.data.get(key)
            if rrset.deleting is None:
                if current is None:
                    current = self.data[key] = dns.rrset.RRset(rrset.name, dns.rdataclass.IN, rrset.rdtype)
                current.update_ttl(rrset.ttl)
                for rdata in rrset:
                    current.add(rdata)
            elif rrset.deleting == dns.rdataclass.ANY:
                self.data.pop(key, None)
            elif current is not None:
                for rdata in rrset:
                    current.discard(rdata)
                if not len(current):
                    del self.data[key]

    def handle(self, message):
        if self.down:
            raise OSError(111, "Connection refused")
        response = dns.message.make_response(message)
        if message.opcode() == dns.opcode.UPDATE:
            self._apply(message)
            return response
        question = message.question[0]
        response.flags |= dns.flags.AA
        found = self.data.get((question.name, question.rdtype))
        zone = next((z for z in self.zones if question.name.is_subdomain(z)), None)
        if found is not None:
            response.answer.append(found)
        elif zone is None:
            response.set_rcode(dns.rcode.REFUSED)
        else:
            response.authority.append(self.data[(zone, dns.rdatatype.SOA)])
        return response


class FakeWireClient(_dns.Client):
    def __init__(self, server, **kw):
        super().__init__(["192.0.2.53"], **kw)
        self.server = server

    def _exchange(self, message, address):
        return self.server.handle(message)


# -- fixtures --------------------------------------------------------------------------------------


@pytest.fixture
def world(tmp_path):
    conf_dir = tmp_path / "nginx"
    conf_dir.mkdir()
    nginx_conf = tmp_path / "nginx.conf"
    nginx_conf.write_text("events {}\n")
    raw = {
        "marathon": {"urls": [MARATHON], "timeout": 5, "stream_timeout": 5},
        "listen": "127.0.0.1:0",
        "state_dir": str(tmp_path / "state"),
        "min_interval": 0,
        "nginx": {"conf_dir": str(conf_dir), "nginx_binary": "/bin/true", "nginx_conf": str(nginx_conf)},
        "dns": {"ttl": 60},
        "environments": {
            "int": {
                "zones": ["example.com"],
                "gateway": "10.0.0.10",
                "dns_server": "192.0.2.53",
                "dns_app": "/int/dns",
            },
            "func-a": {"zones": ["example.com"], "gateway": "10.0.0.11", "dns_server": "192.0.2.54"},
        },
    }

    class World:
        pass

    w = World()
    w.raw = raw
    w.tmp = tmp_path
    w.conf_dir = str(conf_dir)
    w.marathon = FakeMarathon()
    w.nginx = FakeNginx(str(conf_dir))
    w.dns = {"int": FakeDnsServer(["example.com"]), "func-a": FakeDnsServer(["example.com"])}

    def make(**overrides):
        config = daemon_mod.validate_config(dict(raw, **overrides))
        return daemon_mod.Daemon(
            config,
            opener=w.marathon,
            nginx_runner=w.nginx,
            dns_client_factory=lambda env: FakeWireClient(w.dns[env], timeout=1),
        )

    w.make = make
    return w


def files(conf_dir):
    out = {}
    for entry in sorted(os.listdir(conf_dir)):
        if entry.startswith("upstream-"):
            with open(os.path.join(conf_dir, entry), encoding="utf-8") as handle:
                out[entry] = handle.read()
    return out


API = app(
    "/int/api", "api.example.com", aliases="www.example.com", tasks=[task("a1", "10.1.0.1"), task("a2", "10.1.0.2")]
)
DB = app("/int/db", "db.example.com", port="3306", protocol="tcp", ip="10.1.0.50", tasks=[task("d1", "10.1.0.50")])
WEB_A = app("/func-a/web", "web.example.com", env="func-a", tasks=[task("w1", "10.2.0.1")])


# -- syncs -----------------------------------------------------------------------------------------


def test_a_sync_writes_nginx_and_each_envs_dns_and_a_second_changes_nothing(world):
    world.marathon.apps = [API, DB, WEB_A]
    d = world.make()
    assert d.sync(full=True) is True
    conf = files(world.conf_dir)
    assert sorted(conf) == ["upstream-func-a_web.example.com_8080.conf", "upstream-int_api.example.com_8080.conf"]
    assert "server 10.1.0.1:8080;" in conf["upstream-int_api.example.com_8080.conf"]
    assert "listen 10.0.0.11:8080;" in conf["upstream-func-a_web.example.com_8080.conf"]
    assert world.nginx.tests == 1 and world.nginx.reloads == 1
    assert world.dns["int"].names() == {
        "api.example.com": ["10.0.0.10"],
        "www.example.com": ["10.0.0.10"],
        "db.example.com": ["10.1.0.50"],
    }
    # func-a: its own web, int's names by fallback; int never sees func-a's web.
    assert world.dns["func-a"].names() == {
        "api.example.com": ["10.0.0.10"],
        "www.example.com": ["10.0.0.10"],
        "db.example.com": ["10.1.0.50"],
        "web.example.com": ["10.0.0.11"],
    }
    assert world.dns["int"].updates == 1 and world.dns["func-a"].updates == 1  # one batched UPDATE per zone
    assert world.dns["int"].names("TXT") == {"_pptv-discovery.example.com": ['"pptv-dcos-discovery contract 1"']}
    status = d.status()
    assert status["syncs"] == 1 and status["nginx_reloads"] == 1 and status["dns_updates"] == 2
    assert status["last_error"] is None and status["quarantined"] == []
    assert [a["app_id"] for a in status["environments"]["int"]["apps"]] == ["/int/api", "/int/db"]
    assert status["environments"]["int"]["apps"][0]["servers"] == ["10.1.0.1:8080", "10.1.0.2:8080"]
    assert status["environments"]["int"]["dns"] == "192.0.2.53"
    assert status["environments"]["int"]["gateway"] == "10.0.0.10"
    assert status["environments"]["func-a"]["records"] == 4
    # Nothing changed: no write, no nginx -t, no reload, no UPDATE.
    assert d.sync() is True
    assert world.nginx.tests == 1 and world.nginx.reloads == 1
    assert world.dns["int"].updates == 1 and world.dns["func-a"].updates == 1


def test_scale_kill_and_delete_follow_marathon(world):
    world.marathon.apps = [API, DB]
    d = world.make()
    d.sync(full=True)
    scaled = json.loads(json.dumps(API))
    scaled["tasks"].append(task("a3", "10.1.0.3"))
    world.marathon.apps = [scaled, DB]
    d.sync()
    assert "server 10.1.0.3:8080;" in files(world.conf_dir)["upstream-int_api.example.com_8080.conf"]
    assert world.dns["int"].updates == 1  # an http scale changes no DNS answer
    scaled["tasks"] = [t for t in scaled["tasks"] if t["id"] != "a1"]
    scaled["tasks"][0]["state"] = "TASK_KILLING"
    d.sync()
    text = files(world.conf_dir)["upstream-int_api.example.com_8080.conf"]
    assert "10.1.0.1" not in text and "10.1.0.2" not in text and "server 10.1.0.3:8080;" in text
    world.marathon.apps = [scaled]  # /int/db deleted
    d.sync()
    assert "db.example.com" not in world.dns["int"].names()
    assert "db.example.com" not in world.dns["func-a"].names()
    assert world.nginx.reloads == 3


def test_a_restart_with_nothing_changed_reloads_nothing_and_updates_nothing(world):
    world.marathon.apps = [API, DB, WEB_A]
    world.make().sync(full=True)
    reloads, updates = world.nginx.reloads, sum(s.updates for s in world.dns.values())
    again = world.make()  # same state_dir
    assert again.sync(full=True) is True
    assert world.nginx.reloads == reloads
    assert sum(s.updates for s in world.dns.values()) == updates


@pytest.mark.parametrize(
    "failure",
    [
        http_error(500, b'{"message": "boom"}'),
        b"<html>a login page</html>",
        b'{"apps": {"not": "a list"}}',
        b'{"apps": [{"id": "/int/api", "labels": {',
        URLError(ConnectionRefusedError(111, "Connection refused")),
    ],
)
def test_bad_answers_from_marathon_change_nothing(world, failure):
    world.marathon.apps = [API, DB]
    d = world.make()
    d.sync(full=True)
    before_files, before_dns = files(world.conf_dir), world.dns["int"].names()
    world.marathon.failure = failure
    assert d.sync() is False
    assert files(world.conf_dir) == before_files
    assert world.dns["int"].names() == before_dns
    assert d.status()["last_error"].startswith("marathon: ")


def test_a_half_written_app_keeps_what_was_applied_for_it(world):
    world.marathon.apps = [API, DB]
    d = world.make()
    d.sync(full=True)
    half = {k: v for k, v in DB.items() if k != "tasks"}
    moved = json.loads(json.dumps(API))
    moved["tasks"] = [task("a9", "10.1.0.9")]
    world.marathon.apps = [moved, half]
    assert d.sync() is True
    assert world.dns["int"].names()["db.example.com"] == ["10.1.0.50"]
    assert "server 10.1.0.9:8080;" in files(world.conf_dir)["upstream-int_api.example.com_8080.conf"]


def test_hostile_labels_quarantine_that_app_and_the_rest_updates(world):
    hostile = app("/int/evil", "evil.example.com;include/etc/passwd", tasks=[task("e", "10.1.0.66")])
    world.marathon.apps = [API, hostile]
    d = world.make()
    assert d.sync(full=True) is True
    assert [q["app_id"] for q in d.status()["quarantined"]] == ["/int/evil"]
    assert "forbidden character ';'" in d.status()["quarantined"][0]["reason"]
    assert "passwd" not in "".join(files(world.conf_dir).values())
    assert "api.example.com" in world.dns["int"].names()


@pytest.mark.parametrize("name_the_file", [True, False])
def test_an_app_that_breaks_nginx_t_is_quarantined_and_the_others_applied(world, name_the_file):
    world.marathon.apps = [API]
    d = world.make()
    d.sync(full=True)
    world.nginx.refuse = "10.1.0.99"
    world.nginx.name_the_file = name_the_file
    breaker = app("/int/breaker", "breaker.example.com", tasks=[task("b", "10.1.0.99")])
    grown = json.loads(json.dumps(API))
    grown["tasks"].append(task("a3", "10.1.0.3"))
    world.marathon.apps = [grown, breaker, WEB_A]
    assert d.sync() is True
    conf = files(world.conf_dir)
    assert "upstream-int_breaker.example.com_8080.conf" not in conf
    assert "server 10.1.0.3:8080;" in conf["upstream-int_api.example.com_8080.conf"]
    assert "upstream-func-a_web.example.com_8080.conf" in conf
    quarantined = {q["app_id"]: q["reason"] for q in d.status()["quarantined"]}
    assert "nginx -t refused its upstream int_breaker.example.com_8080" in quarantined["/int/breaker"]
    assert "breaker.example.com" not in world.dns["int"].names()
    assert world.nginx.reloads == 2
    # Sticky until the app changes: the next sync does not try it again.
    tests = world.nginx.tests
    d.sync()
    assert world.nginx.tests == tests
    # A new version of the app is tried again.
    fixed = json.loads(json.dumps(breaker))
    fixed["versionInfo"]["lastConfigChangeAt"] = "2026-06-01T00:00:00.000Z"
    fixed["tasks"] = [task("b2", "10.1.0.98")]
    world.marathon.apps = [grown, fixed, WEB_A]
    d.sync()
    assert "upstream-int_breaker.example.com_8080.conf" in files(world.conf_dir)
    assert d.status()["quarantined"] == []


def test_a_dns_server_that_restarted_empty_is_rewritten(world):
    world.marathon.apps = [API, DB]
    d = world.make()
    d.sync(full=True)
    world.dns["func-a"].reset()  # no event from its app: the sentinel tells
    d.sync()
    assert world.dns["func-a"].names()["db.example.com"] == ["10.1.0.50"]
    assert "_pptv-discovery.example.com" in world.dns["func-a"].names("TXT")


def test_a_new_task_of_the_dns_app_means_a_full_rewrite(world):
    dns_app = {"id": "/int/dns", "tasks": [task("dns1", "10.1.0.53")], "labels": {}}
    world.marathon.apps = [API, dns_app]
    d = world.make()
    d.sync(full=True)
    # Someone deletes a record behind the daemon's back and the DNS task is replaced.
    del world.dns["int"].data[(dns.name.from_text("api.example.com."), dns.rdatatype.A)]
    world.marathon.apps = [API, {"id": "/int/dns", "tasks": [task("dns2", "10.1.0.53")], "labels": {}}]
    d.sync()
    assert world.dns["int"].names()["api.example.com"] == ["10.0.0.10"]


def test_an_unreachable_dns_is_retried_and_other_envs_still_update(world):
    world.marathon.apps = [API]
    d = world.make()
    d.sync(full=True)
    world.dns["int"].down = True
    world.marathon.apps = [API, DB]
    assert d.sync() is False
    assert world.dns["func-a"].names()["db.example.com"] == ["10.1.0.50"]
    env = d.status()["environments"]["int"]
    assert env["dns_ok"] is False and "cannot reach any DNS server" in env["dns_error"]
    world.dns["int"].down = False
    world.dns["int"].reset()
    assert d.sync() is True  # the failed env is rewritten in full
    assert world.dns["int"].names()["db.example.com"] == ["10.1.0.50"]


def test_health_cache_survives_a_failover_and_a_daemon_restart(world):
    healthy = app("/int/api", "api.example.com", checks=1, tasks=[task("h1", "10.1.0.1", health=True)])
    world.marathon.apps = [healthy]
    world.make().sync(full=True)
    unknown = app("/int/api", "api.example.com", checks=1, tasks=[task("h1", "10.1.0.1")])
    world.marathon.apps = [unknown]
    d = world.make()
    d.sync(full=True)
    assert "server 10.1.0.1:8080;" in files(world.conf_dir)["upstream-int_api.example.com_8080.conf"]
    assert world.nginx.reloads == 1


def test_a_standby_writes_no_dns_and_its_takeover_deletes_what_is_gone(world):
    world.marathon.apps = [API, DB]
    writer = world.make()
    writer.sync(full=True)
    standby = world.make(state_dir=str(world.tmp / "standby"), zookeeper={"hosts": "127.0.0.1:1"})
    assert standby.writer is False
    standby.sync(full=True)
    assert world.dns["int"].updates == 1  # the standby only did Nginx
    # The writer dies; DB is deleted; the standby takes over.
    world.marathon.apps = [API]
    standby.sync()
    assert "db.example.com" in world.dns["int"].names()
    standby.set_writer(True)
    assert standby.full_pending is True
    standby.sync(full=True)
    assert "db.example.com" not in world.dns["int"].names()
    assert "db.example.com" not in world.dns["func-a"].names()


# -- worker, stream, HTTP ------------------------------------------------------------------------


def wait_for(predicate, what, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def test_events_during_a_sync_coalesce_into_one_pending_sync(world):
    world.marathon.apps = [API]
    d = world.make()
    d.sync(full=True)
    d.full_pending = d.dirty = False
    d.next_full = time.time() + 3600
    gate = threading.Event()
    world.marathon.gate = gate
    d.start(stream=False, http=False)
    try:
        gets = world.marathon.app_gets()
        d.mark_dirty(reason="first")
        wait_for(lambda: world.marathon.app_gets() == gets + 1, "the first sync to start")
        for i in range(200):
            d.mark_dirty(reason=f"event {i}")
        gate.set()
        wait_for(lambda: world.marathon.app_gets() == gets + 2 and not d.dirty, "the pending sync")
        time.sleep(0.2)  # a third sync would start now if events had queued
        assert world.marathon.app_gets() == gets + 2
    finally:
        d.stop()


def test_the_stream_filters_events_and_each_connection_triggers_a_full_resync(world):
    d = world.make()
    world.marathon.streams = [
        [b"event: status_update_event\r\n", b'data: {"taskId": "x"}\r\n', b"\r\n", b"\r\n"],
        [b"event: api_post_event\r\n", b"data: {}\r\n", b"\r\n"],
    ]
    d.stopping.clear()
    thread = threading.Thread(target=d.stream, daemon=True)
    thread.start()
    wait_for(lambda: d.counters["stream_reconnects"] == 2 and d.counters["events"] == 2, "two connections")
    d.stop()
    thread.join(10)
    stream_calls = [c for c in world.marathon.calls if "/v2/events" in c[1]]
    url = stream_calls[0][1]
    assert "event_type=status_update_event" in url and "event_type=api_post_event" in url
    assert "event_stream_attached" not in url
    assert stream_calls[0][2] == "text/event-stream"
    assert d.full_pending is True


def test_status_and_metrics_over_http(world):
    world.marathon.apps = [API, app("/int/bad", "bad.example.com", port="0")]
    d = world.make()
    d.sync(full=True)
    d.start(stream=False)
    try:
        wait_for(lambda: d.http is not None and d.http.server_address[1] != 0, "the HTTP server")
        base = f"http://127.0.0.1:{d.http.server_address[1]}"
        with urllib.request.urlopen(base + "/status", timeout=5) as response:
            status = json.load(response)
        assert set(status) >= {
            "environments",
            "quarantined",
            "syncs",
            "nginx_reloads",
            "dns_updates",
            "last_sync",
            "last_error",
        }
        assert set(status["environments"]["int"]) >= {"dns", "dns_app", "gateway", "zones", "apps"}
        assert status["quarantined"][0]["app_id"] == "/int/bad"
        with urllib.request.urlopen(base + "/metrics", timeout=5) as response:
            metrics = response.read().decode()
        assert "pptv_discovery_nginx_reloads_total 1" in metrics
        assert "pptv_discovery_quarantined_apps 1" in metrics
        assert 'pptv_discovery_services{env="int"} 1' in metrics
        with pytest.raises(HTTPError):
            urllib.request.urlopen(base + "/nope", timeout=5)
    finally:
        d.stop()


# -- configuration ---------------------------------------------------------------------------------


def base_config():
    return {
        "marathon": {"urls": ["http://m:8080"]},
        "nginx": {"conf_dir": "/etc/nginx/pptv"},
        "environments": {"int": {"zones": ["example.com"], "gateway": "10.0.0.10", "dns_server": "10.0.0.53"}},
    }


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda c: c.update(bogus=1), "bogus: unknown key"),
        (lambda c: c.pop("marathon"), "marathon: required"),
        (lambda c: c["marathon"].update(urls=[]), "marathon.urls: must be a non-empty list"),
        (lambda c: c["marathon"].update(urls=["ftp://x"]), "marathon.urls: 'ftp://x' is not an http"),
        (lambda c: c["marathon"].update(timeout="10"), "marathon.timeout: '10' is not a finite number"),
        (lambda c: c["marathon"].update(timeout=float("nan")), "marathon.timeout"),
        (lambda c: c["marathon"].update(username="u"), "marathon.username: username and password go together"),
        (lambda c: c.update(listen="9900"), "listen: '9900' is not HOST:PORT"),
        (lambda c: c.update(min_interval=-1), "min_interval: -1 is outside"),
        (lambda c: c["nginx"].update(reload="yes"), "nginx.reload: 'yes' is not true or false"),
        (lambda c: c["nginx"].pop("conf_dir"), "nginx.conf_dir: required"),
        (lambda c: c.update(dns={"ttl": 1.5}), "dns.ttl: 1.5 is not an integer"),
        (lambda c: c.update(dns={"key_secret": "abc"}), "dns.key_name: required with key_secret"),
        (lambda c: c.update(dns={"key_algorithm": "rot13"}), "dns.key_algorithm"),
        (lambda c: c.update(environments={}), "environments: must be a non-empty mapping"),
        (lambda c: c["environments"].update(Prod={"zones": ["a.b"], "gateway": "10.0.0.1"}), "environments.Prod"),
        (
            lambda c: c["environments"]["int"].update(gateway="10.0.0.01"),
            "environments.int.gateway: '10.0.0.01' is not",
        ),
        (lambda c: c["environments"]["int"].update(zones=["Example.com."]), "environments.int.zones[0]"),
        (lambda c: c["environments"]["int"].update(dns_port=0), "environments.int.dns_port"),
        (lambda c: c["environments"]["int"].update(dns_app="dns"), "environments.int.dns_app"),
        (lambda c: c["environments"]["int"].update(extra=1), "environments.int.extra: unknown key"),
        (lambda c: c.update(fallback_env="prod"), "fallback_env: 'prod' is not one of"),
        (lambda c: c.update(zookeeper={"path": "/x"}), "zookeeper.hosts: required"),
        (lambda c: c.update(zookeeper={"hosts": "z:2181", "path": "x"}), "zookeeper.path"),
        (lambda c: c.update(zookeeper={"hosts": "z:99999"}), "zookeeper.hosts: must be 65535 or less"),
        (lambda c: c.update(zookeeper={"hosts": "z;rm:2181"}), "zookeeper.hosts: 'z;rm:2181' is not"),
    ],
)
def test_config_errors_name_the_key(change, expected):
    config = base_config()
    change(config)
    with pytest.raises(daemon_mod.ConfigError) as error:
        daemon_mod.validate_config(config)
    assert expected in str(error.value)


def test_config_defaults():
    config = daemon_mod.validate_config(base_config())
    assert config["min_interval"] == 1.0 and config["resync_interval"] == 300.0
    assert config["fallback_env"] == "int" and config["zookeeper"] is None
    assert config["listen"] == ("127.0.0.1", 9900)
    assert config["environments"]["int"]["dns_port"] == 53


def test_main_checks_a_config_file(tmp_path, capsys):
    good = tmp_path / "good.json"
    good.write_text(json.dumps(base_config()))
    assert daemon_mod.main(["--config", str(good), "--check-config"]) == 0
    assert "config OK" in capsys.readouterr().out
    bad = tmp_path / "bad.yml"
    bad.write_text("marathon: {urls: [http://m:8080]}\nnginx: {conf_dir: /x}\nenvironments: {int: {zones: [a.b]}}\n")
    assert daemon_mod.main(["--config", str(bad), "--check-config"]) == 2
    assert "environments.int.gateway: required" in capsys.readouterr().err
    assert daemon_mod.main(["--config", str(tmp_path / "missing.yml"), "--check-config"]) == 2


def test_a_corrupt_state_file_starts_from_scratch(tmp_path):
    path = tmp_path / "state.json"
    path.write_text("{not json")
    assert daemon_mod.read_state(str(path)) == daemon_mod.empty_state()
    daemon_mod.write_state(str(path), {"version": 1, "health": {"t": True}})
    assert daemon_mod.read_state(str(path))["health"] == {"t": True}


def test_unknown_dns_key_file_is_a_config_error(tmp_path):
    with pytest.raises(DcosError, match="key_file"):
        daemon_mod.make_tsig_key({"key_file": str(tmp_path / "none.key"), "key_algorithm": "hmac-sha256"})


def test_a_yaml_error_never_shows_the_line_that_holds_the_secret(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("dns:\n  key_secret: c2VjcmV0LXNlY3JldA==: x\n")
    with pytest.raises(DcosError) as caught:
        daemon_mod.load_config(str(bad))
    assert "c2VjcmV0" not in str(caught.value)
    assert "line 2" in str(caught.value)


class FakeKazoo:
    """Stands in for kazoo's client at the ZooKeeper boundary: a lock that is always granted, and
    the session events the test sends through the registered listener."""

    instances = []

    def __init__(self, hosts, timeout):
        self.listeners = []
        self.connected = True
        self.acquired = 0
        FakeKazoo.instances.append(self)

    def add_listener(self, listener):
        self.listeners.append(listener)

    def start(self, timeout):
        pass

    def stop(self):
        self.connected = False

    def close(self):
        pass

    def Lock(self, path, identifier):  # noqa: N802 (kazoo's name)
        client = self

        class Lock:
            def acquire(self, timeout):
                client.acquired += 1
                return True

            def release(self):
                pass

        return Lock()

    def send(self, state):
        for listener in self.listeners:
            listener(state)


def _wait_until(predicate, what, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def test_a_quick_zookeeper_reconnect_ends_the_term_and_the_lock_is_taken_again(world, monkeypatch):
    monkeypatch.setattr(daemon_mod, "KazooClient", FakeKazoo)
    FakeKazoo.instances.clear()
    daemon = world.make(zookeeper={"hosts": "127.0.0.1:2181"})
    elector = threading.Thread(target=daemon.elect, daemon=True)
    elector.start()
    try:
        _wait_until(lambda: daemon.writer, "the first term")
        zk = FakeKazoo.instances[0]
        # SUSPENDED then CONNECTED before the writer loop looks: the writer flag went false, so
        # the daemon must give the lock back and take it again, never sit on it as a non-writer.
        zk.send(KazooState.SUSPENDED)
        zk.send(KazooState.CONNECTED)
        assert not daemon.writer
        _wait_until(lambda: zk.acquired >= 2 and daemon.writer, "a second term after the reconnect")
    finally:
        daemon.stopping.set()
        elector.join(10)


def test_a_half_written_app_keeps_its_name_from_the_app_quarantined_as_its_duplicate(world):
    rival = app("/int/api2", "api.example.com", tasks=[task("r1", "10.1.0.77")])
    rival["versionInfo"] = {"lastConfigChangeAt": "2026-06-01T00:00:00.000Z"}  # the later claim
    world.marathon.apps = [API, rival]
    d = world.make()
    assert d.sync(full=True) is True
    assert [q["app_id"] for q in d.status()["quarantined"]] == ["/int/api2"]
    half = {k: v for k, v in API.items() if k != "tasks"}
    world.marathon.apps = [half, rival]
    assert d.sync() is True
    assert [q["app_id"] for q in d.status()["quarantined"]] == ["/int/api2"]
    assert "held by /int/api" in d.status()["quarantined"][0]["reason"]
    upstream = files(world.conf_dir)["upstream-int_api.example.com_8080.conf"]
    assert "10.1.0.1" in upstream and "10.1.0.77" not in upstream
