#!/usr/bin/env python
# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Converge N A records on a real BIND: pptv.dcos.dns_record's batch form vs community.general.nsupdate in a loop.

Run from the repository root: ``.venv/bin/python bench/dns.py [--records 1000]``. It starts its own
``named`` on 127.0.0.1 (see tests/support/bind.py), and prints, side by side, the wall time and the
UPDATE messages BIND received (its own opcode counter) for:

* ``dns_record`` with ``records:`` (one task, one ansible-playbook run), first run and converged run;
* ``community.general.nsupdate`` with ``loop:`` over the same records (one task, one run), first
  run and converged run;
* the core (``_dns.converge``) called in-process, as the discovery daemon will call it;

and then the converged re-read of the same N records by the core, before and after issue 11:
one query per record set (``read="query"``) against one TSIG-signed AXFR of the zone
(``read="axfr"``, what ``read="auto"`` picks for a batch this size). ``--read-only`` runs only
that part.

Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# This file is named dns.py: keep its folder off the path so that `import dns` finds dnspython.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / ".collections")]

from support.ansible_run import run_play  # noqa: E402
from support.bind import Bind, clean_stale  # noqa: E402

from ansible_collections.pptv.dcos.plugins.module_utils import _dns  # noqa: E402


def records(count, salt):
    return [{"record": f"h{i}", "value": [f"10.{salt}.{i // 250}.{i % 250 + 1}"]} for i in range(count)]


def timed(bind, action):
    seen = bind.updates_received()
    start = time.monotonic()
    outcome = action()
    return time.monotonic() - start, bind.updates_received() - seen, outcome


def ours(bind, zone, items):
    task = {
        "pptv.dcos.dns_record": {
            "server": "127.0.0.1",
            "port": bind.port,
            "key_name": bind.key_name,
            "key_secret": bind.key_secret,
            "zone": zone,
            "ttl": 300,
            "records": items,
        }
    }
    result = run_play([task])[0]
    if result.failed:
        raise SystemExit(f"dns_record failed: {result.get('msg')}")
    return result


def theirs(bind, zone, items):
    task = {
        "community.general.nsupdate": {
            "server": "127.0.0.1",
            "port": bind.port,
            "key_name": bind.key_name,
            "key_secret": bind.key_secret,
            "key_algorithm": "hmac-sha256",
            "zone": zone,
            "record": "{{ item.record }}",
            "type": "A",
            "ttl": 300,
            "value": "{{ item.value }}",
        },
        "loop": items,
        "loop_control": {"label": "{{ item.record }}"},
    }
    result = run_play([task], timeout=3600)[0]
    if result.failed:
        raise SystemExit(f"nsupdate failed: {result.get('msg')}")
    return result


def core(bind, zone, items):
    client = _dns.Client("127.0.0.1", port=bind.port, key=_dns.make_key(bind.key_name, bind.key_secret))
    entries = [_dns.Entry(i["record"], "A", i["value"], ttl=300) for i in items]
    return _dns.converge(client, entries, zone=zone)


def converged_reads(bind, zone, items, repeat):
    """Time a converged core run per read mode: ``{mode: (median wall s, median CPU s, queries, transfers)}``.

    The CPU time is this process's own (parsing, comparing); wall time adds the server and, on a
    shared machine, the wait for a core.
    """
    client = _dns.Client("127.0.0.1", port=bind.port, key=_dns.make_key(bind.key_name, bind.key_secret))
    entries = [_dns.Entry(i["record"], "A", i["value"], ttl=300) for i in items]
    if _dns.converge(client, entries, zone=zone).changed:
        raise SystemExit(f"{zone}: not converged before the read benchmark")
    figures = {}
    for mode in ("query", "axfr"):
        times = []
        cpu = []
        for _run in range(repeat):
            start, start_cpu = time.monotonic(), time.process_time()
            outcome = _dns.converge(client, entries, zone=zone, read=mode)
            times.append(time.monotonic() - start)
            cpu.append(time.process_time() - start_cpu)
            if outcome.changed or outcome.reads != {_dns.parse_zone(zone).to_text(): mode}:
                raise SystemExit(f"{zone}: read={mode} changed or read otherwise: {outcome.reads}")
        figures[mode] = (statistics.median(times), statistics.median(cpu), outcome.queries_sent, outcome.transfers_sent)
    return figures


