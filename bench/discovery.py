# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Figures of the discovery daemon, side by side in one run (printed, never asserted).

    .venv/bin/python bench/discovery.py [--apps 50] [--burst 500] [--resync-apps 1000] [--tasks-per-app 3]
                                        [--skip-lab]

1. **event -> DNS answer, event -> Nginx serving** (p50/p99) on a private lab (prefix
   ``pptvsd-bench-``) with ``--apps`` http apps deployed one after another: from the
   ``api_post_event`` of the app (seen on our own ``/v2/events`` stream) to its name answering in a
   real BIND, and from the ``status_update_event`` TASK_RUNNING of its task to a request through
   the real Nginx gateway reaching that task. The daemon runs in this process with its default
   1 s window (``min_interval``).
2. **Nginx reloads for a burst of ``--burst`` changes**: the daemon (in process, real Nginx) is told
   of one change every 2 ms while Marathon's answer (a fake transport) grows by one task per change.
3. **full resync** of ``--resync-apps`` apps / ``apps x --tasks-per-app`` tasks from a recorded
   ``GET /v2/apps?embed=apps.tasks`` (generated here, saved next to the other files): the pure
   computation (contract + desired state + render), then the daemon's whole sync against a real
   Nginx (first write; again with nothing changed).
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
# bench/dns.py would shadow dnspython: drop this script's own directory from the path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path[:0] = [str(ROOT / ".collections"), str(ROOT / "tests")]

import dns.message  # noqa: E402
import dns.query  # noqa: E402
import dns.rdatatype  # noqa: E402
from support.bind import Bind  # noqa: E402
from support.lab import lab_instance  # noqa: E402
from support.nginx import NGINX, NginxMaster  # noqa: E402
from support.procs import docker  # noqa: E402

from ansible_collections.pptv.dcos.plugins.module_utils import _contract, _discovery, _nginx  # noqa: E402
from ansible_collections.pptv.dcos.plugins.module_utils import _discovery_daemon as daemon_mod  # noqa: E402

NETWORK = f"pptvsd-bench-net-{os.getpid()}"
GATEWAY = "127.0.58.1"
PORT = 18081
ZONE = "example.com"
KEY_NAME = "pptvsd-bench"
SERVE = 'mkdir -p /srv && echo "$MESOS_TASK_ID" > /srv/index.html && cd /srv && exec python3 -m http.server {port}'


def percentile(values, fraction):
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


class Master(NginxMaster):
    """Our own Nginx master (loopback), started at once, stopped by PID."""

    def __init__(self, root, run=True):
        extra = "    server_names_hash_bucket_size 128;\n    server_names_hash_max_size 8192;"
        super().__init__(root, http_extra=extra, worker_connections=512, run=run)
        self.start()


def config(root, nginx, marathon_url, dns_port=None, key_secret=None, apps_env="int"):
    return daemon_mod.validate_config(
        {
            "marathon": {"urls": [marathon_url], "stream_timeout": 15},
            "listen": "127.0.0.1:0",
            "state_dir": str(Path(root) / "state"),
            "nginx": {"conf_dir": str(nginx.confd), "nginx_binary": NGINX, "nginx_conf": str(nginx.conf)},
            "dns": {"key_name": KEY_NAME, "key_secret": key_secret, "ttl": 30} if key_secret else {"ttl": 30},
            "environments": {
                apps_env: {
                    "zones": [ZONE],
                    "gateway": GATEWAY,
                    "dns_server": "127.0.0.1" if dns_port else None,
                    "dns_port": dns_port or 53,
                }
            },
        }
    )


# -- 1. latency on the lab ---------------------------------------------------------------------------


class EventWatcher(threading.Thread):
    """Our own SSE reader: the time each (event type, app ID[, task state]) was first seen."""

    def __init__(self, url):
        super().__init__(daemon=True)
        self.url = url
        self.seen = {}
        self.ips = {}
        self.ready = threading.Event()

    def run(self):
        with requests.get(
            self.url + "/v2/events?event_type=api_post_event&event_type=status_update_event",
            headers={"Accept": "text/event-stream"},
            stream=True,
            timeout=(5, 60),
        ) as response:
            self.ready.set()
            event = None
            for raw in response.iter_lines(chunk_size=1):
                line = raw.decode(errors="replace")
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    data = json.loads(line[5:])
                    now = time.monotonic()
                    if event == "api_post_event":
                        key = ("post", data.get("appDefinition", {}).get("id"))
                    else:
                        key = (data.get("taskStatus"), data.get("taskId"))
                        for item in data.get("ipAddresses") or []:
                            self.ips.setdefault(data.get("taskId"), item.get("ipAddress"))
                    self.seen.setdefault(key, now)


