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
        self.lock = threading.Lock()

    def forget(self, task_id):
        with self.lock:
            self.state.pop(task_id, None)

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
