# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Marathon app definitions: validation, normalisation and the diff (PRIVATE to the collection).

The rule: compare only the top-level fields the user gave, after putting both sides in one
canonical form. The canonical form is Marathon 1.5+'s (``networks``, ``container.portMappings``,
``portDefinitions``, ``fetch``), so a definition written in the 1.4 form (``ipAddress``,
``container.docker.network``, ``container.docker.portMappings``, ``ports``, ``uris``) compares
equal to what a 1.5+ Marathon returns for it, and the other way round.

Inside a field the user gave:

* maps (``labels``, ``env``, ``secrets``, port and network ``labels``) compare whole: a key the
  server has and the user does not is a difference (Marathon replaces the map on update);
* objects Marathon fills with defaults (port mappings, port definitions, health checks, networks,
  fetch URIs, ``container``, ``container.docker``, ``upgradeStrategy``) have those defaults filled
  on both sides; a port of ``0`` (``servicePort``, ``portDefinitions[].port``) means "Marathon
  picks", so any assigned port matches it; a field the server has and the user does not counts
  only if it is one we know and its value is not empty or the default (so a Marathon that adds a
  field we do not know does not report a change forever);
* lists without meaningful order (``constraints``, ``acceptedResourceRoles``, ``dependencies``,
  ``container.volumes``) compare sorted; ``constraints`` compare with the operator upper-cased
  and an empty trailing value dropped.
