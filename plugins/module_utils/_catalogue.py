# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The app catalogue: one list of services, N isolated environments (PRIVATE to the collection).

Three steps, each a pure function, so that the ``env_plan`` module, the playbooks' other helpers
and the benchmarks share them:

* :func:`parse_catalogue` validates every entry of the catalogue (fields, types, the rules that
  involve several entries: duplicate names, unknown dependencies, DNS name and port clashes) and
  returns :class:`Service` objects with every default filled in;
* :func:`select` decides what one environment deploys: every service for the fallback env and
  any env that is not ``func-*``; for ``func-<project>`` the project's services, their own copies
  of the shared services (no ``project``) they depend on, transitively through shared services,
  and, reported as ``fallback``, the other projects' services they call (their names resolve to
  the fallback env's answers through the env's DNS);
* :func:`render_definition` writes one Marathon app definition for a selected service (docker
  parameters ``net``/``ip``/``dns``, the log and data bind mounts, the health check, the labels of
  contract v1).

* :func:`parse_release` checks a promotion of one selected service (its image by digest, of the
  catalogue image's repository) and adds its canary apps (``/<env>/<name>-canary-<i>``, one task
  and one fixed IP each, label ``pptv.dcos/canary-of``) when it has canary instances.

:func:`plan` runs them on the ``env_plan`` module's parameters (a plain dict) and returns
its result. Every message names the entry (``catalogue entry 2 (web): port: ...``) or the option.
"""

from __future__ import annotations

import difflib
import math
import posixpath
import re

from ansible_collections.pptv.dcos.plugins.module_utils import _contract, _validate
from ansible_collections.pptv.dcos.plugins.module_utils._errors import DcosError
from ansible_collections.pptv.dcos.plugins.module_utils._marathon_app import (
    _RESERVED_LAST_SEGMENTS,
    normalize_app_id,
)

# A service or env name: one Marathon path segment, and one DNS label.
NAME_RE = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")
NAME_WORDS = (
    "lower-case letters and digits in words joined by single '-', starting with a letter (a Marathon path segment)"
)
NAME_MAX = 63

PROTOCOLS = ("http", "tcp")
CHECKS = ("http", "tcp")
HEALTH_PROTOCOL = {"http": "MESOS_HTTP", "tcp": "MESOS_TCP"}
KINDS = ("integration", "functional", "full")
FUNCTIONAL_PREFIX = "func-"

DEFAULT_FALLBACK_ENV = "int"
DEFAULT_LOGS_ROOT = "/home/logs"
DEFAULT_DATA_ROOT = "/home/data"
DEFAULT_LOGS_CONTAINER_PATH = "/home/logs"

# The health check every app gets (the values env_apps.yml.j2 wrote).
HEALTH_TIMING = {"gracePeriodSeconds": 60, "intervalSeconds": 5, "timeoutSeconds": 3, "maxConsecutiveFailures": 3}
# Every app has one fixed IP (its docker parameter ``ip``), so it runs one task at a time: an update
# stops the old task before the new one starts on the same address (and, when stateful, on the same
# data). Marathon's default (a new task healthy before the old one stops) would wait forever for an
# address still in use. A release's canary serves the name meanwhile (docs/release.md).
MAX_INSTANCES = 1
FIXED_IP_UPGRADE = {"minimumHealthCapacity": 0, "maximumOverCapacity": 0}

FIELDS = (
    "name",
    "image",
    "port",
    "protocol",
    "check",
    "check_path",
    "project",
    "dependencies",
    "stateful",
    "data_path",
    "fqdn",
    "aliases",
    "cpus",
    "mem",
    "instances",
    "cmd",
    "env",
)
REQUIRED = ("name", "image", "port")

# Docker's reference grammar (distribution/reference), with the digest restricted to sha256.
_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*(?::[0-9]+)?"
_PATH_PART = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPOSITORY_RE = re.compile(rf"(?:{_DOMAIN}/)?{_PATH_PART}(?:/{_PATH_PART})*")
_TAG_RE = re.compile(r"[\w][\w.-]{0,127}")
_DIGEST_RE = re.compile(r"sha256:[0-9a-f]{64}")
_IMAGE_WORDS = "repo[:tag] or repo[:tag]@sha256:<64 lower-case hex digits>"
_ZONE_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*")
_NETWORK_RE = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*")
_CHECK_PATH_RE = re.compile(r"/[!-~]*")
_FQDN_KEY = "\x00fqdn"  # the key handed to _contract's checks, cut from their messages


def _show(value):
    return repr(value) if isinstance(value, str) else str(value)


def _type_name(value):
    return type(value).__name__


def _suggest(value, choices):
    close = difflib.get_close_matches(str(value), sorted(choices), n=1)
    return f" (did you mean {close[0]}?)" if close else ""


class Service:
    """One validated catalogue entry, every default filled in."""

    __slots__ = (
        "aliases",
        "check",
        "check_path",
        "cmd",
        "cpus",
        "data_path",
        "dependencies",
        "env",
        "fqdn",
        "image",
        "index",
        "instances",
        "mem",
        "name",
        "port",
        "project",
        "protocol",
        "stateful",
    )

    def __init__(self, **fields):
        for key in self.__slots__:
            setattr(self, key, fields.get(key))

    @property
    def where(self):
        return f"catalogue entry {self.index} ({self.name})"

    @property
    def names(self):
        """The DNS names: the fqdn, then the aliases."""
        return [self.fqdn] + list(self.aliases)

    @property
    def shared(self):
        """A shared dependency (Redis, MariaDB, ...): a service without a project."""
        return self.project is None

    def replaced(self, **changes):
        """A copy with ``changes`` (a release's image, a canary's name and instances)."""
        fields = {key: getattr(self, key) for key in self.__slots__}
        fields.update(changes)
        return Service(**fields)

    def __repr__(self):
        return f"Service({self.name!r}, index={self.index})"


# -- plain values -------------------------------------------------------------------------------


def service_name(value, option):
    """A service, project or env name (a Marathon path segment, at most 63 characters)."""
    return _validate.name(value, option, NAME_RE, NAME_WORDS, max_length=NAME_MAX)


def image_parts(value, option):
    """A Docker image reference ``repo[:tag][@sha256:<64 hex>]`` -> ``(repository, tag, digest)``
    (``tag`` and ``digest`` None when absent)."""
    _validate.printable(value, option)
    reference, at, digest = value.partition("@")
    if at and not _DIGEST_RE.fullmatch(digest):
        raise DcosError(f"{option}: the digest {digest!r} of {value!r} is not sha256:<64 lower-case hex digits>")
    repository, tag = reference, None
    last = reference.rsplit("/", 1)[-1]
    if ":" in last:
        repository, _colon, tag = reference.rpartition(":")
    if (
        len(repository) > 255
        or not _REPOSITORY_RE.fullmatch(repository)
        or (tag is not None and not _TAG_RE.fullmatch(tag))
    ):
        raise DcosError(f"{option}: {value!r} is not a Docker image reference ({_IMAGE_WORDS})")
    return repository, tag, digest if at else None


def image(value, option):
    """A Docker image reference: ``repo[:tag]`` or ``repo[:tag]@sha256:<64 hex>``."""
    image_parts(value, option)
    return value


def absolute_path(value, option):
    """An absolute, normalised POSIX path without whitespace (``/home/logs``; ``/`` refused)."""
    _validate.printable(value, option)
    if not value.startswith("/") or value == "/":
        raise DcosError(f"{option}: {value!r} must be an absolute path (starting with /, not / itself)")
    if posixpath.normpath(value) != value or value.startswith("//"):
        raise DcosError(f"{option}: {value!r} must be a normalised path (no '..', '.', '//' or trailing '/')")
    return value


def zone_list(value, option="zones"):
    """DNS zones: a non-empty list of lower-case names (a trailing dot is dropped)."""
    if not isinstance(value, (list, tuple)) or not value:
        raise DcosError(f"{option}: must list at least one DNS zone, got {_show(value)}")
    zones = []
    for index, given in enumerate(value):
        where = f"{option}[{index}]"
        zone = given[:-1] if isinstance(given, str) and given.endswith(".") and given != "." else given
        _validate.name(zone, where, _ZONE_RE, "a DNS name of lower-case letters, digits, '-' and '.'", max_length=253)
        if zone in zones:
            raise DcosError(f"{where}: {zone} is listed twice")
        zones.append(zone)
    return zones


def _fqdn(value, option, zones):
    """A DNS name inside one of ``zones``, by the label contract's own rule (``_contract``)."""
    try:
        return _contract.validate_fqdn(_FQDN_KEY, value, zones)
    except _contract.Quarantine as exc:
        raise DcosError(f"{option}: {exc.reason.replace(f'label {_FQDN_KEY}: ', '')}") from None


