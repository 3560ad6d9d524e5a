# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Verify of the Mesos/Marathon scenario, run after converge, idempotence and side_effect.yml.

The units run stand-in executables (prepare.yml), so what is checked is what the roles own: the
files, the units, and the environment systemd really hands the process (read from /proc).
"""

import os

import testinfra

INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
MASTER = testinfra.get_host(f"ansible://pptvrb-mesos-master?ansible_inventory={INVENTORY}")
AGENT = testinfra.get_host(f"ansible://pptvrb-mesos-agent?ansible_inventory={INVENTORY}")


def process_env(host, unit):
    """The environment of the unit's main process, as a dict."""
    pid = host.check_output(f"systemctl show -P MainPID {unit}")
    assert pid not in ("", "0"), f"{unit} has no main process"
    raw = host.check_output(f"tr '\\0' '\\n' < /proc/{pid}/environ")
    return dict(line.split("=", 1) for line in raw.splitlines() if "=" in line)


def test_master_unit_runs_with_the_flags():
    service = MASTER.service("mesos-master")
    assert service.is_enabled and service.is_running
    env = process_env(MASTER, "mesos-master")
    assert env["MESOS_ZK"] == "zk://pptvrb-mesos-master:2181/mesos"
    assert env["MESOS_QUORUM"] == "1"
    assert env["MESOS_CLUSTER"] == "pptv"
    assert env["MESOS_WORK_DIR"] == "/var/lib/mesos/master"
    assert env["MESOS_HOSTNAME_LOOKUP"] == "false"
    assert env["MESOS_PORT"] == "5050"
    assert MASTER.file("/etc/default/mesos-master").mode == 0o640


def test_marathon_unit_runs_with_the_flags():
    service = MASTER.service("marathon")
    assert service.is_enabled and service.is_running
    env = process_env(MASTER, "marathon")
    assert env["MARATHON_MASTER"] == "zk://pptvrb-mesos-master:2181/mesos"
    assert env["MARATHON_ZK"] == "zk://pptvrb-mesos-master:2181/marathon"
    assert env["MARATHON_TASK_LAUNCH_TIMEOUT"] == "600000"
    assert env["MARATHON_HTTP_PORT"] == "8080"
    assert env["MARATHON_ZK_MAX_VERSIONS"] == "50"
    assert env["JAVA_OPTS"] == "-Xms512m -Xmx1g"
    # Empty flags are left out (Marathon would read an empty value as a boolean switch).
    assert "MARATHON_MESOS_ROLE" not in env


def test_agent_unit_runs_with_the_flags():
    service = AGENT.service("mesos-agent")
    assert service.is_enabled and service.is_running
    env = process_env(AGENT, "mesos-agent")
    assert env["MESOS_MASTER"] == "zk://pptvrb-mesos-master:2181/mesos"
    assert env["MESOS_CONTAINERIZERS"] == "docker,mesos"
    assert env["MESOS_EXECUTOR_REGISTRATION_TIMEOUT"] == "10mins"
    assert env["MESOS_RESOURCES"] == "ports:[31000-32000]"
    # side_effect.yml changed the rack with the wipe allowed.
    assert env["MESOS_ATTRIBUTES"] == "os:debian;rack:r2"
    assert env["MESOS_ISOLATION"] == "cgroups/cpu,cgroups/mem,filesystem/linux,docker/runtime"


def test_agent_unit_orders_after_the_engine():
    unit = AGENT.check_output("systemctl show -P Requires mesos-agent").split()
    after = AGENT.check_output("systemctl show -P After mesos-agent").split()
    assert "pptvrb-engine.service" in unit and "pptvrb-engine.service" in after
    assert AGENT.service("pptvrb-engine").is_running
    assert AGENT.check_output("systemctl show -P KillMode mesos-agent") == "process"


def test_agent_identity_wiped_and_recorded():
    assert not AGENT.file("/var/lib/mesos/agent/meta/slaves/latest").exists
    # The old agent's directory stays (sandboxes, logs); only the pointer to it is removed.
    assert AGENT.file("/var/lib/mesos/agent/meta/slaves/pptvrb-agent-id-S0").is_directory
    recorded = AGENT.file("/var/lib/pptv-dcos/mesos-agent-identity.json").content_string
    assert '"attributes": "os:debian;rack:r2"' in recorded
