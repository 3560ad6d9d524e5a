# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Normalisation and diff of Marathon app definitions, table-driven.

Every app definition found in Marathon's own example bodies (``fixtures/marathon_reference``) is
run through the same checks; hand-written cases cover each normalisation rule.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from ansible_collections.pptv.dcos.plugins.module_utils._errors import DcosError
from ansible_collections.pptv.dcos.plugins.module_utils._marathon_app import (
    APP_FIELDS,
    app_change,
    app_endpoints,
    canonical,
    diff_app,
    normalize_app_id,
    prepare_definition,
    task_is_healthy,
)

REFERENCE = Path(__file__).parent / "fixtures" / "marathon_reference"


def _apps_in(node, found):
    if isinstance(node, dict):
        if (
            "id" in node
            and "containers" not in node
            and any(k in node for k in ("cmd", "args", "container", "instances", "cpus"))
        ):
            found.append(node)
        for value in node.values():
            _apps_in(value, found)
    elif isinstance(node, list):
        for value in node:
            _apps_in(value, found)
    return found


def _reference_apps():
    cases = []
    for path in sorted(REFERENCE.rglob("*.json")):
        for index, app in enumerate(_apps_in(json.loads(path.read_text()), [])):
            cases.append(pytest.param(app, id=f"{path.relative_to(REFERENCE)}#{index}"))
    return cases


REFERENCE_APPS = _reference_apps()


def as_marathon_returns(definition, service_port_base=10100):  # noqa: PLR0912, PLR0915
    """What a Marathon 1.5+ GET returns for ``definition`` (written from the docs, not from the code under test).

    Legacy fields moved (changelog 1.5.0 "App JSON Fields Changed or Moved"), defaults filled in
    (RAML defaults), service ports assigned where 0, read-only fields added, labels as strings.
    """
    app = copy.deepcopy(definition)
    app["id"] = "/" + app["id"].strip("/")
    container = app.get("container")
    docker = (container or {}).get("docker") or {}
    network = docker.pop("network", None)
    ip_address = app.pop("ipAddress", None)
    if "portMappings" in docker:
        container.setdefault("portMappings", docker.pop("portMappings"))
    if network == "BRIDGE":
        app["networks"] = [{"mode": "container/bridge"}]
    elif network == "HOST":
        app["networks"] = [{"mode": "host"}]
    elif network == "USER" or (network is None and ip_address is not None):
        name = (ip_address or {}).get("networkName")
        app["networks"] = [{"mode": "container", **({"name": name} if name else {})}]
        if (ip_address or {}).get("labels"):
            app["networks"][0]["labels"] = ip_address["labels"]
    app.setdefault("networks", [{"mode": "host"}])
    if container:
        container.setdefault("type", "DOCKER")
        container.setdefault("volumes", [])
        if container.get("docker") is not None:
            docker.setdefault("privileged", False)
            docker.setdefault("forcePullImage", False)
            docker.setdefault("parameters", [])
        for index, mapping in enumerate(container.get("portMappings") or []):
            mapping.setdefault("containerPort", 0)
            mapping.setdefault("hostPort", 0)
            mapping.setdefault("protocol", "tcp")
            mapping.setdefault("labels", {})
            if not mapping.get("servicePort"):
                mapping["servicePort"] = service_port_base + index
    if "ports" in app:
        app.setdefault("portDefinitions", [{"port": p} for p in app.pop("ports")])
    for index, port in enumerate(app.get("portDefinitions") or []):
        port.setdefault("protocol", "tcp")
        port.setdefault("labels", {})
        if not port.get("port"):
            port["port"] = service_port_base + 50 + index
    if "uris" in app:
        app.setdefault("fetch", [{"uri": u} for u in app.pop("uris")])
    for item in app.get("fetch") or []:
        item.setdefault("extract", True)
        item.setdefault("executable", False)
        item.setdefault("cache", False)
    for check in app.get("healthChecks") or []:
        check.setdefault("protocol", "HTTP")
        check.setdefault("gracePeriodSeconds", 300)
        check.setdefault("intervalSeconds", 60)
        check.setdefault("timeoutSeconds", 20)
        check.setdefault("maxConsecutiveFailures", 3)
        check.setdefault("delaySeconds", 15)
        if check["protocol"] in ("HTTP", "HTTPS"):
            check.setdefault("path", "/")
            check.setdefault("ignoreHttp1xx", False)
        if check["protocol"] != "COMMAND" and "port" not in check:
            check.setdefault("portIndex", 0)
    app["constraints"] = [
        [str(c[0]), str(c[1]).upper(), *[str(v) for v in c[2:] if v != ""]] for c in app.get("constraints") or []
    ]
    app["labels"] = {k: str(v) for k, v in (app.get("labels") or {}).items()}
    app.setdefault("upgradeStrategy", {"minimumHealthCapacity": 1, "maximumOverCapacity": 1})
    for key, value in (
        ("instances", 1),
        ("cpus", 1),
        ("mem", 128),
        ("disk", 0),
        ("env", {}),
        ("backoffSeconds", 1),
        ("backoffFactor", 1.15),
        ("requirePorts", False),
        ("dependencies", []),
        ("healthChecks", []),
    ):
        app.setdefault(key, value)
    app.update(
        version="2026-11-29T16:01:02.345Z",
        versionInfo={"lastScalingAt": "2026-11-29T16:01:02.345Z", "lastConfigChangeAt": "2026-11-29T16:01:02.345Z"},
        tasksRunning=0,
        tasksHealthy=0,
        tasksStaged=0,
        tasksUnhealthy=0,
        deployments=[],
        tasks=[],
    )
    return app


