# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A Marathon v2 REST client on ``ansible.module_utils.urls`` (PRIVATE to the collection).

Used by the ``marathon_*`` modules, the ``marathon_endpoints`` lookup, ``ip_pool`` (reconcile)
and the service-discovery daemon, so nothing here depends on ``AnsibleModule``: every failure is
a :class:`DcosError` whose message names the URL, the request and Marathon's own message and
field paths, and never a secret.

* Several URLs are tried in order; a connection failure, a 502/503 (a standby with no leader) or
  a timeout moves to the next one, and the URL that answered is tried first next time.
* Redirects (a standby sends 302 to the leader) are followed with the same method, body and
  credentials, and the leader becomes the preferred URL.
* Credentials: HTTP basic auth, or a DC/OS token sent as ``Authorization: token=<token>``.
"""

from __future__ import annotations

import json
import socket
import time
from urllib.error import HTTPError, URLError
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

from ansible.module_utils.basic import env_fallback
from ansible.module_utils.urls import open_url

from ansible_collections.pptv.dcos.plugins.module_utils._errors import DcosError
from ansible_collections.pptv.dcos.plugins.module_utils._marathon_app import task_is_healthy

# Environment variables read when an option is not given (by modules and the lookup alike).
MARATHON_ENV = dict(
    url="MARATHON_URL", username="MARATHON_USERNAME", password="MARATHON_PASSWORD", token="MARATHON_TOKEN"
)

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
        if isinstance(self.data, dict):
            return self.data.get("deploymentId")
        return None


def redact_url(url):
    """``url`` without any ``user:password@`` part, for messages."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


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
            if urlsplit(url).scheme not in ("http", "https"):
                raise DcosError(f"url: {redact_url(url)} is not an http:// or https:// URL")
        if token and (username or password):
            raise DcosError("token: give either token or username/password, not both")
        if bool(username) != bool(password):
            raise DcosError("username and password must be given together")
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
        return cls(
            params.get("url"),
            username=params.get("username"),
            password=params.get("password"),
            token=params.get("token"),
            validate_certs=params.get("validate_certs", True),
            ca_path=params.get("ca_path"),
            client_cert=params.get("client_cert"),
            client_key=params.get("client_key"),
            timeout=params.get("timeout") or 10.0,
            opener=opener,
        )

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
    def _decode(raw, headers):
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
        data = None if body is None else json.dumps(body).encode("utf-8")
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
            except (URLError, socket.timeout, ConnectionError, OSError) as e:
                reason = getattr(e, "reason", None) or e
                raise _TryNext(str(reason) or type(e).__name__) from None
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
        if status == 409 and data.get("deployments"):
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
    def _field(response, method, key, default):
        """``key`` of a JSON object body. A body that is not one (a login page or a proxy's answer
        with HTTP 200) is an error in words, not a traceback in every caller."""
        value = response.data.get(key) if isinstance(response.data, dict) else _NOT_JSON
        if value is None:
            return default
        if value is _NOT_JSON or (default is not None and not isinstance(value, type(default))):
            shown = str(response.data)[:120] if response.data else "an empty body"
            raise MarathonError(
                f"{method} {redact_url(response.url)} answered HTTP {response.status} with {shown!r}, "
                f"not Marathon's JSON (no {key!r} {type(default).__name__ if default is not None else 'object'}): "
                "does url point at Marathon itself?",
                status=response.status,
            )
        return value

    def ping(self):
        return self.request("GET", "/ping").data

    def info(self):
        return self.request("GET", "/v2/info").data

    def get_app(self, app_id, embed=("app.tasks",)):
        """The app (``{"app": ...}`` unwrapped), or ``None`` when it does not exist."""
        try:
            response = self.request("GET", f"/v2/apps/{app_path(app_id)}", query=[("embed", e) for e in embed])
        except MarathonNotFound:
            return None
        return self._field(response, "GET", "app", None)

    def list_apps(self, id_filter=None, label=None, embed=()):
        """``GET /v2/apps`` with Marathon's own ``id`` (substring) and ``label`` (selector) filters."""
        query = [("id", id_filter), ("label", label)] + [("embed", e) for e in embed]
        return self._field(self.request("GET", "/v2/apps", query=query), "GET", "apps", [])

    def put_app(self, app_id, definition, force=False, partial_update=True):
        """``PUT /v2/apps/{id}`` (creates or updates). Returns ``(deployment_id, version, created)``."""
        query = {"force": "true" if force else None, "partialUpdate": None if partial_update else "false"}
        response = self.request("PUT", f"/v2/apps/{app_path(app_id)}", body=definition, query=query)
        data = response.data if isinstance(response.data, dict) else {}
        return response.deployment_id, data.get("version"), response.status == 201

    def put_apps(self, definitions, force=False):
        """``PUT /v2/apps`` with a list: one deployment for the batch. Returns ``(deployment_id, version)``."""
        response = self.request("PUT", "/v2/apps", body=list(definitions), query={"force": "true" if force else None})
        data = response.data if isinstance(response.data, dict) else {}
        return response.deployment_id, data.get("version")

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
        response = self.request(
            "POST", f"/v2/apps/{app_path(app_id)}/restart", query={"force": "true" if force else None}
        )
        data = response.data if isinstance(response.data, dict) else {}
        return response.deployment_id, data.get("version")

    def list_versions(self, app_id):
        """The app's versions, newest first."""
        response = self.request("GET", f"/v2/apps/{app_path(app_id)}/versions")
        return sorted(self._field(response, "GET", "versions", []), reverse=True)

    def get_app_version(self, app_id, version):
        """The app definition stored for ``version``, or ``None``."""
        try:
            return self.request("GET", f"/v2/apps/{app_path(app_id)}/versions/{quote(version, safe='')}").data
        except MarathonNotFound:
            return None

    def get_tasks(self, app_id):
        return self._field(self.request("GET", f"/v2/apps/{app_path(app_id)}/tasks"), "GET", "tasks", [])

    def list_deployments(self):
        data = self.request("GET", "/v2/deployments").data
        return data if isinstance(data, list) else []

    def delete_deployment(self, deployment_id, force=False):
        response = self.request(
            "DELETE", f"/v2/deployments/{quote(deployment_id, safe='')}", query={"force": "true" if force else None}
        )
        return response.deployment_id


