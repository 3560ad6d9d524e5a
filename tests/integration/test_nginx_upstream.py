# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pptv.dcos.nginx_upstream against a real Nginx (Debian's nginx-light).

The session fixture starts its own Nginx master (``nginx -p <dir> -c <conf>``, pid file, error
log and temp paths in a tmp dir, listening on free 127.0.0.1 ports) and stops it by PID. Backends
are small HTTP servers on loopback started by the tests. Every claim is checked independently of
the module: file bytes and stat, the master's reload count in its own error log, its worker PIDs,
a log of every nginx command the module ran (through a wrapper binary), and real HTTP requests.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from support.ansible_run import run_play, run_task
from support.nginx import NGINX, write_main_config
from support.procs import free_port, pid_alive

PREFIX = "pptvngx-"
TMP_ROOT = Path(tempfile.gettempdir())


def wait_for(predicate, what, timeout=20.0):
    """Poll ``predicate`` until true (not a timing assertion: a bound on waiting for Nginx)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def clean_stale_runs():
    """Stop masters and remove directories left by a killed earlier run of this suite."""
    for stale in TMP_ROOT.glob(PREFIX + "run-*"):
        owner = stale.name.rsplit("-", 1)[-1]
        if owner.isdigit() and pid_alive(int(owner)):
            continue  # a run in progress
        pid_file = stale / "nginx.pid"
        with contextlib.suppress(OSError, ValueError):
            pid = int(pid_file.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
            if str(stale) in cmdline:  # only our own master, never another nginx
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(stale, ignore_errors=True)


class Backend(http.server.ThreadingHTTPServer):
    """A loopback HTTP server answering every GET with its own name."""

    daemon_threads = True

    def __init__(self, name):
        self.name = name

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                body = f"{name} {self.headers.get('Host')} {self.path}".encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.port = self.server_address[1]
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.shutdown()
        self.server_close()


class Nginx:
    """Our own Nginx master and the independent ways to observe it."""

    def __init__(self, root):
        self.root = root
        self.conf = root / "nginx.conf"
        self.confd = root / "conf.d"
        self.error_log = root / "error.log"
        self.pid_file = root / "nginx.pid"
        self.calls_log = root / "nginx-calls.log"
        self.wrapper = root / "nginx-wrapper"
        self.health_port = free_port()
        self.vhost_port = free_port()
        self.proc = None

    def write_config(self):
        fixed_servers = f"""    server {{
        listen 127.0.0.1:{self.health_port};
        location = /health {{ return 200 "up\\n"; }}
    }}
    server {{
        listen 127.0.0.1:{self.vhost_port} default_server;
        server_name _;
        location / {{ return 404 "no such vhost\\n"; }}
    }}"""
        write_main_config(self.root, http_extra=fixed_servers)
        # Every nginx command the module runs goes through this wrapper and is logged first.
        self.wrapper.write_text(f'#!/bin/sh\necho "$*" >> {self.calls_log}\nexec {NGINX} "$@"\n')
        self.wrapper.chmod(0o755)

    def start(self):
        self.proc = subprocess.Popen(
            [NGINX, "-p", str(self.root), "-c", str(self.conf), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        wait_for(lambda: self.get(self.health_port, "/health")[0] == 200 or self.proc.poll() is not None, "nginx")
        if self.proc.poll() is not None:
            raise RuntimeError(f"nginx did not start: {self.proc.stderr.read().decode()}")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    @staticmethod
    def get(port, path="/", host=None):
        request = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
        if host:
            request.add_header("Host", host)
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()
        except OSError:
            return None, ""

    def route(self, host, path="/"):
        return self.get(self.vhost_port, path, host)

    # --- independent observations -------------------------------------------------------
    def reloads(self):
        """How many reload signals the master has acted on (its own error log)."""
        text = self.error_log.read_text() if self.error_log.exists() else ""
        return len(re.findall(rf"\] {self.proc.pid}#\d+: signal 1 \(SIGHUP\) received", text))

    def workers(self):
        master = self.proc.pid
        found = set()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            with contextlib.suppress(OSError):
                stat = (entry / "stat").read_text()
                ppid = int(stat.rsplit(")", 1)[1].split()[1])
                if ppid == master and b"worker process" in (entry / "cmdline").read_bytes():
                    found.add(int(entry.name))
        return found

    def wait_reloaded(self, before_count, before_workers):
        wait_for(lambda: self.reloads() > before_count, "the reload to reach the master")
        wait_for(lambda: self.workers() and not (self.workers() & before_workers), "the new worker generation")

    def calls(self):
        return self.calls_log.read_text().splitlines() if self.calls_log.exists() else []

    def reset_calls(self):
        self.calls_log.unlink(missing_ok=True)

    def test_config(self):
        proc = subprocess.run([NGINX, "-t", "-c", str(self.conf)], capture_output=True, text=True, check=False)
        return proc.returncode == 0, proc.stderr

    def reload_now(self):
        count, workers = self.reloads(), self.workers()
        subprocess.run([NGINX, "-c", str(self.conf), "-s", "reload"], check=True, capture_output=True)
        self.wait_reloaded(count, workers)


@pytest.fixture(scope="session")
def nginx():
    clean_stale_runs()
    root = TMP_ROOT / f"{PREFIX}run-{os.getpid()}"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir()
    server = Nginx(root)
    server.write_config()
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def ngx(nginx):
    """The session's Nginx, with an empty upstream directory before and after each test."""
    nginx.reset_calls()
    yield nginx
    leftovers = list(nginx.confd.iterdir())
    for entry in leftovers:
        entry.unlink()
    if leftovers:
        nginx.reload_now()
    nginx.reset_calls()


