# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""``pptv-dcos-discovery``: follow Marathon, keep each environment's Nginx and DNS in step.

Run it as::

    PYTHONPATH=<dir holding ansible_collections/> \\
        python3 -m ansible_collections.pptv.dcos.plugins.module_utils._discovery_daemon --config FILE

Threads: the event stream (``/v2/events`` with ``event_type`` filters; events only mark the state
dirty), one worker (at most one sync running and one pending, ``min_interval`` apart), the
``/status`` and ``/metrics`` HTTP server, and, with ZooKeeper configured, the DNS writer election.
A sync is one ``GET /v2/apps?embed=apps.tasks`` -> ``_contract`` -> ``_discovery`` -> Nginx through
``_nginx.converge`` and DNS through ``_dns.converge``. See ``docs/discovery.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import logging
import math
import os
import random
import re
import signal
import socket
import sys
import tempfile
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from ansible_collections.pptv.dcos.plugins.module_utils import _contract, _discovery, _dns, _nginx, _validate
from ansible_collections.pptv.dcos.plugins.module_utils._errors import DcosError
from ansible_collections.pptv.dcos.plugins.module_utils._marathon_client import MarathonClient

try:
    import yaml
except ImportError:
    HAS_YAML = False
else:
    HAS_YAML = True

try:
    from dns.rdatatype import TXT
except ImportError:
    TXT = 16  # the RR type number; _dns reports the missing library itself

try:
    from kazoo.client import KazooClient, KazooState
    from kazoo.exceptions import LockTimeout
except ImportError:
    HAS_KAZOO = False
    KAZOO_IMPORT_ERROR = traceback.format_exc()
else:
    HAS_KAZOO = True
    KAZOO_IMPORT_ERROR = None

LOG = logging.getLogger("pptv-dcos-discovery")
STATE_VERSION = 1
STATE_FILE = "state.json"
# Marathon's event types that can change what the daemon writes (server-side filter).
EVENT_TYPES = (
    "status_update_event",
    "health_status_changed_event",
    "instance_health_changed_event",
    "instance_changed_event",
    "unhealthy_instance_kill_event",
    "api_post_event",
    "app_terminated_event",
    "deployment_success",
    "deployment_failed",
    "scheduler_reregistered_event",
)
FULL_RESYNC_EVENTS = ("scheduler_reregistered_event",)
MAX_RETRY_INTERVAL = 30.0
STREAM_BACKOFF_BASE = 0.5
STREAM_BACKOFF_MAX = 30.0
STREAM_HEALTHY_SECONDS = 10.0
_ENV_NAME_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_ZONE_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*")


# ---------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------


class ConfigError(DcosError):
    """The configuration file is not valid; the message names the key."""


def _fail(key, problem):
    raise ConfigError(f"{key}: {problem}", option=key)


def _mapping(key, value, allowed, required=()):
    if value is None:
        value = {}
    if not isinstance(value, dict):
        _fail(key, f"must be a mapping, not {type(value).__name__}")
    for name in value:
        if name not in allowed:
            _fail(f"{key}.{name}" if key else name, f"unknown key (known: {', '.join(allowed)})")
    for name in required:
        if value.get(name) is None:
            _fail(f"{key}.{name}" if key else name, "required")
    return value


def _string(key, value, required=False):
    if value is None:
        if required:
            _fail(key, "required")
        return None
    if not isinstance(value, str) or not value.strip() or value != value.strip():
        _fail(key, f"{value!r} is not a non-empty string without surrounding spaces")
    return value


def _number(key, value, default, minimum, maximum=None, integer=False):
    if value is None:
        return default
    finite = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not finite:
        _fail(key, f"{value!r} is not a finite number")
    if integer and not isinstance(value, int):
        _fail(key, f"{value!r} is not an integer")
    if value < minimum or (maximum is not None and value > maximum):
        _fail(key, f"{value!r} is outside {minimum}..{maximum if maximum is not None else 'any'}")
    return value


def _boolean(key, value, default):
    if value is None:
        return default
    if not isinstance(value, bool):
        _fail(key, f"{value!r} is not true or false")
    return value


def _shared(validator, value, key, **kwargs):
    """A validator of ``_validate`` (shared by the collection), its error as a ConfigError."""
    try:
        return validator(value, key, **kwargs)
    except ConfigError:
        raise
    except DcosError as exc:
        raise ConfigError(str(exc), option=key) from None


def _ip(key, value, required=True):
    value = _string(key, value, required=required)
    if value is None:
        return None
    return _shared(_validate.ip_address, value, key)


def _listen(key, value):
    value = _string(key, value or "127.0.0.1:9900")
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        _fail(key, f"{value!r} is not HOST:PORT")
    host = host.strip("[]") or "0.0.0.0"
    try:
        ipaddress.ip_address(host)
    except ValueError:
        _fail(key, f"{value!r}: {host!r} is not an IP address")
    return host, int(port)


def _string_list(key, value):
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list) or not value:
        _fail(key, "must be a non-empty list of strings")
    return [_string(f"{key}[{i}]", item, required=True) for i, item in enumerate(value)]


