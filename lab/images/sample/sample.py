# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pptv-sample: the sample application of the lab's environments (pptv-dcos/sample:bookworm).

One image, its production config baked in (/etc/pptv-sample/config.json): the service it plays is
the last segment of MARATHON_APP_ID (``/func-shop/web`` -> ``web``, a canary ``/prod/web-canary-1`` ->
``web``; SAMPLE_SERVICE overrides), and
the config gives that service its port and the dependencies it talks to, by their production
names. Which address a name means is left to the container's resolver (deployments start every app
with ``--dns`` pointing at its environment's DNS server), so the same image answers differently in
each environment, as the production one would.

    GET /        200, MARATHON_APP_ID and a newline
    GET /health  200, ``ok``
    GET /deps    200, JSON: every dependency resolved, reached and asked one question

Environment: MARATHON_APP_ID, SAMPLE_SERVICE, SAMPLE_PORT (overrides the config's port; the port
of a service the config does not know, default 8080), SAMPLE_LOG_DIR (default /home/logs: one line
per request appended to <service>.log, and printed on stdout), SAMPLE_CONFIG (the config file).
Only the standard library, plus Debian's python3-pymysql for the MySQL question.
"""

from __future__ import annotations

import http.client
import http.server
import json
import os
import re
import signal
import socket
import sys
import threading
import time

CONFIG = os.environ.get("SAMPLE_CONFIG", "/etc/pptv-sample/config.json")
TIMEOUT = 2.0  # seconds, for each step of one dependency's check (resolve; connect and ask)
ANSWER_MAX = 200  # characters of an answer kept in /deps
KINDS = ("http", "redis", "mysql", "zookeeper")


def log(message):
    print(f"pptv-sample: {message}", file=sys.stderr, flush=True)


def service_name(app_id):
    name = os.environ.get("SAMPLE_SERVICE") or app_id.rstrip("/").rsplit("/", 1)[-1] or "sample"
    # A release's canary (/prod/web-canary-1) is the same service with the new image.
    name = re.sub(r"-canary-[0-9]+$", "", name) or name
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}", name):
        log(f"service name {name!r} is not usable as a file name; using 'sample'")
        name = "sample"
    return name


def load_service(name):
    """The port and the dependencies of service ``name`` from the baked config."""
    with open(CONFIG, encoding="utf-8") as handle:
        services = json.load(handle)
    port_env = os.environ.get("SAMPLE_PORT")
    if name not in services:
        log(
            f"WARNING: service {name!r} is not in {CONFIG} (known: {', '.join(sorted(services))}); "
            "starting without dependencies"
        )
        return int(port_env or 8080), []
    spec = services[name]
    deps = []
    for dep in spec.get("deps", []):
        if dep.get("kind") not in KINDS:
            raise SystemExit(f"pptv-sample: {CONFIG}: {name}: unknown dependency kind {dep.get('kind')!r}")
        deps.append(dep)
    return int(port_env or spec["port"]), deps


# --- one question per kind of dependency: each takes (address, dep), returns the answer ---------


def _connect(address, port):
    return socket.create_connection((address, port), timeout=TIMEOUT)


def _read_all(sock, limit=65536):
    chunks, size = [], 0
    while size < limit:
        chunk = sock.recv(4096)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def ask_redis(address, dep):
    with _connect(address, dep["port"]) as sock:
        sock.sendall(b"*1\r\n$4\r\nPING\r\n")
        line = sock.makefile("rb").readline(1024).decode(errors="replace").strip()
    if line != "+PONG":
        raise RuntimeError(f"unexpected answer to PING: {line!r}")
    return "PONG"


def ask_zookeeper(address, dep):
    with _connect(address, dep["port"]) as sock:
        sock.sendall(b"srvr")
        text = _read_all(sock).decode(errors="replace")
    first = text.splitlines()[0].strip() if text.strip() else ""
    if not first.startswith("Zookeeper version"):
        raise RuntimeError(f"unexpected answer to srvr: {first!r}")
    return first


def ask_mysql(address, dep):
    import pymysql  # Debian's python3-pymysql

    conn = pymysql.connect(
        host=address,
        port=dep["port"],
        user=dep.get("user", "sample"),
        password=dep.get("password", ""),
        database=dep.get("database", "sample"),
        connect_timeout=TIMEOUT,
        read_timeout=TIMEOUT,
        write_timeout=TIMEOUT,
    )
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT CONCAT(@@hostname, ' ', DATABASE(), ' ', VERSION())")
            return str(cursor.fetchone()[0])
    finally:
        conn.close()


def ask_http(address, dep):
    conn = http.client.HTTPConnection(address, dep["port"], timeout=TIMEOUT)
    try:
        conn.request("GET", "/", headers={"Host": dep["name"], "User-Agent": "pptv-sample"})
        response = conn.getresponse()
        body = response.read(65536).decode(errors="replace").strip()
    finally:
        conn.close()
    if response.status != 200:
        raise RuntimeError(f"GET / answered HTTP {response.status}: {body[:80]!r}")
    return body


ASK = {"http": ask_http, "redis": ask_redis, "mysql": ask_mysql, "zookeeper": ask_zookeeper}


def check(dep, result):
    """Fill ``result`` for ``dep``: resolve with the system resolver, then connect and ask."""
    # getaddrinfo has no timeout of its own (glibc waits 5 s per try on a DNS server that does not
    # answer): it runs in a thread of its own, abandoned after TIMEOUT.
    resolved = {}

    def resolve():
        try:
            resolved["infos"] = socket.getaddrinfo(dep["name"], dep["port"], type=socket.SOCK_STREAM)
        except OSError as exc:
            resolved["error"] = exc

    resolver = threading.Thread(target=resolve, daemon=True)
    resolver.start()
    resolver.join(TIMEOUT)
    if "infos" not in resolved:
        reason = resolved.get("error") or f"no answer from the resolver within {TIMEOUT:.0f} s"
        result["error"] = f"cannot resolve {dep['name']}: {reason}"
        return
    result["address"] = resolved["infos"][0][4][0]
    result["phase"] = "asking"
    try:
        result["answer"] = ASK[dep["kind"]](result["address"], dep)[:ANSWER_MAX]
        result["reached"] = True
    except Exception as exc:  # every failure of a dependency is an answer of /deps
        result["error"] = f"{type(exc).__name__}: {exc}"[:ANSWER_MAX] or type(exc).__name__


def check_all(deps):
    """Every dependency checked at once; one that has not answered in time is reported as such."""
    results, threads = [], []
    for dep in deps:
        result = {
            "name": dep["name"], "port": dep["port"], "kind": dep["kind"],
            "address": None, "reached": False, "answer": None, "error": None, "phase": "resolving",
        }  # fmt: skip
        thread = threading.Thread(target=check, args=(dep, result), daemon=True)
        thread.start()
        results.append(result)
        threads.append(thread)
    # Resolving and asking have TIMEOUT each (a slow peer may use several socket timeouts while it
    # trickles its answer): whatever is still going at the deadline is reported as timed out.
    budget = 2 * TIMEOUT + 0.5
    deadline = time.monotonic() + budget
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    answer = []
    for thread, result in zip(threads, results):
        entry = dict(result)
        phase = entry.pop("phase")
        if thread.is_alive():
            entry.update(reached=False, answer=None, error=f"no answer within {budget:.1f} s (still {phase})")
        answer.append(entry)
    return answer


# --- the HTTP server -----------------------------------------------------------------------------


class RequestLog:
    def __init__(self, directory, service):
        self.path = None
        self.lock = threading.Lock()
        try:
            os.makedirs(directory, exist_ok=True)
            self.path = os.path.join(directory, f"{service}.log")
            with open(self.path, "a", encoding="utf-8"):
                pass
        except OSError as exc:
            log(f"WARNING: cannot write the request log in {directory}: {exc}; logging to stdout only")
            self.path = None

    def write(self, line):
        with self.lock:
            print(line, flush=True)
            if self.path:
                try:
                    with open(self.path, "a", encoding="utf-8") as handle:
                        handle.write(line + "\n")
                except OSError as exc:
                    log(f"WARNING: cannot append to {self.path}: {exc}")


class Handler(http.server.BaseHTTPRequestHandler):
    server_version = "pptv-sample/1"
    protocol_version = "HTTP/1.1"

    def _send(self, status, body, content_type="text/plain; charset=utf-8"):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def do_GET(self):  # noqa: N802 - the name BaseHTTPRequestHandler calls
        path = self.path.split("?", 1)[0]
        app = self.server.app
        if path == "/":
            self._send(200, app["id"] + "\n")
        elif path == "/health":
            self._send(200, "ok\n")
        elif path == "/deps":
            body = {"app": app["id"], "service": app["service"], "deps": check_all(app["deps"])}
            self._send(200, json.dumps(body, indent=1) + "\n", "application/json")
        else:
            self._send(404, "not found\n")

    do_HEAD = do_GET

    def log_request(self, code="-", size="-"):
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        path = self.path.replace(" ", "%20").replace("\n", "%0A")
        status = code.value if hasattr(code, "value") else code
        self.server.request_log.write(f"{stamp} {self.client_address[0]} {self.command} {path} {status}")

    def log_message(self, format, *args):  # noqa: A002 - the signature BaseHTTPRequestHandler calls
        log(format % args)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def on_sigterm(_signum, _frame):
    raise SystemExit(0)


def main():
    app_id = os.environ.get("MARATHON_APP_ID", "")
    service = service_name(app_id)
    port, deps = load_service(service)
    server = Server(("0.0.0.0", port), Handler)
    server.app = {"id": app_id, "service": service, "deps": deps}
    server.request_log = RequestLog(os.environ.get("SAMPLE_LOG_DIR") or "/home/logs", service)
    signal.signal(signal.SIGTERM, on_sigterm)
    signal.signal(signal.SIGINT, on_sigterm)
    deps_text = ", ".join(f"{d['name']}:{d['port']} ({d['kind']})" for d in deps) or "none"
    log(f"app {app_id or '(no MARATHON_APP_ID)'} as service {service} on port {port}; dependencies: {deps_text}")
    try:
        server.serve_forever(poll_interval=0.5)
    finally:
        server.server_close()
        log("stopped")


if __name__ == "__main__":
    main()
