"""Only exited containers named mesos-* are removed, and only once old enough; running Mesos
containers, containers that never ran and other people's containers stay. Old entries of the log
and script directories go, recent ones stay."""

import pytest

TINY_IMAGE = (
    "docker image inspect pptvra-tiny >/dev/null 2>&1 || "
    "tar -C / -ch usr/bin/true usr/bin/sleep usr/lib/x86_64-linux-gnu/libc.so.6 lib64/ld-linux-x86-64.so.2 "
    "2>/dev/null | docker import - pptvra-tiny >/dev/null"
)
CONTAINERS = {
    # name: docker arguments
    "mesos-a1.c1": "run --network none pptvra-tiny /usr/bin/true",
    "mesos-a1.c2": "run --network none pptvra-tiny /usr/bin/true",
    "mesos-a1.running": "run -d --network none pptvra-tiny /usr/bin/sleep 600",
    "mesos-a1.created": "create --network none pptvra-tiny /usr/bin/true",
    "app-exited": "run --network none pptvra-tiny /usr/bin/true",
    "xmesos-exited": "run --network none pptvra-tiny /usr/bin/true",
}


def names(host):
    return set(host.check_output("docker ps -a --format '{{.Names}}'").split())


@pytest.fixture()
def containers(host):
    host.check_output(TINY_IMAGE)
    host.run("docker rm -f " + " ".join(CONTAINERS))
    for name, args in CONTAINERS.items():
        command, rest = args.split(" ", 1)
        host.check_output(f"docker {command} --name {name} {rest}")
    yield
    host.run("docker rm -f " + " ".join(CONTAINERS))


def test_timer_is_scheduled(host):
    assert host.service("pptv-container-cleanup.timer").is_enabled
    assert host.service("pptv-container-cleanup.timer").is_running
    timer = host.file("/etc/systemd/system/pptv-container-cleanup.timer").content_string
    assert "OnCalendar=hourly\n" in timer
    settings = host.file("/etc/pptv-dcos/container-cleanup.conf").content_string
    assert "NAME_PREFIX=mesos-\n" in settings


def test_recent_exits_are_kept_until_old_enough(host, containers):
    out = host.check_output("pptv-container-cleanup --min-age 3600")
    assert "0 removed, 2 exited too recently" in out
    assert set(CONTAINERS) <= names(host)


def test_dry_run_removes_nothing(host, containers):
    out = host.check_output("pptv-container-cleanup --dry-run")
    assert "would remove container mesos-a1.c1" in out
    assert set(CONTAINERS) <= names(host)


def test_the_service_removes_only_exited_mesos_containers(host, containers):
    host.check_output("systemctl start pptv-container-cleanup.service")
    left = names(host)
    assert "mesos-a1.c1" not in left and "mesos-a1.c2" not in left
    assert {"mesos-a1.running", "mesos-a1.created", "app-exited", "xmesos-exited"} <= left
    assert host.check_output("docker inspect -f '{{.State.Running}}' mesos-a1.running") == "true"
    journal = host.check_output("journalctl -u pptv-container-cleanup.service --no-pager -n 20")
    assert "removed container mesos-a1.c1" in journal


def test_old_log_and_script_entries_are_pruned(host):
    logs, scripts = "/var/tmp/pptvra-logs", "/var/tmp/pptvra-scripts"
    host.check_output(f"rm -rf {logs} {scripts} && mkdir -p {logs}/app-old {logs}/app-new {scripts}")
    for path, age in ((f"{logs}/app-old", "40"), (f"{scripts}/deploy-old.sh", "10"), (f"{scripts}/deploy-new.sh", "2")):
        if path.endswith(".sh"):
            host.check_output("echo x > %s", path)
        host.check_output("touch -d %s %s", f"{age} days ago", path)
    host.check_output("systemctl start pptv-container-cleanup.service")
    assert not host.file("/var/tmp/pptvra-logs/app-old").exists
    assert host.file("/var/tmp/pptvra-logs/app-new").is_directory
    assert not host.file("/var/tmp/pptvra-scripts/deploy-old.sh").exists
    assert host.file("/var/tmp/pptvra-scripts/deploy-new.sh").is_file
    assert host.file("/var/tmp/pptvra-logs").is_directory


def test_an_empty_prefix_is_refused(host):
    host.check_output(
        "sed 's/^NAME_PREFIX=.*/NAME_PREFIX=/' /etc/pptv-dcos/container-cleanup.conf > /var/tmp/pptvra-empty.conf"
    )
    result = host.run("pptv-container-cleanup --config /var/tmp/pptvra-empty.conf")
    assert result.rc == 2
    assert "NAME_PREFIX is empty" in result.stderr
