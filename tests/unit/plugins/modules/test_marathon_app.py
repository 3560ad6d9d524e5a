# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""marathon_app and marathon_app_info through AnsibleModule, with ``open_url`` answering like Marathon."""

from __future__ import annotations

import json

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.pptv.dcos.plugins.module_utils import _marathon_client, _marathon_deploy
from ansible_collections.pptv.dcos.plugins.modules import marathon_app, marathon_app_info
from ansible_collections.pptv.dcos.tests.unit.plugins.marathon_fake import FakeMarathon, FakeResponse, Unreachable

WEB = {
    "cmd": "python3 -m http.server 8080",
    "cpus": 0.1,
    "mem": 64,
    "instances": 2,
    "container": {
        "type": "DOCKER",
        "docker": {"image": "web:1", "network": "BRIDGE", "portMappings": [{"containerPort": 8080}]},
    },
    "labels": {"pptv.env": "int", "pptv.port": 8080},
}


class FakeTime:
    """The waiter's clock: sleeping advances it, nothing really waits."""

    def __init__(self):
        self.now = 0.0

    def monotonic(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


@pytest.fixture
def fake(monkeypatch):
    marathon = FakeMarathon()
    monkeypatch.setattr(_marathon_client, "open_url", marathon)
    monkeypatch.setattr(_marathon_deploy, "time", FakeTime())
    return marathon


def run(module, args, capsys, check=False, diff=False):
    args = dict(args)
    args.setdefault("url", "http://marathon.test:8080")
    if check:
        args["_ansible_check_mode"] = True
    if diff:
        args["_ansible_diff"] = True
    with patch_module_args(args), pytest.raises(SystemExit):
        module.main()
    return json.loads(capsys.readouterr().out)


def sent(fake):
    return [(r.method, r.path) for r in fake.writes]


# -- single app ---------------------------------------------------------------------------------


def test_create_then_nothing_to_do(fake, capsys):
    result = run(marathon_app, {"app_id": "/int/web", "definition": WEB}, capsys)
    assert result["changed"] is True
    assert result["changed_fields"] == ["app"]
    assert result["actions"] == ["create app /int/web"]
    assert sent(fake) == [("PUT", "/v2/apps/int/web")]
    assert fake.writes[0].body["labels"] == {"pptv.env": "int", "pptv.port": "8080"}
    assert result["deployment_id"]
    assert result["app"]["id"] == "/int/web"
    assert result["tasks"] == {"running": 2, "healthy": 0, "unhealthy": 0, "staged": 0}
    assert result["version"] == fake.apps["/int/web"]["version"]

    fake.requests.clear()
    again = run(marathon_app, {"app_id": "int/web/", "definition": WEB}, capsys)
    assert again["changed"] is False
    assert again["changed_fields"] == []
    assert fake.writes == []
    assert [r.path for r in fake.requests] == ["/v2/apps/int/web"]


def test_check_mode_reports_and_sends_nothing(fake, capsys):
    result = run(marathon_app, {"app_id": "/int/web", "definition": WEB}, capsys, check=True, diff=True)
    assert result["changed"] is True
    assert result["diff"]["before"] == {"app": None}
    assert result["diff"]["after"]["app"]["labels"] == {"pptv.env": "int", "pptv.port": "8080"}
    assert result["diff"]["after"]["app"]["networks"] == [{"mode": "container/bridge"}]
    assert fake.writes == []
    assert "/int/web" not in fake.apps


def test_a_label_change_is_one_update_with_its_diff(fake, capsys):
    fake.add_app(dict(WEB, id="/int/web", labels={"pptv.env": "int", "pptv.port": "8080"}))
    changed = dict(WEB, labels={"pptv.env": "fun", "pptv.port": 8080})
    result = run(marathon_app, {"app_id": "/int/web", "definition": changed}, capsys, diff=True)
    assert result["changed"] is True
    assert result["changed_fields"] == ["labels.pptv.env"]
    assert result["diff"] == {
        "before": {"labels": {"pptv.env": "int", "pptv.port": "8080"}},
        "after": {"labels": {"pptv.env": "fun", "pptv.port": "8080"}},
    }
    assert sent(fake) == [("PUT", "/v2/apps/int/web")]
    assert fake.apps["/int/web"]["labels"]["pptv.env"] == "fun"


def test_scale_stop_and_restart(fake, capsys):
    fake.add_app(dict(WEB, id="/int/web"))
    scaled = run(marathon_app, {"app_id": "/int/web", "instances": 3}, capsys)
    assert (scaled["changed"], scaled["changed_fields"]) == (True, ["instances"])
    assert fake.writes[-1].body == {"id": "/int/web", "instances": 3}

    stopped = run(marathon_app, {"app_id": "/int/web", "state": "stopped"}, capsys)
    assert stopped["changed_fields"] == ["instances"]
    assert fake.apps["/int/web"]["instances"] == 0
    assert fake.apps["/int/web"]["cmd"] == WEB["cmd"]
    assert run(marathon_app, {"app_id": "/int/web", "state": "stopped"}, capsys)["changed"] is False

    fake.requests.clear()
    restarted = run(marathon_app, {"app_id": "/int/web", "state": "restarted"}, capsys)
    assert restarted["changed"] is True
    assert restarted["actions"] == ["restart app /int/web"]
    assert sent(fake) == [("POST", "/v2/apps/int/web/restart")]


def test_absent_twice(fake, capsys):
    fake.add_app(dict(WEB, id="/int/web"))
    first = run(marathon_app, {"app_id": "/int/web", "state": "absent"}, capsys)
    assert (first["changed"], first["app"]) == (True, {})
    assert sent(fake) == [("DELETE", "/v2/apps/int/web")]
    fake.requests.clear()
    second = run(marathon_app, {"app_id": "/int/web", "state": "absent"}, capsys)
    assert second["changed"] is False
    assert fake.writes == []


def test_a_lock_is_waited_out(fake, capsys):
    fake.add_app(dict(WEB, id="/int/web"))
    blocking = fake.lock("/int/web", polls=3)
    result = run(marathon_app, {"app_id": "/int/web", "instances": 4}, capsys)
    assert result["changed"] is True
    puts = [r for r in fake.writes if r.method == "PUT"]
    assert len(puts) == 2  # refused with 409, then sent again once the blocking deployment left
    assert all(r.query.get("force") is None for r in puts)
    assert blocking not in fake.deployments


def test_a_lock_past_the_timeout_fails_naming_the_deployment_and_force_overrides(fake, capsys):
    fake.add_app(dict(WEB, id="/int/web"))
    blocking = fake.lock("/int/web", polls=10**6)
    failed = run(marathon_app, {"app_id": "/int/web", "instances": 4, "wait_timeout": 5}, capsys)
    assert failed["failed"] is True
    assert failed["changed"] is False
    assert blocking in failed["msg"]
    assert "use force=true" in failed["msg"]
    forced = run(marathon_app, {"app_id": "/int/web", "instances": 4, "force": True}, capsys)
    assert forced["changed"] is True
    assert fake.writes[-1].query == {"force": "true"}
    assert blocking not in fake.deployments


def test_a_deployment_that_never_ends_fails_naming_it(fake, capsys):
    fake.polls_per_deployment = 10**6
    result = run(marathon_app, {"app_id": "/int/web", "definition": WEB, "wait_timeout": 3}, capsys)
    assert result["failed"] is True
    assert result["changed"] is True  # the app was written; only the wait failed
    assert result["msg"].startswith("timed out after 3s waiting for deployment ")
    assert "on step 1/1 (ScaleApplication /int/web)" in result["msg"]


def test_rollback_to_a_listed_version(fake, capsys):
    fake.add_app(dict(WEB, id="/int/web"))
    first = fake.apps["/int/web"]["version"]
    run(marathon_app, {"app_id": "/int/web", "definition": dict(WEB, labels={"pptv.env": "fun"})}, capsys)
    result = run(marathon_app, {"app_id": "/int/web", "version": first}, capsys)
    assert result["changed"] is True
    assert result["changed_fields"] == ["labels.pptv.env", "labels.pptv.port"]
    assert fake.writes[-1].body == {"id": "/int/web", "version": first}
    assert fake.apps["/int/web"]["labels"] == {"pptv.env": "int", "pptv.port": "8080"}
    fake.requests.clear()
    assert run(marathon_app, {"app_id": "/int/web", "version": first}, capsys)["changed"] is False
    assert fake.writes == []
    unknown = run(marathon_app, {"app_id": "/int/web", "version": "1999-01-01T00:00:00.000Z"}, capsys)
    assert unknown["failed"] is True
    assert unknown["msg"].startswith("version: 1999-01-01T00:00:00.000Z is not a version of /int/web; its newest")


def test_rollback_to_previous_picks_the_configuration_before_the_current_one(fake, capsys):
    fake.add_app(dict(WEB, id="/int/web"))
    first = fake.apps["/int/web"]["version"]
    run(marathon_app, {"app_id": "/int/web", "definition": dict(WEB, labels={"pptv.env": "new"})}, capsys)
    # A scale-only change after it: Marathon keeps lastConfigChangeAt (the fake moves both).
    run(marathon_app, {"app_id": "/int/web", "instances": 3}, capsys)
    app = fake.apps["/int/web"]
    config_change = sorted(fake.versions["/int/web"])[1]
    app["versionInfo"]["lastConfigChangeAt"] = config_change
    result = run(marathon_app, {"app_id": "/int/web", "version": "previous"}, capsys)
    assert result["changed"] is True
    assert result["target_version"] == first
    assert fake.writes[-1].body == {"id": "/int/web", "version": first}
    assert fake.apps["/int/web"]["labels"] == {"pptv.env": "int", "pptv.port": "8080"}
    # Run again, "previous" is the configuration just left: the newer one.
    again = run(marathon_app, {"app_id": "/int/web", "version": "previous"}, capsys)
    assert again["changed"] is True
    assert fake.apps["/int/web"]["labels"]["pptv.env"] == "new"


def test_rollback_to_previous_cancels_a_running_deployment_with_force(fake, capsys):
    fake.add_app(dict(WEB, id="/int/web"))
    first = fake.apps["/int/web"]["version"]
    run(marathon_app, {"app_id": "/int/web", "definition": dict(WEB, labels={"pptv.env": "new"})}, capsys)
    rolling_out = fake.lock("/int/web", polls=10**6)  # the new configuration still rolling out
    result = run(marathon_app, {"app_id": "/int/web", "version": "previous", "force": True}, capsys)
    assert result["target_version"] == first
    assert fake.writes[-1].query == {"force": "true"}
    assert fake.writes[-1].body == {"id": "/int/web", "version": first}
    assert rolling_out not in fake.deployments


def test_rollback_to_previous_without_an_earlier_version_fails_and_sends_nothing(fake, capsys):
    fake.add_app(dict(WEB, id="/int/web"))
    fake.requests.clear()
    result = run(marathon_app, {"app_id": "/int/web", "version": "previous"}, capsys)
    assert result["failed"] is True
    assert result["msg"].startswith("version: app /int/web has no version before its current configuration")
    assert fake.writes == []


# -- bulk ---------------------------------------------------------------------------------------


def test_bulk_is_one_read_one_batch_write_and_one_wait(fake, capsys):
    apps = [{"app_id": f"/env/app{n}", "definition": dict(WEB, instances=1)} for n in range(50)]
    result = run(marathon_app, {"apps": apps}, capsys)
    assert result["changed"] is True
    assert sent(fake) == [("PUT", "/v2/apps")]
    assert len(fake.writes[0].body) == 50
    assert len(result["deployment_ids"]) == 1
    assert [a["app_id"] for a in result["apps"]] == [f"/env/app{n}" for n in range(50)]
    assert all(a["tasks"]["running"] == 1 for a in result["apps"])
    reads = [r for r in fake.requests if r.method == "GET" and r.path == "/v2/apps"]
    assert reads[0].query == {"id": "/env/"}

    fake.requests.clear()
    again = run(marathon_app, {"apps": apps}, capsys)
    assert again["changed"] is False
    assert [(r.method, r.path) for r in fake.requests] == [("GET", "/v2/apps")]


def test_bulk_mixes_updates_deletes_and_reports_each(fake, capsys):
    fake.add_app(dict(WEB, id="/env/keep"))
    fake.add_app(dict(WEB, id="/env/change"))
    fake.add_app(dict(WEB, id="/env/gone"))
    apps = [
        {"app_id": "/env/keep", "definition": WEB},
        {"app_id": "/env/change", "definition": WEB, "instances": 1},
        {"app_id": "/env/gone", "state": "absent"},
        {"app_id": "/env/new", "definition": WEB, "state": "stopped"},
    ]
    result = run(marathon_app, {"apps": apps}, capsys, diff=True)
    summary = {a["app_id"]: (a["changed"], a["action"], a["changed_fields"]) for a in result["apps"]}
    assert summary == {
        "/env/keep": (False, None, []),
        "/env/change": (True, "update", ["instances"]),
        "/env/gone": (True, "delete", ["app"]),
        "/env/new": (True, "create", ["app"]),
    }
    assert sent(fake) == [("PUT", "/v2/apps"), ("DELETE", "/v2/apps/env/gone")]
    assert fake.apps["/env/new"]["instances"] == 0
    assert sorted(result["diff"]["before"]) == ["/env/change", "/env/gone", "/env/new"]


def test_bulk_check_mode_writes_nothing(fake, capsys):
    result = run(marathon_app, {"apps": [{"app_id": "/env/a", "definition": WEB}]}, capsys, check=True)
    assert result["changed"] is True
    assert fake.writes == []


# -- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"app_id": "/Bad_Id", "definition": WEB}, "app_id: '/Bad_Id' is not valid: a Marathon app id"),
        ({"app_id": "/int/web", "definition": dict(WEB, instances="two")}, "definition.instances: must be an integer"),
        ({"app_id": "/int/web", "definition": WEB, "instances": -1}, "instances: must be 0 or more, got -1"),
        ({"app_id": "/int/web", "definition": dict(WEB, id="/int/other")}, "does not match app_id"),
        ({"app_id": "/int/web"}, "definition: app /int/web does not exist; a definition is needed to create it"),
        ({"apps": [{"app_id": "/a"}, {"app_id": "a/"}]}, "apps[1].app_id: /a is listed twice"),
        ({"apps": [{"app_id": "/a", "definition": {"cpus": "x"}}]}, "apps[0].definition.cpus: must be a number"),
        ({"app_id": "/a", "apps": []}, "mutually exclusive"),
        ({"app_id": "/a", "url": "marathon:8080"}, "url: marathon:8080 is not an http:// or https:// URL"),
    ],
)
def test_bad_input_fails_naming_the_option_and_sends_nothing(fake, capsys, args, message):
    result = run(marathon_app, args, capsys)
    assert result["failed"] is True
    assert message in result["msg"]
    assert "Traceback" not in json.dumps(result)
    assert fake.writes == []


