# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""MarathonAppManager without AnsibleModule: the fake Marathon at the HTTP boundary, a fake clock."""

from __future__ import annotations

import pytest

from ansible_collections.pptv.dcos.plugins.module_utils._diff import ChangeRecord
from ansible_collections.pptv.dcos.plugins.module_utils._errors import DcosError
from ansible_collections.pptv.dcos.plugins.module_utils._marathon_client import MarathonClient
from ansible_collections.pptv.dcos.plugins.module_utils._marathon_deploy import DeploymentWaiter
from ansible_collections.pptv.dcos.plugins.module_utils._marathon_manager import MarathonAppManager, read_apps
from ansible_collections.pptv.dcos.tests.unit.plugins.marathon_fake import FakeMarathon

WEB = {"cmd": "sleep 100", "instances": 2, "labels": {"env": "int"}}


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


@pytest.fixture
def fake():
    return FakeMarathon()


def manager(fake, check_mode=False, diff_mode=False, **params):
    client = MarathonClient(fake.base, opener=fake)
    clock = Clock()
    waiter = DeploymentWaiter(client, timeout=params.get("wait_timeout", 60), clock=clock, sleep=clock.sleep)
    record = ChangeRecord(check_mode=check_mode, diff_mode=diff_mode)
    return MarathonAppManager(client, params, record, waiter=waiter), record


def writes(fake):
    return [(r.method, r.path) for r in fake.writes]


def test_bulk_creates_updates_deletes_and_restarts_with_one_read_and_one_batch(fake):
    fake.add_app(dict(WEB, id="/env/change"))
    fake.add_app(dict(WEB, id="/env/same"))
    fake.add_app(dict(WEB, id="/env/gone"))
    fake.add_app(dict(WEB, id="/env/bounce"))
    apps = [
        {"app_id": "/env/new", "definition": WEB},
        {"app_id": "/env/change", "definition": dict(WEB, instances=3)},
        {"app_id": "/env/same", "definition": WEB},
        {"app_id": "/env/gone", "state": "absent"},
        {"app_id": "/env/bounce", "state": "restarted"},
    ]
    bulk, record = manager(fake, diff_mode=True, apps=apps)
    result = bulk.run()
    assert writes(fake) == [
        ("PUT", "/v2/apps"),
        ("DELETE", "/v2/apps/env/gone"),
        ("POST", "/v2/apps/env/bounce/restart"),
    ]
    assert [r.path for r in fake.requests if r.method == "GET"].count("/v2/apps") >= 1
    assert [b["id"] for b in fake.writes[0].body] == ["/env/new", "/env/change"]
    assert result["actions"] == [
        "write 2 app(s) in one batch: /env/new, /env/change",
        "delete app /env/gone",
        "restart app /env/bounce",
    ]
    assert record.applied == result["actions"]
    assert [(a["app_id"], a["action"], a["changed"]) for a in result["apps"]] == [
        ("/env/new", "create", True),
        ("/env/change", "update", True),
        ("/env/same", None, False),
        ("/env/gone", "delete", True),
        ("/env/bounce", "restart", True),
    ]
    assert sorted(result["diff"]["before"]) == ["/env/change", "/env/gone", "/env/new"]
    assert len(result["deployment_ids"]) == 3
    assert not fake.deployments


def test_bulk_check_mode_sends_only_reads_and_has_no_diff_without_diff_mode(fake):
    fake.add_app(dict(WEB, id="/env/a"))
    bulk, record = manager(fake, check_mode=True, apps=[{"app_id": "/env/a", "state": "absent"}])
    result = bulk.run()
    assert (result["changed"], result["actions"]) == (True, ["delete app /env/a"])
    assert "diff" not in result
    assert fake.writes == [] and record.applied == []


def test_bulk_failure_after_the_batch_reports_only_what_was_written(fake):
    fake.add_app(dict(WEB, id="/env/gone"))
    fake.lock("/env/gone", polls=10**6)
    bulk, record = manager(
        fake,
        wait_timeout=3,
        apps=[{"app_id": "/env/new", "definition": WEB}, {"app_id": "/env/gone", "state": "absent"}],
    )
    with pytest.raises(DcosError, match="locked by deployment"):
        bulk.run()
    assert record.failure() == {"changed": True, "actions": ["write 1 app(s) in one batch: /env/new"]}
    assert writes(fake)[0] == ("PUT", "/v2/apps")
    assert "/env/gone" in fake.apps


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"apps": [{"app_id": "/a", "instances": -1}]}, "apps[0].instances: must be 0 or more, got -1"),
        ({"apps": [{"app_id": "/a", "definition": {"cmd": "x", "cpus": float("nan")}}]}, "apps[0].definition.cpus"),
        ({"apps": [{"app_id": "/a", "definition": {"cmd": "x", "ports": [65536]}}]}, "apps[0].definition.ports[0]"),
        ({"apps": [{"app_id": "/a"}, {"app_id": "/a/"}]}, "apps[1].app_id: /a is listed twice"),
        ({"apps": [{"app_id": "/Bad"}]}, "apps[0].app_id: '/Bad' is not valid"),
        ({"app_id": "/a", "wait_timeout": 0}, "wait_timeout: must be more than 0, got 0"),
    ],
)
def test_bulk_bad_entries_fail_naming_the_entry_and_write_nothing(fake, params, message):
    with pytest.raises(DcosError) as error:
        manager(fake, **params)[0].run()
    assert message in error.value.msg
    assert fake.writes == []


def test_single_without_wait_reads_the_app_back(fake):
    single, record = manager(fake, app_id="/int/web", definition=WEB, wait=False)
    result = single.run()
    assert result["changed"] and result["app"]["id"] == "/int/web"
    assert record.applied == ["create app /int/web"]
    assert [r.path for r in fake.requests if r.path == "/v2/deployments"] == []


def test_read_apps_by_group_leaves_out_look_alike_groups(fake):
    fake.add_app(dict(WEB, id="/int/web"))
    fake.add_app(dict(WEB, id="/integration/web"))
    client = MarathonClient(fake.base, opener=fake)
    assert [a["id"] for a in read_apps(client, group="/int", tasks=False)] == ["/int/web"]