def _marathon_config(raw):
    m = _mapping(
        "marathon",
        raw,
        ("urls", "username", "password", "token", "timeout", "stream_timeout", "validate_certs", "ca_path"),
        required=("urls",),
    )
    marathon = {
        "urls": _string_list("marathon.urls", m["urls"]),
        "username": _string("marathon.username", m.get("username")),
        "password": m.get("password"),
        "token": m.get("token"),
        "timeout": _number("marathon.timeout", m.get("timeout"), 10.0, 0.1, 600),
        "stream_timeout": _number("marathon.stream_timeout", m.get("stream_timeout"), 30.0, 1, 3600),
        "validate_certs": _boolean("marathon.validate_certs", m.get("validate_certs"), True),
        "ca_path": _string("marathon.ca_path", m.get("ca_path")),
    }
    for url in marathon["urls"]:
        if not re.fullmatch(r"https?://[^\s/]+(?:/\S*)?", url):
            _fail("marathon.urls", f"{url!r} is not an http:// or https:// URL")
    for secret in ("password", "token"):
        if marathon[secret] is not None and not isinstance(marathon[secret], str):
            _fail(f"marathon.{secret}", "must be a string")
    if bool(marathon["username"]) != bool(marathon["password"]):
        _fail("marathon.username", "username and password go together")
    if marathon["token"] and marathon["username"]:
        _fail("marathon.token", "give token or username/password, not both")
    return marathon


def _nginx_config(raw):
    n = _mapping("nginx", raw, ("conf_dir", "nginx_binary", "nginx_conf", "reload"), required=("conf_dir",))
    return {
        "conf_dir": _string("nginx.conf_dir", n["conf_dir"], required=True),
        "nginx_binary": _string("nginx.nginx_binary", n.get("nginx_binary")) or "nginx",
        "nginx_conf": _string("nginx.nginx_conf", n.get("nginx_conf")) or "/etc/nginx/nginx.conf",
        "reload": _boolean("nginx.reload", n.get("reload"), True),
    }


def _dns_config(raw):
    d = _mapping("dns", raw, ("key_name", "key_algorithm", "key_secret", "key_file", "ttl", "timeout", "protocol"))
    dns = {
        "key_name": _string("dns.key_name", d.get("key_name")),
        "key_algorithm": _string("dns.key_algorithm", d.get("key_algorithm")) or "hmac-sha256",
        "key_secret": d.get("key_secret"),
        "key_file": _string("dns.key_file", d.get("key_file")),
        "ttl": _number("dns.ttl", d.get("ttl"), 60, 0, 2147483647, integer=True),
        "timeout": _number("dns.timeout", d.get("timeout"), 5.0, 0.1, 600),
        "protocol": _string("dns.protocol", d.get("protocol")) or "tcp",
    }
    if dns["protocol"] not in ("tcp", "udp"):
        _fail("dns.protocol", f"{dns['protocol']!r} is not tcp or udp")
    if dns["key_algorithm"] not in _dns.KEY_ALGORITHMS:
        _fail("dns.key_algorithm", f"{dns['key_algorithm']!r} is not one of {', '.join(_dns.KEY_ALGORITHMS)}")
    if dns["key_secret"] is not None and dns["key_file"] is not None:
        _fail("dns.key_secret", "give key_secret or key_file, not both")
    if dns["key_secret"] is not None and (not isinstance(dns["key_secret"], str) or not dns["key_secret"]):
        _fail("dns.key_secret", "must be a base64 string")
    if dns["key_secret"] is not None and not dns["key_name"]:
        _fail("dns.key_name", "required with key_secret")
    return dns


def _zookeeper_config(raw):
    if raw is None:
        return None
    z = _mapping("zookeeper", raw, ("hosts", "path", "session_timeout"), required=("hosts",))
    hosts = ",".join(_string_list("zookeeper.hosts", z["hosts"]))
    _shared(_validate.host_port_list, hosts, "zookeeper.hosts", default_port=2181)
    zk = {
        "hosts": hosts,
        "path": _string("zookeeper.path", z.get("path")) or "/pptv-dcos/discovery/dns-writer",
        "session_timeout": _number("zookeeper.session_timeout", z.get("session_timeout"), 10.0, 1, 600),
    }
    if not re.fullmatch(r"(?:/[A-Za-z0-9._-]+)+", zk["path"]):
        _fail("zookeeper.path", f"{zk['path']!r} is not an absolute ZooKeeper path")
    return zk


def _environment_config(env, raw):
    key = f"environments.{env}"
    if not isinstance(env, str) or not _ENV_NAME_RE.fullmatch(env):
        _fail(key, "is not an environment name (lower-case letters, digits and '-')")
    conf = _mapping(key, raw, ("zones", "gateway", "dns_server", "dns_port", "dns_app"), required=("zones", "gateway"))
    zones = _string_list(f"{key}.zones", conf["zones"])
    for i, zone in enumerate(zones):
        if not _ZONE_RE.fullmatch(zone) or len(zone) > 253:
            _fail(f"{key}.zones[{i}]", f"{zone!r} is not a zone name (lower-case, no trailing dot)")
    dns_app = _string(f"{key}.dns_app", conf.get("dns_app"))
    if dns_app is not None and not re.fullmatch(r"(?:/[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?)+", dns_app):
        _fail(f"{key}.dns_app", f"{dns_app!r} is not an absolute Marathon app ID")
    return {
        "zones": zones,
        "gateway": _ip(f"{key}.gateway", conf["gateway"]),
        "dns_server": _string(f"{key}.dns_server", conf.get("dns_server")),
        "dns_port": _number(f"{key}.dns_port", conf.get("dns_port"), 53, 1, 65535, integer=True),
        "dns_app": dns_app,
    }


