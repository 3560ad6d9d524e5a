# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Docker side of the lab: what Mesos' Docker containerizer does with a task.

``run_options`` is a pure function from (app, task environment) to Docker SDK ``containers.create``
keyword arguments, so that the Marathon -> Docker mapping is testable without an engine.
``DockerDriver`` talks to the engine through the Docker SDK.
"""

from __future__ import annotations

import contextlib

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
    key, _sep, val = str(value).partition(sep)
    return key, val


def _flag(value):
    return value.lower() in ("true", "1", "")


def _set_network(opts, _endpoint, value):
    opts.pop("network", None)
    opts.pop("network_mode", None)
    if value in ("host", "none") or value.startswith("container:"):
        opts["network_mode"] = value
    else:
        opts["network"] = value


def _ulimit(value):
    name, val = _kv(value)
    soft, _sep, hard = val.partition(":")
    return {"Name": name, "Soft": int(soft), "Hard": int(hard or soft)}


# How each `docker run` flag lands in the SDK's create() arguments:
#   ("set", option, convert)      opts[option] = convert(value)
#   ("set-add", option, convert)  opts[option].append(convert(value))
#   ("add", option)               opts[option].append(value)
#   ("map", option, sep)          opts[option][key] = val, from "key<sep>val"
#   ("endpoint", field)           the network endpoint's field (ip, mac address)
#   ("endpoint-add", field)       appended to the endpoint's field (aliases)
#   a callable                    fn(opts, endpoint, value)
_PARAMETERS = {
    "net": _set_network,
    "network": _set_network,
    "ip": ("endpoint", "ipv4_address"),
    "ip6": ("endpoint", "ipv6_address"),
    "mac-address": ("endpoint", "mac_address"),
    "network-alias": ("endpoint-add", "aliases"),
    "net-alias": ("endpoint-add", "aliases"),
    "dns": ("add", "dns"),
    "dns-search": ("add", "dns_search"),
    "dns-opt": ("add", "dns_opt"),
    "dns-option": ("add", "dns_opt"),
    "volume": ("add", "volumes"),
    "v": ("add", "volumes"),
    "hostname": ("set", "hostname", str),
    "h": ("set", "hostname", str),
    "add-host": ("map", "extra_hosts", ":"),
    "label": ("map", "labels", "="),
    "l": ("map", "labels", "="),
    "env": ("map", "environment", "="),
    "e": ("map", "environment", "="),
    "log-driver": ("set", "_log_type", str),
    "log-opt": ("map", "_log_opts", "="),
    "cap-add": ("add", "cap_add"),
    "cap-drop": ("add", "cap_drop"),
    "user": ("set", "user", str),
    "u": ("set", "user", str),
    "workdir": ("set", "working_dir", str),
    "w": ("set", "working_dir", str),
    "entrypoint": ("set", "entrypoint", str),
    "name": ("set", "name", str),
    "security-opt": ("add", "security_opt"),
    "sysctl": ("map", "sysctls", "="),
    "tmpfs": ("map", "tmpfs", ":"),
    "ulimit": ("set-add", "ulimits", _ulimit),
    "shm-size": ("set", "shm_size", str),
    "memory-swap": ("set", "memswap_limit", str),
    "memory-reservation": ("set", "mem_reservation", str),
    "cpu-shares": ("set", "cpu_shares", int),
    "cpuset-cpus": ("set", "cpuset_cpus", str),
    "pids-limit": ("set", "pids_limit", int),
    "init": ("set", "init", _flag),
    "read-only": ("set", "read_only", _flag),
    "stop-signal": ("set", "stop_signal", str),
    "device": ("add", "devices"),
    "pid": ("set", "pid_mode", str),
    "ipc": ("set", "ipc_mode", str),
    "oom-kill-disable": ("set", "oom_kill_disable", _flag),
}
SUPPORTED_PARAMETERS = sorted(_PARAMETERS)


def _apply_parameter(key, value, opts, endpoint):
    """Map one ``container.docker.parameters`` entry (a ``docker run --key=value`` flag)."""
    rule = _PARAMETERS.get(key)
    value = str(value)
    if rule is None:
        raise LaunchFailed(
            f"Failed to launch container: docker run: unknown flag: --{key} (container.docker.parameters)"
        )
    if callable(rule):
        rule(opts, endpoint, value)
        return
    kind, option = rule[0], rule[1]
    try:
        if kind == "set":
            opts[option] = rule[2](value)
        elif kind == "set-add":
            opts.setdefault(option, []).append(rule[2](value))
        elif kind == "add":
            opts.setdefault(option, []).append(value)
        elif kind == "map":
            name, val = _kv(value, rule[2])
            opts.setdefault(option, {})[name] = val
        elif kind == "endpoint":
            endpoint[option] = value
        else:
            endpoint.setdefault(option, []).append(value)
    except ValueError as exc:
        raise LaunchFailed(f"Failed to launch container: docker run: invalid argument {value!r} for --{key}") from exc


def _command_options(app, opts):
    cmd = app.get("cmd")
    if cmd:
        # Mesos runs a shell command as `--entrypoint /bin/sh <image> -c <cmd>`.
        opts["entrypoint"] = ["/bin/sh", "-c"]
        opts["command"] = [cmd]
    elif app.get("args"):
        opts["command"] = list(app["args"])


def _network_options(app, container, host_ports, opts):
    networks = app.get("networks") or [{"mode": "host"}]
    mode = networks[0].get("mode")
    if mode == "host":
        opts["network_mode"] = "host"
        return
    opts["network"] = "bridge" if mode == "container/bridge" else networks[0].get("name") or "bridge"
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


def run_options(app, task, env, labels, host_ports):
    """Docker SDK ``create`` kwargs for one task of ``app``.

    ``host_ports`` maps ``(containerPort, protocol)`` to the host port given to the task (bridge).
    Raises :class:`LaunchFailed` for a parameter Mesos/Docker would reject.
    """
    del task  # the task's identity travels in env and labels
    container = app.get("container") or {}
    dock = container.get("docker") or {}
    opts = {
        "image": dock.get("image"),
        "environment": dict(env),
        "labels": dict(labels),
        "cpu_shares": max(2, int(float(app.get("cpus", 1)) * 1024)),
        "mem_limit": f"{max(6, int(float(app.get('mem', 128))))}m",
    }
    if dock.get("privileged"):
        opts["privileged"] = True
    _command_options(app, opts)
    _network_options(app, container, host_ports, opts)
    volumes = [
        f"{v['hostPath']}:{v['containerPath']}:{v.get('mode', 'RW').lower()}"
        for v in container.get("volumes") or []
        if v.get("hostPath")
    ]
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
            with contextlib.suppress(NotFound, APIError):
                self.client.api.kill(container_id)

    def remove(self, container_id):
        with contextlib.suppress(NotFound, APIError):
            self.client.api.remove_container(container_id, force=True, v=True)

    def exec(self, container_id, argv):
        """Run ``argv`` in the container; returns (exit code, output)."""
        result = self.client.api.exec_create(container_id, argv, stdout=True, stderr=True)
        output = self.client.api.exec_start(result["Id"])
        code = self.client.api.exec_inspect(result["Id"]).get("ExitCode")
        return code, output.decode("utf-8", "replace") if isinstance(output, bytes) else str(output)
