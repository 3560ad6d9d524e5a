# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Service discovery's desired state, computed in ONE place (pure functions, no I/O).

From Marathon's apps (``GET /v2/apps?embed=apps.tasks``, parsed by ``_contract``) and the
environments of the daemon's configuration, compute for every environment:

* the Nginx upstreams and virtual hosts, as ``_nginx`` :class:`Upstream` objects built by
  ``_nginx.parse_batch`` (the core ``pptv.dcos.nginx_upstream`` uses; nothing is rendered here);
* the DNS record sets per zone (``{zone: {name: {"A": [...], "AAAA": [...]}}}``), with the
  fallback to ``fallback_env`` for names an environment lacks, and the ``_dns.Entry`` list that
  turns what was last applied into them.

The daemon (``_discovery_daemon``) does the I/O around these functions.
"""

from __future__ import annotations

import hashlib
import ipaddress

from ansible_collections.pptv.dcos.plugins.module_utils import _contract, _dns, _nginx
from ansible_collections.pptv.dcos.plugins.module_utils._errors import DcosError

RUNNING = "TASK_RUNNING"
SENTINEL_LABEL = "_pptv-discovery"
SENTINEL_VALUE = "pptv-dcos-discovery contract 1"
PLACEHOLDER_ADDRESS = "127.0.0.1"
ADDRESS_TYPES = ("A", "AAAA")


# ---------------------------------------------------------------------------------------------
# Tasks and health
# ---------------------------------------------------------------------------------------------


def task_health(task, checks, cache):
    """``(routable, known)`` of one task of an app with ``checks`` health checks.

    * No health checks: a running task is routable.
    * A result with ``alive: false``: not routable, and that is remembered.
    * A result per check, all alive: routable, remembered.
    * Fewer results than checks (a new task, or every task just after a Marathon leader change,
      since Marathon keeps results in the leader's memory): the last known value from ``cache``
      (task ID -> bool); a task never seen healthy is not routed yet.

    ``known`` is the value to remember for the task (None: nothing new learnt).
    """
    if task.get("state") != RUNNING:
        return False, None
    if not checks:
        return True, None
    raw_results = task.get("healthCheckResults")
    results = [r for r in raw_results if isinstance(r, dict)] if isinstance(raw_results, list) else []
    if any(r.get("alive") is False for r in results):
        return False, False
    if results and len(results) >= checks and all(r.get("alive") is True for r in results):
        return True, True
    task_id = task.get("id")
    cached = cache.get(task_id) if isinstance(task_id, str) else None
    return bool(cached), None


def task_ips(task):
    """The task's IP addresses (``ipAddresses``; else ``host`` when it is an IP address)."""
    items = task.get("ipAddresses")
    candidates = [i.get("ipAddress") for i in items if isinstance(i, dict)] if isinstance(items, list) else []
    ips = [ip for ip in map(_contract.routable_address, candidates) if ip is not None]
    if not ips:
        host = _contract.routable_address(task.get("host"))
        ips = [host] if host is not None else []
    return ips


class Resolved:
    """A service with its routable tasks: ``servers`` (``[ip, port]``) and ``addresses`` (IPs)."""

    __slots__ = ("addresses", "servers", "service", "tasks")

    def __init__(self, service, servers, addresses, tasks=0):
        self.service = service
        self.servers = servers
        self.addresses = addresses
        self.tasks = tasks

    def as_dict(self):
        return {
            "service": self.service.as_dict(),
            "servers": [list(s) for s in self.servers],
            "addresses": list(self.addresses),
            "tasks": self.tasks,
        }

    @classmethod
    def from_dict(cls, data):
        return cls(
            _contract.Service.from_dict(data["service"]),
            [tuple(s) for s in data.get("servers") or []],
            list(data.get("addresses") or []),
            data.get("tasks") or 0,
        )


def resolve(parsed, health_cache):
    """Every service of ``parsed`` with its routable tasks; returns ``(resolved, new_cache)``.

    ``new_cache`` holds the health of every task still present (tasks that are gone are
    forgotten), so it stays the size of the fleet.
    """
    resolved = {}
    cache = {}
    for app_id, service in list(parsed.services.items()):
        try:
            resolved[app_id] = _resolve_app(service, parsed.apps[app_id], health_cache, cache)
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            # Marathon sent something of the wrong shape for this app only: leave it out, say why.
            del parsed.services[app_id]
            parsed.quarantined[app_id] = f"its tasks cannot be read ({type(exc).__name__}: {exc})"
    if parsed.unreadable:
        # Half-written apps are kept as last applied: keep what was known of their tasks' health
        # too, or they would come back unrouted after a leader change.
        cache = {**health_cache, **cache}
    return resolved, cache


def _resolve_app(service, app, health_cache, cache):
    """One service with its routable tasks (``cache`` gains the health learnt of its tasks)."""
    health_checks = app.get("healthChecks") or []
    if not isinstance(health_checks, list):
        raise TypeError(f"healthChecks is {type(health_checks).__name__}, not a list")
    checks = len(health_checks)
    tasks = app.get("tasks") or []
    if not isinstance(tasks, list):
        raise TypeError(f"tasks is {type(tasks).__name__}, not a list")
    servers, addresses, routable = [], [], 0
    for task in sorted((t for t in tasks if isinstance(t, dict)), key=lambda t: str(t.get("id"))):
        ok, known = task_health(task, checks, health_cache)
        task_id = task.get("id")
        if isinstance(task_id, str):
            if known is not None:
                cache[task_id] = known
            elif task_id in health_cache:
                cache[task_id] = health_cache[task_id]
        if not ok:
            continue
        ips = task_ips(task)
        if not ips:
            continue
        routable += 1
        servers.append((ips[0], service.port))
        for ip in ips:
            if ip not in addresses:
                addresses.append(ip)
    if service.ip is not None:
        addresses = [service.ip]
    return Resolved(service, servers, addresses, routable)


# ---------------------------------------------------------------------------------------------
# Desired state per environment
# ---------------------------------------------------------------------------------------------


def upstream_name(env, name, port):
    """``<env>_<name>_<port>``: unique per env, file name safe (``_`` is in neither part)."""
    text = f"{env}_{name}_{port}"
    if len(text) <= 128:
        return text
    # The whole env name (a Marathon group segment, at most 63 characters): two envs that share
    # a prefix must never share an upstream.
    return f"{env}_{hashlib.sha256(name.encode()).hexdigest()[:32]}_{port}"


def address_type(ip):
    return "AAAA" if ipaddress.ip_address(ip).version == 6 else "A"


def _address_rrsets(ips):
    rrsets = {}
    for ip in ips:
        rrsets.setdefault(address_type(ip), set()).add(ip)
    return {t: sorted(v, key=ipaddress.ip_address) for t, v in sorted(rrsets.items())}


class EnvState:
    """The desired state of one environment."""

    def __init__(self, env):
        self.env = env
        self.services = []  # main services with their servers (canaries merged in)
        self.upstreams = []  # dicts for _nginx.parse_batch
        self.upstream_apps = {}  # upstream name -> app IDs whose tasks it holds
        self.defined = set()  # names this env defines (whether or not they have an address)
        self.records = {}  # zone -> {name: {rdtype: [values]}}

    def record_count(self):
        return sum(len(names) for names in self.records.values())


def _endpoint(ip, port):
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def _add_service(state, env_conf, item, canary_items):
    """Add one main service (with its canaries' tasks) to its env's upstreams and records."""
    service = item.service
    servers = list(item.servers)
    addresses = list(item.addresses)
    for canary in canary_items:
        servers += [s for s in canary.servers if s not in servers]
        if service.ip is None:
            addresses += [a for a in canary.addresses if a not in addresses]
    http = service.protocol == "http"
    state.services.append(
        {
            "app_id": service.app_id,
            "name": service.name,
            "aliases": list(service.aliases),
            "port": service.port,
            "protocol": service.protocol,
            "servers": [_endpoint(ip, port) for ip, port in servers] if http else addresses,
            "canaries": [c.service.app_id for c in canary_items],
        }
    )
    state.defined.update(service.names)
    answer = addresses
    if http:
        gateway = env_conf["gateway"]
        name = upstream_name(service.env, service.name, service.port)
        state.upstreams.append(
            {
                "name": name,
                "servers": [{"address": ip, "port": port} for ip, port in servers]
                or [{"address": PLACEHOLDER_ADDRESS, "port": service.port, "down": True}],
                "vhosts": [{"name": n, "listen": _endpoint(gateway, service.port)} for n in service.names],
            }
        )
        state.upstream_apps[name] = [service.app_id] + [c.service.app_id for c in canary_items]
        answer = [gateway]
    if answer:
        rrsets = _address_rrsets(answer)
        for fqdn in service.names:
            zone = _contract.zone_of(fqdn, env_conf["zones"])
            state.records.setdefault(zone, {})[fqdn] = rrsets


def _fill_from(state, base, zones):
    """Names ``base`` (the fallback env) answers and ``state`` does not define: base's answer."""
    for names in base.records.values():
        for fqdn, rrsets in names.items():
            zone = _contract.zone_of(fqdn, zones)
            if fqdn in state.defined or zone is None or zone == fqdn:
                continue
            state.records.setdefault(zone, {})[fqdn] = rrsets


def desired_state(resolved, environments, fallback_env=None):
    """``{env: EnvState}`` for every configured env, from ``{app_id: Resolved}``.

    ``environments`` maps env -> ``{"zones": [...], "gateway": ip}``. Canary tasks join their main
    app's upstream; the fallback env's names fill in what another env does not define.
    """
    states = {env: EnvState(env) for env in environments}
    mains = {a: r for a, r in resolved.items() if r.service.canary_of is None and r.service.env in states}
    canaries = {}
    for _app_id, item in sorted(resolved.items()):
        if item.service.canary_of is not None and item.service.canary_of in mains:
            canaries.setdefault(item.service.canary_of, []).append(item)
    for app_id in sorted(mains):
        item = mains[app_id]
        env = item.service.env
        _add_service(states[env], environments[env], item, canaries.get(app_id, []))
    if fallback_env and fallback_env in states:
        for env, state in states.items():
            if env != fallback_env:
                _fill_from(state, states[fallback_env], environments[env]["zones"])
    for env, state in states.items():
        for zone in environments[env]["zones"]:
            state.records.setdefault(zone, {})
    return states


def nginx_upstreams(states, exclude=()):
    """All envs' upstreams through ``_nginx.parse_batch``; returns ``(upstreams, upstream_apps, refused)``.

    Each upstream is validated alone first, so a value ``_nginx`` refuses (it should never pass
    the contract) quarantines only the apps of that upstream: ``refused`` maps app ID -> reason.
    Upstreams named in ``exclude`` are left out.
    """
    items, owners, refused = [], {}, {}
    for env in sorted(states):
        state = states[env]
        for item in state.upstreams:
            if item["name"] in exclude:
                continue
            try:
                _nginx.parse_batch([item])
            except DcosError as exc:
                for app_id in state.upstream_apps[item["name"]]:
                    refused[app_id] = f"nginx: {exc}"
                continue
            items.append(item)
            owners[item["name"]] = state.upstream_apps[item["name"]]
    return _nginx.parse_batch(items), owners, refused


# ---------------------------------------------------------------------------------------------
# DNS: what to send
# ---------------------------------------------------------------------------------------------


def sentinel_name(zone):
    return f"{SENTINEL_LABEL}.{zone}"


def dns_entries(zone, desired, previous, full=False, ttl=None):
    """The ``_dns.Entry`` list that turns ``previous`` into ``desired`` for one zone.

    ``desired`` and ``previous`` map name -> ``{rdtype: [values]}``. Only names that differ are
    listed, unless ``full`` (a full resync: every desired name is re-read and rewritten when the
    server differs, and the sentinel record is written too). A name or type that was applied
    before and is no longer desired is deleted.
    """
    entries = []
    names = sorted(set(desired) | set(previous))
    for fqdn in names:
        want = desired.get(fqdn) or {}
        had = previous.get(fqdn) or {}
        if not full and want == had:
            continue
        for rdtype in ADDRESS_TYPES:
            if rdtype in want:
                entries.append(_dns.Entry(fqdn + ".", type=rdtype, value=list(want[rdtype]), ttl=ttl))
            elif rdtype in had:
                entries.append(_dns.Entry(fqdn + ".", type=rdtype, state="absent"))
    if full:
        entries.append(_dns.Entry(sentinel_name(zone) + ".", type="TXT", value=[SENTINEL_VALUE], ttl=ttl))
    return entries