"""

from __future__ import annotations

import copy
import difflib
import json
import re

from ansible_collections.pptv.dcos.plugins.module_utils import _validate
from ansible_collections.pptv.dcos.plugins.module_utils._errors import DcosError

# Marathon's PathId (stringTypes.raml), applied to the canonical absolute id.
_SEGMENT = r"(([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])\.)*([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])"
_APP_ID_RE = re.compile(r"(/" + _SEGMENT + r")+")
_APP_ID_WORDS = (
    "a Marathon app id is path segments of lower-case letters, digits, '-' and '.', each starting and ending "
    "with a letter or digit (for example /int/redis)"
)
# Since 1.8 an id may not end in one of these (they are sub-resources of an app).
_RESERVED_LAST_SEGMENTS = ("restart", "tasks", "versions")

# Fields Marathon computes; never compared, never sent.
READ_ONLY_FIELDS = frozenset(
    (
        "version",
        "versionInfo",
        "tasks",
        "tasksStaged",
        "tasksRunning",
        "tasksHealthy",
        "tasksUnhealthy",
        "deployments",
        "lastTaskFailure",
        "taskStats",
        "tasksStats",
        "readinessCheckResults",
        # Not Marathon's: the version list marathon_app_info adds (so its apps can be passed back).
        "versions",
    )
)

_MAPS = frozenset(
    (
        "labels",
        "env",
        "secrets",
        "networks[].labels",
        "container.portMappings[].labels",
        "portDefinitions[].labels",
    )
)
_STRING_MAPS = frozenset(("labels", "networks[].labels", "container.portMappings[].labels", "portDefinitions[].labels"))
_UNORDERED = frozenset(("acceptedResourceRoles", "dependencies", "container.volumes", "constraints"))
_HTTP_CHECKS = ("HTTP", "HTTPS", "MESOS_HTTP", "MESOS_HTTPS")


class _Schema:
    def __init__(self, defaults=None, known=(), wildcards=()):
        self.defaults = defaults or {}
        self.known = frozenset(known) | frozenset(self.defaults)
        self.wildcards = frozenset(wildcards)


_SCHEMAS = {
    "container": _Schema({"type": "DOCKER"}, ("docker", "volumes", "portMappings", "linuxInfo")),
    "container.docker": _Schema(
        {"privileged": False, "forcePullImage": False}, ("image", "parameters", "credential", "pullConfig")
    ),
    "container.portMappings[]": _Schema(
        {"containerPort": 0, "hostPort": 0, "protocol": "tcp", "servicePort": 0},
        ("name", "labels", "networkNames"),
        wildcards=("servicePort",),
    ),
    "portDefinitions[]": _Schema({"port": 0, "protocol": "tcp"}, ("name", "labels"), wildcards=("port",)),
    "healthChecks[]": _Schema(
        {
            "protocol": "HTTP",
            "gracePeriodSeconds": 300,
            "intervalSeconds": 60,
            "timeoutSeconds": 20,
            "maxConsecutiveFailures": 3,
            "delaySeconds": 15,
            "ignoreHttp1xx": False,
            "ipProtocol": "IPv4",
        },
        ("path", "port", "portIndex", "command"),
    ),
    "networks[]": _Schema({"mode": "container"}, ("name", "labels")),
    "fetch[]": _Schema({"executable": False, "extract": True, "cache": False}, ("uri", "destPath", "outputFile")),
    "upgradeStrategy": _Schema({"minimumHealthCapacity": 1, "maximumOverCapacity": 1}),
    "container.volumes[]": _Schema({}, ("containerPath", "hostPath", "mode", "persistent", "external")),
}

_LEGACY_NETWORKS = {
    "BRIDGE": "container/bridge",
    "HOST": "host",
    "USER": "container",
}


# -- ids and input validation ------------------------------------------------------------------


def normalize_app_id(app_id, option="app_id"):
    """The canonical absolute id (``grp/app/`` -> ``/grp/app``); a :class:`DcosError` if invalid."""
    if not isinstance(app_id, str) or not app_id.strip("/ "):
        raise DcosError(f"{option}: an app id is required (a path such as /group/app), got {app_id!r}")
    canonical = "/" + app_id.strip().strip("/")
    _validate.name(canonical, option, _APP_ID_RE, _APP_ID_WORDS)
    if canonical.rsplit("/", 1)[-1] in _RESERVED_LAST_SEGMENTS:
        raise DcosError(f"{option}: {app_id!r} may not end in restart, tasks or versions (reserved by Marathon)")
    return canonical


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _type_name(value):
    return type(value).__name__


def _as_label_value(value, where):
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if _is_number(value):
        return str(value)
    raise DcosError(f"{where} must be a string, got {_type_name(value)} {value!r}")


def _check_string_map(value, where, allow_secret=False):
    if not isinstance(value, dict):
        raise DcosError(f"{where} must be a map of names to strings, got {_type_name(value)}")
    result = {}
    for key, item in value.items():
        if not isinstance(key, str):
            raise DcosError(f"{where}: key {key!r} must be a string")
        if allow_secret and isinstance(item, dict):
            if set(item) != {"secret"} or not isinstance(item["secret"], str):
                raise DcosError(f"{where}.{key} must be a string or {{secret: <name>}}")
            result[key] = dict(item)
        else:
            result[key] = _as_label_value(item, f"{where}.{key}")
    return result


# Marathon's number fields (v1.11 RAML): (key, kind, minimum, maximum). ``int32`` fields are
# integers; ``port`` is its AnyPort (0 = "Marathon picks").
_INT32 = 2**31 - 1
_TOP_LEVEL_NUMBERS = (
    ("instances", "integer", 0, _INT32),
    ("cpus", "number", 0.001, None),
    ("mem", "number", 0, None),
    ("disk", "number", 0, None),
    ("gpus", "integer", 0, _INT32),
    ("backoffSeconds", "integer", 0, _INT32),
    ("backoffFactor", "number", 1.0, None),
    ("maxLaunchDelaySeconds", "integer", 0, _INT32),
    ("taskKillGracePeriodSeconds", "integer", 0, _INT32),
)
_HEALTH_CHECK_NUMBERS = (
    ("gracePeriodSeconds", "integer", 0, _INT32),
    ("intervalSeconds", "integer", 0, _INT32),
    ("timeoutSeconds", "integer", 0, _INT32),
    ("maxConsecutiveFailures", "integer", 0, _INT32),
    ("delaySeconds", "integer", 0, _INT32),
    ("port", "integer", 0, 65535),
    ("portIndex", "integer", 0, 65535),
)
_UPGRADE_NUMBERS = (
    ("minimumHealthCapacity", "number", 0, 1),
    ("maximumOverCapacity", "number", 0, 1),
)
_PORT_KEYS = ("containerPort", "hostPort", "servicePort", "port")

# The top-level fields of a Marathon app (v1.11 RAML ``App``, with the 1.4 forms it still
# accepts). Marathon refuses a definition with any other field.
APP_FIELDS = frozenset(
    (
        "id",
        "acceptedResourceRoles",
        "args",
        "backoffFactor",
        "backoffSeconds",
        "check",
        "cmd",
        "constraints",
        "container",
        "cpus",
        "dependencies",
        "disk",
        "env",
        "executor",
        "executorResources",
        "fetch",
        "gpus",
        "healthChecks",
        "instances",
        "ipAddress",
        "killSelection",
        "labels",
        "maxLaunchDelaySeconds",
        "mem",
        "networks",
        "portDefinitions",
        "ports",
        "readinessChecks",
        "requirePorts",
        "residency",
        "resourceLimits",
        "role",
        "secrets",
        "taskKillGracePeriodSeconds",
        "tty",
        "unreachableStrategy",
        "upgradeStrategy",
        "uris",
        "user",
        "version",
        "versionInfo",
    )
)


def _check_numbers(obj, where, fields):
    """Each of ``fields`` present in ``obj``: a finite number of its kind within its bounds."""
    for key, kind, minimum, maximum in fields:
        value = obj.get(key)
        if value is None:
            continue
        option = f"{where}.{key}"
        if not _is_number(value):  # a JSON document: "80" or true is not a number to Marathon
            raise DcosError(f"{option}: must be {'an integer' if kind == 'integer' else 'a number'}, got {value!r}")
        if kind == "integer":
            obj[key] = _validate.integer(value, option, minimum, maximum)
        else:
            _validate.number(value, option, minimum, maximum)


def _check_finite(value, where):
    """No ``inf``/``nan`` anywhere in the definition: JSON cannot carry them."""
    if isinstance(value, float):
        _validate.number(value, where)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_finite(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_finite(item, f"{where}[{index}]")


def _check_fields(body, option):
    for key in body:
        if key not in APP_FIELDS:
            close = difflib.get_close_matches(str(key), sorted(APP_FIELDS), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise DcosError(f"{option}.{key}: not a field of a Marathon app definition{hint}; Marathon refuses it")


def _list_of_maps(value, where):
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise DcosError(f"{where} must be a list of maps")
    return value


def _check_ports(items, where):
    for index, item in enumerate(_list_of_maps(items, where)):
        _check_numbers(item, f"{where}[{index}]", [(key, "integer", 0, 65535) for key in _PORT_KEYS])
        if "labels" in item and item["labels"] is not None:
            item["labels"] = _check_string_map(item["labels"], f"{where}[{index}].labels")


def _check_top_level(body, option):
    _check_fields(body, option)
    _check_numbers(body, option, _TOP_LEVEL_NUMBERS)
    if body.get("cmd") is not None and not isinstance(body["cmd"], str):
        raise DcosError(f"{option}.cmd must be a string, got {_type_name(body['cmd'])}")
    args = body.get("args")
    if args is not None and (not isinstance(args, list) or not all(isinstance(a, str) for a in args)):
        raise DcosError(f"{option}.args must be a list of strings")
    if body.get("labels") is not None:
        body["labels"] = _check_string_map(body["labels"], f"{option}.labels")
    if body.get("env") is not None:
        body["env"] = _check_string_map(body["env"], f"{option}.env", allow_secret=True)
    upgrade = body.get("upgradeStrategy")
    if upgrade is not None:
        if not isinstance(upgrade, dict):
            raise DcosError(f"{option}.upgradeStrategy must be a map, got {_type_name(upgrade)}")
        _check_numbers(upgrade, f"{option}.upgradeStrategy", _UPGRADE_NUMBERS)
    _check_lists(body, option)


def _check_lists(body, option):
    constraints = body.get("constraints")
    if constraints is not None:
        if not isinstance(constraints, list):
            raise DcosError(f"{option}.constraints must be a list of [field, operator, value] lists")
        for index, item in enumerate(constraints):
            if not isinstance(item, list) or not 2 <= len(item) <= 3:
                raise DcosError(
                    f"{option}.constraints[{index}] must be a list [field, operator] or [field, operator, value]"
                )
    if body.get("portDefinitions") is not None:
        _check_ports(body["portDefinitions"], f"{option}.portDefinitions")
    ports = body.get("ports")
    if ports is not None:
        if not isinstance(ports, list):
            raise DcosError(f"{option}.ports must be a list of port numbers")
        for index, port in enumerate(ports):
            if not _is_number(port):
                raise DcosError(f"{option}.ports[{index}]: must be an integer, got {port!r}")
        body["ports"] = [_validate.integer(p, f"{option}.ports[{i}]", 0, 65535) for i, p in enumerate(ports)]
    checks = body.get("healthChecks")
    if checks is not None:
        for index, check in enumerate(_list_of_maps(checks, f"{option}.healthChecks")):
            _check_numbers(check, f"{option}.healthChecks[{index}]", _HEALTH_CHECK_NUMBERS)


def _check_container(container, option):
    if container is None:
        return
    if not isinstance(container, dict):
        raise DcosError(f"{option}.container must be a map, got {_type_name(container)}")
    if container.get("portMappings") is not None:
        _check_ports(container["portMappings"], f"{option}.container.portMappings")
    docker = container.get("docker")
    if docker is None:
        return
    where = f"{option}.container.docker"
    if not isinstance(docker, dict):
        raise DcosError(f"{where} must be a map, got {_type_name(docker)}")
    if "image" in docker and not isinstance(docker["image"], str):
        raise DcosError(f"{where}.image must be a string")
    if docker.get("portMappings") is not None:
        _check_ports(docker["portMappings"], f"{where}.portMappings")
    params = docker.get("parameters")
    if params is None:
        return
    if not isinstance(params, list) or not all(isinstance(p, dict) and "key" in p for p in params):
        raise DcosError(f"{where}.parameters must be a list of {{key, value}} maps")
    for index, param in enumerate(params):
        if "value" in param:
            param["value"] = _as_label_value(param["value"], f"{where}.parameters[{index}].value")


def prepare_definition(app_id, definition, instances=None, option="definition"):
    """Validate ``definition`` for ``app_id`` and return the body to send to Marathon.

    The body is the user's definition (their own 1.4 or 1.5 form, unchanged apart from label,
    env and docker parameter values coerced to strings), with ``id`` set to the canonical
    ``app_id``, ``instances`` overridden when given, and the read-only fields (``version``,
    ``tasks``...) dropped.
    """
    if definition is None:
        definition = {}
    if not isinstance(definition, dict):
        raise DcosError(f"{option} must be a map (a Marathon app definition), got {_type_name(definition)}")
    body = copy.deepcopy(definition)
    if body.get("id") is not None:
        given = normalize_app_id(body["id"], option=f"{option}.id")
        if given != app_id:
            raise DcosError(f"{option}.id {body['id']!r} does not match app_id {app_id!r}")
    body["id"] = app_id
    for key in READ_ONLY_FIELDS:
        body.pop(key, None)
    if instances is not None:
        body["instances"] = instances
    _check_top_level(body, option)
    _check_container(body.get("container"), option)
    _check_finite(body, option)
    return body


# -- canonical form ----------------------------------------------------------------------------


def _legacy_networks(legacy_network, ip_address):
    """The ``networks`` a 1.4 ``container.docker.network`` / ``ipAddress`` pair stands for."""
    networks = None
    if legacy_network in _LEGACY_NETWORKS:
        networks = [{"mode": _LEGACY_NETWORKS[legacy_network]}]
    elif legacy_network:
        networks = [{"mode": str(legacy_network).lower()}]
    if isinstance(ip_address, dict) and legacy_network in (None, "USER"):
        network = {"mode": "container"}
        if ip_address.get("networkName"):
            network["name"] = ip_address["networkName"]
        if ip_address.get("labels"):
            network["labels"] = dict(ip_address["labels"])
        networks = [network]
    return networks


def _pop_legacy_docker(container):
    """Move ``docker.portMappings`` up to the container; return ``docker.network``."""
    if not isinstance(container, dict) or not isinstance(container.get("docker"), dict):
        return None
    docker = container["docker"]
    legacy_network = docker.pop("network", None)
    legacy_mappings = docker.pop("portMappings", None)
    if legacy_mappings is not None and not container.get("portMappings"):
        container["portMappings"] = legacy_mappings
    return legacy_network


def canonical(app):
    """``app`` in Marathon 1.5+'s form, read-only fields dropped (a new dict)."""
    app = copy.deepcopy(app or {})
    for key in READ_ONLY_FIELDS:
        app.pop(key, None)
    if app.get("id"):
        app["id"] = "/" + str(app["id"]).strip("/")
    ip_address = app.pop("ipAddress", None)
    legacy_network = _pop_legacy_docker(app.get("container"))
    if app.get("networks") is None:
        networks = _legacy_networks(legacy_network, ip_address)
        if networks is not None:
            app["networks"] = networks
    ports = app.pop("ports", None)
    if app.get("portDefinitions") is None and ports is not None:
        app["portDefinitions"] = [{"port": p} for p in ports]
    uris = app.pop("uris", None)
    if app.get("fetch") is None and uris is not None:
        app["fetch"] = [{"uri": u} for u in uris]
    if isinstance(app.get("constraints"), list):
        app["constraints"] = [_canonical_constraint(c) for c in app["constraints"]]
    for key in ("labels", "env"):
        if isinstance(app.get(key), dict):
            app[key] = {k: (v if isinstance(v, dict) else _stringify(v)) for k, v in app[key].items()}
    return app


