# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Waiting on Marathon deployments and working around its 409 lock (PRIVATE to the collection).

:class:`DeploymentWaiter` polls ``/v2/deployments`` until the deployments a change started are
gone, then the apps until their tasks of the new version run (healthy, when checked).
:func:`call_unlocked` sends a write and, when Marathon answers 409 because a running deployment
locks the app, waits that deployment out and sends it again. Both only use a
:class:`~._marathon_client.MarathonClient`, so the modules, the daemon and tests share them.
"""

from __future__ import annotations

import time

from ansible_collections.pptv.dcos.plugins.module_utils._errors import DcosError
from ansible_collections.pptv.dcos.plugins.module_utils._marathon_app import task_is_healthy
from ansible_collections.pptv.dcos.plugins.module_utils._marathon_client import MarathonLocked

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