def _env_values(value, option):
    if not isinstance(value, dict):
        raise DcosError(f"{option}: must be a map of names to strings, got {_type_name(value)}")
    result = {}
    for key, item in value.items():
        if not isinstance(key, str) or not key:
            raise DcosError(f"{option}: key {key!r} must be a non-empty string")
        if isinstance(item, bool):
            result[key] = "true" if item else "false"
        elif isinstance(item, (int, float)):
            if isinstance(item, float) and not math.isfinite(item):
                raise DcosError(f"{option}.{key}: must be a finite number or a string, got {item}")
            result[key] = str(item)
        elif isinstance(item, str):
            result[key] = item
        else:
            raise DcosError(f"{option}.{key}: must be a string, number or boolean, got {_type_name(item)}")
    return result


def _string_list(value, option):
    if value is None:
        return []
    if not isinstance(value, (list, tuple)):
        raise DcosError(f"{option}: must be a list, got {_type_name(value)}")
    return list(value)


# -- one entry ------------------------------------------------------------------------------------


def _entry_label(index, entry):
    name = entry.get("name") if isinstance(entry, dict) else None
    if isinstance(name, str) and name and NAME_RE.fullmatch(name):
        return f"catalogue entry {index} ({name})"
    if isinstance(name, str) and name:
        return f"catalogue entry {index} ({name!r})"
    return f"catalogue entry {index}"


