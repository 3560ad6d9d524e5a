# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The global IP pool: one fixed address per Marathon app ID, shared by every controller.

Three layers, none of which uses Ansible's module flow (only the store options spec names Ansible's
``env_fallback``):

* :class:`PoolSpec` and the functions beside it are the pure rules: what a pool is (segments,
  gateway, reserved addresses and ranges, an optional allocation range), which address a new app
  gets (the lowest free one, segments in the order given), what a pool may shrink to.
* Two stores keep pools and allocations with the same semantics: :class:`FileStore` (one JSON file,
  an ``fcntl`` lock held across read-allocate-write, atomic replace) and :class:`ZooKeeperStore`
  (kazoo; an allocation is an atomic multi-op that creates the address's znode, so two controllers
  can never hand out the same address).
* :class:`IpPoolManager` runs each state, noting what it changes in a ``ChangeRecord``, and builds
  the result the module, the lookup and the reconciler return.

:data:`STORE_OPTIONS_SPEC` is the one argument spec of the store options (``backend``, ``path``,
``lock_timeout``, ``zk_*``) that the module and the lookup share, documented by the doc fragment
``pptv.dcos._ip_pool_store``; both read the same environment variables (:data:`STORE_ENV`), and
:func:`open_store` validates them the same way for both.

netaddr and kazoo are imported with a guard; callers check :data:`HAS_NETADDR` / :data:`HAS_KAZOO`.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import ipaddress
import json
import os
import random
import re
import tempfile
import time
import traceback
from urllib.parse import quote, unquote

from ansible.module_utils.common.parameters import env_fallback

from ansible_collections.pptv.dcos.plugins.module_utils import _validate
from ansible_collections.pptv.dcos.plugins.module_utils._diff import ChangeRecord
from ansible_collections.pptv.dcos.plugins.module_utils._errors import DcosError
from ansible_collections.pptv.dcos.plugins.module_utils._marathon_app import normalize_app_id

try:
    import netaddr

    HAS_NETADDR = True
    NETADDR_IMPORT_ERROR = None
except ImportError:
    netaddr = None
    HAS_NETADDR = False
    NETADDR_IMPORT_ERROR = traceback.format_exc()

try:
    from kazoo import exceptions as kazoo_exceptions
    from kazoo.client import KazooClient

    HAS_KAZOO = True
    KAZOO_IMPORT_ERROR = None
    try:
        from kazoo.handlers.threading import KazooTimeoutError

        _ZK_FAILURES = (kazoo_exceptions.KazooException, KazooTimeoutError)
    except ImportError:
        _ZK_FAILURES = (kazoo_exceptions.KazooException,)
except ImportError:
    _ZK_FAILURES = ()
    kazoo_exceptions = None
    KazooClient = None
    HAS_KAZOO = False
    KAZOO_IMPORT_ERROR = traceback.format_exc()

STATE_VERSION = 1
DEFAULT_PATH = "/var/lib/pptv-dcos/ip_pool.json"
DEFAULT_ZK_ROOT = "/pptv-dcos/ip_pool"
DEFAULT_ZK_HOSTS = "127.0.0.1:2181"
ZK_DEFAULT_PORT = 2181
POOL_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
POOL_NAME_RULE = "letters, digits, '_', '.' and '-', starting with a letter or digit"
# A ZooKeeper path: '/' alone, or '/'-separated non-empty names without whitespace or control characters.
_ZK_ROOT_RE = re.compile(r"/|(/[^/\x00-\x20\x7f]+)+")

# The environment variables of the store options, read by the module (on the host it runs on)
# and by the lookup (on the controller) alike.
STORE_ENV = {
    "backend": "PPTV_DCOS_IP_POOL_BACKEND",
    "path": "PPTV_DCOS_IP_POOL_PATH",
    "zk_hosts": "PPTV_DCOS_ZK_HOSTS",
    "zk_root": "PPTV_DCOS_IP_POOL_ZK_ROOT",
}

# The store options of the module and the lookup (doc fragment pptv.dcos._ip_pool_store).
# ``path`` is a plain string on purpose: Ansible's ``path`` type makes a lookup's relative path (and
# an empty one) relative to the playbook while the module keeps it as given; open_store() expands
# ``~`` and requires an absolute path for both, so that both open the same file.
STORE_OPTIONS_SPEC = {
    "backend": {
        "type": "str",
        "choices": ["file", "zookeeper"],
        "default": "file",
        "fallback": (env_fallback, [STORE_ENV["backend"]]),
    },
    "path": {"type": "str", "default": DEFAULT_PATH, "fallback": (env_fallback, [STORE_ENV["path"]])},
    "lock_timeout": {"type": "int", "default": 60},
    "zk_hosts": {"type": "str", "default": DEFAULT_ZK_HOSTS, "fallback": (env_fallback, [STORE_ENV["zk_hosts"]])},
    "zk_root": {"type": "str", "default": DEFAULT_ZK_ROOT, "fallback": (env_fallback, [STORE_ENV["zk_root"]])},
    "zk_timeout": {"type": "float", "default": 10},
}


# -- pure rules ------------------------------------------------------------------------------------


def check_pool_name(name, option="pool"):
    """A pool name, matched in full (``"oak\\n"`` is not ``oak``)."""
    return _validate.name(name, option, POOL_NAME_RE, POOL_NAME_RULE)


def _require_netaddr():
    if not HAS_NETADDR:
        raise DcosError("the netaddr Python library is required for ip_pool", exception=NETADDR_IMPORT_ERROR)


def _parse_ip(option, value):
    """A netaddr address from exactly an IP address (no stray whitespace, no zone index)."""
    text = _validate.ip_address(value, option)
    try:
        return netaddr.IPAddress(text)
    except (netaddr.AddrFormatError, ValueError, TypeError) as exc:
        raise DcosError(f"{option}: {value!r} is not an IP address netaddr can use") from exc