_NOT_JSON = object()


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


# -- waiting ------------------------------------------------------------------------------------


def _describe_deployment(deployment):
    step = deployment.get("currentStep")
    total = deployment.get("totalSteps")
    current = deployment.get("currentActions") or []
    actions = ", ".join(f"{a.get('action')} {a.get('app') or a.get('pod') or ''}".strip() for a in current)
    text = f"deployment {deployment.get('id')}"
    if step is not None and total is not None:
        text += f" on step {step}/{total}"
    if actions:
        text += f" ({actions})"
    return text


def task_summary(app):
    """``{running, healthy, unhealthy, staged}`` from an app's counts (always embedded by Marathon)."""
    return {
        "running": int(app.get("tasksRunning") or 0),
        "healthy": int(app.get("tasksHealthy") or 0),
        "unhealthy": int(app.get("tasksUnhealthy") or 0),
        "staged": int(app.get("tasksStaged") or 0),
    }


def app_readiness(app):
    """``(ready, reason)``: the app runs ``instances`` tasks of its current config, healthy if checked."""
    wanted = int(app.get("instances") or 0)
    version = (app.get("versionInfo") or {}).get("lastConfigChangeAt") or app.get("version") or ""
    tasks = app.get("tasks")
    checks = app.get("healthChecks") or []
    if tasks is None:
        running = int(app.get("tasksRunning") or 0)
        healthy = int(app.get("tasksHealthy") or 0) if checks else running
        ready = running == wanted and healthy >= wanted
        return ready, f"{running} running, {healthy} healthy of {wanted} wanted"
    current = [t for t in tasks if (t.get("version") or "") >= version]
    running = [t for t in current if t.get("state", "TASK_RUNNING") == "TASK_RUNNING"]
    healthy = [t for t in running if task_is_healthy(t, checks)]
    old = len(tasks) - len(current)
    ready = len(running) == wanted and len(healthy) == wanted and len(tasks) == wanted
    reason = f"{len(running)} running, {len(healthy)} healthy of {wanted} wanted"
    if old:
        reason += f", {old} of an older version"
    return ready, reason