def _check_fields(entry, where):
    for key in entry:
        if key not in FIELDS:
            raise DcosError(f"{where}: {key}: not a field of a catalogue entry{_suggest(key, FIELDS)}")
    for key in REQUIRED:
        if entry.get(key) is None:
            raise DcosError(f"{where}: {key}: required")


def _choice(value, option, choices):
    if value not in choices:
        raise DcosError(f"{option}: must be one of {', '.join(choices)}, got {_show(value)}")
    return value


def _health(entry, where, protocol):
    check = _choice(entry.get("check", protocol), f"{where}: check", CHECKS)
    check_path = entry.get("check_path")
    if check_path is not None and check != "http":
        raise DcosError(f"{where}: check_path: only for an http check (this check is {check})")
    if check_path is None:
        check_path = "/" if check == "http" else None
    else:
        _validate.name(check_path, f"{where}: check_path", _CHECK_PATH_RE, "a URL path starting with / (no spaces)")
    return check, check_path


def _state(entry, where, logs_container_path):
    stateful = _validate.boolean(entry.get("stateful", False), f"{where}: stateful")
    data_path = entry.get("data_path")
    if not stateful:
        if data_path is not None:
            raise DcosError(f"{where}: data_path: only for a stateful service (set stateful: true, or drop data_path)")
        return stateful, None
    if data_path is None:
        raise DcosError(f"{where}: data_path: required for a stateful service (the container path of its data)")
    data_path = absolute_path(data_path, f"{where}: data_path")
    if data_path == logs_container_path:
        raise DcosError(
            f"{where}: data_path: {data_path} is the logs mount (logs_container_path); give the data its own path"
        )
    return stateful, data_path


