# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Store failures end in a DcosError naming the option: a corrupt state file, a corrupt znode, kazoo errors."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from kazoo import exceptions as kazoo_exceptions

from ansible_collections.pptv.dcos.plugins.module_utils._errors import DcosError
from ansible_collections.pptv.dcos.plugins.module_utils._ippool import FileStore, IpPoolManager, ZooKeeperStore

SPEC = {"subnets": ["10.0.0.0/29"], "gateway": "10.0.0.1", "reserved": [], "allocation_ranges": []}


@pytest.mark.parametrize(
    "state",
    [
        {"version": 1, "pools": {"oak": {"spec": SPEC}}},
        {"version": 1, "pools": []},
        {"version": 1, "pools": {"oak": []}},
        {"version": 1, "pools": {"oak": {"spec": SPEC, "allocations": {"/web": "10.0.0.3"}}}},
    ],
)
def test_file_store_of_the_wrong_shape_names_path(tmp_path, state):
    path = tmp_path / "pool.json"
    path.write_text(json.dumps(state))
    for operation in (
        lambda store: store.allocations("oak"),
        lambda store: IpPoolManager(store, {"pool": "oak", "app_id": "web"}).allocated(),
        lambda store: store.list_pools(),
    ):
        with pytest.raises(DcosError) as err:
            operation(FileStore(str(path)))
        assert err.value.msg.startswith(f"path: {path} is not a valid ip_pool state file")


class FakeZk:
    """A kazoo client (the transport): ``nodes`` maps paths to bytes; ``fail`` is raised by every read."""

    def __init__(self, nodes, fail=None):
        self.nodes = nodes
        self.fail = fail

    def get(self, path):
        if self.fail:
            raise self.fail
        if path not in self.nodes:
            raise kazoo_exceptions.NoNodeError()
        return self.nodes[path], SimpleNamespace(version=0)

    def get_children(self, path):
        if self.fail:
            raise self.fail
        prefix = path + "/"
        if path not in self.nodes:
            raise kazoo_exceptions.NoNodeError()
        return sorted({p[len(prefix) :].split("/")[0] for p in self.nodes if p.startswith(prefix)})

    def transaction(self):
        if self.fail:
            raise self.fail
        return SimpleNamespace(delete=lambda *args, **kwargs: None, commit=list)

    def ensure_path(self, path):
        if self.fail:
            raise self.fail


@pytest.mark.parametrize(
    "failure",
    [kazoo_exceptions.ConnectionLoss(), kazoo_exceptions.SessionExpiredError(), kazoo_exceptions.NoAuthError()],
)
def test_kazoo_failures_name_zk_hosts(failure):
    store = ZooKeeperStore(hosts="127.0.0.1:2999", root="/pptv", client=FakeZk({}, fail=failure))
    for operation in (
        lambda: store.get_pool("oak"),
        store.list_pools,
        lambda: store.allocate("oak", [("/web", None)]),
        lambda: store.release("oak", ["/web"]),
    ):
        with pytest.raises(DcosError) as err:
            operation()
        assert err.value.msg.startswith("zk_hosts: ZooKeeper at 127.0.0.1:2999 failed")
        assert type(failure).__name__ in err.value.msg


@pytest.mark.parametrize(
    "nodes, operation, node",
    [
        ({"/pptv/pools/oak": b"{not json"}, lambda s: s.get_pool("oak"), "/pptv/pools/oak"),
        ({"/pptv/pools/oak": b"[1, 2]"}, lambda s: s.allocate("oak", [("/web", None)]), "/pptv/pools/oak"),
        (
            {
                "/pptv/pools/oak": json.dumps(SPEC).encode(),
                "/pptv/pools/oak/apps": b"",
                "/pptv/pools/oak/apps/%2Fweb": b"\xff",
            },
            lambda s: s.allocations("oak"),
            "/pptv/pools/oak/apps/%2Fweb",
        ),
        (
            {
                "/pptv/pools/oak": json.dumps(SPEC).encode(),
                "/pptv/pools/oak/apps": b"",
                "/pptv/pools/oak/apps/%2Fweb": b'{"allocated_at": 1}',
            },
            lambda s: s.release("oak", ["/web"]),
            "/pptv/pools/oak/apps/%2Fweb",
        ),
    ],
)
def test_corrupt_znodes_name_zk_root_and_the_node(nodes, operation, node):
    store = ZooKeeperStore(hosts="127.0.0.1:2999", root="/pptv", client=FakeZk(nodes))
    with pytest.raises(DcosError) as err:
        operation(store)
    assert err.value.msg.startswith(f"zk_root: znode {node} under /pptv ")