class DeploymentWaiter:
    """Waits until deployments have left ``/v2/deployments`` and the apps' tasks are ready.

    One waiter serves any number of deployments and apps: each poll is one ``GET
    /v2/deployments`` and, once those are gone, one ``GET /v2/apps?embed=apps.tasks`` (narrowed
    by the apps' common group). ``clock`` and ``sleep`` are injectable for tests and the daemon.
    """

    def __init__(self, client, timeout=600.0, interval=0.5, max_interval=2.0, clock=None, sleep=None):
        self.client = client
        self.timeout = timeout
        self.interval = interval
        self.max_interval = max_interval
        self.clock = clock or time.monotonic
        self.sleep = sleep or time.sleep
        self._finished = []

    def pause(self, delay, deadline):
        remaining = deadline - self.clock()
        self.sleep(max(0.0, min(delay, remaining)))
        return min(delay * 1.5, self.max_interval)

    def wait_deployments(self, deployment_ids, deadline=None):
        """Until none of ``deployment_ids`` is listed; raises :class:`DcosError` at the deadline."""
        ids = {d for d in deployment_ids if d}
        if deadline is None:
            deadline = self.clock() + self.timeout
        delay = self.interval
        while ids:
            running = [d for d in self.client.list_deployments() if d.get("id") in ids]
            if not running:
                return
            if self.clock() >= deadline:
                steps = "; ".join(_describe_deployment(d) for d in running)
                raise DcosError(
                    f"timed out after {self.timeout:g}s waiting for {steps}",
                    deployment_ids=sorted(d.get("id") for d in running),
                )
            delay = self.pause(delay, deadline)

    def wait_apps(self, app_ids, deadline=None, gone=()):
        """Until every app of ``app_ids`` is ready and every app of ``gone`` has disappeared.

        Returns ``{app_id: app}`` from the last poll (tasks embedded).
        """
        wanted = set(app_ids)
        gone = set(gone)
        if deadline is None:
            deadline = self.clock() + self.timeout
        everything = wanted | gone
        prefix = next(iter(everything)) if len(everything) == 1 else common_group(everything)
        delay = self.interval
        while True:
            apps = {a["id"]: a for a in self.client.list_apps(id_filter=prefix, embed=("apps.tasks",))}
            waiting = []
            for app_id in sorted(wanted):
                app = apps.get(app_id)
                if app is None:
                    waiting.append(f"{app_id}: not found")
                    continue
                ready, reason = app_readiness(app)
                if not ready:
                    waiting.append(f"{app_id}: {reason}")
            waiting += [f"{app_id}: still present" for app_id in sorted(gone) if app_id in apps]
            if not waiting:
                return {k: v for k, v in apps.items() if k in wanted}
            if self.clock() >= deadline:
                done = ", ".join(sorted(d for d in self._finished if d))
                after = f" (deployment {done} finished)" if done else ""
                raise DcosError(
                    f"timed out after {self.timeout:g}s waiting for the tasks{after}: " + "; ".join(waiting[:10]),
                    waiting=waiting,
                )
            delay = self.pause(delay, deadline)

    def wait(self, deployment_ids, app_ids=(), gone=()):
        """Wait for ``deployment_ids`` to finish, then for ``app_ids`` to be ready and ``gone`` to vanish."""
        deadline = self.clock() + self.timeout
        self.wait_deployments(deployment_ids, deadline)
        self._finished = list(deployment_ids)
        if app_ids or gone:
            return self.wait_apps(app_ids, deadline, gone=gone)
        return {}


def common_group(app_ids):
    """The deepest group holding every id (``/a/b/x``, ``/a/b/y`` -> ``/a/b/``), or ``None`` for root."""
    paths = [a.strip("/").split("/")[:-1] for a in app_ids if a]
    if not paths:
        return None
    common = paths[0]
    for parts in paths[1:]:
        n = 0
        while n < min(len(common), len(parts)) and common[n] == parts[n]:
            n += 1
        common = common[:n]
    if not common:
        return None
    return "/" + "/".join(common) + "/"


def call_unlocked(action, waiter, force, deadline=None):
    """Run ``action(force)``; on a 409 lock, wait the blocking deployments out and retry.

    With ``force`` the first call already sends ``force=true``. Without it, a lock that outlives
    ``deadline`` ends in a :class:`DcosError` naming the blocking deployments. Retries pause
    between tries, so a lock Marathon keeps reporting (a deployment it does not list) is waited
    out too, not hammered.
    """
    if deadline is None:
        deadline = waiter.clock() + waiter.timeout
    delay = waiter.interval
    while True:
        try:
            return action(force)
        except MarathonLocked as locked:
            try:
                waiter.wait_deployments(locked.deployment_ids, deadline)
            except DcosError:
                raise _lock_outlived(locked, waiter) from None
            if waiter.clock() >= deadline:
                raise _lock_outlived(locked, waiter) from None
            delay = waiter.pause(delay, deadline)


def _lock_outlived(locked, waiter):
    blockers = ", ".join(locked.deployment_ids) or "(Marathon named none)"
    return DcosError(
        f"the app is locked by deployment(s) {blockers} that did not finish within {waiter.timeout:g}s; "
        "use force=true to override",
        deployment_ids=locked.deployment_ids,
    )