def parse_entry(index, entry, zones, logs_container_path=DEFAULT_LOGS_CONTAINER_PATH):
    """One entry -> :class:`Service` (without the rules that involve other entries)."""
    if not isinstance(entry, dict):
        raise DcosError(f"catalogue entry {index}: must be a map (one service), got {_type_name(entry)}")
    where = _entry_label(index, entry)
    _check_fields(entry, where)
    name = service_name(entry["name"], f"{where}: name")
    if name in _RESERVED_LAST_SEGMENTS:
        raise DcosError(f"{where}: name: {name} is reserved by Marathon (an app id may not end in it)")
    protocol = _choice(entry.get("protocol", "http"), f"{where}: protocol", PROTOCOLS)
    check, check_path = _health(entry, where, protocol)
    project = entry.get("project")
    if project is not None:
        project = service_name(project, f"{where}: project")
    dependencies = []
    for position, dependency in enumerate(_string_list(entry.get("dependencies"), f"{where}: dependencies")):
        option = f"{where}: dependencies[{position}]"
        service_name(dependency, option)
        if dependency == name:
            raise DcosError(f"{option}: a service cannot depend on itself")
        if dependency in dependencies:
            raise DcosError(f"{option}: {dependency} is listed twice")
        dependencies.append(dependency)
    instances = _validate.integer(entry.get("instances", 1), f"{where}: instances", minimum=0, maximum=2**31 - 1)
    stateful, data_path = _state(entry, where, logs_container_path)
    if instances > MAX_INSTANCES:
        raise DcosError(
            f"{where}: instances: an app has one fixed IP, so it runs at most {MAX_INSTANCES} task (two would "
            f"claim one address{', and share one data directory' if stateful else ''}), got {instances}"
        )
    fqdn = entry.get("fqdn")
    fqdn = _fqdn(f"{name}.{zones[0]}" if fqdn is None else fqdn, f"{where}: fqdn", zones)
    aliases = []
    for position, given in enumerate(_string_list(entry.get("aliases"), f"{where}: aliases")):
        option = f"{where}: aliases[{position}]"
        alias = _fqdn(given, option, zones)
        if alias == fqdn or alias in aliases:
            raise DcosError(f"{option}: {alias} is given twice (fqdn and aliases are one list of names)")
        aliases.append(alias)
    cmd = entry.get("cmd")
    if cmd is not None and (not isinstance(cmd, str) or not cmd.strip()):
        raise DcosError(f"{where}: cmd: must be a non-empty string, got {_show(cmd)}")
    return Service(
        index=index,
        name=name,
        image=image(entry["image"], f"{where}: image"),
        port=_validate.port(entry["port"], f"{where}: port"),
        protocol=protocol,
        check=check,
        check_path=check_path,
        project=project,
        dependencies=dependencies,
        stateful=stateful,
        data_path=data_path,
        fqdn=fqdn,
        aliases=aliases,
        cpus=_validate.number(entry.get("cpus", 0.1), f"{where}: cpus", minimum=0, exclusive_minimum=True),
        mem=_validate.number(entry.get("mem", 128), f"{where}: mem", minimum=0, exclusive_minimum=True),
        instances=instances,
        cmd=cmd,
        env=_env_values(entry.get("env") or {}, f"{where}: env"),
    )


# -- the whole catalogue --------------------------------------------------------------------------


def _check_names(services):
    """Each DNS name belongs to one service: the same name on the same port is a port clash.

    The discovery contract routes a name to one app per env (``_contract``), so a name shared on
    different ports is refused too rather than left for the daemon to quarantine.
    """
    owners = {}  # name -> the service that has it
    for service in services:
        for name in service.names:
            other = owners.get(name)
            if other is None:
                owners[name] = service
            elif other.port == service.port:
                raise DcosError(
                    f"{service.where}: port clash: {name} port {service.port} is also served by {other.where}"
                )
            else:
                raise DcosError(
                    f"{service.where}: name clash: {name} is also a name of {other.where}; each DNS name belongs "
                    f"to one service (the discovery daemon routes a name to one app per env)"
                )


