# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""GlusterFS volumes through the ``gluster`` CLI: read with ``--xml``, compare, then apply.

Everything here runs the CLI through a *runner*, a callable taking the argument list and returning
``(rc, stdout, stderr)``: :func:`timed_runner` is the one the module uses (``subprocess`` with a
timeout on every call: a hung CLI is killed, and the error names the command and the timeout).
Every command runs with ``--mode=script`` (no y/n prompt) and ``--xml``; state is read from the
XML the CLI prints, never from its human text. A failed command raises :class:`DcosError` whose
message carries the CLI's ``opErrstr``.

The flow is :func:`parse_spec` (validate what the user asked for), :meth:`VolumeManager.compare`
(compare with the volume as glusterd reports it, note the differences and every step in a
``ChangeRecord``), then :meth:`VolumeManager.apply` (run the steps, marking each one done as it
completes; skipped in check mode). :func:`ensure_volume` runs the three for the module.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import posixpath
import re
import signal
import socket
import subprocess
import time
import xml.etree.ElementTree as ET

from ansible_collections.pptv.dcos.plugins.module_utils import _validate
from ansible_collections.pptv.dcos.plugins.module_utils._diff import ChangeRecord
from ansible_collections.pptv.dcos.plugins.module_utils._errors import DcosError

STATES = ("present", "started", "stopped", "absent")
TRANSPORTS = {"0": "tcp", "1": "rdma", "2": "tcp,rdma"}
VOLUME_NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*")
MAX_VOLUME_NAME = 108
VOLUME_NAME_RULE = "letters, digits, '-' and '_', not starting with '-'"

_TRUE = frozenset(("on", "true", "yes", "enable", "enabled", "1"))
_FALSE = frozenset(("off", "false", "no", "disable", "disabled", "0"))
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?|\.\d+)\s*([kmgtp]?b)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"b": 1, "kb": 1024, "mb": 1024**2, "gb": 1024**3, "tb": 1024**4, "pb": 1024**5}
_DEFAULT_SUFFIX = " (DEFAULT)"
NOT_STARTED_GRACE = 15


# ---------------------------------------------------------------------------------------------
# Values


def parse_size(value):
    """Bytes in a gluster size (``10MB``, ``1.5GB``, ``67108864``; units of 1024), else None."""
    match = _SIZE_RE.match(str(value))
    if not match:
        return None
    unit = (match.group(2) or "b").lower()
    return int(float(match.group(1)) * _SIZE_UNITS[unit])


def normalize_bool(value):
    """``'on'``/``'off'`` for any spelling glusterd takes as a boolean, else None."""
    text = str(value).strip().lower()
    if text in _TRUE:
        return "on"
    if text in _FALSE:
        return "off"
    return None


def option_value_text(value):
    """The text sent to ``volume set`` for a value from YAML (True -> ``on``, 3 -> ``3``)."""
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value).strip()


def values_equal(wanted, current):
    """True when glusterd reads ``wanted`` and ``current`` as the same option value.

    The boolean spellings (``on``/``true``/``yes``/``enable``/``1`` and their opposites) are one
    value; sizes compare in bytes (``64MB`` == ``67108864``); anything else compares as text.
    """
    if current is None:
        return False
    want, have = option_value_text(wanted), option_value_text(current)
    if want == have:
        return True
    bool_want, bool_have = normalize_bool(want), normalize_bool(have)
    if bool_want is not None and bool_have is not None:
        return bool_want == bool_have
    size_want, size_have = parse_size(want), parse_size(have)
    if size_want is not None and size_have is not None:
        return size_want == size_have
    return False


# ---------------------------------------------------------------------------------------------
# Bricks


class Brick:
    """One brick: ``host:/path``, and whether it is the arbiter of its replica set."""

    __slots__ = ("arbiter", "host", "path")

    def __init__(self, host, path, arbiter=False):
        self.host = host
        self.path = path
        self.arbiter = bool(arbiter)

    @property
    def name(self):
        return f"{self.host}:{self.path}"

    def label(self):
        return self.name + (" (arbiter)" if self.arbiter else "")

    def __repr__(self):
        return f"Brick({self.label()!r})"


def split_brick(text, where="bricks"):
    """``(host, path)`` of ``host:/path``; the path is absolute and normalised."""
    text = _validate.printable(str(text).strip(" "), where)
    host, sep, path = text.partition(":")
    if not sep or not host or not path.startswith("/"):
        raise DcosError(f"{where}: {text!r} is not a brick; write it as host:/absolute/path")
    path = posixpath.normpath(path)
    if path == "/":
        raise DcosError(f"{where}: {text!r}: a brick cannot be the root directory")
    return host, path


