# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The gluster_volume module end to end: the runner (the subprocess boundary) answers captured glusterd
XML; the real runner is run against a fake ``gluster`` on PATH that hangs."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.pptv.dcos.plugins.module_utils import _gluster
from ansible_collections.pptv.dcos.plugins.modules import gluster_volume

FIXTURES = Path(__file__).parents[1] / "module_utils" / "fixtures" / "gluster"
BIN = "/usr/sbin/gluster"
# This host's name: the fixtures' bricks say "vm", and the module matches them by peer UUID.
R = [f"{socket.gethostname()}:/tmp/pptvgl-fx/r{i}" for i in range(1, 5)]


class Runner:
    """Stands in for the runner of ``_gluster.timed_runner``: fixture XML per command, every call recorded."""

    def __init__(self, answers):
        self.answers = {key: list(value) if isinstance(value, list) else [value] for key, value in answers.items()}
        self.calls = []
        self.timeouts = []

    def __call__(self, args):
        assert args[0] == BIN and args[1] == "--mode=script" and args[-1] == "--xml"
        key = " ".join(args[2:-1])
        self.calls.append(key)
        queue = self.answers[key]
        name = queue.pop(0) if len(queue) > 1 else queue[0]
        return 0, (FIXTURES / f"{name}.xml").read_text(), ""


def run(monkeypatch, capsys, answers, check=False, diff=False, **args):
    runner = Runner(answers)

    def timed_runner(timeout):
        runner.timeouts.append(timeout)
        return runner

    monkeypatch.setattr(_gluster, "timed_runner", timed_runner)
    args.setdefault("name", "pptvgl-fx-r")
    args.setdefault("gluster_binary", BIN)
    if check:
        args["_ansible_check_mode"] = True
    if diff:
        args["_ansible_diff"] = True
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
        diff=True,
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
    assert set(result) >= {"changed", "actions", "volume"}
    assert "diff" not in result  # only with --diff
    assert runner.timeouts == [300]


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
    assert "diff" not in result
    assert result["volume"]["status"] == "Started"


def test_a_failing_command_returns_its_opErrstr(monkeypatch, capsys):
    answers = {"volume info pptvgl-fx-r": "info_replica_stopped", "volume start pptvgl-fx-r": "start_again"}
    result, _runner = run(monkeypatch, capsys, answers, state="started")
    assert result["failed"] is True and result["changed"] is False
    assert result["op_errstr"] == "Volume pptvgl-fx-r already started"
    assert result["msg"].endswith("failed: Volume pptvgl-fx-r already started")
    assert result["actions"] == [] and result["done"] == []  # nothing was applied


def test_an_unknown_option_on_create_is_rolled_back(monkeypatch, capsys):
    answers = dict(NEW)
    answers["volume get pptvgl-fx-r nosuch.option"] = "get_unknown"
    args = {"replica": 2, "bricks": R[:2], "force": True, "options": {"nosuch.option": 1}}
    result, runner = run(monkeypatch, capsys, answers, **args)
    assert result["failed"] is True
    assert result["unknown_options"] == ["nosuch.option (Did you mean auth.allow?)"]
    assert "deleted again" in result["msg"]
    assert runner.calls[-1] == "volume delete pptvgl-fx-r"
    created = f"{BIN} --mode=script volume create pptvgl-fx-r replica 2 {R[0]} {R[1]} force"
    assert result["done"] == result["actions"] == [created, f"{BIN} --mode=script volume delete pptvgl-fx-r"]
    assert result["changed"] is True


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


HANGING_GLUSTER = """#!/bin/sh
echo $$ > "$(dirname "$0")/pids"
sleep 600 &
echo $! >> "$(dirname "$0")/pids"
wait
"""


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


def test_a_hung_gluster_is_killed_at_timeout_and_the_message_names_the_command(tmp_path, monkeypatch, capsys):
    fake = tmp_path / "gluster"
    fake.write_text(HANGING_GLUSTER)
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    args = {"name": "pptvgl-fx-r", "timeout": 1, "_ansible_check_mode": True}
    with patch_module_args(args), pytest.raises(SystemExit):
        gluster_volume.main()
    result = json.loads(capsys.readouterr().out)
    command = f"{fake} --mode=script volume info pptvgl-fx-r --xml"
    assert result["failed"] and result["msg"] == f"timeout: {command} did not finish within 1s (timeout) and was killed"
    assert result["command"] == command and result["changed"] is False
    pids = [int(pid) for pid in (tmp_path / "pids").read_text().split()]
    assert len(pids) == 2 and not any(_alive(pid) for pid in pids)  # the CLI and its child


def test_a_missing_gluster_binary_is_named(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))
    with patch_module_args({"name": "v", "gluster_binary": "pptvgl-no-gluster"}), pytest.raises(SystemExit):
        gluster_volume.main()
    result = json.loads(capsys.readouterr().out)
    assert result["failed"] and result["msg"].startswith("gluster_binary: 'pptvgl-no-gluster' is not found in PATH")
