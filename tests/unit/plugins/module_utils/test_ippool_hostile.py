# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Hostile input to the IP pool (issue 10): each ends in a DcosError naming the option or the file."""

from __future__ import annotations

import json
import os
from types import SimpleNamespace

import pytest
import yaml
from kazoo import exceptions as kazoo_exceptions

from ansible_collections.pptv.dcos.plugins.doc_fragments._ip_pool_store import ModuleDocFragment
from ansible_collections.pptv.dcos.plugins.module_utils._diff import ChangeRecord
from ansible_collections.pptv.dcos.plugins.module_utils._errors import DcosError
from ansible_collections.pptv.dcos.plugins.module_utils._ippool import (
    DEFAULT_PATH,
    STORE_ENV,
    STORE_OPTIONS_SPEC,
    FileStore,
    IpPoolManager,
    PoolSpec,
    ZooKeeperStore,
    open_store,
)

SPEC = {"subnets": ["10.0.0.0/29"], "gateway": "10.0.0.1", "reserved": [], "allocation_ranges": []}


def _errors(operation):
    with pytest.raises(DcosError) as err:
        operation()
    return err.value.msg


@pytest.mark.parametrize("name", ["oak\n", "oak ", " oak", "o/ak", "", "-oak", "oak\x00", None, 7])
def test_pool_names_must_match_in_full(tmp_path, name):
    store = FileStore(str(tmp_path / "pool.json"))
    msg = _errors(lambda: IpPoolManager(store, {"pool": name, "subnets": ["10.0.0.0/29"]}).present())
    assert msg.startswith("pool: "), msg
    assert not (tmp_path / "pool.json").exists()


def test_a_trailing_newline_is_not_a_second_pool_over_the_same_subnet(tmp_path):
    store = FileStore(str(tmp_path / "pool.json"))
    IpPoolManager(store, {"pool": "oak", "subnets": ["10.0.0.0/29"]}).present()
    _errors(lambda: IpPoolManager(store, {"pool": "oak\n", "subnets": ["10.0.0.0/29"]}).present())
    assert store.list_pools() == ["oak"]


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("", "path: must be the absolute path of the state file, got ''"),
        ("   ", "path: must be the absolute path"),
        ("pool.json", "path: must be an absolute path"),
        ("/tmp/x\n.json", "path: "),
        ("/tmp/dir/", "path: '/tmp/dir/' names a directory"),
    ],
)
def test_bad_paths_are_refused_never_the_default_file(path, words):
    msg = _errors(lambda: open_store({"backend": "file", "path": path}))
    assert msg.startswith(words), msg
    assert DEFAULT_PATH not in msg


def test_home_relative_paths_are_expanded(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert open_store({"path": "~/pool.json"}).path == str(tmp_path / "pool.json")


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"backend": "zookeeper", "zk_hosts": "::::,,"}, "zk_hosts: '::::' is not 'host' or 'host:port'"),
        ({"backend": "zookeeper", "zk_hosts": "zk1:2181,"}, "zk_hosts: '' is not"),
        ({"backend": "zookeeper", "zk_hosts": "zk1:99999"}, "zk_hosts: must be 65535 or less"),
        ({"backend": "zookeeper", "zk_hosts": ""}, "zk_hosts: must be a non-empty"),
        ({"backend": "zookeeper", "zk_root": "pptv"}, "zk_root: 'pptv' is not valid"),
        ({"backend": "zookeeper", "zk_root": "/pptv/"}, "zk_root: '/pptv/' is not valid"),
        ({"backend": "zookeeper", "zk_root": "/pp tv"}, "zk_root: "),
        ({"backend": "zookeeper", "zk_root": "/pptv\n"}, "zk_root: "),
        ({"backend": "zookeeper", "zk_timeout": -1}, "zk_timeout: must be more than 0"),
        ({"backend": "zookeeper", "zk_timeout": float("nan")}, "zk_timeout: must be a finite number"),
        ({"backend": "file", "path": "/tmp/p.json", "lock_timeout": -5}, "lock_timeout: must be 0 or more"),
        ({"backend": "banana"}, "backend: 'banana' is not one of file, zookeeper"),
    ],
)
def test_bad_store_options_name_the_option_before_connecting(params, words):
    msg = _errors(lambda: open_store(params))
    assert msg.startswith(words), msg