# -- every reference app ------------------------------------------------------------------------


def test_the_reference_holds_the_apps_we_expect():
    # app.json x3, app-check-http-example, app_list x2, app_patch x2, apps_create x2 (2 each),
    # apps_patch x2 (2 each), group.json x2 (3 each), queue.json x2 (2 each)
    assert len(REFERENCE_APPS) == 26


@pytest.mark.parametrize("app", REFERENCE_APPS)
def test_canonical_form_is_stable(app):
    once = canonical(app)
    assert canonical(once) == once
    for legacy in ("ipAddress", "ports", "uris"):
        assert legacy not in once
    docker = (once.get("container") or {}).get("docker") or {}
    assert "network" not in docker
    assert "portMappings" not in docker


@pytest.mark.parametrize("app", REFERENCE_APPS)
def test_an_app_equals_itself_and_what_marathon_returns_for_it(app):
    assert diff_app(app, app) == ([], {}, {})
    returned = as_marathon_returns(app)
    assert diff_app(app, returned) == ([], {}, {})
    # and the GET of one Marathon passed back as a definition (what marathon_app_info gives) is a no-op
    assert diff_app(returned, returned)[0] == []


@pytest.mark.parametrize("app", REFERENCE_APPS)
def test_each_change_is_found_with_its_path(app):
    returned = as_marathon_returns(app)
    wanted = copy.deepcopy(app)
    wanted["instances"] = returned["instances"] + 1
    wanted["labels"] = dict(returned["labels"], **{"pptv.version": "2"})
    changed, before, after = diff_app(wanted, returned)
    assert changed == ["instances", "labels.pptv.version"]
    assert before["instances"] == returned["instances"]
    assert after["labels"]["pptv.version"] == "2"
    if (app.get("container") or {}).get("docker", {}).get("image"):
        wanted = copy.deepcopy(app)
        wanted["container"]["docker"]["image"] = "other:1"
        assert diff_app(wanted, returned)[0] == ["container.docker.image"]


@pytest.mark.parametrize("app", REFERENCE_APPS)
def test_a_label_marathon_has_and_the_definition_drops_is_a_change(app):
    returned = as_marathon_returns(app)
    returned["labels"]["stale"] = "yes"
    wanted = dict(copy.deepcopy(app), labels={k: v for k, v in returned["labels"].items() if k != "stale"})
    assert diff_app(wanted, returned)[0] == ["labels.stale"]


# -- the normalisation rules, one case each -----------------------------------------------------