def parse_catalogue(catalogue, zones, logs_container_path=DEFAULT_LOGS_CONTAINER_PATH):
    """Validate the catalogue; return its :class:`Service` objects in catalogue order.

    ``zones`` are the production zones, already checked (:func:`zone_list`).
    """
    if not isinstance(catalogue, (list, tuple)) or not catalogue:
        raise DcosError(f"catalogue: must list at least one service, got {_show(catalogue)}")
    services = []
    by_name = {}
    for index, entry in enumerate(catalogue):
        service = parse_entry(index, entry, zones, logs_container_path)
        if service.name in by_name:
            raise DcosError(
                f"{service.where}: name: {service.name} is already the name of {by_name[service.name].where}"
            )
        by_name[service.name] = service
        services.append(service)
    for service in services:
        for position, dependency in enumerate(service.dependencies):
            if dependency not in by_name:
                raise DcosError(
                    f"{service.where}: dependencies[{position}]: no service named {dependency} in the catalogue"
                    f"{_suggest(dependency, by_name)}"
                )
    _check_names(services)
    return services


def projects(services):
    """The project names, sorted."""
    return sorted({s.project for s in services if s.project is not None})


# -- environments ---------------------------------------------------------------------------------


class Env:
    """One environment of ``envs``: its name, gateway address, DNS server IP and zones."""

    __slots__ = ("dns_ip", "gateway", "name", "zones")

    def __init__(self, name, gateway, dns_ip, zones):
        self.name = name
        self.gateway = gateway
        self.dns_ip = dns_ip
        self.zones = zones


def parse_env(env, envs, zones, option="env"):
    """``env`` checked as a Marathon group segment and a key of ``envs``; returns :class:`Env`."""
    service_name(env, option)
    if not isinstance(envs, dict):
        raise DcosError(f"envs: must be a map of env names to {{gateway, dns_ip, zones}}, got {_type_name(envs)}")
    if env not in envs:
        known = ", ".join(sorted(str(k) for k in envs)) or "none"
        raise DcosError(f"{option}: {env} is not an environment of envs (known: {known}){_suggest(env, envs)}")
    where = f"envs.{env}"
    spec = envs[env]
    if not isinstance(spec, dict):
        raise DcosError(f"{where}: must be a map with gateway and dns_ip, got {_type_name(spec)}")
    for key in ("gateway", "dns_ip"):
        if spec.get(key) is None:
            raise DcosError(f"{where}.{key}: required (an IP address)")
    env_zones = zones if spec.get("zones") is None else zone_list(spec["zones"], f"{where}.zones")
    return Env(
        env,
        _validate.ip_address(spec["gateway"], f"{where}.gateway"),
        _validate.ip_address(spec["dns_ip"], f"{where}.dns_ip"),
        env_zones,
    )


def env_kind(env, fallback_env):
    """``integration`` (the fallback env), ``functional`` (``func-<project>``) or ``full``."""
    if env == fallback_env:
        return "integration"
    if env.startswith(FUNCTIONAL_PREFIX):
        return "functional"
    return "full"


class Selection:
    """What one env deploys: ``services`` (``(Service, copy)`` pairs, catalogue order) and
    ``fallback`` (the services its services call that resolve to the fallback env)."""

    def __init__(self, env, kind, project, services, fallback):
        self.env = env
        self.kind = kind
        self.project = project
        self.services = services
        self.fallback = fallback


def select(services, env, fallback_env=DEFAULT_FALLBACK_ENV):
    """Pick the services ``env`` deploys (see the module docstring for the rule)."""
    kind = env_kind(env, fallback_env)
    if kind != "functional":
        return Selection(env, kind, None, [(s, False) for s in services], [])
    project = env[len(FUNCTIONAL_PREFIX) :]
    known = projects(services)
    if project not in known:
        listed = f"known projects: {', '.join(known)}" if known else "the catalogue has no project"
        raise DcosError(
            f"env: {env} is a functional env (func-<project>) but no service of the catalogue has project "
            f"{project!r} ({listed})"
        )
    by_name = {s.name: s for s in services}
    chosen = {s.name for s in services if s.project == project}
    calls_out = set()
    queue = [s for s in services if s.name in chosen]
    while queue:
        service = queue.pop(0)
        for dependency in service.dependencies:
            target = by_name[dependency]
            if target.name in chosen:
                continue
            if target.shared:
                chosen.add(target.name)
                queue.append(target)
            else:
                calls_out.add(target.name)
    picked = [(s, s.shared) for s in services if s.name in chosen]
    fallback = [s for s in services if s.name in calls_out and s.name not in chosen]
    return Selection(env, kind, project, picked, fallback)


