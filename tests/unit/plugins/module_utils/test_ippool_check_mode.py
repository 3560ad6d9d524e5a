# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Check mode on a fresh environment: no failure for a pool not created yet, nothing written on disk."""

from __future__ import annotations

import pytest

from ansible_collections.pptv.dcos.plugins.module_utils._diff import ChangeRecord
from ansible_collections.pptv.dcos.plugins.module_utils._errors import DcosError
from ansible_collections.pptv.dcos.plugins.module_utils._ippool import FileStore, IpPoolManager

POOL = {"pool": "oak", "subnets": ["10.0.0.0/29"], "gateway": "10.0.0.1"}


def test_check_mode_of_the_deploy_play_on_a_fresh_environment_creates_nothing(tmp_path):
    path = tmp_path / "state" / "pool.json"
    store = FileStore(str(path))
    assert IpPoolManager(store, POOL, record=ChangeRecord(check_mode=True)).present()["changed"]
    planned = IpPoolManager(
        store, {"pool": "oak", "app_ids": ["web", "/api"]}, record=ChangeRecord(check_mode=True)
    ).allocated()
    assert planned["changed"] is True
    assert "pool oak does not exist yet" in planned["msg"]
    assert [(e["app_id"], e["ip"]) for e in planned["allocations"]] == [("/web", None), ("/api", None)]
    one = IpPoolManager(
        store, {"pool": "oak", "app_id": "web", "ip": "10.0.0.5"}, record=ChangeRecord(check_mode=True)
    ).allocated()
    assert (one["app_id"], one["ip"], one["changed"]) == ("/web", "10.0.0.5", True)
    assert (
        IpPoolManager(store, {"pool": "oak", "app_id": "web"}, record=ChangeRecord(check_mode=True)).released()[
            "changed"
        ]
        is False
    )
    assert IpPoolManager(store, {"pool": "oak"}, record=ChangeRecord(check_mode=True)).absent()["changed"] is False
    assert store.list_pools() == []
    assert store.get_pool("oak") is None
    assert not (tmp_path / "state").exists()


def test_without_check_mode_a_missing_pool_still_fails(tmp_path):
    store = FileStore(str(tmp_path / "pool.json"))
    with pytest.raises(DcosError, match="pool oak does not exist"):
        IpPoolManager(store, {"pool": "oak", "app_id": "web"}).allocated()


def test_reads_and_check_mode_leave_no_lock_file_but_use_an_existing_one(tmp_path):
    path = tmp_path / "pool.json"
    store = FileStore(str(path))
    IpPoolManager(store, POOL).present()
    lock = tmp_path / "pool.json.lock"
    assert lock.exists()
    lock.unlink()
    planned = IpPoolManager(store, {"pool": "oak", "app_id": "web"}, record=ChangeRecord(check_mode=True)).allocated()
    assert planned["ip"] == "10.0.0.2" and planned["changed"]
    assert store.allocations("oak") == {}
    assert not lock.exists()
    assert IpPoolManager(store, {"pool": "oak", "app_id": "web"}).allocated()["ip"] == "10.0.0.2"
    assert lock.exists()
    assert store.allocations("oak")["/web"]["ip"] == "10.0.0.2"