DOCKER_BRIDGE_14 = {
    "id": "/int/web",
    "container": {
        "type": "DOCKER",
        "docker": {
            "image": "web:1",
            "network": "BRIDGE",
            "portMappings": [{"containerPort": 8080, "hostPort": 0}],
        },
    },
}
DOCKER_BRIDGE_15 = {
    "id": "/int/web",
    "networks": [{"mode": "container/bridge"}],
    "container": {
        "type": "DOCKER",
        "docker": {"image": "web:1", "forcePullImage": False, "privileged": False, "parameters": []},
        "portMappings": [{"containerPort": 8080, "hostPort": 0, "servicePort": 10004, "protocol": "tcp", "labels": {}}],
        "volumes": [],
    },
}
USER_14 = {
    "id": "/int/db",
    "ipAddress": {"networkName": "oak-net", "labels": {"zone": "a"}},
    "container": {"type": "DOCKER", "docker": {"image": "db:1", "network": "USER"}},
}
USER_15 = {
    "id": "/int/db",
    "networks": [{"mode": "container", "name": "oak-net", "labels": {"zone": "a"}}],
    "container": {"type": "DOCKER", "docker": {"image": "db:1", "privileged": False, "forcePullImage": False}},
}

CASES = [
    # (name, wanted, current, expected changed fields)
    ("1.4 bridge form equals the 1.5 form", DOCKER_BRIDGE_14, DOCKER_BRIDGE_15, []),
    (
        "1.5 bridge form equals what a 1.4 Marathon returns",
        DOCKER_BRIDGE_15,
        {
            "id": "/int/web",
            "container": {
                "type": "DOCKER",
                "docker": {
                    "image": "web:1",
                    "network": "BRIDGE",
                    "privileged": False,
                    "parameters": [],
                    "forcePullImage": False,
                    "portMappings": [{"containerPort": 8080, "hostPort": 0, "servicePort": 10004, "protocol": "tcp"}],
                },
                "volumes": [],
            },
        },
        [],
    ),
    ("1.4 USER + ipAddress equals networks container/name", USER_14, USER_15, []),
    (
        "another network name is a change",
        USER_14,
        dict(USER_15, networks=[{"mode": "container", "name": "elm-net", "labels": {"zone": "a"}}]),
        ["networks[0].name"],
    ),
    (
        "host mode is not bridge mode",
        DOCKER_BRIDGE_14,
        dict(DOCKER_BRIDGE_15, networks=[{"mode": "host"}]),
        ["networks[0].mode"],
    ),
    ("ports equal portDefinitions", {"ports": [0, 0]}, {"portDefinitions": [{"port": 10001}, {"port": 10002}]}, []),
    (
        "a fixed port is compared",
        {"ports": [10005]},
        {"portDefinitions": [{"port": 10001}]},
        ["portDefinitions[0].port"],
    ),
    (
        "uris equal fetch with its defaults",
        {"uris": ["http://x/a.tgz"]},
        {"fetch": [{"uri": "http://x/a.tgz", "extract": True, "executable": False, "cache": False}]},
        [],
    ),
    (
        "labels compare as maps, values as strings",
        {"labels": {"port": 8080, "on": True}},
        {"labels": {"on": "true", "port": "8080"}},
        [],
    ),
    (
        "an extra label on the server is a change",
        {"labels": {"a": "1"}},
        {"labels": {"a": "1", "b": "2"}},
        ["labels.b"],
    ),
    ("env compares as a map", {"env": {"A": 1, "B": "x"}}, {"env": {"B": "x", "A": "1"}}, []),
    ("env secrets compare", {"env": {"P": {"secret": "s1"}}}, {"env": {"P": {"secret": "s2"}}}, ["env.P"]),
    ("numbers compare by value", {"cpus": 1, "mem": 64}, {"cpus": 1.0, "mem": 64.0}, []),
    ("a scale is a change of instances only", {"instances": 3}, {"instances": 2}, ["instances"]),
    (
        "constraints: order, operator case and an empty value do not matter",
        {"constraints": [["rack", "group_by", "2"], ["hostname", "unique"]]},
        {"constraints": [["hostname", "UNIQUE", ""], ["rack", "GROUP_BY", "2"]]},
        [],
    ),
    (
        "a different constraint is a change",
        {"constraints": [["hostname", "UNIQUE"]]},
        {"constraints": [["hostname", "CLUSTER", "a"]]},
        ["constraints"],
    ),
    (
        "health checks get Marathon's defaults",
        {"healthChecks": [{"protocol": "HTTP"}]},
        {
            "healthChecks": [
                {
                    "protocol": "HTTP",
                    "path": "/",
                    "portIndex": 0,
                    "gracePeriodSeconds": 300,
                    "intervalSeconds": 60,
                    "timeoutSeconds": 20,
                    "maxConsecutiveFailures": 3,
                    "ignoreHttp1xx": False,
                    "delaySeconds": 15,
                }
            ]
        },
        [],
    ),
    (
        "a health check interval that differs",
        {"healthChecks": [{"protocol": "TCP", "intervalSeconds": 5}]},
        {"healthChecks": [{"protocol": "TCP", "portIndex": 0, "intervalSeconds": 10}]},
        ["healthChecks[0].intervalSeconds"],
    ),
    (
        "a command check does not get a port index",
        {"healthChecks": [{"protocol": "COMMAND", "command": {"value": "true"}}]},
        {"healthChecks": [{"protocol": "COMMAND", "command": {"value": "true"}, "gracePeriodSeconds": 300}]},
        [],
    ),
    ("a health check removed", {"healthChecks": []}, {"healthChecks": [{"protocol": "TCP"}]}, ["healthChecks"]),
    (
        "port mapping defaults and an assigned service port",
        {"container": {"docker": {"image": "a"}, "portMappings": [{"containerPort": 80}]}},
        {
            "container": {
                "type": "DOCKER",
                "docker": {"image": "a"},
                "portMappings": [{"containerPort": 80, "hostPort": 0, "protocol": "tcp", "servicePort": 10010}],
            }
        },
        [],
    ),
    (
        "a fixed service port is compared",
        {"container": {"docker": {"image": "a"}, "portMappings": [{"containerPort": 80, "servicePort": 10001}]}},
        {"container": {"docker": {"image": "a"}, "portMappings": [{"containerPort": 80, "servicePort": 10010}]}},
        ["container.portMappings[0].servicePort"],
    ),
    (
        "a port mapping name the definition dropped is a change",
        {"container": {"docker": {"image": "a"}, "portMappings": [{"containerPort": 80}]}},
        {"container": {"docker": {"image": "a"}, "portMappings": [{"containerPort": 80, "name": "http"}]}},
        ["container.portMappings[0].name"],
    ),
    (
        "docker parameters the definition dropped are a change",
        {"container": {"docker": {"image": "a"}}},
        {"container": {"docker": {"image": "a", "parameters": [{"key": "net", "value": "oak-net"}]}}},
        ["container.docker.parameters"],
    ),
    (
        "the default port mapping Marathon adds to a bridge app that gives none",
        {"container": {"docker": {"image": "a"}}},
        {
            "container": {
                "docker": {"image": "a"},
                "portMappings": [{"containerPort": 0, "hostPort": 0, "name": "default", "servicePort": 10007}],
            }
        },
        [],
    ),
    (
        "a real port mapping the definition dropped is a change",
        {"container": {"docker": {"image": "a"}}},
        {"container": {"docker": {"image": "a"}, "portMappings": [{"containerPort": 80, "hostPort": 0}]}},
        ["container.portMappings"],
    ),
    (
        "docker parameters compare in order",
        {"container": {"docker": {"image": "a", "parameters": [{"key": "ip", "value": "10.0.0.2"}]}}},
        {"container": {"docker": {"image": "a", "parameters": [{"key": "ip", "value": "10.0.0.3"}]}}},
        ["container.docker.parameters[0].value"],
    ),
    (
        "a field Marathon adds that we do not know is not a change",
        {"container": {"docker": {"image": "a"}}},
        {"container": {"docker": {"image": "a", "somethingNew": {"x": 1}}}},
        [],
    ),
    (
        "volumes compare without order",
        {
            "container": {
                "volumes": [
                    {"containerPath": "/b", "hostPath": "/y", "mode": "RO"},
                    {"containerPath": "/a", "hostPath": "/x", "mode": "RW"},
                ]
            }
        },
        {
            "container": {
                "volumes": [
                    {"containerPath": "/a", "hostPath": "/x", "mode": "RW"},
                    {"containerPath": "/b", "hostPath": "/y", "mode": "RO"},
                ]
            }
        },
        [],
    ),
    (
        "upgradeStrategy given in part gets the other default",
        {"upgradeStrategy": {"minimumHealthCapacity": 0.5}},
        {"upgradeStrategy": {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 1}},
        [],
    ),
    (
        "upgradeStrategy that differs from the default",
        {"upgradeStrategy": {"minimumHealthCapacity": 0.5}},
        {"upgradeStrategy": {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0}},
        ["upgradeStrategy.maximumOverCapacity"],
    ),
    ("a field the definition does not give is not compared", {"cmd": "sleep 1"}, {"cmd": "sleep 1", "mem": 999}, []),
    ("read-only fields are ignored", {"cmd": "a", "version": "x", "tasksRunning": 9}, {"cmd": "a", "version": "y"}, []),
    ("a field the server lacks", {"args": ["a"]}, {"cmd": "x"}, ["args"]),
    (
        "acceptedResourceRoles compare as a set",
        {"acceptedResourceRoles": ["b", "a"]},
        {"acceptedResourceRoles": ["a", "b"]},
        [],
    ),
]