def test_marathons_422_reaches_the_user_with_the_path(fake, capsys):
    fake.add_app(dict(WEB, id="/int/web"))
    result = run(marathon_app, {"app_id": "/int/web", "definition": dict(WEB, instances=-3)}, capsys)
    assert result["failed"] is True
    assert "instances: must be 0 or more" in result["msg"]  # caught before sending
    assert fake.writes == []


def test_an_unreachable_marathon_lists_the_urls(monkeypatch, capsys):
    monkeypatch.setattr(_marathon_client, "open_url", Unreachable())
    result = run(marathon_app, {"app_id": "/a", "definition": WEB, "url": ["http://m1:8080", "http://m2:8080"]}, capsys)
    assert result["failed"] is True
    assert "http://m1:8080 (" in result["msg"]
    assert "http://m2:8080 (" in result["msg"]
    assert result["urls_tried"] == ["http://m1:8080", "http://m2:8080"]


def test_the_url_comes_from_the_environment(fake, capsys, monkeypatch):
    monkeypatch.setenv("MARATHON_URL", "http://down:8080,http://marathon.test:8080")
    args = {"app_id": "/int/web", "definition": WEB}
    with patch_module_args(args), pytest.raises(SystemExit):
        marathon_app.main()
    result = json.loads(capsys.readouterr().out)
    assert result["changed"] is True
    assert fake.requests[0].base == "http://down:8080"