def _stringify(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value)


def _canonical_constraint(constraint):
    if isinstance(constraint, dict):  # the RAML object form {fieldName, operator, value}
        constraint = [constraint.get("fieldName"), constraint.get("operator"), constraint.get("value")]
    if not isinstance(constraint, (list, tuple)):
        return constraint
    items = [str(x) if x is not None else "" for x in constraint]
    if len(items) >= 2:
        items[1] = items[1].upper()
    while len(items) > 2 and items[-1] == "":
        items.pop()
    return items


def _is_empty(value):
    return value is None or value is False or (not _is_number(value) and value in ([], {}, ""))


def _sort_key(value):
    return json.dumps(value, sort_keys=True, default=str)


def _schema_for(path):
    return _SCHEMAS.get(path)


def _with_defaults(obj, path):
    schema = _schema_for(path)
    if schema is None or not isinstance(obj, dict):
        return obj
    obj = dict(obj)
    for key, value in schema.defaults.items():
        obj.setdefault(key, value)
    if path == "healthChecks[]":
        protocol = str(obj.get("protocol", "HTTP")).upper()
        obj["protocol"] = protocol
        if protocol != "COMMAND" and "port" not in obj:
            obj.setdefault("portIndex", 0)
        if protocol in _HTTP_CHECKS:
            obj.setdefault("path", "/")
    return obj