@pytest.mark.parametrize(("wanted", "current", "expected"), [pytest.param(c[1], c[2], c[3], id=c[0]) for c in CASES])
def test_rule(wanted, current, expected):
    changed, before, after = diff_app(wanted, current)
    assert changed == expected
    top = sorted({path.split(".")[0].split("[")[0] for path in expected})
    assert sorted(before) == top
    assert sorted(after) == top


def test_diff_values_are_the_canonical_top_level_fields():
    changed, before, after = diff_app(DOCKER_BRIDGE_14, dict(DOCKER_BRIDGE_15, networks=[{"mode": "host"}]))
    assert changed == ["networks[0].mode"]
    assert before == {"networks": [{"mode": "host"}]}
    assert after == {"networks": [{"mode": "container/bridge"}]}


# -- ids and validation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [("int/redis", "/int/redis"), ("/int/redis/", "/int/redis"), ("/a.b/c-d/e1", "/a.b/c-d/e1"), (" /x ", "/x")],
)
def test_app_ids_are_made_absolute(given, expected):
    assert normalize_app_id(given) == expected


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("/Int/Redis", "is not valid: a Marathon app id"),
        ("/int/re_dis", "is not valid: a Marathon app id"),
        ("/int/-redis", "is not valid: a Marathon app id"),
        ("/int//redis", "is not valid: a Marathon app id"),
        ("/", "an app id is required"),
        ("", "an app id is required"),
        (None, "an app id is required"),
        ("/int/restart", "reserved by Marathon"),
    ],
)
def test_bad_app_ids_are_refused_naming_the_option(given, message):
    with pytest.raises(DcosError) as error:
        normalize_app_id(given, option="apps[2].app_id")
    assert error.value.msg.startswith("apps[2].app_id: ")
    assert message in error.value.msg


