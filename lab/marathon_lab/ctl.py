# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""``make lab-up`` / ``lab-status`` / ``lab-down``: the lab network, the API and the lab hosts.

    PYTHONPATH=lab python -m marathon_lab.ctl up|status|down [--config lab/config.yml]
    PYTHONPATH=lab python -m marathon_lab.ctl relay --bind 10.201.0.1:8080 --to 127.0.0.1:8080

Everything the lab makes carries the label ``org.pptv.dcos.lab.owner=<instance>``, and ``down``
removes only what has it (plus the API and relay processes whose PID files it wrote).

The API listens on ``listen`` (loopback). ``api_relays`` lists more addresses of this host (the
lab bridge's gateway) where a TCP relay serves the same API, so that processes in the lab hosts
(the gateway's discovery daemon) reach Marathon as they would reach a real one.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import yaml

try:
    import docker
    from docker.errors import APIError, NotFound
except ImportError:  # pragma: no cover
    docker = None

from .driver import LABEL_INSTANCE

OWNER = "org.pptv.dcos.lab.owner"
HOST_LABEL = "org.pptv.dcos.lab.host"
RUN_DIR = os.environ.get("PPTV_LAB_DIR", "/var/lib/pptv-dcos/lab")
HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_CONFIG = os.path.join(HERE, "config.yml")


def load(path):
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle) or {}


def api_url(cfg):
    host = cfg.get("listen", "127.0.0.1")
    if host in ("0.0.0.0", "::"):  # noqa: S104 # nosec - only a display choice
        host = "127.0.0.1"
    return f"http://{host}:{cfg.get('port', 8080)}"


def _get(url, timeout=2):
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 # nosec - local lab URL
        return response.read().decode("utf-8")


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return b"marathon_lab" in handle.read()
    except OSError:
        return False


def _read_pid():
    try:
        with open(os.path.join(RUN_DIR, "api.pid"), encoding="utf-8") as handle:
            return int(handle.read().strip())
    except (OSError, ValueError):
        return None


# ---------------------------------------------------------------- network
def ensure_network(client, cfg):
    net = cfg["lab_network"]
    owner = cfg.get("instance", "lab")
    try:
        network = client.networks.get(net["name"])
        if network.attrs.get("Labels", {}).get(OWNER) != owner:
            raise SystemExit(f"network {net['name']} exists and is not the lab's; remove it or rename lab_network.name")
        print(f"network {net['name']}: present")
    except NotFound:
        ipam = docker.types.IPAMConfig(
            pool_configs=[
                docker.types.IPAMPool(
                    subnet=net["subnet"], gateway=net["gateway"], aux_addresses={"DefaultGatewayIPv4": net["router"]}
                )
            ]
        )
        client.networks.create(
            net["name"],
            driver="bridge",
            ipam=ipam,
            options={"com.docker.network.bridge.name": net["bridge"]},
            labels={OWNER: owner},
        )
        print(
            f"network {net['name']}: created (bridge {net['bridge']}, gateway {net['gateway']}, router {net['router']})"
        )
    # The router address lives on the host too, so that the containers' default route works.
    prefix = net["subnet"].split("/")[1]
    shown = subprocess.run(
        ["ip", "-4", "addr", "show", "dev", net["bridge"]], capture_output=True, text=True, check=False
    )
    if f"{net['router']}/" not in shown.stdout:
        subprocess.run(["ip", "addr", "add", f"{net['router']}/{prefix}", "dev", net["bridge"]], check=False)


# ---------------------------------------------------------------- API
def ensure_api(cfg, config_path):
    url = api_url(cfg)
    pid = _read_pid()
    if pid and _pid_alive(pid):
        with contextlib.suppress(OSError):
            if _get(url + "/ping").strip() == "pong":
                print(f"api: running (pid {pid}) at {url}")
                return
    os.makedirs(RUN_DIR, exist_ok=True)
    log_path = os.path.join(RUN_DIR, "api.log")
    env = dict(os.environ, PYTHONPATH=HERE)
    with open(log_path, "ab") as log:
        process = subprocess.Popen(  # noqa: S603 # nosec - our own module
            [sys.executable, "-m", "marathon_lab", "--config", config_path],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            cwd=HERE,
        )
    with open(os.path.join(RUN_DIR, "api.pid"), "w", encoding="utf-8") as handle:
        handle.write(str(process.pid))
    deadline = time.time() + 30
    while time.time() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the lab API exited with {process.returncode}; see {log_path}")
        with contextlib.suppress(OSError):
            if _get(url + "/ping").strip() == "pong":
                print(f"api: started (pid {process.pid}) at {url}, log {log_path}")
                return
        time.sleep(0.2)
    raise SystemExit(f"the lab API did not answer at {url}; see {log_path}")


def stop_api():
    pid = _read_pid()
    if pid and _pid_alive(pid):
        os.kill(pid, signal.SIGTERM)
        for _attempt in range(100):
            if not _pid_alive(pid):
                break
            time.sleep(0.1)
        else:
            os.kill(pid, signal.SIGKILL)
        print(f"api: stopped (pid {pid})")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(os.path.join(RUN_DIR, "api.pid"))


# ---------------------------------------------------------------- relays
def _split_hostport(text, default_port):
    host, sep, port = text.rpartition(":")
    if not sep:
        return text, int(default_port)
    return host.strip("[]"), int(port)


def _pipe(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)


def _relay_connection(client, target):
    try:
        upstream = socket.create_connection(target, timeout=10)
    except OSError:
        client.close()
        return
    upstream.settimeout(None)
    back = threading.Thread(target=_pipe, args=(upstream, client), daemon=True)
    back.start()
    _pipe(client, upstream)
    back.join()
    client.close()
    upstream.close()


def relay(bind, target):
    """Serve ``bind`` (host, port) by relaying every TCP connection to ``target``; never returns."""
    server = socket.create_server(bind)
    while True:
        client, _address = server.accept()
        threading.Thread(target=_relay_connection, args=(client, target), daemon=True).start()


def _relay_pid_path(address):
    return os.path.join(RUN_DIR, f"relay-{address}.pid")


def _read_pid_file(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return int(handle.read().strip())
    except (OSError, ValueError):
        return None


def ensure_relays(cfg):
    port = int(cfg.get("port", 8080))
    target = api_url(cfg).split("//", 1)[1]  # host:port of the API itself
    for address in cfg.get("api_relays") or []:
        pid_path = _relay_pid_path(address)
        pid = _read_pid_file(pid_path)
        url = f"http://{address}:{port}"
        if pid and _pid_alive(pid):
            print(f"relay: running (pid {pid}) at {url}")
            continue
        os.makedirs(RUN_DIR, exist_ok=True)
        log_path = os.path.join(RUN_DIR, f"relay-{address}.log")
        with open(log_path, "ab") as log:
            process = subprocess.Popen(  # noqa: S603 # nosec - our own module
                [sys.executable, "-m", "marathon_lab.ctl", "relay", "--bind", f"{address}:{port}", "--to", target],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(os.environ, PYTHONPATH=HERE),
                start_new_session=True,
                cwd=HERE,
            )
        with open(pid_path, "w", encoding="utf-8") as handle:
            handle.write(str(process.pid))
        deadline = time.time() + 15
        while time.time() < deadline:
            if process.poll() is not None:
                raise SystemExit(f"the API relay at {url} exited with {process.returncode}; see {log_path}")
            with contextlib.suppress(OSError):
                if _get(url + "/ping").strip() == "pong":
                    print(f"relay: started (pid {process.pid}) at {url} -> {target}")
                    break
            time.sleep(0.2)
        else:
            raise SystemExit(f"the API relay did not answer at {url}; see {log_path}")


def stop_relays(cfg):
    for address in cfg.get("api_relays") or []:
        pid_path = _relay_pid_path(address)
        pid = _read_pid_file(pid_path)
        if pid and _pid_alive(pid):
            os.kill(pid, signal.SIGTERM)
            for _attempt in range(50):
                if not _pid_alive(pid):
                    break
                time.sleep(0.1)
            print(f"relay: stopped (pid {pid})")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(pid_path)


# ---------------------------------------------------------------- hosts
def host_name(cfg, host):
    return cfg.get("lab_host_prefix", "pptv-lab-") + host["name"]


def ensure_hosts(client, cfg):
    net = cfg["lab_network"]
    owner = cfg.get("instance", "lab")
    for host in cfg.get("lab_hosts") or []:
        name = host_name(cfg, host)
        try:
            container = client.containers.get(name)
            if container.labels.get(OWNER) != owner:
                raise SystemExit(f"container {name} exists and is not the lab's")
            if container.status != "running":
                container.start()
                print(f"host {name}: started")
            else:
                print(f"host {name}: running")
            continue
        except NotFound:
            pass
        networking = {net["name"]: client.api.create_endpoint_config(ipv4_address=host["ip"])}
        container = client.api.create_container(
            cfg.get("lab_host_image", "pptv-dcos/systemd:bookworm"),
            name=name,
            hostname=host["name"],
            detach=True,
            labels={OWNER: owner, HOST_LABEL: host["name"]},
            networking_config=client.api.create_networking_config(networking),
            host_config=client.api.create_host_config(
                network_mode=net["name"],
                cap_add=["SYS_ADMIN", "NET_ADMIN"],
                security_opt=["seccomp=unconfined"],
                binds=["/sys/fs/cgroup:/sys/fs/cgroup:rw"],
                tmpfs={"/run": "", "/run/lock": ""},
                devices=[f"{d}:{d}:rwm" for d in host.get("devices") or []],
            ),
        )
        client.api.start(container["Id"])
        print(f"host {name}: created at {host['ip']}")


# ---------------------------------------------------------------- commands
def up(cfg, config_path):
    client = docker.from_env()
    ensure_network(client, cfg)
    ensure_api(cfg, config_path)
    ensure_relays(cfg)
    ensure_hosts(client, cfg)


def status(cfg):
    client = docker.from_env()
    url = api_url(cfg)
    print(f"Marathon API: {url}")
    for address in cfg.get("api_relays") or []:
        pid = _read_pid_file(_relay_pid_path(address))
        state = f"pid {pid}" if pid and _pid_alive(pid) else "down"
        print(f"  also at http://{address}:{cfg.get('port', 8080)} (relay, {state})")
    try:
        info = json.loads(_get(url + "/v2/info"))
        print(f"  up: {info['name']} {info['version']} (leader {info['leader']}), pid {_read_pid()}")
    except (OSError, ValueError) as exc:
        print(f"  down ({exc})")
        info = None
    net = cfg["lab_network"]
    try:
        client.networks.get(net["name"])
        print(f"Network: {net['name']} bridge {net['bridge']} subnet {net['subnet']} gateway {net['gateway']}")
    except NotFound:
        print(f"Network: {net['name']} absent")
    print("Hosts:")
    for host in cfg.get("lab_hosts") or []:
        name = host_name(cfg, host)
        try:
            state = client.containers.get(name).status
        except NotFound:
            state = "absent"
        print(f"  {host['name']:<10} {name:<20} {host['ip']:<15} {state}")
    print("Apps:")
    if info is None:
        print("  (API down)")
        return
    apps = json.loads(_get(url + "/v2/apps"))["apps"]
    if not apps:
        print("  (none)")
    for app in apps:
        print(
            f"  {app['id']:<40} instances {app['instances']:<3} running {app['tasksRunning']:<3} "
            f"healthy {app['tasksHealthy']:<3} deployments {len(app['deployments'])}"
        )
    discovery_status(cfg)


def discovery_status(cfg):
    """One line per environment of the gateway's discovery daemon (its /status), when configured."""
    status_url = cfg.get("discovery_status_url")
    if not status_url:
        return
    print(f"Service discovery: {status_url}")
    try:
        report = json.loads(_get(status_url))
    except (OSError, ValueError) as exc:
        print(f"  not answering ({exc})")
        return
    print(
        f"  syncs {report.get('syncs')} nginx reloads {report.get('nginx_reloads')} "
        f"dns updates {report.get('dns_updates')} last error {report.get('last_error')}"
    )
    for env, info in sorted((report.get("environments") or {}).items()):
        names = ", ".join(sorted(app.get("name", "?") for app in info.get("apps") or []))
        print(f"  {env:<10} dns {info.get('dns')} gateway {info.get('gateway')} apps: {names or '(none)'}")
    for item in report.get("quarantined") or []:
        print(f"  quarantined {item.get('app_id')}: {item.get('reason')}")


def lab_mounts(cfg, mounts_text):
    """Mount points (in ``mounts_text``, /proc/mounts' format) of GlusterFS volumes of a lab host."""
    sources = tuple(f"{host['ip']}:" for host in cfg.get("lab_hosts") or [] if host.get("ip"))
    points = []
    for line in mounts_text.splitlines():
        fields = line.split()
        if len(fields) >= 3 and fields[2] == "fuse.glusterfs" and fields[0].startswith(sources):
            points.append(fields[1].replace("\\040", " "))
    return points


def unmount_lab_volumes(cfg, mounts_path="/proc/mounts"):
    """Unmount (lazily) this host's mounts of the lab's volumes: without their server they go stale."""
    with open(mounts_path, encoding="utf-8") as mounts:
        points = lab_mounts(cfg, mounts.read())
    for point in points:
        done = subprocess.run(["umount", "--lazy", point], capture_output=True, text=True, check=False)  # noqa: S603,S607
        print(f"mount {point}: " + ("unmounted" if done.returncode == 0 else f"not unmounted ({done.stderr.strip()})"))


def down(cfg, keep_state=False):
    client = docker.from_env()
    owner = cfg.get("instance", "lab")
    stop_relays(cfg)
    stop_api()
    unmount_lab_volumes(cfg)
    for container in client.containers.list(all=True, filters={"label": f"{OWNER}={owner}"}):
        container.remove(force=True, v=True)
        print(f"host {container.name}: removed")
    for container in client.containers.list(all=True, filters={"label": f"{LABEL_INSTANCE}={owner}"}):
        container.remove(force=True, v=True)
        print(f"task container {container.name}: removed")
    net = cfg["lab_network"]
    with contextlib.suppress(NotFound):
        network = client.networks.get(net["name"])
        if network.attrs.get("Labels", {}).get(OWNER) == owner:
            try:
                network.remove()
                print(f"network {net['name']}: removed")
            except APIError as exc:
                print(f"network {net['name']}: not removed ({exc.explanation}); containers of others still use it")
    state_dir = cfg.get("state_dir")
    if state_dir and not keep_state and os.path.isdir(state_dir):
        for name in os.listdir(state_dir):
            path = os.path.join(state_dir, name)
            if os.path.isfile(path) and (name == "state.json" or name.startswith(".tmp-")):
                os.unlink(path)
        with contextlib.suppress(OSError):
            os.rmdir(state_dir)
        print(f"state {state_dir}: removed")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="marathon_lab.ctl", description=__doc__)
    parser.add_argument("command", choices=("up", "status", "down", "relay"))
    parser.add_argument("--config", default=os.environ.get("PPTV_LAB_CONFIG", DEFAULT_CONFIG))
    parser.add_argument("--keep-state", action="store_true", help="down: keep apps and versions")
    parser.add_argument("--bind", help="relay: HOST:PORT to serve")
    parser.add_argument("--to", help="relay: HOST:PORT to relay to")
    args = parser.parse_args(argv)
    if args.command == "relay":
        if not args.bind or not args.to:
            parser.error("relay needs --bind and --to")
        relay(_split_hostport(args.bind, 8080), _split_hostport(args.to, 8080))
        return 0
    if docker is None:
        raise SystemExit("the lab needs the Docker SDK for Python")
    config_path = os.path.abspath(args.config)
    cfg = load(config_path)
    if args.command == "up":
        up(cfg, config_path)
    elif args.command == "status":
        status(cfg)
    else:
        down(cfg, args.keep_state)
    return 0


if __name__ == "__main__":
    sys.exit(main())
