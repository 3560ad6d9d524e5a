# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A standalone ZooKeeper from Debian's ``zookeeper`` package, on a free loopback port.

:func:`start_zookeeper` writes its own ``zoo.cfg`` and data directory under ``workdir`` and runs
``java`` with the class path Debian ships (``/usr/share/java/zookeeper.jar`` names its dependencies
in its manifest); :meth:`ZooKeeperServer.stop` ends that one process by PID. A server left behind
by a killed run is recognised by its config path (which carries ``tag``) and a dead owner process,
and stopped first; servers of live runs are left alone.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from support.procs import free_port, pid_alive, stop_process

JAVA = "/usr/bin/java"
CLASSPATH = "/etc/zookeeper/conf:/usr/share/java/zookeeper.jar"
MAIN = "org.apache.zookeeper.server.ZooKeeperServerMain"


def stop_stale(tag):
    """Stop ZooKeeper servers of earlier runs whose config path contains ``tag``.

    A server is stale when the process that started it (``owner.pid`` beside its ``zoo.cfg``) is
    gone; servers of runs still alive (another suite or checkout using the same tag) are spared.
    """
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = [part.decode(errors="replace") for part in (entry / "cmdline").read_bytes().split(b"\0")]
        except OSError:
            continue
        if MAIN not in cmdline or not any(tag in part for part in cmdline):
            continue
        config = Path(cmdline[-2] if not cmdline[-1] else cmdline[-1])
        try:
            owner = int((config.parent / "owner.pid").read_text().strip())
        except (OSError, ValueError):
            owner = None
        if owner is not None and pid_alive(owner):
            continue
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(entry.name), signal.SIGKILL)


class ZooKeeperServer:
    def __init__(self, proc, port, workdir):
        self.proc = proc
        self.port = port
        self.workdir = workdir
        self.hosts = f"127.0.0.1:{port}"

    def stop(self):
        stop_process(self.proc)


def _answers(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"srvr")
            return b"Zookeeper version" in sock.recv(4096)
    except OSError:
        return False


def start_zookeeper(workdir, tag, timeout=60):
    """Start a standalone server with its state in ``workdir``; returns a :class:`ZooKeeperServer`."""
    stop_stale(tag)
    workdir = Path(workdir)
    data = workdir / "data"
    data.mkdir(parents=True, exist_ok=True)
    port = free_port()
    (workdir / "owner.pid").write_text(f"{os.getpid()}\n")
    config = workdir / "zoo.cfg"
    config.write_text(
        "\n".join(
            [
                "tickTime=2000",
                f"dataDir={data}",
                f"clientPort={port}",
                "clientPortAddress=127.0.0.1",
                "maxClientCnxns=200",
                "admin.enableServer=false",
                "4lw.commands.whitelist=srvr,ruok",
                "",
            ]
        )
    )
    log = open(workdir / "zookeeper.log", "wb")  # noqa: SIM115 - handed to the child process
    cmd = [
        JAVA,
        "-Xmx256m",
        f"-Dzookeeper.log.dir={workdir}",
        "-Dzookeeper.root.logger=WARN,CONSOLE",
        "-cp",
        CLASSPATH,
        MAIN,
        str(config),
    ]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    log.close()
    server = ZooKeeperServer(proc, port, workdir)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"ZooKeeper exited ({proc.returncode}):\n{(workdir / 'zookeeper.log').read_text()}")
        if _answers(port):
            return server
        time.sleep(0.3)
    server.stop()
    raise RuntimeError(f"ZooKeeper did not answer on {server.hosts} within {timeout}s")
