# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The service-discovery label contract, version 1: the ONE place where app labels are read.

An app is managed when it carries ``pptv.dcos/contract: "1"``. :func:`parse_app` turns one
app's JSON (as ``GET /v2/apps`` returns it) into a :class:`Service` or a quarantine reason;
:func:`parse_apps` does it for the whole list and applies the rules that involve several apps
(a name claimed twice in one environment, canaries). Nothing is rendered from a value that did
not pass here. See ``docs/label-contract.md``.

Every check is a full match (``re.fullmatch``), so a trailing newline or a space never slips
through; whitespace, ``;``, ``{``, ``}`` and control characters anywhere in a contract label
quarantine the app.
"""

from __future__ import annotations

import ipaddress
import re

PREFIX = "pptv.dcos/"
CONTRACT = PREFIX + "contract"
ENV = PREFIX + "env"
NAME = PREFIX + "name"
PORT = PREFIX + "port"
PROTOCOL = PREFIX + "protocol"
IP = PREFIX + "ip"
ALIASES = PREFIX + "aliases"
CANARY_OF = PREFIX + "canary-of"
KNOWN = (CONTRACT, ENV, NAME, PORT, PROTOCOL, IP, ALIASES, CANARY_OF)
REQUIRED = (ENV, NAME, PORT, PROTOCOL)
VERSION = "1"
PROTOCOLS = ("http", "tcp")

_ENV_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_DNS_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_FQDN_RE = re.compile(rf"{_DNS_LABEL}(?:\.{_DNS_LABEL})+")
_PORT_RE = re.compile(r"[1-9][0-9]{0,4}")
_APP_ID_RE = re.compile(r"(?:/[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?)+")
# Anything that could end, open or separate something in a config file we write.
_FORBIDDEN_RE = re.compile(r"[\s;{}\x00-\x1f\x7f\"'#\\]")


class Quarantine(Exception):
    """An app that is left out; ``reason`` says why, in words."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


class Service:
    """A managed app, as the contract reads it (no tasks: see :func:`task_addresses`)."""

    __slots__ = ("aliases", "app_id", "canary_of", "env", "ip", "name", "port", "protocol", "version")

    def __init__(self, app_id, env, name, port, protocol, ip=None, aliases=(), canary_of=None, version=None):
        self.app_id = app_id
        self.env = env
        self.name = name
        self.port = port
        self.protocol = protocol
        self.ip = ip
        self.aliases = tuple(aliases)
        self.canary_of = canary_of
        self.version = version

    @property
    def names(self):
        """The name and the aliases, in order."""
        return (self.name,) + self.aliases

    def as_dict(self):
        return {
            key: (list(v) if isinstance(v, tuple) else v) for key, v in ((k, getattr(self, k)) for k in self.__slots__)
        }

    @classmethod
    def from_dict(cls, data):
        return cls(**{k: data.get(k) for k in cls.__slots__ if k != "aliases"}, aliases=data.get("aliases") or ())

    def __eq__(self, other):
        return isinstance(other, Service) and self.as_dict() == other.as_dict()

    def __repr__(self):
        return f"Service({self.as_dict()!r})"


def _shown(value):
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "...'"


def _clean(key, value):
    """A label value: a string without forbidden characters (whitespace, ';', '{', newline ...)."""
    if not isinstance(value, str):
        raise Quarantine(f"label {key}: {_shown(value)} is not a string")
    if value == "":
        raise Quarantine(f"label {key}: empty")
    bad = _FORBIDDEN_RE.search(value)
    if bad:
        raise Quarantine(f"label {key}: {_shown(value)} holds a forbidden character {bad.group()!r} at {bad.start()}")
    return value


def in_zone(name, zone):
    return name == zone or name.endswith("." + zone)


def zone_of(name, zones):
    """The longest zone of ``zones`` holding ``name`` (None when none does)."""
    best = None
    for zone in zones:
        if in_zone(name, zone) and (best is None or len(zone) > len(best)):
            best = zone
    return best


def validate_fqdn(key, value, zones):
    value = _clean(key, value)
    if len(value) > 253 or not _FQDN_RE.fullmatch(value):
        raise Quarantine(
            f"label {key}: {_shown(value)} is not a fully qualified domain name (lower-case labels of letters, "
            "digits and '-', at least two labels, no trailing dot)"
        )
    zone = zone_of(value, zones)
    if zone is None or zone == value:
        raise Quarantine(f"label {key}: {value} is not inside the environment's zones ({', '.join(zones) or 'none'})")
    return value


