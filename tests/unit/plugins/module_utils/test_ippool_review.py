# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ip_pool review fixes: the pool key is always returned; equivalent definitions are not changes."""

from __future__ import annotations


import pytest

from ansible_collections.pptv.dcos.plugins.module_utils._ippool import FileStore, IpPoolManager, PoolSpec

POOL = {"pool": "oak", "subnets": ["10.0.0.0/28"], "gateway": "10.0.0.1"}


@pytest.mark.parametrize("check_mode", [False, True])
@pytest.mark.parametrize("task", [{"app_ids": ["web", "api"]}, {"app_id": "web"}])
def test_pool_is_returned_by_every_allocated_task(tmp_path, check_mode, task):
    store = FileStore(str(tmp_path / "pool.json"))
    if not check_mode:
        IpPoolManager(store, POOL).present()
    result = IpPoolManager(store, dict(task, pool="oak"), check_mode=check_mode).allocated()
    assert result["pool"] == "oak"
    assert [entry["pool"] for entry in result["allocations"]] == ["oak"] * len(result["allocations"])
