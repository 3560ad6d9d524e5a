# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Allocations per second of the ip_pool stores, with 1 and with 32 concurrent clients.

Runs the collection's own store code (plugins/module_utils/_ippool.py), not ansible-playbook, so the
figures are the cost of the allocation itself: the file backend's lock + read + write + fsync +
rename, and the ZooKeeper backend's reads + one multi-op per allocation (with retries when clients
race for the same address). ZooKeeper is Debian's, started standalone on a free loopback port.

    .venv/bin/python bench/ip_pool.py [--allocations 300] [--clients 32]

Each client is its own process with its own store (own file descriptor / own ZooKeeper session),
as parallel ansible-playbook runs would be. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import multiprocessing
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / ".collections"), str(ROOT / "tests")]

from support.zk_server import start_zookeeper  # noqa: E402

from ansible_collections.pptv.dcos.plugins.module_utils._ippool import PoolSpec, open_store  # noqa: E402

POOL = "bench"


def _client(params, apps, barrier, out):
    store = open_store(params)
    barrier.wait()
    start = time.perf_counter()
    for app in apps:
        store.allocate(POOL, [(app, None)])
    out.put(time.perf_counter() - start)
    store.close()


def measure(params, clients, total):
    """Allocate ``total`` new app IDs with ``clients`` processes; returns (allocations/s, seconds)."""
    store = open_store(params)
    store.save_pool(PoolSpec(POOL, ["10.240.0.0/16"], gateway="10.240.0.1"))
    store.close()
    run = uuid.uuid4().hex[:6]
    per_client = total // clients
    barrier = multiprocessing.Barrier(clients + 1)
    out = multiprocessing.Queue()
    procs = []
    for n in range(clients):
        apps = [f"/bench/r{run}/c{n}/app-{i}" for i in range(per_client)]
        proc = multiprocessing.Process(target=_client, args=(params, apps, barrier, out))
        proc.start()
        procs.append(proc)
    barrier.wait()
    start = time.perf_counter()
    for proc in procs:
        proc.join()
    wall = time.perf_counter() - start
    for _proc in procs:
        out.get(timeout=5)
    done = per_client * clients
    store = open_store(params)
    held = store.allocations(POOL)
    ips = [rec["ip"] for app, rec in held.items() if f"/r{run}/" in app]
    store.close()
    if len(ips) != done or len(set(ips)) != done:
        raise SystemExit(f"BROKEN: {done} allocations asked, {len(ips)} found, {len(set(ips))} distinct")
    return done / wall, wall, done


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--allocations", type=int, default=320, help="allocations per measurement")
    parser.add_argument("--clients", type=int, default=32)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="pptvnet-bench-"))
    server = start_zookeeper(work / "zk", "pptvnet-bench-")
    try:
        backends = {
            "file": lambda: {"backend": "file", "path": str(work / f"pool-{uuid.uuid4().hex[:6]}.json")},
            "zookeeper": lambda: {
                "backend": "zookeeper",
                "zk_hosts": server.hosts,
                "zk_root": f"/pptvnet-bench-{uuid.uuid4().hex[:6]}",
            },
        }
        rows = {}
        for name, make in backends.items():
            for clients in (1, args.clients):
                rate, wall, done = measure(make(), clients, args.allocations)
                rows[(name, clients)] = rate
                print(f"  {name:<10} {clients:>3} client(s): {done} allocations in {wall:6.2f}s", flush=True)
        print()
        print(f"{'allocations/s':<16}{'1 client':>12}{f'{args.clients} clients':>14}{'ratio':>9}")
        for name in backends:
            one, many = rows[(name, 1)], rows[(name, args.clients)]
            print(f"{name:<16}{one:>12.1f}{many:>14.1f}{many / one:>8.2f}x")
        print(
            f"{'file/zookeeper':<16}{rows[('file', 1)] / rows[('zookeeper', 1)]:>11.2f}x"
            f"{rows[('file', args.clients)] / rows[('zookeeper', args.clients)]:>13.2f}x"
        )
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