# -- rendering ------------------------------------------------------------------------------------


def app_id(env, service):
    return normalize_app_id(f"/{env}/{service.name}", option=f"{service.where}: app id")


def log_dir(logs_root, env, service):
    return posixpath.join(logs_root, env, service.name)


def data_dir(data_root, env, service):
    return posixpath.join(data_root, env, service.name) if service.stateful else None


def labels(env, service, ip, canary_of=None):
    """The labels of the service-discovery contract v1 (docs/label-contract.md); ``canary_of`` is
    the main app's ID when the app is a canary."""
    result = {
        _contract.CONTRACT: _contract.VERSION,
        _contract.ENV: env,
        _contract.NAME: service.fqdn,
        _contract.PORT: str(service.port),
        _contract.PROTOCOL: service.protocol,
        _contract.IP: ip,
    }
    if service.aliases:
        result[_contract.ALIASES] = ",".join(service.aliases)
    if canary_of is not None:
        result[_contract.CANARY_OF] = canary_of
    return result


def health_check(service):
    check = {"protocol": HEALTH_PROTOCOL[service.check], "port": service.port}
    if service.check == "http":
        check["path"] = service.check_path
    check.update(HEALTH_TIMING)
    return check


def render_definition(
    service,
    env,
    ip,
    network,
    dns_ip,
    logs_root=DEFAULT_LOGS_ROOT,
    data_root=DEFAULT_DATA_ROOT,
    logs_container_path=DEFAULT_LOGS_CONTAINER_PATH,
    canary_of=None,
):
    """The Marathon app definition of ``service`` in ``env`` on its fixed ``ip``.

    ``env`` is the env's name; ``network`` the Docker network (docker parameter ``net``);
    ``dns_ip`` the env's DNS server (docker parameter ``dns``); ``canary_of`` the main app's ID
    when ``service`` is a canary (:func:`parse_release`).
    """
    volumes = [{"containerPath": logs_container_path, "hostPath": log_dir(logs_root, env, service), "mode": "RW"}]
    if service.stateful:
        volumes.append(
            {"containerPath": service.data_path, "hostPath": data_dir(data_root, env, service), "mode": "RW"}
        )
    definition = {"instances": service.instances, "cpus": float(service.cpus), "mem": float(service.mem)}
    if service.cmd is not None:
        definition["cmd"] = service.cmd
    definition["env"] = dict(service.env)
    definition["labels"] = labels(env, service, ip, canary_of)
    definition["container"] = {
        "type": "DOCKER",
        "docker": {
            "image": service.image,
            "parameters": [
                {"key": "net", "value": network},
                {"key": "ip", "value": ip},
                {"key": "dns", "value": dns_ip},
            ],
        },
        "volumes": volumes,
    }
    # The container's own network comes from the `net` parameter: no host ports to hand out.
    definition["networks"] = [{"mode": "host"}]
    definition["portDefinitions"] = []
    definition["healthChecks"] = [health_check(service)]
    definition["upgradeStrategy"] = dict(FIXED_IP_UPGRADE)
    return definition


# -- a release: one service on a new image, and its canary ----------------------------------------

RELEASE_OPTIONS = ("service", "image", "canary_instances")
CANARY_SUFFIX = "-canary-"
# Each canary instance is an app of its own (one fixed IP, one task): a few, not a fleet.
CANARY_MAX = 20