@pytest.fixture
def backends():
    started = []

    def start(name):
        backend = Backend(name)
        started.append(backend)
        return backend

    yield start
    for backend in started:
        backend.stop()


def args(ngx, **extra):
    base = {"path": str(ngx.confd), "nginx_conf": str(ngx.conf), "nginx_binary": str(ngx.wrapper)}
    base.update(extra)
    return base


def snapshot(directory):
    """Name -> (sha256, inode, mtime_ns, mode) of every file, hidden ones included."""
    result = {}
    for entry in sorted(directory.iterdir()):
        stat = entry.stat()
        result[entry.name] = (
            hashlib.sha256(entry.read_bytes()).hexdigest(),
            stat.st_ino,
            stat.st_mtime_ns,
            stat.st_mode,
        )
    return result


def conf_files(directory):
    return sorted(p.name for p in directory.iterdir() if not p.name.startswith("."))


def test_create_then_unchanged_then_changed(ngx, backends):
    backend = backends("alpha")
    name = PREFIX + "web"
    spec = {
        "name": name,
        "servers": [{"address": "127.0.0.1", "port": backend.port, "weight": 2, "max_fails": 3, "fail_timeout": "5s"}],
        "balance": "least_conn",
        "keepalive": 4,
    }
    reloads, workers = ngx.reloads(), ngx.workers()

    created = run_task("nginx_upstream", args(ngx, **spec))
    assert not created.failed, created
    assert created.changed
    assert created["validated"] is True
    assert created["reloaded"] is False  # reload defaults to false: left to a handler
    path = ngx.confd / f"upstream-{name}.conf"
    assert created["files"] == [str(path)]
    assert path.read_text() == (
        "# Managed by pptv.dcos.nginx_upstream: local changes are overwritten.\n"
        f"upstream {name} {{\n"
        "    least_conn;\n"
        f"    server 127.0.0.1:{backend.port} weight=2 max_fails=3 fail_timeout=5s;\n"
        "    keepalive 4;\n"
        "}\n"
    )
    assert ngx.calls() == [f"-t -c {ngx.conf}"]  # validated once, not reloaded
    assert ngx.reloads() == reloads
    assert ngx.workers() == workers
    assert ngx.test_config()[0]

    # The same input again, now asking for a reload: nothing written, validated or reloaded.
    before = snapshot(ngx.confd)
    ngx.reset_calls()
    again = run_task("nginx_upstream", args(ngx, reload=True, **spec))
    assert not again.failed, again
    assert not again.changed
    assert again["files"] == []
    assert again["reloaded"] is False
    assert snapshot(ngx.confd) == before  # bytes, inode and mtime untouched
    assert ngx.calls() == []  # no nginx -t, no nginx -s reload
    assert ngx.reloads() == reloads
    assert ngx.workers() == workers

    # Change a server: rewritten, validated once, reloaded once.
    spec["servers"][0]["weight"] = 5
    changed = run_task("nginx_upstream", args(ngx, reload=True, **spec), diff=True)
    assert not changed.failed, changed
    assert changed.changed
    assert changed["reloaded"] is True
    assert ngx.calls() == [f"-t -c {ngx.conf}", f"-c {ngx.conf} -s reload"]
    ngx.wait_reloaded(reloads, workers)
    assert ngx.reloads() == reloads + 1
    assert f"server 127.0.0.1:{backend.port} weight=5 max_fails=3" in path.read_text()
    (entry,) = changed["diff"]
    assert entry["before_header"] == entry["after_header"] == str(path)
    assert "weight=2" in entry["before"]
    assert "weight=5" in entry["after"]
    assert entry["after"] == path.read_text()


