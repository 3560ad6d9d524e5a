# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""playbooks/site.yml against inventories/{test,prod,lab}, without reaching any host.

The test and prod clusters are not reachable from here, so this proves what can be proved
offline: the inventories parse into the platform's shape, site.yml passes ``--syntax-check``,
each play targets the hosts it should (``--list-hosts``), and the variables the roles derive from
the inventory (ZooKeeper URL, quorum, volfile servers, drain URL) come out right. ``debug`` tasks
run on the controller, so no connection is attempted.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from support.ansible_run import ROOT, ansible_env

SITE = ROOT / "playbooks" / "site.yml"
CLUSTERS = {
    # name: (host name prefix, first three octets of the addresses)
    "test": ("test-", "10.199.45"),
    "prod": ("prod-", "10.199.10"),
}


def run(*cmd, env=None):
    proc = subprocess.run(
        [str(ROOT / ".venv" / "bin" / cmd[0]), *cmd[1:]],
        cwd=ROOT,
        env=ansible_env(**(env or {})),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, f"{' '.join(cmd)}: rc={proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def inventory(name):
    return ROOT / "inventories" / name


def hosts_of(listing, group):
    """Hosts of ``group`` (children resolved) in ``ansible-inventory --list`` output."""
    found = set(listing.get(group, {}).get("hosts", []))
    for child in listing.get(group, {}).get("children", []):
        found |= hosts_of(listing, child)
    return found


def plays(list_hosts_output):
    """{play name: set of hosts} from ``ansible-playbook --list-hosts``."""
    result, current = {}, None
    for line in list_hosts_output.splitlines():
        match = re.match(r"\s*play #\d+ \((.*)\): (.*?)\s+TAGS:", line)
        if match:
            current = match.group(2)
            result[current] = set()
        elif current and line.startswith("      ") and not line.strip().startswith("pattern:"):
            if not re.match(r"\s*hosts \(\d+\):", line) and line.strip():
                result[current].add(line.strip())
    return result


@pytest.mark.parametrize("name", sorted(CLUSTERS))
def test_inventory_has_the_platform_shape(name):
    prefix, _net = CLUSTERS[name]
    listing = json.loads(run("ansible-inventory", "-i", str(inventory(name)), "--list"))
    masters = {f"{prefix}master-{i}" for i in (1, 2, 3)}
    agents = {f"{prefix}agent-{i}" for i in (1, 2, 3)}
    assert hosts_of(listing, "masters") == masters
    assert hosts_of(listing, "zookeeper") == masters
    assert hosts_of(listing, "marathon") == masters
    assert hosts_of(listing, "agents") == agents
    assert hosts_of(listing, "docker_hosts") == agents
    assert hosts_of(listing, "gateways") == {f"{prefix}gw-1", f"{prefix}gw-2"}
    assert hosts_of(listing, "storage_nodes") == {f"{prefix}gfs-1", f"{prefix}gfs-2"}
    # Fixed ZooKeeper ids, one per host, never derived from positions.
    hostvars = listing["_meta"]["hostvars"]
    assert sorted(hostvars[h]["zookeeper_myid"] for h in masters) == [1, 2, 3]
    graph = run("ansible-inventory", "-i", str(inventory(name)), "--graph")
    assert "@storage_nodes:" in graph and f"{prefix}gfs-2" in graph


@pytest.mark.parametrize("name", sorted(CLUSTERS))
def test_site_syntax_and_targets(name):
    prefix, _net = CLUSTERS[name]
    run("ansible-playbook", "-i", str(inventory(name)), str(SITE), "--syntax-check")
    targets = plays(run("ansible-playbook", "-i", str(inventory(name)), str(SITE), "--list-hosts"))
    masters = {f"{prefix}master-{i}" for i in (1, 2, 3)}
    assert targets["ZooKeeper ensemble"] == masters
    assert targets["Mesos masters"] == masters
    assert targets["Marathon"] == masters
    assert targets["GlusterFS servers"] == {f"{prefix}gfs-1", f"{prefix}gfs-2"}
    assert targets["Mesos agents"] == {f"{prefix}agent-{i}" for i in (1, 2, 3)}
    # Their Docker hosts are the agents: the play for the others matches nothing.
    assert targets["Storage mounts on Docker hosts that are not Mesos agents"] == set()


def derived_values_play(tmp_path):
    """A play printing what the roles derive from the inventory.

    A throwaway role carries the real roles' defaults as its own defaults, so that they keep
    their precedence (below the inventory's group_vars) and are templated per host.
    """
    merged = {}
    for role in ("mesos_master", "mesos_agent", "marathon", "glusterfs_client"):
        merged.update(yaml.safe_load((ROOT / "roles" / role / "defaults" / "main.yml").read_text()))
    role = Path(tmp_path) / "roles" / "derived"
    (role / "defaults").mkdir(parents=True)
    (role / "tasks").mkdir()
    (role / "defaults" / "main.yml").write_text(yaml.safe_dump(merged))
    msg = {
        "zk": "{{ mesos_master_zk }}",
        "quorum": "{{ mesos_master_quorum }}",
        "agent_master": "{{ mesos_agent_master }}",
        "marathon_zk": "{{ marathon_zk }}",
        "servers": "{{ glusterfs_client_servers }}",
        "drain": "{{ mesos_agent_drain_master_url }}",
    }
    (role / "tasks" / "main.yml").write_text(yaml.safe_dump([{"name": "print", "ansible.builtin.debug": {"msg": msg}}]))
    play = [{"name": "Derived values", "hosts": "masters[0]:agents[0]", "gather_facts": False, "roles": ["derived"]}]
    path = Path(tmp_path) / "derived.yml"
    path.write_text(yaml.safe_dump(play, sort_keys=False))
    return path


@pytest.mark.parametrize("name", sorted(CLUSTERS))
def test_roles_derive_urls_quorum_and_servers_from_the_inventory(name, tmp_path):
    prefix, net = CLUSTERS[name]
    out = run(
        "ansible-playbook",
        "-i",
        str(inventory(name)),
        str(derived_values_play(tmp_path)),
        env={"ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json", "ANSIBLE_ROLES_PATH": str(Path(tmp_path) / "roles")},
    )
    report = json.loads(out)
    results = report["plays"][0]["tasks"][0]["hosts"]
    zk = f"zk://{net}.11:2181,{net}.12:2181,{net}.13:2181"
    master = results[f"{prefix}master-1"]["msg"]
    assert master["zk"] == zk + "/mesos"
    assert int(master["quorum"]) == 2
    assert master["marathon_zk"] == zk + "/marathon"
    agent = results[f"{prefix}agent-1"]["msg"]
    assert agent["agent_master"] == zk + "/mesos"
    assert agent["servers"] == [f"{net}.41", f"{net}.42"]
    assert agent["drain"] == f"http://{net}.11:5050"


def test_lab_site_touches_the_machine_s_own_engine_only_for_mounts_and_the_controller():
    # The lab's docker_hosts is this machine (lab-engine, connection local): site.yml configures
    # Docker hosts as Mesos agents only, and the lab has none, so the engine of the machine is never
    # reconfigured. It mounts the storage host's logs and data volumes (without systemd), and the
    # gateway plays reach it as the controller: they check the DNS image is there and put each
    # environment's DNS server on Marathon through the API.
    targets = plays(run("ansible-playbook", "-i", str(inventory("lab")), str(SITE), "--list-hosts"))
    assert targets["Mesos agents"] == set()
    engine_side = {
        "Storage mounts on Docker hosts that are not Mesos agents",
        "The DNS image on every Docker host",
        "Each environment's DNS server on Marathon",
    }
    assert targets["Storage mounts on Docker hosts that are not Mesos agents"] == {"lab-engine"}
    assert all("lab-engine" not in hosts for play, hosts in targets.items() if play not in engine_side)
    assert targets["The gateway host"] == {"gateway"}
    assert targets["Mesos masters"] == {"master"}
    assert targets["GlusterFS servers"] == {"storage"}


@pytest.mark.parametrize("name", ["lab", *sorted(CLUSTERS)])
def test_every_inventory_serves_and_mounts_the_logs_and_data_volumes(name):
    group_vars = inventory(name) / "group_vars"
    volumes = yaml.safe_load((group_vars / "storage_nodes.yml").read_text())["glusterfs_server_volumes"]
    assert {v["name"] for v in volumes} >= {"logs", "data"}
    mounts_file = group_vars / ("docker_hosts.yml" if name == "lab" else "agents.yml")
    mounts = yaml.safe_load(mounts_file.read_text())["glusterfs_client_mounts"]
    assert {m["volume"] for m in mounts} == {"logs", "data"}


ENV_PLANS = [
    {
        "name": "Plan every env of the inventory",
        "hosts": "localhost",
        "gather_facts": False,
        "tasks": [
            {
                "name": "plan",
                "pptv.dcos.env_plan": {
                    "catalogue": "{{ dcos_catalogue }}",
                    "env": "{{ item }}",
                    "envs": "{{ dcos_envs }}",
                    "zones": "{{ dcos_zones }}",
                    "fallback_env": "{{ dcos_fallback_env }}",
                    "network": "{{ dcos_network.name }}",
                },
                "loop": "{{ dcos_envs.keys() | list }}",
            }
        ],
    }
]


@pytest.mark.parametrize("name", ["lab", *sorted(CLUSTERS)])
def test_every_inventory_catalogue_plans_for_each_of_its_envs(name, tmp_path):
    playbook = tmp_path / "plans.yml"
    playbook.write_text(yaml.safe_dump(ENV_PLANS, sort_keys=False))
    out = run(
        "ansible-playbook", "-i", str(inventory(name)), str(playbook), "-c", "local",
        "-e", "ansible_python_interpreter=" + str(ROOT / ".venv" / "bin" / "python"),
        env={"ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json"},
    )  # fmt: skip
    results = json.loads(out)["plays"][0]["tasks"][0]["hosts"]["localhost"]["results"]
    plans = {r["env"]: r for r in results}
    envs = yaml.safe_load((inventory(name) / "group_vars" / "all.yml").read_text())["dcos_envs"]
    assert set(plans) == set(envs)
    for env, plan in plans.items():
        if env.startswith("func-"):
            assert plan["kind"] == "functional" and plan["services"]
        else:
            assert {s["name"] for s in plan["services"]} == {"redis", "mariadb", "zookeeper", "web", "api"}


def test_every_role_site_applies_is_in_the_collection():
    # include_role is resolved when the play runs, so --syntax-check alone would not notice.
    names = [
        task["ansible.builtin.include_role"]["name"]
        for play in yaml.safe_load(SITE.read_text())
        for task in play.get("tasks", [])
        if "ansible.builtin.include_role" in task
    ]
    assert len(names) >= 8
    for name in names:
        namespace, collection, role = name.split(".")
        assert (namespace, collection) == ("pptv", "dcos")
        assert (ROOT / "roles" / role / "tasks" / "main.yml").is_file(), name
        assert (ROOT / "roles" / role / "meta" / "argument_specs.yml").is_file(), name