def _parse_net(option, value):
    if not isinstance(value, str) or "/" not in value:
        raise DcosError(f"{option}: {value!r} is not a CIDR (address/prefix)")
    try:
        ipaddress.ip_network(value, strict=False)
        net = netaddr.IPNetwork(value)
    except (netaddr.AddrFormatError, ValueError, TypeError) as exc:
        raise DcosError(f"{option}: {value!r} is not a valid CIDR") from exc
    if net.ip != net.network:
        raise DcosError(f"{option}: {value!r} has host bits set (did you mean {net.cidr}?)")
    return net


def _parse_span(option, value):
    """An address, a CIDR or a range ``first-last``, as (normalised text, netaddr.IPSet)."""
    if not isinstance(value, str):
        raise DcosError(f"{option}: {value!r} is not an address, a CIDR or a range first-last")
    text = value
    if "-" in text and "/" not in text:
        first, _sep, last = text.partition("-")
        start, end = _parse_ip(option, first.strip(" ")), _parse_ip(option, last.strip(" "))
        if start.version != end.version or start > end:
            raise DcosError(f'{option}: "{value}" is not a range (first-last, first <= last)')
        if start == end:
            return str(start), netaddr.IPSet([start])
        return f"{start}-{end}", netaddr.IPSet(netaddr.IPRange(start, end))
    if "/" in text:
        net = _parse_net(option, text)
        if net.size == 1:  # a /32 or /128 is one address: keep it bare, as the user may also write it
            return str(net.ip), netaddr.IPSet([net])
        return str(net.cidr), netaddr.IPSet([net])
    addr = _parse_ip(option, text)
    return str(addr), netaddr.IPSet([addr])


def _normal_spans(option, values):
    """The spans of ``values`` without duplicates, sorted by (IP version, first address), so that an
    order or a spelling change of the same definition is not a change."""
    spans = {}
    for value in values or ():
        text, span = _parse_span(option, value)
        spans.setdefault(text, span)
    return sorted(spans.items(), key=lambda item: (_first(item[1]), item[0]))


def _first(span):
    first = min(span.iter_cidrs())
    return (first.version, first.first)


class PoolSpec:
    """A pool definition, validated. ``to_dict()`` is what the stores keep."""

    def __init__(self, name, subnets, gateway=None, reserved=(), allocation_ranges=()):
        _require_netaddr()
        self.name = check_pool_name(name)
        if not subnets:
            raise DcosError(f"subnets: pool {name} needs at least one subnet")
        self.subnets = []
        for value in subnets:
            net = _parse_net("subnets", value)
            for other in self.subnets:
                if net in other or other in net:
                    raise DcosError(f"subnets: {net} overlaps {other}")
            self.subnets.append(net)
        self.gateway = None
        if gateway:
            self.gateway = _parse_ip("gateway", gateway)
            if self.subnet_of(self.gateway) is None:
                raise DcosError(f"gateway: {self.gateway} is outside every subnet of pool {name}")
        self.reserved = []
        self.reserved_set = netaddr.IPSet()
        for text, span in _normal_spans("reserved", reserved):
            self.reserved.append(text)
            self.reserved_set |= span
        self.allocation_ranges = []
        self.range_set = None
        for text, span in _normal_spans("allocation_ranges", allocation_ranges):
            if not span.issubset(netaddr.IPSet(self.subnets)):
                raise DcosError(f"allocation_ranges: {text} is not inside the subnets of pool {name}")
            self.allocation_ranges.append(text)
            self.range_set = span if self.range_set is None else self.range_set | span

    @classmethod
    def from_dict(cls, name, data, where=None):
        """The pool ``name`` as a store keeps it (``to_dict()``); ``where`` (the file or the znode)
        prefixes the error when the stored definition is not valid."""
        try:
            if not isinstance(data, dict):
                raise DcosError(f"the definition of pool {name} is not a mapping")
            lists = {}
            for key in ("subnets", "reserved", "allocation_ranges"):
                value = data.get(key) or []
                if not isinstance(value, list):
                    raise DcosError(f"{key}: must be a list, got {type(value).__name__}")
                lists[key] = value
            gateway = data.get("gateway")
            if gateway is not None and not isinstance(gateway, str):
                raise DcosError(f"gateway: must be an address, got {gateway!r}")
            return cls(name, lists["subnets"], gateway, lists["reserved"], lists["allocation_ranges"])
        except DcosError as exc:
            if where is None:
                raise
            raise DcosError(f"{where}: pool {name}: {exc.msg}", **exc.details) from exc

    def to_dict(self):
        return {
            "subnets": [str(net.cidr) for net in self.subnets],
            "gateway": str(self.gateway) if self.gateway is not None else None,
            "reserved": list(self.reserved),
            "allocation_ranges": list(self.allocation_ranges),
        }

    def subnet_of(self, ip):
        for net in self.subnets:
            if ip.version == net.version and ip in net:
                return net
        return None

    def _edges(self, net):
        """Addresses of ``net`` never given to a container: network, broadcast (IPv4 < /31)."""
        if net.version == 4 and net.prefixlen >= 31:
            return []
        edges = [net.network]
        if net.version == 4:
            edges.append(net.broadcast)
        return edges

    def blocked_reason(self, ip):
        """Why ``ip`` cannot be held in this pool, or None when it can."""
        net = self.subnet_of(ip)
        if net is None:
            return f"outside every subnet of pool {self.name}"
        if ip in self._edges(net):
            return f"the network or broadcast address of {net.cidr}"
        if self.gateway is not None and ip == self.gateway:
            return f"the gateway of pool {self.name}"
        if ip in self.reserved_set:
            return f"reserved in pool {self.name}"
        return None

    def free_set(self, net, taken):
        free = netaddr.IPSet([net])
        if self.range_set is not None:
            free &= self.range_set
        blocked = netaddr.IPSet(self._edges(net)) | self.reserved_set
        if self.gateway is not None:
            blocked.add(self.gateway)
        free -= blocked
        if taken:
            free -= netaddr.IPSet(taken)
        return free

    def pick(self, taken, spread=0):
        """The lowest free address (segments in the order given), or None when the pool is full.

        ``spread`` > 0 picks at random among the first ``spread`` free addresses instead: stores
        use it after losing a race, so that concurrent clients stop chasing the same address.
        """
        taken = [netaddr.IPAddress(ip) for ip in taken]
        candidates = []
        for net in self.subnets:
            for cidr in self.free_set(net, [ip for ip in taken if ip in net]).iter_cidrs():
                for ip in cidr:
                    candidates.append(ip)
                    if len(candidates) > spread:
                        break
                if len(candidates) > spread:
                    break
            if len(candidates) > spread:
                break
        if not candidates:
            return None
        choice = random.choice(candidates) if spread else candidates[0]
        return str(choice)

    def size(self):
        return sum(self.free_set(net, []).size for net in self.subnets)

    def describe(self, ip):
        """The return keys of one address: ip, prefix, subnet, gateway, pool."""
        addr = netaddr.IPAddress(ip)
        net = self.subnet_of(addr)
        return {
            "ip": str(addr),
            "prefix": net.prefixlen if net is not None else None,
            "subnet": str(net.cidr) if net is not None else None,
            "gateway": str(self.gateway) if self.gateway is not None else None,
            "pool": self.name,
        }