def print_reads(n, figures):
    print()
    print(f"Converged re-read of {n} A records by _dns.converge (in-process, median of runs)")
    header = f"{'':36} {'wall time':>12} {'CPU time':>12} {'queries':>8} {'AXFRs':>8}"
    print(header)
    print("-" * len(header))
    for label, mode in (("one query per record set (before)", "query"), ("one AXFR of the zone (after)", "axfr")):
        seconds, cpu, queries, transfers = figures[mode]
        print(f"{label:36} {seconds:>10.3f} s {cpu:>10.3f} s {queries:>8} {transfers:>8}")
    print()
    print(f"re-read wall time: per name / AXFR = {figures['query'][0] / figures['axfr'][0]:.1f}x")
    print(f"load average while measuring: {os.getloadavg()[0]:.1f} ({os.cpu_count()} cores)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5, help="runs per read mode (the median is shown)")
    parser.add_argument("--read-only", action="store_true", help="only the converged re-read comparison")
    args = parser.parse_args()
    n = args.records
    clean_stale()
    if args.read_only:
        with Bind(zones=("core.test",)) as bind:
            items = records(n, 3)
            core(bind, "core.test", items)
            print_reads(n, converged_reads(bind, "core.test", items, args.repeat))
        return
    rows = []
    with Bind(zones=("batch.test", "loop.test", "core.test")) as bind:
        for label, zone, func, salt in (
            ("pptv.dcos.dns_record records:", "batch.test", ours, 1),
            ("community.general.nsupdate loop:", "loop.test", theirs, 2),
            ("_dns.converge (in-process, daemon)", "core.test", core, 3),
        ):
            items = records(n, salt)
            first = timed(bind, lambda f=func, z=zone, i=items: f(bind, z, i))
            again = timed(bind, lambda f=func, z=zone, i=items: f(bind, z, i))
            check = bind.dig(f"h{n - 1}.{zone}", "A")
            if not check or check[0][4] != items[-1]["value"][0]:
                raise SystemExit(f"{label}: h{n - 1}.{zone} is {check}, not converged")
            rows.append((label, first, again))
            print(f"  done: {label} {first[0]:.1f} s / {again[0]:.1f} s", flush=True)
        reads = converged_reads(bind, "core.test", records(n, 3), args.repeat)

    print()
    print(f"Converging {n} A records on BIND {bind_version()} (127.0.0.1, TCP, TSIG hmac-sha256)")
    header = f"{'':36} {'first run':>12} {'UPDATEs':>8} {'converged':>12} {'UPDATEs':>8}"
    print(header)
    print("-" * len(header))
    for label, first, again in rows:
        print(f"{label:36} {first[0]:>10.1f} s {first[1]:>8} {again[0]:>10.1f} s {again[1]:>8}")
    ours_first, theirs_first = rows[0][1][0], rows[1][1][0]
    ours_again, theirs_again = rows[0][2][0], rows[1][2][0]
    print()
    print(f"wall time, first run: nsupdate loop / dns_record batch = {theirs_first / ours_first:.1f}x")
    print(f"wall time, converged: nsupdate loop / dns_record batch = {theirs_again / ours_again:.1f}x")
    print(f"UPDATE messages, first run: {rows[1][1][1]} (nsupdate: probes + writes) vs {rows[0][1][1]} (dns_record)")
    print_reads(n, reads)


def bind_version():
    out = subprocess.run(["named", "-v"], capture_output=True, text=True, check=False).stdout.split()
    return out[1] if len(out) > 1 else "?"


if __name__ == "__main__":
    main()
