# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The label contract v1: every label parsed and validated in one place (``_contract``)."""

from __future__ import annotations

import pytest

from ansible_collections.pptv.dcos.plugins.module_utils import _contract as contract

ENVS = {"int": ["example.com"], "func-shop": ["example.com", "corp.example.net"]}


def labels(**extra):
    base = {
        "pptv.dcos/contract": "1",
        "pptv.dcos/env": "int",
        "pptv.dcos/name": "api.example.com",
        "pptv.dcos/port": "8080",
        "pptv.dcos/protocol": "http",
    }
    for short, value in extra.items():
        key = "pptv.dcos/" + short.replace("_", "-")
        if value is None:
            base.pop(key, None)
        else:
            base[key] = value
    return base


def app(app_id="/int/api", when="2026-01-01T00:00:00.000Z", tasks=None, **extra):
    return {
        "id": app_id,
        "labels": labels(**extra),
        "versionInfo": {"lastConfigChangeAt": when},
        "version": when,
        "tasks": tasks or [],
    }


def reason(item):
    with pytest.raises(contract.Quarantine) as info:
        contract.parse_app(item, ENVS)
    return info.value.reason


def test_valid_app_gives_its_service():
    service = contract.parse_app(app(ip="10.201.0.50", aliases="www.example.com,api2.example.com"), ENVS)
    assert service.as_dict() == {
        "aliases": ["www.example.com", "api2.example.com"],
        "app_id": "/int/api",
        "canary_of": None,
        "env": "int",
        "ip": "10.201.0.50",
        "name": "api.example.com",
        "port": 8080,
        "protocol": "http",
        "version": "2026-01-01T00:00:00.000Z",
    }
    assert service.names == ("api.example.com", "www.example.com", "api2.example.com")
    assert contract.Service.from_dict(service.as_dict()) == service


def test_apps_without_the_contract_are_not_managed():
    assert contract.parse_app({"id": "/x", "labels": {"team": "ops"}, "tasks": []}, ENVS) is None
    assert contract.parse_app({"id": "/x", "tasks": []}, ENVS) is None


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"contract": "2"}, "not a supported contract version"),
        ({"contract": "1\n"}, "not a supported contract version"),
        ({"env": None}, "pptv.dcos/env: required"),
        ({"port": None}, "pptv.dcos/port: required"),
        ({"protocol": None}, "pptv.dcos/protocol: required"),
        ({"name": None}, "pptv.dcos/name: required"),
        ({"env": "prod"}, "environment prod is not configured"),
        ({"env": "Int"}, "is not an environment name"),
        ({"name": "api.example.org"}, "not inside the environment's zones"),
        ({"name": "example.com"}, "not inside the environment's zones"),
        ({"name": "api"}, "is not a fully qualified domain name"),
        ({"name": "API.example.com"}, "is not a fully qualified domain name"),
        ({"name": "api.example.com."}, "is not a fully qualified domain name"),
        ({"name": "-api.example.com"}, "is not a fully qualified domain name"),
        ({"name": "a" * 64 + ".example.com"}, "is not a fully qualified domain name"),
        ({"name": "api..example.com"}, "is not a fully qualified domain name"),
        ({"name": "api.example.com\n"}, "forbidden character '\\n'"),
        ({"name": "api.example.com;"}, "forbidden character ';'"),
        ({"name": "api.example.com{"}, "forbidden character '{'"),
        ({"name": "api.example.com }"}, "forbidden character ' '"),
        ({"name": "api.example.com\t"}, "forbidden character '\\t'"),
        ({"port": "0"}, "is not a port"),
        ({"port": "65536"}, "is not a port"),
        ({"port": "080"}, "is not a port"),
        ({"port": "80\n"}, "forbidden character"),
        ({"port": "+80"}, "is not a port"),
        ({"port": "8o"}, "is not a port"),
        ({"port": ""}, "empty"),
        ({"protocol": "https"}, "is not one of http, tcp"),
        ({"protocol": "HTTP"}, "is not one of http, tcp"),
        ({"protocol": "http "}, "forbidden character ' '"),
        ({"ip": "10.201.0.300"}, "is not a unicast IP address"),
        ({"ip": "010.201.0.3"}, "is not a unicast IP address"),
        ({"ip": "0.0.0.0"}, "is not a unicast IP address"),
        ({"ip": "fe80::1%eth0"}, "is not a unicast IP address"),
        ({"ip": "10.201.0.3\n"}, "forbidden character"),
        ({"aliases": "www.example.com, api2.example.com"}, "forbidden character ' '"),
        ({"aliases": "www.example.com,,api2.example.com"}, "pptv.dcos/aliases[1]"),
        ({"aliases": "www.example.org"}, "not inside the environment's zones"),
        ({"aliases": "api.example.com"}, "is given twice"),
        ({"aliases": "www.example.com,www.example.com"}, "is given twice"),
        ({"canary_of": "int/api"}, "is not an absolute Marathon app ID"),
        ({"canary_of": "/int/api"}, "cannot be a canary of itself"),
        ({"nmae": "x.example.com"}, "unknown label of contract 1"),
    ],
)
def test_anything_not_exactly_valid_is_quarantined(extra, expected):
    assert expected in reason(app(**extra))