def parse_brick(item, index):
    """A :class:`Brick` from a ``host:/path`` string or a dict (``brick`` or ``host``+``path``)."""
    where = f"bricks[{index}]"
    if isinstance(item, str):
        text, arbiter = item, False
        if text.rstrip().endswith("(arbiter)"):
            text, arbiter = text.rstrip()[: -len("(arbiter)")], True
        host, path = split_brick(text, where)
        return Brick(host, path, arbiter)
    if isinstance(item, dict):
        unknown = sorted(set(item) - {"brick", "host", "path", "arbiter"})
        if unknown:
            raise DcosError(f"{where}: unknown keys {unknown} (use brick or host and path, and arbiter)")
        arbiter = item.get("arbiter", False)
        if normalize_bool(arbiter) is None:
            raise DcosError(f"{where}: arbiter must be a boolean, not {arbiter!r}")
        arbiter = normalize_bool(arbiter) == "on"
        if item.get("brick"):
            if item.get("host") or item.get("path"):
                raise DcosError(f"{where}: give either brick or host and path, not both")
            host, path = split_brick(item["brick"], where)
        elif item.get("host") and item.get("path"):
            host, path = split_brick(f"{item['host']}:{item['path']}", where)
        else:
            raise DcosError(f"{where}: give brick (host:/path) or both host and path")
        return Brick(host, path, arbiter)
    raise DcosError(f"{where}: expected host:/path or a dict, not {type(item).__name__}")


def brick_sets(bricks, size):
    """``bricks`` cut into consecutive sets of ``size`` (replica or disperse sets)."""
    return [bricks[i : i + size] for i in range(0, len(bricks), size)]


# ---------------------------------------------------------------------------------------------
# What the user asked for


class VolumeSpec:
    """The validated request. ``None`` in a field means "not managed" (keep what exists)."""

    def __init__(self, **kwargs):
        self.name = kwargs["name"]
        self.state = kwargs.get("state", "present")
        self.bricks = kwargs.get("bricks")
        self.replica = kwargs.get("replica")
        self.arbiter = kwargs.get("arbiter")
        self.disperse = kwargs.get("disperse")
        self.redundancy = kwargs.get("redundancy")
        self.transport = kwargs.get("transport")
        self.options = kwargs.get("options") or {}
        self.quota = kwargs.get("quota") or {}
        self.force = bool(kwargs.get("force"))
        self.allow_brick_removal = bool(kwargs.get("allow_brick_removal"))
        self.rebalance = bool(kwargs.get("rebalance"))
        self.rebalance_wait = bool(kwargs.get("rebalance_wait"))
        self.timeout = kwargs.get("timeout", 300)

    @property
    def set_size(self):
        """Bricks per replica/disperse set wanted (1 for a plain distribute volume)."""
        return self.replica or self.disperse or 1


def _positive(name, value, minimum):
    if value is None:
        return None
    return _validate.integer(value, name, minimum=minimum)


def _check_name(params):
    name = _validate.name(params.get("name"), "name", VOLUME_NAME_RE, VOLUME_NAME_RULE, MAX_VOLUME_NAME)
    if name.lower() == "all":
        raise DcosError("name: 'all' is reserved by gluster for cluster-wide options")
    state = params.get("state") or "present"
    if state not in STATES:
        raise DcosError(f"state: {state!r} is not one of {', '.join(STATES)}")
    return name, state


def _check_counts(params):
    replica = _positive("replica", params.get("replica"), 2)
    arbiter = _positive("arbiter", params.get("arbiter"), 0)
    disperse = _positive("disperse", params.get("disperse"), 3)
    redundancy = _positive("redundancy", params.get("redundancy"), 1)
    if arbiter not in (None, 0, 1):
        raise DcosError(f"arbiter: gluster supports one arbiter brick per replica set, not {arbiter}")
    if replica and disperse:
        raise DcosError("replica and disperse cannot be combined: a volume is replicated or dispersed")
    if redundancy and not disperse:
        raise DcosError("redundancy needs disperse (the number of bricks in each disperse set)")
    if disperse and redundancy is not None and not 2 * redundancy < disperse:
        raise DcosError(
            f"redundancy: {redundancy} is too high for disperse {disperse} (it must be less than half of it)"
        )
    return replica, arbiter, disperse, redundancy


def _check_bricks(items, state):
    bricks = [parse_brick(item, i) for i, item in enumerate(items)]
    seen = {}
    for i, brick in enumerate(bricks):
        if brick.name in seen:
            raise DcosError(f"bricks[{i}]: {brick.name} is listed twice (also bricks[{seen[brick.name]}])")
        seen[brick.name] = i
    if not bricks and state != "absent":
        raise DcosError("bricks: give at least one brick")
    return bricks


