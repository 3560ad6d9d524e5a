# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Docker side of the lab: what Mesos' Docker containerizer does with a task.

``run_options`` is a pure function from (app, task environment) to Docker SDK ``containers.create``
keyword arguments, so that the Marathon -> Docker mapping is testable without an engine.
``DockerDriver`` talks to the engine through the Docker SDK.
"""

from __future__ import annotations

import threading

try:
    import docker
    from docker.errors import APIError, DockerException, ImageNotFound, NotFound
    from docker.types import EndpointConfig, LogConfig
except ImportError:  # pragma: no cover - the lab needs the SDK; this only keeps imports clean
    docker = None

LABEL_INSTANCE = "org.pptv.dcos.lab.instance"
LABEL_TASK = "org.pptv.dcos.lab.task"
LABEL_APP = "org.pptv.dcos.lab.app"
LABEL_VERSION = "org.pptv.dcos.lab.version"


class LaunchFailed(Exception):
    """The container could not be created or started; the message becomes the task's message."""


def _kv(value, sep="="):
    key, _, val = str(value).partition(sep)
    return key, val


def _apply_parameter(key, value, opts, endpoint):
    """Map one ``container.docker.parameters`` entry (a ``docker run --key=value`` flag)."""
    value = str(value)
    if key in ("net", "network"):
        opts.pop("network", None)
        opts.pop("network_mode", None)
        if value in ("host", "none") or value.startswith("container:"):
            opts["network_mode"] = value
        else:
            opts["network"] = value
    elif key == "ip":
        endpoint["ipv4_address"] = value
    elif key == "ip6":
        endpoint["ipv6_address"] = value
    elif key in ("network-alias", "net-alias"):
        endpoint.setdefault("aliases", []).append(value)
    elif key == "mac-address":
        endpoint["mac_address"] = value
    elif key == "dns":
        opts.setdefault("dns", []).append(value)
    elif key == "dns-search":
        opts.setdefault("dns_search", []).append(value)
    elif key in ("dns-opt", "dns-option"):
        opts.setdefault("dns_opt", []).append(value)
    elif key in ("volume", "v"):
        opts.setdefault("volumes", []).append(value)
    elif key in ("hostname", "h"):
        opts["hostname"] = value
    elif key == "add-host":
        host, ip = _kv(value, ":")
        opts.setdefault("extra_hosts", {})[host] = ip
    elif key in ("label", "l"):
        name, val = _kv(value)
        opts.setdefault("labels", {})[name] = val
    elif key in ("env", "e"):
        name, val = _kv(value)
        opts.setdefault("environment", {})[name] = val
    elif key == "log-driver":
        opts["_log_type"] = value
    elif key == "log-opt":
        name, val = _kv(value)
        opts.setdefault("_log_opts", {})[name] = val
    elif key == "cap-add":
        opts.setdefault("cap_add", []).append(value)
    elif key == "cap-drop":
        opts.setdefault("cap_drop", []).append(value)
    elif key in ("user", "u"):
        opts["user"] = value
    elif key in ("workdir", "w"):
        opts["working_dir"] = value
    elif key == "entrypoint":
        opts["entrypoint"] = value
    elif key == "name":
        opts["name"] = value
    elif key == "security-opt":
        opts.setdefault("security_opt", []).append(value)
    elif key == "sysctl":
        name, val = _kv(value)
        opts.setdefault("sysctls", {})[name] = val
    elif key == "tmpfs":
        path, _, mount_opts = value.partition(":")
        opts.setdefault("tmpfs", {})[path] = mount_opts
    elif key == "ulimit":
        name, val = _kv(value)
        soft, _, hard = val.partition(":")
        opts.setdefault("ulimits", []).append({"Name": name, "Soft": int(soft), "Hard": int(hard or soft)})
    elif key == "shm-size":
        opts["shm_size"] = value
    elif key == "memory-swap":
        opts["memswap_limit"] = value
    elif key == "memory-reservation":
        opts["mem_reservation"] = value
    elif key == "cpu-shares":
        opts["cpu_shares"] = int(value)
    elif key == "cpuset-cpus":
        opts["cpuset_cpus"] = value
    elif key == "pids-limit":
        opts["pids_limit"] = int(value)
    elif key == "init":
        opts["init"] = value.lower() in ("true", "1", "")
    elif key == "read-only":
        opts["read_only"] = value.lower() in ("true", "1", "")
    elif key == "stop-signal":
        opts["stop_signal"] = value
    elif key == "device":
        opts.setdefault("devices", []).append(value)
    elif key == "pid":
        opts["pid_mode"] = value
    elif key == "ipc":
        opts["ipc_mode"] = value
    elif key == "oom-kill-disable":
        opts["oom_kill_disable"] = value.lower() in ("true", "1", "")
    else:
        raise LaunchFailed(
            f"Failed to launch container: docker run: unknown flag: --{key} (container.docker.parameters)"
        )


