# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Environments end to end: site.yml, then int + two functional envs deployed in parallel.

The platform (envplatform.py) is the package's; these tests run first on it (issue 13): the same
name means something else in each env; a name a functional env lacks lands in int; apps start with
``--dns`` at their env's DNS; data survives a task kill and sits on the Gluster brick; logs land on
the Gluster path; re-deploying changes nothing; tearing down one env leaves no apps, addresses or
records of it and the others working; bad catalogue input fails before anything is deployed,
naming the entry.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest
import requests
import yaml
from support.ansible_run import ROOT
from support.procs import docker

from .envplatform import (
    DEPLOYED_ENVS,
    ENVS,
    GATEWAY_HOST_IP,
    LOGS_ROOT,
    NETWORK,
    STORAGE_HOST,
    app_ip,
    app_of,
    apps_in,
    brick_path,
    connects,
    containers_of,
    deps_of,
    dig,
    redis_command,
    run,
    wait,
)

pytestmark = pytest.mark.timeout(3000)


def test_every_env_deploys_in_parallel_with_its_own_services(platform):
    for env, report in platform["deploys"].items():
        assert report["rc"] == 0, f"{env}: " + report["stdout"][-8000:]
    assert sorted(apps_in(platform, "/int")) == ["/int/api", "/int/mariadb", "/int/redis", "/int/web", "/int/zookeeper"]
    # A functional env: its project's services plus copies of the shared services they declare.
    assert sorted(apps_in(platform, "/func-shop")) == ["/func-shop/redis", "/func-shop/web"]
    assert sorted(apps_in(platform, "/func-pay")) == ["/func-pay/api", "/func-pay/mariadb", "/func-pay/zookeeper"]


def test_the_same_name_means_something_else_in_each_env(platform):
    int_redis, shop_redis = app_ip(platform, "/int/redis"), app_ip(platform, "/func-shop/redis")
    assert int_redis != shop_redis
    assert wait(lambda: dig("redis.pptv.lab", "int") == [int_redis], 60, "redis in int")
    assert wait(lambda: dig("redis.pptv.lab", "func-shop") == [shop_redis], 60, "redis in func-shop")
    # func-pay has no Redis of its own: the name is int's.
    assert wait(lambda: dig("redis.pptv.lab", "func-pay") == [int_redis], 60, "redis in func-pay (fallback)")
    # An http name answers the env's own gateway where the env has the service, int's where not.
    assert wait(lambda: dig("web.pptv.lab", "func-shop") == [ENVS["func-shop"]["gateway"]], 60, "web in func-shop")
    assert wait(lambda: dig("web.pptv.lab", "func-pay") == [ENVS["int"]["gateway"]], 60, "web in func-pay")
    assert wait(lambda: dig("api.pptv.lab", "func-shop") == [ENVS["int"]["gateway"]], 60, "api in func-shop")


def test_the_sample_app_sees_its_own_env_and_falls_back_to_int(platform):
    shop = deps_of("func-shop")
    assert shop["redis.pptv.lab"]["address"] == app_ip(platform, "/func-shop/redis")
    assert shop["redis.pptv.lab"]["answer"] == "PONG"
    # func-shop has no api: the call lands in int, through int's gateway.
    assert shop["api.pptv.lab"]["address"] == ENVS["int"]["gateway"]
    assert shop["api.pptv.lab"]["answer"] == "/int/api"

    in_int = deps_of("int")
    assert in_int["redis.pptv.lab"]["address"] == app_ip(platform, "/int/redis")
    assert in_int["api.pptv.lab"]["answer"] == "/int/api"

    pay = deps_of("func-pay", "api.pptv.lab", 8081)
    assert pay["mariadb.pptv.lab"]["address"] == app_ip(platform, "/func-pay/mariadb")
    assert pay["zookeeper.pptv.lab"]["address"] == app_ip(platform, "/func-pay/zookeeper")
    # api calls Redis without declaring it: func-pay has no copy, so it reaches int's.
    assert pay["redis.pptv.lab"]["address"] == app_ip(platform, "/int/redis")


def test_every_app_runs_on_its_ip_with_its_env_dns(platform):
    seen = set()
    for env in DEPLOYED_ENVS:
        for app_id in apps_in(platform, f"/{env}"):
            (container,) = containers_of(platform, app_id)
            ip = app_ip(platform, app_id)
            networks = json.loads(docker("inspect", "-f", "{{json .NetworkSettings.Networks}}", container).stdout)
            assert networks[NETWORK["name"]]["IPAddress"] == ip
            assert json.loads(docker("inspect", "-f", "{{json .HostConfig.Dns}}", container).stdout) == [
                ENVS[env]["dns_ip"]
            ]
            assert ip not in seen
            seen.add(ip)


