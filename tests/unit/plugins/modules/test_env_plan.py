# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pptv.dcos.env_plan through AnsibleModule; its ``apps`` fed to marathon_app against the fake Marathon."""

from __future__ import annotations

import copy
import json

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.pptv.dcos.lab.marathon_lab import appdef as lab_appdef
from ansible_collections.pptv.dcos.plugins.module_utils import _marathon_client, _marathon_deploy
from ansible_collections.pptv.dcos.plugins.modules import env_plan, marathon_app
from ansible_collections.pptv.dcos.tests.unit.plugins.marathon_fake import FakeMarathon

CATALOGUE = [
    {"name": "redis", "image": "redis:7", "port": 6379, "protocol": "tcp", "stateful": True, "data_path": "/data"},
    {
        "name": "mariadb",
        "image": "mariadb:11",
        "port": 3306,
        "protocol": "tcp",
        "stateful": True,
        "data_path": "/var/lib/mysql",
    },
    {
        "name": "zookeeper",
        "image": "zookeeper:3.9",
        "port": 2181,
        "protocol": "tcp",
        "stateful": True,
        "data_path": "/var/lib/zookeeper",
    },
    {"name": "web", "project": "shop", "image": "sample:1", "port": 8080, "dependencies": ["api", "redis"]},
    {"name": "api", "project": "pay", "image": "sample:1", "port": 8081, "dependencies": ["mariadb", "zookeeper"]},
]
ENVS = {
    "int": {"gateway": "10.201.0.20", "dns_ip": "10.201.0.30"},
    "func-shop": {"gateway": "10.201.0.21", "dns_ip": "10.201.0.31"},
}
RESULT_KEYS = {
    "changed",
    "actions",
    "env",
    "kind",
    "project",
    "services",
    "app_ids",
    "log_dirs",
    "data_dirs",
    "fallback",
}


class FakeTime:
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
    if check:
        args["_ansible_check_mode"] = True
    if diff:
        args["_ansible_diff"] = True
    with patch_module_args(args), pytest.raises(SystemExit):
        module.main()
    out = capsys.readouterr().out
    return json.loads(out), out


def plan_args(**overrides):
    args = {
        "catalogue": copy.deepcopy(CATALOGUE),
        "env": "func-shop",
        "envs": copy.deepcopy(ENVS),
        "zones": ["pptv.lab"],
        "network": "pptv-lab",
    }
    args.update(overrides)
    return args


def test_a_plan_without_ips(capsys):
    result, _out = run(env_plan, plan_args(), capsys)
    assert not result.get("failed"), result
    assert set(result) - {"invocation"} == RESULT_KEYS
    assert (result["changed"], result["actions"]) == (False, [])
    assert (result["env"], result["kind"], result["project"]) == ("func-shop", "functional", "shop")
    assert result["app_ids"] == ["/func-shop/redis", "/func-shop/web"]
    assert result["log_dirs"] == ["/home/logs/func-shop/redis", "/home/logs/func-shop/web"]
    assert result["data_dirs"] == ["/home/data/func-shop/redis"]
    assert result["fallback"] == [{"name": "api", "fqdn": "api.pptv.lab", "port": 8081, "protocol": "http"}]
    assert [(s["name"], s["copy"]) for s in result["services"]] == [("redis", True), ("web", False)]


def test_check_mode_and_diff_mode_give_the_same_plan(capsys):
    ips = {"/func-shop/redis": "10.201.0.101", "/func-shop/web": "10.201.0.102"}
    plain, _out = run(env_plan, plan_args(ips=ips), capsys)
    checked, _out = run(env_plan, plan_args(ips=ips), capsys, check=True, diff=True)
    assert checked["changed"] is False
    assert checked.get("diff", {"before": {}, "after": {}}) == {"before": {}, "after": {}}
    for key in RESULT_KEYS | {"apps"}:
        assert checked[key] == plain[key], key
    assert [a["app_id"] for a in plain["apps"]] == ["/func-shop/redis", "/func-shop/web"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"catalogue": CATALOGUE + [{"name": "web", "image": "x", "port": 1}]},
            "catalogue entry 5 (web): name: web is already the name of catalogue entry 3 (web)",
        ),
        (
            {"catalogue": [dict(CATALOGUE[0], dependencies=["memcache"])] + CATALOGUE[1:]},
            "catalogue entry 0 (redis): dependencies[0]: no service named memcache in the catalogue",
        ),
        (
            {"catalogue": CATALOGUE[:3] + [dict(CATALOGUE[3], image="sample:1@sha256:beef"), CATALOGUE[4]]},
            "catalogue entry 3 (web): image: the digest 'sha256:beef' of 'sample:1@sha256:beef' is not "
            "sha256:<64 lower-case hex digits>",
        ),
        ({"env": "func_shop"}, "env: 'func_shop' is not valid: "),
        ({"env": "stage"}, "env: stage is not an environment of envs (known: func-shop, int)"),
        ({"ips": {"/func-shop/redis": "10.201.0.101"}}, "ips: no address for /func-shop/web"),
        ({"zones": []}, "zones: must list at least one DNS zone, got []"),
        (
            {"catalogue": CATALOGUE[:3] + [dict(CATALOGUE[3], instances=2), CATALOGUE[4]]},
            "catalogue entry 3 (web): instances: an app has one fixed IP, so it runs at most 1 task (two would "
            "claim one address), got 2",
        ),
    ],
)
def test_bad_input_fails_naming_the_option_or_the_entry(overrides, message, capsys):
    result, out = run(env_plan, plan_args(**overrides), capsys)
    assert result["failed"] is True
    assert result["msg"].startswith(message), result["msg"]
    assert (result["changed"], result["actions"]) == (False, [])
    assert "Traceback" not in out


