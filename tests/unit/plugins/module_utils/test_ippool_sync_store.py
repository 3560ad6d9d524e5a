# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""state=synced against a file store in tmp, with another controller acting between its steps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ansible_collections.pptv.dcos.plugins.module_utils._diff import ChangeRecord
from ansible_collections.pptv.dcos.plugins.module_utils._errors import DcosError
from ansible_collections.pptv.dcos.plugins.module_utils._ippool import FileStore, IpPoolManager
from ansible_collections.pptv.dcos.plugins.module_utils._ippool_sync import sync_pool

OAK = {"pool": "oak", "subnets": ["10.0.0.0/28"], "gateway": "10.0.0.1"}
ELM = {"pool": "elm", "subnets": ["10.0.1.0/28"]}


class Marathon:
    """The Marathon client's one call that sync makes; ``during`` runs in it (another controller)."""

    def __init__(self, apps=(), during=None):
        self.apps = list(apps)
        self.during = during

    def list_apps(self, embed=()):
        if self.during:
            self.during()
        return self.apps


def _store(tmp_path):
    store = FileStore(str(tmp_path / "pool.json"))
    IpPoolManager(store, OAK).present()
    return store


def _held(store, app_id, ip, allocated_at, missing_since=None):
    state = json.loads(Path(store.path).read_text())
    record = {"ip": ip, "allocated_at": allocated_at}
    if missing_since is not None:
        record["missing_since"] = missing_since
    state["pools"]["oak"]["allocations"][app_id] = record
    with open(store.path, "w") as handle:
        json.dump(state, handle)


def test_a_pool_deleted_between_list_and_get_is_skipped(tmp_path):
    store = _store(tmp_path)
    IpPoolManager(store, ELM).present()

    class Racing(FileStore):
        def list_pools(self):
            names = super().list_pools()
            IpPoolManager(FileStore(self.path), {"pool": "elm"}).absent()
            return names

    result = sync_pool(Racing(store.path), "oak", Marathon(), ChangeRecord(), now=1000.0, grace_period=0)
    assert result["pool"] == "oak" and result["conflicts"] == []


def test_an_app_allocated_again_meanwhile_is_not_released(tmp_path):
    store = _store(tmp_path)
    _held(store, "/gone", "10.0.0.2", allocated_at=0, missing_since=10.0)

    def another_controller():  # the app is released and allocated again with a fresh record
        store.release("oak", ["/gone"])
        IpPoolManager(store, {"pool": "oak", "app_id": "/gone", "ip": "10.0.0.2"}).allocated()

    result = sync_pool(
        store, "oak", Marathon(during=None), ChangeRecord(), now=1000.0, grace_period=600
    )  # baseline: released when nothing happens meanwhile
    assert result["released"] == ["/gone"]

    _held(store, "/gone", "10.0.0.2", allocated_at=0, missing_since=10.0)
    state = json.loads(Path(store.path).read_text())
    read = {k: dict(v) for k, v in state["pools"]["oak"]["allocations"].items()}

    class Stale(FileStore):
        """Hands sync the allocations as read before the other controller acted."""

        def allocations(self, name):
            return read

    another_controller()
    result = sync_pool(Stale(store.path), "oak", Marathon(), ChangeRecord(), now=1000.0, grace_period=600)
    assert result["released"] == []
    assert store.allocations("oak")["/gone"]["ip"] == "10.0.0.2"


def test_a_young_allocation_not_deployed_yet_is_kept_until_the_grace_period(tmp_path):
    store = _store(tmp_path)
    # A stale mark (older than the allocation) must not release an address allocated 10s ago.
    _held(store, "/new", "10.0.0.3", allocated_at=990.0, missing_since=10.0)
    result = sync_pool(store, "oak", Marathon(), ChangeRecord(), now=1000.0, grace_period=60)
    assert result["released"] == []
    assert result["pending_release"] == [
        {"app_id": "/new", "ip": "10.0.0.3", "missing_since": 10.0, "release_after": 1050.0}
    ]
    assert "/new" in store.allocations("oak")


def test_a_failure_after_writes_reports_changed(tmp_path):
    store = _store(tmp_path)
    _held(store, "/gone", "10.0.0.2", allocated_at=0)

    class Failing(FileStore):
        def release(self, *args, **kwargs):
            raise DcosError(f"path: cannot write {self.path}: No space left on device")

    apps = [{"id": "/new", "container": {"docker": {"parameters": [{"key": "ip", "value": "10.0.0.5"}]}}}]
    record = ChangeRecord()
    with pytest.raises(DcosError) as err:
        sync_pool(Failing(store.path), "oak", Marathon(apps), record, now=1000.0, grace_period=0)
    assert record.failure() == {"changed": True, "actions": ["record 10.0.0.5 of /new (used in Marathon) in pool oak"]}
    assert err.value.details["recorded"] == ["/new"]
    assert "record 10.0.0.5 of /new" in err.value.msg
    assert store.allocations("oak")["/new"]["ip"] == "10.0.0.5"


def test_a_failure_before_any_write_is_not_a_change(tmp_path):
    store = _store(tmp_path)
    _held(store, "/gone", "10.0.0.2", allocated_at=0)

    class Failing(FileStore):
        def release(self, *args, **kwargs):
            raise DcosError("path: cannot write")

    record = ChangeRecord()
    with pytest.raises(DcosError) as err:
        sync_pool(Failing(store.path), "oak", Marathon(), record, now=1000.0, grace_period=0)
    assert "changed" not in err.value.details
    assert record.failure() == {"changed": False, "actions": []}