def shrink_conflicts(spec, allocations):
    """Live allocations a new definition would no longer hold: ``[{app_id, ip, reason}]``."""
    found = []
    for app_id, record in sorted(allocations.items()):
        reason = spec.blocked_reason(netaddr.IPAddress(record["ip"]))
        if reason:
            found.append({"app_id": app_id, "ip": record["ip"], "reason": reason})
    return found


def _conflict_text(conflicts):
    return "; ".join(f"{c['app_id']} holds {c['ip']} ({c['reason']})" for c in conflicts)


def check_requested_ip(spec, app_id, ip):
    """Validate an explicit ``ip`` request of ``app_id``; returns the address normalised."""
    addr = _parse_ip("ip", ip)
    reason = spec.blocked_reason(addr)
    if reason:
        raise DcosError(f"ip: {addr} cannot be given to {app_id}: it is {reason}")
    return str(addr)


def exhausted(spec, count, asked):
    return DcosError(
        f"pool {spec.name} is exhausted: {count} of its {spec.size()} addresses are allocated, "
        f"no address left for {', '.join(asked)}",
        pool=spec.name,
    )


def _held_elsewhere(ip, owner, app_id):
    return DcosError(f"ip: {ip} is held by {owner} in this pool; it cannot be given to {app_id}")


def _moved(app_id, held, asked):
    return DcosError(f"ip: {app_id} already holds {held}; release it before asking for {asked}")


def decide_allocations(spec, allocations, requests, spread=0):
    """Decide the address of each ``(app_id, ip or None)`` against ``allocations``.

    Returns ``[(app_id, ip, new)]``; ``new`` is False for an app that already holds its address.
    Raises DcosError for an address held by another app, an app asking for another address than
    the one it holds, and an exhausted pool. Pure: the stores call it under their lock.
    """
    owners = {record["ip"]: app for app, record in allocations.items()}
    taken = set(owners)
    decided = []
    pending = []
    for app_id, asked in requests:
        ip = None if asked is None else check_requested_ip(spec, app_id, asked)
        held = allocations.get(app_id)
        if held is not None:
            if ip is not None and ip != held["ip"]:
                raise _moved(app_id, held["ip"], ip)
            decided.append((app_id, held["ip"], False))
            continue
        if ip is not None:
            if ip in taken:
                raise _held_elsewhere(ip, owners.get(ip, "another app of this call"), app_id)
            taken.add(ip)
            owners[ip] = app_id
            decided.append((app_id, ip, True))
        else:
            pending.append(app_id)
            decided.append((app_id, None, True))
    for app_id in pending:
        ip = spec.pick(taken, spread=spread)
        if ip is None:
            raise exhausted(spec, len(allocations), pending)
        taken.add(ip)
        decided[[d[0] for d in decided].index(app_id)] = (app_id, ip, True)
    return decided


# -- the stores ------------------------------------------------------------------------------------


# The canonical text of an IPv4 address, as the stores write it: checked without parsing, since
# every read checks every allocation of the pool (a file of thousands of them is read per call).
_CANONICAL_IPV4 = re.compile(
    r"(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
)


def check_allocation(record, where):
    """An allocation record as a store keeps it (``ip``, epoch seconds ``allocated_at`` and
    ``missing_since``), or a DcosError that starts with ``where`` (the file or the znode)."""
    if not isinstance(record, dict):
        raise DcosError(f"{where}: is not a mapping with an ip")
    ip = record.get("ip")
    if not isinstance(ip, str) or _CANONICAL_IPV4.fullmatch(ip) is None:
        _validate.ip_address(ip, f"{where}: ip")
    for key in ("allocated_at", "missing_since"):
        value = record.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise DcosError(f"{where}: {key}: must be a number of seconds, got {value!r}")
        _validate.number(value, f"{where}: {key}")
    return record


def store_path(path):
    """The state file of the file backend: ``~`` expanded, absolute (the module and the lookup may
    run in different directories, so a relative path would name two files)."""
    if not isinstance(path, str) or not path.strip():
        raise DcosError(f"path: must be the absolute path of the state file, got {path!r}")
    _validate.name(path, "path", r"[^\x00\n\r]+", "a file path has no NUL or line break")
    expanded = os.path.expanduser(path)
    if not os.path.isabs(expanded):
        raise DcosError(f"path: must be an absolute path (or start with ~), got {path!r}")
    if expanded.endswith("/"):
        raise DcosError(f"path: {path!r} names a directory, not the state file")
    return os.path.normpath(expanded)


