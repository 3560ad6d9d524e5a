# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Health checks, run for real against the task containers.

HTTP/HTTPS/TCP (Marathon-side) and MESOS_HTTP/MESOS_HTTPS/MESOS_TCP (agent-side) probe the task's
address; COMMAND runs the command inside the container (``docker exec``), as the Mesos Docker
executor does. Results follow Marathon's rules: failures inside ``gracePeriodSeconds`` are ignored
until the task was healthy once, ``maxConsecutiveFailures`` failures kill the task (0 = never).
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from .util import parse_ts, timestamp

READINESS_BODY_LIMIT = 64 * 1024


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


def probe_http(url, timeout, ignore_1xx=False, insecure_tls=True):
    """(alive, cause). Alive on 200..399, like Marathon."""
    context = ssl._create_unverified_context() if insecure_tls else None  # noqa: S323 # nosec - probes self-signed tasks
    handlers = [_NoRedirect(), urllib.request.HTTPSHandler(context=context)]
    opener = urllib.request.build_opener(*handlers)
    try:
        with opener.open(url, timeout=timeout) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (OSError, ValueError) as exc:
        return False, f"ConnectionAttemptFailedException: {exc}"
    if 200 <= status < 400 or (ignore_1xx and 100 <= status < 200):
        return True, ""
    return False, f"{status}"


def probe_readiness(url, timeout, keep_body=False, insecure_tls=True):
    """(status or None, lastResponse or None). Redirects are answers, not followed (like Marathon)."""
    context = ssl._create_unverified_context() if insecure_tls else None  # noqa: S323 # nosec - probes self-signed tasks
    opener = urllib.request.build_opener(_NoRedirect(), urllib.request.HTTPSHandler(context=context))
    try:
        with opener.open(url, timeout=timeout) as response:
            status, headers, body = response.status, response.headers, response.read(READINESS_BODY_LIMIT)
    except urllib.error.HTTPError as exc:
        status, headers = exc.code, exc.headers
        body = exc.read(READINESS_BODY_LIMIT) if keep_body else b""
    except (OSError, ValueError):
        return None, None
    last = None
    if keep_body:
        last = {
            "status": status,
            "contentType": headers.get("Content-Type") or "",
            "body": body.decode("utf-8", "replace"),
        }
    return status, last


def probe_tcp(address, port, timeout):
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True, ""
    except OSError as exc:
        return False, f"ConnectionAttemptFailedException: {exc}"


