# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Service discovery's desired state (``_discovery``): pure functions, no I/O."""

from __future__ import annotations

import pytest

from ansible_collections.pptv.dcos.plugins.module_utils import _contract as contract
from ansible_collections.pptv.dcos.plugins.module_utils import _discovery as disc
from ansible_collections.pptv.dcos.plugins.module_utils import _nginx as ngx

ENVIRONMENTS = {
    "int": {"zones": ["example.com"], "gateway": "10.0.0.10"},
    "func-a": {"zones": ["example.com"], "gateway": "10.0.0.11"},
    "func-b": {"zones": ["example.com", "other.test"], "gateway": "10.0.0.12"},
}
ZONES = {env: conf["zones"] for env, conf in ENVIRONMENTS.items()}


def task(task_id, ip, state="TASK_RUNNING", health=None):
    data = {"id": task_id, "state": state, "host": "agent1", "ipAddresses": [{"ipAddress": ip, "protocol": "IPv4"}]}
    if health is not None:
        data["healthCheckResults"] = [{"alive": alive, "taskId": task_id} for alive in health]
    return data


def app(app_id, env="int", name="api.example.com", port="8080", protocol="http", tasks=(), checks=0, **labels):
    data = {
        "id": app_id,
        "labels": {
            "pptv.dcos/contract": "1",
            "pptv.dcos/env": env,
            "pptv.dcos/name": name,
            "pptv.dcos/port": port,
            "pptv.dcos/protocol": protocol,
            **{"pptv.dcos/" + k.replace("_", "-"): v for k, v in labels.items()},
        },
        "versionInfo": {"lastConfigChangeAt": "2026-01-01T00:00:00.000Z"},
        "tasks": list(tasks),
    }
    if checks:
        data["healthChecks"] = [{"protocol": "MESOS_HTTP", "path": "/"}] * checks
    return data


def desired(apps, cache=None, fallback="int"):
    parsed = contract.parse_apps(apps, ZONES)
    resolved, new_cache = disc.resolve(parsed, cache or {})
    return disc.desired_state(resolved, ENVIRONMENTS, fallback), new_cache, parsed


# -- tasks and health --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "checks", "cache", "expected"),
    [
        (task("t", "10.1.0.1"), 0, {}, (True, None)),
        (task("t", "10.1.0.1", state="TASK_STAGING"), 0, {}, (False, None)),
        (task("t", "10.1.0.1", state="TASK_KILLING"), 0, {}, (False, None)),
        (task("t", "10.1.0.1", health=[True]), 1, {}, (True, True)),
        (task("t", "10.1.0.1", health=[False]), 1, {"t": True}, (False, False)),
        (task("t", "10.1.0.1", health=[True]), 2, {}, (False, None)),  # one result of two checks
        (task("t", "10.1.0.1"), 1, {}, (False, None)),  # a new task, never seen healthy
        (task("t", "10.1.0.1"), 1, {"t": True}, (True, None)),  # after a leader change
        (task("t", "10.1.0.1"), 1, {"t": False}, (False, None)),
    ],
)
def test_task_health(data, checks, cache, expected):
    assert disc.task_health(data, checks, cache) == expected


def test_task_ips_fall_back_to_an_ip_host():
    assert disc.task_ips({"ipAddresses": [{"ipAddress": "10.1.0.1"}, {"ipAddress": "bogus"}]}) == ["10.1.0.1"]
    assert disc.task_ips({"host": "10.9.9.9"}) == ["10.9.9.9"]
    assert disc.task_ips({"host": "agent1"}) == []


def test_health_cache_keeps_tasks_through_a_leader_change_and_forgets_gone_tasks():
    healthy = app("/int/api", checks=1, tasks=[task("t1", "10.1.0.1", health=[True])])
    states, cache, _p = desired([healthy])
    assert cache == {"t1": True}
    # New leader: no results for anybody. The task stays routed.
    unknown = app("/int/api", checks=1, tasks=[task("t1", "10.1.0.1"), task("t2", "10.1.0.2")])
    states, cache2, _p = desired([unknown], cache)
    assert states["int"].upstreams[0]["servers"] == [{"address": "10.1.0.1", "port": 8080}]
    assert cache2 == {"t1": True}
    # t1 is gone: forgotten.
    states, cache3, _p = desired([app("/int/api", checks=1, tasks=[task("t2", "10.1.0.2", health=[True])])], cache2)
    assert cache3 == {"t2": True}