def test_vhost_routes_a_real_request_and_follows_a_server_change(ngx, backends):
    alpha, beta = backends("alpha"), backends("beta")
    name = PREFIX + "app"
    host = "app.pptvngx.test"
    vhosts = [{"name": host, "listen": f"127.0.0.1:{ngx.vhost_port}"}]
    assert ngx.route(host) == (404, "no such vhost\n")

    result = run_task(
        "nginx_upstream",
        args(ngx, name=name, servers=[{"address": "127.0.0.1", "port": alpha.port}], vhosts=vhosts, reload=True),
    )
    assert not result.failed, result
    assert result.changed and result["reloaded"]
    assert wait_for(lambda: ngx.route(host, "/x")[0] == 200, "the vhost to route")
    assert ngx.route(host, "/x") == (200, f"alpha {host} /x")
    assert ngx.route("other.pptvngx.test") == (404, "no such vhost\n")  # only the named host is routed

    # Change the server: the same vhost now reaches the other backend.
    result = run_task(
        "nginx_upstream",
        args(ngx, name=name, servers=[{"address": "127.0.0.1", "port": beta.port}], vhosts=vhosts, reload=True),
        diff=True,
    )
    assert not result.failed, result
    assert result.changed
    assert f"server 127.0.0.1:{alpha.port};" in result["diff"][0]["before"]
    assert f"server 127.0.0.1:{beta.port};" in result["diff"][0]["after"]
    assert wait_for(lambda: ngx.route(host, "/y")[1].startswith("beta"), "the change to take effect")
    assert ngx.route(host, "/y") == (200, f"beta {host} /y")