def test_the_password_is_never_returned(fake, capsys):
    result = run(marathon_app, {"app_id": "/a", "definition": WEB, "username": "ops", "password": "hunter2"}, capsys)
    assert "hunter2" not in json.dumps(result)
    assert fake.requests[0].options["url_password"] == "hunter2"


# -- info ---------------------------------------------------------------------------------------


def test_info_by_id_group_and_label(fake, capsys):
    fake.add_app(dict(WEB, id="/int/web", labels={"tier": "web"}))
    fake.add_app(dict(WEB, id="/int/db/redis", labels={"tier": "db"}))
    fake.add_app(dict(WEB, id="/integration/x", labels={"tier": "web"}))
    by_id = run(marathon_app_info, {"app_id": "/int/web", "versions": True}, capsys)
    assert [a["id"] for a in by_id["apps"]] == ["/int/web"]
    assert by_id["apps"][0]["versions"] == [fake.apps["/int/web"]["version"]]
    assert by_id["changed"] is False
    group = run(marathon_app_info, {"group": "/int"}, capsys)
    assert [a["id"] for a in group["apps"]] == ["/int/db/redis", "/int/web"]
    assert len(group["apps"][0]["tasks"]) == 2
    labelled = run(marathon_app_info, {"label": "tier==web", "tasks": False}, capsys)
    assert [a["id"] for a in labelled["apps"]] == ["/int/web", "/integration/x"]
    assert "tasks" not in labelled["apps"][0]
    missing = run(marathon_app_info, {"app_id": "/nope"}, capsys)
    assert missing["apps"] == []
    assert fake.writes == []


