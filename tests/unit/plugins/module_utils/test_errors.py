# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import pytest

from ansible_collections.pptv.dcos.plugins.module_utils._errors import DcosError, fail_from


class FakeModule:
    """Stands in for AnsibleModule at its only boundary here: fail_json."""

    def __init__(self):
        self.failed_with = None

    def fail_json(self, **kwargs):
        self.failed_with = kwargs
        raise SystemExit(1)


def test_message_and_details_reach_fail_json_with_the_partial_result():
    module = FakeModule()
    error = DcosError("subnet: 10.0.0.0/33 is not a network", containers=["web-1"])
    with pytest.raises(SystemExit):
        fail_from(module, error, changed=False)
    assert module.failed_with == {
        "msg": "subnet: 10.0.0.0/33 is not a network",
        "containers": ["web-1"],
        "changed": False,
        "actions": [],
    }


def test_changed_and_actions_come_from_the_change_record():
    from ansible_collections.pptv.dcos.plugins.module_utils._diff import ChangeRecord

    record = ChangeRecord()
    record.step("create network oak-net")
    record.step("connect web")
    record.done("create network oak-net")
    module = FakeModule()
    with pytest.raises(SystemExit):
        fail_from(module, DcosError("connect web: refused"), record, changed=False, network="oak-net")
    assert module.failed_with == {
        "msg": "connect web: refused",
        "changed": True,
        "actions": ["create network oak-net"],
        "network": "oak-net",
    }


def test_str_is_the_message():
    assert str(DcosError("pool: exhausted")) == "pool: exhausted"
