# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ip_pool through AnsibleModule on the file backend (a real file under tmp_path)."""

from __future__ import annotations

import json

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.pptv.dcos.plugins.modules import ip_pool

POOL = {"pool": "oak", "subnets": ["10.0.0.0/29"], "gateway": "10.0.0.1", "reserved": ["10.0.0.2"]}


@pytest.fixture
def run(tmp_path, capsys):
    path = str(tmp_path / "pool.json")

    def _run(args, check=False, diff=False):
        args = dict(args, path=path)
        if check:
            args["_ansible_check_mode"] = True
        if diff:
            args["_ansible_diff"] = True
        with patch_module_args(args), pytest.raises(SystemExit):
            ip_pool.main()
        return json.loads(capsys.readouterr().out)

    _run.path = tmp_path / "pool.json"
    return _run


def test_state_defaults_follow_the_arguments(run):
    defined = run(POOL)  # no state, no app: present
    assert defined["changed"] and defined["definition"]["subnets"] == ["10.0.0.0/29"]
    got = run({"pool": "oak", "app_id": "/web"})  # no state, an app: allocated
    assert got["changed"] and got["ip"] == "10.0.0.3" and got["prefix"] == 29
    assert set(got) >= {"ip", "prefix", "subnet", "gateway", "pool", "app_id", "allocations", "actions"}
    assert "diff" not in got  # only with --diff


def test_check_mode_and_diff_write_nothing(run):
    run(POOL)
    before = run.path.read_bytes()
    planned = run({"pool": "oak", "app_ids": ["/a", "/b"]}, check=True, diff=True)
    assert planned["changed"] and planned["diff"]["after"] == {"/a": "10.0.0.3", "/b": "10.0.0.4"}
    assert run.path.read_bytes() == before


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ({"pool": "oak", "state": "present"}, "subnets: required"),
        ({"pool": "oak", "app_id": "/a", "app_ids": ["/b"]}, "mutually exclusive"),
        ({"pool": "oak", "ip": "10.0.0.3"}, "ip"),
        ({"pool": "oak", "state": "absent", "app_id": "/a"}, "not used with state=absent"),
        ({"pool": "oak", "state": "released", "app_id": "/a", "ip": "10.0.0.3"}, "not used with state=released"),
        ({"pool": "oak", "state": "synced", "url": ["http://m:8080"], "app_id": "/a"}, "not used with state=synced"),
        ({"pool": "oak", "state": "synced", "url": ["http://m:8080"], "grace_period": -1}, "grace_period"),
        ({"pool": "o/ak", "subnets": ["10.0.0.0/29"]}, "pool:"),
    ],
)
def test_bad_input_fails_with_the_option_named(run, args, words):
    run(POOL)
    result = run(args)
    assert result["failed"] and words in result["msg"], result


def test_a_group_release_frees_every_app_under_it_and_nothing_else(run):
    run(dict(POOL, subnets=["10.0.0.0/28"]))
    run({"pool": "oak", "app_ids": ["/func-a/web", "/func-a/db/main", "/func-ab/web", "/int/web"]})
    planned = run({"pool": "oak", "state": "released", "group": "/func-a"}, check=True, diff=True)
    assert planned["changed"] and planned["released"] == ["/func-a/db/main", "/func-a/web"]
    assert set(planned["diff"]["before"]) == {"/func-a/db/main", "/func-a/web"}
    freed = run({"pool": "oak", "state": "released", "group": "func-a/"})
    assert freed["changed"] and freed["released"] == ["/func-a/db/main", "/func-a/web"]
    left = json.loads(run.path.read_text())["pools"]["oak"]["allocations"]
    assert sorted(left) == ["/func-ab/web", "/int/web"]  # a name that only starts alike is kept
    again = run({"pool": "oak", "state": "released", "group": "/func-a"})
    assert not again["changed"] and again["released"] == []


def test_a_group_release_takes_named_apps_too(run):
    run(dict(POOL, subnets=["10.0.0.0/28"]))
    run({"pool": "oak", "app_ids": ["/func-a/web", "/old"]})
    freed = run({"pool": "oak", "state": "released", "group": "/func-a", "app_ids": ["/old"]})
    assert freed["released"] == ["/func-a/web", "/old"]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ({"pool": "oak", "state": "allocated", "app_id": "/a", "group": "/g"}, "group: only used with state=released"),
        ({"pool": "oak", "state": "released", "group": "bad group"}, "group"),
    ],
)
def test_a_bad_group_fails_naming_it(run, args, words):
    run(POOL)
    failed = run(args)
    assert failed["failed"] and words in failed["msg"]
