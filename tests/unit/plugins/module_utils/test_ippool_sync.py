# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

from ansible_collections.pptv.dcos.plugins.module_utils._ippool import PoolSpec
from ansible_collections.pptv.dcos.plugins.module_utils._ippool_sync import IP_LABEL, app_addresses, reconcile

SPEC = PoolSpec("oak", ["10.0.0.0/24"], gateway="10.0.0.1", reserved=["10.0.0.200"])
OTHER = PoolSpec("elm", ["10.0.1.0/24"])


def app(app_id, ip=None, label=None, networks=None, task_ips=()):
    body = {"id": app_id, "container": {"docker": {"parameters": []}}, "labels": {}}
    if ip:
        body["container"]["docker"]["parameters"] = [{"key": "net", "value": "oak-net"}, {"key": "ip", "value": ip}]
    if label:
        body["labels"][IP_LABEL] = label
    if networks:
        body["networks"] = networks
    body["tasks"] = [{"ipAddresses": [{"ipAddress": t, "protocol": "IPv4"}]} for t in task_ips]
    return body


def test_app_addresses_sources():
    assert app_addresses(app("/a", ip="10.0.0.5")) == {"10.0.0.5": ["docker parameter ip"]}
    assert app_addresses(app("/a", ip="10.0.0.5", label="10.0.0.5")) == {
        "10.0.0.5": ["docker parameter ip", f"label {IP_LABEL}"]
    }
    on_network = app("/a", networks=[{"mode": "container", "name": "oak-net"}], task_ips=["10.0.0.9"])
    assert app_addresses(on_network) == {"10.0.0.9": ["networks (task address)"]}
    # Task addresses of a host-network app are the agent's, not the app's.
    assert app_addresses(app("/a", networks=[{"mode": "host"}], task_ips=["192.0.2.1"])) == {}
    assert app_addresses(app("/a", label="nope")) == {"invalid:nope": [f"label {IP_LABEL}"]}


def test_reconcile_records_marks_releases_and_reports():
    allocations = {
        "/held": {"ip": "10.0.0.30", "allocated_at": 0},
        "/gone-new": {"ip": "10.0.0.40", "allocated_at": 0},
        "/gone-old": {"ip": "10.0.0.41", "allocated_at": 0, "missing_since": 100.0},
        "/back": {"ip": "10.0.0.42", "allocated_at": 0, "missing_since": 100.0},
    }
    apps = [
        app("/new", ip="10.0.0.10"),
        app("/held", ip="10.0.0.31"),
        app("/back", ip="10.0.0.42"),
        app("/dup-a", ip="10.0.0.20"),
        app("/dup-b", label="10.0.0.20"),
        app("/out", ip="192.0.2.7"),
        app("/elm", ip="10.0.1.7"),
        app("/res", ip="10.0.0.200"),
        app("/steal", ip="10.0.0.40"),
    ]
    plan = reconcile(SPEC, allocations, [OTHER], apps, now=1000.0, grace_period=600)
    assert plan["record"] == [("/new", "10.0.0.10")]
    assert plan["mark"] == {"/gone-new": 1000.0}
    assert plan["unmark"] == ["/back"]
    assert plan["release"] == {"/gone-old": "10.0.0.41"}
    assert plan["pending"] == [
        {"app_id": "/gone-new", "ip": "10.0.0.40", "missing_since": 1000.0, "release_after": 1600.0}
    ]
    assert sorted((c["kind"], c["ip"]) for c in plan["conflicts"]) == [
        ("address differs", "10.0.0.31"),
        ("blocked address", "10.0.0.200"),
        ("held by another app", "10.0.0.40"),
        ("outside every pool", "192.0.2.7"),
        ("shared address", "10.0.0.20"),
    ]


def test_reconcile_without_grace_releases_at_once_and_is_quiet_when_in_step():
    allocations = {"/a": {"ip": "10.0.0.10"}, "/gone": {"ip": "10.0.0.11"}}
    plan = reconcile(SPEC, allocations, [], [app("/a", ip="10.0.0.10")], now=5.0, grace_period=0)
    assert plan["release"] == {"/gone": "10.0.0.11"}
    assert plan["mark"] == {} and plan["record"] == [] and plan["conflicts"] == []
    quiet = reconcile(SPEC, {"/a": {"ip": "10.0.0.10"}}, [], [app("/a", ip="10.0.0.10")], now=5.0, grace_period=0)
    assert quiet == {"record": [], "release": {}, "mark": {}, "unmark": [], "pending": [], "conflicts": []}
