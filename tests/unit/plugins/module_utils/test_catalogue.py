# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The app catalogue: every validation rule and its message, env kinds, the functional env's
selection closure, and the Marathon definitions (checked by marathon_app's own validator, by the
label contract's parser, and for idempotency against the lab's Marathon normalisation)."""

from __future__ import annotations

import copy

import pytest

from ansible_collections.pptv.dcos.lab.marathon_lab import appdef as lab_appdef
from ansible_collections.pptv.dcos.plugins.module_utils import _catalogue, _contract
from ansible_collections.pptv.dcos.plugins.module_utils._errors import DcosError
from ansible_collections.pptv.dcos.plugins.module_utils._marathon_app import diff_app, prepare_definition

DIGEST = "sha256:" + "0123456789abcdef" * 4
ZONES = ["pptv.lab"]
ENVS = {
    "int": {"gateway": "10.201.0.20", "dns_ip": "10.201.0.30"},
    "func-shop": {"gateway": "10.201.0.21", "dns_ip": "10.201.0.31"},
    "func-pay": {"gateway": "10.201.0.22", "dns_ip": "10.201.0.32"},
    "func-nope": {"gateway": "10.201.0.23", "dns_ip": "10.201.0.33"},
    "prod": {"gateway": "10.201.0.24", "dns_ip": "10.201.0.34"},
}
# The example of docs/catalogue.md.
CATALOGUE = [
    {"name": "redis", "image": "redis:7", "port": 6379, "protocol": "tcp", "stateful": True, "data_path": "/data"},
    {
        "name": "mariadb",
        "image": "mariadb:11",
        "port": 3306,
        "protocol": "tcp",
        "stateful": True,
        "data_path": "/var/lib/mysql",
        "mem": 384,
    },
    {
        "name": "zookeeper",
        "image": "zookeeper:3.9",
        "port": 2181,
        "protocol": "tcp",
        "stateful": True,
        "data_path": "/var/lib/zookeeper",
    },
    {
        "name": "web",
        "project": "shop",
        "image": f"registry.example.com:5000/shop/web:1.4@{DIGEST}",
        "port": 8080,
        "dependencies": ["api", "redis"],
    },
    {"name": "api", "project": "pay", "image": "pay/api:2.0", "port": 8081, "dependencies": ["mariadb", "zookeeper"]},
]


def params(**overrides):
    result = {
        "catalogue": copy.deepcopy(CATALOGUE),
        "env": "int",
        "envs": copy.deepcopy(ENVS),
        "zones": list(ZONES),
        "fallback_env": "int",
        "network": "pptv-lab",
        "logs_root": "/home/logs",
        "data_root": "/home/data",
        "logs_container_path": "/home/logs",
        "ips": None,
    }
    result.update(overrides)
    return result


def with_entry(index, **fields):
    """The catalogue with entry ``index`` updated (a value of None removes the field)."""
    catalogue = copy.deepcopy(CATALOGUE)
    for key, value in fields.items():
        if value is None:
            catalogue[index].pop(key, None)
        else:
            catalogue[index][key] = value
    return catalogue


def fails(expected, **overrides):
    with pytest.raises(DcosError) as info:
        _catalogue.plan(params(**overrides))
    assert info.value.msg == expected
    return info.value.msg


def fails_with(prefix, **overrides):
    with pytest.raises(DcosError) as info:
        _catalogue.plan(params(**overrides))
    assert info.value.msg.startswith(prefix), info.value.msg
    return info.value.msg


def ips_for(env, names):
    return {f"/{env}/{name}": f"10.201.0.{100 + n}" for n, name in enumerate(names)}


ALL = ["redis", "mariadb", "zookeeper", "web", "api"]


# -- defaults -----------------------------------------------------------------------------------


def test_defaults_are_filled_in():
    services = _catalogue.parse_catalogue([{"name": "web", "image": "web", "port": 80}], ["pptv.lab"])
    (web,) = services
    assert (web.protocol, web.check, web.check_path) == ("http", "http", "/")
    assert (web.fqdn, web.aliases, web.names) == ("web.pptv.lab", [], ["web.pptv.lab"])
    assert (web.cpus, web.mem, web.instances) == (0.1, 128.0, 1)
    assert (web.stateful, web.data_path, web.project, web.dependencies) == (False, None, None, [])
    assert (web.cmd, web.env) == (None, {})


def test_check_defaults_to_the_protocol_and_a_trailing_dot_of_a_zone_is_dropped():
    services = _catalogue.parse_catalogue(
        [{"name": "db", "image": "db", "port": 5432, "protocol": "tcp"}], _catalogue.zone_list(["Pptv.lab.".lower()])
    )
    assert (services[0].check, services[0].check_path, services[0].fqdn) == ("tcp", None, "db.pptv.lab")


def test_a_tcp_service_may_have_an_http_check_and_values_of_the_right_kind_in_strings():
    entry = {
        "name": "db",
        "image": "db",
        "port": "5432",
        "protocol": "tcp",
        "check": "http",
        "check_path": "/health?full=1",
        "cpus": "0.5",
        "instances": "0",
        "stateful": "no",
    }
    (db,) = _catalogue.parse_catalogue([entry], ZONES)
    assert (db.port, db.check, db.check_path, db.cpus, db.instances, db.stateful) == (
        5432,
        "http",
        "/health?full=1",
        0.5,
        0,
        False,
    )


def test_env_values_are_sent_as_strings():
    (web,) = _catalogue.parse_catalogue(
        [{"name": "web", "image": "web", "port": 80, "env": {"A": 1, "B": True, "C": "x", "D": 0.5, "E": False}}], ZONES
    )
    assert web.env == {"A": "1", "B": "true", "C": "x", "D": "0.5", "E": "false"}


@pytest.mark.parametrize(
    "reference",
    [
        "redis",
        "redis:7",
        "pptv-dcos/redis:bookworm",
        "library/redis:7.2.4-alpine",
        "registry.example.com:5000/team/app:1.2",
        f"registry.example.com/team/app@{DIGEST}",
        f"app:1.0@{DIGEST}",
        "localhost:5000/a__b/c-d.e:T_1",
    ],
)
def test_image_references_that_are_accepted(reference):
    assert _catalogue.image(reference, "image") == reference


# -- one entry: every refusal names the entry ----------------------------------------------------------


@pytest.mark.parametrize(
    ("index", "fields", "expected"),
    [
        (3, {"porr": 1}, "catalogue entry 3 (web): porr: not a field of a catalogue entry (did you mean port?)"),
        (
            3,
            {"depends": ["api"]},
            "catalogue entry 3 (web): depends: not a field of a catalogue entry (did you mean dependencies?)",
        ),
        (3, {"zzz": 1}, "catalogue entry 3 (web): zzz: not a field of a catalogue entry"),
        (3, {"image": None}, "catalogue entry 3 (web): image: required"),
        (3, {"port": None}, "catalogue entry 3 (web): port: required"),
        (3, {"port": 70000}, "catalogue entry 3 (web): port: must be 65535 or less, got 70000"),
        (3, {"port": 0}, "catalogue entry 3 (web): port: must be 1 or more, got 0"),
        (3, {"port": "http"}, "catalogue entry 3 (web): port: must be an integer, got 'http'"),
        (3, {"port": True}, "catalogue entry 3 (web): port: must be an integer, got True"),
        (3, {"protocol": "udp"}, "catalogue entry 3 (web): protocol: must be one of http, tcp, got 'udp'"),
        (3, {"check": "grpc"}, "catalogue entry 3 (web): check: must be one of http, tcp, got 'grpc'"),
        (
            0,
            {"check_path": "/ping"},
            "catalogue entry 0 (redis): check_path: only for an http check (this check is tcp)",
        ),
        (
            3,
            {"check_path": "health"},
            "catalogue entry 3 (web): check_path: 'health' is not valid: a URL path starting with / (no spaces)",
        ),
        (
            3,
            {"check_path": "/a b"},
            "catalogue entry 3 (web): check_path: '/a b' is not valid: a URL path starting with / (no spaces)",
        ),
        (
            3,
            {"project": "Shop"},
            f"catalogue entry 3 (web): project: 'Shop' is not valid: {_catalogue.NAME_WORDS}",
        ),
        (3, {"dependencies": "api"}, "catalogue entry 3 (web): dependencies: must be a list, got str"),
        (3, {"dependencies": ["web"]}, "catalogue entry 3 (web): dependencies[0]: a service cannot depend on itself"),
        (3, {"dependencies": ["api", "api"]}, "catalogue entry 3 (web): dependencies[1]: api is listed twice"),
        (
            3,
            {"dependencies": ["api", "redis-cache"]},
            "catalogue entry 3 (web): dependencies[1]: no service named redis-cache in the catalogue "
            "(did you mean redis?)",
        ),
        (
            3,
            {"dependencies": ["Api"]},
            f"catalogue entry 3 (web): dependencies[0]: 'Api' is not valid: {_catalogue.NAME_WORDS}",
        ),
        (
            0,
            {"stateful": "maybe"},
            "catalogue entry 0 (redis): stateful: must be a boolean (true or false), got 'maybe'",
        ),
        (
            0,
            {"data_path": None},
            "catalogue entry 0 (redis): data_path: required for a stateful service (the container path of its data)",
        ),
        (
            3,
            {"data_path": "/data"},
            "catalogue entry 3 (web): data_path: only for a stateful service (set stateful: true, or drop data_path)",
        ),
        (
            0,
            {"stateful": False},
            "catalogue entry 0 (redis): data_path: only for a stateful service (set stateful: true, or drop data_path)",
        ),
        (
            0,
            {"data_path": "data"},
            "catalogue entry 0 (redis): data_path: 'data' must be an absolute path (starting with /, not / itself)",
        ),
        (
            0,
            {"data_path": "/data/../etc"},
            "catalogue entry 0 (redis): data_path: '/data/../etc' must be a normalised path "
            "(no '..', '.', '//' or trailing '/')",
        ),
        (
            0,
            {"data_path": "/home/logs"},
            "catalogue entry 0 (redis): data_path: /home/logs is the logs mount (logs_container_path); "
            "give the data its own path",
        ),
        (
            0,
            {"instances": 2},
            "catalogue entry 0 (redis): instances: an app has one fixed IP, so it runs at most 1 task (two would "
            "claim one address, and share one data directory), got 2",
        ),
        (
            3,
            {"instances": 2},
            "catalogue entry 3 (web): instances: an app has one fixed IP, so it runs at most 1 task (two would "
            "claim one address), got 2",
        ),
        (
            4,
            {"instances": "3"},
            "catalogue entry 4 (api): instances: an app has one fixed IP, so it runs at most 1 task (two would "
            "claim one address), got 3",
        ),
        (3, {"instances": -1}, "catalogue entry 3 (web): instances: must be 0 or more, got -1"),
        (3, {"instances": 1.5}, "catalogue entry 3 (web): instances: must be an integer, got 1.5"),
        (3, {"cpus": 0}, "catalogue entry 3 (web): cpus: must be more than 0, got 0"),
        (3, {"cpus": float("inf")}, "catalogue entry 3 (web): cpus: must be a finite number, got inf"),
        (3, {"mem": "lots"}, "catalogue entry 3 (web): mem: must be a number, got 'lots'"),
        (3, {"mem": -64}, "catalogue entry 3 (web): mem: must be more than 0, got -64"),
        (3, {"cmd": ""}, "catalogue entry 3 (web): cmd: must be a non-empty string, got ''"),
        (3, {"cmd": ["python3"]}, "catalogue entry 3 (web): cmd: must be a non-empty string, got ['python3']"),
        (3, {"env": ["A=1"]}, "catalogue entry 3 (web): env: must be a map of names to strings, got list"),
        (3, {"env": {"A": None}}, "catalogue entry 3 (web): env.A: must be a string, number or boolean, got NoneType"),
        (3, {"env": {"A": {"x": 1}}}, "catalogue entry 3 (web): env.A: must be a string, number or boolean, got dict"),
        (
            3,
            {"fqdn": "web.example.com"},
            "catalogue entry 3 (web): fqdn: web.example.com is not inside the environment's zones (pptv.lab)",
        ),
        (
            3,
            {"fqdn": "pptv.lab"},
            "catalogue entry 3 (web): fqdn: pptv.lab is not inside the environment's zones (pptv.lab)",
        ),
        (
            3,
            {"fqdn": "Web.pptv.lab"},
            "catalogue entry 3 (web): fqdn: 'Web.pptv.lab' is not a fully qualified domain name (lower-case labels "
            "of letters, digits and '-', at least two labels, no trailing dot)",
        ),
        (
            3,
            {"fqdn": "web.pptv.lab\n"},
            "catalogue entry 3 (web): fqdn: 'web.pptv.lab\\n' holds a forbidden character '\\n' at 12",
        ),
        (3, {"aliases": "www.pptv.lab"}, "catalogue entry 3 (web): aliases: must be a list, got str"),
        (
            3,
            {"aliases": ["www.example.com"]},
            "catalogue entry 3 (web): aliases[0]: www.example.com is not inside the environment's zones (pptv.lab)",
        ),
        (
            3,
            {"aliases": ["web.pptv.lab"]},
            "catalogue entry 3 (web): aliases[0]: web.pptv.lab is given twice (fqdn and aliases are one list of names)",
        ),
        (
            3,
            {"aliases": ["www.pptv.lab", "www.pptv.lab"]},
            "catalogue entry 3 (web): aliases[1]: www.pptv.lab is given twice (fqdn and aliases are one list of names)",
        ),
    ],
)
def test_a_bad_field_names_the_entry(index, fields, expected):
    fails(expected, catalogue=with_entry(index, **fields))


@pytest.mark.parametrize("index", [0, 3])
@pytest.mark.parametrize("instances", [0, 1, "1"])
def test_0_or_1_instances_are_accepted_for_every_service(index, instances):
    # One fixed IP per app: at most one task, stateful (0, redis) or not (3, web).
    services = _catalogue.parse_catalogue(with_entry(index, instances=instances), ZONES)
    assert services[index].instances == int(instances)
    assert _catalogue.MAX_INSTANCES == 1


def test_the_instances_message_of_a_service_given_stateful_no_says_nothing_of_data():
    catalogue = with_entry(3, instances=2, stateful="no")
    fails(
        "catalogue entry 3 (web): instances: an app has one fixed IP, so it runs at most 1 task (two would "
        "claim one address), got 2",
        catalogue=catalogue,
    )


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("Web", f"'Web' is not valid: {_catalogue.NAME_WORDS}"),
        ("1web", f"'1web' is not valid: {_catalogue.NAME_WORDS}"),
        ("web-", f"'web-' is not valid: {_catalogue.NAME_WORDS}"),
        ("we--b", f"'we--b' is not valid: {_catalogue.NAME_WORDS}"),
        ("web.shop", f"'web.shop' is not valid: {_catalogue.NAME_WORDS}"),
        ("web\n", f"'web\\n' is not valid: {_catalogue.NAME_WORDS}"),
        ("w" * 64, "must be at most 63 characters, got 64"),
        ("tasks", "tasks is reserved by Marathon (an app id may not end in it)"),
    ],
)
def test_a_bad_name_is_refused(name, problem):
    catalogue = [{"name": name, "image": "x", "port": 80}]
    label = f"catalogue entry 0 ({name})" if _catalogue.NAME_RE.fullmatch(name) else f"catalogue entry 0 ({name!r})"
    fails(f"{label}: name: {problem}", catalogue=catalogue)


def test_an_entry_without_a_name_or_not_a_map():
    fails("catalogue entry 1: name: required", catalogue=[CATALOGUE[0], {"image": "x", "port": 80}])
    fails(
        "catalogue entry 1: name: must be a non-empty string (" + _catalogue.NAME_WORDS + "), got 5",
        catalogue=[CATALOGUE[0], {"name": 5, "image": "x", "port": 80}],
    )
    fails("catalogue entry 1: must be a map (one service), got str", catalogue=[CATALOGUE[0], "web"])
    fails("catalogue: must list at least one service, got []", catalogue=[])


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("redis 7", "'redis 7' must not contain whitespace or control characters"),
        ("redis:7\n", "'redis:7\\n' must not contain whitespace or control characters"),
        ("Redis:7", "'Redis:7' is not a Docker image reference"),
        ("redis:", "'redis:' is not a Docker image reference"),
        ("redis:-7", "'redis:-7' is not a Docker image reference"),
        ("/redis", "'/redis' is not a Docker image reference"),
        ("redis@sha256:abc", "the digest 'sha256:abc' of 'redis@sha256:abc' is not sha256:<64 lower-case hex digits>"),
        ("redis@" + DIGEST.upper(), "the digest"),
        ("redis@md5:" + "0" * 32, "the digest 'md5:"),
        ("redis@" + DIGEST + "0", "the digest"),
        ("redis@", "the digest '' of 'redis@'"),
    ],
)
def test_a_bad_image_is_refused(reference, expected):
    message = fails_with("catalogue entry 3 (web): image: ", catalogue=with_entry(3, image=reference))
    assert message[len("catalogue entry 3 (web): image: ") :].startswith(expected), message


def test_a_non_string_image_is_refused():
    fails("catalogue entry 3 (web): image: must be a non-empty string, got 7", catalogue=with_entry(3, image=7))


# -- rules across entries -----------------------------------------------------------------------


def test_a_duplicate_name():
    catalogue = copy.deepcopy(CATALOGUE) + [{"name": "redis", "image": "redis:8", "port": 6380}]
    fails(
        "catalogue entry 5 (redis): name: redis is already the name of catalogue entry 0 (redis)", catalogue=catalogue
    )


def test_two_http_services_may_not_share_a_name_on_different_ports():
    catalogue = copy.deepcopy(CATALOGUE) + [
        {"name": "web-admin", "project": "shop", "image": "admin:1", "port": 8443, "fqdn": "web.pptv.lab"}
    ]
    fails(
        "catalogue entry 5 (web-admin): name clash: web.pptv.lab is also a name of catalogue entry 3 (web); each DNS "
        "name belongs to one service (the discovery daemon routes a name to one app per env)",
        catalogue=catalogue,
    )


def test_the_same_name_on_the_same_port_is_a_port_clash():
    catalogue = copy.deepcopy(CATALOGUE) + [
        {"name": "web2", "image": "web:2", "port": 8080, "aliases": ["web.pptv.lab"]}
    ]
    fails(
        "catalogue entry 5 (web2): port clash: web.pptv.lab port 8080 is also served by catalogue entry 3 (web)",
        catalogue=catalogue,
    )


def test_a_port_clash_with_a_tcp_service_is_a_port_clash_too():
    catalogue = copy.deepcopy(CATALOGUE) + [
        {"name": "redis2", "image": "redis:7", "port": 6379, "protocol": "tcp", "fqdn": "redis.pptv.lab"}
    ]
    fails(
        "catalogue entry 5 (redis2): port clash: redis.pptv.lab port 6379 is also served by catalogue entry 0 (redis)",
        catalogue=catalogue,
    )


@pytest.mark.parametrize("protocol", ["http", "tcp"])
def test_a_name_shared_with_a_tcp_service_is_a_name_clash(protocol):
    catalogue = copy.deepcopy(CATALOGUE) + [
        {"name": "cache", "image": "c:1", "port": 7000, "protocol": protocol, "aliases": ["redis.pptv.lab"]}
    ]
    fails(
        "catalogue entry 5 (cache): name clash: redis.pptv.lab is also a name of catalogue entry 0 (redis); each DNS "
        "name belongs to one service (the discovery daemon routes a name to one app per env)",
        catalogue=catalogue,
    )


def test_the_whole_catalogue_is_validated_even_for_a_functional_env():
    # entry 2 is not deployed by func-shop, and still refused
    fails_with("catalogue entry 2 (zookeeper): port:", env="func-shop", catalogue=with_entry(2, port=0))


# -- the options --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"env": "Int"}, f"env: 'Int' is not valid: {_catalogue.NAME_WORDS}"),
        ({"env": "func_shop"}, f"env: 'func_shop' is not valid: {_catalogue.NAME_WORDS}"),
        ({"env": "func-shop/x"}, f"env: 'func-shop/x' is not valid: {_catalogue.NAME_WORDS}"),
        ({"env": None}, f"env: must be a non-empty string ({_catalogue.NAME_WORDS}), got None"),
        (
            {"env": "stage"},
            "env: stage is not an environment of envs (known: func-nope, func-pay, func-shop, int, prod)",
        ),
        (
            {"env": "func-shopp"},
            "env: func-shopp is not an environment of envs (known: func-nope, func-pay, func-shop, int, prod) "
            "(did you mean func-shop?)",
        ),
        ({"envs": ["int"]}, "envs: must be a map of env names to {gateway, dns_ip, zones}, got list"),
        ({"envs": {"int": "10.0.0.1"}}, "envs.int: must be a map with gateway and dns_ip, got str"),
        ({"envs": {"int": {"dns_ip": "10.0.0.1"}}}, "envs.int.gateway: required (an IP address)"),
        ({"envs": {"int": {"gateway": "10.0.0.1"}}}, "envs.int.dns_ip: required (an IP address)"),
        (
            {"envs": {"int": {"gateway": "10.0.0.1", "dns_ip": "10.0.0.300"}}},
            "envs.int.dns_ip: '10.0.0.300' is not an IP address",
        ),
        (
            {"envs": {"int": {"gateway": "gw.pptv.lab", "dns_ip": "10.0.0.3"}}},
            "envs.int.gateway: 'gw.pptv.lab' is not an IP address",
        ),
        (
            {"envs": {"int": {"gateway": "10.0.0.1", "dns_ip": "10.0.0.3", "zones": "pptv.lab"}}},
            "envs.int.zones: must list at least one DNS zone, got 'pptv.lab'",
        ),
        (
            {"envs": {"int": {"gateway": "10.0.0.1", "dns_ip": "10.0.0.3", "zones": ["other.lab"]}}},
            "envs.int.zones: redis.pptv.lab (catalogue entry 0 (redis)) is not inside the env's zones (other.lab); "
            "its DNS could not answer it",
        ),
        ({"zones": []}, "zones: must list at least one DNS zone, got []"),
        (
            {"zones": ["pptv.lab", "pptv.lab."]},
            "zones[1]: pptv.lab is listed twice",
        ),
        (
            {"zones": ["pptv lab"]},
            "zones[0]: 'pptv lab' is not valid: a DNS name of lower-case letters, digits, '-' and '.'",
        ),
        ({"fallback_env": "Int"}, f"fallback_env: 'Int' is not valid: {_catalogue.NAME_WORDS}"),
        (
            {"network": "pptv lab"},
            "network: 'pptv lab' is not valid: a Docker network name: letters, digits, '_', '.' and '-'",
        ),
        (
            {"network": None},
            "network: must be a non-empty string (a Docker network name: letters, digits, '_', '.' and '-'), got None",
        ),
        (
            {"logs_root": "home/logs"},
            "logs_root: 'home/logs' must be an absolute path (starting with /, not / itself)",
        ),
        (
            {"data_root": "/home/data/"},
            "data_root: '/home/data/' must be a normalised path (no '..', '.', '//' or trailing '/')",
        ),
        (
            {"logs_container_path": "/"},
            "logs_container_path: '/' must be an absolute path (starting with /, not / itself)",
        ),
    ],
)
def test_a_bad_option_is_named(overrides, expected):
    fails(expected, **overrides)


def test_data_path_is_refused_when_it_is_a_custom_logs_container_path():
    fails(
        "catalogue entry 0 (redis): data_path: /data is the logs mount (logs_container_path); give the data its own "
        "path",
        logs_container_path="/data",
    )


def test_envs_entries_may_hold_keys_for_other_playbooks():
    envs = copy.deepcopy(ENVS)
    envs["int"]["dns_port"] = 53
    assert _catalogue.plan(params(envs=envs))["env"] == "int"


# -- env kinds and selection --------------------------------------------------------------------


def names(result):
    return [s["name"] for s in result["services"]]


def test_the_fallback_env_is_integration_and_deploys_everything():
    result = _catalogue.plan(params())
    assert (result["env"], result["kind"], result["project"]) == ("int", "integration", None)
    assert names(result) == ALL
    assert result["fallback"] == []
    assert not any(s["copy"] for s in result["services"])
    assert result["app_ids"] == [f"/int/{n}" for n in ALL]


def test_another_env_that_is_not_functional_is_full():
    result = _catalogue.plan(params(env="prod"))
    assert (result["kind"], result["project"], names(result), result["fallback"]) == ("full", None, ALL, [])


def test_a_custom_fallback_env():
    envs = dict(copy.deepcopy(ENVS), stage={"gateway": "10.0.1.1", "dns_ip": "10.0.1.2"})
    assert _catalogue.plan(params(env="stage", envs=envs, fallback_env="stage"))["kind"] == "integration"
    assert _catalogue.plan(params(env="int", envs=envs, fallback_env="stage"))["kind"] == "full"
    assert _catalogue.env_kind("func-shop", "func-shop") == "integration"


def test_func_shop_gets_its_services_and_copies_of_the_shared_ones_they_call():
    result = _catalogue.plan(params(env="func-shop"))
    assert (result["kind"], result["project"]) == ("functional", "shop")
    # catalogue order; api's mariadb and zookeeper are not followed (api is another project's)
    assert [(s["name"], s["copy"]) for s in result["services"]] == [("redis", True), ("web", False)]
    assert result["fallback"] == [{"name": "api", "fqdn": "api.pptv.lab", "port": 8081, "protocol": "http"}]
    assert result["app_ids"] == ["/func-shop/redis", "/func-shop/web"]
    assert result["log_dirs"] == ["/home/logs/func-shop/redis", "/home/logs/func-shop/web"]
    assert result["data_dirs"] == ["/home/data/func-shop/redis"]


def test_func_pay_calls_nothing_outside():
    result = _catalogue.plan(params(env="func-pay"))
    assert [(s["name"], s["copy"]) for s in result["services"]] == [
        ("mariadb", True),
        ("zookeeper", True),
        ("api", False),
    ]
    assert result["fallback"] == []


def test_the_closure_runs_through_shared_services_but_not_through_other_projects():
    catalogue = [
        {"name": "store", "image": "s", "port": 1000, "protocol": "tcp", "dependencies": ["auth"]},
        {"name": "cache", "image": "c", "port": 1001, "protocol": "tcp", "dependencies": ["store"]},
        {"name": "auth", "project": "iam", "image": "a", "port": 1002, "dependencies": ["ldap"]},
        {"name": "ldap", "image": "l", "port": 1003, "protocol": "tcp"},
        {"name": "front", "project": "shop", "image": "f", "port": 1004, "dependencies": ["cache", "back"]},
        {"name": "back", "project": "shop", "image": "b", "port": 1005, "dependencies": ["front", "auth"]},
        {"name": "unused", "image": "u", "port": 1006, "protocol": "tcp"},
    ]
    result = _catalogue.plan(params(env="func-shop", catalogue=catalogue))
    # cache (front's), then store (cache's); auth is iam's: fallback, and its ldap is not followed
    assert [(s["name"], s["copy"]) for s in result["services"]] == [
        ("store", True),
        ("cache", True),
        ("front", False),
        ("back", False),
    ]
    assert [f["name"] for f in result["fallback"]] == ["auth"]


def test_a_functional_env_of_an_unknown_project():
    fails(
        "env: func-nope is a functional env (func-<project>) but no service of the catalogue has project 'nope' "
        "(known projects: pay, shop)",
        env="func-nope",
    )
    shared_only = [e for e in CATALOGUE if "project" not in e]
    fails(
        "env: func-nope is a functional env (func-<project>) but no service of the catalogue has project 'nope' "
        "(the catalogue has no project)",
        env="func-nope",
        catalogue=shared_only,
    )


def test_a_functional_env_needs_the_fallback_env_in_envs():
    envs = {k: v for k, v in ENVS.items() if k != "int"}
    fails(
        "fallback_env: int is not an environment of envs; the names functional env func-shop lacks resolve to it",
        env="func-shop",
        envs=envs,
    )


def test_the_services_rows():
    result = _catalogue.plan(params(env="func-shop", data_root="/gluster/data", logs_root="/gluster/logs"))
    assert result["services"] == [
        {
            "name": "redis",
            "app_id": "/func-shop/redis",
            "fqdn": "redis.pptv.lab",
            "names": ["redis.pptv.lab"],
            "port": 6379,
            "protocol": "tcp",
            "check": "tcp",
            "image": "redis:7",
            "project": None,
            "stateful": True,
            "dependencies": [],
            "copy": True,
            "canary_of": None,
            "log_dir": "/gluster/logs/func-shop/redis",
            "data_dir": "/gluster/data/func-shop/redis",
        },
        {
            "name": "web",
            "app_id": "/func-shop/web",
            "fqdn": "web.pptv.lab",
            "names": ["web.pptv.lab"],
            "port": 8080,
            "protocol": "http",
            "check": "http",
            "image": f"registry.example.com:5000/shop/web:1.4@{DIGEST}",
            "project": "shop",
            "stateful": False,
            "dependencies": ["api", "redis"],
            "copy": False,
            "canary_of": None,
            "log_dir": "/gluster/logs/func-shop/web",
            "data_dir": None,
        },
    ]
    assert "apps" not in result


# -- ips ------------------------------------------------------------------------------------------


def test_every_app_needs_an_address():
    ips = ips_for("func-shop", ["redis"])
    fails(
        "ips: no address for /func-shop/web (every app of the env needs one, e.g. from pptv.dcos.ip_pool)",
        env="func-shop",
        ips=ips,
    )


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("10.201.0.300", "ips[/func-shop/web]: '10.201.0.300' is not an IP address"),
        ("10.201.0.5\n", "ips[/func-shop/web]: '10.201.0.5\\n' is not an IP address"),
        ("0.0.0.0", "ips[/func-shop/web]: 0.0.0.0 is not a unicast address"),
        ("224.0.0.1", "ips[/func-shop/web]: 224.0.0.1 is not a unicast address"),
        ("10.201.0.100", "ips[/func-shop/web]: 10.201.0.100 is also the address of /func-shop/redis"),
    ],
)
def test_a_bad_address_names_the_app(address, expected):
    ips = ips_for("func-shop", ["redis"])
    ips["/func-shop/web"] = address
    fails(expected, env="func-shop", ips=ips)


def test_ips_of_other_apps_are_ignored():
    ips = ips_for("int", ALL)
    ips["/func-shop/web"] = "bogus"
    assert len(_catalogue.plan(params(ips=ips))["apps"]) == 5


def test_ips_must_be_a_map():
    fails("ips: must be a map of app ids to IP addresses, got list", ips=["10.0.0.1"])


# -- definitions ----------------------------------------------------------------------------------


def plan_apps(**overrides):
    overrides.setdefault("ips", ips_for(overrides.get("env", "int"), ALL))
    result = _catalogue.plan(params(**overrides))
    return result, {a["app_id"]: a["definition"] for a in result["apps"]}


def test_the_definition_of_an_http_service():
    _result, apps = plan_apps(env="func-shop")
    assert apps["/func-shop/web"] == {
        "instances": 1,
        "cpus": 0.1,
        "mem": 128.0,
        "env": {},
        "labels": {
            "pptv.dcos/contract": "1",
            "pptv.dcos/env": "func-shop",
            "pptv.dcos/name": "web.pptv.lab",
            "pptv.dcos/port": "8080",
            "pptv.dcos/protocol": "http",
            "pptv.dcos/ip": "10.201.0.103",
        },
        "container": {
            "type": "DOCKER",
            "docker": {
                "image": f"registry.example.com:5000/shop/web:1.4@{DIGEST}",
                "parameters": [
                    {"key": "net", "value": "pptv-lab"},
                    {"key": "ip", "value": "10.201.0.103"},
                    {"key": "dns", "value": "10.201.0.31"},
                ],
            },
            "volumes": [{"containerPath": "/home/logs", "hostPath": "/home/logs/func-shop/web", "mode": "RW"}],
        },
        "networks": [{"mode": "host"}],
        "portDefinitions": [],
        "healthChecks": [
            {
                "protocol": "MESOS_HTTP",
                "port": 8080,
                "path": "/",
                "gracePeriodSeconds": 60,
                "intervalSeconds": 5,
                "timeoutSeconds": 3,
                "maxConsecutiveFailures": 3,
            }
        ],
        # Stateless too: the new task starts on the same fixed IP only once the old one has stopped.
        "upgradeStrategy": {"minimumHealthCapacity": 0, "maximumOverCapacity": 0},
    }


def test_the_definition_of_a_stateful_tcp_service():
    _result, apps = plan_apps(logs_container_path="/var/log/app", data_root="/gluster/data")
    assert apps["/int/mariadb"] == {
        "instances": 1,
        "cpus": 0.1,
        "mem": 384.0,
        "env": {},
        "labels": {
            "pptv.dcos/contract": "1",
            "pptv.dcos/env": "int",
            "pptv.dcos/name": "mariadb.pptv.lab",
            "pptv.dcos/port": "3306",
            "pptv.dcos/protocol": "tcp",
            "pptv.dcos/ip": "10.201.0.101",
        },
        "container": {
            "type": "DOCKER",
            "docker": {
                "image": "mariadb:11",
                "parameters": [
                    {"key": "net", "value": "pptv-lab"},
                    {"key": "ip", "value": "10.201.0.101"},
                    {"key": "dns", "value": "10.201.0.30"},
                ],
            },
            "volumes": [
                {"containerPath": "/var/log/app", "hostPath": "/home/logs/int/mariadb", "mode": "RW"},
                {"containerPath": "/var/lib/mysql", "hostPath": "/gluster/data/int/mariadb", "mode": "RW"},
            ],
        },
        "networks": [{"mode": "host"}],
        "portDefinitions": [],
        "healthChecks": [
            {
                "protocol": "MESOS_TCP",
                "port": 3306,
                "gracePeriodSeconds": 60,
                "intervalSeconds": 5,
                "timeoutSeconds": 3,
                "maxConsecutiveFailures": 3,
            }
        ],
        "upgradeStrategy": {"minimumHealthCapacity": 0, "maximumOverCapacity": 0},
    }


def test_cmd_env_aliases_and_an_http_check_of_a_tcp_service():
    catalogue = with_entry(
        3,
        cmd="exec python3 -m http.server 8080",
        env={"MODE": "test", "WORKERS": 4},
        aliases=["www.pptv.lab", "shop.pptv.lab"],
        check_path="/healthz",
        instances=0,
        cpus=0.5,
        mem=256,
    )
    catalogue[0].update(check="http", check_path="/ping")
    _result, apps = plan_apps(catalogue=catalogue)
    web = apps["/int/web"]
    assert web["cmd"] == "exec python3 -m http.server 8080"
    assert (web["instances"], web["cpus"], web["mem"]) == (0, 0.5, 256.0)
    assert web["env"] == {"MODE": "test", "WORKERS": "4"}
    assert web["labels"]["pptv.dcos/aliases"] == "www.pptv.lab,shop.pptv.lab"
    assert web["healthChecks"][0]["path"] == "/healthz"
    assert "cmd" not in apps["/int/api"] and "pptv.dcos/aliases" not in apps["/int/api"]["labels"]
    redis = apps["/int/redis"]["healthChecks"][0]
    assert (redis["protocol"], redis["port"], redis["path"]) == ("MESOS_HTTP", 6379, "/ping")
    assert apps["/int/redis"]["labels"]["pptv.dcos/protocol"] == "tcp"


@pytest.mark.parametrize("env", ["int", "func-shop", "func-pay", "prod"])
def test_every_app_stops_its_old_task_before_the_new_one_starts_on_its_address(env):
    _result, apps = plan_apps(env=env)
    assert apps
    for app, definition in apps.items():
        assert definition["upgradeStrategy"] == {"minimumHealthCapacity": 0, "maximumOverCapacity": 0}, app
        assert definition["instances"] <= 1, app


def test_only_contract_labels_that_the_contract_knows():
    _result, apps = plan_apps()
    for definition in apps.values():
        assert set(definition["labels"]) <= set(_contract.KNOWN)


def _everything():
    """Every kind of definition: each env kind, aliases, cmd, env, custom checks."""
    catalogue = with_entry(3, cmd="run", env={"A": 1}, aliases=["www.pptv.lab"], check_path="/h", instances=0)
    for env in ("int", "func-shop", "func-pay", "prod"):
        result = _catalogue.plan(
            params(env=env, catalogue=catalogue, ips={f"/{env}/{n}": f"10.201.0.{100 + i}" for i, n in enumerate(ALL)})
        )
        yield from result["apps"]


@pytest.mark.parametrize("app", list(_everything()), ids=lambda a: a["app_id"])
def test_definitions_pass_marathon_apps_validation(app):
    body = prepare_definition(app["app_id"], app["definition"], option="apps[0].definition")
    assert body["id"] == app["app_id"]


@pytest.mark.parametrize("app", list(_everything()), ids=lambda a: a["app_id"])
def test_the_label_contract_reads_back_what_was_planned(app):
    envs = {env: ZONES for env in ENVS}
    service = _contract.parse_app(dict(app["definition"], id=app["app_id"]), envs)
    labels = app["definition"]["labels"]
    assert service.env == labels["pptv.dcos/env"] == app["app_id"].split("/")[1]
    assert service.name == labels["pptv.dcos/name"]
    assert service.port == int(labels["pptv.dcos/port"])
    assert service.ip == labels["pptv.dcos/ip"] == app["definition"]["container"]["docker"]["parameters"][1]["value"]


@pytest.mark.parametrize("app", list(_everything()), ids=lambda a: a["app_id"])
def test_a_second_run_is_idempotent_against_marathons_normalisation(app):
    body = prepare_definition(app["app_id"], app["definition"])
    # What Marathon stores and returns (the lab's faithful normalisation: defaults filled in,
    # numbers as floats, the upgrade strategy completed, empty fields left out).
    stored = lab_appdef.present(lab_appdef.normalise(copy.deepcopy(body), lambda port: port or 10000))
    assert stored["upgradeStrategy"] == {"minimumHealthCapacity": 0.0, "maximumOverCapacity": 0.0}
    assert "delaySeconds" in stored["healthChecks"][0]
    changed, _before, _after = diff_app(app["definition"], stored)
    assert changed == []


def test_a_stateless_app_left_on_marathons_default_upgrade_strategy_is_updated():
    # An app deployed before the rule (Marathon's default 1/1) is planned again with 0/0.
    (app,) = [a for a in _everything() if a["app_id"] == "/int/web"]
    body = prepare_definition(app["app_id"], app["definition"])
    del body["upgradeStrategy"]
    stored = lab_appdef.present(lab_appdef.normalise(body, None))
    assert stored["upgradeStrategy"] == {"minimumHealthCapacity": 1.0, "maximumOverCapacity": 1.0}
    assert diff_app(app["definition"], stored)[0] == [
        "upgradeStrategy.maximumOverCapacity",
        "upgradeStrategy.minimumHealthCapacity",
    ]


def test_a_changed_image_is_a_difference_after_normalisation():
    (app,) = [a for a in _everything() if a["app_id"] == "/int/redis"]
    stored = lab_appdef.present(lab_appdef.normalise(prepare_definition(app["app_id"], app["definition"]), None))
    wanted = copy.deepcopy(app["definition"])
    wanted["container"]["docker"]["image"] = "redis:8"
    wanted["upgradeStrategy"] = {"minimumHealthCapacity": 1, "maximumOverCapacity": 1}
    assert diff_app(wanted, stored)[0] == [
        "container.docker.image",
        "upgradeStrategy.maximumOverCapacity",
        "upgradeStrategy.minimumHealthCapacity",
    ]


def test_render_definition_alone_reuses_the_same_rules():
    (web,) = _catalogue.parse_catalogue([{"name": "web", "image": "web:1", "port": 80}], ZONES)
    definition = _catalogue.render_definition(web, "bench", "10.0.0.9", "net0", "10.0.0.2")
    assert definition["container"]["volumes"] == [
        {"containerPath": "/home/logs", "hostPath": "/home/logs/bench/web", "mode": "RW"}
    ]
    assert definition["labels"]["pptv.dcos/env"] == "bench"
    assert _catalogue.app_id("bench", web) == "/bench/web"


# -- a release: one service on a new image, and its canaries -----------------------------------------

NEW_DIGEST = "sha256:" + "fedcba9876543210" * 4
WEB_REPOSITORY = "registry.example.com:5000/shop/web"
RELEASE_IMAGE = f"{WEB_REPOSITORY}@{NEW_DIGEST}"
CANARY_IP = "10.201.0.201"  # the address of <name>-canary-1


def canary_ips(env, service, count):
    """One fixed IP per canary app: ``/<env>/<service>-canary-<i>`` -> 10.201.0.(200 + i)."""
    return {f"/{env}/{service}-canary-{i}": f"10.201.0.{200 + i}" for i in range(1, count + 1)}


def release_plan(canary_instances=1, env="prod", service="web", image=RELEASE_IMAGE, **overrides):
    ips = dict(ips_for(env, ALL), **canary_ips(env, service, canary_instances or 0))
    overrides.setdefault("ips", ips)
    release = {"service": service, "image": image, "canary_instances": canary_instances}
    result = _catalogue.plan(params(env=env, release=release, **overrides))
    return result, {a["app_id"]: a["definition"] for a in result.get("apps", [])}


def test_a_release_plans_only_its_service_and_its_canaries():
    result, apps = release_plan(canary_instances=2)
    assert result["app_ids"] == ["/prod/web", "/prod/web-canary-1", "/prod/web-canary-2"]
    assert list(apps) == result["app_ids"]
    assert [(s["name"], s["canary_of"]) for s in result["services"]] == [
        ("web", None),
        ("web-canary-1", "/prod/web"),
        ("web-canary-2", "/prod/web"),
    ]
    assert [s["image"] for s in result["services"]] == [RELEASE_IMAGE] * 3
    assert result["log_dirs"] == ["/home/logs/prod/web", "/home/logs/prod/web-canary-1", "/home/logs/prod/web-canary-2"]
    assert result["data_dirs"] == []
    assert result["release"] == {
        "service": "web",
        "app_id": "/prod/web",
        "canary_app_ids": ["/prod/web-canary-1", "/prod/web-canary-2"],
        "image": RELEASE_IMAGE,
        "canary_instances": 2,
    }
    assert "canary_app_id" not in result["release"]
    assert (result["env"], result["kind"]) == ("prod", "full")


def test_a_release_replaces_only_the_image_of_the_main_app():
    _result, normal = plan_apps(env="prod")
    _release, apps = release_plan()
    expected = copy.deepcopy(normal["/prod/web"])
    expected["container"]["docker"]["image"] = RELEASE_IMAGE
    assert apps["/prod/web"] == expected
    assert normal["/prod/web"]["container"]["docker"]["image"] == f"{WEB_REPOSITORY}:1.4@{DIGEST}"


def test_three_canary_instances_are_three_apps_of_one_task_each():
    result, apps = release_plan(canary_instances=3)
    main = apps["/prod/web"]
    ids = [f"/prod/web-canary-{i}" for i in (1, 2, 3)]
    assert list(apps) == ["/prod/web", *ids] == result["app_ids"]
    assert result["release"]["canary_app_ids"] == ids and result["release"]["canary_instances"] == 3
    canaries = [apps[app] for app in ids]
    addresses = [c["labels"]["pptv.dcos/ip"] for c in canaries]
    assert addresses == ["10.201.0.201", "10.201.0.202", "10.201.0.203"]
    assert len(set(addresses) | {main["labels"]["pptv.dcos/ip"]}) == 4
    for number, (app, canary, address) in enumerate(zip(ids, canaries, addresses), start=1):
        assert canary["instances"] == 1, app
        assert canary["labels"] == dict(main["labels"], **{"pptv.dcos/ip": address, "pptv.dcos/canary-of": "/prod/web"})
        assert canary["container"]["docker"]["image"] == RELEASE_IMAGE
        assert canary["container"]["docker"]["parameters"] == [
            {"key": "net", "value": "pptv-lab"},
            {"key": "ip", "value": address},
            {"key": "dns", "value": "10.201.0.34"},
        ]
        assert canary["container"]["volumes"] == [
            {"containerPath": "/home/logs", "hostPath": f"/home/logs/prod/web-canary-{number}", "mode": "RW"}
        ]
        assert canary["healthChecks"] == main["healthChecks"]
        assert canary["upgradeStrategy"] == {"minimumHealthCapacity": 0, "maximumOverCapacity": 0}
        assert {key for key in main if main[key] != canary[key]} == {"labels", "container"}
        prepare_definition(app, canary, option=f"apps[{number}].definition")
    assert len({c["container"]["volumes"][0]["hostPath"] for c in canaries}) == 3
    assert "pptv.dcos/canary-of" not in main["labels"] and main["instances"] == 1
    assert result["log_dirs"][1:] == [f"/home/logs/prod/web-canary-{i}" for i in (1, 2, 3)]


def test_a_canary_runs_one_task_whatever_the_main_apps_instances():
    _result, apps = release_plan(canary_instances=2, catalogue=with_entry(3, instances=0))
    assert apps["/prod/web"]["instances"] == 0
    assert [apps[f"/prod/web-canary-{i}"]["instances"] for i in (1, 2)] == [1, 1]


def test_the_canaries_keep_the_aliases_cmd_and_env_of_their_main_app():
    catalogue = with_entry(3, aliases=["www.pptv.lab"], cmd="run", env={"A": 1})
    _result, apps = release_plan(canary_instances=2, catalogue=catalogue)
    main = apps["/prod/web"]
    for canary in (apps["/prod/web-canary-1"], apps["/prod/web-canary-2"]):
        assert canary["labels"]["pptv.dcos/aliases"] == main["labels"]["pptv.dcos/aliases"] == "www.pptv.lab"
        assert (canary["cmd"], canary["env"]) == (main["cmd"], main["env"]) == ("run", {"A": "1"})


def test_the_daemon_accepts_every_canary_as_a_canary_of_its_main_app():
    catalogue = with_entry(3, aliases=["www.pptv.lab"])
    _result, apps = release_plan(canary_instances=3, catalogue=catalogue)
    listed = [dict(definition, id=app, tasks=[]) for app, definition in apps.items()]
    parsed = _contract.parse_apps(listed, {env: ZONES for env in ENVS})
    assert parsed.quarantined == {}
    main = parsed.services["/prod/web"]
    assert (main.canary_of, main.ip) == (None, "10.201.0.103")
    for number in (1, 2, 3):
        canary = parsed.services[f"/prod/web-canary-{number}"]
        assert canary.canary_of == "/prod/web"
        assert (canary.name, canary.port, canary.protocol) == (main.name, main.port, main.protocol)
        assert canary.names == main.names
        assert canary.ip == f"10.201.0.{200 + number}"


def test_no_canary_when_canary_instances_is_0():
    result, apps = release_plan(canary_instances=0)
    assert result["app_ids"] == ["/prod/web"] == list(apps)
    assert result["release"]["canary_app_ids"] == [] and result["release"]["canary_instances"] == 0
    assert [s["name"] for s in result["services"]] == ["web"]


def test_canary_instances_defaults_to_0():
    result = _catalogue.plan(params(env="prod", release={"service": "web", "image": RELEASE_IMAGE}))
    assert result["app_ids"] == ["/prod/web"]
    assert (result["release"]["canary_app_ids"], result["release"]["canary_instances"]) == ([], 0)


def test_at_most_20_canaries():
    result, apps = release_plan(canary_instances=20)
    assert _catalogue.CANARY_MAX == 20
    assert result["release"]["canary_app_ids"] == [f"/prod/web-canary-{i}" for i in range(1, 21)]
    assert list(apps)[-1] == "/prod/web-canary-20" and len(apps) == 21
    assert all(apps[f"/prod/web-canary-{i}"]["instances"] == 1 for i in range(1, 21))
    assert len({d["labels"]["pptv.dcos/ip"] for d in apps.values()}) == 21
    fails(
        "release.canary_instances: must be 20 or less, got 21",
        env="prod",
        release={"service": "web", "image": RELEASE_IMAGE, "canary_instances": 21},
    )


def test_a_release_of_the_image_already_planned_is_the_normal_definition():
    _result, normal = plan_apps(env="prod")
    _release, apps = release_plan(canary_instances=0, image=CATALOGUE[3]["image"])
    assert apps["/prod/web"] == normal["/prod/web"]


@pytest.mark.parametrize("app", ["/prod/web-canary-1", "/prod/web-canary-2"])
def test_the_canaries_are_idempotent_against_marathons_normalisation(app):
    _result, apps = release_plan(canary_instances=2)
    body = prepare_definition(app, apps[app])
    stored = lab_appdef.present(lab_appdef.normalise(copy.deepcopy(body), lambda port: port or 10000))
    assert stored["upgradeStrategy"] == {"minimumHealthCapacity": 0.0, "maximumOverCapacity": 0.0}
    assert diff_app(apps[app], stored)[0] == []


def test_a_tag_beside_the_digest_is_kept_as_given():
    image = f"{WEB_REPOSITORY}:2.0@{NEW_DIGEST}"
    result, apps = release_plan(image=image)
    assert result["release"]["image"] == image
    assert {d["container"]["docker"]["image"] for d in apps.values()} == {image}


def test_a_release_of_a_stateful_service_without_canary():
    image = f"redis@{NEW_DIGEST}"
    result, apps = release_plan(canary_instances=0, service="redis", image=image)
    assert result["app_ids"] == ["/prod/redis"]
    assert result["data_dirs"] == ["/home/data/prod/redis"]
    assert apps["/prod/redis"]["upgradeStrategy"] == {"minimumHealthCapacity": 0, "maximumOverCapacity": 0}


def test_a_release_in_a_functional_env_keeps_the_copy_flag():
    result, _apps = release_plan(env="func-shop", service="redis", image=f"redis@{NEW_DIGEST}", canary_instances=0)
    assert [(s["name"], s["copy"]) for s in result["services"]] == [("redis", True)]


def test_a_release_without_ips_has_no_apps():
    result, _apps = release_plan(canary_instances=2, ips=None)
    assert "apps" not in result
    assert result["app_ids"] == ["/prod/web", "/prod/web-canary-1", "/prod/web-canary-2"]


def test_each_canary_needs_its_own_address():
    ips = ips_for("prod", ALL)
    with pytest.raises(DcosError) as info:
        release_plan(ips=ips)
    assert info.value.msg == (
        "ips: no address for /prod/web-canary-1 (every app of the env needs one, e.g. from pptv.dcos.ip_pool)"
    )
    with pytest.raises(DcosError) as info:
        release_plan(canary_instances=2, ips=dict(ips, **canary_ips("prod", "web", 1)))
    assert info.value.msg.startswith("ips: no address for /prod/web-canary-2 ")
    with pytest.raises(DcosError) as info:
        release_plan(ips=dict(ips, **{"/prod/web-canary-1": "10.201.0.103"}))
    assert info.value.msg == "ips[/prod/web-canary-1]: 10.201.0.103 is also the address of /prod/web"
    shared = dict(ips, **{"/prod/web-canary-1": "10.201.0.201", "/prod/web-canary-2": "10.201.0.201"})
    with pytest.raises(DcosError) as info:
        release_plan(canary_instances=2, ips=shared)
    assert info.value.msg == "ips[/prod/web-canary-2]: 10.201.0.201 is also the address of /prod/web-canary-1"
    # The old single canary's key is not read.
    with pytest.raises(DcosError) as info:
        release_plan(ips=dict(ips, **{"/prod/web-canary": CANARY_IP}))
    assert info.value.msg.startswith("ips: no address for /prod/web-canary-1 ")


def test_the_whole_catalogue_is_validated_before_the_release():
    catalogue = with_entry(4, port=70000)
    with pytest.raises(DcosError) as info:
        release_plan(catalogue=catalogue)
    assert info.value.msg == "catalogue entry 4 (api): port: must be 65535 or less, got 70000"


@pytest.mark.parametrize(
    ("release", "expected"),
    [
        (
            {"service": "shop"},
            "release.service: shop is not a service of env prod (its services: redis, mariadb, zookeeper, web, api)",
        ),
        (
            {"service": "webb"},
            "release.service: webb is not a service of env prod (its services: redis, mariadb, zookeeper, web, api) "
            "(did you mean web?)",
        ),
        ({"service": None}, f"release.service: must be a non-empty string ({_catalogue.NAME_WORDS}), got None"),
        ({"image": None}, "release.image: must be a non-empty string, got None"),
        (
            {"image": f"{WEB_REPOSITORY}:1.5"},
            f"release.image: '{WEB_REPOSITORY}:1.5' is not by digest; a release runs "
            "repository@sha256:<64 lower-case hex digits>",
        ),
        (
            {"image": f"{WEB_REPOSITORY}@sha256:ABC"},
            f"release.image: the digest 'sha256:ABC' of '{WEB_REPOSITORY}@sha256:ABC' is not "
            "sha256:<64 lower-case hex digits>",
        ),
        (
            {"image": f"registry.example.com:5000/shop/api@{NEW_DIGEST}"},
            "release.image: repository registry.example.com:5000/shop/api is not the repository of web's catalogue "
            f"image ({WEB_REPOSITORY}); a release runs only its own service's images",
        ),
        (
            {"image": f"registry.example.com/shop/web@{NEW_DIGEST}"},
            "release.image: repository registry.example.com/shop/web is not the repository of web's catalogue "
            f"image ({WEB_REPOSITORY}); a release runs only its own service's images",
        ),
        ({"canary_instances": -1}, "release.canary_instances: must be 0 or more, got -1"),
        ({"canary_instances": 21}, "release.canary_instances: must be 20 or less, got 21"),
        ({"canary_instances": 1000}, "release.canary_instances: must be 20 or less, got 1000"),
        ({"canary_instances": True}, "release.canary_instances: must be an integer, got True"),
        (
            {"service": "redis", "image": f"redis@{NEW_DIGEST}"},
            "release.canary_instances: redis is stateful; a canary would run a second task on its data directory "
            "(give 0)",
        ),
        ({"canary": 1}, "release.canary: not an option of release"),
    ],
)
def test_a_bad_release_names_its_option(release, expected):
    given = dict({"service": "web", "image": RELEASE_IMAGE, "canary_instances": 1}, **release)
    fails(expected, env="prod", release=given)


def test_a_release_must_be_a_map():
    fails("release: must be a map with service, image and canary_instances, got str", release="web")


def test_a_service_outside_a_functional_env_is_not_released():
    fails(
        "release.service: api is not a service of env func-shop (its services: redis, web)",
        env="func-shop",
        release={"service": "api", "image": f"pay/api@{NEW_DIGEST}"},
    )


def test_each_canary_name_must_be_free_in_the_catalogue():
    catalogue = copy.deepcopy(CATALOGUE) + [{"name": "web-canary-2", "image": "other:1", "port": 9000}]
    fails(
        "release.canary_instances: the canary's name web-canary-2 is already the name of catalogue entry 5 "
        "(web-canary-2)",
        catalogue=catalogue,
        env="prod",
        release={"service": "web", "image": RELEASE_IMAGE, "canary_instances": 2},
    )
    # One canary is web-canary-1 only: web-canary-2 stays free for it.
    result, _apps = release_plan(catalogue=catalogue, ips=None)
    assert result["release"]["canary_app_ids"] == ["/prod/web-canary-1"]


def test_a_service_named_like_the_old_single_canary_is_no_clash():
    catalogue = copy.deepcopy(CATALOGUE) + [{"name": "web-canary", "image": "other:1", "port": 9000}]
    result, _apps = release_plan(canary_instances=2, catalogue=catalogue, ips=None)
    assert result["app_ids"] == ["/prod/web", "/prod/web-canary-1", "/prod/web-canary-2"]


def long_release(name, canary_instances):
    catalogue = copy.deepcopy(CATALOGUE) + [{"name": name, "image": "long", "port": 9000}]
    release = {"service": name, "image": f"long@{NEW_DIGEST}", "canary_instances": canary_instances}
    return {"catalogue": catalogue, "env": "prod", "release": release}


def test_each_canary_name_must_be_a_service_name_the_longest_included():
    # -canary-1 .. -canary-9 add 9 characters, -canary-10 and on 10: the longest name decides.
    name = "w" * 54
    result = _catalogue.plan(params(**long_release(name, 9)))
    assert result["release"]["canary_app_ids"][-1] == f"/prod/{name}-canary-9"
    assert len(f"{name}-canary-9") == 63
    fails(
        f"release.canary_instances: the canary's name {name}-canary-10: must be at most 63 characters, got 64",
        **long_release(name, 10),
    )
    longer = "w" * 55
    fails(
        f"release.canary_instances: the canary's name {longer}-canary-1: must be at most 63 characters, got 64",
        **long_release(longer, 1),
    )
    # Without a canary, a 63-character service releases.
    assert _catalogue.plan(params(**long_release("w" * 63, 0)))["app_ids"] == ["/prod/" + "w" * 63]