# -- Nginx -------------------------------------------------------------------------------------


def test_http_service_becomes_one_upstream_with_vhosts_on_the_env_gateway():
    apps = [
        app(
            "/int/api",
            aliases="www.example.com",
            tasks=[task("t2", "10.1.0.2"), task("t1", "10.1.0.1"), task("t3", "10.1.0.3", state="TASK_KILLING")],
        )
    ]
    states, _c, _p = desired(apps)
    (item,) = states["int"].upstreams
    assert item == {
        "name": "int_api.example.com_8080",
        "servers": [{"address": "10.1.0.1", "port": 8080}, {"address": "10.1.0.2", "port": 8080}],
        "vhosts": [
            {"name": "api.example.com", "listen": "10.0.0.10:8080"},
            {"name": "www.example.com", "listen": "10.0.0.10:8080"},
        ],
    }
    upstreams, owners, refused = disc.nginx_upstreams(states)
    assert [u.name for u in upstreams] == ["int_api.example.com_8080"]
    assert owners == {"int_api.example.com_8080": ["/int/api"]}
    assert not refused
    text = ngx.render_upstream(upstreams[0])
    assert "listen 10.0.0.10:8080;" in text and "server_name www.example.com;" in text


def test_unhealthy_tasks_are_left_out_and_an_empty_upstream_keeps_a_down_placeholder():
    apps = [app("/int/api", checks=1, tasks=[task("t1", "10.1.0.1", health=[False])])]
    states, _c, _p = desired(apps)
    assert states["int"].upstreams[0]["servers"] == [{"address": "127.0.0.1", "port": 8080, "down": True}]
    upstreams, _o, _r = disc.nginx_upstreams(states)
    assert "server 127.0.0.1:8080 down;" in ngx.render_upstream(upstreams[0])
    # DNS still answers with the gateway: the name is defined, the gateway says 502.
    assert states["int"].records["example.com"]["api.example.com"] == {"A": ["10.0.0.10"]}


def test_canary_tasks_join_the_main_upstream():
    apps = [
        app("/int/api", tasks=[task("t1", "10.1.0.1")]),
        app("/int/api-canary", canary_of="/int/api", tasks=[task("c1", "10.1.0.9")]),
    ]
    states, _c, _p = desired(apps)
    (item,) = states["int"].upstreams
    assert [s["address"] for s in item["servers"]] == ["10.1.0.1", "10.1.0.9"]
    assert states["int"].upstream_apps[item["name"]] == ["/int/api", "/int/api-canary"]
    assert states["int"].services[0]["canaries"] == ["/int/api-canary"]


def test_same_name_in_two_envs_gives_two_upstreams_on_two_gateways():
    apps = [
        app("/int/api", tasks=[task("t1", "10.1.0.1")]),
        app("/func-a/api", env="func-a", tasks=[task("t2", "10.2.0.1")]),
    ]
    states, _c, _p = desired(apps)
    upstreams, _o, _r = disc.nginx_upstreams(states)
    listens = {u.name: u.vhosts[0].listen for u in upstreams}
    assert listens == {"func-a_api.example.com_8080": "10.0.0.11:8080", "int_api.example.com_8080": "10.0.0.10:8080"}
    servers = {u.name: [s.address for s in u.servers] for u in upstreams}
    assert servers["func-a_api.example.com_8080"] == ["10.2.0.1"]


def test_a_value_nginx_refuses_quarantines_only_its_apps():
    states, _c, _p = desired([app("/int/api", tasks=[task("t1", "10.1.0.1")]), app("/int/b", name="b.example.com")])
    states["int"].upstreams[0]["vhosts"][0]["listen"] = "10.0.0.10:99999"  # cannot come from the contract
    upstreams, _o, refused = disc.nginx_upstreams(states)
    assert [u.name for u in upstreams] == ["int_b.example.com_8080"]
    assert "nginx: " in refused["/int/api"]


def test_upstream_name_is_bounded():
    long_name = ".".join(["a" * 60] * 3) + ".example.com"
    name = disc.upstream_name("func-" + "x" * 50, long_name, 443)
    assert len(name) <= 128
    ngx.validate_name("name", name)


def test_envs_that_share_a_long_prefix_never_share_an_upstream():
    long_name = ".".join(["a" * 60] * 3) + ".example.com"
    first, second = ("func-" + "x" * 56 + suffix for suffix in ("-1", "-2"))  # 63 characters each
    names = {disc.upstream_name(env, long_name, 443) for env in (first, second)}
    assert len(names) == 2
    for name in names:
        assert len(name) <= 128
        ngx.validate_name("name", name)