# -- the result and failure contract, hostile options (issue 10) --------------------------------


def test_diff_only_with_diff_mode(fake, capsys):
    plain = run(marathon_app, {"app_id": "/int/web", "definition": WEB}, capsys)
    assert "diff" not in plain
    again = run(marathon_app, {"app_id": "/int/web", "definition": dict(WEB, instances=3)}, capsys, diff=True)
    assert again["diff"] == {"before": {"instances": 2}, "after": {"instances": 3}}
    info = run(marathon_app_info, {"app_id": "/int/web"}, capsys, diff=True)
    assert "diff" not in info


def test_a_failed_wait_reports_the_write_that_was_made(fake, capsys):
    fake.polls_per_deployment = 10**6
    result = run(marathon_app, {"app_id": "/int/web", "definition": WEB, "wait_timeout": 3}, capsys)
    assert result["failed"] is True
    assert (result["changed"], result["actions"]) == (True, ["create app /int/web"])
    assert result["deployment_ids"]


def test_a_refused_write_reports_nothing_applied(fake, capsys):
    fake.add_app(dict(WEB, id="/int/web"))
    fake.lock("/int/web", polls=10**6)
    result = run(marathon_app, {"app_id": "/int/web", "instances": 4, "wait_timeout": 2}, capsys)
    assert result["failed"] is True
    assert (result["changed"], result["actions"]) == (False, [])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"definition": dict(WEB, cpus=float("inf"))}, "definition.cpus: must be a finite number, got inf"),
        ({"definition": dict(WEB, mem=float("nan"))}, "definition.mem: must be a finite number, got nan"),
        (
            {"definition": dict(WEB, portDefinitions=[{"port": 70000}])},
            "definition.portDefinitions[0].port: must be 65535 or less, got 70000",
        ),
        ({"definition": WEB, "timeout": -1}, "timeout: must be more than 0, got -1"),
        ({"definition": WEB, "timeout": 0}, "timeout: must be more than 0, got 0"),
        ({"definition": WEB, "wait_timeout": -1}, "wait_timeout: must be more than 0, got -1"),
        ({"definition": WEB, "wait_timeout": float("inf")}, "wait_timeout: must be a finite number, got inf"),
        ({"state": "absent", "version": "v1"}, "version: a rollback needs state present or restarted, not absent"),
    ],
)
def test_hostile_options_fail_naming_the_option_and_write_nothing(fake, capsys, args, message):
    result = run(marathon_app, dict(args, app_id="/int/web"), capsys)
    assert result["failed"] is True
    assert message in result["msg"]
    assert (result["changed"], result["actions"]) == (False, [])
    assert fake.writes == []
    if "definition" not in message:  # an option, not the definition: checked before any request
        assert fake.requests == []