def test_zk_hosts_are_normalised_with_the_default_port():
    store = ZooKeeperStore(hosts="zk1, zk2:2182,[::1]", client=SimpleNamespace())
    assert store.hosts == "zk1:2181,zk2:2182,[::1]:2181"


@pytest.mark.parametrize(
    ("pools", "words"),
    [
        ({"oak": {"spec": dict(SPEC, subnets=5), "allocations": {}}}, "pool oak: subnets: must be a list, got int"),
        ({"oak": {"spec": dict(SPEC, subnets=[5]), "allocations": {}}}, "pool oak: subnets: 5 is not a CIDR"),
        ({"oak": {"spec": dict(SPEC, gateway=["x"]), "allocations": {}}}, "pool oak: gateway: must be an address"),
        ({"oak": {"spec": dict(SPEC, reserved="10.0.0.2"), "allocations": {}}}, "pool oak: reserved: must be a list"),
        ({"oak": {"spec": dict(SPEC, reserved=[{}]), "allocations": {}}}, "pool oak: reserved: {} is not an address"),
        ({"oak": {"spec": dict(SPEC, subnets=[]), "allocations": {}}}, "pool oak: subnets: pool oak needs"),
        ({"oak\n": {"spec": SPEC, "allocations": {}}}, "pool name: 'oak\\n' is not valid"),
        ({"oak": {"spec": SPEC, "allocations": {"/web": {"ip": "banana"}}}}, "allocation /web of pool oak: ip:"),
        ({"oak": {"spec": SPEC, "allocations": {"/web": {"ip": 3}}}}, "allocation /web of pool oak: ip: 3 is not"),
        (
            {"oak": {"spec": SPEC, "allocations": {"/web": {"ip": "10.0.0.3", "allocated_at": "noon"}}}},
            "allocation /web of pool oak: allocated_at: must be a number of seconds",
        ),
        (
            {"oak": {"spec": SPEC, "allocations": {"/web": {"ip": "10.0.0.3", "missing_since": True}}}},
            "allocation /web of pool oak: missing_since: must be a number",
        ),
    ],
)
def test_state_files_with_wrong_types_name_the_file(tmp_path, pools, words):
    path = tmp_path / "pool.json"
    path.write_text(json.dumps({"version": 1, "pools": pools}))
    store = FileStore(str(path))
    for operation in (
        store.list_pools,
        lambda: IpPoolManager(store, {"pool": "oak", "app_id": "/new"}).allocated(),
        lambda: IpPoolManager(store, {"pool": "oak", "subnets": ["10.0.0.0/28"]}).present(),
        lambda: IpPoolManager(store, {"pool": "oak"}).lookup(["/web"]),
    ):
        msg = _errors(operation)
        assert msg.startswith(f"path: {path} is not a valid ip_pool state file: "), msg
        assert words in msg, msg


class FakeZk:
    """A kazoo client (the transport): ``nodes`` maps paths to bytes."""

    def __init__(self, nodes):
        self.nodes = nodes

    def get(self, path):
        if path not in self.nodes:
            raise kazoo_exceptions.NoNodeError()
        return self.nodes[path], SimpleNamespace(version=0)

    def get_children(self, path):
        if path not in self.nodes:
            raise kazoo_exceptions.NoNodeError()
        prefix = path + "/"
        return sorted({p[len(prefix) :].split("/")[0] for p in self.nodes if p.startswith(prefix)})


