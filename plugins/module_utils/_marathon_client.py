# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A Marathon v2 REST client on ``ansible.module_utils.urls`` (PRIVATE to the collection).

Used by the ``marathon_*`` modules, the ``marathon_endpoints`` lookup, ``ip_pool`` (reconcile)
and the service-discovery daemon, so nothing here depends on ``AnsibleModule``: every failure is
a :class:`DcosError` whose message names the URL, the request and Marathon's own message and
field paths, and never a secret.

* Several URLs are tried in order; a connection failure, a 502/503 (a standby with no leader),
  a timeout or an answer that is not HTTP moves to the next one (the reason in words, see
  :func:`transport_reason`), and the URL that answered is tried first next time.
* Redirects (a standby sends 302 to the leader) are followed with the same method, body and
  credentials, and the leader becomes the preferred URL.
* Credentials: HTTP basic auth, or a DC/OS token sent as ``Authorization: token=<token>``; never
  inside a URL (refused: a URL is not ``no_log``).
* Every answer is checked for the shape the collection reads (:func:`app_shape_problem`), so a
  proxy's page or a JSON of another shape is one sentence naming the URL, not a traceback later.
* The deployment waiter and the 409 lock retry are in ``_marathon_deploy.py``.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
import ssl
from urllib.error import HTTPError, URLError
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

from ansible.module_utils.basic import env_fallback
from ansible.module_utils.urls import ConnectionError as UrlsConnectionError
from ansible.module_utils.urls import open_url

from ansible_collections.pptv.dcos.plugins.module_utils import _validate
from ansible_collections.pptv.dcos.plugins.module_utils._errors import DcosError

# The connection options of every Marathon module; documented by the doc fragment
# ``pptv.dcos._marathon`` (keep both in step).
MARATHON_CONNECTION_SPEC = dict(
    url=dict(type="list", elements="str", aliases=["marathon_url"], fallback=(env_fallback, ["MARATHON_URL"])),
    username=dict(type="str", aliases=["url_username"], fallback=(env_fallback, ["MARATHON_USERNAME"])),
    password=dict(type="str", no_log=True, aliases=["url_password"], fallback=(env_fallback, ["MARATHON_PASSWORD"])),
    token=dict(type="str", no_log=True, fallback=(env_fallback, ["MARATHON_TOKEN"])),
    validate_certs=dict(type="bool", default=True),
    ca_path=dict(type="path"),
    client_cert=dict(type="path"),
    client_key=dict(type="path"),
    timeout=dict(type="float", default=10),
)
MARATHON_CONNECTION_MUTUALLY_EXCLUSIVE = [("token", "username"), ("token", "password")]
MARATHON_CONNECTION_REQUIRED_TOGETHER = [("username", "password")]