@pytest.mark.parametrize(
    ("definition", "message"),
    [
        ({"instances": -1}, "definition.instances: must be 0 or more, got -1"),
        ({"instances": "two"}, "definition.instances: must be an integer, got 'two'"),
        ({"instances": True}, "definition.instances: must be an integer"),
        ({"cpus": "lots"}, "definition.cpus: must be a number"),
        ({"mem": -5}, "definition.mem: must be 0 or more"),
        ({"cmd": ["sleep", "1"]}, "definition.cmd must be a string"),
        ({"args": "sleep 1"}, "definition.args must be a list of strings"),
        ({"labels": ["a"]}, "definition.labels must be a map"),
        ({"labels": {"a": {"b": 1}}}, "definition.labels.a must be a string"),
        ({"env": {"A": ["x"]}}, "definition.env.A must be a string"),
        ({"constraints": [["hostname"]]}, "definition.constraints[0] must be a list"),
        ({"container": "docker"}, "definition.container must be a map"),
        ({"container": {"docker": {"image": 5}}}, "definition.container.docker.image must be a string"),
        ({"container": {"docker": {"parameters": ["net=x"]}}}, "definition.container.docker.parameters must be a list"),
        (
            {"container": {"portMappings": [{"containerPort": "80"}]}},
            "definition.container.portMappings[0].containerPort: must be an integer",
        ),
        (
            {"healthChecks": [{"intervalSeconds": "5"}]},
            "definition.healthChecks[0].intervalSeconds: must be an integer",
        ),
        ({"id": "/other"}, "definition.id '/other' does not match app_id '/int/web'"),
        ("cmd: x", "definition must be a map"),
    ],
)
def test_bad_definitions_are_refused_naming_the_field(definition, message):
    with pytest.raises(DcosError) as error:
        prepare_definition("/int/web", definition)
    assert message in error.value.msg