class HealthChecker:
    """Schedules the checks of every running task; results live in ``task['healthCheckResults']``."""

    def __init__(self, lab, workers=8):
        self.lab = lab
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lab-health")
        self.state = {}  # task id -> [per-check dict(next, running, alive, ...)]
        self.readiness = {}  # task id -> dict(next, running) of its readiness check
        self.lock = threading.Lock()

    def forget(self, task_id):
        with self.lock:
            self.state.pop(task_id, None)
            self.readiness.pop(task_id, None)

    def target(self, app, task, check):
        """(address, port) the check probes."""
        ips = [ip["ipAddress"] for ip in task.get("ips") or [] if ip.get("protocol", "IPv4") == "IPv4"]
        address = ips[0] if ips else "127.0.0.1"
        if "port" in check and check.get("port"):
            return address, int(check["port"])
        index = check.get("portIndex", 0)
        host_mode = (app.get("networks") or [{}])[0].get("mode") == "host"
        if host_mode:
            ports = task.get("ports") or []
            return address, ports[index] if index < len(ports) else 0
        mappings = (app.get("container") or {}).get("portMappings") or []
        if index >= len(mappings):
            return address, 0
        mapping = mappings[index]
        if not ips:
            host_ports = task.get("ports") or []
            return "127.0.0.1", host_ports[index] if index < len(host_ports) else 0
        return address, mapping.get("containerPort") or mapping.get("hostPort") or 0

    def run_due(self):
        now = time.time()
        due = []
        with self.lab.lock:
            for task in list(self.lab.tasks.values()):
                app = self.lab.apps.get(task["appId"])
                if app is None or task["state"] != "TASK_RUNNING" or task.get("killing"):
                    continue
                checks = app.get("healthChecks") or []
                if not checks:
                    continue
                with self.lock:
                    states = self.state.get(task["id"])
                    if states is None or len(states) != len(checks):
                        states = [{"next": now, "running": False} for _check in checks]
                        self.state[task["id"]] = states
                    for index, check in enumerate(checks):
                        entry = states[index]
                        delay = float(check.get("delaySeconds", 0)) if check["protocol"].startswith("MESOS") else 0
                        started = parse_ts(task.get("startedAt")) or now * 1000
                        if entry["running"] or entry["next"] > now or now * 1000 - started < delay * 1000:
                            continue
                        entry["running"] = True
                        entry["next"] = now + float(check.get("intervalSeconds", 60))
                        due.append((dict(app), dict(task), index, check))
        for app, task, index, check in due:
            self.pool.submit(self._run_one, app, task, index, check)

    # ------------------------------------------------------------ readiness checks
    def run_readiness_due(self):
        """Probe the readiness of new tasks while a deployment step of their app runs.

        As Marathon's ReadinessBehavior: a task is checked once it runs (once it is healthy, when
        the app has health checks), every ``intervalSeconds``, until the check reports ready.
        """
        now = time.time()
        due = []
        lab = self.lab
        with lab.lock:
            for task in list(lab.tasks.values()):
                app = lab.apps.get(task["appId"])
                if app is None or not app.get("readinessChecks") or task.get("ready") or task.get("killing"):
                    continue
                if lab.active_action(app["id"]) not in ("ScaleApplication", "RestartApplication"):
                    continue
                if not lab.is_current(task, app) or not lab.task_healthy(task, app):
                    continue
                check = app["readinessChecks"][0]
                with self.lock:
                    entry = self.readiness.setdefault(task["id"], {"next": now, "running": False})
                    if entry["running"] or entry["next"] > now:
                        continue
                    entry["running"] = True
                    entry["next"] = now + float(check["intervalSeconds"])
                due.append((dict(app), dict(task), check))
        for app, task, check in due:
            self.pool.submit(self._ready_one, app, task, check)

    def readiness_url(self, app, task, check):
        if self.lab.is_host_mode(app):
            names = [d.get("name") for d in app.get("portDefinitions") or []]
        else:
            names = [m.get("name") for m in (app.get("container") or {}).get("portMappings") or []]
        index = names.index(check["portName"]) if check["portName"] in names else 0
        address, port = self.target(app, task, {"portIndex": index})
        scheme = "https" if check["protocol"] == "HTTPS" else "http"
        host = f"[{address}]" if ":" in address else address
        return f"{scheme}://{host}:{port}{check.get('path') or '/'}"

    def _ready_one(self, app, task, check):
        try:
            status, last = probe_readiness(
                self.readiness_url(app, task, check),
                float(check["timeoutSeconds"]),
                keep_body=bool(check.get("preserveLastResponse")),
            )
        except Exception:  # pylint: disable=broad-except
            status, last = None, None
        ready = status is not None and status in check["httpStatusCodesForReady"]
        with self.lab.lock:
            with self.lock:
                entry = self.readiness.get(task["id"])
                if entry is not None:
                    entry["running"] = False
            live = self.lab.tasks.get(task["id"])
            if live is None or live.get("killing"):
                return
            result = {"name": check["name"], "taskId": live["id"], "ready": ready}
            if last is not None:
                result["lastResponse"] = last
            live["readinessCheckResults"] = [result]
            if ready:
                live["ready"] = True
            self.lab.dirty = True

    def _probe(self, app, task, check):
        protocol = check["protocol"]
        timeout = max(0.1, float(check.get("timeoutSeconds", 20)))
        if protocol == "COMMAND":
            return self._command(task, check["command"]["value"], timeout)
        address, port = self.target(app, task, check)
        if not port:
            return False, "no port to probe"
        if protocol in ("TCP", "MESOS_TCP"):
            return probe_tcp(address, port, timeout)
        scheme = "https" if protocol.endswith("HTTPS") else "http"
        path = check.get("path") or "/"
        host = f"[{address}]" if ":" in address else address
        return probe_http(f"{scheme}://{host}:{port}{path}", timeout, check.get("ignoreHttp1xx", False))

    def _command(self, task, command, timeout):
        container_id = task.get("containerId")
        if not container_id:
            return False, "no container"
        result = {}

        def run():
            try:
                result["value"] = self.lab.driver.exec(container_id, ["/bin/sh", "-c", command])
            except Exception as exc:  # pylint: disable=broad-except
                result["error"] = str(exc)

        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        worker.join(timeout)
        if worker.is_alive():
            return False, f"Command health check timed out after {timeout} seconds"
        if "error" in result:
            return False, result["error"]
        code, output = result["value"]
        if code == 0:
            return True, ""
        return False, f"Command exited with status {code}: {output.strip()[-200:]}"

    def _run_one(self, app, task, index, check):
        try:
            alive, cause = self._probe(app, task, check)
        except Exception as exc:  # pylint: disable=broad-except
            alive, cause = False, str(exc)
        with self.lab.lock:
            live = self.lab.tasks.get(task["id"])
            with self.lock:
                states = self.state.get(task["id"])
                if states is not None and index < len(states):
                    states[index]["running"] = False
            if live is None or live.get("killing") or states is None:
                return
            self._record(app, live, index, check, alive, cause)

    def _record(self, app, task, index, check, alive, cause):
        lab = self.lab
        results = task.setdefault("healthCheckResults", [])
        while len(results) <= index:
            results.append(None)
        previous = results[index]
        now_ts = timestamp()
        entry = (
            dict(previous)
            if previous
            else {
                "alive": False,
                "consecutiveFailures": 0,
                "firstSuccess": None,
                "lastFailure": None,
                "lastSuccess": None,
                "lastFailureCause": None,
                "instanceId": task["instanceId"],
            }
        )
        was_healthy = lab.task_healthy(task, app)
        if alive:
            entry["alive"] = True
            entry["consecutiveFailures"] = 0
            entry["lastSuccess"] = now_ts
            entry["firstSuccess"] = entry["firstSuccess"] or now_ts
        else:
            started = parse_ts(task.get("startedAt")) or 0
            in_grace = time.time() * 1000 - started < float(check.get("gracePeriodSeconds", 300)) * 1000
            if in_grace and not entry["firstSuccess"]:
                # Marathon ignores failures in the grace period until the task was healthy once.
                if previous is None:
                    return
                results[index] = entry
                return
            entry["alive"] = False
            entry["consecutiveFailures"] += 1
            entry["lastFailure"] = now_ts
            entry["lastFailureCause"] = cause
            lab._publish(
                "failed_health_check_event",
                appId=app["id"],
                taskId=task["instanceId"],
                instanceId=task["instanceId"],
                healthCheck=dict(check),
                version=task["version"],
            )
        results[index] = entry
        if previous is None or previous["alive"] != entry["alive"]:
            lab._publish(
                "health_status_changed_event",
                appId=app["id"],
                instanceId=task["instanceId"],
                version=task["version"],
                alive=entry["alive"],
            )
        if len([r for r in results if r is not None]) == len(app.get("healthChecks") or []):
            now_healthy = lab.task_healthy(task, app)
            if previous is None or now_healthy != was_healthy:
                lab._publish(
                    "instance_health_changed_event",
                    instanceId=task["instanceId"],
                    runSpecId=app["id"],
                    healthy=now_healthy,
                    runSpecVersion=task["version"],
                )
        limit = int(check.get("maxConsecutiveFailures", 3))
        if not alive and limit > 0 and entry["consecutiveFailures"] >= limit:
            lab._publish(
                "unhealthy_instance_kill_event",
                appId=app["id"],
                taskId=task["id"],
                instanceId=task["instanceId"],
                version=task["version"],
                reason=f"{check['protocol']} health check failed: {cause}",
                host=task["host"],
                slaveId=task["slaveId"],
            )
            lab._kill(task, unhealthy=True)