# -- DNS ---------------------------------------------------------------------------------------


def test_http_names_point_at_the_gateway_and_tcp_names_at_the_app():
    apps = [
        app("/int/api", aliases="www.example.com", tasks=[task("t1", "10.1.0.1")]),
        app(
            "/int/db",
            name="db.example.com",
            port="3306",
            protocol="tcp",
            ip="10.1.0.50",
            tasks=[task("d", "10.1.0.50")],
        ),
        app(
            "/int/redis",
            name="redis.example.com",
            port="6379",
            protocol="tcp",
            tasks=[task("r1", "10.1.0.7"), task("r2", "10.1.0.6")],
        ),
    ]
    states, _c, _p = desired(apps)
    assert states["int"].records["example.com"] == {
        "api.example.com": {"A": ["10.0.0.10"]},
        "www.example.com": {"A": ["10.0.0.10"]},
        "db.example.com": {"A": ["10.1.0.50"]},
        "redis.example.com": {"A": ["10.1.0.6", "10.1.0.7"]},
    }
    assert states["int"].upstreams[0]["name"] == "int_api.example.com_8080"
    assert len(states["int"].upstreams) == 1  # tcp services are not proxied


def test_ipv6_addresses_are_aaaa_records():
    apps = [app("/int/db", name="db.example.com", protocol="tcp", ip="2001:db8::5")]
    states, _c, _p = desired(apps)
    assert states["int"].records["example.com"]["db.example.com"] == {"AAAA": ["2001:db8::5"]}


def test_fallback_to_int_and_no_leak_between_functional_envs():
    apps = [
        app("/int/api", tasks=[task("t1", "10.1.0.1")]),
        app("/int/db", name="db.example.com", protocol="tcp", ip="10.1.0.50"),
        app("/func-a/api", env="func-a", tasks=[task("t2", "10.2.0.1")]),
        app("/func-b/only-b", env="func-b", name="only-b.example.com", tasks=[task("t3", "10.3.0.1")]),
    ]
    states, _c, _p = desired(apps)
    a = states["func-a"].records["example.com"]
    b = states["func-b"].records["example.com"]
    # func-a defines api itself: its own gateway; it lacks db: int's answer.
    assert a["api.example.com"] == {"A": ["10.0.0.11"]}
    assert a["db.example.com"] == {"A": ["10.1.0.50"]}
    # func-b lacks api: int's gateway (int's Nginx serves int's api).
    assert b["api.example.com"] == {"A": ["10.0.0.10"]}
    assert b["only-b.example.com"] == {"A": ["10.0.0.12"]}
    # A functional env's names never reach another env (nor int).
    assert "only-b.example.com" not in a
    assert "only-b.example.com" not in states["int"].records["example.com"]
    assert states["int"].records["example.com"]["api.example.com"] == {"A": ["10.0.0.10"]}
    # Every zone of every env is present, even empty.
    assert states["func-b"].records["other.test"] == {}


def test_a_defined_name_without_address_does_not_fall_back():
    apps = [
        app("/int/db", name="db.example.com", protocol="tcp", ip="10.1.0.50"),
        app("/func-a/db", env="func-a", name="db.example.com", protocol="tcp"),  # no task yet, no ip
    ]
    states, _c, _p = desired(apps)
    assert "db.example.com" not in states["func-a"].records["example.com"]


def test_no_fallback_env_means_no_fallback():
    states, _c, _p = desired([app("/int/api", tasks=[task("t1", "10.1.0.1")])], fallback=None)
    assert states["func-a"].records["example.com"] == {}


def test_quarantined_apps_are_left_out():
    apps = [app("/int/api", tasks=[task("t1", "10.1.0.1")]), app("/int/bad", name="x.example.com", port="0")]
    states, _c, parsed = desired(apps)
    assert "/int/bad" in parsed.quarantined
    assert "x.example.com" not in states["int"].records["example.com"]


def entries_as_tuples(entries):
    return [(e.record, e.type, e.state, e.value, e.ttl) for e in entries]