class Release:
    """One promotion: ``main`` (the service on the release image, with ``copy`` from the selection)
    and ``canaries`` (``<name>-canary-1`` ... ``-canary-<canary_instances>``, one task each)."""

    __slots__ = ("canaries", "canary_instances", "copy", "main")

    def __init__(self, main, copy, canaries):
        self.main = main
        self.copy = copy
        self.canaries = canaries
        self.canary_instances = len(canaries)

    def result(self, env):
        """The module's ``release`` return value."""
        return {
            "service": self.main.name,
            "app_id": app_id(env, self.main),
            "canary_app_ids": [app_id(env, canary) for canary in self.canaries],
            "image": self.main.image,
            "canary_instances": self.canary_instances,
        }


def release_image(value, service, option="release.image"):
    """``value``, by digest and of the repository of ``service``'s catalogue image (registry and
    path, tag and digest left out on both sides, compared as written). Returned as given: a tag
    beside the digest is kept (Docker pulls by the digest)."""
    repository, _tag, digest = image_parts(value, option)
    if digest is None:
        raise DcosError(
            f"{option}: {value!r} is not by digest; a release runs repository@sha256:<64 lower-case hex digits>"
        )
    expected = image_parts(service.image, f"{service.where}: image")[0]
    if repository != expected:
        raise DcosError(
            f"{option}: repository {repository} is not the repository of {service.name}'s catalogue image "
            f"({expected}); a release runs only its own service's images"
        )
    return value


def _release_service(value, selection, option="release.service"):
    """The ``(service, copy)`` pair of the env's selection named ``value``."""
    service_name(value, option)
    pairs = {service.name: (service, copy) for service, copy in selection.services}
    if value not in pairs:
        raise DcosError(
            f"{option}: {value} is not a service of env {selection.env} (its services: {', '.join(pairs)})"
            f"{_suggest(value, pairs)}"
        )
    return pairs[value]


def canary_instances(value, main, services, option="release.canary_instances"):
    """The number of canary apps (0: no canary); a stateful service has none, and the canaries'
    names (``<name>-canary-<i>``) must be free service names of at most 63 characters."""
    count = _validate.integer(0 if value is None else value, option, minimum=0, maximum=CANARY_MAX)
    if count == 0:
        return 0
    if main.stateful:
        raise DcosError(
            f"{option}: {main.name} is stateful; a canary would run a second task on its data directory (give 0)"
        )
    for name in canary_names(main, count):
        service_name(name, f"{option}: the canary's name {name}")
        taken = next((s for s in services if s.name == name), None)
        if taken is not None:
            raise DcosError(f"{option}: the canary's name {name} is already the name of {taken.where}")
    return count


def canary_names(main, count):
    return [f"{main.name}{CANARY_SUFFIX}{number}" for number in range(1, count + 1)]


def parse_release(value, selection, services, option="release"):
    """The ``release`` option checked against the env's selection -> :class:`Release`."""
    if not isinstance(value, dict):
        raise DcosError(f"{option}: must be a map with service, image and canary_instances, got {_type_name(value)}")
    for key in value:
        if key not in RELEASE_OPTIONS:
            raise DcosError(f"{option}.{key}: not an option of {option}{_suggest(key, RELEASE_OPTIONS)}")
    service, copy = _release_service(value.get("service"), selection)
    main = service.replaced(image=release_image(value.get("image"), service))
    count = canary_instances(value.get("canary_instances"), main, services)
    canaries = [main.replaced(name=name, instances=1) for name in canary_names(main, count)]
    return Release(main, copy, canaries)


def _planned(env, selection, release):
    """``(service, copy, canary_of)`` of each app the plan covers: the selection, or the release's
    main app then its canaries."""
    if release is None:
        return [(service, copy, None) for service, copy in selection.services]
    planned = [(release.main, release.copy, None)]
    for canary in release.canaries:
        planned.append((canary, release.copy, app_id(env, release.main)))
    return planned


# -- the env_plan module's whole computation ------------------------------------------------------


