# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""docker_bridge_net through AnsibleModule, with the Docker SDK's APIClient replaced by a fake engine."""

from __future__ import annotations

import copy
import json

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.pptv.dcos.plugins.module_utils import _docker_connection
from ansible_collections.pptv.dcos.plugins.modules import docker_bridge_net

SEED = {
    "name": "oak-net",
    "subnet": "10.199.45.0/24",
    "gateway": "10.199.45.200",
    "bridge_name": "br-oak",
    "default_gateway": "10.199.45.1",
}


class FakeEngine:
    """Answers the APIClient calls the module makes, keeping networks in memory; records writes."""

    def __init__(self):
        self.networks_by_id = {}
        self.writes = []

    def __call__(self, **kwargs):  # stands for docker.APIClient(...)
        self.client_kwargs = kwargs
        return self

    def networks(self, names=None):
        return [
            {"Name": n["Name"], "Id": i}
            for i, n in self.networks_by_id.items()
            if not names or any(x in n["Name"] for x in names)  # the engine's filter is a substring match
        ]

    def inspect_network(self, net_id):
        return copy.deepcopy(self.networks_by_id[net_id])

    def create_network(self, name, driver, options, ipam, check_duplicate, internal, labels, enable_ipv6):
        self.writes.append(("create", name))
        net_id = f"{len(self.networks_by_id) + 1:064x}"
        self.networks_by_id[net_id] = {
            "Name": name,
            "Id": net_id,
            "Driver": driver,
            "EnableIPv6": enable_ipv6,
            "IPAM": copy.deepcopy(ipam),
            "Internal": internal,
            "Containers": {},
            "Options": dict(options),
            "Labels": dict(labels),
        }

    def remove_network(self, net_id):
        self.writes.append(("remove", self.networks_by_id[net_id]["Name"]))
        del self.networks_by_id[net_id]

    def disconnect_container_from_network(self, container, net_id, force=False):
        self.writes.append(("disconnect", container))
        self.networks_by_id[net_id]["Containers"].pop(container)


@pytest.fixture
def engine(monkeypatch):
    fake = FakeEngine()
    monkeypatch.setattr(_docker_connection.docker, "APIClient", fake)
    return fake


def run(args, capsys, check=False, diff=False):
    args = dict(args)
    if check:
        args["_ansible_check_mode"] = True
    if diff:
        args["_ansible_diff"] = True
    with patch_module_args(args), pytest.raises(SystemExit):
        docker_bridge_net.main()
    return json.loads(capsys.readouterr().out)


def test_create_check_mode_idempotence_and_documented_keys(engine, capsys):
    planned = run(SEED, capsys, check=True, diff=True)
    assert planned["changed"] and engine.writes == []
    assert planned["diff"]["after"]["aux_addresses"] == {"DefaultGatewayIPv4": "10.199.45.1"}
    created = run(SEED, capsys)
    assert created["changed"] and engine.writes == [("create", "oak-net")]
    assert engine.client_kwargs["base_url"] == "unix:///var/run/docker.sock"
    assert set(created) >= {"network", "containers", "disconnected", "actions", "diff"}
    assert created["network"]["IPAM"]["Config"] == [
        {
            "Subnet": "10.199.45.0/24",
            "Gateway": "10.199.45.200",
            "AuxiliaryAddresses": {"DefaultGatewayIPv4": "10.199.45.1"},
        }
    ]
    again = run(SEED, capsys)
    assert not again["changed"] and len(engine.writes) == 1


def test_a_name_containing_ours_is_not_ours(engine, capsys):
    run(dict(SEED, name="oak-net-2", subnet="10.199.46.0/24", gateway="10.199.46.200", default_gateway="10.199.46.1",
             bridge_name="br-oak2"), capsys)  # fmt: skip
    result = run(dict(SEED, name="oak"), capsys)
    assert result["changed"] and engine.writes[-1] == ("create", "oak")


def test_refuse_without_force_and_recreate_with_it(engine, capsys):
    run(SEED, capsys)
    net_id = next(iter(engine.networks_by_id))
    engine.networks_by_id[net_id]["Containers"] = {"c0ffee": {"Name": "mesos-1"}}
    changed = dict(SEED, subnet="10.199.46.0/24", gateway="10.199.46.200", default_gateway="10.199.46.1")
    for check in (True, False):
        refused = run(changed, capsys, check=check)
        assert refused["failed"] and refused["containers"] == ["mesos-1"]
        assert refused["differences"] == ["subnet", "gateway", "aux_addresses"]
        assert "mesos-1" in refused["msg"]
    assert engine.writes == [("create", "oak-net")]
    forced = run(dict(changed, force=True), capsys)
    assert forced["changed"] and forced["disconnected"] == ["mesos-1"]
    assert engine.writes[1:] == [("disconnect", "c0ffee"), ("remove", "oak-net"), ("create", "oak-net")]


def test_bad_input_never_reaches_the_engine(engine, capsys):
    result = run(dict(SEED, default_gateway="10.199.45.200"), capsys)
    assert result["failed"] and "must differ" in result["msg"]
    assert engine.writes == []
    missing = run({"name": "oak-net"}, capsys)
    assert missing["failed"] and "subnet" in missing["msg"]
