# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The nginx_upstream manager without AnsibleModule: the change record holds what was written.

Only the runner (the nginx binary's transport) is replaced.
"""

from __future__ import annotations

import pytest

from ansible_collections.pptv.dcos.plugins.module_utils._diff import ChangeRecord
from ansible_collections.pptv.dcos.plugins.module_utils._errors import DcosError
from ansible_collections.pptv.dcos.plugins.module_utils._nginx_upstream import NginxUpstreamManager

REFUSED = '2026/11/29 16:14:10 [emerg] 7#7: unknown directive "x" in /etc/nginx/conf.d/y.conf:1\n'


@pytest.fixture
def env(tmp_path):
    confd = tmp_path / "conf.d"
    confd.mkdir()
    conf = tmp_path / "nginx.conf"
    conf.write_text("events {}\n")
    binary = tmp_path / "nginx"
    binary.write_text("#!/bin/sh\nexit 99\n")
    binary.chmod(0o755)
    answers = []
    calls = []

    def runner(argv):
        calls.append(argv)
        return answers.pop(0) if answers else (0, "", "")

    params = {
        "path": str(confd),
        "nginx_conf": str(conf),
        "nginx_binary": str(binary),
        "validate": True,
        "reload": True,
        "purge": False,
        "name": "web",
        "servers": [{"address": "10.0.0.1", "port": 8080}],
        "state": "present",
    }
    return {"dir": confd, "conf": str(conf), "params": params, "runner": runner, "answers": answers, "calls": calls}


def manager(env, **params):
    return NginxUpstreamManager(dict(env["params"], **params), env["runner"])


def test_success_reports_every_step_and_no_diff_without_diff_mode(env):
    result = manager(env).run()
    path = str(env["dir"] / "upstream-web.conf")
    assert result["actions"] == [f"create {path}", f"validate {env['conf']}", "reload nginx"]
    assert result["changed"] is True and result["reloaded"] is True
    assert "diff" not in result


def test_a_failed_reload_counts_the_written_files_only(env):
    env["answers"].extend([(0, "", ""), (1, "", "nginx: [error] invalid PID number")])
    m = manager(env)
    with pytest.raises(DcosError, match="nginx reload failed"):
        m.run()
    path = str(env["dir"] / "upstream-web.conf")
    assert m.record.failure() == {"changed": True, "actions": [f"create {path}", f"validate {env['conf']}"]}


def test_a_refused_configuration_counts_nothing(env):
    env["answers"].extend([(1, "", REFUSED), (0, "", "")])
    m = manager(env)
    with pytest.raises(DcosError, match="nginx -t refused the configuration"):
        m.run()
    assert m.record.failure() == {"changed": False, "actions": []}
    assert list(env["dir"].iterdir()) == [env["dir"] / ".pptv-nginx-upstream.lock"]


def test_check_mode_notes_the_steps_and_writes_nothing(env):
    m = NginxUpstreamManager(env["params"], env["runner"], ChangeRecord(check_mode=True, diff_mode=True))
    result = m.run()
    assert result["changed"] is True
    assert result["actions"][-1] == "reload nginx"
    assert result["diff"][0]["before"] == ""
    assert env["calls"] == []
    assert list(env["dir"].iterdir()) == []