TOP_KEYS = (
    "marathon",
    "listen",
    "state_dir",
    "min_interval",
    "resync_interval",
    "retry_interval",
    "nginx",
    "dns",
    "zookeeper",
    "environments",
    "fallback_env",
)


def validate_config(raw):
    """Check and normalise the configuration mapping; raises :class:`ConfigError` naming the key."""
    top = _mapping("", raw, TOP_KEYS, required=("marathon", "nginx", "environments"))
    envs_raw = top["environments"]
    if not isinstance(envs_raw, dict) or not envs_raw:
        _fail("environments", "must be a non-empty mapping of environment name -> settings")
    environments = {env: _environment_config(env, conf) for env, conf in envs_raw.items()}
    fallback = top.get("fallback_env", "int" if "int" in environments else None)
    if fallback is not None and fallback not in environments:
        _fail("fallback_env", f"{fallback!r} is not one of the environments ({', '.join(environments)})")
    return {
        "marathon": _marathon_config(top["marathon"]),
        "listen": _listen("listen", top.get("listen")),
        "state_dir": _string("state_dir", top.get("state_dir")) or "/var/lib/pptv-dcos/discovery",
        "min_interval": _number("min_interval", top.get("min_interval"), 1.0, 0, 3600),
        "resync_interval": _number("resync_interval", top.get("resync_interval"), 300.0, 1, 86400),
        "retry_interval": _number("retry_interval", top.get("retry_interval"), 2.0, 0.05, 3600),
        "nginx": _nginx_config(top["nginx"]),
        "dns": _dns_config(top.get("dns")),
        "zookeeper": _zookeeper_config(top.get("zookeeper")),
        "environments": environments,
        "fallback_env": fallback,
    }


def _keep_names_for(app_id, resolved, parsed):
    """A half-written app kept as last applied keeps its names: a live app of its env that now
    claims one of them (it was quarantined as the duplicate until now) stays quarantined."""
    kept = resolved[app_id].service
    names = {kept.name, *kept.aliases}
    for other_id, other in list(resolved.items()):
        service = other.service
        if other_id == app_id or other_id in parsed.unreadable or service.env != kept.env:
            continue
        if service.canary_of == app_id or not names & {service.name, *service.aliases}:
            continue
        del resolved[other_id]
        parsed.services.pop(other_id, None)
        parsed.quarantined[other_id] = (
            f"name {service.name} is held by {app_id} (half-written in Marathon's answer, kept as last applied)"
        )