def validate_port(key, value):
    value = _clean(key, value)
    if not _PORT_RE.fullmatch(value) or not 1 <= int(value) <= 65535:
        raise Quarantine(f"label {key}: {_shown(value)} is not a port (1..65535, digits only)")
    return int(value)


def routable_address(value):
    """``value`` as a canonical unicast IP address, or None: the one rule for every address that
    reaches Nginx or DNS (the ``ip`` label and task IPs alike). A scope (``fe80::1%eth0``) is
    refused: neither an upstream nor an AAAA record can carry it."""
    if not isinstance(value, str) or "%" in value:
        return None
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if address.is_unspecified or address.is_multicast:
        return None
    return str(address)


def validate_ip(key, value):
    value = _clean(key, value)
    address = routable_address(value)
    if address is None:
        raise Quarantine(f"label {key}: {_shown(value)} is not a unicast IP address")
    return address


def validate_app_id(key, value):
    value = _clean(key, value)
    if not _APP_ID_RE.fullmatch(value):
        raise Quarantine(f"label {key}: {_shown(value)} is not an absolute Marathon app ID (/group/app)")
    return value


def _check_keys(labels):
    """The contract version, the known keys, and no forbidden character in any contract label."""
    contract = labels[CONTRACT]
    if contract != VERSION:
        raise Quarantine(f"label {CONTRACT}: {_shown(contract)} is not a supported contract version ({VERSION!r})")
    for key in labels:
        if not isinstance(key, str):
            raise Quarantine(f"label key {_shown(key)} is not a string")
        if key.startswith(PREFIX) and key not in KNOWN:
            raise Quarantine(f"label {key}: unknown label of contract {VERSION} (known: {', '.join(KNOWN)})")
    for key in KNOWN:
        if key in labels:
            _clean(key, labels[key])
    missing = [key for key in REQUIRED if key not in labels]
    if missing:
        raise Quarantine(f"label {missing[0]}: required by contract {VERSION}")


def _aliases(labels, name, zones):
    aliases = []
    if ALIASES in labels:
        for position, text in enumerate(labels[ALIASES].split(",")):
            alias = validate_fqdn(f"{ALIASES}[{position}]", text, zones)
            if alias == name or alias in aliases:
                raise Quarantine(f"label {ALIASES}[{position}]: {alias} is given twice")
            aliases.append(alias)
    return aliases


def parse_app(app, environments):
    """``app`` (a dict from ``GET /v2/apps``) -> a :class:`Service`, or None when unmanaged.

    ``environments`` maps each env name to its zones (a list of zone names). Raises
    :class:`Quarantine` when the app carries the contract but is not exactly valid.
    """
    labels = app.get("labels")
    if labels is None:
        return None
    if not isinstance(labels, dict):
        raise Quarantine("labels is not a mapping")
    if CONTRACT not in labels:
        stray = sorted(k for k in labels if isinstance(k, str) and k.startswith(PREFIX))
        if stray:
            raise Quarantine(f"label {CONTRACT} is missing but {', '.join(stray)} is set")
        return None
    _check_keys(labels)
    env = labels[ENV]
    if not _ENV_RE.fullmatch(env):
        raise Quarantine(f"label {ENV}: {_shown(env)} is not an environment name (lower-case letters, digits, '-')")
    if env not in environments:
        raise Quarantine(f"label {ENV}: environment {env} is not configured in this discovery daemon")
    zones = list(environments[env])
    name = validate_fqdn(NAME, labels[NAME], zones)
    port = validate_port(PORT, labels[PORT])
    protocol = labels[PROTOCOL]
    if protocol not in PROTOCOLS:
        raise Quarantine(f"label {PROTOCOL}: {_shown(protocol)} is not one of {', '.join(PROTOCOLS)}")
    ip = validate_ip(IP, labels[IP]) if IP in labels else None
    aliases = _aliases(labels, name, zones)
    canary_of = validate_app_id(CANARY_OF, labels[CANARY_OF]) if CANARY_OF in labels else None
    app_id = app.get("id")
    if canary_of is not None and canary_of == app_id:
        raise Quarantine(f"label {CANARY_OF}: an app cannot be a canary of itself")
    return Service(
        app_id=app_id,
        env=env,
        name=name,
        port=port,
        protocol=protocol,
        ip=ip,
        aliases=aliases,
        canary_of=canary_of,
        version=_claim_time(app),
    )


