# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Nginx upstreams: validation, deterministic rendering, and write-validate-restore.

This is the one place where Nginx upstream files are rendered. ``pptv.dcos.nginx_upstream``
and the service-discovery daemon both call it:

* :func:`parse_upstream` turns a plain dict (the module's parameters, or what the daemon builds
  from Marathon labels) into an :class:`Upstream`, validating every value as what it claims to be
  (address, port, name, ...). A value that could smuggle a directive into the configuration
  (``;``, braces, quotes, ``#``, backslashes, whitespace or newlines) is refused and the error
  names the option that carried it.
* :func:`render_upstream` renders one upstream (and the ``server`` blocks of its virtual hosts)
  to text; the same input always gives the same bytes.
* :func:`file_changes` compares what is wanted with the files under the directory (one file per
  upstream, ``upstream-<name>.conf``) and returns the :class:`FileChange` list.
* :func:`apply` writes the changed files atomically, runs ``nginx -t -c <nginx_conf>`` once on
  the whole configuration, puts every file back exactly as it was when Nginx refuses it, and
  reloads Nginx at most once, only after a successful validation.
* :func:`converge` does all of it for a batch, under a lock on the directory.

Commands are run through a *runner*: a callable taking an argv list and returning
``(rc, stdout, stderr)``. The module passes ``module.run_command``; code outside Ansible can pass
:func:`subprocess_runner` or its own. Nothing here imports Ansible.
"""

from __future__ import annotations

import errno
import fcntl
import ipaddress
import os
import re
import shutil
import subprocess
import tempfile
from contextlib import contextmanager, suppress

from ansible_collections.pptv.dcos.plugins.module_utils import _validate
from ansible_collections.pptv.dcos.plugins.module_utils._errors import DcosError

MANAGED_HEADER = "# Managed by pptv.dcos.nginx_upstream: local changes are overwritten.\n"
FILE_PREFIX = "upstream-"
FILE_SUFFIX = ".conf"
LOCK_NAME = ".pptv-nginx-upstream.lock"
BALANCE_METHODS = ("round_robin", "least_conn", "ip_hash", "hash")
STATES = ("present", "absent")
DEFAULT_PORT = 80
DEFAULT_LISTEN = "80"
DEFAULT_LOCATION = "/"
INDENT = "    "
# Largest weight, max_fails or keepalive we render: nginx parses them into a C int (larger values
# fail `nginx -t`, which would name no option).
MAX_INTEGER = 2147483647
_SBIN_PATH = os.pathsep.join(("/usr/local/sbin", "/usr/sbin", "/sbin"))

# Characters that end a directive, open or close a block, quote, comment, escape or separate
# arguments in nginx's configuration syntax. None of them belongs in any value we render.
_SMUGGLERS = (
    (";", "';' (ends a directive)"),
    ("{", "'{' (opens a block)"),
    ("}", "'}' (closes a block)"),
    ('"', "a double quote"),
    ("'", "a single quote"),
    ("#", "'#' (starts a comment)"),
    ("\\", "a backslash"),
    ("\n", "a newline"),
    ("\r", "a carriage return"),
)

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME_RE = re.compile(rf"^(?=.{{1,253}}\.?$){_LABEL}(?:\.{_LABEL})*\.?$")
_SERVER_NAME_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
_SERVER_NAME_RE = re.compile(rf"^(?:\*\.|\.)?{_SERVER_NAME_LABEL}(?:\.{_SERVER_NAME_LABEL})*(?:\.\*)?$")
_TIME_RE = re.compile(r"^(?:[0-9]+(?:ms|[smhdwMy]))*[0-9]+(?:ms|[smhdwMy])?$")
_HASH_KEY_RE = re.compile(r"^[A-Za-z0-9_$.:/@-]+$")
_LOCATION_RE = re.compile(r"^/[A-Za-z0-9._~/%+@:,=-]*$")
_LISTEN_RE = re.compile(r"^(?:(?P<bare>[0-9]+)|(?P<host>\*|\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(?P<port>[0-9]+))$")
_NGINX_LINE_RE = re.compile(r"^\S+ \S+ \[(?P<level>\w+)\] \d+#\d+: (?P<text>.*)$")


def _fail(option, value, problem):
    raise DcosError(f"{option}: {value!r} {problem}", option=option)


def _refuse_smugglers(option, value):
    """Refuse characters that could end the value and start a directive of their own."""
    for char, words in _SMUGGLERS:
        if char in value:
            _fail(option, value, f"is refused: it contains {words}, which could inject nginx configuration")
    if any(c.isspace() for c in value):
        _fail(option, value, "is refused: it contains whitespace, which would add an nginx argument")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        _fail(option, value, "is refused: it contains a control character")


def _text(option, value, required=True):
    if value is None:
        if required:
            raise DcosError(f"{option}: a value is required", option=option)
        return None
    if not isinstance(value, str):
        _fail(option, value, "must be a string")
    _refuse_smugglers(option, value)
    if not value:
        raise DcosError(f"{option}: must not be empty", option=option)
    return value


def _integer(option, value, minimum, maximum=MAX_INTEGER, required=False):
    """An integer option (``None``: not given); nginx reads numbers into a C int."""
    if value is None:
        if required:
            raise DcosError(f"{option}: a value is required", option=option)
        return None
    if isinstance(value, str):
        _refuse_smugglers(option, value)
    try:
        return _validate.integer(value, option, minimum, maximum)
    except DcosError as exc:
        raise DcosError(exc.msg, option=option) from None


def _boolean(option, value):
    if value is None:
        return False
    if not isinstance(value, bool):
        _fail(option, value, "must be a boolean")
    return value


def _choice(option, value, choices, default):
    if value is None:
        return default
    if value not in choices:
        _fail(option, value, "must be one of {}".format(", ".join(choices)))
    return value


def validate_name(option, value):
    """An upstream name: letters, digits, ``.``, ``_`` and ``-``; it also names the file."""
    value = _text(option, value)
    try:
        return _validate.name(
            value,
            option,
            _NAME_RE,
            "an upstream name is letters, digits, '.', '_' and '-', starting with a letter or digit, "
            "at most 128 characters",
        )
    except DcosError as exc:
        raise DcosError(exc.msg, option=option) from None


def validate_address(option, value):
    """An IPv4 or IPv6 address (normalised) or a DNS host name (lower-cased)."""
    value = _text(option, value)
    bracketed = value.startswith("[") and value.endswith("]")
    try:
        address = ipaddress.ip_address(value[1:-1] if bracketed else value)
    except ValueError:
        pass
    else:
        if bracketed and address.version != 6:
            _fail(option, value, "puts an IPv4 address in brackets")
        return str(address)
    if not bracketed and _HOSTNAME_RE.fullmatch(value) and not re.fullmatch(r"[0-9.]+", value):
        return value.lower().rstrip(".")
    return _fail(option, value, "is not an IP address or a host name")


def validate_port(option, value, required=True):
    return _integer(option, value, 1, 65535, required=required)


def validate_time(option, value):
    """An nginx time value (``10``, ``30s``, ``1m30s``, ``500ms``); integers mean seconds."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    value = _text(option, value)
    if not _TIME_RE.fullmatch(value):
        _fail(option, value, "is not an nginx time (for example 10, 30s, 1m30s or 500ms)")
    return value


def validate_hash_key(option, value):
    """The key of ``hash``: text and ``$variables`` (``$request_uri``, ``$remote_addr:$cookie_id``)."""
    value = _text(option, value)
    if not _HASH_KEY_RE.fullmatch(value):
        _fail(option, value, "is not a valid hash key (letters, digits, '$', '_', '.', ':', '/', '@' and '-')")
    return value


def validate_server_name(option, value):
    """A virtual host name: a DNS name, optionally ``*.example.com``, ``.example.com`` or ``www.example.*``."""
    value = _text(option, value)
    if len(value) > 253 or not _SERVER_NAME_RE.fullmatch(value):
        _fail(
            option,
            value,
            "is not a valid virtual host name (a DNS name, optionally with a leading '*.' or '.' or a "
            "trailing '.*'; regular expressions are not accepted)",
        )
    return value.lower()


def validate_listen(option, value):
    """``port``, ``address:port``, ``[ipv6]:port`` or ``*:port``; returns the normalised form."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    value = _text(option, value)
    match = _LISTEN_RE.fullmatch(value)
    if not match:
        _fail(option, value, "is not a valid listen value (PORT, ADDRESS:PORT, [IPV6]:PORT or *:PORT)")
    if match.group("bare"):
        return str(validate_port(option, match.group("bare")))
    port = validate_port(option, match.group("port"))
    host = match.group("host")
    if host != "*":
        try:
            address = ipaddress.ip_address(host[1:-1] if host.startswith("[") else host)
        except ValueError:
            if host.startswith("[") or not _HOSTNAME_RE.fullmatch(host):
                _fail(option, value, "does not hold a valid address")
            host = host.lower()
        else:
            if host.startswith("[") != (address.version == 6):
                _fail(option, value, "must write an IPv6 address in brackets, and only an IPv6 address")
            host = f"[{address}]" if address.version == 6 else str(address)
    return f"{host}:{port}"


def validate_location(option, value):
    """A prefix location: starts with ``/``; letters, digits and ``._~/%+@:,=-``."""
    value = _text(option, value)
    if not _LOCATION_RE.fullmatch(value):
        _fail(
            option,
            value,
            "is not a valid location (a path starting with '/', made of letters, digits and ._~/%+@:,=-)",
        )
    return value


class Server:
    """One ``server`` line of an upstream."""

    __slots__ = ("address", "backup", "down", "fail_timeout", "max_fails", "port", "weight")

    def __init__(self, address, port, weight=None, max_fails=None, fail_timeout=None, backup=False, down=False):
        self.address = address
        self.port = port
        self.weight = weight
        self.max_fails = max_fails
        self.fail_timeout = fail_timeout
        self.backup = backup
        self.down = down

    def as_dict(self):
        return {key: getattr(self, key) for key in self.__slots__}

    def __eq__(self, other):
        return isinstance(other, Server) and self.as_dict() == other.as_dict()

    def __repr__(self):
        return f"Server({self.as_dict()!r})"


class Vhost:
    """A virtual host routed to the upstream: ``server_name``, ``listen`` and a prefix location."""

    __slots__ = ("listen", "location", "name")

    def __init__(self, name, listen=DEFAULT_LISTEN, location=DEFAULT_LOCATION):
        self.name = name
        self.listen = listen
        self.location = location

    def as_dict(self):
        return {"name": self.name, "listen": self.listen, "location": self.location}

    def __eq__(self, other):
        return isinstance(other, Vhost) and self.as_dict() == other.as_dict()

    def __repr__(self):
        return f"Vhost({self.as_dict()!r})"


class Upstream:
    """A validated upstream; ``state`` is ``present`` or ``absent``."""

    def __init__(
        self,
        name,
        servers=(),
        balance="round_robin",
        hash_key=None,
        hash_consistent=False,
        keepalive=None,
        vhosts=(),
        state="present",
    ):
        self.name = name
        self.servers = list(servers)
        self.balance = balance
        self.hash_key = hash_key
        self.hash_consistent = hash_consistent
        self.keepalive = keepalive
        self.vhosts = list(vhosts)
        self.state = state

    @property
    def filename(self):
        return upstream_filename(self.name)

    def as_dict(self):
        return {
            "name": self.name,
            "state": self.state,
            "servers": [s.as_dict() for s in self.servers],
            "balance": self.balance,
            "hash_key": self.hash_key,
            "hash_consistent": self.hash_consistent,
            "keepalive": self.keepalive,
            "vhosts": [v.as_dict() for v in self.vhosts],
        }

    def __repr__(self):
        return f"Upstream({self.as_dict()!r})"


def upstream_filename(name):
    return FILE_PREFIX + name + FILE_SUFFIX


def _parse_server(option, item):
    if not isinstance(item, dict):
        _fail(option, item, "must be a dictionary")
    unknown = sorted(set(item) - set(Server.__slots__))
    if unknown:
        raise DcosError("{}: unknown keys {}".format(option, ", ".join(unknown)), option=option)
    port = item.get("port")
    return Server(
        address=validate_address(option + ".address", item.get("address")),
        port=validate_port(option + ".port", DEFAULT_PORT if port is None else port),
        weight=_integer(option + ".weight", item.get("weight"), 1),
        max_fails=_integer(option + ".max_fails", item.get("max_fails"), 0),
        fail_timeout=validate_time(option + ".fail_timeout", item.get("fail_timeout")),
        backup=_boolean(option + ".backup", item.get("backup")),
        down=_boolean(option + ".down", item.get("down")),
    )


def _parse_vhost(option, item):
    if not isinstance(item, dict):
        _fail(option, item, "must be a dictionary")
    unknown = sorted(set(item) - set(Vhost.__slots__))
    if unknown:
        raise DcosError("{}: unknown keys {}".format(option, ", ".join(unknown)), option=option)
    listen, location = item.get("listen"), item.get("location")
    return Vhost(
        name=validate_server_name(option + ".name", item.get("name")),
        listen=validate_listen(option + ".listen", DEFAULT_LISTEN if listen is None else listen),
        location=validate_location(option + ".location", DEFAULT_LOCATION if location is None else location),
    )


UPSTREAM_KEYS = ("name", "servers", "balance", "hash_key", "hash_consistent", "keepalive", "vhosts", "state")


def _parse_servers(prefix, servers):
    if servers is None:
        raise DcosError(f"{prefix}servers: required when state is present", option=prefix + "servers")
    if not isinstance(servers, (list, tuple)):
        _fail(prefix + "servers", servers, "must be a list")
    if not servers:
        raise DcosError(
            f"{prefix}servers: at least one server is required (use state=absent to remove the upstream)",
            option=prefix + "servers",
        )
    return [_parse_server(f"{prefix}servers[{i}]", s) for i, s in enumerate(servers)]


def _parse_balance(prefix, params, servers):
    """``(balance, hash_key, hash_consistent)``, checked against each other and the servers."""
    balance = _choice(prefix + "balance", params.get("balance"), BALANCE_METHODS, "round_robin")
    hash_key = params.get("hash_key")
    hash_consistent = _boolean(prefix + "hash_consistent", params.get("hash_consistent"))
    if balance == "hash":
        if hash_key is None:
            raise DcosError(f"{prefix}hash_key: required when balance is hash", option=prefix + "hash_key")
        hash_key = validate_hash_key(prefix + "hash_key", hash_key)
    elif hash_key is not None:
        _fail(prefix + "hash_key", hash_key, f"is only used with balance=hash (balance is {balance})")
    elif hash_consistent:
        raise DcosError(
            f"{prefix}hash_consistent: only used with balance=hash (balance is {balance})",
            option=prefix + "hash_consistent",
        )
    if balance in ("hash", "ip_hash"):
        for i, server in enumerate(servers):
            if server.backup:
                raise DcosError(
                    f"{prefix}servers[{i}].backup: nginx does not allow backup servers with balance={balance}",
                    option=f"{prefix}servers[{i}].backup",
                )
    return balance, hash_key, hash_consistent


def parse_upstream(params, prefix="", default_state="present"):
    """Validate ``params`` (a dict) into an :class:`Upstream`.

    ``prefix`` is prepended to option names in error messages (``upstreams[3].``). Keys set to
    ``None`` count as not given. Raises :class:`DcosError` naming the first offending option.
    """
    if not isinstance(params, dict):
        _fail(prefix.rstrip(".") or "upstream", params, "must be a dictionary")
    unknown = sorted(set(params) - set(UPSTREAM_KEYS))
    if unknown:
        raise DcosError("{}unknown keys {}".format(prefix, ", ".join(unknown)))
    name = validate_name(prefix + "name", params.get("name"))
    state = _choice(prefix + "state", params.get("state"), STATES, default_state)
    if state == "absent":
        return Upstream(name, state="absent")
    servers = _parse_servers(prefix, params.get("servers"))
    balance, hash_key, hash_consistent = _parse_balance(prefix, params, servers)
    vhosts = params.get("vhosts") or []
    if not isinstance(vhosts, (list, tuple)):
        _fail(prefix + "vhosts", vhosts, "must be a list")
    return Upstream(
        name=name,
        servers=servers,
        balance=balance,
        hash_key=hash_key,
        hash_consistent=hash_consistent,
        keepalive=_integer(prefix + "keepalive", params.get("keepalive"), 1),
        vhosts=[_parse_vhost(f"{prefix}vhosts[{i}]", v) for i, v in enumerate(vhosts)],
        state="present",
    )


def parse_batch(items, prefix="upstreams", default_state="present"):
    """Validate a list of upstream dicts; a name listed twice is refused."""
    if not isinstance(items, (list, tuple)):
        _fail(prefix, items, "must be a list")
    upstreams, seen = [], {}
    for i, item in enumerate(items):
        upstream = parse_upstream(item, f"{prefix}[{i}].", default_state)
        if upstream.name in seen:
            raise DcosError(
                f"{prefix}[{i}].name: {upstream.name!r} is already given by {prefix}[{seen[upstream.name]}]",
                option=f"{prefix}[{i}].name",
            )
        seen[upstream.name] = i
        upstreams.append(upstream)
    return upstreams


def _render_server(server):
    host = f"[{server.address}]" if ":" in server.address else server.address
    parts = ["server", f"{host}:{server.port}"]
    if server.weight is not None:
        parts.append(f"weight={server.weight}")
    if server.max_fails is not None:
        parts.append(f"max_fails={server.max_fails}")
    if server.fail_timeout is not None:
        parts.append(f"fail_timeout={server.fail_timeout}")
    if server.backup:
        parts.append("backup")
    if server.down:
        parts.append("down")
    return " ".join(parts) + ";"


def _server_blocks(upstream):
    """One ``server`` block per (listen, host name), in the order first given; locations deduplicated."""
    blocks = {}
    for vhost in upstream.vhosts:
        locations = blocks.setdefault((vhost.listen, vhost.name), [])
        if vhost.location not in locations:
            locations.append(vhost.location)
    lines = []
    for (listen, name), locations in blocks.items():
        lines += ["", "server {", INDENT + f"listen {listen};", INDENT + f"server_name {name};"]
        for location in locations:
            lines += [
                "",
                INDENT + f"location {location} {{",
                INDENT * 2 + f"proxy_pass http://{upstream.name};",
                INDENT * 2 + "proxy_set_header Host $host;",
                INDENT * 2 + "proxy_set_header X-Real-IP $remote_addr;",
                INDENT * 2 + "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
                INDENT * 2 + "proxy_set_header X-Forwarded-Proto $scheme;",
            ]
            if upstream.keepalive is not None:
                # Upstream keepalive only works over HTTP/1.1 without "Connection: close".
                lines += [
                    INDENT * 2 + "proxy_http_version 1.1;",
                    INDENT * 2 + 'proxy_set_header Connection "";',
                ]
            lines.append(INDENT + "}")
        lines.append("}")
    return lines


def render_upstream(upstream):
    """The file text for ``upstream`` (present); deterministic: same input, same bytes."""
    lines = [MANAGED_HEADER.rstrip("\n"), f"upstream {upstream.name} {{"]
    if upstream.balance == "least_conn":
        lines.append(INDENT + "least_conn;")
    elif upstream.balance == "ip_hash":
        lines.append(INDENT + "ip_hash;")
    elif upstream.balance == "hash":
        lines.append(INDENT + "hash {}{};".format(upstream.hash_key, " consistent" if upstream.hash_consistent else ""))
    lines += [INDENT + _render_server(s) for s in upstream.servers]
    if upstream.keepalive is not None:
        # After the balancing method: nginx requires that order.
        lines.append(INDENT + f"keepalive {upstream.keepalive};")
    lines.append("}")
    lines += _server_blocks(upstream)
    return "\n".join(lines) + "\n"


class FileChange:
    """One upstream file: its bytes now (``None``: absent) and the bytes wanted (``None``: remove)."""

    __slots__ = ("after", "before", "name", "path")

    def __init__(self, name, path, before, after):
        self.name = name
        self.path = path
        self.before = before
        self.after = after

    @property
    def changed(self):
        return self.before != self.after

    @property
    def action(self):
        if self.before is None and self.after is not None:
            return "create"
        if self.after is None and self.before is not None:
            return "remove"
        return "update" if self.changed else "none"

    def diff(self):
        """An Ansible diff entry: the rendered text before and after, headed by the path."""
        return {
            "before_header": self.path,
            "after_header": self.path,
            "before": "" if self.before is None else self.before.decode("utf-8", "replace"),
            "after": "" if self.after is None else self.after.decode("utf-8", "replace"),
        }

    def __repr__(self):
        return f"FileChange({self.action} {self.path})"


def _read(path):
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise DcosError(f"cannot read {path}: {exc.strerror or exc}") from None


def _is_managed(content):
    return content is not None and content.startswith(MANAGED_HEADER.encode())


def managed_names(directory):
    """Names of the upstreams whose files in ``directory`` carry the managed header (sorted)."""
    names = []
    try:
        entries = os.listdir(directory)
    except OSError as exc:
        raise DcosError(f"path: cannot list {directory}: {exc.strerror or exc}", option="path") from None
    for entry in entries:
        if not (entry.startswith(FILE_PREFIX) and entry.endswith(FILE_SUFFIX)):
            continue
        name = entry[len(FILE_PREFIX) : -len(FILE_SUFFIX)]
        if _NAME_RE.fullmatch(name) and _is_managed(_read(os.path.join(directory, entry))):
            names.append(name)
    return sorted(names)


def file_changes(directory, upstreams, purge=False):
    """The :class:`FileChange` of every upstream in ``upstreams`` (changed or not), in order.

    With ``purge``, managed files of upstreams not listed are to be removed too. A file
    named like an upstream but without the managed header is never overwritten nor removed.
    """
    if not os.path.isdir(directory):
        raise DcosError(f"path: {directory} is not a directory", option="path")
    changes = []
    listed = set()
    for upstream in upstreams:
        listed.add(upstream.name)
        path = os.path.join(directory, upstream.filename)
        before = _read(path)
        if before is not None and not _is_managed(before):
            raise DcosError(
                f"{path} exists and is not managed by pptv.dcos.nginx_upstream (its first line is not the managed "
                "header); move it away or choose another upstream name",
                path=path,
            )
        after = render_upstream(upstream).encode() if upstream.state == "present" else None
        changes.append(FileChange(upstream.name, path, before, after))
    if purge:
        for name in managed_names(directory):
            if name not in listed:
                path = os.path.join(directory, upstream_filename(name))
                changes.append(FileChange(name, path, _read(path), None))
    return changes


class ApplyResult:
    """What :func:`apply` did."""

    def __init__(self, changes, validated=False, reloaded=False, warnings=None):
        self.changes = changes
        self.validated = validated
        self.reloaded = reloaded
        self.warnings = warnings or []

    @property
    def changed(self):
        return any(c.changed for c in self.changes)


def subprocess_runner(argv):
    """A runner for code outside Ansible: ``(rc, stdout, stderr)`` of ``argv``."""
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    return proc.returncode, proc.stdout, proc.stderr


def nginx_messages(stderr, levels=("emerg", "alert", "crit", "error")):
    """Nginx's own lines of ``levels`` from ``nginx -t`` output, without timestamp and PID."""
    found = []
    for line in (stderr or "").splitlines():
        match = _NGINX_LINE_RE.match(line.strip())
        if match and match.group("level") in levels:
            found.append("[{}] {}".format(match.group("level"), match.group("text")))
    return found


def _resolve_binary(nginx_binary):
    found = nginx_binary
    if os.sep not in nginx_binary:
        # Like module.get_bin_path: the sbin directories count even when PATH lacks them.
        found = shutil.which(nginx_binary) or shutil.which(nginx_binary, path=_SBIN_PATH)
    if not found or not os.access(found, os.X_OK) or os.path.isdir(found):
        raise DcosError(
            f"nginx_binary: {nginx_binary} is not an executable (not found on PATH or not executable)",
            option="nginx_binary",
        )
    return found


def _check_conf(nginx_conf):
    if not os.path.isfile(nginx_conf):
        raise DcosError(f"nginx_conf: {nginx_conf} is not a file", option="nginx_conf")


def _run(runner, argv):
    try:
        rc, out, err = runner(argv)
    except Exception as exc:  # a runner may raise anything (OSError, a timeout, ...)
        return 127, "", f"cannot run {argv[0]}: {exc}"
    return rc, out or "", err or ""


class _Transaction:
    """File swaps that can be undone exactly: the original inode is kept aside until commit."""

    def __init__(self):
        self._undo = []  # (path, backup or None) in the order applied

    @staticmethod
    def _backup_name(path):
        directory, base = os.path.split(path)
        return os.path.join(directory, f".{base}.pptv-backup-{os.getpid()}")

    def _keep_original(self, path):
        backup = self._backup_name(path)
        if os.path.lexists(backup):
            os.unlink(backup)
        try:
            os.link(path, backup)  # the same inode: bytes, mode, owner and mtime stay as they were
        except OSError:
            shutil.copy2(path, backup)
        return backup

    def write(self, path, content, existed):
        directory = os.path.dirname(path)
        mode = 0o644
        stat = None
        if existed:
            stat = os.stat(path)
            mode = stat.st_mode & 0o7777
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".pptv-tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(content)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, mode)
            if stat is not None and hasattr(os, "chown"):
                with suppress(OSError):
                    os.chown(tmp, stat.st_uid, stat.st_gid)
            # Recorded before the swap: undoing a swap that did not happen restores the same bytes.
            self._undo.append((path, self._keep_original(path) if existed else None))
            os.replace(tmp, path)
        except BaseException:
            if os.path.lexists(tmp):
                os.unlink(tmp)
            raise

    def remove(self, path):
        backup = self._backup_name(path)
        if os.path.lexists(backup):
            os.unlink(backup)
        os.rename(path, backup)
        self._undo.append((path, backup))

    def rollback(self):
        """Put every path back as it was; returns the paths that could not be restored."""
        failed = []
        for path, backup in reversed(self._undo):
            try:
                if backup is None:
                    if os.path.lexists(path):
                        os.unlink(path)
                else:
                    os.replace(backup, path)
            except OSError:
                failed.append(path)
        self._undo = []
        return failed

    def commit(self):
        for _path, backup in self._undo:
            if backup is not None and os.path.lexists(backup):
                with suppress(OSError):
                    os.unlink(backup)
        self._undo = []


def validate_config(runner, nginx_binary, nginx_conf):
    """Run ``nginx -t -c nginx_conf``: ``(ok, error lines, warning lines, stderr)``."""
    rc, out, err = _run(runner, [nginx_binary, "-t", "-c", nginx_conf])
    output = "\n".join(part for part in (err, out) if part)
    errors = nginx_messages(output)
    warnings = nginx_messages(output, levels=("warn",))
    if rc != 0 and not errors:
        errors = [line for line in output.splitlines() if line.strip()][:3] or [f"nginx -t exited with {rc}"]
    return rc == 0, errors, warnings, output


def reload_nginx(runner, nginx_binary, nginx_conf):
    """Send the reload signal to the master named by the configuration's pid file."""
    rc, out, err = _run(runner, [nginx_binary, "-c", nginx_conf, "-s", "reload"])
    if rc != 0:
        lines = nginx_messages("\n".join((err, out))) or [line for line in (err or out).splitlines() if line.strip()]
        raise DcosError(
            "nginx reload failed (the configuration is valid and written): %s"
            % ("; ".join(lines) or f"exit status {rc}"),
            stderr=err,
        )


def apply(
    changes,
    runner,
    nginx_binary="nginx",
    nginx_conf="/etc/nginx/nginx.conf",
    validate=True,
    reload=False,
    on_written=None,
):
    """Write ``changes``, validate the whole configuration once, restore on failure, reload once.

    Nothing is run when no file changes. On a refused configuration every file is put back as it
    was (files that did not exist are removed) and :class:`DcosError` carries nginx's error line.
    A reload only follows a successful ``nginx -t``. ``on_written(changed)`` is called with the
    changed :class:`FileChange` list once the files are in place for good (validated, when
    ``validate``), before the reload.
    """
    todo = [c for c in changes if c.changed]
    if not todo:
        return ApplyResult(changes)
    if reload and not validate:
        raise DcosError("reload: a reload needs validate=true (nginx is never reloaded on an unchecked configuration)")
    binary = _resolve_binary(nginx_binary) if (validate or reload) else nginx_binary
    if validate or reload:
        _check_conf(nginx_conf)
    transaction = _Transaction()
    try:
        for change in todo:
            if change.after is None:
                transaction.remove(change.path)
            else:
                transaction.write(change.path, change.after, change.before is not None)
    except OSError as exc:
        failed = transaction.rollback()
        raise DcosError(
            "cannot write {}: {}; every file was put back{}".format(
                getattr(exc, "filename", None) or "the upstream files",
                exc.strerror or exc,
                "" if not failed else " except {}".format(", ".join(failed)),
            )
        ) from None
    warnings = []
    if validate:
        ok, errors, warnings, output = validate_config(runner, binary, nginx_conf)
        if not ok:
            failed = transaction.rollback()
            still_ok, _e, _w, _o = validate_config(runner, binary, nginx_conf)
            restored = (
                "could NOT restore {}".format(", ".join(failed)) if failed else "every file was put back as it was"
            )
            cause = (
                "nginx -t refused the configuration with the new upstream files"
                if still_ok
                else "nginx -t fails even without the new upstream files (the configuration was already broken)"
            )
            raise DcosError(
                f"{cause}; {restored}; nothing was reloaded: {errors[0]}",
                nginx_errors=errors,
                nginx_output=output,
            )
    transaction.commit()
    if on_written is not None:
        on_written(todo)
    result = ApplyResult(changes, validated=validate, warnings=warnings)
    if reload:
        try:
            reload_nginx(runner, binary, nginx_conf)
        except DcosError as exc:
            exc.details.setdefault("changed", True)  # the files are written and valid
            raise
        result.reloaded = True
    return result


@contextmanager
def directory_lock(directory):
    """An exclusive ``flock`` on the directory, so a playbook and the daemon never interleave."""
    path = os.path.join(directory, LOCK_NAME)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            raise DcosError(f"path: {directory} is not a directory", option="path") from None
        raise DcosError(f"path: cannot lock {directory}: {exc.strerror or exc}", option="path") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def converge(
    directory,
    upstreams,
    runner,
    nginx_binary="nginx",
    nginx_conf="/etc/nginx/nginx.conf",
    validate=True,
    reload=False,
    purge=False,
    check_mode=False,
    on_changes=None,
    on_written=None,
):
    """Compare and (unless ``check_mode``) apply a batch of :class:`Upstream` in one transaction.

    ``on_changes(changes)`` is called with every :class:`FileChange` once they are known (under
    the lock, before anything is written); ``on_written`` is passed to :func:`apply`.
    """
    if check_mode:
        changes = file_changes(directory, upstreams, purge=purge)
        if on_changes is not None:
            on_changes(changes)
        return ApplyResult(changes)
    if not os.path.isdir(directory):
        raise DcosError(f"path: {directory} is not a directory", option="path")
    with directory_lock(directory):
        changes = file_changes(directory, upstreams, purge=purge)
        if on_changes is not None:
            on_changes(changes)
        return apply(changes, runner, nginx_binary, nginx_conf, validate=validate, reload=reload, on_written=on_written)
