# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Environments side by side (figures printed, nothing asserted).

1. Deploying an N-app environment (default 20) on a private lab, two ways, each from empty and
   then as a no-op re-run:
   - ``env``    : what deploy_env.yml does on the controller: ``pptv.dcos.env_plan`` (validate and
                  select), ``ip_pool`` (one call for every app ID), ``env_plan`` again with the IPs,
                  then one bulk ``marathon_app`` call (one read, one write, one wait);
   - ``single`` : the same definitions, one ``marathon_app`` task per app (a ``loop:``), each
                  waiting for its own deployment.
   The apps are HTTP servers on their fixed IPs on a bridge network of this bench, with MESOS_HTTP
   health checks, as an environment's apps are. The name checks through DNS and the gateway that
   deploy_env.yml ends with are not part of either (they need the whole platform).
2. How many N-app environments a pool holds, by pool size: environments allocated one after the
   other (one ``ip_pool`` call each) until the pool refuses one, with the time of the first and the
   last allocation.

    .venv/bin/python bench/environments.py [--apps 20] [--pools 254,1022]
"""

from __future__ import annotations

import argparse
import ipaddress
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from support.ansible_run import run_play  # noqa: E402
from support.lab import lab_instance  # noqa: E402
from support.procs import docker  # noqa: E402

PREFIX = "pptvbenv-"
NETWORK = {
    "name": "pptvbenv-net",
    "subnet": "10.233.0.0/24",
    "gateway": "10.233.0.1",
    "bridge_name": "br-pptvbenv",
    "default_gateway": "10.233.0.254",
}
DNS_IP = "10.233.0.30"  # no server there: the apps never resolve a name in this bench


def catalogue(apps):
    return [
        {
            "name": f"svc{n:02d}",
            "project": "bench",
            "image": "pptv-dcos/sample:bookworm",
            "port": 8080,
            "fqdn": f"svc{n:02d}.pptv.lab",
            "env": {"SAMPLE_SERVICE": f"svc{n:02d}", "SAMPLE_LOG_DIR": "/tmp"},
            "mem": 48,
            "cpus": 0.01,
        }
        for n in range(apps)
    ]


def plan_args(apps, env, logs_root, ips=None):
    args = {
        "catalogue": catalogue(apps),
        "env": env,
        "envs": {env: {"gateway": "10.233.0.20", "dns_ip": DNS_IP}},
        "zones": ["pptv.lab"],
        "fallback_env": env,
        "network": NETWORK["name"],
        "logs_root": logs_root,
        "data_root": logs_root,
    }
    if ips is not None:
        args["ips"] = ips
    return args


# Both ways deploy on one network while the other's apps still run: each allocates from its own range.
ALLOCATION_RANGES = {"env": "10.233.0.100-10.233.0.149", "single": "10.233.0.150-10.233.0.199"}


def pool_args(pool_path, subnet="10.233.0.0/24", reserved=("10.233.0.1-10.233.0.99", "10.233.0.254"), ranges=None):
    args = {
        "pool": "bench",
        "path": str(pool_path),
        "subnets": [subnet],
        "gateway": NETWORK["default_gateway"] if subnet == NETWORK["subnet"] else None,
        "reserved": list(reserved),
    }
    if ranges:
        args["allocation_ranges"] = list(ranges)
    return args


def env_tasks(url, apps, env, pool_path, logs_root, way="env"):
    ips = "{{ allocation.allocations | items2dict(key_name='app_id', value_name='ip') }}"
    return [
        {"name": "plan", "pptv.dcos.env_plan": plan_args(apps, env, logs_root), "register": "plan"},
        {"name": "pool", "pptv.dcos.ip_pool": pool_args(pool_path, ranges=[ALLOCATION_RANGES[way]])},
        {
            "name": "allocate",
            "pptv.dcos.ip_pool": {"pool": "bench", "path": str(pool_path), "app_ids": "{{ plan.app_ids }}"},
            "register": "allocation",
        },
        {"name": "definitions", "pptv.dcos.env_plan": plan_args(apps, env, logs_root, ips), "register": "apps"},
        {"name": "deploy", "pptv.dcos.marathon_app": {"url": url, "apps": "{{ apps.apps }}", "wait_timeout": 900}},
    ]


def single_tasks(url, apps, env, pool_path, logs_root):
    tasks = env_tasks(url, apps, env, pool_path, logs_root, way="single")[:-1]
    tasks.append(
        {
            "name": "deploy one by one",
            "pptv.dcos.marathon_app": {
                "url": url,
                "app_id": "{{ item.app_id }}",
                "definition": "{{ item.definition }}",
                "wait_timeout": 900,
            },
            "loop": "{{ apps.apps }}",
            "loop_control": {"label": "{{ item.app_id }}"},
        }
    )
    return tasks


def measure(tasks):
    start = time.monotonic()
    results = run_play(tasks, timeout=3600)
    wall = time.monotonic() - start
    failed = [r.get("msg") for r in results if r.failed]
    if failed:
        raise SystemExit(f"a task failed: {failed[0]}")
    return wall, any(r.changed for r in results)


def remove_network():
    for container in docker(
        "network", "inspect", "-f", "{{range .Containers}}{{.Name}} {{end}}", NETWORK["name"]
    ).stdout.split():
        docker("network", "disconnect", "-f", NETWORK["name"], container)
    docker("network", "rm", NETWORK["name"])


def deploy_figures(apps, tmp):
    rows = []
    remove_network()
    docker(
        "network", "create", "--subnet", NETWORK["subnet"], "--gateway", NETWORK["gateway"],
        "--aux-address", f"DefaultGatewayIPv4={NETWORK['default_gateway']}",
        "-o", f"com.docker.network.bridge.name={NETWORK['bridge_name']}", NETWORK["name"],
        check=True,
    )  # fmt: skip
    try:
        with lab_instance(PREFIX) as lab:
            for way, build in (("env", env_tasks), ("single", single_tasks)):
                # Each way its own env (group) and pool file, so both start from empty.
                tasks = build(lab.url, apps, f"bench-{way}", tmp / f"pool-{way}.json", str(tmp / "logs"))
                for run in ("from empty", "no-op re-run"):
                    wall, changed = measure(tasks)
                    rows.append((way, run, wall, changed))
                    print(f"  {way:<7} {run:<13} {wall:7.1f} s changed={changed}", file=sys.stderr, flush=True)
                print(f"  {way:<7} {len(lab.containers())} task containers in all", file=sys.stderr, flush=True)
    finally:
        remove_network()
    return rows


def pool_figures(apps, sizes, tmp):
    rows = []
    for size in sizes:
        # The smallest subnet with `size` usable addresses (network and broadcast excluded).
        prefix = 32 - (size + 2 - 1).bit_length()
        subnet = ipaddress.ip_network(f"10.240.0.0/{prefix}")
        pool_path = tmp / f"pool-{size}.json"
        run_play([{"name": "pool", "pptv.dcos.ip_pool": pool_args(pool_path, str(subnet), reserved=())}])
        usable = subnet.num_addresses - 2
        envs, first, last = 0, None, None
        while True:
            app_ids = [f"/func-p{envs:03d}/svc{n:02d}" for n in range(apps)]
            start = time.monotonic()
            (result,) = run_play(
                [{"name": "allocate", "pptv.dcos.ip_pool": {"pool": "bench", "path": str(pool_path),
                                                            "app_ids": app_ids}, "ignore_errors": True}]
            )  # fmt: skip
            took = time.monotonic() - start
            if result.failed:
                refusal = result.get("msg", "")
                break
            envs += 1
            first = took if first is None else first
            last = took
        rows.append((size, usable, envs, first, last, refusal))
        print(f"  pool of {usable}: {envs} envs of {apps} apps", file=sys.stderr, flush=True)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apps", type=int, default=20)
    parser.add_argument("--pools", default="254,1022")
    args = parser.parse_args()
    sizes = [int(s) for s in args.pools.split(",")]
    if not 1 <= args.apps <= 50:
        parser.error("--apps: 1 to 50 (each way allocates from a range of 50 addresses)")
    with tempfile.TemporaryDirectory(prefix="pptvbenv-") as tmp_dir:
        tmp = Path(tmp_dir)
        deploy_rows = deploy_figures(args.apps, tmp)
        pool_rows = pool_figures(args.apps, sizes, tmp)

    print(f"\nDeploying a {args.apps}-app environment on a private lab (one run of each)\n")
    header = f"{'way':<8}{'run':<15}{'wall s':>8}  changed"
    print(header)
    print("-" * len(header))
    for way, run, wall, changed in deploy_rows:
        print(f"{way:<8}{run:<15}{wall:8.1f}  {changed}")
    by = {(w, r): wall for w, r, wall, _c in deploy_rows}
    print("\nratio single / env (wall time):")
    for run in ("from empty", "no-op re-run"):
        print(f"  {run:<13} x{by[('single', run)] / by[('env', run)]:5.1f}")

    print(f"\nEnvironments of {args.apps} apps per pool (one ip_pool call per env, file backend)\n")
    header = f"{'usable':>7}{'envs':>6}{'first s':>9}{'last s':>8}  refusal"
    print(header)
    print("-" * len(header))
    for _size, usable, envs, first, last, refusal in pool_rows:
        print(f"{usable:7d}{envs:6d}{first or 0:9.2f}{last or 0:8.2f}  {refusal[:90]}")


if __name__ == "__main__":
    main()