def test_batch_of_200_validates_once_and_reloads_once(ngx, backends):
    backend = backends("batch")
    upstreams = [
        {
            "name": f"{PREFIX}b{i:03d}",
            "servers": [
                {"address": "127.0.0.1", "port": backend.port},
                {"address": "127.0.0.2", "port": 1, "down": True},
            ],
            "balance": ["round_robin", "least_conn", "ip_hash"][i % 3],
        }
        for i in range(200)
    ]
    upstreams[7]["vhosts"] = [{"name": "b007.pptvngx.test", "listen": f"127.0.0.1:{ngx.vhost_port}"}]
    reloads, workers = ngx.reloads(), ngx.workers()

    result = run_task("nginx_upstream", args(ngx, upstreams=upstreams, reload=True))
    assert not result.failed, result
    assert result.changed
    assert len(result["files"]) == 200
    assert len(conf_files(ngx.confd)) == 200
    assert ngx.calls() == [f"-t -c {ngx.conf}", f"-c {ngx.conf} -s reload"]  # one validation, one reload
    ngx.wait_reloaded(reloads, workers)
    assert ngx.reloads() == reloads + 1
    assert wait_for(lambda: ngx.route("b007.pptvngx.test")[0] == 200, "the batch vhost")
    assert ngx.route("b007.pptvngx.test")[1].startswith("batch")

    # The same batch again: nothing at all.
    before = snapshot(ngx.confd)
    ngx.reset_calls()
    again = run_task("nginx_upstream", args(ngx, upstreams=upstreams, reload=True))
    assert not again.failed, again
    assert not again.changed
    assert snapshot(ngx.confd) == before
    assert ngx.calls() == []

    # One changed and one removed among 200: only those two files move.
    upstreams[3]["servers"][0]["weight"] = 9
    upstreams[4] = {"name": upstreams[4]["name"], "state": "absent"}
    result = run_task("nginx_upstream", args(ngx, upstreams=upstreams))
    assert not result.failed, result
    assert sorted(result["files"]) == [
        str(ngx.confd / f"upstream-{PREFIX}b003.conf"),
        str(ngx.confd / f"upstream-{PREFIX}b004.conf"),
    ]
    after = snapshot(ngx.confd)
    assert {k for k in before if before[k] != after.get(k)} == {
        f"upstream-{PREFIX}b003.conf",
        f"upstream-{PREFIX}b004.conf",
    }

    # purge with an empty batch removes every managed upstream file, and only those.
    (ngx.confd / "hand-made.conf").write_text("# not ours\n")
    purged = run_task("nginx_upstream", args(ngx, upstreams=[], purge=True))
    assert not purged.failed, purged
    assert len(purged["files"]) == 199
    assert conf_files(ngx.confd) == ["hand-made.conf"]


def test_refused_config_is_restored_byte_for_byte_and_nginx_keeps_serving(ngx, backends):
    alpha, beta = backends("alpha"), backends("beta")
    keep, gone, bad = PREFIX + "keep", PREFIX + "gone", PREFIX + "bad"
    host = "keep.pptvngx.test"
    vhosts = [{"name": host, "listen": f"127.0.0.1:{ngx.vhost_port}"}]
    setup = run_task(
        "nginx_upstream",
        args(
            ngx,
            upstreams=[
                {"name": keep, "servers": [{"address": "127.0.0.1", "port": alpha.port}], "vhosts": vhosts},
                {"name": gone, "servers": [{"address": "127.0.0.1", "port": alpha.port}]},
            ],
            reload=True,
        ),
    )
    assert not setup.failed, setup
    wait_for(lambda: ngx.route(host)[0] == 200, "the vhost")
    before = snapshot(ngx.confd)
    reloads, workers = ngx.reloads(), ngx.workers()
    ngx.reset_calls()

    # Change one, remove one, add one that Nginx refuses (an unknown variable as hash key).
    result = run_task(
        "nginx_upstream",
        args(
            ngx,
            upstreams=[
                {"name": keep, "servers": [{"address": "127.0.0.1", "port": beta.port}], "vhosts": vhosts},
                {"name": gone, "state": "absent"},
                {
                    "name": bad,
                    "servers": [{"address": "127.0.0.1", "port": beta.port}],
                    "balance": "hash",
                    "hash_key": "$pptvngx_no_such_variable",
                },
            ],
            reload=True,
        ),
    )
    assert result.failed
    assert not result.changed
    assert 'unknown "pptvngx_no_such_variable" variable' in result["msg"]
    assert "every file was put back" in result["msg"]
    assert result["nginx_errors"] == ['[emerg] unknown "pptvngx_no_such_variable" variable']
    assert snapshot(ngx.confd) == before  # same bytes, inodes, mtimes; the new file is gone, no leftovers
    assert ngx.test_config()[0]
    assert ngx.calls() == [f"-t -c {ngx.conf}", f"-t -c {ngx.conf}"]  # refused, then re-checked once restored
    assert ngx.reloads() == reloads  # never reloaded
    assert ngx.workers() == workers
    assert ngx.route(host)[1].startswith("alpha")  # still serving the old configuration

    # A new upstream clashing with a hand-made file (duplicate upstream): the new file is removed.
    manual = ngx.confd / "hand-made.conf"
    manual.write_text(f"upstream {PREFIX}dup {{ server 127.0.0.1:{alpha.port}; }}\n")
    dup = run_task("nginx_upstream", args(ngx, name=PREFIX + "dup", servers=[{"address": "127.0.0.1"}]))
    assert dup.failed
    assert f'duplicate upstream "{PREFIX}dup"' in dup["msg"]
    assert not (ngx.confd / f"upstream-{PREFIX}dup.conf").exists()
    manual.unlink()

    # A configuration that was already broken is reported as such; our files are still put back.
    manual.write_text("this is not nginx\n")
    broken_before = snapshot(ngx.confd)
    broken = run_task("nginx_upstream", args(ngx, name=keep, servers=[{"address": "127.0.0.1", "port": 9}]))
    assert broken.failed
    assert "already broken" in broken["msg"]
    assert snapshot(ngx.confd) == broken_before
    manual.unlink()