def _equal_scalar(want, have):
    if _is_number(want) and _is_number(have):
        return float(want) == float(have)
    return want == have


def _compare_map(want, have, path, where):
    want = want or {}
    have = have or {}
    if not isinstance(want, dict) or not isinstance(have, dict):
        return [] if want == have else [where]
    if path in _STRING_MAPS:
        want = {k: _stringify(v) for k, v in want.items()}
        have = {k: _stringify(v) for k, v in have.items()}
    return [f"{where}.{k}" for k in sorted(set(want) | set(have)) if want.get(k) != have.get(k)]


def _compare_dict(want, have, path, where):
    want = _with_defaults(want, path)
    have = _with_defaults(have, path)
    schema = _schema_for(path) or _Schema()
    diffs = []
    for key in sorted(want):
        sub = f"{path}.{key}" if path else key
        sub_where = f"{where}.{key}" if where else key
        if key in schema.wildcards and want[key] in (0, None):
            continue
        if key in have:
            diffs.extend(compare(want[key], have[key], sub, sub_where))
        elif not _is_empty(want[key]):
            diffs.append(sub_where)
    # A field only Marathon has counts when we know it and it holds more than its default.
    for key in sorted(set(have) - set(want)):
        value = have[key]
        if key not in schema.known or key in schema.wildcards or _is_empty(value):
            continue
        if (path, key) == ("container", "portMappings") and _is_default_port_mapping(value):
            continue
        if key in schema.defaults and _equal_scalar(schema.defaults[key], value):
            continue
        diffs.append(f"{where}.{key}" if where else key)
    return diffs


