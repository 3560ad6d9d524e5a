# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import pytest

from ansible_collections.pptv.dcos.plugins.module_utils._docker_net import (
    create_arguments,
    differences,
    network_view,
    wanted_network,
)
from ansible_collections.pptv.dcos.plugins.module_utils._errors import DcosError

SEED = {
    "name": "oak-net",
    "subnet": "10.199.45.0/24",
    "gateway": "10.199.45.200",
    "bridge_name": "br-oak",
    "default_gateway": "10.199.45.1",
}

# What `docker network inspect` prints for the seed's CLI command (Docker 20.10).
SEED_INSPECT = {
    "Name": "oak-net",
    "Id": "009ffd844e83dd81",
    "Driver": "bridge",
    "EnableIPv6": False,
    "IPAM": {
        "Driver": "default",
        "Options": {},
        "Config": [
            {
                "Subnet": "10.199.45.0/24",
                "Gateway": "10.199.45.200",
                "AuxiliaryAddresses": {"DefaultGatewayIPv4": "10.199.45.1"},
            }
        ],
    },
    "Internal": False,
    "Containers": {},
    "Options": {"com.docker.network.bridge.name": "br-oak"},
    "Labels": {},
}


def test_seed_settings_normalise_to_the_cli_network():
    wanted = wanted_network(SEED)
    assert wanted == {
        "subnet": "10.199.45.0/24",
        "gateway": "10.199.45.200",
        "aux_addresses": {"DefaultGatewayIPv4": "10.199.45.1"},
        "bridge_name": "br-oak",
    }
    assert differences(wanted, network_view(SEED_INSPECT)) == []
    args = create_arguments("oak-net", wanted)
    assert args["ipam"]["Config"] == SEED_INSPECT["IPAM"]["Config"]
    assert args["options"] == SEED_INSPECT["Options"]


def test_unset_settings_are_not_compared_and_dicts_are_subsets():
    current = network_view(dict(SEED_INSPECT, Labels={"a": "1", "b": "2"}))
    assert differences(wanted_network({"name": "oak-net", "subnet": "10.199.45.0/24"}), current) == []
    assert differences(wanted_network({"name": "x", "labels": {"a": 1}}), current) == []
    assert differences(wanted_network({"name": "x", "labels": {"a": "2"}}), current) == [
        ("labels", {"a": "1"}, {"a": "2"})
    ]


def test_aux_addresses_are_compared_exactly_when_given():
    wanted = wanted_network(dict(SEED, aux_addresses={"host-b": "10.199.45.201"}))
    assert wanted["aux_addresses"] == {"host-b": "10.199.45.201", "DefaultGatewayIPv4": "10.199.45.1"}
    found = differences(wanted, network_view(SEED_INSPECT))
    assert [key for key, _b, _a in found] == ["aux_addresses"]


def test_ipv6_and_booleans_are_normalised():
    wanted = wanted_network(
        {
            "name": "x",
            "subnet": "10.1.0.0/24",
            "ipv6_subnet": "fd00:0000:0000:0001::/64",
            "driver_options": {"com.docker.network.bridge.enable_icc": False},
        }
    )
    assert wanted["ipv6_subnet"] == "fd00:0:0:1::/64"
    assert wanted["enable_ipv6"] is True
    assert wanted["driver_options"] == {"com.docker.network.bridge.enable_icc": "false"}


def test_bridge_name_from_driver_options_and_default_bridge_name():
    wanted = wanted_network({"name": "x", "driver_options": {"com.docker.network.bridge.name": "br-x"}})
    assert wanted["bridge_name"] == "br-x"
    assert wanted["driver_options"] == {}
    view = network_view(dict(SEED_INSPECT, Options={}))
    assert view["bridge_name"] == "br-009ffd844e83"


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"subnet": "10.199.45.0/33"}, 'subnet: "10.199.45.0/33" is not a valid CIDR'),
        ({"subnet": "fd00::/64"}, "not an IPv4 CIDR"),
        ({"gateway": "10.199.46.1"}, "gateway: 10.199.46.1 is outside subnet"),
        ({"gateway": "10.199.45.255"}, "broadcast"),
        ({"default_gateway": "10.199.45.200"}, "must differ"),
        ({"gateway": None}, "default_gateway: needs gateway"),
        ({"aux_addresses": {"r": "10.199.45.200"}}, "aux_addresses.r: 10.199.45.200 is the gateway"),
        ({"aux_addresses": {"DefaultGatewayIPv4": "10.199.45.2"}}, "differs from default_gateway"),
        ({"internal": True}, "internal network"),
        ({"bridge_name": "br-0123456789abc"}, "bridge_name"),
        ({"bridge_name": "br oak"}, "bridge_name"),
        ({"ipv6_subnet": "fd00::/64", "enable_ipv6": False}, "ipv6_subnet: given while enable_ipv6 is false"),
        ({"enable_ipv6": True}, "enable_ipv6: needs ipv6_subnet"),
        ({"name": " "}, "name: ' ' is not valid"),
    ],
)
def test_bad_settings_name_the_option(change, words):
    params = dict(SEED)
    params.update(change)
    with pytest.raises(DcosError) as caught:
        wanted_network(params)
    assert words in caught.value.msg
