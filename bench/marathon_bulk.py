# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Converging N apps on Marathon three ways, side by side (figures printed, nothing asserted).

1. ``bulk``   : one ``pptv.dcos.marathon_app`` task with ``apps`` (one GET, one batch PUT, one wait);
2. ``single`` : one ``pptv.dcos.marathon_app`` task per app (a ``loop:``), each waiting for its deployment;
3. ``uri``    : ``ansible.builtin.uri`` as ops write it by hand: a PUT per app, then a poll of
                ``/v2/deployments`` per app until its deployment is gone.

Each way runs twice on its own group of a private lab: the first run creates the apps, the
second is a re-run with nothing to change. Requests are counted by a recording proxy between
``ansible-playbook`` and the lab.

    .venv/bin/python bench/marathon_bulk.py [--apps 50] [--instances 1]
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from support.ansible_run import run_play  # noqa: E402
from support.lab import lab_instance  # noqa: E402
from support.recording_proxy import RecordingProxy  # noqa: E402

IMAGE = "pptv-dcos/base:bookworm"


def definition(instances):
    return {
        "cmd": "sleep 3600",
        "cpus": 0.01,
        "mem": 16,
        "instances": instances,
        "container": {"type": "DOCKER", "docker": {"image": IMAGE}},
        "labels": {"pptv.bench": "marathon_bulk"},
    }


def bulk_tasks(url, app_ids, instances):
    apps = [{"app_id": a, "definition": definition(instances)} for a in app_ids]
    return [{"name": "bulk", "pptv.dcos.marathon_app": {"url": url, "apps": apps, "wait_timeout": 600}}]


def single_tasks(url, app_ids, instances):
    return [
        {
            "name": "single",
            "pptv.dcos.marathon_app": {
                "url": url,
                "app_id": "{{ item }}",
                "definition": definition(instances),
                "wait_timeout": 600,
            },
            "loop": app_ids,
        }
    ]


def uri_tasks(url, app_ids, instances):
    return [
        {
            "name": "PUT each app",
            "ansible.builtin.uri": {
                "url": url + "/v2/apps{{ item }}",
                "method": "PUT",
                "body_format": "json",
                "body": definition(instances),
                "status_code": [200, 201],
            },
            "loop": app_ids,
            "register": "put",
        },
        {
            "name": "wait for each deployment",
            "ansible.builtin.uri": {"url": url + "/v2/deployments", "return_content": True},
            "register": "deployments",
            "until": "item.json.deploymentId not in (deployments.json | map(attribute='id') | list)",
            "retries": 600,
            "delay": 1,
            "loop": "{{ put.results }}",
            "loop_control": {"label": "{{ item.item }}"},
        },
    ]


WAYS = {"bulk": bulk_tasks, "single": single_tasks, "uri": uri_tasks}


def measure(proxy, tasks):
    proxy.clear()
    start = time.monotonic()
    results = run_play(tasks, timeout=1800)
    wall = time.monotonic() - start
    failed = [r.get("msg") for r in results if r.failed]
    if failed:
        raise SystemExit(f"a task failed: {failed[0]}")
    return wall, proxy.count(), any(r.changed for r in results)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apps", type=int, default=50)
    parser.add_argument("--instances", type=int, default=1)
    args = parser.parse_args()
    rows = []
    with lab_instance("pptvmar-bench-") as lab, RecordingProxy(lab.url) as proxy:
        for way, build in WAYS.items():
            group = f"/pptvmar-bench-{uuid.uuid4().hex[:6]}-{way}"
            app_ids = [f"{group}/app{n:02d}" for n in range(args.apps)]
            tasks = build(proxy.url, app_ids, args.instances)
            for run in ("first run", "no-op re-run"):
                wall, counts, changed = measure(proxy, tasks)
                rows.append((way, run, wall, counts, changed))
                print(f"  {way:<7} {run:<13} {wall:7.1f} s  {counts}", file=sys.stderr, flush=True)
    print_table(rows, args)


def print_table(rows, args):
    print(f"\nConverging {args.apps} apps x {args.instances} instance(s) on a private lab (one run of each)\n")
    header = f"{'way':<8}{'run':<15}{'wall s':>8}{'GET':>7}{'PUT':>6}{'POST':>6}{'DELETE':>8}{'total':>7}  changed"
    print(header)
    print("-" * len(header))
    for way, run, wall, counts, changed in rows:
        total = sum(counts.values())
        print(
            f"{way:<8}{run:<15}{wall:8.1f}{counts.get('GET', 0):7d}{counts.get('PUT', 0):6d}"
            f"{counts.get('POST', 0):6d}{counts.get('DELETE', 0):8d}{total:7d}  {changed}"
        )
    by = {(w, r): (wall, sum(c.values())) for w, r, wall, c, _ in rows}
    print("\nratios to the bulk form (wall time, requests):")
    for run in ("first run", "no-op re-run"):
        base_wall, base_requests = by[("bulk", run)]
        for way in ("single", "uri"):
            wall, requests_sent = by[(way, run)]
            time_ratio = wall / base_wall
            request_ratio = requests_sent / max(base_requests, 1)
            print(f"  {run:<13} {way:<7} x{time_ratio:5.1f} time, x{request_ratio:6.1f} requests")


if __name__ == "__main__":
    main()