@pytest.mark.parametrize("module", [marathon_app, marathon_app_info])
def test_credentials_in_the_url_are_refused_and_never_shown(fake, capsys, module):
    url = "https://ops:Hunter2-secret@marathon.test:8443"
    result = run(module, {"app_id": "/int/web", "url": [url]}, capsys)
    assert result["failed"] is True
    assert result["msg"] == (
        "url: https://marathon.test:8443 holds credentials (user:password@); give them as the username and "
        "password options (or token) instead, which are never logged"
    )
    assert "Hunter2-secret" not in json.dumps(result)
    assert result["invocation"]["module_args"]["url"] != [url]
    assert fake.requests == []


@pytest.mark.parametrize(
    ("body", "what"),
    [
        ({"app": "a string"}, "'app' must be an object"),
        ({"app": {"id": "/int/web", "tasks": [1]}}, "tasks[0]: a task must be an object"),
    ],
)
def test_a_marathon_answer_of_the_wrong_shape_is_a_sentence(monkeypatch, capsys, body, what):
    def opener(url, **_kwargs):
        return FakeResponse(200, body)

    monkeypatch.setattr(_marathon_client, "open_url", opener)
    for module in (marathon_app, marathon_app_info):
        result = run(
            module, {"app_id": "/int/web", "definition": WEB} if module is marathon_app else {"app_id": "/a"}, capsys
        )
        assert result["failed"] is True
        assert "which is not Marathon's JSON" in result["msg"] and what in result["msg"]
        assert "does url point at Marathon itself?" in result["msg"]
