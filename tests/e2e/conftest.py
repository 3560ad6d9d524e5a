# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures of the end-to-end suites: a private lab instance and an HTTP client for it."""

from __future__ import annotations

import time
import uuid

import pytest
import requests
from support.lab import lab_instance

PREFIX = "pptvlab-"
IMAGE = "pptv-dcos/base:bookworm"
APP_IMAGE = "pptv-dcos/app:bookworm"


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
            lambda: (lambda t: t if len(t) == count and all(x["state"] == "TASK_RUNNING" for x in t) else None)(
                self.tasks(app_id)
            ),
            timeout,
            what=f"{count} running tasks of {app_id}",
        )


@pytest.fixture(scope="session")
def lab():
    with lab_instance(PREFIX) as instance:
        yield instance


@pytest.fixture
def api(lab):
    client = Api(lab.url)
    yield client
    # Remove every app the test left behind (force: cancel deployments touching it).
    for app in client.get("/v2/apps").json().get("apps", []):
        client.delete(f"/v2/apps{app['id']}?force=true")
    client.wait_for(lambda: not client.get("/v2/apps").json()["apps"], 30, what="apps removed")


@pytest.fixture
def app_id():
    return f"/pptvlab/t{uuid.uuid4().hex[:8]}"


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