def test_dns_entries_only_for_names_that_changed():
    previous = {
        "a.example.com": {"A": ["10.0.0.1"]},
        "b.example.com": {"A": ["10.0.0.2"]},
        "c.example.com": {"A": ["10.0.0.3"]},
    }
    desired_names = {
        "a.example.com": {"A": ["10.0.0.1"]},
        "b.example.com": {"A": ["10.0.0.9"]},
        "d.example.com": {"AAAA": ["2001:db8::1"]},
    }
    entries = disc.dns_entries("example.com", desired_names, previous, ttl=60)
    assert entries_as_tuples(entries) == [
        ("b.example.com.", "A", "present", ["10.0.0.9"], 60),
        ("c.example.com.", "A", "absent", None, None),
        ("d.example.com.", "AAAA", "present", ["2001:db8::1"], 60),
    ]
    assert disc.dns_entries("example.com", desired_names, desired_names) == []


def test_dns_entries_full_lists_everything_and_the_sentinel():
    previous = {"gone.example.com": {"A": ["10.0.0.3"]}, "moved.example.com": {"A": ["10.0.0.4"]}}
    desired_names = {"a.example.com": {"A": ["10.0.0.1"]}, "moved.example.com": {"AAAA": ["2001:db8::4"]}}
    entries = entries_as_tuples(disc.dns_entries("example.com", desired_names, previous, full=True, ttl=30))
    assert entries == [
        ("a.example.com.", "A", "present", ["10.0.0.1"], 30),
        ("gone.example.com.", "A", "absent", None, None),
        ("moved.example.com.", "A", "absent", None, None),
        ("moved.example.com.", "AAAA", "present", ["2001:db8::4"], 30),
        ("_pptv-discovery.example.com.", "TXT", "present", [disc.SENTINEL_VALUE], 30),
    ]


def test_resolved_round_trips_through_json():
    states, _c, parsed = desired([app("/int/api", aliases="www.example.com", tasks=[task("t1", "10.1.0.1")])])
    resolved, _cache = disc.resolve(parsed, {})
    item = resolved["/int/api"]
    again = disc.Resolved.from_dict(item.as_dict())
    assert again.as_dict() == item.as_dict()
    assert disc.desired_state({"/int/api": again}, ENVIRONMENTS, "int")["int"].upstreams == states["int"].upstreams


@pytest.mark.parametrize(
    "broken",
    [
        {"healthChecks": 1},
        {"tasks": [{**task("t", "10.1.0.9"), "ipAddresses": 5}]},
        {"tasks": [{**task("t", "10.1.0.9"), "healthCheckResults": 5}], "healthChecks": [{"protocol": "HTTP"}]},
        {"tasks": [{**task("t", "10.1.0.9"), "id": ["x"]}], "healthChecks": [{"protocol": "HTTP"}]},
    ],
)
def test_an_app_of_the_wrong_shape_never_stops_the_others(broken):
    good = app("/int/api", tasks=[task("/int/api.1", "10.1.0.1")])
    bad = {**app("/int/db", name="db.example.com", tasks=[task("/int/db.1", "10.1.0.2")]), **broken}
    state, _cache, parsed = desired([good, bad])  # raised TypeError before, and every app stalled
    assert state["int"].records["example.com"]["api.example.com"] == {"A": ["10.0.0.10"]}
    if not isinstance(broken.get("healthChecks", []), list):
        assert "healthChecks is int" in parsed.quarantined["/int/db"]
        assert "/int/db" not in parsed.services


def test_scoped_or_unspecified_task_addresses_never_reach_dns_or_nginx():
    assert disc.task_ips({"ipAddresses": [{"ipAddress": "fe80::1%a;b}"}], "host": 0}) == []
    assert disc.task_ips({"ipAddresses": [{"ipAddress": "0.0.0.0"}], "host": "10.1.0.7"}) == ["10.1.0.7"]
    tcp = app("/int/db", name="db.example.com", protocol="tcp", port="5432", tasks=[task("/int/db.1", "fe80::1%eth0")])
    state, _cache, _parsed = desired([tcp])
    assert "db.example.com" not in state["int"].records.get("example.com", {})


def test_health_is_kept_for_the_tasks_of_a_half_written_app():
    whole = app("/int/api", checks=1, tasks=[task("/int/api.1", "10.1.0.1", health=[True])])
    _state, cache, _parsed = desired([whole])
    assert cache == {"/int/api.1": True}
    half_written = {"id": "/int/api", "labels": whole["labels"]}  # no task list: Marathon mid-write
    _state, cache, parsed = desired([half_written], cache=cache)
    assert parsed.unreadable
    assert cache == {"/int/api.1": True}
