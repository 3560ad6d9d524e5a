# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Promotion records: which image digest of which app passed (or failed) its tests in which env.

A test job appends a record; ``promote`` later refuses any digest without a passing one. The
records are audit data, so they are **append-only**: a record is never rewritten or removed; a
later record for the same app, digest and env supersedes an earlier one for the policy check,
and the history stays.

Three layers, none of which uses Ansible's module flow (only the store options spec names
Ansible's ``env_fallback``):

* The pure rules: :func:`check_digest` and the other validators, :func:`make_record`,
  :func:`canonical` (the bytes a signature covers), :func:`sign` / :func:`check_record` (HMAC-SHA256
  with the signing key, so that a hand-edited record, or one signed with another key, fails), and
  :func:`policy_decision` (the newest passing record in one of the required envs).
* Two stores with the same semantics: :class:`FileStore` (JSON lines on the controller; an
  exclusive ``fcntl`` lock across read-check-append, an ``O_APPEND`` write, fsync) and
  :class:`ZooKeeperStore` (kazoo; one sequential znode per record, appended in a transaction that
  also bumps the version of the parent, so two controllers never both append the same record).
  Both return the raw records oldest first, as ``(where, text)``; nothing is trusted before
  :func:`check_record` has verified it.
* :class:`ReleaseRecordManager` runs the states ``recorded``, ``verified`` and ``query``, noting
  what it appends in a ``ChangeRecord``.

kazoo is imported with a guard; callers check :data:`HAS_KAZOO`.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import functools
import hashlib
import hmac
import json
import os
import re
import time
import traceback

from ansible.module_utils.common.parameters import env_fallback

from ansible_collections.pptv.dcos.plugins.module_utils import _validate
from ansible_collections.pptv.dcos.plugins.module_utils._diff import ChangeRecord
from ansible_collections.pptv.dcos.plugins.module_utils._errors import DcosError

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

RECORD_VERSION = 1
POLICY = "pptv.dcos"
SIGNATURE_PREFIX = "hmac-sha256:"
MIN_KEY_LENGTH = 16
DEFAULT_PATH = "/var/lib/pptv-dcos/releases.jsonl"
DEFAULT_ZK_ROOT = "/pptv-dcos/releases"
DEFAULT_ZK_HOSTS = "127.0.0.1:2181"
ZK_DEFAULT_PORT = 2181
RESULTS = ("passed", "failed")
STATES = ("recorded", "verified", "query")

DIGEST_RE = re.compile(r"sha256:[0-9a-f]{64}")
DIGEST_RULE = "'sha256:' and 64 lowercase hex digits"
# An app of the catalogue: lowercase names separated by '/', as in Marathon app IDs (no leading '/').
APP_RE = re.compile(r"[a-z0-9]([a-z0-9._-]*[a-z0-9])?(/[a-z0-9]([a-z0-9._-]*[a-z0-9])?)*")
APP_RULE = "lowercase letters, digits, '.', '_' and '-' in names separated by '/' (shop/web)"
# An environment is a Marathon group name (as teardown_env.yml checks it).
ENV_RE = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
ENV_RULE = "lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63"
# An image repository without tag or digest: [registry[:port]/]name[/name...] (Docker's reference grammar).
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
IMAGE_RE = re.compile(rf"(?:[A-Za-z0-9.-]+(?::[0-9]+)?/)?{_COMPONENT}(?:/{_COMPONENT})*")
IMAGE_RULE = "a repository without tag or digest, [registry[:port]/]name[/name...] (registry.example:5000/shop/web)"
_TIME_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")
# Text fields (user, job, notes): no control characters; notes may hold newlines and tabs.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_NOTES = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_ZK_ROOT_RE = re.compile(r"(/[^/\x00-\x20\x7f]+)+")
# The fields of a record, in the order a human reads them; the signature covers all but itself.
FIELDS = ("version", "app", "image", "digest", "env", "result", "time", "user", "job", "notes")
# What makes two records "the same": recording it again changes nothing.
IDENTITY = ("app", "image", "digest", "env", "result", "job")

STORE_ENV = {
    "backend": "PPTV_DCOS_RELEASE_BACKEND",
    "path": "PPTV_DCOS_RELEASE_PATH",
    "zk_hosts": "PPTV_DCOS_ZK_HOSTS",
    "zk_root": "PPTV_DCOS_RELEASE_ZK_ROOT",
}
SIGNING_KEY_ENV = "PPTV_DCOS_RELEASE_SIGNING_KEY"
SIGNING_KEY_FILE_ENV = "PPTV_DCOS_RELEASE_SIGNING_KEY_FILE"

