# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pptv.dcos.docker_bridge_net against the real Docker engine.

Every network, bridge and container is named with the ``pptvnet-`` / ``br-pn`` prefix and removed at
teardown; leftovers of a killed run are removed first. Checks go through ``docker network inspect``
and ``ip``, never through the module's own output alone.
"""

from __future__ import annotations

import json
import subprocess

import pytest
from support.ansible_run import run_play, run_task

PREFIX = "pptvnet-"
NET = PREFIX + "oak"
BRIDGE = "br-pnoak"
# Subnets unlikely to collide with anything else on the machine.
SUBNET, GATEWAY, ROUTER = "10.231.45.0/24", "10.231.45.200", "10.231.45.1"
SUBNET2, GATEWAY2, ROUTER2 = "10.231.46.0/24", "10.231.46.200", "10.231.46.1"
IMAGE = "pptv-dcos/base:bookworm"


def sh(*cmd, check=True):
    return subprocess.run(cmd, capture_output=True, text=True, check=check)


def inspect(name):
    proc = sh("docker", "network", "inspect", name, check=False)
    if proc.returncode != 0:
        return None
    return json.loads(proc.stdout)[0]


def meaningful(net):
    """The fields of an inspect that say what the network is (not its id or creation time)."""
    return {
        "Driver": net["Driver"],
        "IPAM": net["IPAM"],
        "Options": net["Options"],
        "Internal": net["Internal"],
        "EnableIPv6": net["EnableIPv6"],
        "Labels": net["Labels"],
        "Attachable": net["Attachable"],
        "Scope": net["Scope"],
    }


def cleanup():
    # Only this suite's containers (pptvnet-c<n>) and networks (pptvnet-oak*): the ip_pool suite
    # uses the same prefix for its lab and network and may run at the same time.
    names = sh("docker", "ps", "-aq", "--filter", f"name=^{PREFIX}c[0-9]").stdout.split()
    if names:
        sh("docker", "rm", "-f", *names, check=False)
    nets = sh("docker", "network", "ls", "--format", "{{.Name}}", "--filter", f"name={NET}").stdout.split()
    for net in nets:
        if net.startswith(NET):
            sh("docker", "network", "rm", net, check=False)


@pytest.fixture(autouse=True)
def clean_docker():
    cleanup()
    yield
    cleanup()


def seed_args(**extra):
    args = {
        "name": NET,
        "subnet": SUBNET,
        "gateway": GATEWAY,
        "bridge_name": BRIDGE,
        "default_gateway": ROUTER,
    }
    args.update(extra)
    return args


def attach(name, network=NET):
    sh("docker", "run", "-d", "--name", name, "--network", network, IMAGE, "sleep", "infinity")


def test_module_network_equals_the_cli_network():
    sh(
        "docker", "network", "create", "--driver", "bridge", "--subnet", SUBNET, "--gateway", GATEWAY,
        "-o", f"com.docker.network.bridge.name={BRIDGE}", "--aux-address", f"DefaultGatewayIPv4={ROUTER}", NET,
    )  # fmt: skip
    from_cli = meaningful(inspect(NET))
    sh("docker", "network", "rm", NET)

    result = run_task("docker_bridge_net", seed_args())
    assert result.changed, result
    from_module = inspect(NET)
    assert meaningful(from_module) == from_cli
    assert result["network"]["Id"] == from_module["Id"]
    # Docker puts --gateway on the bridge device: the host's own address on it.
    addr = sh("ip", "-4", "-o", "addr", "show", "dev", BRIDGE).stdout
    assert f"{GATEWAY}/24" in addr


def test_idempotent_and_check_mode_of_the_same_task():
    assert run_task("docker_bridge_net", seed_args()).changed
    network_id = inspect(NET)["Id"]
    again = run_task("docker_bridge_net", seed_args())
    assert not again.changed and not again.failed, again
    assert again["actions"] == []
    checked = run_task("docker_bridge_net", seed_args(), check=True)
    assert not checked.changed and not checked.failed, checked
    assert inspect(NET)["Id"] == network_id


def test_create_in_check_mode_writes_nothing():
    result = run_task("docker_bridge_net", seed_args(), check=True, diff=True)
    assert result.changed and not result.failed, result
    assert result["actions"] == [f"create network {NET}"]
    assert result["diff"]["after"]["subnet"] == SUBNET
    assert inspect(NET) is None


def test_settings_are_idempotent_in_their_loose_spellings():
    args = seed_args(
        ip_range="10.231.45.128/26",
        aux_addresses={"host-b": "10.231.45.201"},
        driver_options={"com.docker.network.bridge.enable_icc": False, "com.docker.network.driver.mtu": 1400},
        labels={"pptv.dcos/env": "int", "team": "ops"},
        enable_ipv6=True,
        ipv6_subnet="fd00:0231:0045:0000::/64",
        ipv6_gateway="fd00:0231:0045:0000:0000:0000:0000:00c8",
    )
    assert run_task("docker_bridge_net", args).changed
    net = inspect(NET)
    assert net["Options"]["com.docker.network.bridge.enable_icc"] == "false"
    assert net["EnableIPv6"] is True
    assert {c["Subnet"] for c in net["IPAM"]["Config"]} == {SUBNET, "fd00:231:45::/64"}
    # Booleans as strings, IPv6 compressed, fewer labels: still the same network.
    args.update(
        driver_options={"com.docker.network.bridge.enable_icc": "false"},
        labels={"team": "ops"},
        ipv6_subnet="fd00:231:45::/64",
        ipv6_gateway="fd00:231:45::c8",
    )
    again = run_task("docker_bridge_net", args)
    assert not again.changed and not again.failed, again
    # A label the network does not carry is a difference.
    args["labels"] = {"team": "dev"}
    refused = run_task("docker_bridge_net", args)
    assert refused.failed and refused["differences"] == ["labels"], refused


def test_differing_network_is_refused_without_force_even_in_check_mode():
    assert run_task("docker_bridge_net", seed_args()).changed
    attach(PREFIX + "c1")
    changed = seed_args(subnet=SUBNET2, gateway=GATEWAY2, default_gateway=ROUTER2)
    for check in (False, True):
        result = run_task("docker_bridge_net", changed, check=check)
        assert result.failed, result
        assert result["containers"] == [PREFIX + "c1"]
        assert PREFIX + "c1" in result["msg"] and "force" in result["msg"]
        assert set(result["differences"]) == {"subnet", "gateway", "aux_addresses"}
    net = inspect(NET)
    assert net["IPAM"]["Config"][0]["Subnet"] == SUBNET
    assert list(net["Containers"].values())[0]["Name"] == PREFIX + "c1"


def test_force_recreates_and_disconnects_with_diff():
    assert run_task("docker_bridge_net", seed_args()).changed
    attach(PREFIX + "c2")
    old_id = inspect(NET)["Id"]
    changed = seed_args(subnet=SUBNET2, gateway=GATEWAY2, default_gateway=ROUTER2, force=True)

    planned = run_task("docker_bridge_net", changed, check=True, diff=True)
    assert planned.changed and not planned.failed, planned
    assert planned["disconnected"] == [PREFIX + "c2"]
    assert f"disconnect {PREFIX}c2 from network {NET}" in planned["actions"]
    assert inspect(NET)["Id"] == old_id

    done = run_task("docker_bridge_net", changed, diff=True)
    assert done.changed and not done.failed, done
    assert done["diff"]["before"]["subnet"] == SUBNET
    assert done["diff"]["after"]["subnet"] == SUBNET2
    assert done["diff"]["after"]["aux_addresses"] == {"DefaultGatewayIPv4": ROUTER2}
    net = inspect(NET)
    assert net["Id"] != old_id
    assert net["IPAM"]["Config"][0] == {
        "Subnet": SUBNET2,
        "Gateway": GATEWAY2,
        "AuxiliaryAddresses": {"DefaultGatewayIPv4": ROUTER2},
    }
    assert net["Containers"] == {}
    # force does not make the task recreate again once the network matches.
    assert not run_task("docker_bridge_net", changed).changed


def test_force_onto_a_subnet_another_network_holds_is_refused_before_removing():
    assert run_task("docker_bridge_net", seed_args()).changed
    attach(PREFIX + "c4")
    old_id = inspect(NET)["Id"]
    other = NET + "-elm"  # removed by cleanup() with the suite's other networks
    sh("docker", "network", "create", "--driver", "bridge", "--subnet", SUBNET2, other)
    failed = run_task(
        "docker_bridge_net", seed_args(subnet=SUBNET2, gateway=GATEWAY2, default_gateway=ROUTER2, force=True)
    )
    assert failed.failed and not failed.changed, failed
    assert f"{other} ({SUBNET2})" in failed["msg"], failed
    net = inspect(NET)
    assert net["Id"] == old_id
    assert [c["Name"] for c in net["Containers"].values()] == [PREFIX + "c4"]


def test_absent_refuses_with_containers_then_removes():
    assert run_task("docker_bridge_net", seed_args()).changed
    attach(PREFIX + "c3")
    refused = run_task("docker_bridge_net", {"name": NET, "state": "absent"})
    assert refused.failed and refused["containers"] == [PREFIX + "c3"], refused
    checked = run_task("docker_bridge_net", {"name": NET, "state": "absent", "force": True}, check=True)
    assert checked.changed and inspect(NET) is not None
    removed = run_task("docker_bridge_net", {"name": NET, "state": "absent", "force": True})
    assert removed.changed and removed["disconnected"] == [PREFIX + "c3"], removed
    assert inspect(NET) is None
    assert not run_task("docker_bridge_net", {"name": NET, "state": "absent"}).changed


def test_name_is_matched_exactly():
    sh("docker", "network", "create", "--subnet", "10.231.47.0/24", NET + "x")
    created = run_task("docker_bridge_net", seed_args())
    assert created.changed and not created.failed, created
    assert inspect(NET)["IPAM"]["Config"][0]["Subnet"] == SUBNET
    assert inspect(NET + "x")["IPAM"]["Config"][0]["Subnet"] == "10.231.47.0/24"


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ({"subnet": "10.231.45.0/33"}, ["subnet", "not a valid CIDR"]),
        ({"subnet": "10.231.45.7/24"}, ["subnet", "not a valid CIDR"]),
        ({"gateway": "10.231.99.200"}, ["gateway", "outside subnet"]),
        ({"default_gateway": GATEWAY}, ["gateway and default_gateway", "must differ"]),
        ({"default_gateway": "10.231.99.1"}, ["default_gateway", "outside subnet"]),
        ({"aux_addresses": {"host-b": "10.231.99.9"}}, ["aux_addresses.host-b", "outside subnet"]),
        ({"ip_range": "10.231.99.0/26"}, ["ip_range", "not inside subnet"]),
        ({"bridge_name": "br-pn-much-too-long"}, ["bridge_name", "15"]),
        ({"enable_ipv6": True}, ["enable_ipv6", "ipv6_subnet"]),
    ],
)
def test_bad_input_fails_naming_the_option_before_touching_docker(args, words):
    result = run_task("docker_bridge_net", seed_args(**args))
    assert result.failed, result
    for word in words:
        assert word in result["msg"]
    assert "Traceback" not in result["stdout"]
    assert inspect(NET) is None


def test_hostile_names_labels_and_connection_options_fail_naming_the_option():
    """One play through ansible-playbook (issue 10): each is refused and Docker is left as it was."""
    cases = [
        ({"name": NET + "\n"}, "name: 'pptvnet-oak\\n' is not valid"),
        ({"name": NET + "/x"}, "name: 'pptvnet-oak/x' is not valid"),
        ({"bridge_name": BRIDGE + "\n"}, "bridge_name: 'br-pnoak\\n' is not valid"),
        ({"labels": {"team": {"name": "shop"}}}, "labels.team: must be a string, a number or a boolean, got a dict"),
        ({"labels": {"team": ["a"]}}, "labels.team: must be a string, a number or a boolean, got a list"),
        ({"api_version": "banana"}, "api_version: 'banana' is not valid"),
        ({"timeout": -1}, "timeout: must be more than 0"),
        ({"docker_host": "tcp://127.0.0.1:70000"}, "docker_host: must be 65535 or less"),
    ]
    tasks = [{"pptv.dcos.docker_bridge_net": seed_args(**args), "ignore_errors": True} for args, _words in cases]
    results = run_play(tasks)
    for (args, words), result in zip(cases, results):
        assert result.failed and result["msg"].startswith(words), (args, result)
        assert result["changed"] is False and result["actions"] == [], (args, result)
    assert "Traceback" not in results[0]["stdout"]
    assert sh("docker", "network", "ls", "-q", "--filter", f"name={NET}").stdout.split() == []
