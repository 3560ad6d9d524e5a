# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the ``marathon_app`` and ``marathon_app_info`` modules do (PRIVATE to the collection).

:class:`MarathonAppManager` converges one app or many (``apps``: one read, one batch write, one
wait) through a :class:`~._marathon_client.MarathonClient` and reports through a
:class:`~._diff.ChangeRecord`. It takes the module's parameters as a plain dict, so it runs (and
is tested) without ``AnsibleModule``; the modules only build the argument spec and call it.
"""

from __future__ import annotations

import copy
import re

from ansible_collections.pptv.dcos.plugins.module_utils import _validate
from ansible_collections.pptv.dcos.plugins.module_utils._errors import DcosError
from ansible_collections.pptv.dcos.plugins.module_utils._marathon_app import app_change, normalize_app_id
from ansible_collections.pptv.dcos.plugins.module_utils._marathon_deploy import (
    DeploymentWaiter,
    call_unlocked,
    common_group,
    task_summary,
)

_MAX_FIELDS_SHOWN = 8
# ``version: previous``: roll back to the configuration before the current one.
PREVIOUS = "previous"
_TIMESTAMP_RE = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2})(?:[.]([0-9]+))?Z")
_INT32 = 2**31 - 1  # Marathon's instances is an int32

# marathon_app's options and their defaults (the argument spec fills them in the module).
DEFAULT_PARAMS = dict(
    app_id=None,
    definition=None,
    state="present",
    instances=None,
    version=None,
    apps=None,
    force=False,
    wait=True,
    wait_timeout=300.0,
)


def change_steps(change):
    """The steps (for ``actions``) that converging one app takes, in order."""
    fields = ", ".join(change.changed_fields[:_MAX_FIELDS_SHOWN])
    if len(change.changed_fields) > _MAX_FIELDS_SHOWN:
        fields += ", ..."
    texts = {
        "create": f"create app {change.app_id}",
        "update": f"update app {change.app_id} ({fields})",
        "delete": f"delete app {change.app_id}",
        "rollback": f"roll back app {change.app_id} to version {(change.body or {}).get('version')} ({fields})",
    }
    steps = []
    if change.action:
        steps.append(texts[change.action])
    if change.restart:
        steps.append(f"restart app {change.app_id}")
    return steps


def check_params(params):
    """The parameter checks the argument spec cannot express; a :class:`DcosError` naming the option."""
    if params.get("instances") is not None:
        _validate.integer(params["instances"], "instances", 0, _INT32)
    for index, item in enumerate(params.get("apps") or []):
        if item.get("instances") is not None:
            _validate.integer(item["instances"], f"apps[{index}].instances", 0, _INT32)
    _validate.timeout(params["wait_timeout"], "wait_timeout")
    if params.get("version") is not None and params["state"] not in ("present", "restarted"):
        raise DcosError(f"version: a rollback needs state present or restarted, not {params['state']}")


class MarathonAppManager:
    """Converges the apps ``params`` (``marathon_app``'s options) describe, reporting to ``record``."""

    def __init__(self, client, params, record, waiter=None):
        params = dict(DEFAULT_PARAMS, **{k: v for k, v in params.items() if v is not None})
        check_params(params)
        self.client = client
        self.params = params
        self.record = record
        self.force = params["force"]
        self.waiter = waiter or DeploymentWaiter(client, timeout=params["wait_timeout"])

    def run(self):
        if self.params.get("apps") is not None:
            return self.bulk()
        return self.single()

    # -- writes (never called in check mode) -----------------------------------------------------

    def _write(self, step, action):
        """Send ``action(force)`` past any 409 lock, then mark ``step`` as written."""
        result = call_unlocked(action, self.waiter, self.force)
        self.record.done(step)
        return result

    def _apply_single(self, change, steps):
        deployment_ids = []
        client = self.client
        steps = list(steps)
        if change.action in ("create", "update", "rollback"):
            deployment_id, _version = self._write(
                steps.pop(0), lambda force: client.put_app(change.app_id, change.body, force=force)
            )
            deployment_ids.append(deployment_id)
        elif change.action == "delete":
            deployment_ids.append(
                self._write(steps.pop(0), lambda force: client.delete_app(change.app_id, force=force))
            )
        if change.restart:
            deployment_id, _version = self._write(
                steps.pop(0), lambda force: client.restart_app(change.app_id, force=force)
            )
            deployment_ids.append(deployment_id)
        return [d for d in deployment_ids if d]

    # -- one app ---------------------------------------------------------------------------------

    def single(self):
        params = self.params
        app_id = normalize_app_id(params["app_id"])
        state = params["state"]
        current = self.client.get_app(app_id, embed=())
        version_app = self._version(app_id, current, params["version"]) if params.get("version") else None
        change = app_change(
            app_id,
            state,
            current,
            definition=params.get("definition"),
            instances=params.get("instances"),
            version_app=version_app,
        )
        for key in sorted(set(change.before) | set(change.after)):
            self.record.difference(key, change.before.get(key), change.after.get(key))
        steps = change_steps(change)
        for step in steps:
            self.record.step(step)
        app = current
        deployment_id = None
        if change.changed and not self.record.check_mode:
            deployment_ids = self._apply_single(change, steps)
            deployment_id = deployment_ids[-1] if deployment_ids else None
            if params["wait"]:
                ready = self.waiter.wait(
                    deployment_ids,
                    app_ids=[app_id] if change.wants_tasks else [],
                    gone=[] if change.wants_tasks else [app_id],
                )
                app = ready.get(app_id)
            elif change.wants_tasks:
                app = self.client.get_app(app_id, embed=())
            else:
                app = None
        app = app or {}
        return self.record.result(
            app=app,
            deployment_id=deployment_id,
            version=app.get("version"),
            target_version=version_app["version"] if version_app else None,
            changed_fields=change.changed_fields,
            tasks=task_summary(app),
        )

    def _version(self, app_id, current, version):
        if current is None:
            raise DcosError(f"version: app {app_id} does not exist, so it has no version {version}")
        versions = self.client.list_versions(app_id)
        if version == PREVIOUS:
            version = previous_config_version(app_id, current, versions)
        if version not in versions:
            shown = ", ".join(versions[:5]) + (", ..." if len(versions) > 5 else "")
            raise DcosError(f"version: {version} is not a version of {app_id}; its newest versions are: {shown}")
        stored = self.client.get_app_version(app_id, version)
        if stored is None:
            raise DcosError(f"version: Marathon no longer has version {version} of {app_id}")
        stored = copy.deepcopy(stored)
        stored["version"] = version
        return stored

    # -- many apps -------------------------------------------------------------------------------

    def bulk(self):
        changes, current = self._bulk_changes()
        writes = [c for c in changes if c.action in ("create", "update")]
        deletes = [c for c in changes if c.action == "delete"]
        restarts = [c for c in changes if c.restart]
        batch_step = None
        if writes:
            batch_step = f"write {len(writes)} app(s) in one batch: " + ", ".join(c.app_id for c in writes)
            self.record.step(batch_step)
        for change in deletes:
            self.record.step(f"delete app {change.app_id}")
        for change in restarts:
            self.record.step(f"restart app {change.app_id}")
        deployment_ids = []
        final = {}
        if self.record.changed and not self.record.check_mode:
            deployment_ids, final = self._bulk_apply(batch_step, writes, deletes, restarts)
        results = []
        for change in changes:
            app = {} if change.action == "delete" and not self.record.check_mode else final.get(change.app_id)
            app = app if app is not None else (current.get(change.app_id) or {})
            results.append(
                dict(
                    app_id=change.app_id,
                    state=change.state,
                    changed=change.changed,
                    action=change.action or ("restart" if change.restart else None),
                    changed_fields=change.changed_fields,
                    version=app.get("version"),
                    tasks=task_summary(app),
                    app=app,
                )
            )
        return self.record.result(apps=results, deployment_ids=deployment_ids)

    def _bulk_changes(self):
        """One read of ``/v2/apps`` and the change each entry of ``apps`` needs."""
        entries = []
        seen = set()
        for index, item in enumerate(self.params["apps"]):
            app_id = normalize_app_id(item.get("app_id"), option=f"apps[{index}].app_id")
            if app_id in seen:
                raise DcosError(f"apps[{index}].app_id: {app_id} is listed twice")
            seen.add(app_id)
            entries.append((index, app_id, item))
        current = {a["id"]: a for a in self.client.list_apps(id_filter=common_group(seen))} if seen else {}
        changes = []
        for index, app_id, item in entries:
            change = app_change(
                app_id,
                item.get("state") or "present",
                current.get(app_id),
                definition=item.get("definition"),
                instances=item.get("instances"),
                option=f"apps[{index}].definition",
            )
            changes.append(change)
            if change.changed_fields:
                self.record.difference(app_id, change.before, change.after)
        return changes, current

    def _bulk_apply(self, batch_step, writes, deletes, restarts):
        """One batch PUT, the deletions and restarts, then one wait on every deployment."""
        client = self.client
        deployment_ids = []
        if writes:
            bodies = [c.body for c in writes]
            deployment_ids.append(self._write(batch_step, lambda force: client.put_apps(bodies, force=force))[0])
        for change in deletes:
            deployment_ids.append(
                self._write(
                    f"delete app {change.app_id}", lambda force, c=change: client.delete_app(c.app_id, force=force)
                )
            )
        for change in restarts:
            deployment_ids.append(
                self._write(
                    f"restart app {change.app_id}", lambda force, c=change: client.restart_app(c.app_id, force=force)
                )[0]
            )
        deployment_ids = [d for d in deployment_ids if d]
        touched = [c.app_id for c in writes + restarts]
        gone = [c.app_id for c in deletes]
        if self.params["wait"]:
            return deployment_ids, self.waiter.wait(deployment_ids, app_ids=touched, gone=gone)
        if touched:
            return deployment_ids, {a["id"]: a for a in client.list_apps(id_filter=common_group(touched))}
        return deployment_ids, {}


def _timestamp_key(value):
    """A sortable key of a Marathon timestamp (``2026-11-29T16:01:02.345Z``); None if it is not one."""
    match = _TIMESTAMP_RE.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        return None
    return match.group(1), (match.group(2) or "").ljust(9, "0")


def previous_config_version(app_id, current, versions):
    """The newest of ``versions`` older than the app's current configuration.

    Marathon stores a version for every change, scaling included; ``versionInfo.lastConfigChangeAt``
    is when the running configuration was written. Every version older than it holds an earlier
    configuration, and the newest of those is the one a rollback returns to (with the scale it had
    then). A deployment still rolling out the current configuration does not change this: the app
    already carries the new configuration while its tasks are replaced.
    """
    changed_at = (current.get("versionInfo") or {}).get("lastConfigChangeAt") or current.get("version")
    changed_key = _timestamp_key(changed_at)
    if changed_key is None:
        raise DcosError(f"version: app {app_id} has no readable versionInfo.lastConfigChangeAt ({changed_at!r})")
    older = [v for v in versions if (_timestamp_key(v) or changed_key) < changed_key]
    if not older:
        raise DcosError(
            f"version: app {app_id} has no version before its current configuration of {changed_at}: "
            "there is nothing to roll back to"
        )
    return max(older, key=_timestamp_key)


def read_apps(client, app_id=None, group=None, label=None, tasks=True, versions=False):
    """``marathon_app_info``: the apps selected by id, group and/or label selector, sorted by id."""
    if app_id:
        app = client.get_app(normalize_app_id(app_id), embed=("app.tasks",) if tasks else ())
        apps = [app] if app else []
        if apps and label:
            # Marathon applies label selectors to lists only: filter with its own endpoint.
            matching = {a["id"] for a in client.list_apps(id_filter=app["id"], label=label)}
            apps = [a for a in apps if a["id"] in matching]
    else:
        prefix = None
        if group:
            prefix = normalize_app_id(group, option="group") + "/"
        apps = client.list_apps(id_filter=prefix, label=label, embed=("apps.tasks",) if tasks else ())
        if prefix:
            apps = [a for a in apps if a["id"].startswith(prefix)]
    if not tasks:
        for app in apps:
            app.pop("tasks", None)
    if versions:
        for app in apps:
            app["versions"] = client.list_versions(app["id"])
    return sorted(apps, key=lambda a: a["id"])
