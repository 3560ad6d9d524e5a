# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A private Nginx master for a suite or a benchmark: its own directory, config and pid file.

    nginx = NginxMaster(tmp_path / "nginx", http_extra="proxy_connect_timeout 2s;").start()
    ...  # write upstream files into nginx.confd, reload through the module or the daemon
    nginx.stop()

Nothing outside the directory is read or written (temp paths, pid, error log), so suites run in
parallel, and ``stop`` ends only the master this object started (checked by its command line).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from support.procs import pid_alive

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def write_main_config(root, http_extra="", worker_connections=256):
    """Write ``root/nginx.conf`` (includes ``root/conf.d/*.conf``); returns its path.

    ``http_extra`` is added inside ``http { }`` before the include (settings, fixed servers).
    """
    root = Path(root)
    temp = root / "temp"
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (temp / sub).mkdir(parents=True, exist_ok=True)
    (root / "conf.d").mkdir(parents=True, exist_ok=True)
    conf = root / "nginx.conf"
    conf.write_text(
        f"""worker_processes 1;
pid {root / "nginx.pid"};
error_log {root / "error.log"} notice;
events {{ worker_connections {worker_connections}; }}
http {{
    access_log off;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
{http_extra}
    include {root / "conf.d"}/*.conf;
}}
"""
    )
    return conf


def _wait(predicate, what, timeout):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


class NginxMaster:
    """Our own Nginx master (daemonised, as on a host), started and stopped by PID."""

    def __init__(self, root, http_extra="", worker_connections=256, run=True):
        self.root = Path(root)
        self.run = run
        self.conf = write_main_config(self.root, http_extra, worker_connections)
        self.confd = self.root / "conf.d"
        self.error_log = self.root / "error.log"
        self.pid_file = self.root / "nginx.pid"

    def start(self):
        if self.run:
            subprocess.run([NGINX, "-c", str(self.conf)], check=True, capture_output=True)
            _wait(self.pid, "nginx to write its pid", 10)
        return self

    def pid(self):
        with contextlib.suppress(OSError, ValueError):
            return int(self.pid_file.read_text().strip())
        return None

    def stop(self):
        pid = self.pid()
        if pid and pid_alive(pid) and str(self.conf).encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
            os.kill(pid, signal.SIGQUIT)
            _wait(lambda: not pid_alive(pid), "nginx to stop", 10)

    def reloads(self):
        """How many reloads (SIGHUP) the master has received since it started."""
        if not self.error_log.exists():
            return 0
        return self.error_log.read_text(errors="replace").count("(SIGHUP) received")

    def test_config(self):
        return subprocess.run([NGINX, "-t", "-c", str(self.conf)], capture_output=True, text=True, check=False)
