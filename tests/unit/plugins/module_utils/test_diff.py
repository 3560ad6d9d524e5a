# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

from ansible_collections.pptv.dcos.plugins.module_utils._diff import ChangeRecord


def test_equal_values_are_not_recorded():
    plan = ChangeRecord(diff_mode=True)
    assert plan.difference("labels", {"a": "1"}, {"a": "1"}) is False
    assert not plan.changed
    assert plan.result() == {"changed": False, "actions": [], "diff": {"before": {}, "after": {}}}


def test_differences_and_actions_make_the_result():
    plan = ChangeRecord(diff_mode=True)
    assert plan.difference("subnet", "10.0.0.0/24", "10.0.1.0/24") is True
    plan.difference("labels", None, {"env": "int"})
    plan.step("recreate network oak-net")
    result = plan.result(network={"name": "oak-net"})
    assert result["changed"] is True
    assert result["actions"] == ["recreate network oak-net"]
    assert result["diff"] == {
        "before": {"subnet": "10.0.0.0/24", "labels": None},
        "after": {"subnet": "10.0.1.0/24", "labels": {"env": "int"}},
    }
    assert result["network"] == {"name": "oak-net"}
    assert plan.changed_keys == ["labels", "subnet"]


def test_an_action_alone_is_a_change():
    plan = ChangeRecord(diff_mode=True)
    plan.step("reload nginx")
    assert plan.changed


def test_recorded_values_are_copies():
    wanted = {"servers": ["10.0.0.1"]}
    plan = ChangeRecord(diff_mode=True)
    plan.difference("upstream", None, wanted)
    wanted["servers"].append("10.0.0.2")
    assert plan.diff()["after"]["upstream"] == {"servers": ["10.0.0.1"]}


def test_change_record_reports_diff_only_in_diff_mode():
    quiet = ChangeRecord()
    quiet.difference("subnet", "a", "b")
    quiet.step("recreate network oak-net")
    assert quiet.result() == {"changed": True, "actions": ["recreate network oak-net"]}
    loud = ChangeRecord(diff_mode=True)
    loud.difference("subnet", "a", "b")
    assert loud.result()["diff"] == {"before": {"subnet": "a"}, "after": {"subnet": "b"}}


def test_change_record_failure_counts_only_the_steps_written():
    record = ChangeRecord()
    record.step("create network oak-net")
    record.step("connect container web")
    assert record.failure() == {"changed": False, "actions": []}
    record.done("create network oak-net")
    assert record.failure() == {"changed": True, "actions": ["create network oak-net"]}