SUPPORTED_PARAMETERS = ["net", "network", "ip", "ip6", "network-alias", "net-alias", "mac-address", "dns", "dns-search", "dns-opt", "dns-option", "volume", "v", "hostname", "h", "add-host", "label", "l", "env", "e", "log-driver", "log-opt", "cap-add", "cap-drop", "user", "u", "workdir", "w", "entrypoint", "name", "security-opt", "sysctl", "tmpfs", "ulimit", "shm-size", "memory-swap", "memory-reservation", "cpu-shares", "cpuset-cpus", "pids-limit", "init", "read-only", "stop-signal", "device", "pid", "ipc", "oom-kill-disable"]


def run_options(app, task, env, labels, host_ports):
    """Docker SDK ``create`` kwargs for one task of ``app``.

    ``host_ports`` maps ``(containerPort, protocol)`` to the host port given to the task (bridge).
    Raises :class:`LaunchFailed` for a parameter Mesos/Docker would reject.
    """
    container = app.get("container") or {}
    dock = container.get("docker") or {}
    opts = {
        "image": dock.get("image"),
        "environment": dict(env),
        "labels": dict(labels),
        "detach": True,
        "cpu_shares": max(2, int(float(app.get("cpus", 1)) * 1024)),
        "mem_limit": f"{max(6, int(float(app.get('mem', 128))))}m",
    }
    if dock.get("privileged"):
        opts["privileged"] = True
    cmd = app.get("cmd")
    if cmd:
        # Mesos runs a shell command as `--entrypoint /bin/sh <image> -c <cmd>`.
        opts["entrypoint"] = ["/bin/sh", "-c"]
        opts["command"] = [cmd]
    elif app.get("args"):
        opts["command"] = list(app["args"])
    networks = app.get("networks") or [{"mode": "host"}]
    mode = networks[0].get("mode")
    if mode == "host":
        opts["network_mode"] = "host"
    elif mode == "container/bridge":
        opts["network"] = "bridge"
    else:
        opts["network"] = networks[0].get("name") or "bridge"
    if mode != "host":
        ports = {}
        for mapping in container.get("portMappings") or []:
            protocol = mapping.get("protocol", "tcp")
            container_port = mapping.get("containerPort") or 0
            host_port = host_ports.get((container_port, protocol))
            if host_port:
                for proto in protocol.split(","):
                    ports[f"{container_port or host_port}/{proto}"] = host_port
        if ports:
            opts["ports"] = ports
    volumes = []
    for volume in container.get("volumes") or []:
        if volume.get("hostPath"):
            volumes.append(f"{volume['hostPath']}:{volume['containerPath']}:{volume.get('mode', 'RW').lower()}")
    if volumes:
        opts["volumes"] = volumes
    endpoint = {}
    for param in dock.get("parameters") or []:
        _apply_parameter(param["key"], param["value"], opts, endpoint)
    log_type = opts.pop("_log_type", None)
    log_opts = opts.pop("_log_opts", None)
    if log_type or log_opts:
        opts["log_config"] = {"type": log_type or "json-file", "config": log_opts or {}}
    if endpoint:
        if "network" not in opts:
            raise LaunchFailed(
                "Failed to launch container: docker run: user specified IP address is supported only when "
                "connecting to networks with user configured subnets"
            )
        opts["_endpoint"] = endpoint
    return opts


