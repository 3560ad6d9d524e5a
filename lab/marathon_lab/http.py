# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Marathon's v2 REST API over the standard library's threaded HTTP server."""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import queue
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

from . import __version__
from .appdef import canonical_id, present
from .core import appdef_ts
from .errors import ApiError, ValidationFailed
from .events import CLOSED

LOG = logging.getLogger("marathon_lab.http")
MARATHON_VERSION = "1.11.24"
JSON_TYPE = "application/json; charset=utf-8"

READ_METHODS = ("GET", "HEAD")
# What Marathon answers on /v2/events without the right Accept header (events.raml, 405 example).
EVENTS_405_PAGE = """<html>
<head>
<meta http-equiv="Content-Type" content="text/html;charset=ISO-8859-1"/>
<title>Error 405 </title>
</head>
<body>
<h2>HTTP ERROR: 405</h2>
<p>Problem accessing /v2/events. Reason:
<pre>    HTTP method GET is not supported by this URL</pre></p>
<hr /><a href="http://eclipse.org/jetty">Powered by Jetty:// 9.3.z-SNAPSHOT</a><hr/>
</body>
</html>
"""


def _bool(query, name, default):
    values = query.get(name)
    if not values:
        return default
    return values[-1].strip().lower() == "true"


def parse_label_selector(text):
    """Marathon's label selector: ``k``, ``k==v``, ``k!=v``, ``k in (a,b)``, ``k notin (a,b)``; comma = AND."""
    terms, depth, current = [], 0, ""
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            terms.append(current.strip())
            current = ""
        else:
            current += char
    if current.strip():
        terms.append(current.strip())
    selectors = []
    for term in terms:
        match = re.match(r"^(\S+)\s+(in|notin)\s+\((.*)\)$", term)
        if match:
            values = {v.strip() for v in match.group(3).split(",")}
            selectors.append((match.group(1), match.group(2), values))
        elif "==" in term:
            key, value = term.split("==", 1)
            selectors.append((key.strip(), "in", {value.strip()}))
        elif "!=" in term:
            key, value = term.split("!=", 1)
            selectors.append((key.strip(), "notin", {value.strip()}))
        else:
            selectors.append((term, "exists", None))
    return selectors