class ReloadClock:
    """The daemon's Nginx runner, noting when each reload finished and which servers it holds."""

    def __init__(self, confd):
        self.confd = Path(confd)
        self.reloads = []  # (monotonic time, text of every upstream file)

    def __call__(self, argv):
        result = _nginx.subprocess_runner(argv)
        if "reload" in argv and result[0] == 0:
            text = "".join(p.read_text() for p in self.confd.glob("upstream-*.conf"))
            self.reloads.append((time.monotonic(), text))
        return result

    def live_since(self, line):
        """When the first reload whose configuration holds ``line`` finished (None: not yet)."""
        return next((when for when, text in list(self.reloads) if line in text), None)


def dns_answer(port, name):
    message = dns.message.make_query(name, dns.rdatatype.A)
    response = dns.query.udp(message, "127.0.0.1", port=port, timeout=1)
    return [r.to_text() for rrset in response.answer for r in rrset]


def serving(name):
    try:
        response = requests.get(f"http://{GATEWAY}:{PORT}/", headers={"Host": name}, timeout=1)
    except requests.RequestException:
        return None
    return response.text.strip() if response.status_code == 200 else None


def poll(predicate, timeout=60.0, interval=0.005):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return time.monotonic()
        time.sleep(interval)
    return None


def bench_lab(root, count):
    for subnet in ("10.239.91.0/24", "10.239.92.0/24", "10.239.93.0/24", "10.239.94.0/24"):
        made = docker("network", "create", "--subnet", subnet, NETWORK)
        if made.returncode == 0:
            break
    else:
        raise SystemExit(f"cannot create {NETWORK}: {made.stderr}")
    secret = base64.b64encode(os.urandom(32)).decode()
    bind = Bind(zones=(ZONE,), key_name=KEY_NAME)
    bind.key_secret = secret
    bind.start()
    nginx = Master(root / "lab-nginx")
    session = requests.Session()
    to_dns, to_nginx, to_first_request = [], [], []
    try:
        with lab_instance("pptvsd-bench-") as lab:
            watcher = EventWatcher(lab.url)
            watcher.start()
            watcher.ready.wait(10)
            clock = ReloadClock(nginx.confd)
            daemon = daemon_mod.Daemon(config(root / "lab", nginx, lab.url, bind.port, secret), nginx_runner=clock)
            daemon.start(http=False)
            time.sleep(2)
            for i in range(count):
                app_id, name = f"/int/svc{i:03d}", f"svc{i:03d}.{ZONE}"
                body = {
                    "id": app_id,
                    "cmd": SERVE.format(port=PORT),
                    "container": {
                        "type": "DOCKER",
                        "docker": {"image": "pptv-dcos/app:bookworm", "parameters": [{"key": "net", "value": NETWORK}]},
                    },
                    "cpus": 0.1,
                    "mem": 32,
                    "instances": 1,
                    "labels": {
                        "pptv.dcos/contract": "1",
                        "pptv.dcos/env": "int",
                        "pptv.dcos/name": name,
                        "pptv.dcos/port": str(PORT),
                        "pptv.dcos/protocol": "http",
                    },
                }
                session.put(lab.url + f"/v2/apps{app_id}", json=body, timeout=30).raise_for_status()
                answered = poll(lambda name=name: dns_answer(bind.port, name) == [GATEWAY])
                posted = watcher.seen.get(("post", app_id))
                if answered and posted:
                    to_dns.append(answered - posted)
                task_id = None
                deadline = time.monotonic() + 60
                while task_id is None and time.monotonic() < deadline:
                    task_id = next(
                        (k[1] for k in watcher.seen if k[0] == "TASK_RUNNING" and k[1].startswith(f"int_svc{i:03d}.")),
                        None,
                    )
                    time.sleep(0.005)
                if task_id is None:
                    continue
                running = watcher.seen[("TASK_RUNNING", task_id)]
                line = f"server {watcher.ips.get(task_id)}:{PORT};"
                if poll(lambda line=line: clock.live_since(line)):
                    to_nginx.append(clock.live_since(line) - running)
                served = poll(lambda name=name, task_id=task_id: serving(name) == task_id)
                if served:
                    to_first_request.append(served - running)
            status = daemon.status()
            daemon.stop()
    finally:
        nginx.stop()
        bind.stop()
        docker("network", "rm", NETWORK)
    return to_dns, to_nginx, to_first_request, status


