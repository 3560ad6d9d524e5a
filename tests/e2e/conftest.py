# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures of the end-to-end suites: a private lab instance and an HTTP client for it."""

from __future__ import annotations

import uuid

import pytest
from labhelpers import Api
from support.lab import lab_instance

PREFIX = "pptvlab-"


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
    client.wait_for(lambda: not client.deployments(), 30, what="deployments finished")


@pytest.fixture
def app_id():
    return f"/pptvlab/t{uuid.uuid4().hex[:8]}"