def test_the_body_sent_keeps_the_users_form_with_id_and_overrides():
    body = prepare_definition(
        "/int/web",
        {
            "id": "int/web/",
            "instances": 2,
            "labels": {"port": 8080},
            "container": {"docker": {"image": "a", "network": "BRIDGE", "parameters": [{"key": "ip", "value": 1}]}},
            "version": "2026-01-01T00:00:00.000Z",
            "tasks": [],
        },
        instances=5,
    )
    assert body == {
        "id": "/int/web",
        "instances": 5,
        "labels": {"port": "8080"},
        "container": {"docker": {"image": "a", "network": "BRIDGE", "parameters": [{"key": "ip", "value": "1"}]}},
    }


# -- the change one app needs -----------------------------------------------------------------------------------

WEB = {"cmd": "sleep 100", "instances": 2, "labels": {"env": "int"}}


def test_change_create_update_and_nothing():
    create = app_change("/int/web", "present", None, definition=WEB)
    assert (create.action, create.changed_fields, create.body["id"]) == ("create", ["app"], "/int/web")
    current = as_marathon_returns(dict(WEB, id="/int/web"))
    assert not app_change("/int/web", "present", current, definition=WEB).changed
    update = app_change("/int/web", "present", current, definition=dict(WEB, labels={"env": "fun"}))
    assert (update.action, update.changed_fields, update.restart) == ("update", ["labels.env"], False)


def test_change_stop_scales_to_zero_and_keeps_the_definition():
    current = as_marathon_returns(dict(WEB, id="/int/web"))
    change = app_change("/int/web", "stopped", current)
    assert change.action == "update"
    assert change.body == {"id": "/int/web", "instances": 0}
    assert change.changed_fields == ["instances"]
    current["instances"] = 0
    assert not app_change("/int/web", "stopped", current).changed


def test_change_restart_always_restarts_unless_the_update_replaces_the_tasks():
    current = as_marathon_returns(dict(WEB, id="/int/web"))
    same = app_change("/int/web", "restarted", current, definition=WEB)
    assert (same.action, same.restart) == (None, True)
    scaled = app_change("/int/web", "restarted", current, instances=4)
    assert (scaled.action, scaled.restart) == ("update", True)
    relabelled = app_change("/int/web", "restarted", current, definition=dict(WEB, labels={"env": "x"}))
    assert (relabelled.action, relabelled.restart) == ("update", False)


def test_change_absent():
    assert not app_change("/int/web", "absent", None).changed
    change = app_change("/int/web", "absent", {"id": "/int/web"})
    assert (change.action, change.before, change.after) == ("delete", {"app": {}}, {"app": None})


def test_change_needs_a_definition_to_create():
    with pytest.raises(DcosError, match="definition: app /int/web does not exist; a definition is needed"):
        app_change("/int/web", "present", None, instances=2)


def test_change_rollback_compares_with_the_stored_version():
    old = as_marathon_returns(dict(WEB, id="/int/web", labels={"env": "old"}))
    old["version"] = "2026-11-29T10:00:00.000Z"
    current = as_marathon_returns(dict(WEB, id="/int/web"))
    change = app_change("/int/web", "present", current, version_app=old)
    assert change.action == "rollback"
    assert change.body == {"id": "/int/web", "version": "2026-11-29T10:00:00.000Z"}
    assert change.changed_fields == ["labels.env"]
    assert not app_change("/int/web", "present", old, version_app=old).changed
    with pytest.raises(DcosError, match="do not combine it with instances"):
        app_change("/int/web", "present", current, version_app=old, instances=1)


# -- tasks and endpoints ------------------------------------------------------------------------


def _tasks_file(name):
    return json.loads((REFERENCE / "v1.11" / "rest-api" / "public" / "api" / "v2" / "examples" / name).read_text())


def test_endpoints_of_the_reference_tasks_by_host_port():
    tasks = _tasks_file("app_tasks.json")["tasks"]
    app = {"id": "/minecraft/survival-world", "tasks": tasks, "healthChecks": []}
    assert app_endpoints(app, healthy_only=False) == []  # the example task is still TASK_STAGING
    tasks[0]["state"] = "TASK_RUNNING"
    assert app_endpoints(app) == ["srv7.hw.ca1.mesosphere.com:31756"]