@pytest.mark.parametrize(
    ("nodes", "words"),
    [
        ({"/pptv/pools/oak": json.dumps(dict(SPEC, subnets="x")).encode()}, "pool oak: subnets: must be a list"),
        (
            {
                "/pptv/pools/oak": json.dumps(SPEC).encode(),
                "/pptv/pools/oak/apps": b"",
                "/pptv/pools/oak/ips": b"",
                "/pptv/pools/oak/apps/%2Fweb": b'{"ip": "10.0.0.300"}',
            },
            "znode /pptv/pools/oak/apps/%2Fweb under /pptv: ip: '10.0.0.300' is not an IP address",
        ),
    ],
)
def test_znodes_with_wrong_types_name_zk_root(nodes, words):
    store = ZooKeeperStore(root="/pptv", client=FakeZk(nodes))
    msg = _errors(lambda: IpPoolManager(store, {"pool": "oak"}).lookup(["/web"]))
    assert msg.startswith("zk_root: "), msg
    assert words in msg, msg


@pytest.mark.parametrize("ip", ["10.0.0.3\n", " 10.0.0.3", "10.0.0.03", "fe80::1%eth0", "10.0.0.3/32"])
def test_requested_addresses_must_be_exact(tmp_path, ip):
    store = FileStore(str(tmp_path / "pool.json"))
    IpPoolManager(store, {"pool": "oak", "subnets": ["10.0.0.0/29"]}).present()
    msg = _errors(lambda: IpPoolManager(store, {"pool": "oak", "app_id": "/web", "ip": ip}).allocated())
    assert msg.startswith("ip: "), msg
    assert store.allocations("oak") == {}


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("subnets", ["10.0.0.0/29\n"], "subnets: '10.0.0.0/29\\n' is not a valid CIDR"),
        ("reserved", ["10.0.0.2\n"], "reserved: '10.0.0.2\\n' is not an IP address"),
        ("gateway", "10.0.0.1\n", "gateway: '10.0.0.1\\n' is not an IP address"),
    ],
)
def test_pool_definitions_must_be_exact(field, value, words):
    definition = dict(SPEC)
    definition[field] = value
    with pytest.raises(DcosError) as err:
        PoolSpec("oak", definition["subnets"], definition["gateway"], definition["reserved"])
    assert err.value.msg == words


def test_each_write_is_marked_done_right_after_it(tmp_path):
    store = FileStore(str(tmp_path / "pool.json"))
    record = ChangeRecord()
    IpPoolManager(store, {"pool": "oak", "subnets": ["10.0.0.0/29"]}, record).present()
    assert record.failure() == {"changed": True, "actions": ["create pool oak"]}
    checked = ChangeRecord(check_mode=True)
    IpPoolManager(store, {"pool": "oak", "app_id": "/web"}, checked).allocated()
    assert checked.steps and checked.failure() == {"changed": False, "actions": []}


def test_the_doc_fragment_declares_the_spec_and_its_environment():
    documented = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["options"]
    env = yaml.safe_load(ModuleDocFragment.ENV)["options"]
    assert set(documented) == set(STORE_OPTIONS_SPEC)
    for option, spec in STORE_OPTIONS_SPEC.items():
        assert documented[option]["type"] == spec["type"], option
        assert documented[option]["default"] == spec["default"], option
    assert {option: entry["env"][0]["name"] for option, entry in env.items()} == STORE_ENV
    for option, variable in STORE_ENV.items():
        assert STORE_OPTIONS_SPEC[option]["fallback"][1] == [variable]
        assert f"E({variable})" in documented[option]["description"][-1]


def test_the_module_reads_the_path_from_the_environment(tmp_path, monkeypatch, capsys):
    from ansible.module_utils.testing import patch_module_args

    from ansible_collections.pptv.dcos.plugins.modules import ip_pool

    path = tmp_path / "env.json"
    monkeypatch.setenv("PPTV_DCOS_IP_POOL_PATH", str(path))
    with patch_module_args({"pool": "oak", "subnets": ["10.0.0.0/29"]}), pytest.raises(SystemExit):
        ip_pool.main()
    assert json.loads(capsys.readouterr().out)["changed"]
    assert "oak" in json.loads(path.read_text())["pools"]
    assert os.path.exists(str(path) + ".lock")