def test_every_app_carries_exactly_the_contract_labels(platform):
    for app_id, fqdn, port, protocol in [
        ("/func-shop/web", "web.pptv.lab", "8080", "http"),
        ("/func-shop/redis", "redis.pptv.lab", "6379", "tcp"),
        ("/int/zookeeper", "zookeeper.pptv.lab", "2181", "tcp"),
    ]:
        app = app_of(platform, app_id)
        assert app["labels"] == {
            "pptv.dcos/contract": "1",
            "pptv.dcos/env": app_id.split("/")[1],
            "pptv.dcos/name": fqdn,
            "pptv.dcos/port": port,
            "pptv.dcos/protocol": protocol,
            "pptv.dcos/ip": app_ip(platform, app_id),
        }


def test_an_env_dns_answers_only_for_its_zones(platform):
    refused = subprocess.run(
        ["dig", "+time=2", "+tries=1", f"@{ENVS['func-shop']['dns_ip']}", "example.com", "A"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert "status: REFUSED" in refused.stdout
    assert dig("nothing.pptv.lab", "func-shop") == []


def test_the_daemon_status_shows_every_env(platform):
    def status():
        envs = requests.get(f"http://{GATEWAY_HOST_IP}:9900/status", timeout=5).json()["environments"]
        return envs if all(envs[e]["apps"] for e in DEPLOYED_ENVS) else None

    envs = wait(status, 60, "apps of every env on /status")
    assert {app["name"] for app in envs["func-shop"]["apps"]} == {"web.pptv.lab", "redis.pptv.lab"}
    assert envs["func-pay"]["dns"] == ENVS["func-pay"]["dns_ip"]
    assert envs["func-pay"]["dns_app"] == "/pptv-dcos/dns-func-pay"


def test_the_check_playbook_proves_every_name_of_an_env(platform):
    report = run("check_discovery.yml", platform, {"env": "func-pay"})
    assert report["rc"] == 0, report["stdout"][-6000:]
    assert report["stats"]["lab-engine"]["failures"] == 0


def test_running_the_gateway_playbook_again_changes_nothing(platform):
    report = run("gateway.yml", platform)
    assert report["rc"] == 0, report["stdout"][-6000:]
    assert {host: stats["changed"] for host, stats in report["stats"].items()} == {"gateway": 0, "lab-engine": 0}


def test_logs_land_on_the_gluster_logs_volume(platform):
    deps_of("func-shop")
    log = LOGS_ROOT / "func-shop" / "web" / "web.log"
    assert wait(lambda: log.exists() and "/deps" in log.read_text(), 30, "the sample's log line")
    brick = brick_path("logs")
    on_brick = docker("exec", STORAGE_HOST, "cat", f"{brick}/func-shop/web/web.log").stdout
    assert "/deps" in on_brick


def _mount_client_pid(path):
    """PID of the glusterfs FUSE client serving ``path``."""
    found = subprocess.run(
        ["pgrep", "-f", "--", f"--volfile-id=/logs {path}$"], capture_output=True, text=True, check=False
    )
    (pid,) = found.stdout.split()
    return int(pid)


def test_site_remounts_a_stale_logs_mount_and_changes_nothing_else(platform):
    # A FUSE client killed hard leaves the mount point answering ENOTCONN.
    os.kill(_mount_client_pid(LOGS_ROOT), 9)
    with pytest.raises(OSError) as stale:
        wait(lambda: not os.stat(LOGS_ROOT) and None, 10, "the mount to go stale")
    assert stale.value.errno == 107  # ENOTCONN
    report = run("site.yml", platform)
    assert report["rc"] == 0, report["stdout"][-6000:]
    # Unmounted lazily and mounted again on this host; nothing else changed anywhere.
    assert {host: stats["changed"] for host, stats in report["stats"].items()} == {
        "gateway": 0,
        "storage": 0,
        "lab-engine": 2,
    }
    assert (LOGS_ROOT / "func-shop" / "web" / "web.log").exists()


def test_data_survives_a_task_kill(platform):
    app_id = "/func-shop/redis"
    ip = app_ip(platform, app_id)
    assert redis_command(ip, "SET", "pptvenvs-key", "kept")[0] == "+OK"
    (before,) = containers_of(platform, app_id)
    docker("kill", before)
    after = wait(lambda: (c := containers_of(platform, app_id)) and c[0] != before and c[0], 90, "the relaunch")
    assert after != before
    assert wait(lambda: connects(ip, 6379), 60, "the relaunched Redis")
    assert wait(
        lambda: redis_command(ip, "GET", "pptvenvs-key")[:2] == ["$4", "kept"], 30, "the key after the relaunch"
    )
    # The data sits on the Gluster data volume, not on this host.
    brick = brick_path("data")
    listing = docker("exec", STORAGE_HOST, "ls", f"{brick}/func-shop/redis").stdout.split()
    assert any(name.startswith("appendonly") for name in listing), listing


def test_the_status_playbook_prints_a_table_per_env(platform):
    report = run("status_env.yml", platform)
    assert report["rc"] == 0, report["stdout"][-6000:]
    assert report["stats"]["lab-engine"]["changed"] == 0
    out = report["stdout"]
    web_ip = app_ip(platform, "/func-shop/web")
    redis_ip = app_ip(platform, "/func-shop/redis")
    assert "/func-shop/web" in out and web_ip in out and "/func-pay/zookeeper" in out
    assert redis_ip in out  # the DNS answer for redis.pptv.lab in func-shop
    assert "1/1 healthy" in out


def test_deploying_again_changes_nothing(platform):
    report = run("deploy_env.yml", platform, {"env": "func-pay"})
    assert report["rc"] == 0, report["stdout"][-6000:]
    assert {host: stats["changed"] for host, stats in report["stats"].items()} == {"lab-engine": 0}


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda c: c[3].update(dependencies=["api", "redis", "memcached"]), ["entry 3 (web)", "memcached"]),
        (lambda c: c.append(dict(c[0])), ["entry 5 (redis)", "redis"]),
        (
            lambda c: c.append(
                {"name": "web2", "image": "pptv-dcos/sample:bookworm", "port": 8080, "fqdn": "web.pptv.lab"}
            ),
            ["entry 5 (web2)", "port clash"],
        ),  # fmt: skip
        (None, ["Func_Shop"]),
    ],
    ids=["unknown-dependency", "duplicate-name", "port-clash", "bad-env-name"],
)
def test_bad_catalogue_input_fails_before_anything_is_deployed(platform, change, words):
    catalogue = yaml.safe_load((ROOT / "inventories" / "lab" / "group_vars" / "all.yml").read_text())["dcos_catalogue"]
    extra = {"env": "Func_Shop"}
    if change is not None:
        change(catalogue)
        extra = {"env": "func-shop", "dcos_catalogue": catalogue}
    before = requests.get(f"{platform['lab'].url}/v2/apps", timeout=10).json()["apps"]
    report = run("deploy_env.yml", platform, extra)
    assert report["rc"] != 0
    for word in words:
        assert word in report["stdout"], report["stdout"][-4000:]
    after = requests.get(f"{platform['lab'].url}/v2/apps", timeout=10).json()["apps"]
    assert [(a["id"], a["version"]) for a in after] == [(a["id"], a["version"]) for a in before]


