# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers of the lab conformance suite: an HTTP client, an SSE reader, app bodies."""

from __future__ import annotations

import contextlib
import json
import queue
import socket
import subprocess
import threading
import time
from urllib.parse import urlsplit

import requests

IMAGE = "pptv-dcos/base:bookworm"
APP_IMAGE = "pptv-dcos/app:bookworm"


def _all_running(tasks, count):
    if len(tasks) == count and all(t["state"] == "TASK_RUNNING" for t in tasks):
        return tasks
    return None


class Api:
    """A thin client: ``api.get("/v2/apps")`` returns the ``requests`` response."""

    def __init__(self, base):
        self.base = base
        self.session = requests.Session()

    def request(self, method, path, **kwargs):
        kwargs.setdefault("timeout", 30)
        return self.session.request(method, self.base + path, **kwargs)

    def get(self, path, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path, **kwargs):
        return self.request("POST", path, **kwargs)

    def put(self, path, **kwargs):
        return self.request("PUT", path, **kwargs)

    def patch(self, path, **kwargs):
        return self.request("PATCH", path, **kwargs)

    def delete(self, path, **kwargs):
        return self.request("DELETE", path, **kwargs)

    def wait_for(self, predicate, timeout=60, interval=0.2, what="condition"):
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            last = predicate()
            if last:
                return last
            time.sleep(interval)
        raise AssertionError(f"timed out after {timeout}s waiting for {what}; last value: {last!r}")

    def deployments(self):
        return self.get("/v2/deployments").json()

    def wait_deployed(self, deployment_id=None, timeout=60):
        def done():
            ids = [d["id"] for d in self.deployments()]
            return deployment_id not in ids if deployment_id else not ids

        self.wait_for(done, timeout, what=f"deployment {deployment_id or '(all)'} to finish")

    def tasks(self, app_id):
        response = self.get(f"/v2/apps{app_id}/tasks")
        return response.json().get("tasks", []) if response.status_code == 200 else []

    def wait_running(self, app_id, count, timeout=60):
        return self.wait_for(
            lambda: _all_running(self.tasks(app_id), count),
            timeout,
            what=f"{count} running tasks of {app_id}",
        )


def sleeper(app_id, instances=1, **extra):
    body = {
        "id": app_id,
        "cmd": "sleep 3600",
        "cpus": 0.01,
        "mem": 16,
        "instances": instances,
        "container": {"type": "DOCKER", "docker": {"image": IMAGE}},
    }
    body.update(extra)
    return body


def http_app(app_id, instances=1, **extra):
    """An app serving HTTP on $PORT0 (host networking) with python3's http.server."""
    body = {
        "id": app_id,
        "cmd": "cd /tmp && echo ok > health && exec python3 -m http.server $PORT0",
        "cpus": 0.01,
        "mem": 32,
        "instances": instances,
        "container": {"type": "DOCKER", "docker": {"image": APP_IMAGE}},
        "portDefinitions": [{"port": 0, "protocol": "tcp", "name": "http"}],
    }
    body.update(extra)
    return body


class EventStream:
    """Reads ``/v2/events`` over a raw socket, keeping the exact bytes and the parsed events."""

    def __init__(self, base, event_types=(), accept="text/event-stream", headers=None, source_ip=None):
        parts = urlsplit(base)
        # source_ip (another loopback address, e.g. 127.0.0.2) makes this stream's attach and
        # detach events (their remoteAddress) tell apart from other streams of the suite.
        source = (source_ip, 0) if source_ip else None
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=30, source_address=source)
        query = "&".join(f"event_type={t}" for t in event_types)
        path = "/v2/events" + (f"?{query}" if query else "")
        lines = [f"GET {path} HTTP/1.1", f"Host: {parts.hostname}:{parts.port}", f"Accept: {accept}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.raw = b""
        self.events = queue.Queue()
        self.closed = threading.Event()
        self.status = None
        self.headers = {}
        self._buffer = b""
        self._header_done = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        self._header_done.wait(10)

    def _read(self):
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    break
                self.raw += chunk
                self._buffer += chunk
                if not self._header_done.is_set():
                    if b"\r\n\r\n" not in self._buffer:
                        continue
                    head, self._buffer = self._buffer.split(b"\r\n\r\n", 1)
                    status_line, *header_lines = head.decode().split("\r\n")
                    self.status = int(status_line.split()[1])
                    self.headers = {k.lower(): v.strip() for k, _sep, v in (h.partition(":") for h in header_lines)}
                    self._header_done.set()
                while b"\r\n\r\n" in self._buffer:
                    block, self._buffer = self._buffer.split(b"\r\n\r\n", 1)
                    fields = dict(line.split(": ", 1) for line in block.decode().split("\r\n") if ": " in line)
                    if "event" in fields:
                        self.events.put((fields["event"], json.loads(fields["data"])))
        except OSError:
            pass
        finally:
            self._header_done.set()
            self.closed.set()

    def next(self, timeout=30):
        return self.events.get(timeout=timeout)

    def collect_until(self, predicate, timeout=60):
        """Events until one satisfies ``predicate(type, data)`` (inclusive)."""
        seen = []
        deadline = time.time() + timeout
        while True:
            left = deadline - time.time()
            if left <= 0:
                raise AssertionError(f"event not seen in {timeout}s; got {[e[0] for e in seen]}")
            try:
                event = self.events.get(timeout=left)
            except queue.Empty:
                continue
            seen.append(event)
            if predicate(*event):
                return seen

    def close(self):
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()


def docker_inspect(container_id, template):
    return subprocess.run(
        ["docker", "inspect", "-f", template, container_id], capture_output=True, text=True, check=True
    ).stdout.strip()