def _app_ips(ips, app_ids):
    if not isinstance(ips, dict):
        raise DcosError(f"ips: must be a map of app ids to IP addresses, got {_type_name(ips)}")
    result = {}
    holder = {}
    for app in app_ids:
        if app not in ips or ips[app] is None:
            raise DcosError(f"ips: no address for {app} (every app of the env needs one, e.g. from pptv.dcos.ip_pool)")
        option = f"ips[{app}]"
        address = _validate.ip_address(ips[app], option)
        if _contract.routable_address(address) is None:
            raise DcosError(f"{option}: {address} is not a unicast address")
        if address in holder:
            raise DcosError(f"{option}: {address} is also the address of {holder[address]}")
        holder[address] = app
        result[app] = address
    return result


def _check_env_zones(env, selected):
    """Every name the env deploys must be inside the zones its DNS is authoritative for."""
    for service, _copy in selected:
        for name in service.names:
            if _contract.zone_of(name, env.zones) in (None, name):
                raise DcosError(
                    f"envs.{env.name}.zones: {name} ({service.where}) is not inside the env's zones "
                    f"({', '.join(env.zones)}); its DNS could not answer it"
                )


def _row(service, copy, canary_of, env, logs_root, data_root):
    """One entry of the ``services`` result."""
    return {
        "name": service.name,
        "app_id": app_id(env, service),
        "fqdn": service.fqdn,
        "names": service.names,
        "port": service.port,
        "protocol": service.protocol,
        "check": service.check,
        "image": service.image,
        "project": service.project,
        "stateful": service.stateful,
        "dependencies": list(service.dependencies),
        "copy": copy,
        "canary_of": canary_of,
        "log_dir": log_dir(logs_root, env, service),
        "data_dir": data_dir(data_root, env, service),
    }


def plan(params):
    """The ``env_plan`` module's result keys from its parameters (a plain dict); raises
    :class:`DcosError` naming the option or the catalogue entry."""
    zones = zone_list(params.get("zones"))
    fallback_env = service_name(params.get("fallback_env") or DEFAULT_FALLBACK_ENV, "fallback_env")
    network = _validate.name(
        params.get("network"), "network", _NETWORK_RE, "a Docker network name: letters, digits, '_', '.' and '-'"
    )
    logs_root = absolute_path(params.get("logs_root") or DEFAULT_LOGS_ROOT, "logs_root")
    data_root = absolute_path(params.get("data_root") or DEFAULT_DATA_ROOT, "data_root")
    logs_container_path = absolute_path(
        params.get("logs_container_path") or DEFAULT_LOGS_CONTAINER_PATH, "logs_container_path"
    )
    services = parse_catalogue(params.get("catalogue"), zones, logs_container_path)
    env = parse_env(params.get("env"), params.get("envs"), zones)
    selection = select(services, env.name, fallback_env)
    if selection.kind == "functional" and fallback_env not in params["envs"]:
        raise DcosError(
            f"fallback_env: {fallback_env} is not an environment of envs; the names functional env {env.name} "
            "lacks resolve to it"
        )
    _check_env_zones(env, selection.services)
    release = None if params.get("release") is None else parse_release(params["release"], selection, services)
    planned = _planned(env.name, selection, release)
    rows = [_row(service, copy, canary_of, env.name, logs_root, data_root) for service, copy, canary_of in planned]
    result = {
        "env": env.name,
        "kind": selection.kind,
        "project": selection.project,
        "services": rows,
        "app_ids": [row["app_id"] for row in rows],
        "log_dirs": [row["log_dir"] for row in rows],
        "data_dirs": [row["data_dir"] for row in rows if row["data_dir"] is not None],
        "fallback": [
            {"name": s.name, "fqdn": s.fqdn, "port": s.port, "protocol": s.protocol} for s in selection.fallback
        ],
    }
    if release is not None:
        result["release"] = release.result(env.name)
    if params.get("ips") is not None:
        addresses = _app_ips(params["ips"], result["app_ids"])
        result["apps"] = [
            {
                "app_id": row["app_id"],
                "definition": render_definition(
                    service,
                    env.name,
                    addresses[row["app_id"]],
                    network,
                    env.dns_ip,
                    logs_root,
                    data_root,
                    logs_container_path,
                    canary_of,
                ),
            }
            for row, (service, _copy, canary_of) in zip(rows, planned)
        ]
    return result