# The store options of the release_record module (documented in its DOCUMENTATION; keep them in step).
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


# -- the pure rules --------------------------------------------------------------------------------


def check_digest(value, option="digest"):
    """An image digest, exactly ``sha256:`` + 64 lowercase hex digits."""
    return _validate.name(value, option, DIGEST_RE, DIGEST_RULE)


def check_app(value, option="app"):
    return _validate.name(value, option, APP_RE, APP_RULE, max_length=255)


def check_env(value, option="env"):
    return _validate.name(value, option, ENV_RE, ENV_RULE, max_length=63)


def check_image(value, option="image"):
    if isinstance(value, str) and ("@" in value or ":" in value.rsplit("/", 1)[-1]):
        raise DcosError(
            f"{option}: {value!r} carries a tag or digest: give the repository only (digest goes in digest)"
        )
    return _validate.name(value, option, IMAGE_RE, IMAGE_RULE, max_length=255)


def check_result(value, option="result"):
    if value not in RESULTS:
        raise DcosError(f"{option}: must be one of {', '.join(RESULTS)}, got {value!r}")
    return value


def check_text(value, option, max_length, notes=False):
    """A user name, job reference or note: a non-empty string without control characters."""
    if not isinstance(value, str) or not value.strip():
        raise DcosError(f"{option}: must be a non-empty string, got {value!r}")
    if len(value) > max_length:
        raise DcosError(f"{option}: must be at most {max_length} characters, got {len(value)}")
    if (_CONTROL_NOTES if notes else _CONTROL).search(value):
        raise DcosError(f"{option}: {value!r} must not contain control characters")
    return value


def check_key(value, option="signing_key"):
    """The signing key as bytes. Never put the key itself in a message."""
    if not isinstance(value, str) or not value:
        raise DcosError(
            f"{option}: required (signing_key from vault, or signing_key_file from the AWX credential; "
            f"or {SIGNING_KEY_ENV} / {SIGNING_KEY_FILE_ENV})"
        )
    if len(value) < MIN_KEY_LENGTH:
        raise DcosError(f"{option}: must be at least {MIN_KEY_LENGTH} characters long")
    return value.encode("utf-8")


