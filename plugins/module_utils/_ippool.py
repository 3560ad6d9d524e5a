# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The global IP pool: one fixed address per Marathon app ID, shared by every controller.

Three layers, none of which imports Ansible:

* :class:`PoolSpec` and the functions beside it are the pure rules: what a pool is (segments,
  gateway, reserved addresses and ranges, an optional allocation range), which address a new app
  gets (the lowest free one, segments in the order given), what a pool may shrink to.
* Two stores keep pools and allocations with the same semantics: :class:`FileStore` (one JSON file,
  an ``fcntl`` lock held across read-allocate-write, atomic replace) and :class:`ZooKeeperStore`
  (kazoo; an allocation is an atomic multi-op that creates the address's znode, so two controllers
  can never hand out the same address).
* :class:`IpPoolManager` plans each state with a :class:`ChangePlan` and builds the result the
  module, the lookup and the reconciler return.

netaddr and kazoo are imported with a guard; callers check :data:`HAS_NETADDR` / :data:`HAS_KAZOO`.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import json
import os
import random
import re
import tempfile
import time
import traceback
from urllib.parse import quote, unquote

from ansible_collections.pptv.dcos.plugins.module_utils._diff import ChangePlan
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
_POOL_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


# -- pure rules ------------------------------------------------------------------------------------


def check_pool_name(name):
    if not name or not _POOL_NAME_RE.match(str(name)):
        raise DcosError(f'pool: "{name}" is not a valid pool name (letters, digits, "_", ".", "-")')
    return str(name)


def _require_netaddr():
    if not HAS_NETADDR:
        raise DcosError("the netaddr Python library is required for ip_pool", exception=NETADDR_IMPORT_ERROR)


def _parse_ip(option, value):
    try:
        return netaddr.IPAddress(str(value).strip())
    except (netaddr.AddrFormatError, ValueError, TypeError) as exc:
        raise DcosError(f'{option}: "{value}" is not an IP address') from exc


def _parse_net(option, value):
    text = str(value).strip()
    if "/" not in text:
        raise DcosError(f'{option}: "{value}" is not a CIDR (address/prefix)')
    try:
        net = netaddr.IPNetwork(text)
    except (netaddr.AddrFormatError, ValueError, TypeError) as exc:
        raise DcosError(f'{option}: "{value}" is not a valid CIDR') from exc
    if net.ip != net.network:
        raise DcosError(f'{option}: "{value}" has host bits set (did you mean {net.cidr}?)')
    return net


def _parse_span(option, value):
    """An address, a CIDR or a range ``first-last``, as (normalised text, netaddr.IPSet)."""
    text = str(value).strip()
    if "-" in text and "/" not in text:
        first, _sep, last = text.partition("-")
        start, end = _parse_ip(option, first), _parse_ip(option, last)
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
    def from_dict(cls, name, data):
        data = data or {}
        return cls(
            name,
            data.get("subnets") or [],
            gateway=data.get("gateway"),
            reserved=data.get("reserved") or (),
            allocation_ranges=data.get("allocation_ranges") or (),
        )

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