def _claim_time(app):
    """When the app's labels last changed (its claim on its names): lastConfigChangeAt, or version."""
    info = app.get("versionInfo")
    if isinstance(info, dict) and isinstance(info.get("lastConfigChangeAt"), str):
        return info["lastConfigChangeAt"]
    version = app.get("version")
    return version if isinstance(version, str) else ""


def app_is_readable(app):
    """Whether ``app`` has the shape a sync needs (an ID and a task list); else it was half-written."""
    if not isinstance(app, dict):
        return False
    app_id = app.get("id")
    if not isinstance(app_id, str) or not app_id.startswith("/"):
        return False
    tasks = app.get("tasks")  # always there with embed=apps.tasks: missing means half-written
    if not isinstance(tasks, list) or not all(isinstance(t, dict) for t in tasks):
        return False
    labels = app.get("labels", {})
    return labels is None or isinstance(labels, dict)


class Parsed:
    """The outcome of :func:`parse_apps`."""

    def __init__(self):
        self.services = {}  # app_id -> Service (valid, conflicts resolved)
        self.quarantined = {}  # app_id -> reason
        self.unreadable = []  # app IDs (or positions) whose JSON could not be read as an app
        self.apps = {}  # app_id -> app JSON of every readable app (managed or not)


def _claim_names(parsed, mains):
    """Give each name to its oldest claim; quarantine the later claims."""
    owners = {}  # (env, name) -> app_id
    for service in sorted(mains, key=lambda s: (s.version or "", s.app_id)):
        clash = next((n for n in service.names if (service.env, n) in owners), None)
        if clash is not None:
            holder = owners[(service.env, clash)]
            parsed.quarantined[service.app_id] = (
                f"name {clash} is already claimed in env {service.env} by {holder} "
                f"(only a canary, label {CANARY_OF}: {holder}, may share it)"
            )
            continue
        for name in service.names:
            owners[(service.env, name)] = service.app_id
        parsed.services[service.app_id] = service


def _canary_problem(parsed, service, candidates):
    """Why a canary cannot join its main app (None: it can)."""
    main = parsed.services.get(service.canary_of)
    if main is None or main.canary_of is not None:
        if service.canary_of in parsed.quarantined:
            return f"label {CANARY_OF}: {service.canary_of} is quarantined"
        if any(s.app_id == service.canary_of for s in candidates):
            return f"label {CANARY_OF}: {service.canary_of} is itself a canary"
        return f"label {CANARY_OF}: {service.canary_of} is not a managed app"
    problem = None
    extra = [a for a in service.aliases if a not in main.names]
    if main.env != service.env:
        problem = f"label {CANARY_OF}: {main.app_id} is in env {main.env}, not {service.env}"
    elif (main.name, main.port, main.protocol) != (service.name, service.port, service.protocol):
        problem = (
            f"label {CANARY_OF}: a canary must have the name, port and protocol of {main.app_id} "
            f"({main.name}:{main.port}/{main.protocol}, not {service.name}:{service.port}/{service.protocol})"
        )
    elif extra:
        problem = f"label {ALIASES}: {extra[0]} is not a name of {main.app_id} (a canary adds no names)"
    return problem


def parse_apps(apps, environments):
    """Parse every app; resolve names claimed twice and canaries. Returns :class:`Parsed`.

    * Per env, each name (a name or an alias) belongs to one main app: the one whose claim is
      oldest (``versionInfo.lastConfigChangeAt``, then the app ID); a later app claiming it is
      quarantined, naming the holder.
    * A canary (``pptv.dcos/canary-of``) must point at a valid main app of the same env with the
      same name, port and protocol; its own aliases must be among the main app's names. A canary
      of a canary, or of an app that is missing or quarantined, is quarantined.
    """
    parsed = Parsed()
    candidates = []
    for position, app in enumerate(apps):
        if not app_is_readable(app):
            app_id = app.get("id") if isinstance(app, dict) and isinstance(app.get("id"), str) else None
            parsed.unreadable.append(app_id or f"#{position}")
            continue
        parsed.apps[app["id"]] = app
        try:
            service = parse_app(app, environments)
        except Quarantine as exc:
            parsed.quarantined[app["id"]] = exc.reason
            continue
        if service is not None:
            candidates.append(service)
    _claim_names(parsed, [s for s in candidates if s.canary_of is None])
    for service in sorted((s for s in candidates if s.canary_of is not None), key=lambda s: s.app_id):
        problem = _canary_problem(parsed, service, candidates)
        if problem:
            parsed.quarantined[service.app_id] = problem
        else:
            parsed.services[service.app_id] = service
    return parsed