def _check_arbiter(bricks, replica, arbiter, disperse):
    """The arbiter count, inferred from the brick markers; markers sit on the last brick of a set."""
    markers = [i for i, brick in enumerate(bricks or []) if brick.arbiter]
    if markers and arbiter == 0:
        raise DcosError(f"bricks[{markers[0]}]: marked as arbiter but arbiter is 0")
    if markers:
        arbiter = 1
    if not arbiter:
        return arbiter
    if disperse:
        raise DcosError("arbiter: only replicated volumes have arbiter bricks, not disperse ones")
    if not replica or replica < 3:
        raise DcosError(
            "arbiter: needs replica 3 (two data bricks and the arbiter in each set); "
            "replica counts every brick of the set, the arbiter included"
        )
    for i in markers:
        if i % replica != replica - 1:
            raise DcosError(
                f"bricks[{i}]: {bricks[i].name} is marked as arbiter, but the arbiter is the last brick of "
                f"each replica set of {replica}"
            )
    return arbiter


def mark_arbiters(bricks, size, arbiter):
    """Set each brick's arbiter flag from its place: the last brick of every set when ``arbiter``."""
    for i, brick in enumerate(bricks):
        brick.arbiter = bool(arbiter) and i % size == size - 1


_OPTION_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def _check_options(options):
    checked = {}
    for key, value in (options or {}).items():
        name = str(key).strip(" ")
        if not name or _OPTION_NAME_RE.fullmatch(name) is None:
            raise DcosError(f"options: {name!r} is not an option name (like performance.cache-size)")
        if value is None:
            raise DcosError(f"options: {name} has no value")
        if not isinstance(value, (str, int, float, bool)):
            raise DcosError(f"options.{name}: must be a string, a number or a boolean, got a {type(value).__name__}")
        checked[name] = option_value_text(value)
    return checked


def _check_quota(quota):
    checked = {}
    for directory, limit in (quota or {}).items():
        path = str(directory)
        if not path.startswith("/") or re.search(r"[\x00-\x1f\x7f]", path):
            raise DcosError(f"quota: {path!r} must be an absolute path inside the volume (like /logs)")
        size = parse_size(limit)
        if size is None or size <= 0:
            raise DcosError(f"quota: {path}: {limit!r} is not a size (like 10GB, 500MB, 1.5TB)")
        checked[posixpath.normpath(path)] = size
    return checked


def parse_spec(params):
    """Validate the module parameters (a dict) into a :class:`VolumeSpec`; no CLI is run."""
    name, state = _check_name(params)
    replica, arbiter, disperse, redundancy = _check_counts(params)
    bricks = None if params.get("bricks") is None else _check_bricks(params["bricks"], state)
    arbiter = _check_arbiter(bricks, replica, arbiter, disperse)
    if bricks and state != "absent":
        size = replica or disperse or 1
        if len(bricks) % size:
            kind = "replica" if replica else "disperse"
            raise DcosError(
                f"bricks: {len(bricks)} bricks cannot form sets of {size} ({kind} {size}); give a multiple of {size}"
            )
        mark_arbiters(bricks, size, arbiter)
    return VolumeSpec(
        name=name,
        state=state,
        bricks=bricks,
        replica=replica,
        arbiter=arbiter,
        disperse=disperse,
        redundancy=redundancy,
        transport=params.get("transport"),
        options=_check_options(params.get("options")),
        quota=_check_quota(params.get("quota")),
        force=params.get("force"),
        allow_brick_removal=params.get("allow_brick_removal"),
        rebalance=params.get("rebalance"),
        rebalance_wait=params.get("rebalance_wait"),
        timeout=_validate.timeout(300 if params.get("timeout") is None else params["timeout"], "timeout"),
    )


# ---------------------------------------------------------------------------------------------
# Reading the CLI's XML


def _text(node, path, default=None):
    found = node.find(path)
    if found is None or found.text is None:
        return default
    return found.text.strip()


def _int(node, path, default=0):
    text = _text(node, path)
    try:
        return int(text)
    except (TypeError, ValueError):
        return default


def parse_volumes(root):
    """``{name: volume}`` from ``volume info --xml``; a volume is a plain dict (see RETURN)."""
    volumes = {}
    for vol in root.iter("volume"):
        name = _text(vol, "name")
        if not name:
            continue
        bricks = []
        for brick in vol.iter("brick"):
            brick_name = _text(brick, "name") or (brick.text or "").strip()
            host, _sep, path = brick_name.partition(":")
            bricks.append(
                {
                    "name": brick_name,
                    "host": host,
                    "path": path,
                    "host_uuid": _text(brick, "hostUuid") or brick.get("uuid"),
                    "arbiter": _text(brick, "isArbiter") == "1",
                }
            )
        options = {}
        for opt in vol.iter("option"):
            key = _text(opt, "name")
            if key:
                options[key] = _text(opt, "value", "")
        volumes[name] = {
            "name": name,
            "id": _text(vol, "id"),
            "status": _text(vol, "statusStr"),
            "type": _text(vol, "typeStr"),
            "brick_count": _int(vol, "brickCount"),
            "dist_count": _int(vol, "distCount"),
            "replica": _int(vol, "replicaCount"),
            "arbiter": _int(vol, "arbiterCount"),
            "disperse": _int(vol, "disperseCount"),
            "redundancy": _int(vol, "redundancyCount"),
            "transport": TRANSPORTS.get(_text(vol, "transport"), _text(vol, "transport")),
            "bricks": bricks,
            "options": options,
        }
    return volumes