def test_endpoints_keep_only_healthy_running_tasks_unless_asked():
    checks = [{"protocol": "HTTP"}]
    tasks = [
        {"host": "10.0.0.1", "ports": [31000], "state": "TASK_RUNNING", "healthCheckResults": [{"alive": True}]},
        {"host": "10.0.0.2", "ports": [31001], "state": "TASK_RUNNING", "healthCheckResults": [{"alive": False}]},
        {"host": "10.0.0.3", "ports": [31002], "state": "TASK_RUNNING", "healthCheckResults": []},
        {"host": "10.0.0.4", "ports": [31003], "state": "TASK_STAGING"},
    ]
    app = {"healthChecks": checks, "tasks": tasks}
    assert app_endpoints(app) == ["10.0.0.1:31000"]
    assert app_endpoints(app, healthy_only=False) == ["10.0.0.1:31000", "10.0.0.2:31001", "10.0.0.3:31002"]
    assert not task_is_healthy(tasks[3], [])


def test_endpoints_on_a_container_network_use_the_task_ip_and_container_port():
    app = {
        "networks": [{"mode": "container", "name": "oak-net"}],
        "container": {"portMappings": [{"containerPort": 6379}, {"containerPort": 8080}]},
        "tasks": [{"host": "agent1", "ports": [], "ipAddresses": [{"ipAddress": "10.199.45.7", "protocol": "IPv4"}]}],
    }
    assert app_endpoints(app) == ["10.199.45.7:6379"]
    assert app_endpoints(app, port_index=1) == ["10.199.45.7:8080"]
    legacy = dict(app, networks=None, ipAddress={"networkName": "oak-net"})
    assert app_endpoints(legacy) == ["10.199.45.7:6379"]
    # The agent has no host port for it: no endpoint rather than a bare, wrong address.
    assert app_endpoints(app, address="host") == []


def test_endpoints_by_task_ip_on_the_host_network():
    app = {"tasks": [{"host": "agent1", "ports": [31005], "ipAddresses": [{"ipAddress": "10.199.45.9"}]}]}
    assert app_endpoints(app) == ["agent1:31005"]
    assert app_endpoints(app, address="task_ip") == ["10.199.45.9:31005"]


# -- hostile definitions (issue 10) -------------------------------------------------------------

INF, NAN = float("inf"), float("nan")


@pytest.mark.parametrize(
    ("definition", "message"),
    [
        ({"cpus": INF}, "definition.cpus: must be a finite number, got inf"),
        ({"mem": NAN}, "definition.mem: must be a finite number, got nan"),
        ({"disk": -INF}, "definition.disk: must be a finite number, got -inf"),
        ({"gpus": INF}, "definition.gpus: must be an integer, got inf"),
        ({"instances": INF}, "definition.instances: must be an integer, got inf"),
        ({"backoffFactor": NAN}, "definition.backoffFactor: must be a finite number, got nan"),
        ({"backoffFactor": 0.5}, "definition.backoffFactor: must be 1.0 or more, got 0.5"),
        ({"cpus": 0}, "definition.cpus: must be 0.001 or more, got 0"),
        ({"instances": 2**31}, "definition.instances: must be 2147483647 or less"),
        (
            {"upgradeStrategy": {"minimumHealthCapacity": 2}},
            "definition.upgradeStrategy.minimumHealthCapacity: must be 1",
        ),
        ({"upgradeStrategy": {"maximumOverCapacity": NAN}}, "upgradeStrategy.maximumOverCapacity: must be a finite"),
        # a number no specific check knows about: still no inf/nan anywhere
        ({"unreachableStrategy": {"inactiveAfterSeconds": INF}}, "definition.unreachableStrategy.inactiveAfterSeconds"),
        ({"healthChecks": [{"gracePeriodSeconds": NAN}]}, "definition.healthChecks[0].gracePeriodSeconds: must be"),
        # ports, wherever one is sent
        (
            {"portDefinitions": [{"port": 70000}]},
            "definition.portDefinitions[0].port: must be 65535 or less, got 70000",
        ),
        ({"portDefinitions": [{"port": -1}]}, "definition.portDefinitions[0].port: must be 0 or more, got -1"),
        ({"ports": [8080, 65536]}, "definition.ports[1]: must be 65535 or less, got 65536"),
        ({"ports": ["80"]}, "definition.ports[0]: must be an integer, got '80'"),
        (
            {"container": {"portMappings": [{"containerPort": 80, "hostPort": 65536}]}},
            "definition.container.portMappings[0].hostPort: must be 65535 or less",
        ),
        (
            {"container": {"portMappings": [{"containerPort": 80, "servicePort": -5}]}},
            "definition.container.portMappings[0].servicePort: must be 0 or more",
        ),
        (
            {"container": {"docker": {"image": "a", "portMappings": [{"containerPort": 99999}]}}},
            "definition.container.docker.portMappings[0].containerPort: must be 65535 or less",
        ),
        ({"healthChecks": [{"protocol": "TCP", "port": 70000}]}, "definition.healthChecks[0].port: must be 65535 or"),
        ({"healthChecks": [{"portIndex": -1}]}, "definition.healthChecks[0].portIndex: must be 0 or more, got -1"),
        ({"healthChecks": "HTTP"}, "definition.healthChecks must be a list of maps"),
        ({"portDefinitions": [8080]}, "definition.portDefinitions must be a list of maps"),
        ({"upgradeStrategy": "rolling"}, "definition.upgradeStrategy must be a map, got str"),
        # fields Marathon's schema does not have (Marathon refuses them)
        ({"cpu": 1}, "definition.cpu: not a field of a Marathon app definition (did you mean cpus?)"),
        ({"whatever": 1}, "definition.whatever: not a field of a Marathon app definition; Marathon refuses it"),
    ],
)
def test_hostile_definitions_are_refused_naming_the_field(definition, message):
    with pytest.raises(DcosError) as error:
        prepare_definition("/int/web", dict({"cmd": "x"}, **definition))
    assert message in error.value.msg


