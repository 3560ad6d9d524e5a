# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The gluster_volume module end to end, with ``run_command`` answering captured glusterd XML."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

from ansible_collections.pptv.dcos.plugins.modules import gluster_volume

FIXTURES = Path(__file__).parents[1] / "module_utils" / "fixtures" / "gluster"
BIN = "/usr/sbin/gluster"
# This host's name: the fixtures' bricks say "vm", and the module matches them by peer UUID.
R = [f"{socket.gethostname()}:/tmp/pptvgl-fx/r{i}" for i in range(1, 5)]


class RunCommand:
    """Stands in for ``AnsibleModule.run_command``: fixture XML per command, every call recorded."""

    def __init__(self, answers):
        self.answers = {key: list(value) if isinstance(value, list) else [value] for key, value in answers.items()}
        self.calls = []

    def __call__(self, module, args, **kwargs):
        assert args[0] == BIN and args[1] == "--mode=script" and args[-1] == "--xml"
        assert kwargs.get("environ_update") == {"LC_ALL": "C"}
        key = " ".join(args[2:-1])
        self.calls.append(key)
        queue = self.answers[key]
        name = queue.pop(0) if len(queue) > 1 else queue[0]
        return 0, (FIXTURES / f"{name}.xml").read_text(), ""


def run(monkeypatch, capsys, answers, check=False, **args):
    runner = RunCommand(answers)

    def run_command(module, cmd, **kwargs):  # a plain function, so that it binds as a method
        return runner(module, cmd, **kwargs)

    monkeypatch.setattr(basic.AnsibleModule, "run_command", run_command)
    args.setdefault("name", "pptvgl-fx-r")
    args["gluster_binary"] = BIN
    if check:
        args["_ansible_check_mode"] = True
    with patch_module_args(args), pytest.raises(SystemExit):
        gluster_volume.main()
    return json.loads(capsys.readouterr().out), runner


NEW = {
    "volume info pptvgl-fx-r": ["info_missing", "info_replica_created"],
    "pool list": "pool_list",
    f"volume create pptvgl-fx-r replica 2 {R[0]} {R[1]} force": "create_replica",
    "volume get pptvgl-fx-r performance.client-io-threads": "get_short_name",
    "volume set pptvgl-fx-r performance.client-io-threads on": "set_ok",
    "volume delete pptvgl-fx-r": "delete",
}


def test_check_mode_returns_the_plan_and_writes_nothing(monkeypatch, capsys):
    result, runner = run(
        monkeypatch,
        capsys,
        NEW,
        check=True,
        replica=2,
        bricks=R[:2],
        force=True,
        options={"performance.client-io-threads": True},
    )
    assert result["changed"] is True
    assert result["actions"] == [
        f"{BIN} --mode=script volume create pptvgl-fx-r replica 2 {R[0]} {R[1]} force",
        f"{BIN} --mode=script volume set pptvgl-fx-r performance.client-io-threads on",
    ]
    assert result["diff"]["after"] == {
        "state": "created",
        "bricks": R[:2],
        "options": {"performance.client-io-threads": "on"},
    }
    assert result["volume"] == {}
    assert runner.calls == ["volume info pptvgl-fx-r", "pool list"]


def test_create_returns_the_volume_glusterd_reports(monkeypatch, capsys):
    result, runner = run(
        monkeypatch, capsys, NEW, replica=2, bricks=R[:2], force=True, options={"performance.client-io-threads": True}
    )
    assert result["changed"] is True
    assert "volume set pptvgl-fx-r performance.client-io-threads on" in runner.calls
    assert result["volume"]["name"] == "pptvgl-fx-r"
    assert result["volume"]["status"] == "Created"
    assert [b["path"] for b in result["volume"]["bricks"]] == ["/tmp/pptvgl-fx/r1", "/tmp/pptvgl-fx/r2"]
    assert set(result) >= {"changed", "actions", "diff", "volume"}


def test_unchanged_volume(monkeypatch, capsys):
    answers = {
        "volume info pptvgl-fx-r": "info_replica_options",
        "pool list": "pool_list",
        "volume get pptvgl-fx-r all": "get_all_options",
    }
    result, runner = run(
        monkeypatch,
        capsys,
        answers,
        state="started",
        replica=2,
        bricks=R[:2],
        options={"performance.cache-size": "64MB", "performance.client-io-threads": "enable"},
    )
    assert result["changed"] is False and result["actions"] == []
    assert result["diff"] == {"before": {}, "after": {}}
    assert result["volume"]["status"] == "Started"


def test_a_failing_command_returns_its_opErrstr(monkeypatch, capsys):
    answers = {"volume info pptvgl-fx-r": "info_replica_stopped", "volume start pptvgl-fx-r": "start_again"}
    result, _runner = run(monkeypatch, capsys, answers, state="started")
    assert result["failed"] is True and result["changed"] is False
    assert result["op_errstr"] == "Volume pptvgl-fx-r already started"
    assert result["msg"].endswith("failed: Volume pptvgl-fx-r already started")
    assert result["actions"] == [f"{BIN} --mode=script volume start pptvgl-fx-r"]
    assert result["done"] == []


def test_an_unknown_option_on_create_is_rolled_back(monkeypatch, capsys):
    answers = dict(NEW)
    answers["volume get pptvgl-fx-r nosuch.option"] = "get_unknown"
    args = {"replica": 2, "bricks": R[:2], "force": True, "options": {"nosuch.option": 1}}
    result, runner = run(monkeypatch, capsys, answers, **args)
    assert result["failed"] is True
    assert result["unknown_options"] == ["nosuch.option (Did you mean auth.allow?)"]
    assert "deleted again" in result["msg"]
    assert runner.calls[-1] == "volume delete pptvgl-fx-r"
    assert result["done"] == [f"{BIN} --mode=script volume create pptvgl-fx-r replica 2 {R[0]} {R[1]} force"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"replica": 2, "disperse": 3}, "parameters are mutually exclusive: replica|disperse"),
        ({"redundancy": 1}, "missing parameter(s) required by 'redundancy': disperse"),
        ({"arbiter": 2}, "value of arbiter must be one of: 0, 1"),
        ({"replica": 2, "bricks": R[:3]}, "bricks: 3 bricks cannot form sets of 2"),
    ],
)
def test_bad_arguments_fail_before_any_command(monkeypatch, capsys, args, message):
    result, runner = run(monkeypatch, capsys, {}, **args)
    assert result["failed"] is True
    assert message in result["msg"]
    assert runner.calls == []
