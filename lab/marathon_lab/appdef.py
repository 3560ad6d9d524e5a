# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""App definitions: type checks, validation (422 details), legacy-field normalisation, defaults.

The lab stores apps in Marathon 1.5+ canonical form: ``networks``, ``container.portMappings``,
``portDefinitions`` and ``fetch``. The 1.4 input forms (``ipAddress``, ``container.docker.network``,
``container.docker.portMappings``, ``ports``, ``uris``) are accepted and rewritten the way 1.5+ does,
and never echoed.
"""

from __future__ import annotations

import copy
import logging
import math
import re

from .errors import ValidationFailed

LOG = logging.getLogger("marathon_lab.appdef")

PATH_ID_RE = re.compile(
    r"^(\/?((\.\.)|(([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])\.)*([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9]))?($|\/))+$"
)
PATH_ID_PATTERN = PATH_ID_RE.pattern
RESERVED_SUFFIXES = ("restart", "tasks", "versions")
HEALTH_PROTOCOLS = ("HTTP", "HTTPS", "TCP", "COMMAND", "MESOS_HTTP", "MESOS_HTTPS", "MESOS_TCP")
NETWORK_MODES = ("host", "container", "container/bridge")
KILL_SELECTIONS = ("YOUNGEST_FIRST", "OLDEST_FIRST")

# Top-level fields whose JSON type is checked ("Invalid JSON" 422 with error.expected.*).
_TYPES = {
    "id": str,
    "cmd": str,
    "args": list,
    "user": str,
    "env": dict,
    "instances": int,
    "cpus": float,
    "mem": float,
    "disk": float,
    "gpus": int,
    "executor": str,
    "constraints": list,
    "fetch": list,
    "uris": list,
    "ports": list,
    "portDefinitions": list,
    "requirePorts": bool,
    "backoffSeconds": int,
    "backoffFactor": float,
    "maxLaunchDelaySeconds": int,
    "container": dict,
    "healthChecks": list,
    "readinessChecks": list,
    "dependencies": list,
    "upgradeStrategy": dict,
    "labels": dict,
    "acceptedResourceRoles": list,
    "ipAddress": dict,
    "networks": list,
    "version": str,
    "residency": dict,
    "secrets": dict,
    "taskKillGracePeriodSeconds": int,
    "unreachableStrategy": (dict, str),
    "killSelection": str,
    "tty": bool,
    "role": str,
}
_EXPECTED = {str: "jsstring", int: "jsnumber", float: "jsnumber", bool: "jsboolean", list: "jsarray", dict: "jsobject"}

# Fields the lab keeps as given (after type checks) besides the ones it rewrites.
_RUNTIME_FIELDS = (
    "version",
    "versionInfo",
    "tasksStaged",
    "tasksRunning",
    "tasksHealthy",
    "tasksUnhealthy",
    "deployments",
    "tasks",
    "lastTaskFailure",
    "readinessCheckResults",
    "taskStats",
)

DEFAULTS = {
    "backoffFactor": 1.15,
    "backoffSeconds": 1,
    "cpus": 1.0,
    "disk": 0.0,
    "env": {},
    "executor": "",
    "instances": 1,
    "labels": {},
    "maxLaunchDelaySeconds": 300,
    "mem": 128.0,
    "gpus": 0,
    "requirePorts": False,
    "upgradeStrategy": {"maximumOverCapacity": 1.0, "minimumHealthCapacity": 1.0},
    "killSelection": "YOUNGEST_FIRST",
    "unreachableStrategy": {"inactiveAfterSeconds": 0, "expungeAfterSeconds": 0},
    "healthChecks": [],
    "readinessChecks": [],
    "dependencies": [],
    "constraints": [],
    "fetch": [],
    "secrets": {},
    "role": "*",
}

READINESS_DEFAULTS = {
    "name": "readinessCheck",
    "protocol": "HTTP",
    "path": "/",
    "portName": "http-api",
    "intervalSeconds": 30,
    "timeoutSeconds": 10,
    "httpStatusCodesForReady": [200],
    "preserveLastResponse": False,
}

# The properties Marathon 1.11's RAML declares (types/app.raml, appContainer.raml, network.raml,
# healthCheck.raml, readinessCheck.raml). Marathon reads a body into the generated RAML types,
# whose readers look up the declared properties only: anything else is dropped, never stored and
# never echoed (RAML object types allow additional properties unless they say otherwise, and these
# do not). A spec is (declared names, {name: nested spec}); a list spec is ("[]", item spec).
_MAPPING = (
    {"containerPort", "hostPort", "labels", "name", "protocol", "servicePort", "networkNames"},
    {},
)
_KNOWN = (
    {
        "id", "acceptedResourceRoles", "args", "backoffFactor", "backoffSeconds", "cmd", "constraints",
        "container", "cpus", "dependencies", "disk", "env", "executor", "executorResources", "fetch",
        "healthChecks", "check", "instances", "labels", "maxLaunchDelaySeconds", "mem", "gpus", "ipAddress",
        "networks", "ports", "portDefinitions", "readinessChecks", "residency", "resourceLimits",
        "requirePorts", "secrets", "taskKillGracePeriodSeconds", "upgradeStrategy", "uris", "user", "version",
        "versionInfo", "killSelection", "unreachableStrategy", "tty", "role",
    },
    {
        "container": (
            {"type", "docker", "linuxInfo", "volumes", "portMappings"},
            {
                "docker": (
                    {"credential", "pullConfig", "forcePullImage", "image", "network", "parameters",
                     "portMappings", "privileged"},
                    {"portMappings": ("[]", _MAPPING), "parameters": ("[]", ({"key", "value"}, {}))},
                ),
                "portMappings": ("[]", _MAPPING),
            },
        ),
        "portDefinitions": ("[]", ({"port", "labels", "name", "protocol"}, {})),
        "networks": ("[]", ({"name", "mode", "labels"}, {})),
        "ipAddress": ({"discovery", "groups", "labels", "networkName"}, {}),
        "healthChecks": (
            "[]",
            (
                {"command", "gracePeriodSeconds", "ignoreHttp1xx", "intervalSeconds", "maxConsecutiveFailures",
                 "path", "port", "portIndex", "protocol", "ipProtocol", "timeoutSeconds", "delaySeconds"},
                {},
            ),
        ),
        "readinessChecks": ("[]", (set(READINESS_DEFAULTS), {})),
        "upgradeStrategy": ({"maximumOverCapacity", "minimumHealthCapacity"}, {}),
        "residency": ({"relaunchEscalationTimeoutSeconds", "taskLostBehavior"}, {}),
    },
)  # fmt: skip


def _drop_unknown(value, spec, path, dropped):
    """Remove, in place, what ``spec`` does not declare; record the JSON paths of what went."""
    if spec[0] == "[]":
        if isinstance(value, list):
            for index, item in enumerate(value):
                _drop_unknown(item, spec[1], f"{path}({index})", dropped)
        return
    if not isinstance(value, dict):
        return
    names, nested = spec
    for key in sorted(set(value) - names):
        dropped.append(f"{path}/{key}")
        del value[key]
    for key, sub in nested.items():
        if key in value:
            _drop_unknown(value[key], sub, f"{path}/{key}", dropped)


def known_fields(body):
    """``body`` without the fields Marathon 1.11 does not declare (a copy), as Marathon reads it."""
    if not isinstance(body, dict):
        return body
    data = copy.deepcopy(body)
    dropped = []
    _drop_unknown(data, _KNOWN, "", dropped)
    if dropped:
        LOG.warning("dropped fields Marathon does not know (app %s): %s", body.get("id"), ", ".join(dropped))
    return data


HEALTH_DEFAULTS = {
    "gracePeriodSeconds": 300,
    "intervalSeconds": 60,
    "timeoutSeconds": 20,
    "maxConsecutiveFailures": 3,
    "delaySeconds": 15,
}


def _type_ok(value, expected):
    if isinstance(expected, tuple):
        return any(_type_ok(value, e) for e in expected)
    if expected is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if expected is int:
        if isinstance(value, bool):
            return False
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    return isinstance(value, expected)


def type_check(body, allow_missing_id=True):
    """Play-JSON style shape errors: 422 ``Invalid JSON`` with ``error.expected.*``."""
    if not isinstance(body, dict):
        raise ValidationFailed([{"path": "/", "errors": ["error.expected.jsobject"]}], "Invalid JSON")
    details = []
    for key, expected in _TYPES.items():
        if key in body and body[key] is not None and not _type_ok(body[key], expected):
            name = _EXPECTED[expected[0] if isinstance(expected, tuple) else expected]
            details.append({"path": "/" + key, "errors": [f"error.expected.{name}"]})
    if not allow_missing_id and "id" not in body:
        details.append({"path": "/id", "errors": ["error.path.missing"]})
    if details:
        raise ValidationFailed(details, "Invalid JSON")


def canonical_id(raw, base="/"):
    """Make an app ID absolute, resolving ``.`` and ``..`` against ``base``."""
    value = raw.strip()
    if not value.startswith("/"):
        value = base.rstrip("/") + "/" + value
    parts = []
    for part in value.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
            continue
        parts.append(part)
    return "/" + "/".join(parts)


def check_id(raw, path="/id"):
    if not isinstance(raw, str) or not raw or not PATH_ID_RE.match(raw):
        raise ValidationFailed([{"path": path, "errors": [f"must fully match regular expression '{PATH_ID_PATTERN}'"]}])
    app_id = canonical_id(raw)
    if app_id == "/":
        raise ValidationFailed([{"path": path, "errors": ["Path must contain at least one path element"]}])
    last = app_id.rsplit("/", 1)[-1]
    if last in RESERVED_SUFFIXES:
        raise ValidationFailed(
            [
                {
                    "path": path,
                    "errors": [
                        f"must not end with any of the following reserved words: {', '.join(RESERVED_SUFFIXES)}"
                    ],
                }
            ]
        )
    return app_id


def _legacy_network(container, body):
    """Turn 1.4 network fields into ``networks`` (1.5+)."""
    docker = (container or {}).get("docker") or {}
    mode = docker.get("network")
    ip_address = body.get("ipAddress")
    if mode is None and ip_address is None:
        return None
    if ip_address is not None or mode == "USER":
        network = {"mode": "container"}
        name = (ip_address or {}).get("networkName")
        if name:
            network["name"] = name
        labels = (ip_address or {}).get("labels")
        if labels:
            network["labels"] = labels
        return [network]
    if mode == "BRIDGE":
        return [{"mode": "container/bridge"}]
    if mode == "HOST":
        return [{"mode": "host"}]
    return []


class _Normaliser:
    """One pass over an app body; ``details`` collects every 422 problem before failing."""

    def __init__(self, body, service_ports):
        body = known_fields({k: v for k, v in body.items() if k not in _RUNTIME_FIELDS})
        self.app = {k: v for k, v in body.items() if v is not None}
        self.service_ports = service_ports
        self.details = []
        self.legacy_networks = _legacy_network(self.app.get("container"), self.app)
        self.host_mode = True

    def err(self, path, message):
        self.details.append({"path": path, "errors": [message]})

    def run(self):
        self.app.pop("ipAddress", None)
        self.container()
        self.networks()
        self.ports()
        uris = self.app.pop("uris", None)
        if uris is not None and "fetch" not in self.app:
            self.app["fetch"] = [{"uri": u, "extract": True, "executable": False, "cache": False} for u in uris]
        self.scalars()
        self.health_checks()
        self.readiness_checks()
        parent = self.app.get("id", "/").rsplit("/", 1)[0] or "/"
        self.app["dependencies"] = [
            canonical_id(d, parent) for d in self.app.get("dependencies") or [] if isinstance(d, str)
        ]
        if self.details:
            raise ValidationFailed(self.details)
        app = self.app
        for key, value in DEFAULTS.items():
            app.setdefault(key, copy.deepcopy(value))
        for key in ("cpus", "mem", "disk", "backoffFactor"):
            app[key] = float(app[key])
        for key in ("instances", "gpus", "backoffSeconds", "maxLaunchDelaySeconds"):
            app[key] = int(app[key])
        return app

    def container(self):
        if self.app.get("container") is None:
            return
        container = dict(self.app["container"])
        container.setdefault("type", "DOCKER")
        if container.get("docker") is not None:
            container["docker"] = self.docker(container, dict(container["docker"]))
        elif container["type"] == "DOCKER":
            self.err("/container/docker", "must not be empty")
        if container["type"] not in ("DOCKER", "MESOS"):
            self.err("/container/type", "error.expected.validenumvalue")
        container.setdefault("volumes", [])
        for index, volume in enumerate(container["volumes"]):
            if not isinstance(volume, dict) or not volume.get("containerPath"):
                self.err(f"/container/volumes({index})/containerPath", "must not be empty")
            elif volume.get("mode", "RW") not in ("RW", "RO"):
                self.err(f"/container/volumes({index})/mode", "error.expected.validenumvalue")
        self.app["container"] = container

    def docker(self, container, docker):
        docker.pop("network", None)
        legacy_mappings = docker.pop("portMappings", None)
        if legacy_mappings is not None and "portMappings" not in container:
            container["portMappings"] = legacy_mappings
        docker.setdefault("forcePullImage", False)
        docker.setdefault("privileged", False)
        docker.setdefault("parameters", [])
        if not docker.get("image"):
            self.err("/container/docker/image", "must not be empty")
        params = docker.get("parameters")
        if not isinstance(params, list):
            self.err("/container/docker/parameters", "error.expected.jsarray")
            return docker
        for index, param in enumerate(params):
            if not isinstance(param, dict) or not isinstance(param.get("key"), str) or "value" not in param:
                self.err(f"/container/docker/parameters({index})", "must have a string key and a value")
        return docker

    def networks(self):
        networks = self.app.get("networks")
        if networks is None:
            networks = self.legacy_networks
        if not networks:
            networks = [{"mode": "host"}]
        for index, network in enumerate(networks):
            mode = network.get("mode", "container") if isinstance(network, dict) else None
            if mode not in NETWORK_MODES:
                self.err(f"/networks({index})/mode", "error.expected.validenumvalue")
            else:
                network["mode"] = mode
        self.app["networks"] = networks
        modes = [n.get("mode") for n in networks if isinstance(n, dict)]
        self.host_mode = all(m == "host" for m in modes)
        if len(networks) > 1 and "host" in modes:
            self.err("/networks", "host networking may not be combined with other networks")

    def ports(self):
        """Legacy ``ports`` become portDefinitions; bridge/container apps use container.portMappings."""
        app = self.app
        ports = app.pop("ports", None)
        if ports is not None and "portDefinitions" not in app:
            app["portDefinitions"] = [{"port": p, "protocol": "tcp"} for p in ports]
        if self.host_mode:
            self.port_definitions()
        else:
            self.port_mappings()

    def port_definitions(self):
        app = self.app
        container = app.get("container")
        if container is not None:
            if container.get("portMappings"):
                self.err(
                    "/container/portMappings", "Port mappings are only allowed with container or bridge networking"
                )
            container.pop("portMappings", None)
        if "portDefinitions" not in app:
            app["portDefinitions"] = [{"port": 0, "protocol": "tcp", "name": "default"}]
        definitions = []
        for index, raw in enumerate(app["portDefinitions"]):
            if not isinstance(raw, dict) or not isinstance(raw.get("port", 0), int):
                self.err(f"/portDefinitions({index})/port", "error.expected.jsnumber")
                continue
            item = {"port": 0, "protocol": "tcp", "labels": {}}
            item.update(raw)
            if self.service_ports is not None:
                item["port"] = self.service_ports(item["port"])
            definitions.append(item)
        app["portDefinitions"] = definitions

    def port_mappings(self):
        app = self.app
        if app.get("portDefinitions") and self.legacy_networks is None:
            self.err("/portDefinitions", "Port definitions must be empty when using container networking")
        # With the 1.4 network fields, 1.5+ normalisation drops port definitions instead.
        app["portDefinitions"] = []
        container = app.setdefault("container", {"type": "MESOS", "volumes": []})
        mappings = container.get("portMappings")
        if mappings is None:
            mappings = [{"containerPort": 0, "hostPort": 0, "protocol": "tcp", "name": "default"}]
        bridge = "container/bridge" in [n.get("mode") for n in app["networks"]]
        fixed = []
        for index, raw in enumerate(mappings):
            if not isinstance(raw, dict):
                self.err(f"/container/portMappings({index})", "error.expected.jsobject")
                continue
            item = {"containerPort": 0, "protocol": "tcp", "servicePort": 0, "labels": {}}
            item.update(raw)
            if "hostPort" not in item and bridge:
                item["hostPort"] = 0
            if self.service_ports is not None:
                item["servicePort"] = self.service_ports(item["servicePort"])
            fixed.append(item)
        container["portMappings"] = fixed

    def scalars(self):
        app = self.app
        container = app.get("container")
        has_cmd, has_args = bool(app.get("cmd")), bool(app.get("args"))
        if not (has_cmd != has_args or (container and container.get("docker"))):
            self.err("/", "AppDefinition must either contain one of 'cmd' or 'args', and/or a 'container'.")
        for key in ("instances", "gpus", "backoffSeconds", "maxLaunchDelaySeconds"):
            if key in app and app[key] < 0:
                self.err("/" + key, f"got {app[key]}, expected 0 or more")
        for key in ("cpus", "mem", "disk"):
            if key in app and app[key] < 0:
                self.err("/" + key, f"got {app[key]}, expected 0.0 or more")
        if "backoffFactor" in app and app["backoffFactor"] < 1:
            self.err("/backoffFactor", f"got {app['backoffFactor']}, expected 1.0 or more")
        if app.get("upgradeStrategy") is not None:
            self.upgrade_strategy()
        if app.get("killSelection", "YOUNGEST_FIRST") not in KILL_SELECTIONS:
            self.err("/killSelection", "error.expected.validenumvalue")
        for key, value in (app.get("env") or {}).items():
            if not isinstance(value, (str, dict)):
                self.err(f"/env/{key}", "error.expected.jsstring")
        for key, value in (app.get("labels") or {}).items():
            if not isinstance(value, str):
                self.err(f"/labels/{key}", "error.expected.jsstring")

    def upgrade_strategy(self):
        strategy = dict(DEFAULTS["upgradeStrategy"], **self.app["upgradeStrategy"])
        for key in ("minimumHealthCapacity", "maximumOverCapacity"):
            value = strategy.get(key)
            if not _type_ok(value, float):
                self.err(f"/upgradeStrategy/{key}", "error.expected.jsnumber")
            elif value > 1:
                self.err(f"/upgradeStrategy/{key}", "is greater than 1")
            elif value < 0:
                self.err(f"/upgradeStrategy/{key}", "is less than 0")
            else:
                strategy[key] = float(value)
        self.app["upgradeStrategy"] = strategy

    def health_checks(self):
        app = self.app
        if self.host_mode:
            port_count = len(app["portDefinitions"])
        else:
            port_count = len((app.get("container") or {}).get("portMappings") or [])
        checks = []
        for index, raw in enumerate(app.get("healthChecks") or []):
            if not isinstance(raw, dict):
                self.err(f"/healthChecks({index})", "error.expected.jsobject")
                continue
            check = self.health_check(index, dict(raw), port_count)
            if check is not None:
                checks.append(check)
        app["healthChecks"] = checks

    def health_check(self, index, check, port_count):
        path = f"/healthChecks({index})"
        protocol = check.setdefault("protocol", "HTTP")
        if protocol not in HEALTH_PROTOCOLS:
            self.err(f"{path}/protocol", "error.expected.validenumvalue")
            return None
        for key, default in HEALTH_DEFAULTS.items():
            if key != "delaySeconds" or protocol.startswith("MESOS") or protocol == "COMMAND":
                check.setdefault(key, default)
        if protocol == "COMMAND":
            command = check.get("command")
            if not isinstance(command, dict) or not command.get("value"):
                self.err(f"{path}/command", "must not be empty")
        else:
            self.network_check(path, check, protocol, port_count)
        for key in ("gracePeriodSeconds", "intervalSeconds", "timeoutSeconds", "maxConsecutiveFailures"):
            if key in check and (not _type_ok(check[key], float) or check[key] < 0):
                self.err(f"{path}/{key}", "got negative or non-numeric value, expected 0 or more")
        return check

    def network_check(self, path, check, protocol, port_count):
        """HTTP(S)/TCP checks, Marathon- or Mesos-side: they need a port."""
        if "port" not in check:
            check.setdefault("portIndex", 0)
        if "portIndex" in check and check["portIndex"] >= port_count:
            self.err(
                path,
                "Health check port indices must address an element of the ports array or container port mappings.",
            )
        if "HTTP" in protocol:
            check.setdefault("path", "/")
        if protocol in ("HTTP", "HTTPS"):
            check.setdefault("ignoreHttp1xx", False)
        if protocol.startswith("MESOS"):
            check.setdefault("ipProtocol", "IPv4")

    def readiness_checks(self):
        """One readiness check at most; its ``portName`` names a port of the app (AppValidation)."""
        app = self.app
        raw_checks = app.get("readinessChecks") or []
        if len(raw_checks) > 1:
            self.err("/readinessChecks", "Only one readinessCheck is supported")
        if self.host_mode:
            ports = app.get("portDefinitions") or []
        else:
            ports = (app.get("container") or {}).get("portMappings") or []
        names = [p.get("name") for p in ports if isinstance(p, dict)]
        checks = []
        for index, raw in enumerate(raw_checks):
            path = f"/readinessChecks({index})"
            if not isinstance(raw, dict):
                self.err(path, "error.expected.jsobject")
                continue
            check = dict(copy.deepcopy(READINESS_DEFAULTS), **raw)
            self.readiness_check(path, check)
            if check["portName"] not in names:
                self.err(path, f"ReadinessCheck portName {check['portName']!r} is not the name of a port of the app")
            checks.append(check)
        app["readinessChecks"] = checks

    def readiness_check(self, path, check):
        if check["protocol"] not in ("HTTP", "HTTPS"):
            self.err(f"{path}/protocol", "error.expected.validenumvalue")
        numbers_ok = True
        for key, minimum in (("intervalSeconds", 0), ("timeoutSeconds", 1)):
            if not _type_ok(check[key], int):
                self.err(f"{path}/{key}", "error.expected.jsnumber")
                numbers_ok = False
            elif check[key] < minimum:
                self.err(f"{path}/{key}", f"got {check[key]}, expected {minimum} or more")
            else:
                check[key] = int(check[key])
        if numbers_ok and check["timeoutSeconds"] >= check["intervalSeconds"]:
            self.err(path, "timeoutSeconds must be smaller than intervalSeconds")
        codes = check["httpStatusCodesForReady"]
        if not isinstance(codes, list) or not codes or not all(_type_ok(c, int) and 100 <= c <= 999 for c in codes):
            self.err(f"{path}/httpStatusCodesForReady", "must be a non-empty list of HTTP status codes (100..999)")
        elif len(set(codes)) != len(codes):
            self.err(f"{path}/httpStatusCodesForReady", "must not contain duplicates")
        if not isinstance(check["preserveLastResponse"], bool):
            self.err(f"{path}/preserveLastResponse", "error.expected.jsboolean")


def normalise(body, service_ports=None):
    """Validate ``body`` (already type-checked, with a canonical ``id``) and return the stored form.

    ``service_ports`` is a callable ``(wanted_or_0) -> port`` that allocates service ports.
    Raises :class:`ValidationFailed` (422) listing every problem found.
    """
    return _Normaliser(body, service_ports).run()


OMIT_EMPTY = ("args", "constraints", "dependencies", "env", "fetch", "healthChecks", "readinessChecks", "secrets")


def present(app):
    """The app as Marathon 1.11 writes it: RAML ``omitEmpty`` fields left out when empty."""
    data = copy.deepcopy(app)
    for key in OMIT_EMPTY:
        if key in data and not data[key]:
            del data[key]
    for network in data.get("networks") or []:
        if isinstance(network, dict) and "labels" in network and not network["labels"]:
            del network["labels"]
    for item in data.get("portDefinitions") or []:
        if isinstance(item, dict) and "labels" in item and not item["labels"]:
            del item["labels"]
    return data


def config_part(app):
    """What decides whether tasks must be replaced: everything but ``instances`` (Marathon's isUpgrade)."""
    return {k: v for k, v in app.items() if k not in ("instances", "id")}


def min_healthy(app):
    return int(math.ceil(app["instances"] * app["upgradeStrategy"]["minimumHealthCapacity"]))


def max_capacity(app):
    return int(math.floor(app["instances"] * (1 + app["upgradeStrategy"]["maximumOverCapacity"]) + 1e-9))