# -- 2. a burst of changes ----------------------------------------------------------------------------


class Recording:
    """A fake transport answering GET /v2/apps from a list that the bench mutates."""

    def __init__(self, apps):
        self.apps = apps
        self.lock = threading.Lock()
        self.gets = 0

    def __call__(self, url, **_kw):
        if "/v2/events" in url:
            raise OSError("no stream in this bench")
        with self.lock:
            body = json.dumps({"apps": self.apps}).encode()
            self.gets += 1

        class Answer:
            status = 200
            headers = {}

            @staticmethod
            def read():
                return body

            @staticmethod
            def getcode():
                return 200

        return Answer()


def make_app(i, tasks, env="int"):
    return {
        "id": f"/{env}/app{i:04d}",
        "labels": {
            "pptv.dcos/contract": "1",
            "pptv.dcos/env": env,
            "pptv.dcos/name": f"app{i:04d}.{ZONE}",
            "pptv.dcos/port": "8080",
            "pptv.dcos/protocol": "http" if i % 4 else "tcp",
            **({"pptv.dcos/aliases": f"www{i:04d}.{ZONE}"} if i % 3 == 0 else {}),
        },
        "version": "2026-01-01T00:00:00.000Z",
        "versionInfo": {"lastConfigChangeAt": "2026-01-01T00:00:00.000Z"},
        "instances": tasks,
        "tasks": [
            {
                "id": f"{env}_app{i:04d}.instance-{i:04d}-{t}._app.1",
                "state": "TASK_RUNNING",
                "host": "10.0.0.1",
                "ipAddresses": [{"ipAddress": f"10.{100 + t}.{i // 250}.{i % 250 + 1}", "protocol": "IPv4"}],
            }
            for t in range(tasks)
        ],
    }


def bench_burst(root, changes):
    nginx = Master(root / "burst-nginx")
    apps = [make_app(i, 1) for i in range(50)]
    recording = Recording(apps)
    try:
        daemon = daemon_mod.Daemon(config(root / "burst", nginx, "http://marathon.invalid:8080"), opener=recording)
        daemon.start(stream=False, http=False)  # its first (full) sync writes the 50 upstreams
        deadline = time.monotonic() + 60
        while (daemon.counters["syncs"] < 1 or daemon.dirty) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.5)  # past the minimum interval, and the master has logged the first reload
        before, syncs_before, counted_before = (
            nginx.reloads(),
            daemon.counters["syncs"],
            daemon.counters["nginx_reloads"],
        )
        started = time.monotonic()
        for n in range(changes):
            with recording.lock:
                app = apps[n % len(apps)]
                k = len(app["tasks"])
                app["tasks"].append(
                    {
                        "id": f"{app['id'][1:].replace('/', '_')}.extra-{k}._app.1",
                        "state": "TASK_RUNNING",
                        "host": "10.0.0.1",
                        "ipAddresses": [{"ipAddress": f"10.200.{n // 250}.{n % 250 + 1}", "protocol": "IPv4"}],
                    }
                )
            daemon.mark_dirty(reason="bench change")
            time.sleep(0.002)
        burst = time.monotonic() - started
        # Wait until the last change is served (the daemon's files hold every task).
        want = sum(len(a["tasks"]) for a in apps if a["labels"]["pptv.dcos/protocol"] == "http")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            text = "".join(p.read_text() for p in nginx.confd.glob("upstream-*.conf"))
            if text.count("    server 10.") == want and not daemon.dirty:
                break
            time.sleep(0.05)
        settled = time.monotonic() - started
        daemon.stop()
        time.sleep(0.5)  # the master logs the SIGHUP of the last reload asynchronously
        counted = daemon.counters["nginx_reloads"] - counted_before
        return nginx.reloads() - before, counted, daemon.counters["syncs"] - syncs_before, burst, settled
    finally:
        nginx.stop()


