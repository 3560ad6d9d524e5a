# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A stand-in for ``open_url`` that answers like Marathon's v2 API, in memory.

It sits exactly where the real transport sits (the ``opener`` of ``MarathonClient``, or the
patched ``open_url``), records every request, and keeps just enough state for the module to be
exercised: apps, versions, deployments that finish after a number of polls, the 409 lock and
``force``, 404/422 bodies, and tasks that appear when a deployment finishes.
"""

from __future__ import annotations

import copy
import io
import json
import uuid
from email.message import Message
from urllib.error import HTTPError, URLError
from urllib.parse import parse_qs, unquote, urlsplit


class FakeResponse:
    def __init__(self, status, body, headers=None):
        self.status = status
        self._raw = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        self.headers = Message()
        for key, value in (headers or {}).items():
            self.headers[key] = value

    def read(self):
        return self._raw

    def getcode(self):
        return self.status


class Request:
    def __init__(self, method, url, body, headers, options):
        parts = urlsplit(url)
        self.method = method
        self.url = url
        self.base = f"{parts.scheme}://{parts.netloc}"
        self.path = unquote(parts.path)
        self.query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        self.embed = parse_qs(parts.query).get("embed", [])
        self.body = json.loads(body) if body else None
        self.headers = dict(headers or {})
        self.options = options

    def __repr__(self):
        return f"{self.method} {self.path}"


class FakeMarathon:
    """Call it like ``open_url``. ``requests`` lists what was sent; ``writes`` the non-GETs."""

    def __init__(self, polls_per_deployment=1, base="http://marathon.test:8080"):
        self.base = base
        self.apps = {}
        self.versions = {}
        self.deployments = {}
        self.requests = []
        self.polls_per_deployment = polls_per_deployment
        self.clock = 0
        self.healthy = True

    # -- helpers for tests ----------------------------------------------------------------------

    @property
    def writes(self):
        return [r for r in self.requests if r.method != "GET"]

    def add_app(self, app, running=True):
        app = copy.deepcopy(app)
        app.setdefault("instances", 1)
        app["labels"] = {k: str(v) for k, v in (app.get("labels") or {}).items()}
        self._stamp(app)
        self.apps[app["id"]] = app
        if running:
            self._run_tasks(app)
        return app

    def lock(self, app_id, polls=2):
        """A deployment of someone else's that holds ``app_id`` for ``polls`` reads of /v2/deployments."""
        deployment_id = str(uuid.uuid4())
        self.deployments[deployment_id] = {
            "id": deployment_id,
            "affectedApps": [app_id],
            "polls": polls,
            "currentStep": 1,
            "totalSteps": 1,
            "currentActions": [{"action": "RestartApplication", "app": app_id}],
        }
        return deployment_id

    # -- the transport --------------------------------------------------------------------------

    def __call__(self, url, data=None, headers=None, method=None, **options):
        request = Request(method or "GET", url, data, headers, options)
        self.requests.append(request)
        status, body, extra = self.route(request)
        if 300 <= status < 400 or status >= 400:
            raise HTTPError(url, status, "error", _message(extra), io.BytesIO(json.dumps(body).encode()))
        return FakeResponse(status, body, extra)

    def route(self, request):  # noqa: PLR0911 - one branch per endpoint
        method, path = request.method, request.path
        if path == "/v2/deployments" and method == "GET":
            return 200, self._poll_deployments(), {}
        if path in ("/v2/apps", "/v2/apps/"):
            if method == "GET":
                return 200, {"apps": self._list(request)}, {}
            if method == "PUT":
                return self._put_many(request)
        if path.startswith("/v2/apps/"):
            rest = "/" + path[len("/v2/apps/") :].strip("/")
            if rest.endswith("/restart") and method == "POST":
                return self._restart(request, rest[: -len("/restart")])
            if "/versions" in rest:
                app_id, _sep, version = rest.partition("/versions")
                return self._versions(app_id, version.strip("/"))
            if method == "GET":
                app = self.apps.get(rest)
                if app is None:
                    return 404, {"message": f"App '{rest}' does not exist"}, {}
                return 200, {"app": copy.deepcopy(app)}, {}
            if method == "PUT":
                return self._put_one(request, rest)
            if method == "DELETE":
                return self._delete(request, rest)
        return 500, {"message": "URI not found"}, {}

    # -- endpoints ------------------------------------------------------------------------------

    def _list(self, request):
        apps = [copy.deepcopy(a) for a in self.apps.values()]
        if request.query.get("id"):
            apps = [a for a in apps if request.query["id"].lower() in a["id"].lower()]
        if request.query.get("label"):
            key, _sep, value = request.query["label"].partition("==")
            apps = [a for a in apps if key in a.get("labels", {}) and (not value or a["labels"][key] == value)]
        if "apps.tasks" not in request.embed:
            for app in apps:
                app.pop("tasks", None)
        return apps

    def _locked(self, request, app_ids, force_default=False):
        force = request.query.get("force", "true" if force_default else "false") == "true"
        blocking = [d for d in self.deployments.values() if set(d["affectedApps"]) & set(app_ids)]
        if blocking and not force:
            return (
                409,
                {
                    "message": "App is locked by one or more deployments. Override with the option '?force=true'. "
                    f"View details at '/v2/deployments/{blocking[0]['id']}'.",
                    "deployments": [{"id": d["id"]} for d in blocking],
                },
                {},
            )
        for deployment in blocking:
            del self.deployments[deployment["id"]]
        return None

    def _validate(self, body):
        if isinstance(body.get("instances"), int) and body["instances"] < 0:
            return (
                422,
                {
                    "message": "Object is not valid",
                    "details": [{"path": "/instances", "errors": ["error.min"]}],
                },
                {},
            )
        return None

    def _put_one(self, request, app_id):
        body = request.body
        locked = self._locked(request, [app_id])
        if locked:
            return locked
        if set(body) - {"id"} == {"version"}:
            stored = self.versions.get(app_id, {}).get(body["version"])
            if stored is None:
                return 404, {"message": f"App '{app_id}' does not exist in version {body['version']}"}, {}
            body = {k: v for k, v in stored.items() if k not in ("version", "versionInfo")}
        invalid = self._validate(body)
        if invalid:
            return invalid
        created = app_id not in self.apps
        self._apply(app_id, body)
        deployment = self._deploy([app_id])
        return 201 if created else 200, deployment, {"Marathon-Deployment-Id": deployment["deploymentId"]}

    def _put_many(self, request):
        ids = [("/" + b["id"].strip("/")) for b in request.body]
        locked = self._locked(request, ids)
        if locked:
            return locked
        for body in request.body:
            invalid = self._validate(body)
            if invalid:
                return invalid
        for app_id, body in zip(ids, request.body):
            self._apply(app_id, body)
        deployment = self._deploy(ids)
        return 200, deployment, {"Marathon-Deployment-Id": deployment["deploymentId"]}

    def _delete(self, request, app_id):
        if app_id not in self.apps:
            return 404, {"message": f"App '{app_id}' does not exist"}, {}
        locked = self._locked(request, [app_id], force_default=True)
        if locked:
            return locked
        del self.apps[app_id]
        self.versions.pop(app_id, None)
        deployment = self._deploy([])
        return 200, deployment, {"Marathon-Deployment-Id": deployment["deploymentId"]}

    def _restart(self, request, app_id):
        if app_id not in self.apps:
            return 404, {"message": f"App '{app_id}' does not exist"}, {}
        locked = self._locked(request, [app_id])
        if locked:
            return locked
        app = self.apps[app_id]
        self._stamp(app)
        app["tasks"] = []
        app["tasksRunning"] = 0
        deployment = self._deploy([app_id])
        return 200, deployment, {"Marathon-Deployment-Id": deployment["deploymentId"]}

    def _versions(self, app_id, version):
        if app_id not in self.apps:
            return 404, {"message": f"App '{app_id}' does not exist"}, {}
        if not version:
            return 200, {"versions": sorted(self.versions.get(app_id, {}), reverse=True)}, {}
        stored = self.versions.get(app_id, {}).get(version)
        if stored is None:
            return 404, {"message": f"App '{app_id}' does not exist in version {version}"}, {}
        return 200, copy.deepcopy(stored), {}

    # -- state ----------------------------------------------------------------------------------

    def _stamp(self, app):
        self.clock += 1
        version = f"2026-11-29T16:00:{self.clock:02d}.000Z"
        app["version"] = version
        app["versionInfo"] = {"lastConfigChangeAt": version, "lastScalingAt": version}
        stored = {k: copy.deepcopy(v) for k, v in app.items() if not k.startswith("tasks") and k != "deployments"}
        self.versions.setdefault(app["id"], {})[version] = stored

    def _apply(self, app_id, body):
        app = copy.deepcopy(self.apps.get(app_id, {"instances": 1}))
        app.update(copy.deepcopy(body))
        app["id"] = app_id
        for label, value in (app.get("labels") or {}).items():
            if not isinstance(value, str):
                raise AssertionError(f"label {label} sent as {type(value).__name__}")
        self._stamp(app)
        app["tasks"] = []
        app.update(tasksRunning=0, tasksHealthy=0, tasksStaged=app["instances"], tasksUnhealthy=0)
        self.apps[app_id] = app

    def _deploy(self, app_ids):
        deployment_id = str(uuid.uuid4())
        self.deployments[deployment_id] = {
            "id": deployment_id,
            "affectedApps": list(app_ids),
            "polls": self.polls_per_deployment,
            "currentStep": 1,
            "totalSteps": 1,
            "currentActions": [{"action": "ScaleApplication", "app": a} for a in app_ids],
        }
        return {"deploymentId": deployment_id, "version": f"2026-11-29T16:00:{self.clock:02d}.000Z"}

    def _run_tasks(self, app):
        checks = app.get("healthChecks") or []
        app["tasks"] = [
            {
                "id": f"{app['id'].strip('/').replace('/', '_')}.instance-{n}",
                "appId": app["id"],
                "host": "10.0.0.1",
                "ports": [31000 + n],
                "state": "TASK_RUNNING",
                "version": app["version"],
                "healthCheckResults": [{"alive": self.healthy} for _check in checks],
            }
            for n in range(app["instances"])
        ]
        healthy = app["instances"] if (self.healthy or not checks) else 0
        app.update(tasksRunning=app["instances"], tasksHealthy=healthy if checks else 0, tasksStaged=0)

    def _poll_deployments(self):
        for deployment in list(self.deployments.values()):
            if deployment["polls"] <= 0:
                del self.deployments[deployment["id"]]
                for app_id in deployment["affectedApps"]:
                    if app_id in self.apps:
                        self._run_tasks(self.apps[app_id])
            else:
                deployment["polls"] -= 1
        return [{k: v for k, v in d.items() if k != "polls"} for d in self.deployments.values()]