_CONTROL_OR_SPACE = re.compile(r"[\x00-\x20\x7f]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_RETRY_NEXT_URL_STATUS = (502, 503)
_REDIRECT_STATUS = (301, 302, 303, 307, 308)
_MAX_REDIRECTS = 3
_SPLIT_URLS = ","


class MarathonError(DcosError):
    """Marathon answered with an error status. ``status`` and Marathon's body are in ``details``."""

    def __init__(self, msg, status=None, **details):
        super().__init__(msg, status=status, **details)
        self.status = status


class MarathonNotFound(MarathonError):
    """404: the app (or version, or deployment) does not exist."""


class MarathonLocked(MarathonError):
    """409 with a ``deployments`` list: the app is locked by running deployments."""

    def __init__(self, msg, deployment_ids, **details):
        super().__init__(msg, deployment_ids=list(deployment_ids), **details)
        self.deployment_ids = list(deployment_ids)


class MarathonUnreachable(DcosError):
    """No configured URL answered."""


class Response:
    """An HTTP answer: ``status``, ``headers`` (lower-cased names) and ``data`` (decoded JSON or text)."""

    def __init__(self, status, headers, data, url):
        self.status = status
        self.headers = headers
        self.data = data
        self.url = url

    @property
    def deployment_id(self):
        """The ``Marathon-Deployment-Id`` header, else ``deploymentId`` from the body."""
        header = self.headers.get("marathon-deployment-id")
        if header:
            return header
        return _text(self.data, "deploymentId")


def redact_url(url):
    """``url`` without any ``user:password@`` part, for messages."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(an unparsable URL)"
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def credential_urls(urls):
    """The items of ``urls`` (as given, before splitting) that hold a ``user:password@`` part."""
    if urls is None:
        return []
    items = [urls] if isinstance(urls, str) else urls
    return [str(item) for item in items if any("@" in _netloc(part) for part in str(item).split(_SPLIT_URLS))]


def _netloc(url):
    try:
        return urlsplit(url.strip()).netloc
    except ValueError:
        return url


def _check_url(url):
    """Refuse what is not an ``http(s)://host[:port][/path]`` URL, and credentials inside it."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:
        raise DcosError(f"url: {redact_url(url)} is not a valid URL ({e})") from None
    if parts.scheme not in ("http", "https"):
        raise DcosError(f"url: {redact_url(url)} is not an http:// or https:// URL")
    if "@" in parts.netloc:
        raise DcosError(
            f"url: {redact_url(url)} holds credentials (user:password@); give them as the username and "
            "password options (or token) instead, which are never logged"
        )
    if not parts.hostname:
        raise DcosError(f"url: {redact_url(url)} has no host name")
    if port == 0:
        raise DcosError(f"url: {redact_url(url)} has port 0")


def _check_credentials(username, token):
    """What the transport cannot send: a header value with a newline raises a bare ``ValueError``
    deep in ``http.client``, and a ``:`` in a basic-auth user name splits it. The values
    themselves are never shown (a token is a secret; a user name may be pasted with one)."""
    if token is not None and (not isinstance(token, str) or _CONTROL_OR_SPACE.search(token)):
        raise DcosError("token: must not contain spaces, newlines or control characters (a file's trailing newline?)")
    if username is not None and (":" in str(username) or _CONTROL.search(str(username))):
        raise DcosError("username: must not contain ':' or control characters (HTTP basic authentication)")


def split_urls(urls):
    """One list of base URLs from a string (comma-separated) or a list of strings."""
    if urls is None:
        return []
    if isinstance(urls, str):
        urls = [urls]
    result = []
    for item in urls:
        for part in str(item).split(_SPLIT_URLS):
            url = part.strip().rstrip("/")
            if url:
                result.append(url)
    return result


def app_path(app_id):
    """The URL path segment of an app id (``/grp/app`` -> ``grp/app``), quoted."""
    return quote(app_id.strip("/"), safe="/")


def format_details(details):
    """Marathon's ``details`` (a list of ``{path, errors}`` or a string) as one line."""
    if not details:
        return ""
    if isinstance(details, str):
        return details
    parts = []
    if isinstance(details, list):
        for item in details:
            if isinstance(item, dict):
                path = item.get("path") or "/"
                errors = item.get("errors") or []
                if isinstance(errors, list):
                    errors = "; ".join(str(e) for e in errors)
                parts.append(f"{path}: {errors}")
            else:
                parts.append(str(item))
    else:
        parts.append(json.dumps(details, sort_keys=True))
    return ", ".join(parts)


class MarathonClient:
    """One Marathon (or several URLs of one Marathon cluster).

    ``opener`` is the transport, ``ansible.module_utils.urls.open_url`` by default; tests and the
    daemon may pass another callable with the same signature. ``stats`` counts the requests sent
    by method (``{"GET": 3, "PUT": 1}``) so callers can report them.
    """

    def __init__(
        self,
        urls,
        username=None,
        password=None,
        token=None,
        validate_certs=True,
        ca_path=None,
        client_cert=None,
        client_key=None,
        timeout=10.0,
        opener=None,
        user_agent="pptv.dcos-marathon",
    ):
        self.urls = split_urls(urls)
        if not self.urls:
            raise DcosError("url: no Marathon URL given (set the url option or the MARATHON_URL environment variable)")
        for url in self.urls:
            _check_url(url)
        if token and (username or password):
            raise DcosError("token: give either token or username/password, not both")
        if bool(username) != bool(password):
            raise DcosError("username and password must be given together")
        _check_credentials(username, token)
        for option, path in (("ca_path", ca_path), ("client_cert", client_cert), ("client_key", client_key)):
            if path and not os.path.isfile(path):
                raise DcosError(f"{option}: {path} is not a file")
        self.username = username
        self.password = password
        self.token = token
        self.validate_certs = validate_certs
        self.ca_path = ca_path
        self.client_cert = client_cert
        self.client_key = client_key
        self.timeout = timeout
        self.opener = opener or open_url
        self.user_agent = user_agent
        self.stats = {}
        self._preferred = 0

    @classmethod
    def from_params(cls, params, opener=None):
        """A client from module/lookup options named as in ``MARATHON_CONNECTION_SPEC``."""
        timeout = params.get("timeout")
        return cls(
            params.get("url"),
            username=params.get("username"),
            password=params.get("password"),
            token=params.get("token"),
            validate_certs=_validate.boolean(params.get("validate_certs", True), "validate_certs"),
            ca_path=params.get("ca_path"),
            client_cert=params.get("client_cert"),
            client_key=params.get("client_key"),
            timeout=10.0 if timeout is None else _validate.timeout(timeout, "timeout"),
            opener=opener,
        )

    @classmethod
    def from_module(cls, module, opener=None):
        """:meth:`from_params` for an ``AnsibleModule``.

        A URL that carries credentials is refused (:func:`_check_url`); before that, the module is
        told to mask it, so that the ``invocation`` of the failure does not show the password.
        """
        module.no_log_values.update(credential_urls(module.params.get("url")))
        return cls.from_params(module.params, opener=opener)

    # -- transport ------------------------------------------------------------------------------

    def _open(self, url, method, body, accept="application/json"):
        headers = {"Accept": accept}
        if body is not None:
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = f"token={self.token}"
        self.stats[method] = self.stats.get(method, 0) + 1
        return self.opener(
            url,
            data=body,
            headers=headers,
            method=method,
            timeout=self.timeout,
            validate_certs=self.validate_certs,
            url_username=self.username,
            url_password=self.password,
            force_basic_auth=bool(self.username),
            follow_redirects="none",
            client_cert=self.client_cert,
            client_key=self.client_key,
            ca_path=self.ca_path,
            http_agent=self.user_agent,
            use_netrc=False,
            use_proxy=True,
        )

    @staticmethod
    def _decode(raw, _headers):
        if raw is None:
            return None
        if isinstance(raw, bytes):
            raw = raw.decode("utf-8", errors="replace")
        if not raw.strip():
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return raw

    @staticmethod
    def _headers(message):
        if message is None:
            return {}
        return {k.lower(): v for k, v in message.items()}

    def request(self, method, path, body=None, query=None, ok_statuses=None):
        """Send one request; return a :class:`Response` or raise a :class:`DcosError` subclass.

        ``path`` starts with ``/`` (``/v2/apps/grp/app``); ``query`` is a dict or a list of pairs
        (``None`` values are dropped); ``body`` is JSON-encoded.
        """
        if query:
            pairs = query.items() if isinstance(query, dict) else query
            pairs = [(k, v) for k, v in pairs if v is not None]
            if pairs:
                path = f"{path}?{urlencode(pairs)}"
        data = None if body is None else _encode(body, method, path)
        order = list(range(self._preferred, len(self.urls))) + list(range(self._preferred))
        tried = []
        for index in order:
            base = self.urls[index]
            try:
                response = self._follow(base, method, path, data)
            except _TryNext as skip:
                tried.append(f"{redact_url(base)} ({skip.reason})")
                continue
            self._preferred = index
            return self._check(method, path, response, ok_statuses)
        raise MarathonUnreachable(
            f"Marathon is unreachable: {method} {path} failed on every URL tried: " + "; ".join(tried),
            urls_tried=[redact_url(u) for u in self.urls],
        )

    def _follow(self, base, method, path, data):
        url = base + path
        for _hop in range(_MAX_REDIRECTS + 1):
            try:
                handle = self._open(url, method, data)
                raw = handle.read()
                status = getattr(handle, "status", None) or handle.getcode()
                headers = self._headers(handle.headers if hasattr(handle, "headers") else handle.info())
                return Response(status, headers, self._decode(raw, headers), url)
            except HTTPError as e:
                headers = self._headers(e.headers)
                if e.code in _REDIRECT_STATUS and headers.get("location"):
                    url = _resolve(url, headers["location"])
                    if url is None:
                        raise _TryNext("redirected from https to http: refused, credentials stay on TLS") from None
                    continue
                if e.code in _RETRY_NEXT_URL_STATUS:
                    raise _TryNext(f"HTTP {e.code}") from None
                try:
                    raw = e.read()
                except Exception:  # pylint: disable=broad-except
                    raw = b""
                return Response(e.code, headers, self._decode(raw, headers), url)
            except _TRANSPORT_ERRORS as e:
                raise _TryNext(transport_reason(e, self.timeout)) from None
        raise _TryNext(f"more than {_MAX_REDIRECTS} redirects")

    def _check(self, method, path, response, ok_statuses):
        status = response.status
        if ok_statuses and status in ok_statuses:
            return response
        if 200 <= status < 300:
            return response
        where = f"{method} {redact_url(response.url)}"
        data = response.data if isinstance(response.data, dict) else {}
        message = data.get("message") if data else None
        if message is None and isinstance(response.data, str):
            message = response.data.strip()[:300]
        if status in (401, 403):
            kind = "rejected the credentials" if status == 401 else "denied access with the given credentials"
            raise MarathonError(
                f"Marathon {kind} (HTTP {status}) on {where}: check username/password or token",
                status=status,
            )
        details = data.get("details") if data else None
        text = f"Marathon answered HTTP {status} to {where}: {message or 'no message'}"
        if details:
            text += f" ({format_details(details)})"
        extra = {"marathon_message": message}
        if details:
            extra["marathon_details"] = details
        if status == 404:
            raise MarathonNotFound(text, status=status, **extra)
        if status == 409 and isinstance(data.get("deployments"), list) and data["deployments"]:
            ids = [d.get("id") for d in data["deployments"] if isinstance(d, dict) and d.get("id")]
            raise MarathonLocked(text, ids, status=status, **extra)
        raise MarathonError(text, status=status, **extra)

    def _open_stream(self, path):
        """Open ``GET path`` as an event stream on the first URL that accepts it (redirects followed)."""
        order = list(range(self._preferred, len(self.urls))) + list(range(self._preferred))
        tried = []
        for index in order:
            url = self.urls[index] + path
            for _hop in range(_MAX_REDIRECTS + 1):
                try:
                    # Marathon compares Accept for equality with this exact value (else 405).
                    handle = self._open(url, "GET", None, accept="text/event-stream")
                except HTTPError as e:
                    headers = self._headers(e.headers)
                    if e.code in _REDIRECT_STATUS and headers.get("location"):
                        url = _resolve(url, headers["location"])
                        if url is None:
                            tried.append(f"{redact_url(self.urls[index])} (redirected from https to http: refused)")
                            break
                        continue
                    if e.code in _RETRY_NEXT_URL_STATUS:
                        tried.append(f"{redact_url(self.urls[index])} (HTTP {e.code})")
                        break
                    raw = e.read()
                    self._check("GET", path, Response(e.code, headers, self._decode(raw, headers), url), None)
                except (URLError, socket.timeout, ConnectionError, OSError) as e:
                    tried.append(f"{redact_url(self.urls[index])} ({getattr(e, 'reason', None) or e})")
                    break
                else:
                    self._preferred = index
                    return handle
            else:
                tried.append(f"{redact_url(self.urls[index])} (more than {_MAX_REDIRECTS} redirects)")
        raise MarathonUnreachable(
            f"Marathon is unreachable: GET {path} failed on every URL tried: " + "; ".join(tried),
            urls_tried=[redact_url(u) for u in self.urls],
        )

    def events(self, event_types=(), on_open=None):
        """Yield ``(event_type, data)`` from Marathon's event stream (``GET /v2/events``, SSE).

        ``event_types`` narrows the stream (Marathon 1.3.7+). The generator ends when Marathon
        closes the stream (a leader change, a restart); a read that outlasts the client's
        ``timeout`` raises ``socket.timeout`` (Marathon sends a heartbeat every 10 s, so a timeout
        of 15-30 s detects a dead stream). Events carry no id and cannot be resumed: re-read the
        full state (``list_apps(embed=("apps.tasks",))``) after every (re)connect.
        ``on_open`` (no arguments) is called once the stream is attached, before the first read:
        the moment to start that re-read (with ``event_type`` filters the first event may come
        much later).
        """
        query = urlencode([("event_type", t) for t in event_types])
        handle = self._open_stream("/v2/events" + (f"?{query}" if query else ""))
        if on_open is not None:
            try:
                on_open()
            except BaseException:
                handle.close()
                raise
        event_type = None
        data = []
        try:
            for raw in handle:
                line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
                if not line:
                    if data:
                        text = "\n".join(data)
                        try:
                            payload = json.loads(text)
                        except ValueError:
                            payload = text
                        yield event_type or (payload.get("eventType") if isinstance(payload, dict) else None), payload
                    event_type, data = None, []
                elif line.startswith("event:"):
                    event_type = line[len("event:") :].strip()
                elif line.startswith("data:"):
                    data.append(line[len("data:") :].lstrip())
        finally:
            handle.close()

    # -- endpoints ------------------------------------------------------------------------------

    @staticmethod
    def _not_marathon(response, method, what):
        """A body that is not Marathon's (a login page, a proxy's answer with HTTP 200, a JSON of
        another shape) is an error in words, never a traceback in a caller."""
        shown = json.dumps(response.data)[:120] if response.data is not None else "an empty body"
        return MarathonError(
            f"{method} {redact_url(response.url)} answered HTTP {response.status} with {shown}, which is not "
            f"Marathon's JSON ({what}): does url point at Marathon itself?",
            status=response.status,
        )

    def _field(self, response, method, key, kind):
        """``key`` of a JSON object body, which must be a ``kind`` (``dict`` or ``list``; null reads as empty)."""
        data = response.data
        if not isinstance(data, dict) or key not in data:
            raise self._not_marathon(response, method, f"an object with {key!r}")
        value = data.get(key)
        if value is None:
            return kind()
        if not isinstance(value, kind):
            raise self._not_marathon(response, method, f"{key!r} must be {_KIND_NAMES[kind]}")
        return value

    def _app(self, response, method, app, where):
        problem = app_shape_problem(app)
        if problem:
            raise self._not_marathon(response, method, f"{where}: {problem}")
        return app

    def get_app(self, app_id, embed=("app.tasks",)):
        """The app (``{"app": ...}`` unwrapped), or ``None`` when it does not exist."""
        try:
            response = self.request("GET", f"/v2/apps/{app_path(app_id)}", query=[("embed", e) for e in embed])
        except MarathonNotFound:
            return None
        return self._app(response, "GET", self._field(response, "GET", "app", dict), "app")

    def list_apps(self, id_filter=None, label=None, embed=()):
        """``GET /v2/apps`` with Marathon's own ``id`` (substring) and ``label`` (selector) filters."""
        query = [("id", id_filter), ("label", label)] + [("embed", e) for e in embed]
        response = self.request("GET", "/v2/apps", query=query)
        apps = self._field(response, "GET", "apps", list)
        return [self._app(response, "GET", app, f"apps[{index}]") for index, app in enumerate(apps)]

    def put_app(self, app_id, definition, force=False):
        """``PUT /v2/apps/{id}`` (creates or updates). Returns ``(deployment_id, version)``."""
        query = {"force": "true" if force else None}
        response = self.request("PUT", f"/v2/apps/{app_path(app_id)}", body=definition, query=query)
        return response.deployment_id, _text(response.data, "version")

    def put_apps(self, definitions, force=False):
        """``PUT /v2/apps`` with a list: one deployment for the batch. Returns ``(deployment_id, version)``."""
        response = self.request("PUT", "/v2/apps", body=list(definitions), query={"force": "true" if force else None})
        return response.deployment_id, _text(response.data, "version")

    def delete_app(self, app_id, force=False):
        """``DELETE /v2/apps/{id}``; ``None`` if the app did not exist, else the deployment id.

        Marathon's own default for DELETE is ``force=true`` (it cancels running deployments); we
        send ``force=false`` unless asked, so a running deployment is reported as a lock.
        """
        try:
            response = self.request(
                "DELETE", f"/v2/apps/{app_path(app_id)}", query={"force": "true" if force else "false"}
            )
        except MarathonNotFound:
            return None
        return response.deployment_id

    def restart_app(self, app_id, force=False):
        """``POST /v2/apps/{id}/restart``. Returns ``(deployment_id, version)``."""
        response = self.request(
            "POST", f"/v2/apps/{app_path(app_id)}/restart", query={"force": "true" if force else None}
        )
        return response.deployment_id, _text(response.data, "version")

    def list_versions(self, app_id):
        """The app's versions, newest first."""
        response = self.request("GET", f"/v2/apps/{app_path(app_id)}/versions")
        versions = self._field(response, "GET", "versions", list)
        if not all(isinstance(v, str) for v in versions):
            raise self._not_marathon(response, "GET", "'versions' must be a list of timestamps")
        return sorted(versions, reverse=True)

    def get_app_version(self, app_id, version):
        """The app definition stored for ``version``, or ``None``."""
        try:
            response = self.request("GET", f"/v2/apps/{app_path(app_id)}/versions/{quote(version, safe='')}")
        except MarathonNotFound:
            return None
        if not isinstance(response.data, dict):
            raise self._not_marathon(response, "GET", "an app definition")
        return response.data

    def list_deployments(self):
        """``GET /v2/deployments``: a list of deployments, each with its ``id``."""
        response = self.request("GET", "/v2/deployments")
        data = response.data
        if not isinstance(data, list) or not all(isinstance(d, dict) and isinstance(d.get("id"), str) for d in data):
            raise self._not_marathon(response, "GET", "a list of deployments, each with an 'id'")
        return data


_KIND_NAMES = {dict: "an object", list: "a list"}

# The parts of an app (as Marathon returns it) the collection reads, and what each must be.
_APP_SHAPE = (
    ("instances", int, "an integer"),
    ("tasksRunning", int, "an integer"),
    ("tasksHealthy", int, "an integer"),
    ("tasksUnhealthy", int, "an integer"),
    ("tasksStaged", int, "an integer"),
    ("tasks", list, "a list"),
    ("healthChecks", list, "a list"),
    ("labels", dict, "an object"),
    ("container", dict, "an object"),
    ("networks", list, "a list"),
    ("versionInfo", dict, "an object"),
    ("version", str, "a string"),
)
_TASK_SHAPE = (
    ("host", str, "a string"),
    ("state", str, "a string"),
    ("version", str, "a string"),
    ("ports", list, "a list"),
    ("ipAddresses", list, "a list"),
    ("healthCheckResults", list, "a list"),
)


def _shape_problem(obj, shape):
    for key, kind, name in shape:
        value = obj.get(key)
        if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
            return f"{key!r} must be {name}"
    return None


def app_shape_problem(app):
    """What makes ``app`` unlike an app of Marathon's (in words), or ``None``.

    Only the parts the collection reads are checked: a body of another shape must end in a
    sentence, not in a ``TypeError`` three calls later.
    """
    if not isinstance(app, dict):
        return "an app must be an object"
    if not isinstance(app.get("id"), str) or not app["id"]:
        return "an app must have a string 'id'"
    problem = _shape_problem(app, _APP_SHAPE)
    if problem is None and not all(isinstance(c, dict) for c in app.get("healthChecks") or []):
        problem = "'healthChecks' must be a list of objects"
    for index, task in enumerate(app.get("tasks") or []):
        if problem is not None:
            break
        task_problem = _task_shape_problem(task)
        if task_problem:
            problem = f"tasks[{index}]: {task_problem}"
    return problem


def _task_shape_problem(task):
    if not isinstance(task, dict):
        return "a task must be an object"
    problem = _shape_problem(task, _TASK_SHAPE)
    if problem is None and not all(isinstance(p, int) and not isinstance(p, bool) for p in task.get("ports") or []):
        problem = "'ports' must be a list of integers"
    for key in ("ipAddresses", "healthCheckResults"):
        if problem is None and not all(isinstance(item, dict) for item in task.get(key) or []):
            problem = f"{key!r} must be a list of objects"
    return problem


def _text(data, key):
    value = data.get(key) if isinstance(data, dict) else None
    return value if isinstance(value, str) else None


# What the transport raises when a URL does not give an HTTP answer: refused, unresolvable,
# timed out, TLS refused, or a peer that speaks something else or hangs up half-way
# (``http.client.BadStatusLine``, ``RemoteDisconnected``, ``IncompleteRead`` ...).
_TRANSPORT_ERRORS = (URLError, OSError, http.client.HTTPException, UrlsConnectionError)


def transport_reason(error, timeout=None):
    """A transport failure in words, for "Marathon is unreachable: ... (<reason>)".

    Python's own texts are reprs (``BadStatusLine("'garbage'")``, ``IncompleteRead(5 bytes read,
    10 more expected)``, a URLError wrapping ``[Errno 111] ...``); operators get a sentence.
    """
    reason = getattr(error, "reason", None) if isinstance(error, URLError) else None
    if isinstance(reason, BaseException):
        return transport_reason(reason, timeout)
    if isinstance(error, URLError):
        return str(reason or "the connection failed")
    return _reason_of(error, timeout)


def _reason_of(error, timeout):  # noqa: PLR0911 - one sentence per kind of failure
    if isinstance(error, (socket.timeout, TimeoutError)):
        return f"no answer within {timeout:g}s (the timeout option)" if timeout else "timed out"
    if isinstance(error, http.client.RemoteDisconnected):
        return "the server closed the connection without answering"
    if isinstance(error, http.client.IncompleteRead):
        return f"the answer was cut short after {len(error.partial)} bytes"
    if isinstance(error, http.client.LineTooLong):
        return "the server sent a header line that is too long: not an HTTP answer from Marathon"
    if isinstance(error, http.client.BadStatusLine):
        line = str(error.line if error.line is not None else "").strip()[:40]
        shown = ascii(line) if line else "an empty line"
        return f"the server answered something that is not HTTP ({shown})"
    if isinstance(error, http.client.HTTPException):
        return "the server's answer is not valid HTTP"
    if isinstance(error, ssl.SSLCertVerificationError):
        detail = getattr(error, "verify_message", None) or "verification failed"
        return f"TLS: the certificate is not trusted ({detail}); set ca_path, or validate_certs=false"
    if isinstance(error, ssl.SSLError):
        return f"TLS: {getattr(error, 'reason', None) or 'the handshake failed'} (is it an https:// server?)"
    if isinstance(error, socket.gaierror):
        return "the host name cannot be resolved"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, ConnectionResetError):
        return "the connection was reset by the server"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror[:1].lower() + error.strerror[1:]
    text = str(error).strip()
    return text if text and not text.startswith("<") else "the connection failed"


def _encode(body, method, path):
    """The JSON of ``body``; ``inf``/``nan`` (not JSON: Marathon would refuse it) are an error."""
    try:
        return json.dumps(body, allow_nan=False).encode("utf-8")
    except ValueError:
        raise DcosError(f"{method} {path}: the request holds a number that is not finite (inf or nan)") from None


class _TryNext(Exception):
    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


def _resolve(current, location):
    """The URL a redirect points to, or ``None`` for a downgrade from https to http: the
    credentials the client sends on every request must never leave TLS."""
    parts = urlsplit(current)
    if "://" in location:
        if parts.scheme == "https" and urlsplit(location).scheme != "https":
            return None
        return location
    if location.startswith("/"):
        return urlunsplit((parts.scheme, parts.netloc, "", "", "")) + location
    base = current.rsplit("/", 1)[0]
    return f"{base}/{location}"
