"""Each host's engine runs the storage driver it was given, on the filesystem it needs, with the
role's daemon.json; containers on the bridge network get their fixed IP and the router as their
default route; live-restore keeps them running across a daemon restart."""

import json

import pytest

DRIVERS = {"pptvra-dh-overlay2": ("overlay2", "xfs"), "pptvra-dh-btrfs": ("btrfs", "btrfs")}

# An image from the host's own binaries: there is no registry to pull one from.
TINY_IMAGE = (
    "docker image inspect pptvra-tiny >/dev/null 2>&1 || "
    "tar -C / -ch usr/bin/true usr/bin/sleep usr/lib/x86_64-linux-gnu/libc.so.6 lib64/ld-linux-x86-64.so.2 "
    "2>/dev/null | docker import - pptvra-tiny >/dev/null"
)


@pytest.fixture()
def name(host):
    return host.check_output("hostname")


@pytest.fixture()
def tiny(host):
    host.check_output(TINY_IMAGE)
    return "pptvra-tiny"


def test_engine_runs_the_hosts_storage_driver_on_its_filesystem(host, name):
    driver, fstype = DRIVERS[name]
    info = json.loads(host.check_output("docker info --format '{{json .}}'"))
    assert info["Driver"] == driver
    assert host.check_output("findmnt -n -o FSTYPE /var/lib/docker") == fstype
    if driver == "overlay2":
        assert ["Backing Filesystem", "xfs"] in info["DriverStatus"]
        assert ["Supports d_type", "true"] in info["DriverStatus"]
    fstab = host.file("/etc/fstab").content_string
    assert any(line.split()[1:3] == ["/var/lib/docker", fstype] for line in fstab.splitlines() if line.strip())
    assert host.service("docker").is_enabled and host.service("docker").is_running


def test_daemon_json_is_the_roles(host, name):
    config = json.loads(host.file("/etc/docker/daemon.json").content_string)
    assert config["storage-driver"] == DRIVERS[name][0]
    assert config["log-driver"] == "json-file"
    assert config["live-restore"] is True
    if name == "pptvra-dh-overlay2":
        assert config["log-opts"] == {"max-size": "10m", "max-file": "3"}
        assert config["default-ulimits"]["nofile"] == {"Name": "nofile", "Soft": 4096, "Hard": 8192}
    else:
        assert config["log-opts"] == {"max-size": "100m", "max-file": "5"}


def test_container_on_the_bridge_network_gets_its_ip_route_logs_and_limits(host, name, tiny):
    if name != "pptvra-dh-overlay2":
        pytest.skip("the bridge network is configured on the overlay2 host only")
    assert "inet 10.211.45.200/24" in host.check_output("ip -4 addr show br-pptvra")
    host.run("docker rm -f pptvra-fixed-ip")
    host.check_output(
        "docker run -d --name pptvra-fixed-ip --network pptvra-oak --ip 10.211.45.10 %s /usr/bin/sleep 300", tiny
    )
    try:
        state = json.loads(host.check_output("docker inspect pptvra-fixed-ip"))[0]
        assert state["NetworkSettings"]["Networks"]["pptvra-oak"]["IPAddress"] == "10.211.45.10"
        assert state["HostConfig"]["LogConfig"] == {"Type": "json-file", "Config": {"max-file": "3", "max-size": "10m"}}
        pid = state["State"]["Pid"]
        assert host.check_output("nsenter -t %s -n ip -4 route show default", str(pid)).startswith(
            "default via 10.211.45.1 "
        )
        limits = host.file(f"/proc/{pid}/limits").content_string
        assert any(
            line.startswith("Max open files") and line.split()[3:5] == ["4096", "8192"] for line in limits.splitlines()
        )
    finally:
        host.run("docker rm -f pptvra-fixed-ip")


def test_live_restore_keeps_containers_across_a_daemon_restart(host, tiny):
    host.run("docker rm -f pptvra-live")
    host.check_output("docker run -d --name pptvra-live --network none %s /usr/bin/sleep 300", tiny)
    try:
        pid = host.check_output("docker inspect -f '{{.State.Pid}}' pptvra-live")
        host.check_output("systemctl restart docker")
        assert host.check_output("docker inspect -f '{{.State.Running}} {{.State.Pid}}' pptvra-live") == f"true {pid}"
    finally:
        host.run("docker rm -f pptvra-live")