def _message(headers):
    message = Message()
    for key, value in (headers or {}).items():
        message[key] = value
    return message


class Unreachable:
    """An ``open_url`` for a host that refuses connections."""

    def __init__(self):
        self.calls = 0

    def __call__(self, url, **kwargs):
        self.calls += 1
        raise URLError(ConnectionRefusedError(111, "Connection refused"))


# -- scripted answers, for the client's own tests -------------------------------------------------


class Script:
    """``open_url`` answering from a list of (url prefix, outcome); records the calls."""

    def __init__(self, *outcomes):
        self.outcomes = list(outcomes)
        self.calls = []

    def __call__(self, url, **kwargs):
        self.calls.append(dict(kwargs, url=url))
        for index, (prefix, outcome) in enumerate(self.outcomes):
            if url.startswith(prefix):
                del self.outcomes[index]
                if isinstance(outcome, Exception):
                    raise outcome
                return outcome
        raise AssertionError(f"unexpected request to {url}")


def http_error(url, status, body, headers=None):
    message = Message()
    for key, value in (headers or {}).items():
        message[key] = value
    raw = json.dumps(body).encode() if not isinstance(body, bytes) else body
    return HTTPError(url, status, "error", message, io.BytesIO(raw))


def ok(body, status=200, headers=None):
    return FakeResponse(status, body, headers)


REFUSED = URLError(ConnectionRefusedError(111, "Connection refused"))
