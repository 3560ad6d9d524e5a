# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Render + validate + reload for 1,000 Nginx upstreams, against a real Nginx. Prints figures only.

Starts its own Nginx master (``nginx -p <tmp> -c <tmp>/nginx.conf``) on a free loopback port,
drives the core the service-discovery daemon calls (``_nginx.converge``) and the module through
``ansible-playbook``, and stops the master by PID. Nothing is asserted.

    .venv/bin/python bench/nginx.py [--count 1000] [--singles 20] [--no-module]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / ".collections"), str(ROOT / "tests")]

from support.procs import free_port  # noqa: E402

from ansible_collections.pptv.dcos.plugins.module_utils import _nginx as ngx  # noqa: E402

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


class TimedRunner:
    """The daemon's kind of runner (subprocess), timing each nginx command."""

    def __init__(self):
        self.calls = []

    def __call__(self, argv):
        start = time.perf_counter()
        result = ngx.subprocess_runner(argv)
        self.calls.append((" ".join(argv[1:]), time.perf_counter() - start, result[0]))
        return result

    def seconds(self, word):
        return sum(s for a, s, _rc in self.calls if word in a.split())


class Master:
    def __init__(self, root):
        self.root = root
        self.conf = root / "nginx.conf"
        self.confd = root / "conf.d"
        self.confd.mkdir()
        temp = root / "temp"
        for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (temp / sub).mkdir(parents=True)
        port = free_port()
        self.conf.write_text(
            f"worker_processes 1;\npid {root}/nginx.pid;\nerror_log {root}/error.log notice;\n"
            "events { worker_connections 256; }\nhttp {\n    access_log off;\n"
            f"    client_body_temp_path {temp}/body;\n    proxy_temp_path {temp}/proxy;\n"
            f"    fastcgi_temp_path {temp}/fastcgi;\n    uwsgi_temp_path {temp}/uwsgi;\n"
            f"    scgi_temp_path {temp}/scgi;\n"
            f'    server {{ listen 127.0.0.1:{port}; location / {{ return 200 "up"; }} }}\n'
            f"    include {self.confd}/*.conf;\n}}\n"
        )
        self.proc = subprocess.Popen(
            [NGINX, "-p", str(root), "-c", str(self.conf), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.wait(self.workers, "nginx to start")

    def workers(self):
        found = set()
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                    if ppid == self.proc.pid and b"worker process" in (entry / "cmdline").read_bytes():
                        found.add(int(entry.name))
                except (OSError, ValueError, IndexError):
                    pass
        return found

    @staticmethod
    def wait(predicate, what, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.005)
        raise RuntimeError(f"timed out waiting for {what}")

    def wait_new_generation(self, old):
        self.wait(lambda: (w := self.workers()) and not (w & old), "the new worker generation")

    def stop(self):
        self.proc.send_signal(signal.SIGQUIT)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def batch(count, port_base=20000, weight=None):
    items = []
    for i in range(count):
        server = {"address": f"10.{i // 250}.{i % 250}.1", "port": port_base + i % 1000}
        if weight is not None and i == 0:
            server["weight"] = weight
        item = {"name": f"svc-{i:04d}", "servers": [server, {"address": f"10.{i // 250}.{i % 250}.2", "port": 8080}]}
        if i % 10 == 0:
            item["vhosts"] = [{"name": f"svc-{i:04d}.bench.test", "listen": "127.0.0.1:18080"}]
        items.append(item)
    return items


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def converge_and_reload(master, upstreams, runner):
    old = master.workers()
    seconds, result = timed(
        lambda: ngx.converge(
            str(master.confd), upstreams, runner, nginx_binary=NGINX, nginx_conf=str(master.conf), reload=True
        )
    )
    generation = 0.0
    if result.reloaded:
        generation = timed(lambda: master.wait_new_generation(old))[0]
    return seconds, generation, result


def measure_core(master, count, singles):
    """Rows of (label, seconds) for the core, plus the figures the summary needs."""
    rows = []
    items = batch(count)
    t_parse, upstreams = timed(lambda: ngx.parse_batch(items))
    t_render = timed(lambda: [ngx.render_upstream(u) for u in upstreams])[0]
    rows.append((f"validate {count} upstream dicts (parse_batch)", t_parse))
    rows.append((f"render {count} upstreams", t_render))

    runner = TimedRunner()
    t_first, t_gen, result = converge_and_reload(master, upstreams, runner)
    written = sum(1 for c in result.changes if c.changed)
    rows.append((f"converge, all new: write {written} files + nginx -t + reload signal", t_first))
    rows.append(("  of which nginx -t (1 run)", runner.seconds("-t")))
    rows.append(("  of which nginx -s reload (1 run)", runner.seconds("reload")))
    rows.append(("  then until the new worker generation is up", t_gen))
    first_calls = len(runner.calls)

    runner = TimedRunner()
    t_same, _gen, _result = converge_and_reload(master, upstreams, runner)
    rows.append((f"converge, nothing changed ({len(runner.calls)} nginx runs)", t_same))

    runner = TimedRunner()
    t_one, t_gen_one, _result = converge_and_reload(master, ngx.parse_batch(batch(count, weight=7)), runner)
    rows.append((f"converge, 1 of {count} changed: write + nginx -t + reload signal", t_one))
    rows.append(("  then until the new worker generation is up", t_gen_one))

    singles = min(singles, count)
    single_items = batch(count, port_base=30000)  # every item differs from what is on disk
    total = 0.0
    for i in range(singles):
        seconds, generation, _r = converge_and_reload(master, [ngx.parse_upstream(single_items[i])], TimedRunner())
        total += seconds + generation
    per_single = total / singles
    rows.append((f"one upstream per call (validate + reload each), mean of {singles}", per_single))
    return rows, {"batch_total": t_first + t_gen, "per_single": per_single, "first_calls": first_calls}


def measure_module(master, count):
    from support.ansible_run import run_task  # noqa: PLC0415

    for entry in master.confd.glob("upstream-*.conf"):
        entry.unlink()
    module_args = {
        "upstreams": batch(count),
        "path": str(master.confd),
        "nginx_conf": str(master.conf),
        "nginx_binary": NGINX,
        "reload": True,
    }
    rows = []
    seconds, result = timed(lambda: run_task("nginx_upstream", module_args))
    if result.failed:
        print("module run failed:", result.get("msg"))
    rows.append((f"module via ansible-playbook, {count} new upstreams, one task", seconds))
    seconds, result = timed(lambda: run_task("nginx_upstream", module_args))
    rows.append((f"module via ansible-playbook, {count} unchanged (changed={result.changed})", seconds))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--singles", type=int, default=20, help="one-upstream-per-call runs to extrapolate from")
    parser.add_argument("--no-module", action="store_true", help="skip the ansible-playbook figure")
    options = parser.parse_args()
    count = options.count
    root = Path(tempfile.mkdtemp(prefix="pptvngx-bench-"))
    master = Master(root)
    try:
        rows, figures = measure_core(master, count, options.singles)
        if not options.no_module:
            rows += measure_module(master, count)
    finally:
        master.stop()
        shutil.rmtree(root, ignore_errors=True)

    version = subprocess.run([NGINX, "-v"], capture_output=True, text=True, check=False).stderr.strip()
    print(f"{version}, {os.cpu_count()} CPUs, {count} upstreams (2 servers each, a vhost on every 10th)")
    width = max(len(r[0]) for r in rows)
    for label, seconds in rows:
        print(f"  {label:<{width}}  {seconds * 1000:10.1f} ms")
    print(f"  nginx runs for the first batch: {figures['first_calls']} (1 validation + 1 reload)")
    naive = figures["per_single"] * count
    print(
        f"  one call per upstream for {count}, extrapolated: {naive:.1f} s "
        f"({count} validations + {count} reloads) vs batch {figures['batch_total']:.2f} s: "
        f"ratio {naive / figures['batch_total']:.0f}x"
    )


if __name__ == "__main__":
    main()