def plan_allocations(spec, allocations, requests, spread=0):
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
        if not path:
            raise DcosError("path: required with backend=file")
        self.path = os.path.abspath(os.path.expanduser(path))
        self.lock_path = self.path + ".lock"
        self.lock_timeout = lock_timeout

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
        where = f"path: {self.path} is not a valid ip_pool state file"
        if not isinstance(pools, dict):
            raise DcosError(f"{where}: pools is not a mapping")
        for name, entry in pools.items():
            if not isinstance(entry, dict):
                raise DcosError(f"{where}: pool {name} is not a mapping")
            if not isinstance(entry.get("spec"), dict):
                raise DcosError(f"{where}: pool {name} has no spec mapping")
            allocations = entry.get("allocations")
            if not isinstance(allocations, dict):
                raise DcosError(f"{where}: pool {name} has no allocations mapping")
            for app_id, record in allocations.items():
                if not isinstance(record, dict) or not isinstance(record.get("ip"), str):
                    raise DcosError(f"{where}: allocation {app_id} of pool {name} has no ip")

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
            decided = plan_allocations(spec, entry["allocations"], requests)
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

    def __init__(self, hosts="127.0.0.1:2181", root=DEFAULT_ZK_ROOT, timeout=10.0, client=None):
        if not HAS_KAZOO and client is None:
            raise DcosError("the kazoo Python library is required for backend=zookeeper", exception=KAZOO_IMPORT_ERROR)
        if not root or not root.startswith("/") or root != "/" and root.endswith("/"):
            raise DcosError(f'zk_root: "{root}" must be an absolute ZooKeeper path without a trailing "/"')
        self.root = root.rstrip("/")
        self.hosts = hosts
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
        return record

    def _pool_path(self, name):
        return f"{self.root}/pools/{name}"

    def _read_pool(self, name):
        try:
            data, stat = self.zk.get(self._pool_path(name))
        except kazoo_exceptions.NoNodeError:
            return None, None
        return self._decode(self._pool_path(name), data), stat

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
            return sorted(self.zk.get_children(f"{self.root}/pools"))
        except kazoo_exceptions.NoNodeError:
            return []

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
            decided = plan_allocations(spec, allocations, requests, spread=spread)
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
    """The store named by ``params['backend']`` (the module's and the lookup's options)."""
    backend = params.get("backend") or "file"
    if backend == "file":
        return FileStore(params.get("path") or DEFAULT_PATH, lock_timeout=params.get("lock_timeout") or 60)
    if backend == "zookeeper":
        return ZooKeeperStore(
            hosts=params.get("zk_hosts") or "127.0.0.1:2181",
            root=params.get("zk_root") or DEFAULT_ZK_ROOT,
            timeout=float(params.get("zk_timeout") or 10),
        )
    raise DcosError(f'backend: "{backend}" is not one of file, zookeeper')


# -- the manager -----------------------------------------------------------------------------------


class IpPoolManager:
    """Plans and applies one ip_pool task against a store."""

    def __init__(self, store, params, check_mode=False):
        _require_netaddr()
        self.store = store
        self.params = params
        self.pool = check_pool_name(params.get("pool"))
        self.check_mode = check_mode
        self.plan = ChangePlan()

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
        if self.plan.record("pool", before, spec.to_dict()):
            self.plan.action(f"{'create' if before is None else 'update'} pool {self.pool}")
        return self.plan.result(
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
            self.plan.record("pool", before, None)
            self.plan.action(
                f"delete pool {self.pool}" + (f" and its {len(allocations)} allocations" if allocations else "")
            )
        return self.plan.result(pool=self.pool, definition=None, released=sorted(allocations))

    def allocated(self):
        requests = self.app_requests()
        if self.check_mode and self.store.get_pool(self.pool) is None:
            return self._unknown_allocations(requests)
        spec, decided = self.store.allocate(self.pool, requests, check_mode=self.check_mode)
        allocations = []
        for app_id, ip, new in decided:
            if new:
                self.plan.record(app_id, None, ip)
                self.plan.action(f"allocate {ip} to {app_id} in pool {self.pool}")
            entry = spec.describe(ip)
            entry["app_id"] = app_id
            allocations.append(entry)
        result = self.plan.result(pool=self.pool, allocations=allocations)
        if self.params.get("app_id") is not None:
            result.update(allocations[0])
        return result

    def _unknown_allocations(self, requests):
        """Check mode before the pool exists (a fresh ``--check`` run): changed, addresses unknown."""
        allocations = []
        for app_id, ip in requests:
            self.plan.record(app_id, None, ip or "(chosen when the pool is created)")
            self.plan.action(f"allocate {ip or 'an address'} to {app_id} in pool {self.pool}")
            allocations.append(
                {"app_id": app_id, "ip": ip, "prefix": None, "subnet": None, "gateway": None, "pool": self.pool}
            )
        result = self.plan.result(
            pool=self.pool,
            allocations=allocations,
            msg=f"pool {self.pool} does not exist yet (check mode): its addresses are chosen when it is created",
        )
        if self.params.get("app_id") is not None:
            result.update(allocations[0])
        return result

    def released(self):
        requests = self.app_requests()
        if any(ip is not None for _app, ip in requests):
            raise DcosError("ip: not used with state=released (an app's address is found by its app ID)")
        freed = self.store.release(self.pool, [app for app, _ip in requests], check_mode=self.check_mode)
        for app_id, ip in sorted(freed.items()):
            self.plan.record(app_id, ip, None)
            self.plan.action(f"release {ip} of {app_id} in pool {self.pool}")
        return self.plan.result(pool=self.pool, released=sorted(freed), allocations=[])

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