# -- the file store --------------------------------------------------------------------------------


def _as_expected(record, expect, app_id):
    """Whether an allocation record is still the one the caller decided on (no ``expect``: any)."""
    if expect is None or app_id not in expect:
        return expect is None
    wanted = expect[app_id]
    return record.get("ip") == wanted.get("ip") and record.get("missing_since") == wanted.get("missing_since")


class FileStore:
    """Pools and allocations in one JSON file.

    Every operation takes an exclusive ``fcntl.flock`` on ``<path>.lock`` for the whole
    read-decide-write, and writes through a temporary file in the same directory that is fsynced and
    renamed over the state file: a process killed at any point leaves either the old or the new
    state, never a torn one, and the kernel drops its lock.
    """

    def __init__(self, path=DEFAULT_PATH, lock_timeout=60):
        self.path = store_path(path)
        self.lock_path = self.path + ".lock"
        self.lock_timeout = _validate.number(lock_timeout, "lock_timeout", minimum=0)

    def close(self):
        """Nothing to close (the lock is released after each operation)."""

    @contextlib.contextmanager
    def _locked(self, write=True):
        """Hold ``<path>.lock``: exclusive to write; shared to read, and a read creates nothing.

        A read (or a check-mode run) when the lock file does not exist reads without a lock: the
        writers replace the state file atomically, so the reader sees the old or the new state.
        """
        directory = os.path.dirname(self.path)
        try:
            if write:
                os.makedirs(directory, exist_ok=True)
                fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
            else:
                fd = os.open(self.lock_path, os.O_RDONLY)
        except FileNotFoundError as exc:
            if write:
                raise DcosError(f"path: cannot open the lock file {self.lock_path}: {exc.strerror}") from exc
            fd = None
        except OSError as exc:
            raise DcosError(f"path: cannot open the lock file {self.lock_path}: {exc.strerror}") from exc
        if fd is None:
            yield
            return
        mode = fcntl.LOCK_EX if write else fcntl.LOCK_SH
        try:
            deadline = time.monotonic() + self.lock_timeout
            pause = 0.001
            while True:
                try:
                    fcntl.flock(fd, mode | fcntl.LOCK_NB)
                    break
                except OSError as exc:
                    if exc.errno not in (errno.EAGAIN, errno.EACCES):
                        raise DcosError(f"path: cannot lock {self.lock_path}: {exc.strerror}") from exc
                    if time.monotonic() > deadline:
                        raise DcosError(
                            f"path: {self.lock_path} stayed locked for {self.lock_timeout}s (lock_timeout)"
                        ) from exc
                    time.sleep(pause)
                    pause = min(pause * 2, 0.02)
            yield
        finally:
            os.close(fd)  # closing the descriptor drops the lock

    def _read(self):
        try:
            with open(self.path, encoding="utf-8") as handle:
                state = json.load(handle)
        except FileNotFoundError:
            return {"version": STATE_VERSION, "pools": {}}
        except ValueError as exc:
            raise DcosError(f"path: {self.path} is not a valid ip_pool state file: {exc}") from exc
        except OSError as exc:
            raise DcosError(f"path: cannot read {self.path}: {exc.strerror}") from exc
        if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
            raise DcosError(f"path: {self.path} is not an ip_pool state file of version {STATE_VERSION}")
        state.setdefault("pools", {})
        self._check_shape(state["pools"])
        return state

    def _check_shape(self, pools):
        """Every pool, definition and allocation of the file valid, or a DcosError naming the file."""
        where = f"path: {self.path} is not a valid ip_pool state file"
        if not isinstance(pools, dict):
            raise DcosError(f"{where}: pools is not a mapping")
        for name, entry in pools.items():
            check_pool_name(name, f"{where}: pool name")
            if not isinstance(entry, dict):
                raise DcosError(f"{where}: pool {name} is not a mapping")
            if not isinstance(entry.get("spec"), dict):
                raise DcosError(f"{where}: pool {name} has no spec mapping")
            PoolSpec.from_dict(name, entry["spec"], where)
            allocations = entry.get("allocations")
            if not isinstance(allocations, dict):
                raise DcosError(f"{where}: pool {name} has no allocations mapping")
            for app_id, record in allocations.items():
                check_allocation(record, f"{where}: allocation {app_id} of pool {name}")

    def _write(self, state):
        directory = os.path.dirname(self.path)
        fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(self.path) + ".", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(state, handle, indent=1, sort_keys=True)
                handle.write("\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, self.path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise DcosError(f"path: cannot write {self.path}: {exc.strerror}") from exc
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    # The store interface (same as ZooKeeperStore) ------------------------------------------------
    def get_pool(self, name):
        with self._locked(write=False):
            entry = self._read()["pools"].get(name)
        return None if entry is None else entry["spec"]

    def allocations(self, name):
        with self._locked(write=False):
            entry = self._read()["pools"].get(name)
        return {} if entry is None else entry["allocations"]

    def list_pools(self):
        with self._locked(write=False):
            return sorted(self._read()["pools"])

    def set_missing(self, name, marks):
        """Set (a timestamp) or clear (None) ``missing_since`` of allocations: ``{app_id: ts}``."""
        with self._locked():
            state = self._read()
            entry = state["pools"].get(name)
            if entry is None or not marks:
                return
            for app_id, since in marks.items():
                record = entry["allocations"].get(app_id)
                if record is None:
                    continue
                if since is None:
                    record.pop("missing_since", None)
                else:
                    record["missing_since"] = since
            self._write(state)

    def save_pool(self, spec, check_mode=False):
        """Create or update a pool; returns (before spec or None, allocations)."""
        with self._locked(write=not check_mode):
            state = self._read()
            entry = state["pools"].get(spec.name)
            allocations = {} if entry is None else entry["allocations"]
            conflicts = shrink_conflicts(spec, allocations)
            if conflicts:
                raise DcosError(
                    f"pool {spec.name} would no longer hold live allocations: {_conflict_text(conflicts)}",
                    conflicts=conflicts,
                )
            before = None if entry is None else entry["spec"]
            if before != spec.to_dict() and not check_mode:
                state["pools"][spec.name] = {"spec": spec.to_dict(), "allocations": allocations}
                self._write(state)
        return before, allocations

    def delete_pool(self, name, force=False, check_mode=False):
        with self._locked(write=not check_mode):
            state = self._read()
            entry = state["pools"].get(name)
            if entry is None:
                return None, {}
            if entry["allocations"] and not force:
                raise DcosError(
                    f"pool {name} still has live allocations: "
                    + ", ".join(f"{app} holds {rec['ip']}" for app, rec in sorted(entry["allocations"].items()))
                    + "; release them or set force=true",
                    allocations=entry["allocations"],
                )
            if not check_mode:
                del state["pools"][name]
                self._write(state)
        return entry["spec"], entry["allocations"]

    def allocate(self, name, requests, check_mode=False):
        """Give each ``(app_id, ip or None)`` its address, all or none; returns [(app_id, ip, new)]."""
        with self._locked(write=not check_mode):
            state = self._read()
            entry = state["pools"].get(name)
            if entry is None:
                raise DcosError(f"pool {name} does not exist (define it with state=present)", pool=name)
            spec = PoolSpec.from_dict(name, entry["spec"])
            decided = decide_allocations(spec, entry["allocations"], requests)
            if any(new for _app, _ip, new in decided) and not check_mode:
                now = time.time()
                for app_id, ip, new in decided:
                    if new:
                        entry["allocations"][app_id] = {"ip": ip, "allocated_at": now}
                self._write(state)
        return spec, decided

    def release(self, name, app_ids, check_mode=False, expect=None):
        """Free the addresses of ``app_ids``; returns {app_id: ip} of those that held one.

        ``expect`` ({app_id: {"ip", "missing_since"}}) makes it conditional: an app whose record
        changed since the caller read it is left alone.
        """
        with self._locked(write=not check_mode):
            state = self._read()
            entry = state["pools"].get(name)
            if entry is None:
                return {}
            freed = {
                app: entry["allocations"][app]["ip"]
                for app in app_ids
                if app in entry["allocations"] and _as_expected(entry["allocations"][app], expect, app)
            }
            if freed and not check_mode:
                for app in freed:
                    del entry["allocations"][app]
                self._write(state)
        return freed


# -- the ZooKeeper store ---------------------------------------------------------------------------


def _zk_guarded(method):
    """Turn kazoo's failures (connection loss, expired session, no auth...) into a DcosError."""

    @functools.wraps(method)
    def guarded(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except DcosError:
            raise
        except Exception as exc:
            if kazoo_exceptions is None or not isinstance(exc, _ZK_FAILURES):
                raise
            raise DcosError(
                f"zk_hosts: ZooKeeper at {self.hosts} failed ({type(exc).__name__}: {exc or 'no detail'}) "
                f"while running {method.__name__} under zk_root {self.root}"
            ) from exc

    return guarded


def _app_node(app_id):
    return quote(app_id, safe="")


class ZooKeeperStore:
    """Pools and allocations in ZooKeeper, safe across controllers.

    Layout under ``root``::

        pools/<pool>                 the pool definition (JSON); its version guards definition changes
        pools/<pool>/apps/<app id>   {"ip", "allocated_at"} (app ID URL-quoted: '/' is not allowed in a name)
        pools/<pool>/ips/<address>   {"app_id"}: this node's existence *is* the claim on the address

    An allocation is one multi-op: check the pool's version, create ``ips/<address>`` and
    ``apps/<app id>``. ZooKeeper applies it whole or not at all, and a second create of the same
    address fails, so no two apps (on any controller) can ever hold one address, and a client killed
    mid-way leaves nothing behind. The loser of a race re-reads and tries again.
    """

    MAX_ATTEMPTS = 200

    def __init__(self, hosts=DEFAULT_ZK_HOSTS, root=DEFAULT_ZK_ROOT, timeout=10.0, client=None):
        if not HAS_KAZOO and client is None:
            raise DcosError("the kazoo Python library is required for backend=zookeeper", exception=KAZOO_IMPORT_ERROR)
        _validate.name(
            root, "zk_root", _ZK_ROOT_RE, "an absolute ZooKeeper path, no trailing '/', spaces or control characters"
        )
        timeout = _validate.timeout(timeout, "zk_timeout")
        servers = _validate.host_port_list(hosts, "zk_hosts", default_port=ZK_DEFAULT_PORT)
        self.root = root.rstrip("/")
        self.hosts = ",".join(f"{host}:{port}" for host, port in servers)
        hosts = self.hosts
        self.zk = client
        if self.zk is None:
            self.zk = KazooClient(hosts=hosts, timeout=timeout)
            try:
                self.zk.start(timeout=timeout)
            except Exception as exc:  # kazoo raises its own timeout type, or socket errors
                with contextlib.suppress(Exception):
                    self.zk.close()
                raise DcosError(f"zk_hosts: cannot connect to ZooKeeper at {hosts}: {exc}") from exc

    def close(self):
        with contextlib.suppress(Exception):
            self.zk.stop()
            self.zk.close()

    def _decode(self, path, raw, need=()):
        """The JSON record of znode ``path``; a corrupt one is a DcosError naming zk_root and the node."""
        try:
            record = json.loads((raw or b"").decode("utf-8"))
        except ValueError as exc:
            raise DcosError(f"zk_root: znode {path} under {self.root} does not hold JSON ({exc})") from exc
        if not isinstance(record, dict) or any(key not in record for key in need):
            wanted = ", ".join(need) or "a mapping"
            raise DcosError(f"zk_root: znode {path} under {self.root} is not an ip_pool record (needs {wanted})")
        if "ip" in need:
            check_allocation(record, f"zk_root: znode {path} under {self.root}")
        if "app_id" in need and not isinstance(record["app_id"], str):
            raise DcosError(f"zk_root: znode {path} under {self.root}: app_id: must be a string")
        return record

    def _pool_path(self, name):
        return f"{self.root}/pools/{name}"

    def _read_pool(self, name):
        try:
            data, stat = self.zk.get(self._pool_path(name))
        except kazoo_exceptions.NoNodeError:
            return None, None
        path = self._pool_path(name)
        record = self._decode(path, data)
        PoolSpec.from_dict(name, record, f"zk_root: znode {path} under {self.root}")
        return record, stat

    def _app_records(self, name):
        base = self._pool_path(name) + "/apps"
        records = {}
        try:
            children = self.zk.get_children(base)
        except kazoo_exceptions.NoNodeError:
            return {}
        for child in children:
            try:
                data, _stat = self.zk.get(f"{base}/{child}")
            except kazoo_exceptions.NoNodeError:
                continue  # released meanwhile
            records[unquote(child)] = self._decode(f"{base}/{child}", data, need=("ip",))
        return records

    def _ip_owners(self, name, ips):
        owners = {}
        for ip in ips:
            try:
                node = f"{self._pool_path(name)}/ips/{ip}"
                data, _stat = self.zk.get(node)
                owners[ip] = self._decode(node, data, need=("app_id",))["app_id"]
            except kazoo_exceptions.NoNodeError:
                continue
        return owners

    def _commit(self, transaction):
        results = transaction.commit()
        failures = [
            r for r in results if isinstance(r, Exception) and not isinstance(r, kazoo_exceptions.RolledBackError)
        ]
        return failures

    @_zk_guarded
    def get_pool(self, name):
        spec, _stat = self._read_pool(name)
        return spec

    @_zk_guarded
    def allocations(self, name):
        return self._app_records(name)

    @_zk_guarded
    def list_pools(self):
        try:
            names = sorted(self.zk.get_children(f"{self.root}/pools"))
        except kazoo_exceptions.NoNodeError:
            return []
        for name in names:
            check_pool_name(name, f"zk_root: a pool under {self.root}/pools")
        return names

    @_zk_guarded
    def set_missing(self, name, marks):
        for app_id, since in (marks or {}).items():
            path = f"{self._pool_path(name)}/apps/{_app_node(app_id)}"
            for _attempt in range(self.MAX_ATTEMPTS):
                try:
                    raw, stat = self.zk.get(path)
                except kazoo_exceptions.NoNodeError:
                    break
                record = self._decode(path, raw, need=("ip",))
                if since is None:
                    record.pop("missing_since", None)
                else:
                    record["missing_since"] = since
                try:
                    self.zk.set(path, json.dumps(record).encode("utf-8"), version=stat.version)
                    break
                except (kazoo_exceptions.BadVersionError, kazoo_exceptions.NoNodeError):
                    continue

    @_zk_guarded
    def save_pool(self, spec, check_mode=False):
        self.zk.ensure_path(f"{self.root}/pools")
        path = self._pool_path(spec.name)
        wanted = json.dumps(spec.to_dict(), sort_keys=True).encode("utf-8")
        for _attempt in range(self.MAX_ATTEMPTS):
            before, stat = self._read_pool(spec.name)
            if before is None:
                if not check_mode:
                    tx = self.zk.transaction()
                    tx.create(path, wanted)
                    tx.create(path + "/apps", b"")
                    tx.create(path + "/ips", b"")
                    if self._commit(tx):
                        continue  # created meanwhile by another controller
                return None, {}
            allocations = self._app_records(spec.name)
            conflicts = shrink_conflicts(spec, allocations)
            if conflicts:
                raise DcosError(
                    f"pool {spec.name} would no longer hold live allocations: {_conflict_text(conflicts)}",
                    conflicts=conflicts,
                )
            if before == spec.to_dict() or check_mode:
                return before, allocations
            try:
                new_stat = self.zk.set(path, wanted, version=stat.version)
            except kazoo_exceptions.BadVersionError:
                continue
            # Allocations committed before our write carry the old version's check and are visible
            # now; later ones fail their version check. Re-check, and put the old definition back
            # if one slipped in outside the new pool.
            allocations = self._app_records(spec.name)
            conflicts = shrink_conflicts(spec, allocations)
            if conflicts:
                with contextlib.suppress(kazoo_exceptions.BadVersionError):
                    self.zk.set(path, json.dumps(before, sort_keys=True).encode("utf-8"), version=new_stat.version)
                raise DcosError(
                    f"pool {spec.name} would no longer hold live allocations: {_conflict_text(conflicts)}",
                    conflicts=conflicts,
                )
            return before, allocations
        raise DcosError(f"pool {spec.name}: gave up after {self.MAX_ATTEMPTS} concurrent updates")

    @_zk_guarded
    def delete_pool(self, name, force=False, check_mode=False):
        path = self._pool_path(name)
        for _attempt in range(self.MAX_ATTEMPTS):
            before, stat = self._read_pool(name)
            if before is None:
                return None, {}
            allocations = self._app_records(name)
            if allocations and not force:
                raise DcosError(
                    f"pool {name} still has live allocations: "
                    + ", ".join(f"{app} holds {rec['ip']}" for app, rec in sorted(allocations.items()))
                    + "; release them or set force=true",
                    allocations=allocations,
                )
            if check_mode:
                return before, allocations
            tx = self.zk.transaction()
            tx.check(path, stat.version)
            for app_id in allocations:
                tx.delete(f"{path}/apps/{_app_node(app_id)}")
            for ip in self.zk.get_children(path + "/ips"):
                tx.delete(f"{path}/ips/{ip}")
            tx.delete(path + "/apps")
            tx.delete(path + "/ips")
            tx.delete(path)
            if not self._commit(tx):
                return before, allocations
        raise DcosError(f"pool {name}: gave up after {self.MAX_ATTEMPTS} concurrent updates")

    @_zk_guarded
    def allocate(self, name, requests, check_mode=False):
        path = self._pool_path(name)
        spread = 0
        for attempt in range(self.MAX_ATTEMPTS):
            data, stat = self._read_pool(name)
            if data is None:
                raise DcosError(f"pool {name} does not exist (define it with state=present)", pool=name)
            spec = PoolSpec.from_dict(name, data)
            mine = {}
            for app_id, _ip in requests:
                try:
                    node = f"{path}/apps/{_app_node(app_id)}"
                    raw, _st = self.zk.get(node)
                    mine[app_id] = self._decode(node, raw, need=("ip",))
                except kazoo_exceptions.NoNodeError:
                    pass
            taken = self.zk.get_children(path + "/ips")
            # Other apps' allocations matter as taken addresses, and for an explicit request as the
            # owner to name in the error: read only those owners.
            allocations = {f"(holder of {ip})": {"ip": ip} for ip in taken}
            for app_id, rec in mine.items():
                allocations.pop(f"(holder of {rec['ip']})", None)
                allocations[app_id] = rec
            asked = [str(_parse_ip("ip", ip)) for app, ip in requests if ip is not None and app not in mine]
            for ip, owner in self._ip_owners(name, [ip for ip in asked if ip in taken]).items():
                allocations.pop(f"(holder of {ip})", None)
                allocations[owner] = {"ip": ip}
            decided = decide_allocations(spec, allocations, requests, spread=spread)
            new = [(app, ip) for app, ip, is_new in decided if is_new]
            if not new or check_mode:
                return spec, decided
            now = time.time()
            tx = self.zk.transaction()
            tx.check(path, stat.version)
            for app_id, ip in new:
                tx.create(f"{path}/ips/{ip}", json.dumps({"app_id": app_id}).encode("utf-8"))
                tx.create(
                    f"{path}/apps/{_app_node(app_id)}",
                    json.dumps({"ip": ip, "allocated_at": now}).encode("utf-8"),
                )
            if not self._commit(tx):
                return spec, decided
            # Lost a race (address taken, app allocated by another controller, pool changed):
            # read again; spread later picks so that racing clients stop colliding.
            spread = min(4 * (attempt + 1), 64)
        raise DcosError(f"pool {name}: gave up allocating after {self.MAX_ATTEMPTS} concurrent conflicts")

    @_zk_guarded
    def release(self, name, app_ids, check_mode=False, expect=None):
        path = self._pool_path(name)
        for _attempt in range(self.MAX_ATTEMPTS):
            freed = {}
            tx = self.zk.transaction()
            for app_id in app_ids:
                try:
                    raw, stat = self.zk.get(f"{path}/apps/{_app_node(app_id)}")
                except kazoo_exceptions.NoNodeError:
                    continue
                record = self._decode(f"{path}/apps/{_app_node(app_id)}", raw, need=("ip",))
                if not _as_expected(record, expect, app_id):
                    continue
                ip = record["ip"]
                freed[app_id] = ip
                tx.delete(f"{path}/apps/{_app_node(app_id)}", version=stat.version)
                tx.delete(f"{path}/ips/{ip}")
            if not freed or check_mode:
                return freed
            if not self._commit(tx):
                return freed
        raise DcosError(f"pool {name}: gave up releasing after {self.MAX_ATTEMPTS} concurrent conflicts")


def open_store(params):
    """The store named by ``params['backend']``, from the options of :data:`STORE_OPTIONS_SPEC`
    (the module's and the lookup's alike), each validated; a missing key takes its default."""
    options = {key: spec.get("default") for key, spec in STORE_OPTIONS_SPEC.items()}
    options.update({key: params[key] for key in STORE_OPTIONS_SPEC if params.get(key) is not None})
    backend = options["backend"]
    if backend == "file":
        return FileStore(options["path"], lock_timeout=options["lock_timeout"])
    if backend == "zookeeper":
        return ZooKeeperStore(hosts=options["zk_hosts"], root=options["zk_root"], timeout=options["zk_timeout"])
    raise DcosError(f"backend: {backend!r} is not one of file, zookeeper")


# -- the manager -----------------------------------------------------------------------------------


STATES = ("present", "absent", "allocated", "released", "synced")


def task_state(params):
    """The state of an ip_pool task: ``state``, or allocated when app IDs are given, else present.

    Refuses the parameters that make no sense with that state (checked before any store is opened).
    """
    state = params.get("state")
    apps_given = params.get("app_id") is not None or params.get("app_ids") is not None
    if state is None:
        state = "allocated" if apps_given else "present"
    if state not in STATES:
        raise DcosError(f"state: {state!r} is not one of {', '.join(STATES)}")
    if state in ("present", "absent") and apps_given:
        raise DcosError(f"app_id/app_ids: not used with state={state} (use allocated or released)")
    if params.get("group") is not None and state != "released":
        raise DcosError(f"group: only used with state=released, not with state={state}")
    if state == "present" and not params.get("subnets"):
        raise DcosError("subnets: required with state=present")
    return state


class IpPoolManager:
    """Runs one ip_pool task against a store, noting each change in ``record`` (a ChangeRecord).

    Each store call decides and writes under the store's lock (or as one ZooKeeper transaction),
    so the record notes the difference and the step once the store has answered, and marks the
    step done right away when it was written (not in check mode).
    """

    def __init__(self, store, params, record=None):
        _require_netaddr()
        self.store = store
        self.params = params
        self.pool = check_pool_name(params.get("pool"))
        self.record = record if record is not None else ChangeRecord()
        self.check_mode = self.record.check_mode

    def run(self, state):
        """The result of ``state`` (all but synced, which needs Marathon: see ``_ippool_sync``)."""
        return getattr(self, state)()

    def _written(self, step):
        """Note ``step``, and mark it done unless in check mode (the store call has returned)."""
        self.record.step(step)
        if not self.check_mode:
            self.record.done(step)

    def _apps_given(self):
        return self.params.get("app_id") is not None or bool(self.params.get("app_ids"))

    def app_requests(self):
        """``[(app_id, ip or None)]`` from ``app_id``/``ip`` or ``app_ids``, normalised, in order."""
        requests = []
        if self.params.get("app_id") is not None:
            ip = self.params.get("ip")
            requests.append((normalize_app_id(self.params["app_id"]), None if ip is None else str(ip)))
        for app_id in self.params.get("app_ids") or []:
            requests.append((normalize_app_id(app_id, "app_ids"), None))
        seen = set()
        for app_id, _ip in requests:
            if app_id in seen:
                raise DcosError(f"app_ids: {app_id} is given twice")
            seen.add(app_id)
        if not requests:
            raise DcosError("app_id or app_ids: required with state=allocated and state=released")
        return requests

    def present(self):
        spec = PoolSpec(
            self.pool,
            self.params.get("subnets") or [],
            gateway=self.params.get("gateway"),
            reserved=self.params.get("reserved") or (),
            allocation_ranges=self.params.get("allocation_ranges") or (),
        )
        before, allocations = self.store.save_pool(spec, check_mode=self.check_mode)
        if self.record.difference("pool", before, spec.to_dict()):
            self._written(f"{'create' if before is None else 'update'} pool {self.pool}")
        return self.record.result(
            pool=self.pool,
            definition=spec.to_dict(),
            size=spec.size(),
            allocated=len(allocations),
        )

    def absent(self):
        before, allocations = self.store.delete_pool(
            self.pool, force=bool(self.params.get("force")), check_mode=self.check_mode
        )
        if before is not None:
            self.record.difference("pool", before, None)
            self._written(
                f"delete pool {self.pool}" + (f" and its {len(allocations)} allocations" if allocations else "")
            )
        return self.record.result(pool=self.pool, definition=None, released=sorted(allocations))

    def allocated(self):
        requests = self.app_requests()
        if self.check_mode and self.store.get_pool(self.pool) is None:
            return self._unknown_allocations(requests)
        spec, decided = self.store.allocate(self.pool, requests, check_mode=self.check_mode)
        allocations = []
        for app_id, ip, new in decided:
            if new:
                self.record.difference(app_id, None, ip)
                self._written(f"allocate {ip} to {app_id} in pool {self.pool}")
            entry = spec.describe(ip)
            entry["app_id"] = app_id
            allocations.append(entry)
        result = self.record.result(pool=self.pool, allocations=allocations)
        if self.params.get("app_id") is not None:
            result.update(allocations[0])
        return result

    def _unknown_allocations(self, requests):
        """Check mode before the pool exists (a fresh ``--check`` run): changed, addresses unknown."""
        allocations = []
        for app_id, ip in requests:
            self.record.difference(app_id, None, ip or "(chosen when the pool is created)")
            self.record.step(f"allocate {ip or 'an address'} to {app_id} in pool {self.pool}")
            allocations.append(
                {"app_id": app_id, "ip": ip, "prefix": None, "subnet": None, "gateway": None, "pool": self.pool}
            )
        result = self.record.result(
            pool=self.pool,
            allocations=allocations,
            msg=f"pool {self.pool} does not exist yet (check mode): its addresses are chosen when it is created",
        )
        if self.params.get("app_id") is not None:
            result.update(allocations[0])
        return result

    def released(self):
        group = self.params.get("group")
        requests = self.app_requests() if group is None or self._apps_given() else []
        if any(ip is not None for _app, ip in requests):
            raise DcosError("ip: not used with state=released (an app's address is found by its app ID)")
        app_ids = [app for app, _ip in requests]
        if group is not None:
            # Every allocation under the group, also those of apps already gone from Marathon
            # (an environment torn down halfway by an earlier run).
            prefix = normalize_app_id(group, "group") + "/"
            app_ids += sorted(a for a in self.store.allocations(self.pool) if a.startswith(prefix) and a not in app_ids)
        freed = self.store.release(self.pool, app_ids, check_mode=self.check_mode) if app_ids else {}
        for app_id, ip in sorted(freed.items()):
            self.record.difference(app_id, ip, None)
            self._written(f"release {ip} of {app_id} in pool {self.pool}")
        return self.record.result(pool=self.pool, released=sorted(freed), allocations=[])

    def lookup(self, app_ids, allocate=False):
        """Entries (like ``allocations``) of ``app_ids``; allocates the missing ones when asked."""
        requests = [(normalize_app_id(app_id, "_terms"), None) for app_id in app_ids]
        data = self.store.get_pool(self.pool)
        if data is None:
            raise DcosError(f"pool {self.pool} does not exist", pool=self.pool)
        spec = PoolSpec.from_dict(self.pool, data)
        if allocate:
            spec, decided = self.store.allocate(self.pool, requests)
            found = {app: ip for app, ip, _new in decided}
        else:
            held = self.store.allocations(self.pool)
            missing = [app for app, _ip in requests if app not in held]
            if missing:
                raise DcosError(
                    f"pool {self.pool} holds no address for {', '.join(missing)} (allocate it with the ip_pool "
                    "module, or set allocate=true)",
                    pool=self.pool,
                )
            found = {app: held[app]["ip"] for app, _ip in requests}
        entries = []
        for app_id, _ip in requests:
            entry = spec.describe(found[app_id])
            entry["app_id"] = app_id
            entries.append(entry)
        return entries