def label_matches(labels, selectors):
    for key, op, values in selectors:
        if op == "exists" and key not in labels:
            return False
        if op == "in" and labels.get(key) not in values:
            return False
        if op == "notin" and key in labels and labels[key] in values:
            return False
    return True


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "marathon-lab"
    lab = None  # set by make_server
    _body = b""

    # ------------------------------------------------------------ plumbing
    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        LOG.debug("%s - %s", self.address_string(), format % args)

    def _leader(self):
        cfg = self.lab.config
        return f"{cfg.hostname}:{cfg.port}"

    def _send(self, status, body=None, headers=None, content_type=JSON_TYPE):
        if body is None:
            payload = b""
        elif isinstance(body, (bytes, str)):
            payload = body.encode("utf-8") if isinstance(body, str) else body
        else:
            payload = json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("X-Marathon-Leader", f"http://{self._leader()}")
        if payload or status not in (204, 202):
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _read_body(self):
        """Read the request body once, before any answer, so keep-alive connections stay in step."""
        length = int(self.headers.get("Content-Length") or 0)
        self._body = self.rfile.read(length) if length > 0 else b""

    def _read_json(self):
        raw = self._body
        try:
            return json.loads(raw.decode("utf-8") or "null")
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ApiError(400, "Invalid JSON", details=f"Unexpected character: {exc}") from exc

    def _deployment_result(self, plan, status=200, extra_headers=None):
        headers = {"Marathon-Deployment-Id": plan["id"]}
        headers.update(extra_headers or {})
        self._send(status, {"deploymentId": plan["id"], "version": plan["version"]}, headers)

    def _authorised(self):
        auth = self.lab.config.auth or {}
        users = auth.get("users") or {}
        if not users:
            return True
        header = self.headers.get("Authorization") or ""
        user = None
        if header.startswith("Basic "):
            try:
                name, _sep, password = base64.b64decode(header[6:]).decode("utf-8").partition(":")
            except (ValueError, UnicodeDecodeError):
                name, password = "", None
            entry = users.get(name)
            if entry is not None and str(entry.get("password")) == password:
                user = entry
        if user is None:
            self._send(
                401,
                {"message": "Invalid username or password."},
                {"WWW-Authenticate": 'Basic realm="Mesosphere Marathon"'},
            )
            return False
        if self.command not in READ_METHODS and user.get("role", "admin") != "admin":
            self._send(403, {"message": "Not Authorized to perform this action!"})
            return False
        return True

    def _dispatch(self):
        self.lab.counters["http_requests"] += 1
        split = urlsplit(self.path)
        path = unquote(split.path)
        query = parse_qs(split.query, keep_blank_values=True)
        try:
            self._read_body()
            if path == "/ping":
                self._ping()
                return
            if not self._authorised():
                return
            self._route(path, query)
        except ApiError as exc:
            self._send(exc.status, exc.body)
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception as exc:  # pylint: disable=broad-except
            LOG.exception("request failed")
            with contextlib.suppress(OSError):
                self._send(500, {"message": f"An unexpected server error occurred: {exc}"})

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _dispatch  # noqa: N815

    # ------------------------------------------------------------ routing
    # (path regex, {method: handler name}); handlers take (match, query). HEAD follows GET.
    ROUTES = [
        (r"/v2/info/?", {"GET": "_h_info"}),
        (r"/v2/leader", {"GET": "_h_leader", "DELETE": "_h_abdicate"}),
        (r"/metrics", {"GET": "_h_metrics"}),
        (
            r"/v2/apps/?",
            {"GET": "_h_apps_list", "POST": "_h_apps_create", "PUT": "_h_apps_batch", "PATCH": "_h_apps_batch"},
        ),
        (r"/v2/apps(?P<id>/.*?)/\*", {"GET": "_h_app_group"}),
        (r"/v2/apps(?P<id>/.+?)/restart", {"POST": "_h_app_restart", "DELETE": "_h_app_restart_delete"}),
        (r"/v2/apps(?P<id>/.+?)/tasks", {"GET": "_h_app_tasks", "DELETE": "_h_app_tasks_kill"}),
        (r"/v2/apps(?P<id>/.+?)/tasks/(?P<task>[^/]+)", {"DELETE": "_h_app_task_kill"}),
        (r"/v2/apps(?P<id>/.+?)/versions", {"GET": "_h_app_versions"}),
        (r"/v2/apps(?P<id>/.+?)/versions/(?P<version>[^/]+)", {"GET": "_h_app_version"}),
        (
            r"/v2/apps(?P<id>/.+?)/?",
            {"GET": "_h_app_get", "PUT": "_h_app_put", "PATCH": "_h_app_put", "DELETE": "_h_app_delete"},
        ),
        (r"/v2/groups/?", {"GET": "_h_group_get", "DELETE": "_h_group_delete"}),
        (r"/v2/groups(?P<id>/.+?)/?", {"GET": "_h_group_get", "DELETE": "_h_group_delete"}),
        (r"/v2/tasks/?", {"GET": "_h_tasks_list"}),
        (r"/v2/tasks/delete", {"POST": "_h_tasks_delete"}),
        (r"/v2/deployments/?", {"GET": "_h_deployments"}),
        (r"/v2/deployments/(?P<deployment>[^/]+)", {"DELETE": "_h_deployment_delete"}),
        (r"/v2/queue/?", {"GET": "_h_queue"}),
        (r"/v2/queue(?P<id>/.+?)/delay", {"DELETE": "_h_queue_delay"}),
        (r"/v2/events", {"GET": "_h_events"}),
    ]
    COMPILED = [(re.compile(f"^{regex}$"), methods) for regex, methods in ROUTES]

    def _route(self, path, query):
        method = "GET" if self.command == "HEAD" else self.command
        for regex, methods in self.COMPILED:
            match = regex.match(path)
            if match:
                if method not in methods:
                    raise ApiError(405, "HTTP 405 Method Not Allowed")
                getattr(self, methods[method])(match, query)
                return
        raise ApiError(500, "URI not found")

    @staticmethod
    def _app_id(match):
        return canonical_id(match.group("id"))

    def _h_info(self, _match, _query):
        self._send(200, self._info())

    def _h_leader(self, _match, _query):
        self._send(200, {"leader": self._leader()})

    def _h_abdicate(self, _match, _query):
        """Marathon's leader steps down: every event stream closes (a test hook for reconnects)."""
        self._send(200, {"message": "Leadership abdicated"})
        threading.Thread(target=self.lab.events.close_all, daemon=True).start()

    def _h_metrics(self, _match, _query):
        self._send(200, self._metrics())

    def _h_deployments(self, _match, _query):
        with self.lab.lock:
            plans = sorted(self.lab.deployments.values(), key=lambda p: p["createdAt"])
            body = [self.lab.deployment_json(p) for p in plans]
        self._send(200, body)

    def _h_deployment_delete(self, match, query):
        plan = self.lab.revert_deployment(match.group("deployment"), force=_bool(query, "force", False))
        if plan is None:
            self._send(202, None)
        else:
            self._deployment_result(plan)

    def _h_queue(self, _match, _query):
        with self.lab.lock:
            self._send(200, self.lab.queue_json())

    def _h_queue_delay(self, match, _query):
        self.lab.reset_delay(self._app_id(match))
        self._send(204, None)

    def _h_events(self, _match, query):
        self._events(query)

    def _ping(self):
        accept = self.headers.get("Accept") or "*/*"
        if "application/json" in accept:
            self._send(200, '"pong"')
        elif "text/plain" in accept or "*/*" in accept:
            self._send(200, "pong", content_type="text/plain; charset=utf-8")
        else:
            self._send(204, None)

    def _info(self):
        cfg = self.lab.config
        return {
            "name": "marathon",
            "version": MARATHON_VERSION,
            "buildref": f"marathon-lab-{__version__}",
            "elected": True,
            "leader": self._leader(),
            "frameworkId": cfg.framework_id,
            "marathon_config": {
                "checkpoint": True,
                "default_network_name": cfg.default_network_name,
                "env_vars_prefix": None,
                "executor": "//cmd",
                "failover_timeout": 604800,
                "features": ["task_killing"],
                "framework_name": "marathon",
                "ha": False,
                "hostname": cfg.hostname,
                "launch_token": 100,
                "local_port_max": cfg.service_port_max,
                "local_port_min": cfg.service_port_min,
                "master": "local (marathon-lab: Docker engine as the single agent)",
                "max_instances_per_offer": 5,
                "mesos_role": "*",
                "mesos_user": "root",
                "max_running_deployments": cfg.max_running_deployments,
                "webui_url": None,
            },
            "zookeeper_config": {
                "zk": "zk://localhost:2181/marathon",
                "zk_compression": True,
                "zk_max_versions": 50,
                "zk_session_timeout": 10000,
                "zk_timeout": 10000,
            },
            "http_config": {"http_port": cfg.port, "https_port": 8443},
        }

    def _metrics(self):
        lab = self.lab
        with lab.lock:
            gauges = {
                "marathon.apps.active.gauge": len(lab.apps),
                "marathon.deployments.active.gauge": len(lab.deployments),
                "marathon.instances.running.gauge": sum(1 for t in lab.tasks.values() if t["state"] == "TASK_RUNNING"),
                "marathon.instances.staged.gauge": sum(
                    1 for t in lab.tasks.values() if t["state"] in ("TASK_STAGING", "TASK_STARTING")
                ),
                "marathon.http.event-streams.active.gauge": lab.events.count(),
                "marathon.uptime.gauge.seconds": int(time.time() - lab.started_at),
            }
            counters = {
                "marathon.instances.launched.counter": lab.counters["launched"],
                "marathon.tasks.failed.counter": lab.counters["failed"],
                "marathon.tasks.killed.counter": lab.counters["killed"],
                "marathon.http.requests.counter": lab.counters["http_requests"],
                "marathon.events.published.counter": lab.events.published,
            }
        return {
            "version": "4.0.0",
            "gauges": {k: {"value": v} for k, v in gauges.items()},
            "counters": {k: {"count": v} for k, v in counters.items()},
            "histograms": {},
            "meters": {},
            "timers": {},
        }

    # ------------------------------------------------------------ apps
    def _embed(self, query, prefix="apps."):
        embeds = set()
        for value in query.get("embed", []):
            for raw in value.split(","):
                item = raw.strip()
                if item.startswith(prefix):
                    embeds.add(item[len(prefix) :])
                elif prefix == "apps." and item.startswith("app."):
                    embeds.add(item[4:])
        if "failures" in embeds:
            embeds.add("lastTaskFailure")
        return embeds

    def _origin(self):
        """Who asked, for ``api_post_event``."""
        return self.client_address[0], urlsplit(self.path).path

    # ------------------------------------------------------------ /v2/apps
    def _h_apps_list(self, _match, query):
        lab = self.lab
        embeds = self._embed(query)
        id_filter = (query.get("id") or [""])[-1].lower()
        cmd_filter = (query.get("cmd") or [""])[-1].lower()
        selectors = parse_label_selector((query.get("label") or [""])[-1]) if query.get("label") else []
        with lab.lock:
            apps = []
            for app_id in sorted(lab.apps):
                app = lab.apps[app_id]
                if id_filter and id_filter not in app_id.lower():
                    continue
                if cmd_filter and cmd_filter not in (app.get("cmd") or "").lower():
                    continue
                if selectors and not label_matches(app.get("labels") or {}, selectors):
                    continue
                apps.append(lab.app_json(app, embeds))
        self._send(200, {"apps": apps})

    def _h_apps_create(self, _match, query):
        lab = self.lab
        app, plan = lab.create_app(self._read_json(), force=_bool(query, "force", False), origin=self._origin())
        with lab.lock:
            data = lab.app_json(app)
        data["tasksStaged"] = data["tasksRunning"] = data["tasksHealthy"] = data["tasksUnhealthy"] = 0
        data["deployments"] = [{"id": plan["id"]}]
        data["tasks"] = []
        headers = {"Location": f"http://{self._leader()}{app['id']}", "Marathon-Deployment-Id": plan["id"]}
        self._send(201, data, headers)

    def _h_apps_batch(self, _match, query):
        plan = self.lab.update_many(
            self._read_json(),
            force=_bool(query, "force", False),
            partial=self.command == "PATCH" or _bool(query, "partialUpdate", True),
            allow_create=self.command == "PUT",
        )
        self._deployment_result(plan)

    def _h_app_group(self, match, _query):
        lab = self.lab
        prefix = self._app_id(match).rstrip("/") + "/"
        with lab.lock:
            apps = [
                lab.app_json(a, {"tasks", "lastTaskFailure"})
                for i, a in sorted(lab.apps.items())
                if i.startswith(prefix)
            ]
        self._send(200, {"*": apps})

    def _h_app_get(self, match, query):
        lab = self.lab
        embeds = {"tasks", "lastTaskFailure", "counts", "deployments"} | self._embed(query, "app.")
        with lab.lock:
            app = lab.get_app(self._app_id(match))
            body = {"app": lab.app_json(app, embeds)}
        self._send(200, body)

    def _h_app_put(self, match, query):
        app_id = self._app_id(match)
        created, plan, _app = self.lab.update_app(
            app_id,
            self._read_json(),
            force=_bool(query, "force", False),
            partial=self.command == "PATCH" or _bool(query, "partialUpdate", True),
            allow_create=self.command == "PUT",
            origin=self._origin(),
        )
        headers = {"Location": f"http://{self._leader()}{app_id}"} if created else {}
        self._deployment_result(plan, 201 if created else 200, headers)

    def _h_app_delete(self, match, query):
        # force defaults to true on this one call only, as in Marathon.
        self._deployment_result(self.lab.delete_app(self._app_id(match), force=_bool(query, "force", True)))

    def _h_app_restart(self, match, query):
        self._deployment_result(self.lab.restart_app(self._app_id(match), force=_bool(query, "force", False)))

    def _h_app_restart_delete(self, match, query):
        # Not an endpoint: Marathon treats it as the delete of an app literally named ".../restart".
        app_id = self._app_id(match) + "/restart"
        self._deployment_result(self.lab.delete_app(app_id, force=_bool(query, "force", True)))

    def _h_app_versions(self, match, _query):
        lab = self.lab
        app_id = self._app_id(match)
        with lab.lock:
            lab.get_app(app_id)
            versions = sorted(lab.versions.get(app_id, {}), reverse=True)
        self._send(200, {"versions": versions})

    def _h_app_version(self, match, _query):
        lab = self.lab
        app_id = self._app_id(match)
        wanted = match.group("version")
        try:
            key = appdef_ts(wanted)
        except ValidationFailed:
            key = wanted
        with lab.lock:
            lab.get_app(app_id)
            stored = lab.versions.get(app_id, {}).get(key)
        if stored is None:
            raise ApiError(404, f"App '{app_id}' does not exist in version {wanted}")
        self._send(200, present(stored))

    def _wants_text(self):
        accept = self.headers.get("Accept") or ""
        return "text/plain" in accept and "json" not in accept

    def _h_app_tasks(self, match, _query):
        lab = self.lab
        app_id = self._app_id(match)
        with lab.lock:
            lab.get_app(app_id)
            tasks = [lab.task_json(t) for t in lab.app_tasks(app_id)]
        if self._wants_text():
            self._send(200, self._tasks_text({app_id: tasks}), content_type="text/plain; charset=utf-8")
        else:
            self._send(200, {"tasks": tasks})

    @staticmethod
    def _scale_wipe(query):
        scale, wipe = _bool(query, "scale", False), _bool(query, "wipe", False)
        if scale and wipe:
            raise ApiError(400, "You cannot use scale and wipe at the same time.")
        return scale, wipe

    def _h_app_tasks_kill(self, match, query):
        lab = self.lab
        app_id = self._app_id(match)
        scale, wipe = self._scale_wipe(query)
        host = (query.get("host") or ["*"])[-1]
        with lab.lock:
            lab.get_app(app_id)
            ids = [t["id"] for t in lab.app_tasks(app_id) if host in ("*", t["host"])]
        killed, plan = lab.kill_tasks(ids, scale=scale, wipe=wipe, force=_bool(query, "force", False))
        if plan is not None:
            self._deployment_result(plan)
        else:
            self._send(200, {"tasks": killed})

    def _h_app_task_kill(self, match, query):
        lab = self.lab
        app_id = self._app_id(match)
        scale, wipe = self._scale_wipe(query)
        task_id = match.group("task")
        with lab.lock:
            lab.get_app(app_id)
            task = lab.tasks.get(task_id)
            if task is None or task["appId"] != app_id:
                raise ApiError(404, f"Task '{task_id}' does not exist")
        killed, plan = lab.kill_tasks([task_id], scale=scale, wipe=wipe, force=_bool(query, "force", False))
        if plan is not None:
            self._deployment_result(plan)
        else:
            self._send(200, {"task": killed[0]})

    # ------------------------------------------------------------ /v2/groups
    @staticmethod
    def _group_id(match):
        return canonical_id(match.groupdict().get("id") or "/")

    @staticmethod
    def _group_embed(query):
        """Marathon's resolveAppGroup: ``group.apps.*`` are app embeds, the rest group embeds.

        No ``embed`` at all means ``group.groups`` and ``group.apps`` (and pods, of which the lab
        has none); unknown values are ignored, as Marathon does.
        """
        values = {item.strip() for value in query.get("embed", []) for item in value.split(",") if item.strip()}
        if not values:
            values = {"group.groups", "group.apps", "group.pods"}
        app_embed = set()
        for item in values:
            if not item.startswith("group.apps."):
                continue
            name = item[len("group.apps.") :]
            if name in ("tasks", "failures"):
                app_embed.update({"tasks", "deployments"})
            if name in ("failures", "lastTaskFailure"):
                app_embed.add("lastTaskFailure")
            if name in ("deployments", "counts", "readiness"):
                app_embed.add(name)
        return "group.apps" in values, "group.groups" in values, app_embed

    def _h_group_get(self, match, query):
        lab = self.lab
        apps, groups, app_embed = self._group_embed(query)
        raw = match.groupdict().get("id") or ""
        with lab.lock:
            if raw == "/apps" or raw.endswith("/apps"):
                # GET /v2/groups/{id}/apps: every app under the group, a bare array ([] if unknown),
                # as Marathon's ListApps path matcher answers (it shadows a group named "apps").
                ids = lab.group_app_ids(canonical_id(raw[: -len("/apps")] or "/"))
                body = [lab.group_app_json(lab.apps[i], app_embed) for i in ids]
            else:
                body = lab.group_json(self._group_id(match), apps, groups, app_embed)
        self._send(200, body)

    def _h_group_delete(self, match, query):
        self._deployment_result(self.lab.delete_group(self._group_id(match), force=_bool(query, "force", False)))

    # ------------------------------------------------------------ /v2/tasks
    def _tasks_text(self, by_app):
        lines = []
        with self.lab.lock:
            for app_id, tasks in sorted(by_app.items()):
                app = self.lab.apps.get(app_id) or {}
                service_ports = [d.get("port") for d in app.get("portDefinitions") or []] or [
                    m.get("servicePort") for m in (app.get("container") or {}).get("portMappings") or []
                ]
                for index, port in enumerate(service_ports or [0]):
                    endpoints = [f"{t['host']}:{t['ports'][index]}" for t in tasks if index < len(t.get("ports") or [])]
                    lines.append("\t".join([app_id.strip("/").replace("/", "_"), str(port), *endpoints]))
        return "\n".join(lines) + ("\n" if lines else "")

    def _h_tasks_list(self, _match, query):
        lab = self.lab
        wanted = {"TASK_" + v.strip().upper() for v in query.get("status", []) + query.get("status[]", [])}
        with lab.lock:
            ordered = sorted(lab.tasks.values(), key=lambda t: (t["appId"], t.get("stagedAt") or ""))
            tasks = [lab.task_json(t) for t in ordered]
        if wanted:
            tasks = [t for t in tasks if t["state"] in wanted]
        if self._wants_text():
            by_app = {}
            for task in tasks:
                by_app.setdefault(task["appId"], []).append(task)
            self._send(200, self._tasks_text(by_app), content_type="text/plain; charset=utf-8")
            return
        self._send(200, {"tasks": tasks})

    def _h_tasks_delete(self, _match, query):
        lab = self.lab
        body = self._read_json()
        if not isinstance(body, dict) or not isinstance(body.get("ids"), list):
            raise ValidationFailed([{"path": "/ids", "errors": ["error.path.missing"]}], "Invalid JSON")
        scale, wipe = self._scale_wipe(query)
        with lab.lock:
            for task_id in body["ids"]:
                if task_id not in lab.tasks:
                    raise ApiError(400, f"Invalid task id {task_id}")
        killed, plan = lab.kill_tasks(body["ids"], scale=scale, wipe=wipe, force=_bool(query, "force", False))
        if plan is not None:
            self._deployment_result(plan)
        else:
            self._send(200, {"tasks": killed})

    def _events(self, query):
        # Marathon's servlet is Jetty's EventSourceServlet: it streams only when one Accept header
        # field *equals* "text/event-stream" (String.equals, per field, no media-range parsing), so
        # parameters, lists and q-values all fall through to HttpServlet.doGet: 405, an HTML page.
        accepts = [v.strip() for v in self.headers.get_all("Accept") or []]
        if "text/event-stream" not in accepts:
            self._send(405, EVENTS_405_PAGE, content_type="text/html;charset=ISO-8859-1")
            return
        types = [v for v in query.get("event_type", []) if v]
        lab = self.lab
        subscriber = lab.events.subscribe(types)
        self.close_connection = True
        try:
            self.send_response(200)
            self.send_header("X-Marathon-Leader", f"http://{self._leader()}")
            self.send_header("Content-Type", "text/event-stream;charset=UTF-8")
            self.send_header("Cache-Control", "no-cache, no-store, max-age=0, must-revalidate")
            self.send_header("Pragma", "no-cache")
            self.send_header("Expires", "0")
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.flush()
            lab._publish("event_stream_attached", remoteAddress=self.client_address[0])  # pylint: disable=protected-access
            heartbeat = lab.config.heartbeat_seconds
            while True:
                try:
                    event = subscriber.queue.get(timeout=heartbeat)
                except queue.Empty:
                    self.wfile.write(b"\r\n")
                    self.wfile.flush()
                    continue
                if event is CLOSED or lab.stop_event.is_set():
                    break
                data = json.dumps(event, separators=(",", ":"))
                self.wfile.write(f"event: {event['eventType']}\r\ndata: {data}\r\n\r\n".encode())
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, OSError):
            pass
        finally:
            lab.events.unsubscribe(subscriber)
            lab._publish("event_stream_detached", remoteAddress=self.client_address[0])  # pylint: disable=protected-access


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def make_server(lab):
    handler = type("LabHandler", (Handler,), {"lab": lab})
    return Server((lab.config.listen, lab.config.port), handler)