def _is_default_port_mapping(mappings):
    """The one mapping Marathon 1.5+ adds to a bridge app that gives none (``name: default``, ports 0)."""
    if not isinstance(mappings, list) or len(mappings) != 1 or not isinstance(mappings[0], dict):
        return False
    mapping = mappings[0]
    return (
        not mapping.get("containerPort")
        and not mapping.get("hostPort")
        and mapping.get("name") in (None, "default")
        and mapping.get("protocol", "tcp") == "tcp"
        and not mapping.get("labels")
    )


def _volume_key(volume):
    return _sort_key(volume.get("containerPath") if isinstance(volume, dict) else volume)


def _compare_list(want, have, path, where):
    if len(want) != len(have):
        return [where]
    if path == "container.volumes":
        want, have = sorted(want, key=_volume_key), sorted(have, key=_volume_key)
    elif path in _UNORDERED:
        want, have = sorted(want, key=_sort_key), sorted(have, key=_sort_key)
    diffs = []
    for index, (w, h) in enumerate(zip(want, have)):
        diffs.extend(compare(w, h, f"{path}[]", f"{where}[{index}]"))
    if diffs and path in _UNORDERED:
        return [where]  # element positions mean nothing in a set
    return diffs


def compare(want, have, path="", where=""):
    """Differences between ``want`` (the user's, canonical) and ``have`` (Marathon's, canonical).

    ``path`` is the schema path (``container.portMappings[]``); ``where`` the printable one
    (``container.portMappings[0]``). Returns a list of printable paths that differ.
    """
    if path in _MAPS:
        return _compare_map(want, have, path, where)
    if isinstance(want, dict):
        return _compare_dict(want, have, path, where) if isinstance(have, dict) else [where]
    if isinstance(want, list):
        if have is None:
            have = []
        return _compare_list(want, have, path, where) if isinstance(have, list) else [where]
    if want is None and _is_empty(have):
        return []
    return [] if _equal_scalar(want, have) else [where]


