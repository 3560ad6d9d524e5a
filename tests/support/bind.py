# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A real BIND (``named`` from Debian's bind9) on loopback, for the DNS tests and the bench.

Everything lives in a directory ``<tmp>/pptvdns-*``: the config, the zone files, the journal, the
log and the pid file. ``recursion no``, no forwarders, listening on 127.0.0.1 only, on free ports
(one for DNS, one for the statistics channel that counts the UPDATE messages BIND received).
:func:`clean_stale` ends a ``named`` left over by a killed earlier run, by the PID it wrote.

Each zone lets the main key update it (``allow-update``) and transfer it (``allow-transfer``:
``dns_record`` reads a batch with one AXFR, signed with the key; docs/dns_record.md, "Reading").
The second, read-only key may query but neither update nor transfer: the REFUSED cases, and the
fallback to one query per record set when the transfer is refused. Transfers are refused to
everything else (``allow-transfer { none; }`` in the options).
"""

from __future__ import annotations

import base64
import glob
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from support.procs import free_port, pid_alive

PREFIX = "pptvdns-"
NAMED = shutil.which("named") or "/usr/sbin/named"

ZONE_TEMPLATE = """$TTL 300
@ IN SOA ns1.{zone}. hostmaster.{zone}. ( 1 3600 600 86400 60 )
@ IN NS ns1.{zone}.
@ IN NS ns2.{zone}.
ns1 IN A 127.0.0.1
ns2 IN A 127.0.0.2
"""

REVERSE_TEMPLATE = """$TTL 300
@ IN SOA ns1.example.test. hostmaster.example.test. ( 1 3600 600 86400 60 )
@ IN NS ns1.example.test.
"""


def clean_stale(tmp_root=None):
    """End the ``named`` of earlier killed runs (by their pid file) and remove their directories.

    A directory whose owner (the test run or bench that made it) is still alive is left alone.
    """
    root = tmp_root or tempfile.gettempdir()
    for state in glob.glob(os.path.join(root, PREFIX + "*")):
        if not os.path.isdir(state):
            continue
        owner = Path(state) / "owner.pid"
        try:
            owner_pid = int(owner.read_text().strip())
        except (OSError, ValueError):
            owner_pid = 0
        if owner_pid and owner_pid != os.getpid() and pid_alive(owner_pid):
            continue  # another test run or bench is using this server right now
        pid_file = Path(state) / "named.pid"
        if pid_file.exists():
            try:
                pid = int(pid_file.read_text().strip())
            except ValueError:
                pid = 0
            cmdline = Path(f"/proc/{pid}/cmdline")
            if pid and cmdline.exists() and state.encode() in cmdline.read_bytes():
                os.kill(pid, signal.SIGTERM)
                for _attempt in range(50):
                    if not pid_alive(pid):
                        break
                    time.sleep(0.1)
                else:
                    os.kill(pid, signal.SIGKILL)
        shutil.rmtree(state, ignore_errors=True)


class Bind:
    """One ``named`` process with its own zones and TSIG keys."""

    def __init__(self, zones=("example.test", "2.0.192.in-addr.arpa"), key_name="pptvdns-key", algorithm="hmac-sha256"):
        self.zones = list(zones)
        self.key_name = key_name
        self.algorithm = algorithm
        self.key_secret = base64.b64encode(os.urandom(32)).decode()
        # A second key the server knows but that may update and transfer nothing: the REFUSED cases.
        self.other_key_name = "pptvdns-readonly"
        self.other_key_secret = base64.b64encode(os.urandom(32)).decode()
        self.dir = Path(tempfile.mkdtemp(prefix=PREFIX))
        (self.dir / "owner.pid").write_text(str(os.getpid()))
        self.port = None
        self.stats_port = None
        self.proc = None

    # -- configuration ------------------------------------------------------------------------
    def _config(self):
        zone_blocks = []
        for zone in self.zones:
            text = REVERSE_TEMPLATE if zone.endswith(".arpa") else ZONE_TEMPLATE.format(zone=zone)
            (self.dir / f"{zone}.db").write_text(text)
            zone_blocks.append(
                f'zone "{zone}" {{ type primary; file "{self.dir}/{zone}.db"; '
                f'allow-update {{ key "{self.key_name}"; }}; allow-transfer {{ key "{self.key_name}"; }}; }};'
            )
        return f"""
options {{
    directory "{self.dir}";
    pid-file "{self.dir}/named.pid";
    session-keyfile "{self.dir}/session.key";
    managed-keys-directory "{self.dir}";
    listen-on port {self.port} {{ 127.0.0.1; }};
    listen-on-v6 {{ none; }};
    recursion no;
    allow-recursion {{ none; }};
    dnssec-validation no;
    notify no;
    allow-transfer {{ none; }};
}};
controls {{ }};
statistics-channels {{ inet 127.0.0.1 port {self.stats_port} allow {{ 127.0.0.1; }}; }};
key "{self.key_name}" {{ algorithm {self.algorithm}; secret "{self.key_secret}"; }};
key "{self.other_key_name}" {{ algorithm hmac-sha256; secret "{self.other_key_secret}"; }};
logging {{
    channel main {{ file "{self.dir}/named.log"; severity info; print-time yes; print-category yes; }};
    category default {{ main; }};
    category update {{ main; }};
    category update-security {{ main; }};
    category security {{ main; }};
}};
{chr(10).join(zone_blocks)}
"""

    # -- life cycle ---------------------------------------------------------------------------
    def start(self):
        self.port = free_port(udp_too=True)
        self.stats_port = free_port(udp_too=True)
        conf = self.dir / "named.conf"
        conf.write_text(self._config())
        check = subprocess.run(["named-checkconf", str(conf)], capture_output=True, text=True, check=False)
        if check.returncode:
            raise RuntimeError(f"named-checkconf: {check.stdout}{check.stderr}")
        stderr = open(self.dir / "named.stderr", "w")  # noqa: SIM115 (kept open for the process)
        self.proc = subprocess.Popen(
            [NAMED, "-f", "-u", "root", "-4", "-n", "1", "-c", str(conf)],
            stdout=stderr,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        stderr.close()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("named exited: " + (self.dir / "named.stderr").read_text())
            if self._answers():
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("named did not answer within 20 s: " + self.log())

    def _answers(self):
        try:
            self.stats()
        except OSError:
            return False
        log = self.log()
        return "running" in log and all(f"zone {z}/IN: loaded serial" in log for z in self.zones)

    def stop(self):
        """End named by its PID; then remove its directory."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- observation --------------------------------------------------------------------------
    def log(self):
        path = self.dir / "named.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stats(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.stats_port}/json/v1/server", timeout=5) as resp:
            return json.load(resp)

    def updates_received(self):
        """UPDATE messages BIND has received since it started (its own opcode counter)."""
        return int(self.stats().get("opcodes", {}).get("UPDATE", 0))

    def dig(self, name, rdtype="A", *extra):
        """``dig`` the server (the independent read); returns the answer lines."""
        out = subprocess.run(
            ["dig", "+norecurse", "+noall", "+answer", "+nottlunits", "-p", str(self.port), "@127.0.0.1", name, rdtype]
            + list(extra),
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return [line.split() for line in out.splitlines() if line and not line.startswith(";")]
