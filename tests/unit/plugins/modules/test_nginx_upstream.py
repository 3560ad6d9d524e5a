# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pptv.dcos.nginx_upstream through AnsibleModule; only ``run_command`` (the nginx binary) is replaced."""

from __future__ import annotations

import json

import pytest
from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

from ansible_collections.pptv.dcos.plugins.modules import nginx_upstream

NGINX_BAD = (
    '2026/11/29 16:14:10 [emerg] 7#7: duplicate upstream "web" in /etc/nginx/conf.d/old.conf:1\n'
    "nginx: configuration file /etc/nginx/nginx.conf test failed\n"
)


@pytest.fixture
def env(tmp_path, monkeypatch):
    confd = tmp_path / "conf.d"
    confd.mkdir()
    conf = tmp_path / "nginx.conf"
    conf.write_text("events {}\n")
    binary = tmp_path / "nginx"
    binary.write_text("#!/bin/sh\nexit 99\n")
    binary.chmod(0o755)
    calls, answers = [], []

    def run_command(self, args, **kwargs):
        calls.append((list(args), kwargs))
        return answers.pop(0) if answers else (0, "", "")

    monkeypatch.setattr(basic.AnsibleModule, "run_command", run_command)
    return {
        "dir": confd,
        "calls": calls,
        "answers": answers,
        "base": {"path": str(confd), "nginx_conf": str(conf), "nginx_binary": str(binary)},
    }


def run(env, capsys, check=False, diff=False, **params):
    args = dict(env["base"], **params)
    if check:
        args["_ansible_check_mode"] = True
    if diff:
        args["_ansible_diff"] = True
    with patch_module_args(args), pytest.raises(SystemExit):
        nginx_upstream.main()
    return json.loads(capsys.readouterr().out)


WEB = {"name": "web", "servers": [{"address": "10.0.0.1", "port": 8080}]}
RENDERED = (
    "# Managed by pptv.dcos.nginx_upstream: local changes are overwritten.\n"
    "upstream web {\n    server 10.0.0.1:8080;\n}\n"
)


def test_create_then_unchanged(env, capsys):
    first = run(env, capsys, **WEB)
    path = env["dir"] / "upstream-web.conf"
    assert first["changed"] is True
    assert path.read_text() == RENDERED
    assert first["files"] == [str(path)]
    assert first["upstreams"] == [{"name": "web", "path": str(path), "state": "present", "changed": True}]
    assert first["validated"] is True and first["reloaded"] is False
    assert first["actions"] == [f"create {path}", "validate " + env["base"]["nginx_conf"]]
    assert first["nginx_warnings"] == []
    assert "diff" not in first
    (argv, kwargs) = env["calls"][0]
    assert argv == [env["base"]["nginx_binary"], "-t", "-c", env["base"]["nginx_conf"]]
    assert kwargs == {"handle_exceptions": False}

    env["calls"].clear()
    second = run(env, capsys, reload=True, **WEB)
    assert second["changed"] is False
    assert second["actions"] == [] and second["files"] == []
    assert env["calls"] == []


def test_reload_true_runs_test_then_reload(env, capsys):
    result = run(env, capsys, reload=True, **WEB)
    assert result["reloaded"] is True
    assert [c[0][1:] for c in env["calls"]] == [
        ["-t", "-c", env["base"]["nginx_conf"]],
        ["-c", env["base"]["nginx_conf"], "-s", "reload"],
    ]


def test_diff_shows_rendered_text(env, capsys):
    run(env, capsys, **WEB)
    result = run(env, capsys, diff=True, name="web", servers=[{"address": "10.0.0.2", "port": 8080}])
    path = str(env["dir"] / "upstream-web.conf")
    assert result["diff"] == [
        {
            "before_header": path,
            "after_header": path,
            "before": RENDERED,
            "after": RENDERED.replace("10.0.0.1", "10.0.0.2"),
        }
    ]


def test_check_mode_writes_and_runs_nothing(env, capsys):
    result = run(env, capsys, check=True, diff=True, reload=True, **WEB)
    assert result["changed"] is True
    assert result["diff"][0]["after"] == RENDERED
    assert result["actions"][-1] == "reload nginx"
    assert result["reloaded"] is False and result["validated"] is False
    assert list(env["dir"].iterdir()) == []
    assert env["calls"] == []