def test_a_missing_option_is_ansibles_own_refusal(capsys):
    args = plan_args()
    del args["network"]
    result, _out = run(env_plan, args, capsys)
    assert result["failed"] is True
    assert result["msg"] == "missing required arguments: network"


def test_the_apps_deploy_with_marathon_app_and_a_second_run_changes_nothing(fake, capsys):
    ips = {f"/int/{e['name']}": f"10.201.0.{101 + n}" for n, e in enumerate(CATALOGUE)}
    plan, _out = run(env_plan, plan_args(env="int", ips=ips), capsys)
    url = "http://marathon.test:8080"
    first, _out = run(marathon_app, {"url": url, "apps": plan["apps"]}, capsys)
    assert first["changed"] is True, first
    assert sorted(fake.apps) == sorted(ips)
    # Every app, stateful (redis) or not (web): one fixed IP, so the old task stops first.
    for app in ips:
        assert fake.apps[app]["upgradeStrategy"] == {"minimumHealthCapacity": 0, "maximumOverCapacity": 0}, app
        assert fake.apps[app]["instances"] == 1, app

    # What a real Marathon gives back: its own normalised form (the lab's, which follows it).
    for app in fake.apps.values():
        stored = {k: v for k, v in app.items() if k not in ("tasks", "version", "versionInfo")}
        normalised = lab_appdef.present(lab_appdef.normalise(stored, None))
        app.update(normalised)
    assert fake.apps["/int/web"]["upgradeStrategy"] == {"minimumHealthCapacity": 0.0, "maximumOverCapacity": 0.0}

    again_plan, _out = run(env_plan, plan_args(env="int", ips=ips), capsys)
    fake.requests.clear()
    again, _out = run(marathon_app, {"url": url, "apps": again_plan["apps"]}, capsys)
    assert again["changed"] is False, again
    assert fake.writes == []


# -- release: one service by digest, and its canary ------------------------------------------------

DIGEST = "sha256:" + "0123456789abcdef" * 4
INT_IPS = {f"/int/{e['name']}": f"10.201.0.{101 + n}" for n, e in enumerate(CATALOGUE)}
CANARY_IPS = {f"/int/web-canary-{i}": f"10.201.0.{200 + i}" for i in (1, 2)}


def release_args(catalogue=None, ips=None, **release):
    """The plan arguments for int with a release of web (``release`` overrides its fields)."""
    args = plan_args(env="int", release=dict({"service": "web", "image": f"sample@{DIGEST}"}, **release))
    if catalogue is not None:
        args["catalogue"] = catalogue
    if ips is not None:
        args["ips"] = ips
    return args


def test_a_release_plan_through_the_module(capsys):
    ips = dict(INT_IPS, **CANARY_IPS)
    result, _out = run(env_plan, release_args(ips=ips, canary_instances=2), capsys)
    assert not result.get("failed"), result
    assert set(result) - {"invocation"} == RESULT_KEYS | {"apps", "release"}
    assert (result["changed"], result["actions"]) == (False, [])
    assert result["release"] == {
        "service": "web",
        "app_id": "/int/web",
        "canary_app_ids": ["/int/web-canary-1", "/int/web-canary-2"],
        "image": f"sample@{DIGEST}",
        "canary_instances": 2,
    }
    expected = ["/int/web", "/int/web-canary-1", "/int/web-canary-2"]
    assert result["app_ids"] == expected == [a["app_id"] for a in result["apps"]]
    assert result["log_dirs"] == [f"/home/logs{app}" for app in expected]
    main, *canaries = (a["definition"] for a in result["apps"])
    for app, canary in zip(expected[1:], canaries):
        assert canary["instances"] == 1
        assert canary["labels"]["pptv.dcos/canary-of"] == "/int/web"
        assert canary["labels"]["pptv.dcos/ip"] == CANARY_IPS[app]
        assert {"key": "ip", "value": CANARY_IPS[app]} in canary["container"]["docker"]["parameters"]
        assert canary["container"]["volumes"][0]["hostPath"] == f"/home/logs{app}"
        assert canary["container"]["docker"]["image"] == f"sample@{DIGEST}"
    assert main["container"]["docker"]["image"] == f"sample@{DIGEST}"
    assert "pptv.dcos/canary-of" not in main["labels"]


