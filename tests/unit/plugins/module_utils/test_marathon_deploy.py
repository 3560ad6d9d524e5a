# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The deployment waiter and the 409 lock retry, on the fake Marathon (transport replaced)."""

from __future__ import annotations

import pytest

from ansible_collections.pptv.dcos.plugins.module_utils._errors import DcosError
from ansible_collections.pptv.dcos.plugins.module_utils._marathon_client import MarathonClient
from ansible_collections.pptv.dcos.plugins.module_utils._marathon_deploy import (
    DeploymentWaiter,
    app_readiness,
    call_unlocked,
    common_group,
)
from ansible_collections.pptv.dcos.tests.unit.plugins.marathon_fake import FakeMarathon, Script, http_error, ok


class Clock:
    def __init__(self):
        self.now = 0.0
        self.slept = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


def test_the_waiter_polls_until_the_deployment_is_gone_and_the_tasks_run():
    fake = FakeMarathon(polls_per_deployment=3)
    client = MarathonClient(fake.base, opener=fake)
    deployment_id, _version = client.put_app("/g/web", {"cmd": "x", "instances": 2})
    clock = Clock()
    apps = DeploymentWaiter(client, timeout=60, clock=clock, sleep=clock.sleep).wait(
        [deployment_id], app_ids=["/g/web"]
    )
    assert apps["/g/web"]["tasksRunning"] == 2
    assert not fake.deployments
    assert len(clock.slept) == 3
    assert [r.path for r in fake.requests].count("/v2/deployments") == 4


def test_the_waiter_names_the_deployment_and_its_step_on_timeout():
    fake = FakeMarathon()
    deployment_id = fake.lock("/g/web", polls=1000)
    clock = Clock()
    waiter = DeploymentWaiter(MarathonClient(fake.base, opener=fake), timeout=5, clock=clock, sleep=clock.sleep)
    with pytest.raises(DcosError) as error:
        waiter.wait([deployment_id])
    assert error.value.msg == (
        f"timed out after 5s waiting for deployment {deployment_id} on step 1/1 (RestartApplication /g/web)"
    )
    assert clock.now == 5


def test_readiness_wants_every_task_of_the_new_config_healthy():
    app = {
        "instances": 2,
        "versionInfo": {"lastConfigChangeAt": "2026-01-02T00:00:00.000Z"},
        "healthChecks": [{"protocol": "HTTP"}],
        "tasks": [
            {"state": "TASK_RUNNING", "version": "2026-01-02T00:00:00.000Z", "healthCheckResults": [{"alive": True}]},
            {"state": "TASK_RUNNING", "version": "2026-01-01T00:00:00.000Z", "healthCheckResults": [{"alive": True}]},
        ],
    }
    assert app_readiness(app) == (False, "1 running, 1 healthy of 2 wanted, 1 of an older version")
    app["tasks"][1]["version"] = "2026-01-03T00:00:00.000Z"  # a task launched by a later scale
    assert app_readiness(app) == (True, "2 running, 2 healthy of 2 wanted")
    app["tasks"][1]["healthCheckResults"] = [{"alive": False}]
    assert app_readiness(app)[0] is False


def test_a_lock_is_waited_out_then_the_call_retried():
    fake = FakeMarathon()
    fake.add_app({"id": "/g/web", "cmd": "x"})
    blocking = fake.lock("/g/web", polls=2)
    client = MarathonClient(fake.base, opener=fake)
    clock = Clock()
    waiter = DeploymentWaiter(client, timeout=60, clock=clock, sleep=clock.sleep)
    call_unlocked(lambda force: client.restart_app("/g/web", force=force), waiter, force=False)
    sent = [(r.method, r.path) for r in fake.requests]
    assert sent[0] == ("POST", "/v2/apps/g/web/restart")
    assert sent[-1] == ("POST", "/v2/apps/g/web/restart")
    assert ("GET", "/v2/deployments") in sent
    assert blocking not in fake.deployments


def test_a_lock_that_outlives_the_timeout_names_the_blocking_deployment():
    fake = FakeMarathon()
    fake.add_app({"id": "/g/web", "cmd": "x"})
    blocking = fake.lock("/g/web", polls=1000)
    client = MarathonClient(fake.base, opener=fake)
    clock = Clock()
    waiter = DeploymentWaiter(client, timeout=3, clock=clock, sleep=clock.sleep)
    with pytest.raises(DcosError) as error:
        call_unlocked(lambda force: client.restart_app("/g/web", force=force), waiter, force=False)
    assert error.value.msg == (
        f"the app is locked by deployment(s) {blocking} that did not finish within 3s; use force=true to override"
    )


def test_force_overrides_the_lock_at_once():
    fake = FakeMarathon()
    fake.add_app({"id": "/g/web", "cmd": "x"})
    fake.lock("/g/web", polls=1000)
    client = MarathonClient(fake.base, opener=fake)
    call_unlocked(lambda force: client.restart_app("/g/web", force=force), DeploymentWaiter(client), force=True)
    assert [(r.method, r.query) for r in fake.requests] == [("POST", {"force": "true"})]


@pytest.mark.parametrize(
    ("ids", "group"),
    [
        (["/a/b/x", "/a/b/y"], "/a/b/"),
        (["/a/b/x", "/a/c/y"], "/a/"),
        (["/x", "/a/y"], None),
        (["/a/b/x"], "/a/b/"),
        ([], None),
    ],
)
def test_common_group(ids, group):
    assert common_group(ids) == group


def test_a_lock_naming_no_listed_deployment_is_retried_with_pauses_until_the_deadline():
    # Marathon answers 409 with a deployment that /v2/deployments does not list (a stale id).
    url = "http://m1:8080"
    locked = {"message": "App is locked by one or more deployments.", "deployments": [{"id": "stale"}]}
    outcomes = []
    for _attempt in range(200):
        outcomes += [(url + "/v2/apps/g/web/restart", http_error(url, 409, locked)), (url + "/v2/deployments", ok([]))]
    script = Script(*outcomes)
    client = MarathonClient(url, opener=script)
    clock = Clock()
    waiter = DeploymentWaiter(client, timeout=10, clock=clock, sleep=clock.sleep)
    with pytest.raises(DcosError, match=r"locked by deployment\(s\) stale that did not finish within 10s"):
        call_unlocked(lambda force: client.restart_app("/g/web", force=force), waiter, force=False)
    restarts = [c for c in script.calls if c["url"].endswith("/restart")]
    # Paced by the waiter's interval (0.5 s growing to 2 s) over 10 s of the fake clock, not a tight loop.
    assert 3 <= len(restarts) <= 12