def test_a_relaunched_dns_task_gets_its_records_back(platform):
    dns_app = "/pptv-dcos/dns-func-pay"
    (before,) = containers_of(platform, dns_app)
    docker("kill", before)
    wait(lambda: (c := containers_of(platform, dns_app)) and c[0] != before, 90, "the relaunched DNS task")
    # The daemon writes the env's own records and the fallback ones again.
    assert wait(lambda: dig("api.pptv.lab", "func-pay") == [ENVS["func-pay"]["gateway"]], 90, "api after the relaunch")
    assert wait(lambda: dig("redis.pptv.lab", "func-pay") == [app_ip(platform, "/int/redis")], 60, "redis after it")


def test_teardown_removes_one_env_and_leaves_the_others_working(platform):
    shop_ips = {app_ip(platform, a) for a in apps_in(platform, "/func-shop")}
    report = run("teardown_env.yml", platform, {"env": "func-shop"})
    assert report["rc"] == 0, report["stdout"][-6000:]
    assert apps_in(platform, "/func-shop") == []
    assert requests.get(f"{platform['lab'].url}/v2/groups/func-shop", timeout=10).status_code == 404
    allocations = json.loads(platform["pool"].read_text())["pools"]["pptvenvs"]["allocations"]
    assert not [a for a in allocations if a.startswith("/func-shop/")]
    assert not shop_ips & {v if isinstance(v, str) else v.get("ip") for v in allocations.values()}
    # Its names now mean int's, none of its own records is left.
    assert wait(lambda: dig("redis.pptv.lab", "func-shop") == [app_ip(platform, "/int/redis")], 60, "redis fallback")
    assert wait(lambda: dig("web.pptv.lab", "func-shop") == [ENVS["int"]["gateway"]], 60, "web fallback")
    # The logs stay unless asked.
    assert (LOGS_ROOT / "func-shop" / "web" / "web.log").exists()
    # The other envs still work.
    assert deps_of("int")["redis.pptv.lab"]["answer"] == "PONG"
    assert deps_of("func-pay", "api.pptv.lab", 8081)["mariadb.pptv.lab"]["reached"]
    again = run("teardown_env.yml", platform, {"env": "func-shop"})
    assert again["rc"] == 0, again["stdout"][-6000:]
    assert {host: stats["changed"] for host, stats in again["stats"].items()} == {"lab-engine": 0}


def test_an_app_deleted_and_deployed_again_gets_its_old_address_back(platform):
    before = app_ip(platform, "/func-pay/api")
    requests.delete(f"{platform['lab'].url}/v2/apps/func-pay/api", timeout=10).raise_for_status()
    wait(lambda: app_of(platform, "/func-pay/api") is None, 60, "the app gone")
    report = run("deploy_env.yml", platform, {"env": "func-pay"})
    assert report["rc"] == 0, report["stdout"][-6000:]
    assert app_ip(platform, "/func-pay/api") == before
