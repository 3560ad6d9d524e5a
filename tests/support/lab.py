# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Start a private lab instance (Marathon's API on the local Docker engine) for a test suite.

    from support.lab import lab_instance

    with lab_instance("pptvmar-") as lab:      # prefix: your suite's resource prefix
        requests.get(lab.url + "/v2/apps")

Each instance has its own loopback port, state directory and container-name prefix, and labels
its containers with a unique instance name; stopping it removes every container it made. Stale
instances with the same prefix (from a killed earlier run, whose process is gone) are cleaned at
start. With ``PPTV_LAB_LOG_DIR`` set, each instance's log is copied there when it stops.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from support.procs import docker, pid_alive

ROOT = Path(__file__).resolve().parents[2]
LAB_DIR = ROOT / "lab"
INSTANCE_LABEL = "org.pptv.dcos.lab.instance"

# Short intervals so that suites stay quick; any can be overridden per instance.
TEST_SETTINGS = {
    "tick_seconds": 0.2,
    "kill_grace_seconds": 1,
    "heartbeat_seconds": 1,
}


def remove_containers(instance_filter):
    """Remove every container whose lab instance label matches (exact value)."""
    ids = docker("ps", "-aq", "--filter", f"label={INSTANCE_LABEL}={instance_filter}").stdout.split()
    if ids:
        docker("rm", "-f", "-v", *ids)


def clean_stale(prefix):
    """Remove containers of earlier instances with this prefix whose test process is gone.

    Instance names embed the PID of the process that started them (``<prefix>lab-<pid>-<id>``),
    so instances of a live run (another fixture, a parallel worker) are left alone.
    """
    fmt = f'{{{{.ID}}}} {{{{.Label "{INSTANCE_LABEL}"}}}}'
    out = docker("ps", "-a", "--filter", f"label={INSTANCE_LABEL}", "--format", fmt)
    stale = []
    for line in out.stdout.splitlines():
        parts = line.split()
        if len(parts) != 2 or not parts[1].startswith(f"{prefix}lab-"):
            continue
        pid = parts[1][len(prefix) + 4 :].split("-", 1)[0]
        if not pid.isdigit() or not pid_alive(int(pid)):
            stale.append(parts[0])
    if stale:
        docker("rm", "-f", "-v", *stale)


class LabInstance:
    """One lab process. ``url`` is its base URL; ``restart()`` keeps its state and containers."""

    def __init__(self, prefix, state_dir, settings):
        self.prefix = prefix
        self.instance = f"{prefix}lab-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.name_prefix = f"{self.instance}-"
        self.state_dir = str(state_dir)
        self.settings = settings
        self.process = None
        self.port = None
        self.log_path = os.path.join(self.state_dir, "lab.log")

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def _command(self, port):
        cmd = [
            sys.executable, "-m", "marathon_lab",
            "--listen", "127.0.0.1",
            "--port", str(port),
            "--port-file", os.path.join(self.state_dir, "port"),
            "--state-dir", os.path.join(self.state_dir, "state"),
            "--instance", self.instance,
            "--name-prefix", self.name_prefix,
        ]  # fmt: skip
        for key, value in self.settings.items():
            cmd += ["--set", f"{key}={value}"]
        return cmd

    def start(self, timeout=30):
        port_file = os.path.join(self.state_dir, "port")
        if os.path.exists(port_file):
            os.unlink(port_file)
        env = dict(os.environ, PYTHONPATH=str(LAB_DIR))
        # Reuse the port across restarts so that clients keep their URL.
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child writes to it while it lives
        self.process = subprocess.Popen(self._command(self.port or 0), stdout=log, stderr=subprocess.STDOUT, env=env)
        log.close()
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"lab exited with {self.process.returncode}; see {self.log_path}:\n{self.log()}")
            if os.path.exists(port_file):
                with open(port_file, encoding="utf-8") as handle:
                    self.port = int(handle.read().strip())
                return self
            time.sleep(0.05)
        self.stop_process()
        raise RuntimeError(f"lab did not start in {timeout}s; see {self.log_path}")

    def stop_process(self, timeout=15):
        """Stop the process (SIGTERM, then SIGKILL), keeping containers and state."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)

    def kill_process(self):
        """SIGKILL, as a crash would."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)

    def restart(self):
        self.stop_process()
        return self.start()

    def containers(self):
        """IDs of this instance's containers on the engine (any state)."""
        return docker("ps", "-aq", "--no-trunc", "--filter", f"label={INSTANCE_LABEL}={self.instance}").stdout.split()

    def log(self):
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as handle:
                return handle.read()[-4000:]
        except OSError:
            return ""

    def close(self):
        self.stop_process()
        remove_containers(self.instance)


@contextlib.contextmanager
def lab_instance(prefix="pptvlab-", **settings):
    """Context manager: a running private lab; yields a :class:`LabInstance` (``.url``)."""
    clean_stale(prefix)
    state_dir = tempfile.mkdtemp(prefix=f"{prefix}lab-")
    merged = dict(TEST_SETTINGS)
    merged.update(settings)
    lab = LabInstance(prefix, state_dir, merged)
    try:
        lab.start()
        yield lab
    finally:
        lab.close()
        keep = os.environ.get("PPTV_LAB_LOG_DIR")
        if keep:
            # The instance's log outlives it, e.g. to read the lab's warnings after a suite.
            os.makedirs(keep, exist_ok=True)
            with contextlib.suppress(OSError):
                shutil.copy(lab.log_path, os.path.join(keep, f"{lab.instance}.log"))
        shutil.rmtree(state_dir, ignore_errors=True)


@contextlib.contextmanager
def lab_url(prefix="pptvlab-", **settings):
    """Like :func:`lab_instance` but yields only the base URL."""
    with lab_instance(prefix, **settings) as lab:
        yield lab.url