def diff_app(wanted, current):
    """Compare a wanted definition with the current app (either form of each).

    Returns ``(changed_fields, before, after)``: the printable paths that differ, and the
    canonical values of the differing *top-level* fields on each side (for ``--diff``).
    Only the top-level fields present in ``wanted`` are compared (``id`` excluded).
    """
    want = canonical(wanted)
    have = canonical(current)
    want.pop("id", None)
    changed = []
    before = {}
    after = {}
    for key in sorted(want):
        diffs = compare(want[key], have[key], key, key) if key in have else ([] if _is_empty(want[key]) else [key])
        if diffs:
            changed.extend(diffs)
            before[key] = copy.deepcopy(have.get(key))
            after[key] = copy.deepcopy(want[key])
    return changed, before, after


def rollback_definition(version_app):
    """A stored version as a wanted definition (every field it has, read-only ones dropped)."""
    definition = canonical(version_app)
    definition.pop("id", None)
    return definition


# -- the change one app needs -----------------------------------------------------------------

STATES = ("present", "absent", "restarted", "stopped")


class AppChange:
    """What converging one app takes (computed before anything is written).

    ``action`` is ``None`` (nothing to do), ``create``, ``update``, ``delete`` or ``rollback``;
    ``restart`` is true when a rolling restart must be requested on its own (``state:
    restarted`` with no definition change). ``body`` is what to PUT.
    """

    def __init__(self, app_id, state, current):
        self.app_id = app_id
        self.state = state
        self.current = current
        self.action = None
        self.body = None
        self.restart = False
        self.changed_fields = []
        self.before = {}
        self.after = {}

    @property
    def changed(self):
        return bool(self.action or self.restart)

    @property
    def wants_tasks(self):
        """Whether the app should exist after the change (so its tasks are waited for)."""
        return self.state != "absent"


def app_change(app_id, state, current, definition=None, instances=None, version_app=None, option="definition"):
    """The :class:`AppChange` converging ``app_id`` (canonical) to ``state`` takes; ``current``
    is the app or ``None``.

    ``version_app`` is the stored definition to roll back (or forward) to.
    """
    change = AppChange(app_id, state, current)
    if state == "absent":
        if current is not None:
            change.action = "delete"
            change.changed_fields = ["app"]
            change.before = {"app": {k: v for k, v in canonical(current).items() if k != "id"}}
            change.after = {"app": None}
        return change
    if state == "stopped":
        instances = 0
    if version_app is not None:
        if instances is not None or state == "stopped":
            raise DcosError("version: a rollback applies the stored version as it is; do not combine it with instances")
        wanted = rollback_definition(version_app)
        changed, before, after = diff_app(wanted, current or {})
        if changed:
            change.action = "rollback"
            change.body = {"id": app_id, "version": version_app.get("version")}
            change.changed_fields, change.before, change.after = changed, before, after
        elif state == "restarted":
            change.restart = True
        return change
    if current is None and not definition:
        raise DcosError(f"{option}: app {app_id} does not exist; a definition is needed to create it")
    body = prepare_definition(app_id, definition or {}, instances=instances, option=option)
    if current is None:
        change.action = "create"
        change.body = body
        change.changed_fields = ["app"]
        change.before = {"app": None}
        change.after = {"app": {k: v for k, v in canonical(body).items() if k != "id"}}
        return change
    changed, before, after = diff_app(body, current)
    if changed:
        change.action = "update"
        change.body = body
        change.changed_fields, change.before, change.after = changed, before, after
        if state == "restarted" and set(changed) <= {"instances"}:
            change.restart = True  # a pure scale restarts nothing
    elif state == "restarted":
        change.restart = True
    return change