def load_config(path):
    """Read and validate the configuration file (YAML when PyYAML is there, else JSON)."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise ConfigError(f"config: cannot read {path}: {exc.strerror or exc}") from None
    try:
        raw = yaml.safe_load(text) if HAS_YAML and not path.endswith(".json") else json.loads(text)
    except Exception as exc:  # noqa: BLE001 (yaml and json raise their own error types)
        kind = "YAML" if HAS_YAML else "JSON"
        raise ConfigError(f"config: {path} is not valid {kind}: {_parse_error(exc)}") from None
    return validate_config(raw)


def _parse_error(exc):
    """Where and what, never the offending text: a YAML error quotes the line, which may be the
    one that holds ``key_secret``."""
    mark = getattr(exc, "problem_mark", None)
    if mark is not None:
        return f"{getattr(exc, 'problem', None) or 'syntax error'} at line {mark.line + 1}, column {mark.column + 1}"
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at line {exc.lineno}, column {exc.colno}"
    return type(exc).__name__


def make_tsig_key(dns_conf):
    """The TSIG key of the configuration (None without one); errors name the key."""
    secret, name, algorithm = dns_conf.get("key_secret"), dns_conf.get("key_name"), dns_conf.get("key_algorithm")
    if dns_conf.get("key_file"):
        file_name, file_algorithm, secret = _dns.read_key_file(dns_conf["key_file"])
        name = name or file_name
        algorithm = file_algorithm or algorithm
    if not secret:
        return None
    try:
        return _dns.make_key(name, secret, algorithm or "hmac-sha256")
    except DcosError as exc:
        raise ConfigError(f"dns.{exc}") from None


# ---------------------------------------------------------------------------------------------
# Persisted state
# ---------------------------------------------------------------------------------------------


def empty_state():
    return {
        "version": STATE_VERSION,
        "dns": {},  # env -> zone -> name -> {rdtype: [values]}: what the env's DNS was last made to hold
        "dns_full": [],  # envs whose DNS must be fully rewritten (a failed write, a restart)
        "dns_app_tasks": {},  # env -> task IDs of its DNS app last seen
        "health": {},  # task ID -> last known health
        "resolved": {},  # app ID -> Resolved.as_dict(), for apps Marathon sends half-written later
        "nginx_quarantine": {},  # app ID -> {version, reason}: apps that broke nginx -t
    }


def read_state(path):
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        return empty_state()
    except (OSError, ValueError) as exc:
        LOG.warning("state file %s is unreadable (%s): starting from an empty state", path, exc)
        return empty_state()
    if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
        LOG.warning("state file %s has another format: starting from an empty state", path)
        return empty_state()
    state = empty_state()
    for key, default in state.items():
        if isinstance(data.get(key), type(default)):
            state[key] = data[key]
    return state


def write_state(path, state):
    directory = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".state.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(state, handle, sort_keys=True, separators=(",", ":"))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


# ---------------------------------------------------------------------------------------------
# The daemon
# ---------------------------------------------------------------------------------------------

_NGINX_FILE_RE = re.compile(r"upstream-([A-Za-z0-9._-]+)\.conf")


class Daemon:
    """The daemon's state and its sync; ``start()`` runs its threads, ``sync()`` one cycle."""

    def __init__(self, config, opener=None, nginx_runner=None, dns_client_factory=None, clock=time.time):
        self.config = config
        self.clock = clock
        mc = config["marathon"]
        common = dict(
            username=mc["username"],
            password=mc["password"],
            token=mc["token"],
            validate_certs=mc["validate_certs"],
            ca_path=mc["ca_path"],
            opener=opener,
            user_agent="pptv-dcos-discovery",
        )
        self.marathon = MarathonClient(mc["urls"], timeout=mc["timeout"], **common)
        self.stream_client = MarathonClient(mc["urls"], timeout=mc["stream_timeout"], **common)
        self.nginx_runner = nginx_runner or _nginx.subprocess_runner
        self.dns_client_factory = dns_client_factory or self._dns_client
        self.tsig_key = (
            make_tsig_key(config["dns"]) if (config["dns"]["key_secret"] or config["dns"]["key_file"]) else None
        )
        self.env_zones = {env: conf["zones"] for env, conf in config["environments"].items()}
        os.makedirs(config["state_dir"], exist_ok=True)
        self.state_path = os.path.join(config["state_dir"], STATE_FILE)
        self.state = read_state(self.state_path)
        self.lock = threading.Condition()
        self.sync_lock = threading.Lock()
        self.stopping = threading.Event()
        self.dirty = True
        self.full_pending = True  # a full resync on start
        self.next_full = 0.0
        self.retry_at = None
        self.retry_delay = config["retry_interval"]
        self.last_start = 0.0
        self.writer = config["zookeeper"] is None
        self.threads = []
        self.http = None
        self.zk = None
        self.counters = {
            "syncs": 0,
            "sync_failures": 0,
            "full_resyncs": 0,
            "nginx_reloads": 0,
            "nginx_validation_failures": 0,
            "dns_updates": 0,
            "dns_errors": 0,
            "events": 0,
            "stream_reconnects": 0,
        }
        self.sync_seconds = 0.0
        self.stream_connected = False
        self.last_sync = None
        self.last_error = None
        self.quarantined = {}
        self.env_status = {env: {"dns_ok": None, "dns_error": None, "apps": [], "records": 0} for env in self.env_zones}

    # -- DNS clients ---------------------------------------------------------------------------
    def _dns_client(self, env):
        conf = self.config["environments"][env]
        dns_conf = self.config["dns"]
        return _dns.Client(
            [conf["dns_server"]],
            port=conf["dns_port"],
            protocol=dns_conf["protocol"],
            timeout=dns_conf["timeout"],
            key=self.tsig_key,
        )

    # -- scheduling ----------------------------------------------------------------------------
    def mark_dirty(self, full=False, reason=""):
        with self.lock:
            self.dirty = True
            if full:
                self.full_pending = True
            self.lock.notify_all()
        LOG.debug("dirty%s: %s", " (full resync)" if full else "", reason)

    def set_writer(self, writer):
        with self.lock:
            changed = self.writer != writer
            self.writer = writer
        if changed:
            LOG.info("this daemon is %s the DNS writer", "now" if writer else "no longer")
            if writer:
                self.mark_dirty(full=True, reason="became the DNS writer")

    def _wait_for_work(self):
        """Block until a sync is due; returns ``full`` (or None when stopping)."""
        with self.lock:
            while not self.stopping.is_set():
                now = self.clock()
                if now >= self.next_full:
                    self.full_pending = True
                    self.dirty = True
                if self.retry_at is not None and now >= self.retry_at:
                    self.dirty = True
                if self.dirty:
                    break
                due = [self.next_full]
                if self.retry_at is not None:
                    due.append(self.retry_at)
                self.lock.wait(max(0.01, min(due) - now))
            else:
                return None
        # The minimum interval between sync starts: events during the wait join this sync.
        delay = self.last_start + self.config["min_interval"] - self.clock()
        if delay > 0 and self.stopping.wait(delay):
            return None
        with self.lock:
            full = self.full_pending
            self.dirty = False
            self.full_pending = False
            self.retry_at = None
        return full

    def worker(self):
        while not self.stopping.is_set():
            full = self._wait_for_work()
            if full is None:
                return
            try:
                ok = self.sync(full=full)
            except Exception as exc:  # noqa: BLE001 (the worker never dies)
                LOG.exception("sync crashed")
                self.last_error = f"internal error: {exc}"
                ok = False
            with self.lock:
                if ok:
                    self.retry_delay = self.config["retry_interval"]
                else:
                    self.retry_at = self.clock() + self.retry_delay
                    self.retry_delay = min(MAX_RETRY_INTERVAL, self.retry_delay * 2)
                    if full:
                        self.full_pending = True

    # -- the event stream ----------------------------------------------------------------------
    def _stream_opened(self):
        self.stream_connected = True
        self.counters["stream_reconnects"] += 1
        LOG.info("event stream attached")
        self.mark_dirty(full=True, reason="event stream (re)connected")

    def stream(self):
        failures = 0
        while not self.stopping.is_set():
            opened = self.clock()
            try:
                for event_type, _data in self.stream_client.events(EVENT_TYPES, on_open=self._stream_opened):
                    if self.stopping.is_set():
                        return
                    self.counters["events"] += 1
                    self.mark_dirty(full=event_type in FULL_RESYNC_EVENTS, reason=str(event_type))
                problem = "Marathon closed the event stream"
            except (socket.timeout, TimeoutError):
                problem = f"no data on the event stream for {self.config['marathon']['stream_timeout']:g} s"
            except DcosError as exc:
                problem = str(exc)
            except Exception as exc:  # noqa: BLE001 (a broken connection raises many types)
                problem = f"event stream failed: {exc.__class__.__name__}: {exc}"
            was_connected = self.stream_connected
            self.stream_connected = False
            if was_connected and self.clock() - opened >= STREAM_HEALTHY_SECONDS:
                failures = 0
            failures += 1
            delay = min(STREAM_BACKOFF_MAX, STREAM_BACKOFF_BASE * 1.5 ** (failures - 1)) * random.uniform(0.5, 1.0)
            LOG.warning("%s; reconnecting in %.1f s", problem, delay)
            if self.stopping.wait(delay):
                return

    # -- one sync ------------------------------------------------------------------------------
    def sync(self, full=False):
        """One cycle; returns True when everything desired was applied."""
        with self.sync_lock:
            started = self.clock()
            self.last_start = started
            try:
                return self._sync(full)
            finally:
                self.sync_seconds += self.clock() - started

    def _sync(self, full):
        self.counters["syncs"] += 1
        if full:
            self.counters["full_resyncs"] += 1
            self.next_full = self.clock() + self.config["resync_interval"]
        try:
            apps = self.marathon.list_apps(embed=("apps.tasks",))
            if not isinstance(apps, list):
                raise DcosError("GET /v2/apps: 'apps' is not a list")
        except DcosError as exc:
            self.counters["sync_failures"] += 1
            self.last_error = f"marathon: {exc}"
            LOG.warning("sync: cannot read Marathon's apps (nothing changed): %s", exc)
            return False
        parsed = _contract.parse_apps(apps, self.env_zones)
        resolved, health = _discovery.resolve(parsed, self.state["health"])
        # A half-written app keeps what was applied for it: its records are not proven gone.
        for app_id in parsed.unreadable:
            kept = self.state["resolved"].get(app_id)
            if kept is not None:
                resolved[app_id] = _discovery.Resolved.from_dict(kept)
                _keep_names_for(app_id, resolved, parsed)
        if parsed.unreadable:
            LOG.warning(
                "sync: Marathon sent half-written apps (kept as last applied): %s", ", ".join(parsed.unreadable)
            )
        quarantined = dict(parsed.quarantined)
        sticky = {}
        for app_id, entry in self.state["nginx_quarantine"].items():
            item = resolved.get(app_id)
            if item is not None and item.service.version == entry.get("version"):
                sticky[app_id] = entry
        errors = []
        ok = True
        # Nginx: every env's upstreams in one converge; an app that breaks nginx -t is quarantined.
        nginx_ok, states = self._apply_nginx(resolved, sticky, quarantined, errors)
        ok = ok and nginx_ok
        self.state["nginx_quarantine"] = sticky
        for app_id, entry in sticky.items():
            quarantined[app_id] = entry["reason"]
        # DNS, per env and zone (the writer only).
        dns_ok = self._apply_dns(parsed, states, full, errors)
        ok = ok and dns_ok
        self.state["health"] = health
        self.state["resolved"] = {app_id: item.as_dict() for app_id, item in resolved.items() if app_id not in sticky}
        self.quarantined = quarantined
        for env, state in states.items():
            self.env_status[env]["apps"] = state.services
            self.env_status[env]["records"] = state.record_count()
        try:
            write_state(self.state_path, self.state)
        except OSError as exc:
            errors.append(f"state: cannot write {self.state_path}: {exc.strerror or exc}")
            ok = False
        self.last_sync = self.clock()
        self.last_error = "; ".join(errors) or None
        if not ok:
            self.counters["sync_failures"] += 1
        LOG.info(
            "sync%s: %d services, %d quarantined%s",
            " (full)" if full else "",
            sum(len(s.services) for s in states.values()),
            len(quarantined),
            f"; errors: {self.last_error}" if self.last_error else "",
        )
        return ok

    def _states(self, resolved, sticky, quarantined):
        usable = {a: r for a, r in resolved.items() if a not in sticky}
        for app_id, item in list(usable.items()):
            main = item.service.canary_of
            if main is not None and main not in usable:
                quarantined[app_id] = f"label {_contract.CANARY_OF}: {main} is quarantined"
                del usable[app_id]
        return _discovery.desired_state(usable, self.config["environments"], self.config["fallback_env"])

    def _quarantine(self, sticky, resolved, app_ids, reason):
        for app_id in app_ids:
            item = resolved.get(app_id)
            if item is not None:
                sticky[app_id] = {"version": item.service.version, "reason": reason}
                LOG.warning("quarantined %s: %s", app_id, reason)

    def _apply_nginx(self, resolved, sticky, quarantined, errors):
        """Converge Nginx; returns ``(ok, states)`` (states without the apps that broke Nginx)."""
        nginx = self.config["nginx"]
        for _round in range(5):
            states = self._states(resolved, sticky, quarantined)
            upstreams, owners, refused = _discovery.nginx_upstreams(states)
            if refused:
                for app_id, reason in refused.items():
                    self._quarantine(sticky, resolved, [app_id], reason)
                continue
            try:
                result = _nginx.converge(
                    nginx["conf_dir"],
                    upstreams,
                    self.nginx_runner,
                    nginx_binary=nginx["nginx_binary"],
                    nginx_conf=nginx["nginx_conf"],
                    validate=True,
                    reload=nginx["reload"],
                    purge=True,
                )
            except DcosError as exc:
                if not exc.details.get("nginx_errors"):
                    errors.append(f"nginx: {exc}")
                    return False, states
                self.counters["nginx_validation_failures"] += 1
                culprits = self._find_culprits(exc, upstreams, owners)
                if not culprits:
                    errors.append(f"nginx: {exc}")
                    return False, states
                for name in culprits:
                    self._quarantine(
                        sticky,
                        resolved,
                        owners[name],
                        f"nginx -t refused its upstream {name}: {exc.details['nginx_errors'][0]}",
                    )
                continue
            if result.reloaded:
                self.counters["nginx_reloads"] += 1
            return True, states
        errors.append("nginx: could not find a configuration nginx accepts")
        return False, states

    def _find_culprits(self, exc, upstreams, owners):
        """The upstreams that make ``nginx -t`` fail: named in its error, else found one by one."""
        named = set()
        for line in exc.details.get("nginx_errors") or []:
            named.update(m.group(1) for m in _NGINX_FILE_RE.finditer(line))
        named &= set(owners)
        if named:
            return sorted(named)
        # Not named (a clash between files, say): add the changed upstreams one at a time to the
        # ones whose bytes are already on disk (accepted before), validating each, never reloading.
        nginx = self.config["nginx"]
        changes = {c.name: c for c in _nginx.file_changes(nginx["conf_dir"], upstreams, purge=True)}
        accepted = [u for u in upstreams if not changes[u.name].changed]
        culprits = []
        for upstream in upstreams:
            if not changes[upstream.name].changed:
                continue
            try:
                _nginx.converge(
                    nginx["conf_dir"],
                    accepted + [upstream],
                    self.nginx_runner,
                    nginx_binary=nginx["nginx_binary"],
                    nginx_conf=nginx["nginx_conf"],
                    validate=True,
                    reload=False,
                    purge=True,
                )
            except DcosError as inner:
                if inner.details.get("nginx_errors"):
                    culprits.append(upstream.name)
                    continue
                return []
            accepted.append(upstream)
        if culprits and nginx["reload"]:
            # The accepted files may already be written by the search: the next converge sees
            # no byte change, so reload now (the configuration was just validated).
            try:
                _nginx.reload_nginx(
                    self.nginx_runner, _nginx._resolve_binary(nginx["nginx_binary"]), nginx["nginx_conf"]
                )
                self.counters["nginx_reloads"] += 1
            except DcosError as inner:
                LOG.warning("nginx reload after the search failed: %s", inner)
        return culprits

    def _dns_app_tasks(self, parsed, env):
        app_id = self.config["environments"][env]["dns_app"]
        app = parsed.apps.get(app_id) if app_id else None
        if app is None:
            return None
        tasks = app.get("tasks") if isinstance(app.get("tasks"), list) else []
        running = (t for t in tasks if isinstance(t, dict) and t.get("state") == _discovery.RUNNING)
        return sorted(t["id"] for t in running if isinstance(t.get("id"), str))

    def _write_env_dns(self, env, state, env_full):
        """Bring env's DNS server to ``state``'s records, zone by zone; raises DcosError."""
        conf = self.config["environments"][env]
        previous_env = self.state["dns"].setdefault(env, {})
        client = self.dns_client_factory(env)
        for zone in conf["zones"]:
            if not self.writer:  # the election was lost meanwhile: the new writer resyncs in full
                raise DcosError(f"env {env}: no longer the DNS writer, zone {zone} left to the new writer")
            desired = state.records.get(zone, {})
            previous = previous_env.get(zone, {})
            zone_full = env_full or self._zone_was_reset(client, env, zone)
            entries = _discovery.dns_entries(zone, desired, previous, full=zone_full, ttl=self.config["dns"]["ttl"])
            if entries:
                before = client.updates
                try:
                    _dns.converge(client, entries, zone=zone, retries=2)
                finally:
                    self.counters["dns_updates"] += client.updates - before
            previous_env[zone] = desired
        for zone in list(previous_env):
            if zone not in conf["zones"]:
                del previous_env[zone]

    @staticmethod
    def _zone_was_reset(client, env, zone):
        """Whether the zone lost the sentinel record (its server restarted with an empty zone)."""
        sentinel = _dns.parse_name(_discovery.sentinel_name(zone) + ".", None, "sentinel")
        origin = _dns.parse_name(zone + ".", None, "zone")
        if _dns.read_rrset(client, origin, sentinel, TXT) is None:
            LOG.info("env %s zone %s: no sentinel record (the DNS restarted empty): full rewrite", env, zone)
            return True
        return False

    def _remember_as_standby(self, env, state):
        """A standby remembers every name it would have written, so that when it becomes the
        writer its full resync also deletes what is no longer wanted."""
        previous_env = self.state["dns"].setdefault(env, {})
        for zone, names in state.records.items():
            merged = dict(previous_env.get(zone, {}))
            merged.update(names)
            previous_env[zone] = merged

    def _apply_dns(self, parsed, states, full, errors):
        ok = True
        dns_full = set(self.state["dns_full"])
        for env in sorted(states):
            status = self.env_status[env]
            if not self.config["environments"][env]["dns_server"]:
                continue
            tasks = self._dns_app_tasks(parsed, env)
            seen = self.state["dns_app_tasks"].get(env)
            if tasks is not None:
                if seen is not None and tasks != seen:
                    LOG.info("env %s: its DNS app's tasks changed (%s -> %s): full DNS resync", env, seen, tasks)
                    dns_full.add(env)
                self.state["dns_app_tasks"][env] = tasks
            if not self.writer:
                self._remember_as_standby(env, states[env])
                continue
            try:
                self._write_env_dns(env, states[env], full or env in dns_full)
            except DcosError as exc:
                ok = False
                dns_full.add(env)
                self.counters["dns_errors"] += 1
                status["dns_ok"] = False
                status["dns_error"] = str(exc)
                errors.append(f"dns {env}: {exc}")
                LOG.warning("env %s: DNS not updated (retrying): %s", env, exc)
                continue
            dns_full.discard(env)
            status["dns_ok"] = True
            status["dns_error"] = None
        self.state["dns_full"] = sorted(dns_full)
        return ok

    # -- status and metrics --------------------------------------------------------------------
    def status(self):
        environments = {}
        for env, conf in self.config["environments"].items():
            status = self.env_status[env]
            environments[env] = {
                "dns": conf["dns_server"],
                "dns_port": conf["dns_port"],
                "dns_app": conf["dns_app"],
                "dns_ok": status["dns_ok"],
                "dns_error": status["dns_error"],
                "gateway": conf["gateway"],
                "zones": list(conf["zones"]),
                "apps": status["apps"],
                "records": status["records"],
            }
        return {
            "environments": environments,
            "quarantined": [{"app_id": a, "reason": r} for a, r in sorted(self.quarantined.items())],
            "syncs": self.counters["syncs"],
            "nginx_reloads": self.counters["nginx_reloads"],
            "dns_updates": self.counters["dns_updates"],
            "last_sync": self.last_sync,
            "last_error": self.last_error,
            "dns_writer": self.writer,
            "stream_connected": self.stream_connected,
            "events": self.counters["events"],
            "stream_reconnects": self.counters["stream_reconnects"],
        }

    def metrics(self):
        lines = []

        def metric(name, kind, help_text, samples):
            lines.append(f"# HELP pptv_discovery_{name} {help_text}")
            lines.append(f"# TYPE pptv_discovery_{name} {kind}")
            for labels, value in samples:
                label_text = "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}" if labels else ""
                lines.append(f"pptv_discovery_{name}{label_text} {value}")

        c = self.counters
        metric("syncs_total", "counter", "Syncs run.", [({}, c["syncs"])])
        metric("sync_failures_total", "counter", "Syncs that could not apply everything.", [({}, c["sync_failures"])])
        metric("full_resyncs_total", "counter", "Full resyncs run.", [({}, c["full_resyncs"])])
        metric("nginx_reloads_total", "counter", "Nginx reloads.", [({}, c["nginx_reloads"])])
        metric(
            "nginx_validation_failures_total",
            "counter",
            "nginx -t refusals.",
            [({}, c["nginx_validation_failures"])],
        )
        metric("dns_updates_total", "counter", "DNS UPDATE messages sent.", [({}, c["dns_updates"])])
        metric("dns_errors_total", "counter", "Failed DNS writes of an environment.", [({}, c["dns_errors"])])
        metric("events_total", "counter", "Marathon events received.", [({}, c["events"])])
        metric("stream_reconnects_total", "counter", "Event stream connections.", [({}, c["stream_reconnects"])])
        metric("stream_connected", "gauge", "1 while the event stream is attached.", [({}, int(self.stream_connected))])
        metric("dns_writer", "gauge", "1 while this daemon writes DNS.", [({}, int(self.writer))])
        metric("quarantined_apps", "gauge", "Apps left out.", [({}, len(self.quarantined))])
        metric(
            "services",
            "gauge",
            "Services per environment.",
            [({"env": env}, len(s["apps"])) for env, s in sorted(self.env_status.items())],
        )
        metric(
            "last_sync_timestamp_seconds",
            "gauge",
            "End of the last sync (epoch seconds).",
            [({}, self.last_sync or 0)],
        )
        lines.append("# HELP pptv_discovery_sync_duration_seconds Time spent in syncs.")
        lines.append("# TYPE pptv_discovery_sync_duration_seconds summary")
        lines.append(f"pptv_discovery_sync_duration_seconds_sum {self.sync_seconds:.6f}")
        lines.append(f"pptv_discovery_sync_duration_seconds_count {c['syncs']}")
        return "\n".join(lines) + "\n"

    # -- threads -------------------------------------------------------------------------------
    def _serve_http(self):
        daemon = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                path = self.path.split("?", 1)[0]
                if path == "/status":
                    body = json.dumps(daemon.status(), sort_keys=True).encode()
                    kind = "application/json"
                elif path == "/metrics":
                    body = daemon.metrics().encode()
                    kind = "text/plain; version=0.0.4"
                elif path == "/":
                    body = b"pptv-dcos-discovery: /status /metrics\n"
                    kind = "text/plain"
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, fmt, *args):
                LOG.debug("http: " + fmt, *args)

        host, port = self.config["listen"]
        server_class = ThreadingHTTPServer
        if ":" in host:

            class V6Server(ThreadingHTTPServer):
                address_family = socket.AF_INET6

            server_class = V6Server
        self.http = server_class((host, port), Handler)
        self.http.daemon_threads = True
        LOG.info("status on http://%s:%d/status", host, self.http.server_address[1])
        self.http.serve_forever(poll_interval=0.5)

    def elect(self):
        """Take part in the DNS writer election through ZooKeeper (a kazoo lock) until stopped."""
        zk_conf = self.config["zookeeper"]
        identifier = f"{socket.gethostname()}:{os.getpid()}"
        while not self.stopping.is_set():
            session = threading.Event()
            lost = threading.Event()  # set on SUSPENDED/LOST, never cleared by CONNECTED
            client = None
            try:
                client = KazooClient(hosts=zk_conf["hosts"], timeout=zk_conf["session_timeout"])
                self.zk = client

                def listener(state, session=session, lost=lost):
                    if state in (KazooState.SUSPENDED, KazooState.LOST):
                        session.clear()
                        lost.set()
                        self.set_writer(False)
                    elif state == KazooState.CONNECTED:
                        session.set()

                client.add_listener(listener)
                client.start(timeout=zk_conf["session_timeout"])
                session.set()
                lock = client.Lock(zk_conf["path"], identifier)
                while not self.stopping.is_set() and session.is_set():
                    lost.clear()
                    try:
                        acquired = lock.acquire(timeout=1.0)
                    except LockTimeout:
                        continue
                    if not acquired:
                        continue
                    self.set_writer(True)
                    # A suspension ends this term even if kazoo reconnects before we look: the
                    # flag went false then, so give the lock back and take part again.
                    while not self.stopping.is_set() and not lost.is_set() and client.connected:
                        self.stopping.wait(0.2)
                    self.set_writer(False)
                    with contextlib.suppress(Exception):  # the session may be gone already
                        lock.release()
            except Exception as exc:  # noqa: BLE001 (kazoo raises many types on a lost server)
                self.set_writer(False)
                LOG.warning("ZooKeeper election: %s; retrying", exc)
            finally:
                self.set_writer(False)
                if client is not None:
                    try:
                        client.stop()
                        client.close()
                    except Exception:  # noqa: BLE001
                        pass
            self.stopping.wait(1.0)

    def start(self, stream=True, http=True):
        targets = [self.worker]
        if stream:
            targets.append(self.stream)
        if http:
            targets.append(self._serve_http)
        if self.config["zookeeper"] is not None:
            if not HAS_KAZOO:
                raise DcosError(
                    "zookeeper: the kazoo library is required for the DNS writer election", exception=KAZOO_IMPORT_ERROR
                )
            targets.append(self.elect)
        for target in targets:
            thread = threading.Thread(target=target, name=f"discovery-{target.__name__}", daemon=True)
            thread.start()
            self.threads.append(thread)

    def stop(self):
        self.stopping.set()
        with self.lock:
            self.lock.notify_all()
        if self.http is not None:
            self.http.shutdown()
            self.http.server_close()
        if self.zk is not None:
            # Ends the session now, so the standby takes the DNS writer lock at once.
            with contextlib.suppress(Exception):
                self.zk.stop()
                self.zk.close()


def main(argv=None):
    parser = argparse.ArgumentParser(prog="pptv-dcos-discovery", description=__doc__.split("\n", 1)[0])
    parser.add_argument("--config", required=True, help="the configuration file (YAML or JSON)")
    parser.add_argument("--check-config", action="store_true", help="validate the configuration and exit")
    parser.add_argument("--once", action="store_true", help="run one full sync and exit")
    parser.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    try:
        config = load_config(args.config)
        if args.check_config:
            make_tsig_key(config["dns"])
            sys.stdout.write("config OK\n")
            return 0
        daemon = Daemon(config)
    except DcosError as exc:
        sys.stderr.write(f"pptv-dcos-discovery: {exc}\n")
        return 2
    if args.once:
        return 0 if daemon.sync(full=True) else 1
    done = threading.Event()

    def stop(_signum, _frame):
        done.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        daemon.start()
    except DcosError as exc:
        sys.stderr.write(f"pptv-dcos-discovery: {exc}\n")
        return 2
    while not done.wait(1.0):
        pass
    LOG.info("stopping")
    daemon.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