def test_whole_floats_of_integer_fields_are_sent_as_integers():
    body = prepare_definition("/int/web", {"cmd": "x", "instances": 2.0, "portDefinitions": [{"port": 80.0}]})
    assert body["instances"] == 2 and isinstance(body["instances"], int)
    assert body["portDefinitions"] == [{"port": 80}]
    assert json.dumps(body, allow_nan=False)


def test_an_app_read_back_from_marathon_app_info_sends_only_marathons_fields():
    info = as_marathon_returns({"id": "/int/web", "cmd": "x", "instances": 2})
    info.update(
        versions=["2026-11-29T16:00:01.000Z"],  # added by marathon_app_info
        tasksStats={"totalSummary": {}},
        lastTaskFailure={"state": "TASK_FAILED"},
        readinessCheckResults=[],
    )
    body = prepare_definition("/int/web", info)
    assert set(body) <= APP_FIELDS
    assert not {"versions", "tasksStats", "tasks", "tasksRunning", "deployments", "version"} & set(body)


def test_a_trailing_newline_does_not_sneak_into_an_app_id():
    with pytest.raises(DcosError, match="is not valid: a Marathon app id"):
        normalize_app_id("/int/web\n/x")
    assert normalize_app_id("/int/web\n") == "/int/web"


@pytest.mark.parametrize(
    ("port_index", "message"),
    [
        (-1, "port_index: must be 0 or more, got -1"),
        (1, "port_index: 1 is out of range: app /int/web has 1 port(s) (port_index 0 to 0)"),
        (True, "port_index: must be an integer, got True"),
    ],
)
def test_a_port_index_the_app_does_not_have_is_an_error_not_a_wrong_endpoint(port_index, message):
    app = {"id": "/int/web", "tasks": [{"host": "agent1", "ports": [31005]}]}
    with pytest.raises(DcosError) as error:
        app_endpoints(app, port_index=port_index)
    assert error.value.msg == message


def test_an_app_without_ports_gives_bare_addresses_for_port_index_0_only():
    app = {"id": "/int/web", "tasks": [{"host": "agent1", "ports": []}]}
    assert app_endpoints(app) == ["agent1"]
    with pytest.raises(DcosError, match="port_index: 1 is out of range: app /int/web has 0 port"):
        app_endpoints(app, port_index=1)


def test_a_task_without_its_port_yet_gives_no_endpoint():
    app = {
        "id": "/int/web",
        "portDefinitions": [{"port": 0}, {"port": 0}],
        "tasks": [{"host": "agent1", "ports": [31001, 31002]}, {"host": "agent2", "ports": []}],
    }
    assert app_endpoints(app, port_index=1) == ["agent1:31002"]
