# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lab's state machine: apps, groups, versions, deployments, tasks, the launch queue and health.

Nothing here speaks HTTP. Docker is reached only through ``self.driver`` (see ``driver.py``),
so the state machine can be driven by a fake driver in tests.

One lock (``self.lock``) guards all state. A scheduler thread ticks a few times a second: it reads
the containers' states, advances deployments, launches and kills tasks (in worker threads, outside
the lock) and runs due health checks.
"""

from __future__ import annotations

import copy
import logging
import os
import random
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from . import appdef
from .driver import LABEL_APP, LABEL_INSTANCE, LABEL_TASK, LABEL_VERSION, LaunchFailed, run_options
from .errors import ApiError, ValidationFailed, app_locked, app_not_found, group_not_found, invalid
from .events import EventBus
from .health import HealthChecker
from .util import new_uuid, now_ms, parse_ts, read_json, timestamp, ts_from_ms, write_json_atomic

LOG = logging.getLogger("marathon_lab")
TERMINAL = ("TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_LOST", "TASK_ERROR", "TASK_DROPPED", "TASK_GONE")
CONDITION = {
    "TASK_STAGING": "Staging",
    "TASK_STARTING": "Starting",
    "TASK_RUNNING": "Running",
    "TASK_FINISHED": "Finished",
    "TASK_FAILED": "Failed",
    "TASK_KILLING": "Killing",
    "TASK_KILLED": "Killed",
    "TASK_LOST": "Unknown",
    "TASK_ERROR": "Error",
    "TASK_GONE": "Gone",
    "TASK_DROPPED": "Dropped",
}
MAX_VERSIONS = 50


class Config:
    """Runtime settings of one lab instance (see ``lab/config.yml``)."""

    def __init__(self, **kwargs):
        self.listen = kwargs.get("listen", "127.0.0.1")
        self.port = int(kwargs.get("port", 8080))
        self.state_dir = kwargs.get("state_dir", "/var/lib/pptv-dcos/lab/state")
        self.instance = kwargs.get("instance", "lab")
        self.name_prefix = kwargs.get("name_prefix", "mesos-")
        self.hostname = kwargs.get("hostname", "127.0.0.1")
        self.agent_ip = kwargs.get("agent_ip", "127.0.0.1")
        self.slave_id = kwargs.get("slave_id", "lab-agent-S0")
        self.framework_id = kwargs.get("framework_id", "lab-framework-0000")
        self.host_port_min = int(kwargs.get("host_port_min", 31000))
        self.host_port_max = int(kwargs.get("host_port_max", 32000))
        self.service_port_min = int(kwargs.get("service_port_min", 10000))
        self.service_port_max = int(kwargs.get("service_port_max", 20000))
        self.tick_seconds = float(kwargs.get("tick_seconds", 0.25))
        self.kill_grace_seconds = float(kwargs.get("kill_grace_seconds", 3))
        self.remove_delay_seconds = float(kwargs.get("remove_delay_seconds", 0))
        self.heartbeat_seconds = float(kwargs.get("heartbeat_seconds", 10))
        self.max_running_deployments = int(kwargs.get("max_running_deployments", 100))
        self.event_stream_max_outstanding = int(kwargs.get("event_stream_max_outstanding", 1024))
        self.launch_workers = int(kwargs.get("launch_workers", 4))
        self.auth = kwargs.get("auth") or {}
        self.default_network_name = kwargs.get("default_network_name")

    def as_dict(self):
        return dict(self.__dict__)


def mesos_task_name(app_id):
    return ".".join(reversed(app_id.strip("/").split("/")))


def instance_prefix(app_id):
    return app_id.strip("/").replace("/", "_")


class Lab:
    """All of Marathon's state for one lab instance."""

    def __init__(self, config, driver, rng=None):
        self.config = config
        self.driver = driver
        # Host ports start from a random point of the range, as Marathon's PortsMatcher does;
        # tests may inject a seeded or scripted generator (``randrange`` is all it needs).
        self.rng = rng if rng is not None else random.Random()  # noqa: S311 # nosec - not for security
        self.lock = threading.RLock()
        self.events = EventBus(config.event_stream_max_outstanding)
        self.apps = {}
        # Group ID -> version. A group exists once an app was put under it and stays, empty, after
        # its last app is deleted, until DELETE /v2/groups removes it (Marathon's root group tree).
        self.groups = {"/": timestamp()}
        self.versions = {}
        self.tasks = {}
        self.deployments = {}
        self.delays = {}
        self.last_failures = {}
        self.reusable = {}
        self.stopping = set()
        self.removals = []  # (due time, container ID): stopped containers kept for remove_delay_seconds
        self.health = HealthChecker(self)
        self.pool = ThreadPoolExecutor(max_workers=config.launch_workers, thread_name_prefix="lab-launch")
        self.kill_pool = ThreadPoolExecutor(max_workers=config.launch_workers, thread_name_prefix="lab-kill")
        self.stop_event = threading.Event()
        self.thread = None
        self.dirty = False
        self.started_at = time.time()
        self.state_file = os.path.join(config.state_dir, "state.json")
        self.counters = {"launched": 0, "failed": 0, "killed": 0, "http_requests": 0}

    # ------------------------------------------------------------------ persistence
    def load(self):
        data = read_json(self.state_file, {}) or {}
        self.apps = data.get("apps", {})
        self.versions = data.get("versions", {})
        self.tasks = data.get("tasks", {})
        self.deployments = data.get("deployments", {})
        self.groups = data.get("groups") or {}
        for app_id, app in sorted(self.apps.items(), key=lambda item: item[1].get("version") or ""):
            for group_id in group_ancestors(app_id):
                self.groups.setdefault(group_id, app.get("version") or timestamp())
        self.groups.setdefault("/", timestamp())
        for task in self.tasks.values():
            task["healthCheckResults"] = []

    def save(self):
        with self.lock:
            tasks = {}
            for task_id, task in self.tasks.items():
                tasks[task_id] = {k: v for k, v in task.items() if k != "healthCheckResults"}
            data = {
                "apps": self.apps,
                "groups": self.groups,
                "versions": self.versions,
                "tasks": tasks,
                "deployments": self.deployments,
                "savedAt": timestamp(),
            }
            os.makedirs(self.config.state_dir, exist_ok=True)
            write_json_atomic(self.state_file, data)
            self.dirty = False

    def reconcile_containers(self):
        """On start: adopt our containers, remove strays we made, forget tasks whose container vanished."""
        containers = {c["id"]: c for c in self.driver.list_mine()}
        by_task = {c["labels"].get(LABEL_TASK): c for c in containers.values()}
        with self.lock:
            for task_id, task in list(self.tasks.items()):
                container = containers.get(task.get("containerId")) or by_task.get(task_id)
                if container is None:
                    if task.get("containerId") or task["state"] not in ("TASK_STAGING",):
                        self._finish_task(task, "TASK_LOST", "Container vanished while the lab was down")
                    else:
                        del self.tasks[task_id]
                    continue
                task["containerId"] = container["id"]
                self._sync_task(task, container)
            known = {t.get("containerId") for t in self.tasks.values()}
            for container_id, container in containers.items():
                if container_id in known:
                    continue
                if not container["running"] and self.config.remove_delay_seconds > 0:
                    # A stopped container of a finished task: Mesos leaves it for docker_remove_delay.
                    finished = parse_ts((container.get("finishedAt") or "")[:23] + "Z") or now_ms()
                    self.removals.append((finished / 1000.0 + self.config.remove_delay_seconds, container_id))
                    continue
                LOG.info("removing stray container %s", container["name"])
                self.driver.remove(container_id)
            self.dirty = True

    # ------------------------------------------------------------------ lifecycle
    def start(self):
        self.load()
        self.reconcile_containers()
        self.save()
        self.thread = threading.Thread(target=self._run, name="lab-scheduler", daemon=True)
        self.thread.start()

    def stop(self):
        self.stop_event.set()
        self.events.close_all()
        if self.thread is not None:
            self.thread.join(timeout=10)
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.kill_pool.shutdown(wait=False, cancel_futures=True)
        try:
            self.save()
        except OSError:
            LOG.exception("could not save state")

    def _run(self):
        while not self.stop_event.is_set():
            began = time.time()
            try:
                self.tick()
            except Exception:  # pylint: disable=broad-except
                LOG.exception("scheduler tick failed")
            self.stop_event.wait(max(0.02, self.config.tick_seconds - (time.time() - began)))

    # ------------------------------------------------------------------ helpers
    def _publish(self, event_type, **fields):
        return self.events.publish(event_type, **fields)

    def app_tasks(self, app_id):
        return [t for t in self.tasks.values() if t["appId"] == app_id]

    def deployments_for(self, app_id):
        return [d for d in self.deployments.values() if app_id in d["affectedApps"]]

    def get_app(self, app_id):
        app = self.apps.get(app_id)
        if app is None:
            raise app_not_found(app_id)
        return app

    def _used_service_ports(self, exclude=None):
        used = set()
        for app_id, app in self.apps.items():
            if app_id == exclude:
                continue
            for item in app.get("portDefinitions") or []:
                used.add(item.get("port"))
            for item in (app.get("container") or {}).get("portMappings") or []:
                used.add(item.get("servicePort"))
        return used

    def _service_port_allocator(self, app_id, taken):
        used = self._used_service_ports(exclude=app_id) | taken

        def allocate(wanted):
            if wanted:
                taken.add(wanted)
                return wanted
            for port in range(self.config.service_port_min, self.config.service_port_max + 1):
                if port not in used and port not in taken:
                    taken.add(port)
                    return port
            raise invalid("/portDefinitions", "no free service port")

        return allocate

    def _normalise(self, body, app_id, taken=None):
        body = dict(body)
        body["id"] = app_id
        return appdef.normalise(body, self._service_port_allocator(app_id, taken if taken is not None else set()))

    # ------------------------------------------------------------------ versions
    def _stamp(self, app_id, new, old, version):
        """Set ``version``/``versionInfo`` of ``new`` as Marathon's GroupVersioningUtil does."""
        if old is None:
            new["version"] = version
            new["versionInfo"] = {"lastScalingAt": version, "lastConfigChangeAt": version}
            return True
        old_cfg = appdef.config_part(_strip(dict(old)))
        new_cfg = appdef.config_part(_strip(dict(new)))
        if old_cfg != new_cfg:
            new["version"] = version
            new["versionInfo"] = {"lastScalingAt": version, "lastConfigChangeAt": version}
            return True
        if old["instances"] != new["instances"]:
            new["version"] = version
            new["versionInfo"] = {
                "lastScalingAt": version,
                "lastConfigChangeAt": old["versionInfo"]["lastConfigChangeAt"],
            }
            return True
        new["version"] = old["version"]
        new["versionInfo"] = dict(old["versionInfo"])
        return False

    def _store_version(self, app):
        history = self.versions.setdefault(app["id"], {})
        history[app["version"]] = copy.deepcopy(app)
        if len(history) > MAX_VERSIONS:
            for key in sorted(history, key=parse_ts)[: len(history) - MAX_VERSIONS]:
                del history[key]

    # ------------------------------------------------------------------ deployments
    def _check_locks(self, app_ids, force):
        conflicting = {d["id"] for app_id in app_ids for d in self.deployments_for(app_id)}
        if conflicting and not force:
            raise app_locked(conflicting)
        if not conflicting and len(self.deployments) >= self.config.max_running_deployments:
            raise ApiError(
                403,
                f"Max number ({self.config.max_running_deployments}) of running deployments is achieved. "
                "Wait for existing deployments to complete or cancel them.",
            )
        return conflicting

    def _cancel(self, deployment_id, reason="The deployment was canceled"):
        plan = self.deployments.pop(deployment_id, None)
        if plan is not None:
            self._publish("deployment_failed", id=plan["id"], plan=_light(plan), reason=reason)
        return plan

    def _create_deployment(self, changes, version, force, kind=None, group_id="/"):
        """``changes``: list of (app_id, old app or None, new app or None). Returns the plan.

        ``group_id`` is the group the change was made on, as ``group_change_success`` names it.
        """
        app_ids = [c[0] for c in changes]
        for dep_id in self._check_locks(app_ids, force):
            self._cancel(dep_id, "The deployment was canceled due to a forced deployment")
        steps = []
        start, scale, restart, stop = [], [], [], []
        for app_id, old, new in changes:
            action = self._action_for(app_id, old, new, kind)
            if old is None and new is not None:
                start.append({"action": "StartApplication", "app": app_id})
            if action == "StopApplication":
                stop.append({"action": action, "app": app_id})
            elif action == "RestartApplication":
                restart.append({"action": action, "app": app_id})
            elif action == "ScaleApplication":
                scale.append({"action": action, "app": app_id})
        for group in (stop, start):
            if group:
                steps.append({"actions": group})
        # Scale and restart actions run in dependency order: an app waits for the apps it lists in
        # `dependencies` (within this change) to be deployed, as Marathon's plan does.
        targets = {c[0]: c[2] for c in changes if c[2] is not None}
        levels = {}
        for action in scale + restart:
            levels.setdefault(_depth(action["app"], targets), []).append(action)
        for level in sorted(levels):
            steps.append({"actions": levels[level]})
        plan = {
            "id": new_uuid(),
            "version": version,
            "affectedApps": sorted(app_ids),
            "affectedPods": [],
            "steps": steps,
            "currentStep": 0,
            "totalSteps": len(steps),
            "original": {c[0]: c[1] for c in changes},
            "target": {c[0]: c[2] for c in changes},
            "createdAt": now_ms(),
        }
        self.deployments[plan["id"]] = plan
        self._touch_groups(app_ids, version)
        self._publish("group_change_success", groupId=group_id, version=version)
        self.dirty = True
        return plan

    def _action_for(self, app_id, old, new, kind):
        """The step action a change needs, or None (a no-op change still makes a deployment)."""
        if new is None:
            return "StopApplication" if old is not None else None
        if old is None:
            return "ScaleApplication" if new["instances"] > 0 else None
        config_changed = old["versionInfo"]["lastConfigChangeAt"] != new["versionInfo"]["lastConfigChangeAt"]
        if kind == "restart" or config_changed:
            return "RestartApplication" if new["instances"] > 0 or self.app_tasks(app_id) else None
        if old["instances"] != new["instances"] or len(self._live(app_id)) != new["instances"]:
            return "ScaleApplication"
        return None

    def _advance_deployments(self):
        for plan in list(self.deployments.values()):
            if plan["id"] not in self.deployments:
                continue
            while True:
                if plan["currentStep"] == 0 or self._step_done(plan):
                    if plan["currentStep"] > 0:
                        self._publish("deployment_step_success", plan=_light(plan), currentStep=_current(plan))
                    if plan["currentStep"] >= plan["totalSteps"]:
                        del self.deployments[plan["id"]]
                        self._publish("deployment_success", id=plan["id"], plan=_light(plan))
                        self.dirty = True
                        break
                    plan["currentStep"] += 1
                    self.dirty = True
                    self._publish("deployment_info", plan=_light(plan), currentStep=_current(plan))
                    continue
                break

    def _step_done(self, plan):
        step = plan["steps"][plan["currentStep"] - 1]
        return all(self._action_done(a) for a in step["actions"])

    def _action_done(self, action):
        app_id = action["app"]
        kind = action["action"]
        if kind == "StopApplication":
            return self._stop_done(app_id)
        app = self.apps.get(app_id)
        if kind == "StartApplication" or app is None:
            return True
        if any(t.get("killing") for t in self.app_tasks(app_id)):
            return False
        live = self._live(app_id)
        new = [t for t in live if self._is_current(t, app)]
        return len(new) == len(live) == app["instances"] and all(self.task_available(t, app) for t in new)

    def _stop_done(self, app_id):
        if self.app_tasks(app_id) or app_id in self.apps:
            return False
        if app_id in self.stopping:
            self.stopping.discard(app_id)
            self._publish("app_terminated_event", appId=app_id)
        return True

    def active_action(self, app_id):
        for plan in self.deployments.values():
            if plan["currentStep"] == 0:
                continue
            for action in plan["steps"][plan["currentStep"] - 1]["actions"]:
                if action["app"] == app_id:
                    return action["action"]
        return None

    # ------------------------------------------------------------------ API operations
    def _api_post(self, origin, app):
        if origin is not None:
            self._publish("api_post_event", clientIp=origin[0], uri=origin[1], appDefinition=appdef.present(app))

    def create_app(self, body, force=False, origin=None):
        appdef.type_check(body)
        if "id" not in body:
            raise invalid("/id", "error.path.missing")
        app_id = appdef.check_id(body["id"])
        with self.lock:
            if app_id in self.apps:
                raise ApiError(409, f"An app with id [{app_id}] already exists.")
            app = self._normalise(body, app_id)
            version = timestamp()
            self._stamp(app_id, app, None, version)
            plan = self._create_deployment([(app_id, None, app)], version, force)
            self.apps[app_id] = app
            self._store_version(app)
            self.delays.pop(app_id, None)
            self._api_post(origin, app)
            self.save()
            return app, plan

    def update_app(self, app_id, body, force=False, partial=True, allow_create=True, origin=None):
        """PUT/PATCH one app. Returns (created, plan, app)."""
        appdef.type_check(body)
        app_id = appdef.check_id(app_id, "/id")
        with self.lock:
            old = self.apps.get(app_id)
            if "version" in body:
                # Fields Marathon does not know are dropped before the check, as its reader does.
                others = set(appdef.known_fields(body)) - {"version", "id"}
                if others:
                    raise ValidationFailed(
                        [{"path": "/", "errors": ["The 'version' field may only be combined with the 'id' field."]}]
                    )
                if old is None:
                    raise app_not_found(app_id)
                wanted = appdef_ts(body["version"])
                stored = self.versions.get(app_id, {}).get(wanted)
                if stored is None:
                    raise app_not_found(app_id, wanted)
                new = _strip(copy.deepcopy(stored))
            elif old is None:
                if not allow_create:
                    raise app_not_found(app_id)
                new = self._normalise(body, app_id)
            elif partial:
                merged = _strip(copy.deepcopy(old))
                for key, value in body.items():
                    if key == "id":
                        continue
                    merged[key] = value
                _merge_fixups(merged, body)
                new = self._normalise(merged, app_id)
            else:
                new = self._normalise(body, app_id)
            version = timestamp()
            changed = self._stamp(app_id, new, old, version)
            plan = self._create_deployment([(app_id, old, new)], version, force)
            self.apps[app_id] = new
            if changed:
                self._store_version(new)
                if old is None or old["versionInfo"]["lastConfigChangeAt"] != new["versionInfo"]["lastConfigChangeAt"]:
                    self.delays.pop(app_id, None)
            self._api_post(origin, new)
            self.save()
            return old is None, plan, new

    def update_many(self, bodies, force=False, partial=True, allow_create=True):
        if not isinstance(bodies, list):
            raise ValidationFailed([{"path": "/", "errors": ["error.expected.jsarray"]}], "Invalid JSON")
        with self.lock:
            changes = []
            taken = set()
            version = timestamp()
            for index, body in enumerate(bodies):
                try:
                    appdef.type_check(body, allow_missing_id=False)
                    app_id = appdef.check_id(body["id"])
                except ValidationFailed as exc:
                    for detail in exc.body["details"]:
                        detail["path"] = f"({index})" + detail["path"]
                    raise
                old = self.apps.get(app_id)
                if old is None and not allow_create:
                    raise app_not_found(app_id)
                if old is not None and partial:
                    merged = _strip(copy.deepcopy(old))
                    merged.update({k: v for k, v in body.items() if k != "id"})
                    _merge_fixups(merged, body)
                else:
                    merged = body
                new = self._normalise(merged, app_id, taken)
                self._stamp(app_id, new, old, version)
                changes.append((app_id, old, new))
            plan = self._create_deployment(changes, version, force)
            for app_id, old, new in changes:
                self.apps[app_id] = new
                if old is None or old["version"] != new["version"]:
                    self._store_version(new)
            self.save()
            return plan

    def delete_app(self, app_id, force=True):
        with self.lock:
            old = self.get_app(app_id)
            version = timestamp()
            plan = self._create_deployment([(app_id, old, None)], version, force)
            self._forget_app(app_id)
            self.save()
            return plan

    def _forget_app(self, app_id):
        """The app leaves the root group at once; its StopApplication step kills the tasks."""
        del self.apps[app_id]
        self.versions.pop(app_id, None)
        self.delays.pop(app_id, None)
        self.reusable.pop(app_id, None)
        self.stopping.add(app_id)

    def _touch_groups(self, ids, version):
        """A change under these IDs: their groups (created if new) up to the root get ``version``."""
        self.groups["/"] = version
        for item in ids:
            for group_id in group_ancestors(item):
                self.groups[group_id] = version

    def delete_group(self, group_id, force=False):
        """DELETE /v2/groups[/{id}]: the group, its subgroups and all their apps in one deployment.

        The root (``/``) is emptied, as Marathon's ``DELETE /v2/groups`` does, and kept.
        """
        with self.lock:
            parent = group_parent(group_id)
            version = timestamp()
            prefix = group_id.rstrip("/") + "/"
            try:
                if group_id not in self.groups:
                    raise group_not_found(group_id)
                doomed = sorted(a for a in self.apps if a.startswith(prefix))
                changes = [(a, self.apps[a], None) for a in doomed]
                plan = self._create_deployment(changes, version, force, group_id=parent)
            except ApiError as exc:
                # Marathon's GroupManager reports every refused root change (404, 409, 403).
                self._publish("group_change_failed", groupId=parent, version=version, reason=exc.body["message"])
                raise
            for app_id in doomed:
                self._forget_app(app_id)
            for other in [g for g in self.groups if g != "/" and (g == group_id or g.startswith(prefix))]:
                del self.groups[other]
            self._touch_groups([group_id], version)
            self.save()
            return plan

    def restart_app(self, app_id, force=False):
        with self.lock:
            old = self.get_app(app_id)
            version = timestamp()
            new = copy.deepcopy(old)
            new["version"] = version
            new["versionInfo"] = {"lastScalingAt": old["versionInfo"]["lastScalingAt"], "lastConfigChangeAt": version}
            plan = self._create_deployment([(app_id, old, new)], version, force, kind="restart")
            self.apps[app_id] = new
            self._store_version(new)
            self.save()
            return plan

    def revert_deployment(self, deployment_id, force=False):
        with self.lock:
            plan = self.deployments.get(deployment_id)
            if plan is None:
                raise ApiError(404, f"DeploymentPlan {deployment_id} does not exist")
            if force:
                self._cancel(deployment_id)
                self.save()
                return None
            self._cancel(deployment_id)
            version = timestamp()
            changes = []
            for app_id, original in plan["original"].items():
                current = self.apps.get(app_id)
                if original is None:
                    changes.append((app_id, current, None))
                    continue
                new = copy.deepcopy(original)
                if current is None:
                    self._stamp(app_id, new, None, version)
                else:
                    self._stamp(app_id, new, current, version)
                changes.append((app_id, current, new))
            revert = self._create_deployment(changes, version, True)
            for app_id, current, new in changes:
                if new is not None:
                    self.apps[app_id] = new
                    self._store_version(new)
                elif current is not None:
                    self._forget_app(app_id)
            self.save()
            return revert

    def kill_tasks(self, task_ids, scale=False, wipe=False, force=False):
        """Kill tasks by ID. Returns (killed task JSONs, plan or None)."""
        with self.lock:
            tasks = [self.tasks[t] for t in task_ids if t in self.tasks]
            if not scale:
                result = [self.task_json(t) for t in tasks]
                for task in tasks:
                    self._kill(task, wipe=wipe)
                return result, None
            by_app = {}
            for task in tasks:
                by_app.setdefault(task["appId"], []).append(task)
            version = timestamp()
            changes = []
            for app_id, app_tasks in by_app.items():
                old = self.apps[app_id]
                new = copy.deepcopy(old)
                new["instances"] = max(0, old["instances"] - len(app_tasks))
                self._stamp(app_id, new, old, version)
                changes.append((app_id, old, new))
            plan = self._create_deployment(changes, version, force)
            for task in tasks:
                self._kill(task)
            for app_id, _old, new in changes:
                self.apps[app_id] = new
                self._store_version(new)
            self.save()
            return [], plan

    def reset_delay(self, app_id):
        with self.lock:
            self.get_app(app_id)
            self.delays.pop(app_id, None)

    # ------------------------------------------------------------------ group views
    def group_json(self, group_id, apps=True, groups=True, app_embed=()):
        """GroupInfo as Marathon 1.11's GroupsResource writes it (``embed`` already resolved).

        Apps carry only what ``app_embed`` asks for: no counts nor ``deployments`` by default,
        unlike ``/v2/apps``, which always embeds them.
        """
        if group_id not in self.groups:
            raise group_not_found(group_id)
        children, members = {}, {}
        for other in self.groups:
            if other != "/":
                children.setdefault(group_parent(other), []).append(other)
        for app_id in self.apps:
            members.setdefault(group_parent(app_id), []).append(app_id)

        def build(gid):
            return {
                "id": gid,
                "apps": [self.group_app_json(self.apps[a], app_embed) for a in sorted(members.get(gid, []))]
                if apps
                else [],
                "pods": [],
                "groups": [build(g) for g in sorted(children.get(gid, []))] if groups else [],
                "dependencies": [],
                "version": self.groups[gid],
                "enforceRole": False,
            }

        return build(group_id)

    def group_app_json(self, app, app_embed=()):
        """An app as the groups API shows it: counts and ``deployments`` only when embedded."""
        data = self.app_json(app, app_embed)
        if "counts" not in app_embed:
            for key in ("tasksStaged", "tasksRunning", "tasksHealthy", "tasksUnhealthy"):
                data.pop(key, None)
        if "deployments" not in app_embed:
            data.pop("deployments", None)
        return data

    def group_app_ids(self, group_id):
        """Every app under the group (transitively), sorted; none for an unknown group."""
        if group_id not in self.groups:
            return []
        prefix = group_id.rstrip("/") + "/"
        return sorted(a for a in self.apps if a.startswith(prefix))

    # ------------------------------------------------------------------ task views
    def _is_current(self, task, app):
        return task.get("configVersion") == app["versionInfo"]["lastConfigChangeAt"]

    is_current = _is_current

    @staticmethod
    def is_host_mode(app):
        return (app.get("networks") or [{}])[0].get("mode") == "host"

    @staticmethod
    def task_ready(task, app):
        """Readiness: only apps with ``readinessChecks`` wait for it (and only in deployments)."""
        return not app.get("readinessChecks") or bool(task.get("ready"))

    def task_available(self, task, app):
        """Healthy and ready: what a deployment step waits for in each new task."""
        return self.task_healthy(task, app) and self.task_ready(task, app)

    def readiness_results(self, app_id):
        """``readinessCheckResults`` of the app's running deployment step (none without one)."""
        app = self.apps.get(app_id)
        if app is None or not app.get("readinessChecks") or self.active_action(app_id) is None:
            return []
        results = []
        for task in sorted(self.app_tasks(app_id), key=lambda t: t.get("stagedAt") or ""):
            if self._is_current(task, app) and task["state"] not in TERMINAL:
                results.extend(copy.deepcopy(task.get("readinessCheckResults") or []))
        return results

    def _live(self, app_id):
        return [t for t in self.app_tasks(app_id) if t["state"] not in TERMINAL and not t.get("killing")]

    def task_healthy(self, task, app):
        if task["state"] != "TASK_RUNNING":
            return False
        checks = app.get("healthChecks") or []
        if not checks:
            return True
        results = [r for r in task.get("healthCheckResults") or [] if r]
        if len(results) < len(checks):
            return False
        return all(r.get("alive") for r in results)

    def task_json(self, task):
        app = self.apps.get(task["appId"]) or {}
        data = {
            "appId": task["appId"],
            "healthCheckResults": copy.deepcopy([r for r in task.get("healthCheckResults") or [] if r]),
            "host": task["host"],
            "id": task["id"],
            "ipAddresses": [
                {"ipAddress": ip["ipAddress"], "protocol": ip.get("protocol", "IPv4")} for ip in task.get("ips") or []
            ],
            "ports": list(task.get("ports") or []),
            "servicePorts": list(task.get("servicePorts") or []),
            "slaveId": task["slaveId"],
            "state": task["state"],
            "stagedAt": task.get("stagedAt"),
            "version": task["version"],
            "localVolumes": [],
            "role": app.get("role", "*"),
        }
        if task.get("startedAt"):
            data["startedAt"] = task["startedAt"]
        if not app.get("healthChecks"):
            data.pop("healthCheckResults")
        return data

    def app_json(self, app, embed=()):
        data = appdef.present(app)
        tasks = [t for t in self.app_tasks(app["id"]) if t["state"] not in TERMINAL]
        data["tasksStaged"] = sum(1 for t in tasks if t["state"] in ("TASK_STAGING", "TASK_STARTING"))
        data["tasksRunning"] = sum(1 for t in tasks if t["state"] == "TASK_RUNNING")
        if app.get("healthChecks"):
            data["tasksHealthy"] = sum(1 for t in tasks if self.task_healthy(t, app))
            data["tasksUnhealthy"] = sum(
                1 for t in tasks if any(r and not r.get("alive") for r in t.get("healthCheckResults") or [])
            )
        else:
            data["tasksHealthy"] = 0
            data["tasksUnhealthy"] = 0
        data["deployments"] = [{"id": d["id"]} for d in self.deployments_for(app["id"])]
        if "tasks" in embed:
            data["tasks"] = [self.task_json(t) for t in sorted(tasks, key=lambda t: t.get("stagedAt") or "")]
        if "lastTaskFailure" in embed and app["id"] in self.last_failures:
            data["lastTaskFailure"] = copy.deepcopy(self.last_failures[app["id"]])
        if "readiness" in embed:
            data["readinessCheckResults"] = self.readiness_results(app["id"])
        if "deployments" in embed:
            data["deployments"] = [{"id": d["id"]} for d in self.deployments_for(app["id"])]
        if "counts" in embed or "taskStats" in embed:
            pass
        return data

    def deployment_json(self, plan):
        current = []
        if plan["currentStep"] > 0:
            for action in plan["steps"][plan["currentStep"] - 1]["actions"]:
                current.append(dict(action, readinessCheckResults=self.readiness_results(action["app"])))
        return {
            "id": plan["id"],
            "version": plan["version"],
            "affectedApps": list(plan["affectedApps"]),
            "affectedPods": [],
            "steps": copy.deepcopy(plan["steps"]),
            "currentActions": current,
            "currentStep": plan["currentStep"],
            "totalSteps": plan["totalSteps"],
        }

    def queue_json(self):
        items = []
        now = time.time()
        for app_id, app in sorted(self.apps.items()):
            live = self._live(app_id)
            action = self.active_action(app_id)
            wanted = app["instances"]
            missing = wanted - len([t for t in live if self._is_current(t, app)]) if action else wanted - len(live)
            delay = self.delays.get(app_id)
            if missing <= 0 and not delay:
                continue
            if missing <= 0:
                continue
            left = max(0.0, (delay or {}).get("until", 0) - now)
            items.append(
                {
                    "app": appdef.present(app),
                    "count": missing,
                    "delay": {"timeLeftSeconds": int(round(left)), "overdue": left <= 0},
                    "since": (delay or {}).get("since") or app["version"],
                    "processedOffersSummary": {"processedOffersCount": 0, "unusedOffersCount": 0},
                    "role": app.get("role", "*"),
                }
            )
        return {"queue": items}

    # ------------------------------------------------------------------ scheduling
    def tick(self):
        """One scheduler round: container states, deployments, launches/kills, health checks."""
        self._refresh_tasks()
        with self.lock:
            self._advance_deployments()
            launches, kills = self._plan_actions()
        for task in kills:
            self._kill(task)
        for app, task in launches:
            self.pool.submit(self._launch_worker, app, task)
        self.health.run_due()
        self.health.run_readiness_due()
        with self.lock:
            now = time.time()
            due = [cid for when, cid in self.removals if when <= now]
            self.removals = [(when, cid) for when, cid in self.removals if when > now]
            self._advance_deployments()
        for container_id in due:
            self.kill_pool.submit(self.driver.remove, container_id)
        with self.lock:
            if self.dirty:
                self.save()

    def _refresh_tasks(self):
        """Read the engine: a container that stopped or vanished ends its task."""
        summaries = self.driver.summaries()
        inspect_ids = []
        with self.lock:
            for task in list(self.tasks.values()):
                cid = task.get("containerId")
                if not cid or task.get("launching"):
                    continue
                summary = summaries.get(cid)
                if summary is None:
                    if not task.get("killing"):
                        self._finish_task(
                            task,
                            "TASK_LOST" if task["state"] != "TASK_STAGING" else "TASK_FAILED",
                            "Container disappeared",
                        )
                    continue
                if summary["state"] != "running" and task["state"] not in TERMINAL:
                    inspect_ids.append(task["id"])
        for task_id in inspect_ids:
            task = self.tasks.get(task_id)
            if task is None:
                continue
            state = self.driver.inspect(task["containerId"])
            with self.lock:
                if task_id in self.tasks:
                    if state is None:
                        self._finish_task(task, "TASK_LOST", "Container disappeared")
                    else:
                        self._sync_task(task, state)

    def _sync_task(self, task, state):
        """Bring a task in line with its container's state (start/adopt/exit)."""
        if state["running"]:
            task["ips"] = [ip for ip in state["ips"] if ip.get("network") != "host"] or [
                {"ipAddress": self.config.agent_ip, "network": "host"}
            ]
            if task["state"] != "TASK_RUNNING" and not task.get("killing"):
                task["startedAt"] = task.get("startedAt") or timestamp()
                self._set_state(task, "TASK_RUNNING")
            return
        if task.get("killing"):
            return
        if state["status"] in ("created",):
            return
        code = state.get("exitCode")
        if state.get("oomKilled"):
            self._finish_task(
                task,
                "TASK_FAILED",
                "Memory limit exceeded: Requested: {}MB".format(
                    int((self.apps.get(task["appId"]) or {}).get("mem", 0))
                ),
            )
        elif code == 0:
            self._finish_task(task, "TASK_FINISHED", "Command exited with status 0")
        else:
            message = state.get("error") or f"Container exited with status {code}"
            self._finish_task(task, "TASK_FAILED", message)

    def _set_state(self, task, state, message=""):
        task["state"] = state
        self.dirty = True
        self._publish(
            "status_update_event",
            slaveId=task["slaveId"],
            taskId=task["id"],
            taskStatus=state,
            message=message,
            appId=task["appId"],
            host=task["host"],
            ipAddresses=[
                {"ipAddress": ip["ipAddress"], "protocol": ip.get("protocol", "IPv4")} for ip in task.get("ips") or []
            ],
            ports=list(task.get("ports") or []),
            version=task["version"],
        )
        self._publish(
            "instance_changed_event",
            instanceId=task["instanceId"],
            condition=CONDITION.get(state, "Unknown"),
            runSpecId=task["appId"],
            agentId=task["slaveId"],
            host=task["host"],
            runSpecVersion=task["version"],
        )

    def _finish_task(self, task, state, message=""):
        if task["id"] not in self.tasks:
            return
        self._set_state(task, state, message)
        del self.tasks[task["id"]]
        self.health.forget(task["id"])
        app = self.apps.get(task["appId"])
        if state in ("TASK_FAILED", "TASK_LOST", "TASK_ERROR") or task.get("unhealthyKill"):
            self.counters["failed"] += 1
            self.last_failures[task["appId"]] = {
                "appId": task["appId"],
                "host": task["host"],
                "message": message,
                "state": state,
                "taskId": task["id"],
                "timestamp": timestamp(),
                "version": task["version"],
                "slaveId": task["slaveId"],
            }
        # Any end other than a plain kill delays the next launch (a task that exits 0 in a loop
        # is backed off like a crashing one).
        if (state != "TASK_KILLED" or task.get("unhealthyKill")) and app is not None and not task.get("wipe"):
            self._increase_delay(app)
        if task.get("containerId"):
            if self.config.remove_delay_seconds > 0:
                self.removals.append((time.time() + self.config.remove_delay_seconds, task["containerId"]))
            else:
                self.kill_pool.submit(self.driver.remove, task["containerId"])
        # A failed instance (or one killed for failing health checks) is relaunched under the same
        # instance ID with the next incarnation, as Marathon 1.9+ does; other kills free the instance.
        reusable = state != "TASK_KILLED" or task.get("unhealthyKill")
        if reusable and app is not None and not task.get("wipe"):
            self.reusable.setdefault(task["appId"], []).append((task["instanceId"], task.get("incarnation", 1)))

    def _increase_delay(self, app):
        delay = self.delays.get(app["id"])
        now = time.time()
        if delay is None:
            seconds = float(app["backoffSeconds"])
            delay = {"since": timestamp()}
        else:
            seconds = min(float(app["maxLaunchDelaySeconds"]), delay["seconds"] * float(app["backoffFactor"]))
        delay["seconds"] = seconds
        delay["until"] = now + seconds
        self.delays[app["id"]] = delay

    def _launch_allowed(self, app_id):
        delay = self.delays.get(app_id)
        return delay is None or delay["until"] <= time.time()

    def _plan_actions(self):
        """Decide launches and kills for every app (deployment-aware). Called under the lock."""
        launches, kills = [], []
        for app_id in {t["appId"] for t in self.tasks.values()} - set(self.apps):
            kills.extend(self._live(app_id))
        for app_id, app in self.apps.items():
            action = self.active_action(app_id)
            tasks = self._live(app_id)
            new = [t for t in tasks if self._is_current(t, app)]
            old = [t for t in tasks if not self._is_current(t, app)]
            wanted = app["instances"]
            replacing = [t for t in self.app_tasks(app_id) if not self._is_current(t, app)]
            if action in ("RestartApplication", "ScaleApplication") and replacing:
                min_h = appdef.min_healthy(app)
                max_c = appdef.max_capacity(app)
                if min_h == max_c and max_c <= len(tasks):
                    max_c += 1
                # A new task counts once it is healthy and ready (readiness checks), as Marathon's
                # task replacement waits for both before it kills an old one.
                healthy = sum(1 for t in old if self.task_healthy(t, app))
                healthy += sum(1 for t in new if self.task_available(t, app))
                # Kill old tasks while enough healthy ones remain (unhealthy old ones first).
                for task in sorted(old, key=lambda t: (self.task_healthy(t, app), t.get("stagedAt") or "")):
                    is_healthy = self.task_healthy(task, app)
                    if is_healthy and healthy - 1 < min_h:
                        continue
                    if len(new) + len(old) - len([k for k in kills if k["appId"] == app_id]) <= 0:
                        break
                    kills.append(task)
                    if is_healthy:
                        healthy -= 1
                # Tasks being killed still hold capacity until they are gone.
                room = max_c - len(self.app_tasks(app_id))
                count = min(room, wanted - len(new))
            else:
                excess = len(new) + len(old) - wanted
                if excess > 0 and action is not None:
                    victims = sorted(old, key=lambda t: t.get("stagedAt") or "", reverse=True)
                    reverse = app.get("killSelection", "YOUNGEST_FIRST") == "YOUNGEST_FIRST"
                    victims += sorted(new, key=lambda t: t.get("stagedAt") or "", reverse=reverse)
                    kills.extend(victims[:excess])
                # An instance killed for failing health checks is relaunched in place once it is gone.
                pending = [t for t in self.app_tasks(app_id) if t.get("killing") and t.get("unhealthyKill")]
                count = wanted - len(tasks) - len(pending)
            if count > 0 and self._launch_allowed(app_id):
                for _index in range(count):
                    launches.append((copy.deepcopy(app), self._new_task(app)))
        return launches, kills

    def _host_ports(self, count):
        """``count`` free host ports, the way Marathon takes them from an offer.

        Marathon's PortsMatcher walks the offered ranges from a random port and wraps around at
        the end, so a port just freed by a killed task is rarely the next one handed out (the
        lowest free port would be, and routes of old and new tasks would mix under churn).
        """
        low, high = self.config.host_port_min, self.config.host_port_max
        if count <= 0 or high < low:
            return []
        used = set()
        for task in self.tasks.values():
            used.update(task.get("ports") or [])
        start = self.rng.randrange(low, high + 1)
        result = []
        for offset in range(high - low + 1):
            port = low + (start - low + offset) % (high - low + 1)
            if port not in used and _port_free(port):
                result.append(port)
                if len(result) == count:
                    break
        return result

    def _new_task(self, app):
        app_id = app["id"]
        reuse = self.reusable.get(app_id) or []
        if reuse:
            instance_id, incarnation = reuse.pop(0)
            incarnation += 1
        else:
            instance_id = f"{instance_prefix(app_id)}.instance-{new_uuid()}"
            incarnation = 1
        task_id = f"{instance_id}._app.{incarnation}"
        host_mode = (app.get("networks") or [{}])[0].get("mode") == "host"
        if host_mode:
            definitions = app.get("portDefinitions") or []
            ports = self._host_ports(len(definitions))
            if app.get("requirePorts"):
                ports = [d["port"] for d in definitions]
            service_ports = [d["port"] for d in definitions]
            mapping_ports = {}
        else:
            mappings = (app.get("container") or {}).get("portMappings") or []
            dynamic = self._host_ports(sum(1 for m in mappings if m.get("hostPort") == 0))
            ports = []
            mapping_ports = {}
            for mapping in mappings:
                if "hostPort" not in mapping:
                    continue
                host_port = mapping["hostPort"] or dynamic.pop(0)
                ports.append(host_port)
                mapping_ports[(mapping.get("containerPort") or 0, mapping.get("protocol", "tcp"))] = host_port
            service_ports = [m.get("servicePort", 0) for m in mappings]
        task = {
            "id": task_id,
            "instanceId": instance_id,
            "incarnation": incarnation,
            "appId": app_id,
            "version": app["version"],
            "configVersion": app["versionInfo"]["lastConfigChangeAt"],
            "state": "TASK_STAGING",
            "stagedAt": timestamp(),
            "host": self.config.hostname,
            "slaveId": self.config.slave_id,
            "ports": ports,
            "servicePorts": service_ports,
            "mappingPorts": [[k[0], k[1], v] for k, v in mapping_ports.items()],
            "ips": [],
            "healthCheckResults": [],
            "launching": True,
        }
        self.tasks[task_id] = task
        self.counters["launched"] += 1
        self._set_state(task, "TASK_STAGING")
        return task

    def task_env(self, app, task):
        env = {}
        for key, value in (app.get("env") or {}).items():
            if isinstance(value, str):
                env[key] = value
        host_mode = (app.get("networks") or [{}])[0].get("mode") == "host"
        ports = task.get("ports") or []
        for index, port in enumerate(ports):
            env[f"PORT{index}"] = str(port)
        if ports:
            env["PORT"] = str(ports[0])
            env["PORTS"] = ",".join(str(p) for p in ports)
        if host_mode:
            for index, definition in enumerate(app.get("portDefinitions") or []):
                if definition.get("name") and index < len(ports):
                    env[f"PORT_{definition['name'].upper()}"] = str(ports[index])
        else:
            for container_port, _proto, host_port in task.get("mappingPorts") or []:
                if container_port:
                    env[f"PORT_{container_port}"] = str(host_port)
        docker_part = (app.get("container") or {}).get("docker") or {}
        env.update(
            {
                "HOST": task["host"],
                "MESOS_TASK_ID": task["id"],
                "MESOS_SANDBOX": "/mnt/mesos/sandbox",
                "MARATHON_APP_ID": app["id"],
                "MARATHON_APP_VERSION": app["version"],
                "MARATHON_APP_DOCKER_IMAGE": docker_part.get("image", ""),
                "MARATHON_APP_RESOURCE_CPUS": str(app["cpus"]),
                "MARATHON_APP_RESOURCE_MEM": str(app["mem"]),
                "MARATHON_APP_RESOURCE_DISK": str(app["disk"]),
                "MARATHON_APP_RESOURCE_GPUS": str(app["gpus"]),
                "MARATHON_APP_LABELS": " ".join(sorted(app.get("labels") or {})),
            }
        )
        for key, value in (app.get("labels") or {}).items():
            safe = "".join(c if c.isalnum() else "_" for c in key).upper()
            env[f"MARATHON_APP_LABEL_{safe}"] = value
        return env

    def _launch_worker(self, app, task):
        if self.stop_event.is_set():
            return
        labels = dict(app.get("labels") or {})
        labels.update(
            {
                LABEL_INSTANCE: self.config.instance,
                LABEL_TASK: task["id"],
                LABEL_APP: app["id"],
                LABEL_VERSION: app["version"],
            }
        )
        host_ports = {(p[0], p[1]): p[2] for p in task.get("mappingPorts") or []}
        name = f"{self.config.name_prefix}{new_uuid()}"
        try:
            opts = run_options(app, task, self.task_env(app, task), labels, host_ports)
            container_id = self.driver.launch(name, opts)
        except LaunchFailed as exc:
            with self.lock:
                task.pop("launching", None)
                self._finish_task(task, "TASK_FAILED", str(exc))
            return
        except Exception as exc:  # pylint: disable=broad-except
            LOG.exception("launch of %s failed", task["id"])
            with self.lock:
                task.pop("launching", None)
                self._finish_task(task, "TASK_FAILED", f"Failed to launch container: {exc}")
            return
        state = self.driver.inspect(container_id)
        with self.lock:
            task["containerId"] = container_id
            task["containerName"] = name
            task.pop("launching", None)
            if task["id"] not in self.tasks:
                # Killed while launching.
                self.kill_pool.submit(self.driver.remove, container_id)
                return
            if task.get("killing"):
                self.kill_pool.submit(self._kill_worker, task, 0)
                return
            self._set_state(task, "TASK_STARTING")
            if state is not None:
                self._sync_task(task, state)

    def _kill(self, task, wipe=False, unhealthy=False):
        with self.lock:
            if task.get("killing") or task["id"] not in self.tasks:
                return
            task["killing"] = True
            task["wipe"] = wipe
            task["unhealthyKill"] = unhealthy
            self.counters["killed"] += 1
            if task.get("launching"):
                return
            # The lab advertises the task_killing feature, so a kill first reports TASK_KILLING.
            self._set_state(task, "TASK_KILLING")
            app = self.apps.get(task["appId"]) or {}
            grace = app.get("taskKillGracePeriodSeconds", self.config.kill_grace_seconds)
            self.kill_pool.submit(self._kill_worker, task, grace)

    def _kill_worker(self, task, grace):
        if task.get("containerId"):
            self.driver.stop(task["containerId"], grace)
        with self.lock:
            self._finish_task(task, "TASK_KILLED", "")