# -- tasks and endpoints -----------------------------------------------------------------------


def task_is_healthy(task, health_checks):
    """A task is healthy when it runs and, if the app has checks, every result is alive."""
    if task.get("state") not in (None, "TASK_RUNNING"):
        return False
    if not health_checks:
        return True
    results = task.get("healthCheckResults") or []
    return len(results) >= len(health_checks) and all(r.get("alive") for r in results)


ADDRESS_MODES = ("auto", "host", "task_ip")


def _on_container_network(app):
    networks = canonical(app).get("networks") or []
    return any(n.get("mode", "container") == "container" for n in networks if isinstance(n, dict))


def port_count(app):
    """How many ports ``app`` has: its port mappings or definitions, or the most any task got."""
    view = canonical(app)
    mappings = (view.get("container") or {}).get("portMappings") or []
    definitions = view.get("portDefinitions") or []
    tasks = [len(t.get("ports") or []) for t in app.get("tasks") or [] if isinstance(t, dict)]
    return max([len(mappings), len(definitions)] + tasks)


def task_endpoint(app, task, port_index=0, address="auto"):
    """``ip:port`` of one task, ``ip`` alone when the app has no port at all, or ``None`` when the
    task has no such address or port yet (a staging task).

    ``host`` gives the agent and the host port; ``task_ip`` the task's own IP and, when the app
    maps ports, the container port; ``auto`` is ``task_ip`` for apps on a container network
    (``networks`` mode ``container``) and ``host`` otherwise.
    """
    if address not in ADDRESS_MODES:
        raise DcosError(f"address must be one of {', '.join(ADDRESS_MODES)}, got {address!r}")
    if address == "auto":
        address = "task_ip" if _on_container_network(app) else "host"
    host_ports = task.get("ports") or []
    ips = [i.get("ipAddress") for i in task.get("ipAddresses") or [] if isinstance(i, dict) and i.get("ipAddress")]
    port = host_ports[port_index] if port_index < len(host_ports) else None
    if address == "task_ip" and ips:
        ip = ips[0]
        mappings = (canonical(app).get("container") or {}).get("portMappings") or []
        if port_index < len(mappings) and mappings[port_index].get("containerPort"):
            port = mappings[port_index]["containerPort"]
    else:
        ip = task.get("host")
    if not ip:
        return None
    if ":" in ip:  # IPv6
        ip = f"[{ip}]"
    if port:
        return f"{ip}:{port}"
    return ip if port_count(app) == 0 else None


def app_endpoints(app, healthy_only=True, port_index=0, address="auto"):
    """The endpoints of ``app``'s running tasks (healthy ones only by default), sorted.

    ``port_index`` must name one of the app's ports (``0`` for an app without ports gives bare
    addresses): a wrong endpoint is worse than an error.
    """
    port_index = _validate.integer(port_index, "port_index", minimum=0)
    count = port_count(app)
    if port_index >= max(count, 1):
        raise DcosError(
            f"port_index: {port_index} is out of range: app {app.get('id')} has {count} port(s)"
            + (f" (port_index 0 to {count - 1})" if count else "")
        )
    checks = app.get("healthChecks") or []
    endpoints = []
    for task in app.get("tasks") or []:
        if task.get("state", "TASK_RUNNING") != "TASK_RUNNING":
            continue
        if healthy_only and not task_is_healthy(task, checks):
            continue
        endpoint = task_endpoint(app, task, port_index=port_index, address=address)
        if endpoint:
            endpoints.append(endpoint)
    return sorted(set(endpoints))