class DockerDriver:
    """Containers on the local engine, labelled with the lab instance and the task ID."""

    def __init__(self, instance, name_prefix="mesos-", client=None):
        if docker is None:
            raise RuntimeError("the lab needs the Docker SDK for Python (pip install docker)")
        self.instance = instance
        self.name_prefix = name_prefix
        self.client = client or docker.from_env(timeout=120)
        self._local = threading.local()

    def launch(self, name, opts):
        """Create and start a container; returns its ID. Raises :class:`LaunchFailed`."""
        opts = dict(opts)
        endpoint = opts.pop("_endpoint", None)
        log_config = opts.pop("log_config", None)
        if log_config:
            opts["log_config"] = LogConfig(type=log_config["type"], config=log_config["config"])
        if endpoint:
            opts["networking_config"] = {opts["network"]: EndpointConfig(self.client.api._version, **endpoint)}
        opts.setdefault("name", name)
        opts.pop("detach", None)
        image = opts.pop("image")
        container = None
        try:
            try:
                container = self.client.containers.create(image, **opts)
            except ImageNotFound as exc:
                raise LaunchFailed(
                    f"Failed to launch container: Failed to pull image '{image}': {exc.explanation}"
                ) from exc
            container.start()
        except LaunchFailed:
            raise
        except (APIError, DockerException, TypeError, ValueError) as exc:
            if container is not None:
                self.remove(container.id)
            text = getattr(exc, "explanation", None) or str(exc)
            raise LaunchFailed(f"Failed to launch container: {text}") from exc
        return container.id

    @staticmethod
    def _state(attrs):
        state = attrs.get("State") or {}
        settings = attrs.get("NetworkSettings") or {}
        ips = []
        for name, net in sorted((settings.get("Networks") or {}).items()):
            if net.get("IPAddress"):
                ips.append({"network": name, "ipAddress": net["IPAddress"]})
            if net.get("GlobalIPv6Address"):
                ips.append({"network": name, "ipAddress": net["GlobalIPv6Address"], "protocol": "IPv6"})
        labels = (attrs.get("Config") or {}).get("Labels") or {}
        return {
            "id": attrs.get("Id"),
            "name": (attrs.get("Name") or "").lstrip("/"),
            "status": state.get("Status"),
            "running": bool(state.get("Running")),
            "exitCode": state.get("ExitCode"),
            "error": state.get("Error") or "",
            "oomKilled": bool(state.get("OOMKilled")),
            "startedAt": state.get("StartedAt"),
            "finishedAt": state.get("FinishedAt"),
            "ips": ips,
            "labels": labels,
            "hostname": (attrs.get("Config") or {}).get("Hostname"),
        }

    def inspect(self, container_id):
        try:
            return self._state(self.client.api.inspect_container(container_id))
        except NotFound:
            return None

    def list_mine(self):
        """Every container of this lab instance (running or not), inspected."""
        result = []
        for summary in self.client.api.containers(all=True, filters={"label": f"{LABEL_INSTANCE}={self.instance}"}):
            state = self.inspect(summary["Id"])
            if state is not None:
                result.append(state)
        return result

    def summaries(self):
        """Cheap listing: ID -> (State, labels) for this instance's containers."""
        items = self.client.api.containers(all=True, filters={"label": f"{LABEL_INSTANCE}={self.instance}"})
        return {c["Id"]: {"state": c.get("State"), "labels": c.get("Labels") or {}} for c in items}

    def stop(self, container_id, grace):
        try:
            self.client.api.stop(container_id, timeout=max(0, int(round(grace))))
        except NotFound:
            pass
        except APIError:
            try:
                self.client.api.kill(container_id)
            except (NotFound, APIError):
                pass

    def remove(self, container_id):
        try:
            self.client.api.remove_container(container_id, force=True, v=True)
        except NotFound:
            pass
        except APIError:
            pass

    def exec(self, container_id, argv):
        """Run ``argv`` in the container; returns (exit code, output)."""
        result = self.client.api.exec_create(container_id, argv, stdout=True, stderr=True)
        output = self.client.api.exec_start(result["Id"])
        code = self.client.api.exec_inspect(result["Id"]).get("ExitCode")
        return code, output.decode("utf-8", "replace") if isinstance(output, bytes) else str(output)