INJECTIONS = [
    ({"name": "x;}"}, "name"),
    ({"servers": [{"address": "127.0.0.1; include /etc/passwd"}]}, "servers[0].address"),
    ({"servers": [{"address": "127.0.0.1", "fail_timeout": "10s; return 200"}]}, "servers[0].fail_timeout"),
    ({"servers": [{"address": "127.0.0.1", "fail_timeout": "10s\nserver 10.9.9.9"}]}, "servers[0].fail_timeout"),
    ({"balance": "hash", "hash_key": '$uri"'}, "hash_key"),
    ({"balance": "hash", "hash_key": "$uri }"}, "hash_key"),
    ({"vhosts": [{"name": "a.pptvngx.test; return 200"}]}, "vhosts[0].name"),
    ({"vhosts": [{"name": "a.pptvngx.test", "listen": "127.0.0.1:80 ssl"}]}, "vhosts[0].listen"),
    ({"vhosts": [{"name": "a.pptvngx.test", "location": "/ { return 200 'x'; } location /x"}]}, "vhosts[0].location"),
    ({"vhosts": [{"name": "a.pptvngx.test", "location": "/a#b"}]}, "vhosts[0].location"),
]


def test_injection_attempts_are_refused_naming_the_option(ngx):
    tasks = []
    for extra, _option in INJECTIONS:
        params = {"name": PREFIX + "evil", "servers": [{"address": "127.0.0.1"}]}
        params.update(extra)
        tasks.append({"pptv.dcos.nginx_upstream": args(ngx, **params), "ignore_errors": True})
    # The batch form names the item too.
    tasks.append(
        {
            "pptv.dcos.nginx_upstream": args(
                ngx,
                upstreams=[
                    {"name": PREFIX + "ok", "servers": [{"address": "127.0.0.1"}]},
                    {"name": PREFIX + "evil", "servers": [{"address": "127.0.0.1", "port": 80}, {"address": "a{b"}]},
                ],
            ),
            "ignore_errors": True,
        }
    )
    results = run_play(tasks)
    expected = [option for _extra, option in INJECTIONS] + ["upstreams[1].servers[1].address"]
    for result, option in zip(results, expected):
        assert result.failed, (option, result)
        assert result["msg"].startswith(option + ": "), (option, result["msg"])
        assert "refused" in result["msg"]
    assert list(ngx.confd.iterdir()) == []  # nothing written, not even the valid first item of the batch
    assert ngx.calls() == []  # Nginx never ran