def parse_volume_get(root):
    """``{option: [values]}`` from ``volume get <vol> all|<key> --xml`` (without ``(DEFAULT)``).

    A few keys belong to two translators and are listed twice; while unset they show two defaults
    (``performance.cache-size`` is 32MB for io-cache and 128MB for quick-read), once set one value.
    """
    values = {}
    for opt in root.iter("Opt"):
        key = _text(opt, "Option")
        value = _text(opt, "Value", "")
        if value.endswith(_DEFAULT_SUFFIX.strip()):  # an empty default reads " (DEFAULT)"
            value = value[: -len(_DEFAULT_SUFFIX.strip())].strip()
        if key:
            values.setdefault(key, [])
            if value not in values[key]:
                values[key].append(value)
    return values


def shown_value(values):
    """One value for the diff: the value, or ``32MB / 128MB`` for a key with two defaults."""
    if values is None:
        return None
    return " / ".join(values)


def parse_peers(pool_root):
    """Peers of ``pool list --xml``: uuid, every hostname, connected, and whether it is local."""
    peers = []
    for peer in pool_root.iter("peer"):
        names = [_text(peer, "hostname")]
        names += [(h.text or "").strip() for h in peer.findall("hostnames/hostname")]
        names = [n for n in dict.fromkeys(names) if n]
        peers.append(
            {
                "uuid": _text(peer, "uuid"),
                "hostnames": names,
                "connected": _text(peer, "connected") == "1",
                "state": _text(peer, "stateStr"),
                "local": names[:1] == ["localhost"],
            }
        )
    return peers


def parse_quota(root):
    """``{directory: hard limit in bytes}`` from ``volume quota <vol> list --xml``."""
    limits = {}
    for limit in root.iter("limit"):
        path = _text(limit, "path")
        hard = _text(limit, "hard_limit")
        if path and hard is not None:
            size = parse_size(hard)
            limits[path] = size if size is not None else hard
    return limits


def parse_task_status(root):
    """The aggregate ``statusStr`` of ``rebalance``/``remove-brick ... status --xml``."""
    aggregate = root.find(".//aggregate")
    if aggregate is not None:
        return _text(aggregate, "statusStr")
    return _text(root, ".//node/statusStr")


# ---------------------------------------------------------------------------------------------
# The CLI


class GlusterCli:
    """Runs ``gluster --mode=script ... --xml`` through ``runner`` and checks ``opRet``."""

    def __init__(self, runner, binary="gluster"):
        self.runner = runner
        self.binary = binary

    def command(self, *args):
        return [self.binary, "--mode=script", *args]

    def call(self, *args):
        """``(ok, root, errstr)``; ``root`` is the parsed XML (None when there is none)."""
        cmd = self.command(*args) + ["--xml"]
        rc, out, err = self.runner(cmd)
        root = None
        text = (out or "").strip()
        if text.startswith("<"):
            try:
                root = ET.fromstring(text.encode("utf-8"))
            except ET.ParseError:
                root = None
        if root is None:
            detail = (err or out or "").strip() or "no output"
            return False, None, f"{' '.join(cmd[:1] + cmd[2:-1])} (rc={rc}): {detail}"
        op_ret = _int(root, "opRet", -1)
        errstr = _text(root, "opErrstr") or _text(root, "output") or ""
        if op_ret != 0:
            return False, root, errstr or f"failed with opRet {op_ret}"
        return True, root, errstr

    def run(self, *args, **what):
        """Like :meth:`call`, raising :class:`DcosError` (with ``opErrstr``) on failure."""
        ok, root, errstr = self.call(*args)
        if not ok:
            raise DcosError(
                f"{what.get('about', 'gluster')}: gluster {' '.join(args)} failed: {errstr}",
                op_errstr=errstr,
                command=" ".join(self.command(*args)),
            )
        return root

    # Reads -------------------------------------------------------------------------------------

    def volume_info(self, name):
        """The volume ``name`` as :func:`parse_volumes` gives it, or None when it does not exist."""
        ok, root, errstr = self.call("volume", "info", name)
        if not ok:
            if root is not None and "does not exist" in errstr:
                return None
            raise DcosError(
                f"name: cannot read volume {name}: {errstr}",
                op_errstr=errstr,
                command=" ".join(self.command("volume", "info", name)),
            )
        return parse_volumes(root).get(name)

    def option_values(self, name):
        return parse_volume_get(self.run("volume", "get", name, "all", about="options"))

    def option_lookup(self, name, key):
        """``(canonical key, value)`` of ``key`` (short names too), or ``(None, errstr)``."""
        ok, root, errstr = self.call("volume", "get", name, key)
        if not ok:
            return None, errstr or "unknown option"
        values = parse_volume_get(root)
        if len(values) != 1:
            return None, f"matches {len(values)} options"
        return next(iter(values.items()))  # (key, [values])

    def peers(self):
        return parse_peers(self.run("pool", "list", about="peers"))

    def quota_limits(self, name):
        ok, root, errstr = self.call("volume", "quota", name, "list")
        if not ok:
            if "disabled" in errstr.lower():
                return {}
            raise DcosError(f"quota: cannot list quota of {name}: {errstr}", op_errstr=errstr)
        return parse_quota(root)


