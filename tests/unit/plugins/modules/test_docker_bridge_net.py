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
    assert set(created) >= {"network", "containers", "disconnected", "actions"}
    assert "diff" not in created  # only with --diff
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


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"name": "oak-net\n"}, "name: 'oak-net\\n' is not valid"),
        ({"name": "oak/net"}, "name: 'oak/net' is not valid"),
        ({"name": "-oak"}, "name: '-oak' is not valid"),
        ({"name": ""}, "name: must be a non-empty string"),
        ({"bridge_name": "br-oak\n"}, "bridge_name: 'br-oak\\n' is not valid"),
        ({"bridge_name": "br/oak"}, "bridge_name: 'br/oak' is not valid"),
        ({"bridge_name": "br:oak"}, "bridge_name: 'br:oak' is not valid"),
        ({"bridge_name": ".."}, "bridge_name: '..' is not valid"),
        ({"bridge_name": "br-0123456789abc"}, "bridge_name: must be at most 15 characters, got 16"),
        (
            {"bridge_name": None, "driver_options": {"com.docker.network.bridge.name": "br\noak"}},
            "driver_options.com.docker.network.bridge.name: 'br\\noak' is not valid",
        ),
        ({"labels": {"team": {"name": "shop"}}}, "labels.team: must be a string, a number or a boolean, got a dict"),
        ({"labels": {"team": ["a", "b"]}}, "labels.team: must be a string, a number or a boolean, got a list"),
        ({"labels": {"team": None}}, "labels.team: must be a string, a number or a boolean, got a null"),
        ({"labels": {"te am": "x"}}, "labels key: 'te am' must not contain whitespace"),
        ({"driver_options": {"mtu": [1500]}}, "driver_options.mtu: must be a string, a number or a boolean"),
        ({"aux_addresses": {"router": ["10.199.45.2"]}}, "aux_addresses.router: must be an IP address"),
        ({"api_version": "banana"}, "api_version: 'banana' is not valid: auto or a version like 1.43"),
        ({"api_version": "1.43\n"}, "api_version: '1.43\\n' is not valid"),
        ({"timeout": -1}, "timeout: must be more than 0, got -1"),
        ({"timeout": 0}, "timeout: must be more than 0, got 0"),
        ({"docker_host": "banana"}, "docker_host: 'banana' is not valid: unix:///path/to/socket"),
        ({"docker_host": "tcp://127.0.0.1:99999"}, "docker_host: must be 65535 or less, got 99999"),
        ({"docker_host": "unix:///run/docker.sock\n"}, "docker_host: 'unix:///run/docker.sock\\n' is not valid"),
    ],
)
def test_hostile_input_fails_naming_the_option_before_the_engine_is_called(engine, capsys, change, words):
    result = run(dict(SEED, **change), capsys)
    assert result["failed"] and result["msg"].startswith(words), result
    assert result["changed"] is False and result["actions"] == []
    assert engine.writes == []
    assert not hasattr(engine, "client_kwargs")  # no client was made


def test_docker_host_from_the_environment_is_checked_and_named(engine, capsys, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:70000")
    result = run(SEED, capsys)
    assert result["failed"] and result["msg"] == "docker_host (from DOCKER_HOST): must be 65535 or less, got 70000"


def test_scalar_label_values_are_spelled_as_docker_spells_them(engine, capsys):
    created = run(dict(SEED, labels={"canary": True, "replicas": 3, "ratio": 0.5}), capsys)
    assert created["network"]["Labels"] == {"canary": "true", "replicas": "3", "ratio": "0.5"}
    assert not run(dict(SEED, labels={"canary": "true", "replicas": "3"}), capsys)["changed"]
