# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Small process, port and Docker helpers the suites' service fixtures share."""

from __future__ import annotations

import os
import socket
import subprocess


def free_port(udp_too=False):
    """A loopback TCP port nobody listens on now (and free for UDP too when ``udp_too``)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
        tcp.bind(("127.0.0.1", 0))
        port = tcp.getsockname()[1]
    if udp_too:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", port))
    return port


def pid_alive(pid):
    """Whether process ``pid`` exists (owned by anyone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_process(proc, timeout=15):
    """End ``proc`` (a Popen we started): SIGTERM, then SIGKILL after ``timeout`` seconds."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout)


def docker(*args, check=False, timeout=300):
    """Run the docker CLI; returns the CompletedProcess (text output)."""
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=check)
