# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""``lab-up`` / ``lab-status`` / ``lab-down`` (marathon_lab.ctl) with a private configuration.

The real ``make lab-up`` uses fixed names and port 8080; this test runs the same code with a
configuration of its own (pptvlab- names, a free port, a free subnet) so that it can run beside
other work on the shared engine.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import requests
import yaml
from labhelpers import IMAGE, docker_inspect
from support.procs import docker, free_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def private_lab(tmp_path):
    # Leftovers of a killed earlier run.
    for cid in docker("ps", "-aq", "--filter", "label=org.pptv.dcos.lab.owner=pptvlab-ctl").stdout.split():
        docker("rm", "-f", cid)
    for cid in docker("ps", "-aq", "--filter", "label=org.pptv.dcos.lab.instance=pptvlab-ctl").stdout.split():
        docker("rm", "-f", cid)
    docker("network", "rm", "pptvlab-ctl-net")
    third = random.randint(1, 254)
    net = f"10.212.{third}"
    cfg = {
        "listen": "127.0.0.1",
        "port": free_port(),
        "state_dir": str(tmp_path / "state"),
        "instance": "pptvlab-ctl",
        "name_prefix": "pptvlab-ctl-task-",
        "tick_seconds": 0.2,
        "kill_grace_seconds": 1,
        "lab_network": {
            "name": "pptvlab-ctl-net",
            "bridge": "br-pptvlabctl",
            "subnet": f"{net}.0/24",
            "gateway": f"{net}.1",
            "router": f"{net}.254",
        },
        "lab_hosts": [
            {"name": "master", "ip": f"{net}.11"},
            {"name": "storage", "ip": f"{net}.13", "devices": ["/dev/fuse"]},
        ],
        "lab_host_prefix": "pptvlab-ctl-",
    }
    path = tmp_path / "config.yml"
    path.write_text(yaml.safe_dump(cfg))
    env = dict(os.environ, PYTHONPATH=str(ROOT / "lab"), PPTV_LAB_DIR=str(tmp_path / "run"), PPTV_LAB_CONFIG=str(path))

    def ctl(*args):
        return subprocess.run(
            [sys.executable, "-m", "marathon_lab.ctl", *args], capture_output=True, text=True, env=env, check=False
        )

    # Something of someone else's with a similar name: lab-down must leave it alone.
    docker("rm", "-f", "pptvlab-ctl-bystander")
    docker("run", "-d", "--name", "pptvlab-ctl-bystander", IMAGE, "sleep", "600")
    try:
        yield cfg, ctl
    finally:
        ctl("down")
        docker("rm", "-f", "pptvlab-ctl-bystander")


def test_up_is_idempotent_status_reports_and_down_removes_only_its_own(private_lab):
    cfg, ctl = private_lab
    first = ctl("up")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "created" in first.stdout
    second = ctl("up")
    assert second.returncode == 0 and "created" not in second.stdout and "started (pid" not in second.stdout
    url = f"http://127.0.0.1:{cfg['port']}"
    assert requests.get(url + "/v2/info", timeout=5).json()["version"].startswith("1.11.")

    # The network in the seed's form.
    net = cfg["lab_network"]
    options = docker("network", "inspect", "-f", "{{ json .Options }} {{ json .IPAM.Config }}", net["name"]).stdout
    assert '"com.docker.network.bridge.name":"br-pptvlabctl"' in options
    assert f'"Gateway":"{net["gateway"]}"' in options and f'"DefaultGatewayIPv4":"{net["router"]}"' in options
    # Hosts: systemd containers at their addresses, default route via the router.
    master = "pptvlab-ctl-master"
    assert docker_inspect(master, "{{ .NetworkSettings.Networks }}").count(net["name"]) == 1
    assert docker_inspect(master, "{{ .HostConfig.CapAdd }}") == "[SYS_ADMIN NET_ADMIN]"
    assert (
        docker_inspect("pptvlab-ctl-storage", "{{ range .HostConfig.Devices }}{{ .PathOnHost }}{{ end }}")
        == "/dev/fuse"
    )
    route = docker("exec", master, "ip", "route", "show", "default").stdout
    assert route.startswith(f"default via {net['router']}")

    requests.post(
        url + "/v2/apps",
        json={"id": "/ctl/app", "cmd": "sleep 600", "cpus": 0.01, "mem": 16, "container": {"docker": {"image": IMAGE}}},
        timeout=10,
    )
    status = ctl("status").stdout
    assert url in status and master in status and "/ctl/app" in status

    down = ctl("down")
    assert down.returncode == 0, down.stderr
    assert not docker("ps", "-aq", "--filter", "label=org.pptv.dcos.lab.owner=pptvlab-ctl").stdout.split()
    assert not docker("ps", "-aq", "--filter", "label=org.pptv.dcos.lab.instance=pptvlab-ctl").stdout.split()
    assert docker("network", "inspect", net["name"]).returncode != 0
    assert docker("inspect", "-f", "{{ .State.Running }}", "pptvlab-ctl-bystander").stdout.strip() == "true"
    with pytest.raises(requests.ConnectionError):
        requests.get(url + "/ping", timeout=2)


def test_down_unmounts_only_the_lab_hosts_gluster_volumes():
    sys.path.insert(0, str(ROOT / "lab"))
    from marathon_lab.ctl import lab_mounts

    cfg = {"lab_hosts": [{"name": "storage", "ip": "10.201.0.13"}, {"name": "gateway", "ip": "10.201.0.12"}]}
    mounts = "\n".join(
        [
            "10.201.0.13:/logs /home/logs fuse.glusterfs rw,relatime 0 0",
            "10.201.0.13:/data /home/my\\040data fuse.glusterfs rw,relatime 0 0",
            "10.201.0.130:/logs /mnt/other fuse.glusterfs rw 0 0",  # another host whose address starts alike
            "10.210.40.13:/logs /var/lib/x fuse.glusterfs rw 0 0",  # not a lab host
            "10.201.0.13:/srv /mnt/nfs nfs4 rw 0 0",  # not Gluster
            "overlay / overlay rw 0 0",
        ]
    )
    assert lab_mounts(cfg, mounts) == ["/home/logs", "/home/my data"]