def test_refusal_fails_with_nginx_line_and_restores(env, capsys):
    env["answers"] += [(1, "", NGINX_BAD), (0, "", "")]
    result = run(env, capsys, reload=True, **WEB)
    assert result["failed"] is True
    assert result["changed"] is False
    assert result["msg"].endswith('[emerg] duplicate upstream "web" in /etc/nginx/conf.d/old.conf:1')
    assert result["nginx_errors"] == ['[emerg] duplicate upstream "web" in /etc/nginx/conf.d/old.conf:1']
    assert list(env["dir"].iterdir()) == [env["dir"] / ".pptv-nginx-upstream.lock"]
    assert all("reload" not in c[0] for c in env["calls"])


def test_batch_form_validates_once(env, capsys):
    upstreams = [
        {"name": f"u{i}", "servers": [{"address": f"10.0.1.{i}"}], "balance": "hash", "hash_key": "$request_uri"}
        for i in range(20)
    ]
    upstreams.append({"name": "old", "state": "absent"})
    result = run(env, capsys, upstreams=upstreams, reload=True)
    assert result["changed"] is True
    assert len(result["files"]) == 20
    assert [u["state"] for u in result["upstreams"]] == ["present"] * 20 + ["absent"]
    assert len(env["calls"]) == 2
    assert "hash $request_uri;" in (env["dir"] / "upstream-u3.conf").read_text()


def test_batch_items_inherit_the_top_level_state(env, capsys):
    run(env, capsys, upstreams=[WEB, {"name": "api", "servers": [{"address": "10.0.0.3"}]}])
    result = run(env, capsys, upstreams=[{"name": "web"}, {"name": "api"}], state="absent")
    assert result["changed"] is True
    assert sorted(p.name for p in env["dir"].iterdir()) == [".pptv-nginx-upstream.lock"]


@pytest.mark.parametrize(
    ("params", "msg"),
    [
        ({"name": "web", "servers": [{"address": "10.0.0.1;"}]}, "servers[0].address: '10.0.0.1;' is refused"),
        ({"name": "web"}, "servers: required when state is present"),
        ({"upstreams": [WEB, WEB]}, "upstreams[1].name: 'web' is already given by upstreams[0]"),
        ({"upstreams": [{"name": "a", "servers": [{"address": "x", "port": 99999}]}]}, "upstreams[0].servers[0].port"),
        (dict(WEB, reload=True, validate=False), "reload: reload=true needs validate=true"),
        (dict(WEB, balance="hash"), "hash_key: required when balance is hash"),
        (dict(WEB, vhosts=[{"name": "a.test", "location": "/x {"}]), "vhosts[0].location: '/x {' is refused"),
    ],
)
def test_bad_input_fails_naming_the_option(env, capsys, params, msg):
    result = run(env, capsys, **params)
    assert result["failed"] is True
    assert result["msg"].startswith(msg)
    assert list(env["dir"].iterdir()) == []
    assert env["calls"] == []


def test_name_and_upstreams_are_exclusive(env, capsys):
    result = run(env, capsys, name="web", upstreams=[WEB])
    assert result["failed"] is True
    assert "mutually exclusive" in result["msg"]


def test_nginx_warnings_become_module_warnings(env, capsys, monkeypatch):
    # A spy on AnsibleModule.warn: where warnings end up depends on whether a controller-side
    # display was set up earlier in the test session (the lookup tests do), not on this module.
    warned = []
    original = basic.AnsibleModule.warn
    monkeypatch.setattr(basic.AnsibleModule, "warn", lambda self, text: warned.append(text) or original(self, text))
    env["answers"].append(
        (0, "", '2026/11/29 16:14:10 [warn] 7#7: conflicting server name "a.test" on 0.0.0.0:80, ignored\n')
    )
    result = run(env, capsys, **dict(WEB, vhosts=[{"name": "a.test"}]))
    assert result["nginx_warnings"] == ['[warn] conflicting server name "a.test" on 0.0.0.0:80, ignored']
    assert warned == ['nginx -t: [warn] conflicting server name "a.test" on 0.0.0.0:80, ignored']