def test_a_label_that_is_not_a_string_is_quarantined():
    item = app()
    item["labels"]["pptv.dcos/port"] = 8080
    assert "is not a string" in reason(item)


def test_contract_labels_without_the_contract_key_are_quarantined():
    item = app(contract=None)
    assert "pptv.dcos/contract is missing" in reason(item)


def test_a_name_of_another_zone_of_the_env_is_valid():
    service = contract.parse_app(app(env="func-shop", name="db.corp.example.net", protocol="tcp"), ENVS)
    assert (service.env, service.name, service.protocol) == ("func-shop", "db.corp.example.net", "tcp")


def test_parse_apps_quarantines_only_the_bad_app():
    parsed = contract.parse_apps([app("/int/api"), app("/int/bad", name="bad;.example.com")], ENVS)
    assert list(parsed.services) == ["/int/api"]
    assert set(parsed.quarantined) == {"/int/bad"}


def test_a_name_claimed_twice_quarantines_the_later_claim():
    older = app("/int/b", when="2026-01-01T00:00:00.000Z")
    newer = app("/int/a", when="2026-02-01T00:00:00.000Z")
    parsed = contract.parse_apps([newer, older], ENVS)
    assert list(parsed.services) == ["/int/b"]
    assert "api.example.com is already claimed in env int by /int/b" in parsed.quarantined["/int/a"]


def test_an_alias_clashing_with_a_name_is_a_claim_too():
    first = app("/int/a", when="2026-01-01T00:00:00.000Z", name="www.example.com")
    second = app("/int/b", when="2026-01-02T00:00:00.000Z", aliases="www.example.com")
    parsed = contract.parse_apps([first, second], ENVS)
    assert "www.example.com is already claimed" in parsed.quarantined["/int/b"]


def test_same_name_in_two_envs_is_fine():
    parsed = contract.parse_apps([app("/int/api"), app("/func-shop/api", env="func-shop")], ENVS)
    assert set(parsed.services) == {"/int/api", "/func-shop/api"}
    assert not parsed.quarantined


def test_a_canary_shares_the_name_of_its_main_app():
    main = app("/int/api")
    canary = app("/int/api-canary", when="2026-03-01T00:00:00.000Z", canary_of="/int/api", aliases=None)
    parsed = contract.parse_apps([canary, main], ENVS)
    assert set(parsed.services) == {"/int/api", "/int/api-canary"}
    assert parsed.services["/int/api-canary"].canary_of == "/int/api"


@pytest.mark.parametrize(
    ("canary_extra", "expected"),
    [
        ({"canary_of": "/int/none"}, "/int/none is not a managed app"),
        ({"canary_of": "/int/api", "port": "9090"}, "must have the name, port and protocol"),
        ({"canary_of": "/int/api", "protocol": "tcp"}, "must have the name, port and protocol"),
        ({"canary_of": "/int/api", "name": "other.example.com"}, "must have the name, port and protocol"),
        ({"canary_of": "/int/api", "aliases": "extra.example.com"}, "a canary adds no names"),
        ({"canary_of": "/func-shop/api", "env": "int"}, "is in env func-shop, not int"),
    ],
)
def test_a_canary_that_does_not_match_its_main_is_quarantined(canary_extra, expected):
    apps = [app("/int/api"), app("/func-shop/api", env="func-shop"), app("/int/canary", **canary_extra)]
    parsed = contract.parse_apps(apps, ENVS)
    assert expected in parsed.quarantined["/int/canary"]
    assert "/int/api" in parsed.services


def test_a_canary_of_a_quarantined_or_canary_app_is_quarantined():
    apps = [
        app("/int/api", port="99999"),
        app("/int/c1", canary_of="/int/api"),
        app("/int/good", name="good.example.com"),
        app("/int/c2", name="good.example.com", canary_of="/int/good"),
        app("/int/c3", name="good.example.com", canary_of="/int/c2"),
    ]
    parsed = contract.parse_apps(apps, ENVS)
    assert "/int/api is quarantined" in parsed.quarantined["/int/c1"]
    assert "/int/c2 is itself a canary" in parsed.quarantined["/int/c3"]
    assert set(parsed.services) == {"/int/good", "/int/c2"}


@pytest.mark.parametrize(
    "broken",
    [
        "not an app",
        {"labels": labels()},
        {"id": "/int/x", "labels": labels()},  # no tasks with embed=apps.tasks: half-written
        {"id": "/int/x", "labels": labels(), "tasks": "x"},
        {"id": "/int/x", "labels": labels(), "tasks": ["x"]},
        {"id": "/int/x", "labels": "x", "tasks": []},
        {"id": 5, "tasks": []},
    ],
)
def test_half_written_apps_are_unreadable_not_quarantined(broken):
    parsed = contract.parse_apps([broken, app()], ENVS)
    assert len(parsed.unreadable) == 1
    assert not parsed.quarantined
    assert list(parsed.services) == ["/int/api"]


def test_zone_of_prefers_the_longest_zone():
    assert contract.zone_of("a.b.example.com", ["example.com", "b.example.com"]) == "b.example.com"
    assert contract.zone_of("a.example.org", ["example.com"]) is None
    assert contract.zone_of("aexample.com", ["example.com"]) is None