# -- 3. full resync from a recording --------------------------------------------------------------------


def bench_resync(root, count, per_app):
    apps = [make_app(i, per_app) for i in range(count)]
    recording_path = root / "v2-apps-recording.json"
    recording_path.write_text(json.dumps({"apps": apps}))
    environments = {"int": {"zones": [ZONE], "gateway": GATEWAY}}
    started = time.perf_counter()
    raw = json.loads(recording_path.read_text())["apps"]
    parsed = _contract.parse_apps(raw, {"int": [ZONE]})
    resolved, _cache = _discovery.resolve(parsed, {})
    states = _discovery.desired_state(resolved, environments, "int")
    upstreams, _owners, _refused = _discovery.nginx_upstreams(states)
    rendered = [_nginx.render_upstream(u) for u in upstreams]
    compute = time.perf_counter() - started
    nginx = Master(root / "resync-nginx")
    try:
        daemon = daemon_mod.Daemon(
            config(root / "resync", nginx, "http://marathon.invalid:8080"), opener=Recording(raw)
        )
        started = time.perf_counter()
        daemon.sync(full=True)
        first = time.perf_counter() - started
        started = time.perf_counter()
        daemon.sync(full=True)
        again = time.perf_counter() - started
    finally:
        nginx.stop()
    tasks = sum(len(a["tasks"]) for a in apps)
    return {
        "apps": count,
        "tasks": tasks,
        "upstreams": len(rendered),
        "records": states["int"].record_count(),
        "compute": compute,
        "first": first,
        "again": again,
        "recording": recording_path.stat().st_size,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--apps", type=int, default=50)
    parser.add_argument("--burst", type=int, default=500)
    parser.add_argument("--resync-apps", type=int, default=1000)
    parser.add_argument("--tasks-per-app", type=int, default=3)
    parser.add_argument("--skip-lab", action="store_true", help="only the in-process figures (2 and 3)")
    args = parser.parse_args()

    def terminate(_signum, _frame):
        raise SystemExit(143)  # run every cleanup (lab, BIND, Nginx, network) on SIGTERM

    signal.signal(signal.SIGTERM, terminate)
    logging.getLogger("pptv-dcos-discovery").setLevel(logging.ERROR)  # the figures only
    root = Path(tempfile.mkdtemp(prefix="pptvsd-bench-"))
    try:
        resync = bench_resync(root, args.resync_apps, args.tasks_per_app)
        reloads, counted, syncs, burst, settled = bench_burst(root, args.burst)
        lab = bench_lab(root, args.apps) if not args.skip_lab else None
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print()
    print("pptv-dcos-discovery figures (min_interval 1 s)")
    print(f"{'figure':70} {'value':>16}")
    if lab is not None:
        to_dns, to_nginx, to_first, _status = lab
        rows = (
            ("event -> DNS answer", to_dns),
            ("event -> Nginx serving (reload holding the task)", to_nginx),
            ("event -> first request served (incl. the app's start)", to_first),
        )
        for label, values in rows:
            print(
                f"{label + ', ' + str(args.apps) + ' apps: p50 / p99 (s)':70} "
                f"{percentile(values, 0.5):>8.3f} / {percentile(values, 0.99):.3f}  (n={len(values)})"
            )
    print(
        f"{'Nginx reloads for a burst of ' + str(args.burst) + ' changes (Nginx log / daemon)':70} "
        f"{reloads:>11} / {counted}"
    )
    print(f"{'  syncs run / burst length / until served (s)':70} {syncs:>8} / {burst:.2f} / {settled:.2f}")
    label = f"full resync, {resync['apps']} apps / {resync['tasks']} tasks"
    print(f"{label + ': compute only (s)':70} {resync['compute']:>24.3f}")
    print(f"{label + ': daemon sync, Nginx written (s)':70} {resync['first']:>24.3f}")
    print(f"{label + ': daemon sync, nothing changed (s)':70} {resync['again']:>24.3f}")
    print(
        f"{'  upstreams / records / recording bytes':70} "
        f"{resync['upstreams']:>8} / {resync['records']} / {resync['recording']}"
    )


if __name__ == "__main__":
    main()
