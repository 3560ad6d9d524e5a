# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Figures of the lab (printed, never asserted): launch time, list latency, memory.

    .venv/bin/python bench/lab.py [--apps 200] [--instances 50]

Starts a private lab instance (prefix ``pptvlab-bench-``) on the local engine and measures:
  * POST -> every task TASK_RUNNING, for 1 and for N instances (tiny `sleep` containers);
  * GET /v2/apps?embed=apps.tasks latency with 200 apps (instances 0, plus the N-task app);
  * resident memory of the lab process with those apps.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from support.lab import lab_instance  # noqa: E402

IMAGE = "pptv-dcos/base:bookworm"


def app(app_id, instances):
    return {
        "id": app_id,
        "cmd": "sleep 3600",
        "cpus": 0.001,
        "mem": 8,
        "instances": instances,
        "container": {"type": "DOCKER", "docker": {"image": IMAGE}},
    }


def rss_mib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def time_to_running(session, base, app_id, instances, timeout=600):
    start = time.perf_counter()
    response = session.post(base + "/v2/apps", json=app(app_id, instances), timeout=30)
    response.raise_for_status()
    while time.perf_counter() - start < timeout:
        tasks = session.get(f"{base}/v2/apps{app_id}/tasks", timeout=30).json()["tasks"]
        if len(tasks) == instances and all(t["state"] == "TASK_RUNNING" for t in tasks):
            return time.perf_counter() - start
        time.sleep(0.05)
    raise SystemExit(f"{app_id}: not running after {timeout}s")


def latency(session, url, rounds):
    samples = []
    for _round in range(rounds):
        start = time.perf_counter()
        response = session.get(url, timeout=60)
        response.raise_for_status()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1], len(response.content)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--apps", type=int, default=200)
    parser.add_argument("--instances", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    with lab_instance("pptvlab-bench-", tick_seconds=0.25) as lab:
        session = requests.Session()
        base = lab.url
        pid = lab.process.pid
        rss_empty = rss_mib(pid)
        one = time_to_running(session, base, "/bench/one", 1)
        many = time_to_running(session, base, "/bench/many", args.instances)
        for index in range(args.apps - 2):
            session.post(base + "/v2/apps", json=app(f"/bench/idle/a{index:03d}", 0), timeout=30).raise_for_status()
        while session.get(base + "/v2/deployments", timeout=30).json():
            time.sleep(0.2)
        count = len(session.get(base + "/v2/apps", timeout=30).json()["apps"])
        embed = latency(session, base + "/v2/apps?embed=apps.tasks", args.rounds)
        plain = latency(session, base + "/v2/apps", args.rounds)
        rss_full = rss_mib(pid)
        print(f"lab bench ({time.strftime('%Y-%m-%d %H:%M:%S')}, engine shared with other work)")
        print(f"  POST -> all TASK_RUNNING, 1 instance:          {one:7.2f} s")
        print(
            f"  POST -> all TASK_RUNNING, {args.instances} instances:        {many:7.2f} s"
            f"  ({many / args.instances:.2f} s per instance, {many / one:.1f}x the single one)"
        )
        print(
            f"  GET /v2/apps?embed=apps.tasks, {count} apps, {1 + args.instances} tasks:"
            f" median {embed[0]:6.1f} ms, p95 {embed[1]:6.1f} ms, {embed[2] / 1024:.0f} KiB"
        )
        print(
            f"  GET /v2/apps (no embed), same apps:             median {plain[0]:6.1f} ms, p95 {plain[1]:6.1f} ms"
            f"  (embed costs {embed[0] / plain[0]:.2f}x)"
        )
        print(
            f"  lab resident memory: {rss_empty:6.1f} MiB empty, {rss_full:6.1f} MiB with {count} apps "
            f"and {1 + args.instances} tasks"
        )
        # Delete everything so the containers go before the instance is torn down.
        for item in session.get(base + "/v2/apps", timeout=30).json()["apps"]:
            session.delete(f"{base}/v2/apps{item['id']}", timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