def load_key(params):
    """The signing key from ``signing_key``, or read from the file ``signing_key_file`` names
    (what the AWX credential type injects: a file, so the key is in no environment)."""
    key, path = params.get("signing_key"), params.get("signing_key_file")
    if key is not None and path is not None:
        raise DcosError("signing_key, signing_key_file: give one of them, not both")
    if path is None:
        return check_key(key)
    if not isinstance(path, str) or not os.path.isabs(os.path.expanduser(path)):
        raise DcosError(f"signing_key_file: must be an absolute path, got {path!r}")
    try:
        with open(os.path.expanduser(path), encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise DcosError(f"signing_key_file: cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    return check_key(text.rstrip("\r\n"), "signing_key_file")


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def canonical(record):
    """The bytes a signature covers: every field but ``signature``, as sorted compact UTF-8 JSON."""
    payload = {key: value for key, value in record.items() if key != "signature"}
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def sign(record, key):
    return SIGNATURE_PREFIX + hmac.new(key, canonical(record), hashlib.sha256).hexdigest()


def make_record(params, key, now):
    """A new signed record from the task's options (each checked, naming the option)."""
    record = {
        "version": RECORD_VERSION,
        "app": check_app(params.get("app")),
        "image": check_image(params.get("image")),
        "digest": check_digest(params.get("digest")),
        "env": check_env(params.get("env")),
        "result": check_result(params.get("result")),
        "time": now,
        "user": check_text(params.get("user"), "user", 256),
        "job": check_text(params.get("job"), "job", 1024),
        "notes": None if params.get("notes") is None else check_text(params["notes"], "notes", 4096, notes=True),
    }
    record["signature"] = sign(record, key)
    return record


def _no_duplicate_keys(pairs):
    keys = [key for key, _value in pairs]
    duplicated = sorted({key for key in keys if keys.count(key) > 1})
    if duplicated:
        raise ValueError(f"duplicate keys {', '.join(duplicated)}")
    return dict(pairs)


def parse_record(text):
    """The record of one stored line/znode, or ``(None, reason)``; never trusted before check_record."""
    try:
        record = json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except ValueError as exc:
        return None, f"not a JSON record ({exc})"
    if not isinstance(record, dict):
        return None, "not a JSON object"
    return record, None


def check_record(record, key):
    """Why a stored record cannot be trusted, or None when it is well formed and its signature verifies."""
    fields = set(FIELDS) | {"signature"}
    if set(record) != fields:
        missing, extra = sorted(fields - set(record)), sorted(set(record) - fields)
        parts = ([f"missing {', '.join(missing)}"] if missing else []) + (
            [f"unknown {', '.join(extra)}"] if extra else []
        )
        return "fields: " + "; ".join(parts)
    signature = record.get("signature")
    if not isinstance(signature, str) or not signature.startswith(SIGNATURE_PREFIX):
        return "no hmac-sha256 signature"
    if not hmac.compare_digest(signature, sign(record, key)):
        return "signature does not verify (edited after signing, or signed with another key)"
    # Signed by us: the fields were checked when it was made; check again, a key may have leaked.
    if record["version"] != RECORD_VERSION:
        return f"version {record['version']!r} is not {RECORD_VERSION}"
    try:
        check_app(record["app"], "app")
        check_image(record["image"], "image")
        check_digest(record["digest"], "digest")
        check_env(record["env"], "env")
        check_result(record["result"], "result")
        if not isinstance(record["time"], str) or not _TIME_RE.fullmatch(record["time"]):
            raise DcosError(f"time: {record['time']!r} is not UTC ISO 8601 (YYYY-MM-DDTHH:MM:SSZ)")
        check_text(record["user"], "user", 256)
        check_text(record["job"], "job", 1024)
        if record["notes"] is not None:
            check_text(record["notes"], "notes", 4096, notes=True)
    except DcosError as exc:
        return exc.msg
    return None


def identity(record):
    return tuple(record.get(key) for key in IDENTITY)


def read_records(raw, key):
    """Every stored record, oldest first: ``[{"where", "valid", "reason", "record"}]``.

    ``raw`` is the store's ``[(where, text)]``. A record that is not JSON keeps ``record: None``.
    """
    entries = []
    for position, (where, text) in enumerate(raw):
        record, reason = parse_record(text)
        if record is not None:
            reason = check_record(record, key)
        entries.append({"where": where, "valid": reason is None, "reason": reason, "record": record, "seq": position})
    return entries


def _of(entry, **fields):
    record = entry["record"]
    return isinstance(record, dict) and all(record.get(k) == v for k, v in fields.items() if v is not None)


def describe(entry):
    """A record as results show it: its fields plus ``valid``, ``reason`` and ``where``."""
    shown = dict(entry["record"]) if isinstance(entry["record"], dict) else {}
    shown.update(valid=entry["valid"], reason=entry["reason"], where=entry["where"])
    return shown


def _short(entry):
    record = entry["record"] or {}
    return f"{record.get('env')} {record.get('result')} at {record.get('time')} by job {record.get('job')}"


def policy_text(required_envs):
    if len(required_envs) == 1:
        return f"a passing record in env {required_envs[0]}"
    return f"a passing record in one of the envs {', '.join(required_envs)}"


def policy_decision(entries, app, digest, required_envs, image=None):
    """``(record entry or None, standing)``: the newest passing record of ``app``@``digest`` in one
    of ``required_envs``, counting in each env only its newest valid record (a later ``failed``
    supersedes an earlier ``passed``). ``standing`` maps each required env to its deciding entry."""
    standing = {}
    for entry in entries:
        if (
            entry["valid"]
            and _of(entry, app=app, digest=digest, image=image)
            and entry["record"]["env"] in required_envs
        ):
            standing[entry["record"]["env"]] = entry  # oldest first: the last one wins
    passing = [e for e in standing.values() if e["record"]["result"] == "passed"]
    if not passing:
        return None, standing
    return max(passing, key=lambda e: e["seq"]), standing


# -- the stores ------------------------------------------------------------------------------------


def store_path(path):
    """The records file: ``~`` expanded, absolute, not a directory."""
    if not isinstance(path, str) or not path.strip():
        raise DcosError(f"path: must be the absolute path of the records file, got {path!r}")
    _validate.name(path, "path", r"[^\x00\n\r]+", "a file path has no NUL or line break")
    expanded = os.path.expanduser(path)
    if not os.path.isabs(expanded):
        raise DcosError(f"path: must be an absolute path (or start with ~), got {path!r}")
    if expanded.endswith("/"):
        raise DcosError(f"path: {path!r} names a directory, not the records file")
    return os.path.normpath(expanded)


class FileStore:
    """Records as JSON lines in one file on the controller, appended, never rewritten.

    An append holds an exclusive ``fcntl.flock`` on ``<path>.lock`` across read-check-append, so
    two processes appending at once both land (one after the other) and the identical record is
    appended once. The line goes out in one ``write`` on an ``O_APPEND`` descriptor and is fsynced
    (and the directory, when the file is new). A line left torn by a crash is reported as an
    invalid record, and the next append starts on a new line.
    """

    def __init__(self, path=DEFAULT_PATH, lock_timeout=60):
        self.path = store_path(path)
        self.lock_path = self.path + ".lock"
        self.lock_timeout = _validate.number(lock_timeout, "lock_timeout", minimum=0)

    def close(self):
        """Nothing to close (the lock is released after each operation)."""

    @contextlib.contextmanager
    def _locked(self, write):
        """Exclusive to append; shared to read, and a read with no lock file reads without one
        (appends never leave a partial state that a reader could take for a record)."""
        try:
            if write:
                os.makedirs(os.path.dirname(self.path), exist_ok=True)
                fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
            else:
                fd = os.open(self.lock_path, os.O_RDONLY)
        except FileNotFoundError:
            if write:
                raise DcosError(f"path: cannot create the lock file {self.lock_path}") from None
            fd = None
        except OSError as exc:
            raise DcosError(f"path: cannot open the lock file {self.lock_path}: {exc.strerror}") from exc
        if fd is None:
            yield
            return
        try:
            deadline = time.monotonic() + self.lock_timeout
            pause = 0.001
            while True:
                try:
                    fcntl.flock(fd, (fcntl.LOCK_EX if write else fcntl.LOCK_SH) | fcntl.LOCK_NB)
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
            os.close(fd)

    def _read_bytes(self):
        try:
            with open(self.path, "rb") as handle:
                return handle.read()
        except FileNotFoundError:
            return b""
        except OSError as exc:
            raise DcosError(f"path: cannot read {self.path}: {exc.strerror}") from exc

    def _raw(self, data):
        raw = []
        for number, line in enumerate(data.split(b"\n"), start=1):
            if not line.strip():
                continue
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError:
                text = "\ufffd"  # not JSON: reported as an invalid record
            raw.append((f"{self.path}:{number}", text))
        return raw

    def read(self):
        """``[(where, text)]`` of every line, oldest first."""
        with self._locked(write=False):
            return self._raw(self._read_bytes())

    def append(self, decide):
        """Under the lock: ``decide(raw)`` returns the line to append (or None); returns (raw, where)."""
        with self._locked(write=True):
            data = self._read_bytes()
            raw = self._raw(data)
            text = decide(raw)
            if text is None:
                return raw, None
            line = (b"\n" if data and not data.endswith(b"\n") else b"") + text.encode("utf-8") + b"\n"
            new = not os.path.exists(self.path)
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                try:
                    written = os.write(fd, line)
                    if written != len(line):
                        raise OSError(errno.EIO, f"short write ({written} of {len(line)} bytes)")
                    os.fsync(fd)
                finally:
                    os.close(fd)
                if new:
                    dir_fd = os.open(os.path.dirname(self.path), os.O_RDONLY)
                    try:
                        os.fsync(dir_fd)
                    finally:
                        os.close(dir_fd)
            except OSError as exc:
                raise DcosError(f"path: cannot append to {self.path}: {exc.strerror}") from exc
            lines = data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)
            return raw, f"{self.path}:{lines + 1}"


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


class ZooKeeperStore:
    """Records as sequential znodes ``<zk_root>/records/record-<10 digits>``, never rewritten.

    An append is one transaction: set the data of ``<zk_root>/records`` at the version read
    (bumping it) and create the sequential record node. Two controllers that read the same state
    cannot both commit; the loser reads again, so the identical record is appended once and no
    record is lost. The sequence numbers give the order.
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
        self.root = root
        self.base = root + "/records"
        self.hosts = ",".join(f"{host}:{port}" for host, port in servers)
        self.zk = client
        if self.zk is None:
            self.zk = KazooClient(hosts=self.hosts, timeout=timeout)
            try:
                self.zk.start(timeout=timeout)
            except Exception as exc:  # kazoo raises its own timeout type, or socket errors
                with contextlib.suppress(Exception):
                    self.zk.close()
                raise DcosError(f"zk_hosts: cannot connect to ZooKeeper at {self.hosts}: {exc}") from exc

    def close(self):
        with contextlib.suppress(Exception):
            self.zk.stop()
            self.zk.close()

    def _raw(self):
        try:
            _data, stat = self.zk.get(self.base)
            children = self.zk.get_children(self.base)
        except kazoo_exceptions.NoNodeError:
            return [], None
        raw = []
        for child in sorted(c for c in children if c.startswith("record-")):
            where = f"{self.base}/{child}"
            try:
                data, _st = self.zk.get(where)
            except kazoo_exceptions.NoNodeError:  # records are never deleted: someone did by hand
                continue
            try:
                text = (data or b"").decode("utf-8")
            except UnicodeDecodeError:
                text = "\ufffd"
            raw.append((where, text))
        return raw, stat

    @_zk_guarded
    def read(self):
        return self._raw()[0]

    @_zk_guarded
    def append(self, decide):
        for _attempt in range(self.MAX_ATTEMPTS):
            raw, stat = self._raw()
            text = decide(raw)
            if text is None:
                return raw, None
            if stat is None:
                self.zk.ensure_path(self.base)
                continue
            tx = self.zk.transaction()
            tx.set_data(self.base, str(len(raw) + 1).encode("ascii"), version=stat.version)
            tx.create(self.base + "/record-", text.encode("utf-8"), sequence=True)
            results = tx.commit()
            # A failed multi reports the failing op's error; ZooKeeper marks the ops before it
            # RolledBackError and those after it RuntimeInconsistency: neither is a cause.
            consequences = (kazoo_exceptions.RolledBackError, kazoo_exceptions.RuntimeInconsistency)
            failures = [r for r in results if isinstance(r, Exception) and not isinstance(r, consequences)]
            if not failures:
                return raw, results[-1]
            if not all(isinstance(r, kazoo_exceptions.BadVersionError) for r in failures):
                raise failures[0]
        raise DcosError(f"zk_root: gave up appending under {self.root} after {self.MAX_ATTEMPTS} concurrent appends")


def open_store(params):
    """The store named by ``params['backend']`` from the options of :data:`STORE_OPTIONS_SPEC`."""
    options = {key: spec.get("default") for key, spec in STORE_OPTIONS_SPEC.items()}
    options.update({key: params[key] for key in STORE_OPTIONS_SPEC if params.get(key) is not None})
    if options["backend"] == "file":
        return FileStore(options["path"], lock_timeout=options["lock_timeout"])
    if options["backend"] == "zookeeper":
        return ZooKeeperStore(hosts=options["zk_hosts"], root=options["zk_root"], timeout=options["zk_timeout"])
    raise DcosError(f"backend: {options['backend']!r} is not one of file, zookeeper")


# -- the manager -----------------------------------------------------------------------------------

# Options each state needs, and those it does not use (refused rather than silently ignored).
REQUIRED = {
    "recorded": ("image", "digest", "env", "result", "user", "job"),
    "verified": ("digest", "required_envs"),
    "query": (),
}
NOT_USED = {
    "recorded": ("required_envs",),
    "verified": ("env", "result", "user", "job", "notes"),
    "query": ("required_envs", "user", "job", "notes"),
}


def check_params(params):
    """The state, after refusing a missing option or one the state does not use (before any store is opened)."""
    state = params.get("state")
    if state not in STATES:
        raise DcosError(f"state: must be one of {', '.join(STATES)}, got {state!r}")
    missing = [key for key in REQUIRED[state] if params.get(key) in (None, "", [])]
    if missing:
        raise DcosError(f"{', '.join(missing)}: required with state={state}")
    unused = [key for key in NOT_USED[state] if params.get(key) is not None]
    if unused:
        raise DcosError(f"{', '.join(unused)}: not used with state={state}")
    return state


class ReleaseRecordManager:
    """Runs one release_record task against a store, noting the append in ``record`` (a ChangeRecord).

    Every option is checked when the manager is made, before the store is opened (a bad digest
    never costs a ZooKeeper connection); :meth:`run` then takes the store.
    """

    def __init__(self, params, record=None, now=utc_now):
        self.state = check_params(params)
        self.params = params
        self.key = load_key(params)
        self.app = check_app(params.get("app"))
        self.store = None
        self.record = record if record is not None else ChangeRecord()
        self.now = now
        self.image = None if params.get("image") is None else check_image(params["image"])
        self.digest = None if params.get("digest") is None else check_digest(params["digest"])
        self.env = None if params.get("env") is None else check_env(params["env"])
        self.result = None if params.get("result") is None else check_result(params["result"])
        self.required_envs = None
        if params.get("required_envs") is not None:
            envs = params["required_envs"]
            if not isinstance(envs, list) or not envs:
                raise DcosError(f"required_envs: must be a non-empty list of env names, got {envs!r}")
            self.required_envs = [check_env(env, f"required_envs[{i}]") for i, env in enumerate(envs)]
            if len(set(self.required_envs)) != len(self.required_envs):
                raise DcosError(f"required_envs: {self.required_envs} names an env twice")

    def run(self, store):
        self.store = store
        return getattr(self, self.state)()

    @staticmethod
    def _invalid(entries):
        return [describe(e) for e in entries if not e["valid"]]

    def recorded(self):
        new = make_record(self.params, self.key, self.now())
        same = {}

        def decide(raw):
            entries = read_records(raw, self.key)
            found = [e for e in entries if e["valid"] and identity(e["record"]) == identity(new)]
            same.update(entries=entries, found=found[-1] if found else None)
            if found or self.record.check_mode:
                return None
            return json.dumps(new, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

        if self.record.check_mode:
            raw = self.store.read()
            decide(raw)
            where = None
        else:
            raw, where = self.store.append(decide)
        entries = same["entries"]
        count = len(entries)
        if same["found"] is not None:
            return self.record.result(
                record=describe(same["found"]), count=count, invalid=self._invalid(entries), appended=False
            )
        step = f"append {new['result']} record of {new['app']}@{new['digest']} in env {new['env']}"
        self.record.difference("count", count, count + 1)
        self.record.difference("record", None, new)
        self.record.step(step)
        if not self.record.check_mode:
            self.record.done(step)
        shown = describe({"record": new, "valid": True, "reason": None, "where": where, "seq": count})
        return self.record.result(record=shown, count=count + 1, invalid=self._invalid(entries), appended=True)

    def verified(self):
        entries = read_records(self.store.read(), self.key)
        chosen, standing = policy_decision(entries, self.app, self.digest, self.required_envs, self.image)
        mine = [e for e in entries if e["valid"] and _of(e, app=self.app, digest=self.digest)]
        # Untrusted records that claim this app and digest, or that cannot be read at all.
        untrusted = [
            e for e in entries if not e["valid"] and (e["record"] is None or _of(e, app=self.app, digest=self.digest))
        ]
        policy = f"policy: {POLICY} requires {policy_text(self.required_envs)} for {self.app}@{self.digest}"
        if chosen is None:
            seen = "; ".join(_short(e) for e in mine) or "none for this digest"
            superseded = [e for e in standing.values() if e["record"]["result"] == "failed"]
            parts = [f"{policy}; none found (records: {seen})"]
            if self.image is not None and any(e["record"]["image"] != self.image for e in mine):
                parts.append(f"only records of image {self.image} count")
            if superseded:
                parts.append("the newest record in " + ", ".join(e["record"]["env"] for e in superseded) + " is failed")
            if untrusted:
                parts.append(f"{len(untrusted)} record(s) ignored, not trusted: {self._reasons(untrusted)}")
            raise DcosError(
                "; ".join(parts),
                policy=POLICY,
                required_envs=self.required_envs,
                records=[describe(e) for e in reversed(mine)],
                invalid=self._invalid(entries),
            )
        found = chosen["record"]
        return self.record.result(
            msg=f"{policy}: found, {_short(chosen)}",
            policy=POLICY,
            record=describe(chosen),
            image_ref=f"{found['image']}@{found['digest']}",
            records=[describe(e) for e in reversed(mine)],
            invalid=self._invalid(entries),
        )

    @staticmethod
    def _reasons(entries):
        return "; ".join(f"{e['where']}: {e['reason']}" for e in entries[:5]) + (" ..." if len(entries) > 5 else "")

    def query(self):
        entries = read_records(self.store.read(), self.key)
        filters = {"app": self.app, "digest": self.digest, "env": self.env, "result": self.result, "image": self.image}
        mine = [e for e in entries if _of(e, **filters)]
        records = [describe(e) for e in reversed(mine)]
        digests = []
        for entry in reversed(mine):
            if entry["valid"] and entry["record"]["result"] == "passed" and entry["record"]["digest"] not in digests:
                digests.append(entry["record"]["digest"])
        return self.record.result(
            records=records, passed_digests=digests, count=len(records), invalid=self._invalid(entries)
        )