def group_parent(path_id):
    """``/a/b/c`` -> ``/a/b``; the root is its own parent."""
    head = path_id.rstrip("/").rsplit("/", 1)[0]
    return head or "/"


def group_ancestors(path_id):
    """The groups above an app or group ID, root first: ``/a/b/c`` -> ``/``, ``/a``, ``/a/b``."""
    parts = [p for p in path_id.split("/") if p][:-1]
    return ["/"] + ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]


def _port_free(port):
    """Is the host port free? The agent's range is shared with other processes on this host."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("0.0.0.0", port))  # noqa: S104 # nosec - a probe, closed at once
        except OSError:
            return False
    return True


def appdef_ts(value):
    ms = parse_ts(value)
    if ms is None:
        raise invalid("/version", "error.expected.date")
    return ts_from_ms(ms)


def _strip(app):
    for key in ("version", "versionInfo"):
        app.pop(key, None)
    return app


def _light(plan):
    return {"id": plan["id"], "steps": copy.deepcopy(plan["steps"]), "version": plan["version"]}


def _current(plan):
    if plan["currentStep"] == 0:
        return {"actions": []}
    return copy.deepcopy(plan["steps"][plan["currentStep"] - 1])


def _depth(app_id, targets, seen=()):
    """Longest chain of dependencies of ``app_id`` among the apps being deployed (cycles cut)."""
    deps = [d for d in (targets.get(app_id) or {}).get("dependencies") or [] if d in targets and d not in seen]
    return 1 + max((_depth(d, targets, (*seen, app_id)) for d in deps), default=0)


def _merge_fixups(merged, body):
    """Partial update: a body that changes networking drops what only made sense before."""
    container = body.get("container") if isinstance(body.get("container"), dict) else {}
    docker_part = container.get("docker") if isinstance(container.get("docker"), dict) else {}
    legacy = "ipAddress" in body or "network" in docker_part
    if legacy and "networks" not in body:
        merged.pop("networks", None)
    if (legacy or "networks" in body) and "portDefinitions" not in body and "ports" not in body:
        merged.pop("portDefinitions", None)
    if "ports" in body:
        merged.pop("portDefinitions", None)
    if "uris" in body:
        merged.pop("fetch", None)