# ---------------------------------------------------------------------------------------------
# Host names


def _local_names():
    names = {"localhost"}
    try:
        hostname = socket.gethostname()
    except OSError:  # pragma: no cover - gethostname does not fail on Linux
        hostname = ""
    if hostname:
        names.add(hostname.lower())
        names.add(hostname.split(".")[0].lower())
    return names


def _is_ip(text):
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _is_local_address(host):
    """True when ``host`` is an IP literal of this machine (binding to it works). No DNS."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if address.is_loopback:
        return True
    family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.bind((str(address), 0))
        return True
    except OSError:
        return False
    finally:
        sock.close()


class PeerIndex:
    """Maps the host part of a brick to the UUID of its peer in the trusted pool.

    A host is matched by a name the pool knows it by (``pool list``: the probed name and every
    other name glusterd learned), or as this machine (its host name or one of its addresses),
    never through DNS.
    """

    def __init__(self, peers, local_names=None, is_local_address=_is_local_address):
        self.peers = peers
        self.local = next((p for p in peers if p["local"]), None)
        self.local_names = local_names if local_names is not None else _local_names()
        self.is_local_address = is_local_address
        self.by_name = {}
        self.by_short = {}
        for peer in peers:
            for name in peer["hostnames"]:
                if name == "localhost":
                    continue
                self.by_name.setdefault(name.lower(), peer)
                if not _is_ip(name):
                    self.by_short.setdefault(name.split(".")[0].lower(), []).append(peer)

    def find(self, host):
        peer = self.by_name.get(host.lower())
        if peer is not None:
            return peer
        if "." not in host:
            # A peer probed from another server may be known by its qualified name only
            # (pptvgl-node1.lab); its short name matches when no other peer shares it.
            candidates = {p["uuid"]: p for p in self.by_short.get(host.lower(), [])}
            if len(candidates) == 1:
                return next(iter(candidates.values()))
        if self.local is not None and (host.lower() in self.local_names or self.is_local_address(host)):
            return self.local
        return None

    def check(self, hosts):
        """Raise naming every host that is not a connected member of the pool."""
        missing, down = [], []
        for host in dict.fromkeys(hosts):
            peer = self.find(host)
            if peer is None:
                missing.append(host)
            elif not peer["connected"]:
                down.append(f"{host} (disconnected)")
            elif peer["state"] and peer["state"] != "Peer in Cluster":
                down.append(f"{host} ({peer['state']})")
        if missing:
            raise DcosError(
                "bricks: {} not in the trusted storage pool; probe {} first (gluster peer probe)".format(
                    ", ".join(missing) + (" is" if len(missing) == 1 else " are"),
                    "it" if len(missing) == 1 else "them",
                ),
                missing_peers=missing,
            )
        if down:
            raise DcosError(f"bricks: peers not connected: {', '.join(down)}", disconnected_peers=down)


# ---------------------------------------------------------------------------------------------
# Plan and apply


def _brick_labels(bricks):
    return [b.label() if isinstance(b, Brick) else b["name"] + (" (arbiter)" if b["arbiter"] else "") for b in bricks]


def _size_text(size):
    if not isinstance(size, int):
        return str(size)
    for unit in ("PB", "TB", "GB", "MB", "KB"):
        factor = _SIZE_UNITS[unit.lower()]
        if size >= factor and size % factor == 0:
            return f"{size // factor}{unit}"
    return f"{size}B"


STEP_ORDER = (
    "create",
    "add-brick",
    "set",
    "start",
    "rebalance",
    "remove-brick",
    "remove-brick-commit",
    "quota-enable",
    "quota-limit",
    "stop",
    "delete",
)


class Step:
    """One CLI call to make: its arguments and what it is for."""

    def __init__(self, kind, args):
        self.kind = kind
        self.args = list(args)


class VolumeManager:
    """Compares and applies one volume's state, noting each difference and step in ``record`` (a
    ChangeRecord) and marking each step done once its command completed. ``sleep``/``clock`` are
    injectable for tests."""

    def __init__(self, cli, spec, record=None, sleep=time.sleep, clock=time.monotonic, peer_index=None):
        self.cli = cli
        self.spec = spec
        self.record = record if record is not None else ChangeRecord()
        self.sleep = sleep
        self.clock = clock
        self.peer_index = peer_index
        self.steps = []
        self.current = None
        self._added = []

    # -- comparing ------------------------------------------------------------------------------

    def _step(self, kind, *args):
        step = Step(kind, args)
        self.steps.append(step)
        return step

    def compare(self):
        """Read the volume, note what differs and the commands to run; returns the record."""
        spec = self.spec
        self.current = current = self.cli.volume_info(spec.name)
        if spec.state == "absent":
            if current is not None:
                self.record.difference("state", current["status"].lower(), "absent")
                if current["status"] == "Started":
                    self._step("stop", "volume", "stop", spec.name)
                self._step("delete", "volume", "delete", spec.name)
            return self._ordered()

        if current is None:
            self._create_steps()
        else:
            self._check_layout(current)
            self._brick_steps(current)
        self._option_steps(current)
        self._state_steps(current)
        self._rebalance_step()
        self._quota_steps(current)
        return self._ordered()

    def _ordered(self):
        """Steps in the order glusterd needs them (e.g. start before rebalance, quota and removal)."""
        self.steps.sort(key=lambda step: STEP_ORDER.index(step.kind))
        for step in self.steps:
            self.record.step(self._text(step))
        return self.record

    def _text(self, step):
        return " ".join(self.cli.command(*step.args))

    def _final_started(self, current):
        if self.spec.state == "started":
            return True
        if self.spec.state == "stopped":
            return False
        return current is not None and current["status"] == "Started"

    def _peer_index(self):
        if self.peer_index is None:
            self.peer_index = PeerIndex(self.cli.peers())
        return self.peer_index

    def _create_steps(self):
        spec = self.spec
        if not spec.bricks:
            raise DcosError(f"bricks: volume {spec.name} does not exist; give its bricks to create it")
        self._peer_index().check(b.host for b in spec.bricks)
        args = ["volume", "create", spec.name]
        if spec.replica:
            args += ["replica", str(spec.replica)]
            if spec.arbiter:
                args += ["arbiter", str(spec.arbiter)]
        if spec.disperse:
            args += ["disperse", str(spec.disperse)]
            if spec.redundancy:
                args += ["redundancy", str(spec.redundancy)]
        if spec.transport:
            args += ["transport", spec.transport]
        args += [b.name for b in spec.bricks]
        if spec.force:
            args.append("force")
        self.record.difference("state", "absent", "created")
        self.record.difference("bricks", [], _brick_labels(spec.bricks))
        self._step("create", *args)

    def _check_layout(self, current):
        """Refuse a change of volume type: gluster cannot convert one in place through this module."""
        spec = self.spec
        have_replica = current["replica"] if current["replica"] > 1 else None
        have_disperse = current["disperse"] or None
        checks = (
            ("replica", spec.replica, have_replica),
            ("arbiter", spec.arbiter, current["arbiter"] or None),
            ("disperse", spec.disperse, have_disperse),
            ("redundancy", spec.redundancy, current["redundancy"] or None),
            ("transport", spec.transport, current["transport"]),
        )
        for option, wanted, have in checks:
            if wanted is not None and (wanted or None) != have:
                have_text = "none" if have is None else have
                raise DcosError(
                    f"{option}: volume {spec.name} has {option} {have_text}; changing it in place is not "
                    f"supported (wanted {wanted})"
                )
        # Unspecified counts follow the volume.
        spec.replica = spec.replica or have_replica
        spec.arbiter = spec.arbiter or current["arbiter"] or None
        spec.disperse = spec.disperse or have_disperse
        if spec.bricks:
            size = spec.set_size
            if len(spec.bricks) % size:
                raise DcosError(
                    f"bricks: {len(spec.bricks)} bricks cannot form the sets of {size} bricks volume "
                    f"{spec.name} is made of"
                )
            mark_arbiters(spec.bricks, size, spec.arbiter)

    def _brick_key(self, host, path, host_uuid=None):
        if host_uuid is None:
            peer = self._peer_index().find(host)
            host_uuid = peer["uuid"] if peer else "name:" + host.lower()
        return (host_uuid, posixpath.normpath(path))

    def _diff_bricks(self, current):
        """``(added, removed)``: whole sets of the list that the volume lacks, and the reverse."""
        spec, size, have = self.spec, self.spec.set_size, current["bricks"]
        have_keys = [self._brick_key(b["host"], b["path"], b["host_uuid"]) for b in have]
        want_keys = [self._brick_key(b.host, b.path) for b in spec.bricks]
        have_sets = {tuple(s): i for i, s in enumerate(brick_sets(have_keys, size))}
        added, kept = [], set()
        for i, wanted in enumerate(brick_sets(want_keys, size)):
            bricks = spec.bricks[i * size : (i + 1) * size]
            if tuple(wanted) in have_sets:
                kept.add(tuple(wanted))
                continue
            mixed = [brick.name for brick, key in zip(bricks, wanted) if key in have_keys]
            if mixed:
                raise DcosError(
                    f"bricks: the set {', '.join(b.name for b in bricks)} mixes bricks of volume {spec.name} "
                    f"({', '.join(mixed)}) with new ones; add or remove whole sets of {size}, each in the "
                    "order the volume has it"
                )
            added.extend(bricks)
        removed = []
        for hset, index in have_sets.items():
            if hset not in kept:
                removed.extend(have[index * size : (index + 1) * size])
        return added, removed

    def _brick_steps(self, current):
        spec = self.spec
        if spec.bricks is None:
            return
        added, removed = self._diff_bricks(current)
        if not added and not removed:
            return
        self.record.difference("bricks", _brick_labels(current["bricks"]), _brick_labels(spec.bricks))
        if added:
            self._peer_index().check(b.host for b in added)
            args = ["volume", "add-brick", spec.name]
            if spec.replica:
                args += ["replica", str(spec.replica)]
                if spec.arbiter:
                    args += ["arbiter", str(spec.arbiter)]
            args += [b.name for b in added]
            if spec.force:
                args.append("force")
            self._step("add-brick", *args)
            self._added = added
        if removed:
            names = [b["name"] for b in removed]
            if not spec.allow_brick_removal:
                raise DcosError(
                    f"bricks: volume {spec.name} has bricks that are not listed ({', '.join(names)}); removing "
                    "bricks migrates their data and is refused unless allow_brick_removal is true",
                    bricks_to_remove=names,
                )
            if not self._final_started(current):
                raise DcosError(
                    f"bricks: removing bricks from {spec.name} migrates their data and needs the volume started"
                )
            base = ["volume", "remove-brick", spec.name, *names]
            self._step("remove-brick", *base, "start")
            self._step("remove-brick-commit", *base, "commit")

    def _option_steps(self, current):
        spec = self.spec
        if not spec.options:
            return
        if current is None:
            before = {key: None for key in spec.options}
            self.record.difference("options", before, dict(spec.options))
            pairs = []
            for key, value in spec.options.items():
                pairs += [key, value]
            self._step("set", "volume", "set", spec.name, *pairs)
            return
        values = self.cli.option_values(spec.name)
        before, after, pairs, errors = {}, {}, [], []
        for key, value in spec.options.items():
            canonical, have = key, values.get(key)
            if key not in values:
                canonical, have = self.cli.option_lookup(spec.name, key)
                if canonical is None:
                    errors.append(f"{key} ({have.strip()})")
                    continue
            if not all(values_equal(value, one) for one in have):
                before[key], after[key] = shown_value(have), value
                pairs += [key, value]
        if errors:
            raise DcosError(f"options: unknown to gluster: {'; '.join(errors)}", unknown_options=errors)
        if pairs:
            self.record.difference("options", before, after)
            self._step("set", "volume", "set", spec.name, *pairs)

    def _state_steps(self, current):
        spec = self.spec
        status = current["status"] if current else "Created"
        if spec.state == "started" and status != "Started":
            if current is not None:
                self.record.difference("state", status.lower(), "started")
            else:
                self.record.difference("state", "absent", "started")
            self._step("start", "volume", "start", spec.name)
        elif spec.state == "stopped" and current is not None and status == "Started":
            self.record.difference("state", "started", "stopped")
            self._step("stop", "volume", "stop", spec.name)

    def _rebalance_step(self):
        spec = self.spec
        if not self._added or not spec.rebalance:
            return
        if not self._final_started(self.current):
            raise DcosError(f"rebalance: volume {spec.name} must be started to rebalance (set state: started)")
        self._step("rebalance", "volume", "rebalance", spec.name, "start")

    def _quota_steps(self, current):
        spec = self.spec
        if not spec.quota:
            return
        if not self._final_started(current):
            raise DcosError(f"quota: volume {spec.name} must be started to manage quota (set state: started)")
        enabled = current is not None and normalize_bool(current["options"].get("features.quota", "off")) == "on"
        have = self.cli.quota_limits(spec.name) if enabled else {}
        if not enabled:
            self._step("quota-enable", "volume", "quota", spec.name, "enable")
        before, after = {}, {}
        for directory, size in sorted(spec.quota.items()):
            if have.get(directory) != size:
                before[directory] = _size_text(have[directory]) if directory in have else None
                after[directory] = _size_text(size)
                self._step("quota-limit", "volume", "quota", spec.name, "limit-usage", directory, _size_text(size))
        if after:
            self.record.difference("quota", before, after)

    # -- applying -------------------------------------------------------------------------------

    def apply(self):
        """Run the steps :meth:`compare` noted, in order; a new volume is deleted again if a later step fails."""
        created = False
        try:
            for step in self.steps:
                if step.kind == "set" and created:
                    self._check_new_option_names()
                if step.kind == "remove-brick":
                    self._remove_bricks_start(step)
                    continue
                if step.kind == "remove-brick-commit":
                    self._wait_task("remove-brick", step.args[:-1] + ["status"], "remove-brick")
                self.cli.run(*step.args, about=step.kind)
                self.record.done(self._text(step))
                if step.kind == "create":
                    created = True
                if step.kind == "rebalance" and self.spec.rebalance_wait:
                    self._wait_task("rebalance", ["volume", "rebalance", self.spec.name, "status"], "rebalance")
        except DcosError as error:
            if created:
                self._roll_back_create(error)
            raise

    def _check_new_option_names(self):
        errors = []
        for key in self.spec.options:
            canonical, detail = self.cli.option_lookup(self.spec.name, key)
            if canonical is None:
                errors.append(f"{key} ({detail.strip()})")
        if errors:
            raise DcosError(f"options: unknown to gluster: {'; '.join(errors)}", unknown_options=errors)

    def _roll_back_create(self, error):
        try:
            ok, _root, errstr = self.cli.call("volume", "delete", self.spec.name)
        except DcosError as again:  # the delete timed out too
            ok, errstr = False, again.msg
        if ok:
            self.record.done(" ".join(self.cli.command("volume", "delete", self.spec.name)))
            error.msg += f" (volume {self.spec.name} was created by this run and has been deleted again)"
        else:
            error.msg += f" (volume {self.spec.name} was created by this run; deleting it failed: {errstr})"

    def _remove_bricks_start(self, step):
        status_args = step.args[:-1] + ["status"]
        ok, root, _err = self.cli.call(*status_args)
        if ok and parse_task_status(root) in ("in progress", "completed"):
            return  # started by an earlier run that timed out: wait for it, then commit
        self.cli.run(*step.args, about="remove-brick")
        self.record.done(self._text(step))

    def _wait_task(self, what, status_args, about):
        start = self.clock()
        deadline = start + self.spec.timeout
        while True:
            ok, root, errstr = self.cli.call(*status_args)
            if ok:
                status = parse_task_status(root)
            elif _still_starting(errstr) and self.clock() < min(deadline, start + NOT_STARTED_GRACE):
                status = "starting"
            else:
                raise DcosError(f"{about}: gluster {' '.join(status_args)} failed: {errstr}", op_errstr=errstr)
            if status == "completed":
                return
            if status in ("failed", "stopped"):
                raise DcosError(f"{what} of volume {self.spec.name} {status}; see gluster {' '.join(status_args)}")
            if self.clock() >= deadline:
                pending = " (the commit is pending: run the task again to finish it)" if what == "remove-brick" else ""
                raise DcosError(
                    f"{what} of volume {self.spec.name} still {status} after {self.spec.timeout:g}s{pending}"
                )
            self.sleep(1)

    # -- result ---------------------------------------------------------------------------------

    def volume_after(self, check_mode):
        """The volume as glusterd reports it now (None when absent); the current one in check mode."""
        if check_mode or not self.record.changed:
            return self.current
        return self.cli.volume_info(self.spec.name)


def _still_starting(errstr):
    """Whether a failed ``status`` of a task just started means it is still starting: for a
    moment glusterd answers "Rebalance not started", or, while the bricks' rebalance processes
    come up (seen on a loaded host), "Glusterd Syncop Mgmt brick op 'Rebalance' failed"."""
    return "not started" in errstr or "brick op 'Rebalance' failed" in errstr


def ensure_volume(params, record, binary="gluster", runner=None, **manager_args):
    """Compare (and unless ``record.check_mode`` apply) ``params``, noting every change in
    ``record``; returns the module result dict. Every CLI call is bounded by ``params['timeout']``
    (through :func:`timed_runner`, unless another ``runner`` is given)."""
    spec = parse_spec(params)
    if runner is None:
        runner = timed_runner(spec.timeout)
    manager = VolumeManager(GlusterCli(runner, binary), spec, record, **manager_args)
    manager.compare()
    if not record.check_mode and record.changed:
        manager.apply()
    volume = manager.volume_after(record.check_mode)
    return record.result(volume=volume or {})


def timed_runner(timeout):
    """A runner that runs each command with ``LC_ALL=C`` and waits at most ``timeout`` seconds.

    A command still running then is killed with its whole process group (a CLI may leave children
    holding its output open) and the runner raises a DcosError naming the command and the timeout.
    """

    def run(args):
        proc = subprocess.Popen(  # noqa: S603 - an argument list, never a shell
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=dict(os.environ, LC_ALL="C"),
            start_new_session=True,
        )
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            raise DcosError(
                f"timeout: {' '.join(args)} did not finish within {timeout:g}s (timeout) and was killed",
                command=" ".join(args),
            ) from None
        return proc.returncode, out, err

    return run


def _kill_group(proc):
    with contextlib.suppress(OSError):  # already gone
        os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()
