# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ip_pool review fixes: the pool key is always returned; equivalent definitions are not changes."""

from __future__ import annotations

import pytest

from ansible_collections.pptv.dcos.plugins.module_utils._diff import ChangeRecord
from ansible_collections.pptv.dcos.plugins.module_utils._ippool import FileStore, IpPoolManager, PoolSpec

POOL = {"pool": "oak", "subnets": ["10.0.0.0/28"], "gateway": "10.0.0.1"}


@pytest.mark.parametrize("check_mode", [False, True])
@pytest.mark.parametrize("task", [{"app_ids": ["web", "api"]}, {"app_id": "web"}])
def test_pool_is_returned_by_every_allocated_task(tmp_path, check_mode, task):
    store = FileStore(str(tmp_path / "pool.json"))
    if not check_mode:
        IpPoolManager(store, POOL).present()
    result = IpPoolManager(store, dict(task, pool="oak"), record=ChangeRecord(check_mode=check_mode)).allocated()
    assert result["pool"] == "oak"
    assert [entry["pool"] for entry in result["allocations"]] == ["oak"] * len(result["allocations"])


def test_equivalent_pool_definitions_normalise_alike():
    one = PoolSpec(
        "oak",
        ["10.0.0.0/24", "fd00::/120"],
        reserved=["10.0.0.9/32", "fd00::5/128", "10.0.0.20-10.0.0.30", "10.0.0.2", "10.0.0.2"],
        allocation_ranges=["10.0.0.128/25", "10.0.0.3-10.0.0.3", "10.0.0.16/28"],
    )
    two = PoolSpec(
        "oak",
        ["10.0.0.0/24", "fd00::/120"],
        reserved=["fd00::5", "10.0.0.20-10.0.0.30", "10.0.0.9", "10.0.0.2"],
        allocation_ranges=["10.0.0.16/28", "10.0.0.3", "10.0.0.128/25"],
    )
    assert one.to_dict() == two.to_dict()
    assert one.to_dict()["reserved"] == ["10.0.0.2", "10.0.0.9", "10.0.0.20-10.0.0.30", "fd00::5"]
    assert one.to_dict()["allocation_ranges"] == ["10.0.0.3", "10.0.0.16/28", "10.0.0.128/25"]


def test_reordered_or_respelled_definition_is_not_a_change(tmp_path):
    path = tmp_path / "pool.json"
    store = FileStore(str(path))
    first = dict(POOL, reserved=["10.0.0.9", "10.0.0.2"], allocation_ranges=["10.0.0.8/29", "10.0.0.2-10.0.0.5"])
    assert IpPoolManager(store, first).present()["changed"]
    written = path.stat().st_mtime_ns
    again = dict(
        POOL, reserved=["10.0.0.2/32", "10.0.0.9", "10.0.0.9"], allocation_ranges=["10.0.0.2-10.0.0.5", "10.0.0.8/29"]
    )
    result = IpPoolManager(store, again).present()
    assert result["changed"] is False
    assert path.stat().st_mtime_ns == written
    assert IpPoolManager(store, dict(POOL, reserved=["10.0.0.3"])).present()["changed"]