def test_absent_twice(ngx):
    name = PREFIX + "tmp"
    created = run_task("nginx_upstream", args(ngx, name=name, servers=[{"address": "127.0.0.1"}], reload=True))
    assert not created.failed, created
    path = ngx.confd / f"upstream-{name}.conf"
    assert path.exists()
    reloads = ngx.reloads()
    wait_for(lambda: ngx.reloads() >= reloads, "the first reload")

    removed = run_task("nginx_upstream", args(ngx, name=name, state="absent", reload=True), diff=True)
    assert not removed.failed, removed
    assert removed.changed
    assert not path.exists()
    assert removed["diff"][0]["after"] == ""
    assert f"upstream {name} {{" in removed["diff"][0]["before"]
    assert removed["upstreams"] == [{"name": name, "path": str(path), "state": "absent", "changed": True}]

    ngx.reset_calls()
    again = run_task("nginx_upstream", args(ngx, name=name, state="absent", reload=True))
    assert not again.failed, again
    assert not again.changed
    assert ngx.calls() == []


def test_check_mode_writes_nothing_and_runs_nothing(ngx):
    name = PREFIX + "check"
    spec = args(ngx, name=name, servers=[{"address": "127.0.0.1", "port": 8081}], reload=True)
    path = ngx.confd / f"upstream-{name}.conf"

    planned = run_task("nginx_upstream", spec, check=True, diff=True)
    assert not planned.failed, planned
    assert planned.changed
    assert not path.exists()
    assert ngx.calls() == []
    assert planned["diff"][0]["before"] == ""
    assert "server 127.0.0.1:8081;" in planned["diff"][0]["after"]
    assert planned["actions"] == [f"create {path}", f"validate {ngx.conf}", "reload nginx"]

    run_task("nginx_upstream", spec)
    before = snapshot(ngx.confd)
    ngx.reset_calls()
    same = run_task("nginx_upstream", spec, check=True)
    assert not same.changed
    changed = run_task("nginx_upstream", {**spec, "servers": [{"address": "127.0.0.1", "port": 8082}]}, check=True)
    assert changed.changed
    removal = run_task("nginx_upstream", {**spec, "state": "absent"}, check=True)
    assert removal.changed
    assert snapshot(ngx.confd) == before
    assert ngx.calls() == []


def test_core_outside_ansible_as_the_daemon_calls_it(ngx, backends):
    """The discovery daemon's path: parse_batch + converge with its own runner, no Ansible."""
    from ansible_collections.pptv.dcos.plugins.module_utils import _nginx  # noqa: PLC0415

    backend = backends("daemon")
    host = "daemon.pptvngx.test"
    items = [
        {
            "name": f"{PREFIX}d{i}",
            "servers": [{"address": "127.0.0.1", "port": backend.port}],
            "vhosts": [{"name": f"d{i}.pptvngx.test" if i else host, "listen": f"127.0.0.1:{ngx.vhost_port}"}],
        }
        for i in range(3)
    ]
    reloads, workers = ngx.reloads(), ngx.workers()
    result = _nginx.converge(
        str(ngx.confd),
        _nginx.parse_batch(items),
        _nginx.subprocess_runner,
        nginx_binary=str(ngx.wrapper),
        nginx_conf=str(ngx.conf),
        reload=True,
    )
    assert result.changed and result.validated and result.reloaded
    assert ngx.calls() == [f"-t -c {ngx.conf}", f"-c {ngx.conf} -s reload"]
    ngx.wait_reloaded(reloads, workers)
    assert ngx.reloads() == reloads + 1
    assert ngx.route(host, "/z") == (200, f"daemon {host} /z")
    assert _nginx.managed_names(str(ngx.confd)) == [f"{PREFIX}d0", f"{PREFIX}d1", f"{PREFIX}d2"]