def test_canary_instances_defaults_to_0_in_the_argument_spec(capsys):
    result, _out = run(env_plan, release_args(), capsys)
    assert result["release"]["canary_instances"] == 0 and result["release"]["canary_app_ids"] == []
    assert result["app_ids"] == ["/int/web"]
    assert "release" not in run(env_plan, plan_args(), capsys)[0]


@pytest.mark.parametrize(
    ("release", "message"),
    [
        ({"service": "cache"}, "release.service: cache is not a service of env int (its services: "),
        ({"image": "sample:2"}, "release.image: 'sample:2' is not by digest"),
        ({"image": f"other/sample@{DIGEST}"}, "release.image: repository other/sample is not the repository of web's"),
        ({"canary_instances": -1}, "release.canary_instances: must be 0 or more, got -1"),
        ({"canary_instances": 21}, "release.canary_instances: must be 20 or less, got 21"),
        ({"canary_instances": 1, "ips": INT_IPS}, "ips: no address for /int/web-canary-1 "),
        (
            {"service": "redis", "image": f"redis@{DIGEST}", "canary_instances": 1},
            "release.canary_instances: redis is stateful",
        ),
    ],
)
def test_a_bad_release_fails_naming_its_option(release, message, capsys):
    result, out = run(env_plan, release_args(**release), capsys)
    assert result["failed"] is True
    assert result["msg"].startswith(message), result["msg"]
    assert (result["changed"], result["actions"]) == (False, [])
    assert "Traceback" not in out


def test_a_release_without_an_image_is_ansibles_own_refusal(capsys):
    args = plan_args(release={"service": "web"})
    result, _out = run(env_plan, args, capsys)
    assert result["failed"] is True
    assert result["msg"] == "missing required arguments: image found in release"


def test_promoting_the_running_image_changes_nothing_and_the_canaries_deploy_beside_it(fake, capsys):
    url = "http://marathon.test:8080"
    digest_catalogue = copy.deepcopy(CATALOGUE)
    digest_catalogue[3]["image"] = f"sample@{DIGEST}"
    plan, _out = run(env_plan, plan_args(env="int", catalogue=digest_catalogue, ips=INT_IPS), capsys)
    run(marathon_app, {"url": url, "apps": plan["apps"]}, capsys)
    for app in fake.apps.values():
        stored = {k: v for k, v in app.items() if k not in ("tasks", "version", "versionInfo")}
        app.update(lab_appdef.present(lab_appdef.normalise(stored, None)))

    same, _out = run(env_plan, release_args(catalogue=digest_catalogue, ips=INT_IPS), capsys)
    fake.requests.clear()
    again, _out = run(marathon_app, {"url": url, "apps": same["apps"]}, capsys)
    assert again["changed"] is False, again
    assert fake.writes == []

    new_image = "sample@sha256:" + "fedcba9876543210" * 4
    ips = dict(INT_IPS, **CANARY_IPS)
    release, _out = run(env_plan, release_args(ips=ips, image=new_image, canary_instances=2), capsys)
    promoted, _out = run(marathon_app, {"url": url, "apps": release["apps"]}, capsys)
    assert promoted["changed"] is True, promoted
    assert fake.apps["/int/web"]["container"]["docker"]["image"] == new_image
    assert "/int/web-canary" not in fake.apps
    for app, address in CANARY_IPS.items():
        canary = fake.apps[app]
        assert canary["instances"] == 1
        assert canary["labels"]["pptv.dcos/canary-of"] == "/int/web"
        assert canary["labels"]["pptv.dcos/ip"] == address
        assert canary["container"]["docker"]["image"] == new_image
        assert canary["upgradeStrategy"] == {"minimumHealthCapacity": 0, "maximumOverCapacity": 0}
    assert fake.apps["/int/redis"]["container"]["docker"]["image"] == "redis:7"
