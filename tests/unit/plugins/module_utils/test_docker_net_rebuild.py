# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Forced rebuilds of a bridge network against a fake Docker APIClient (the transport)."""

from __future__ import annotations

import copy

import pytest
from requests import exceptions as requests_exceptions

from ansible_collections.pptv.dcos.plugins.module_utils._docker_connection import docker_errors
from ansible_collections.pptv.dcos.plugins.module_utils._docker_net import BridgeNetworkManager
from ansible_collections.pptv.dcos.plugins.module_utils._errors import DcosError

OLD = {
    "Name": "oak-net",
    "Id": "old0000000000001",
    "Driver": "bridge",
    "EnableIPv6": False,
    "IPAM": {"Driver": "default", "Options": {}, "Config": [{"Subnet": "10.199.45.0/24", "Gateway": "10.199.45.200"}]},
    "Internal": False,
    "Containers": {"c1": {"Name": "web"}},
    "Options": {"com.docker.network.bridge.name": "br-oak"},
    "Labels": {},
}
OTHER = {
    "Name": "elm-net",
    "Id": "other00000000002",
    "IPAM": {"Config": [{"Subnet": "10.199.46.0/24"}]},
}


class FakeClient:
    """Just the APIClient calls the manager makes; ``refuse`` lists subnets create_network rejects."""

    def __init__(self, networks, refuse=()):
        self.nets = {net["Id"]: copy.deepcopy(net) for net in networks}
        self.refuse = set(refuse)
        self.calls = []

    def networks(self, names=None):
        self.calls.append(("networks", names))
        return [copy.deepcopy(n) for n in self.nets.values() if not names or n["Name"] in names]

    def inspect_network(self, net_id):
        return copy.deepcopy(self.nets[net_id])

    def disconnect_container_from_network(self, cid, net_id, force=False):
        self.calls.append(("disconnect", cid))
        self.nets[net_id]["Containers"].pop(cid)

    def remove_network(self, net_id):
        self.calls.append(("remove", net_id))
        del self.nets[net_id]

    def create_network(self, name, **kwargs):
        subnet = kwargs["ipam"]["Config"][0]["Subnet"]
        self.calls.append(("create", subnet))
        if subnet in self.refuse:
            raise docker_errors.APIError("403", explanation="Pool overlaps with other one on this address space")
        net_id = f"new{len(self.calls):013d}"
        self.nets[net_id] = {"Name": name, "Id": net_id, "IPAM": kwargs["ipam"], "Containers": {}}
        return {"Id": net_id}


def _manager(client, subnet):
    params = {"name": "oak-net", "subnet": subnet, "gateway": subnet.rsplit(".", 1)[0] + ".200", "force": True}
    manager = BridgeNetworkManager(params)
    manager.client = client
    return manager


def test_overlap_with_another_network_is_refused_before_anything_is_removed():
    client = FakeClient([OLD, OTHER])
    manager = _manager(client, "10.199.46.0/24")
    with pytest.raises(DcosError) as err:
        manager.present()
    assert "elm-net (10.199.46.0/24)" in err.value.msg
    assert manager.record.failure() == {"changed": False, "actions": []}
    assert not [c for c in client.calls if c[0] in ("disconnect", "remove", "create")]
    assert "old0000000000001" in client.nets


def test_failed_create_restores_the_old_network_and_reports_changed():
    client = FakeClient([OLD, OTHER], refuse={"10.199.47.0/24"})
    manager = _manager(client, "10.199.47.0/24")
    with pytest.raises(DcosError) as err:
        manager.present()
    assert manager.record.failure() == {
        "changed": True,
        "actions": ["disconnect web from network oak-net", "remove network oak-net", "restore network oak-net"],
    }
    assert err.value.details["disconnected"] == ["web"]
    assert err.value.details["restored"] is True
    assert "Pool overlaps" in err.value.msg and "recreated with its former settings" in err.value.msg
    restored = [n for n in client.nets.values() if n["Name"] == "oak-net"]
    assert len(restored) == 1
    assert restored[0]["IPAM"]["Config"] == OLD["IPAM"]["Config"]


def test_failed_create_and_failed_restore_say_the_network_is_gone():
    client = FakeClient([OLD], refuse={"10.199.47.0/24", "10.199.45.0/24"})
    manager = _manager(client, "10.199.47.0/24")
    with pytest.raises(DcosError) as err:
        manager.present()
    assert manager.record.failure()["changed"] is True
    assert err.value.details["restored"] is False
    assert "it is gone" in err.value.msg
    assert not [n for n in client.nets.values() if n["Name"] == "oak-net"]


def test_rebuild_without_overlap_still_succeeds():
    client = FakeClient([OLD, OTHER])
    result = _manager(client, "10.199.47.0/24").present()
    assert result["changed"] is True
    assert result["disconnected"] == ["web"]
    assert [n["IPAM"]["Config"][0]["Subnet"] for n in client.nets.values() if n["Name"] == "oak-net"] == [
        "10.199.47.0/24"
    ]


@pytest.mark.parametrize(
    "failure", [requests_exceptions.ReadTimeout("read timed out"), requests_exceptions.ConnectionError("refused")]
)
def test_transport_errors_of_the_engine_are_dcos_errors(failure):
    client = FakeClient([OLD])

    def broken(*_args, **_kwargs):
        raise failure

    client.networks = broken
    with pytest.raises(DcosError) as err:
        _manager(client, "10.199.45.0/24").present()
    assert err.value.msg.startswith("list networks named oak-net: ")
    assert str(failure) in err.value.msg
