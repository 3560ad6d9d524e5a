# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A recording HTTP proxy on loopback, to count the requests a client sends to a Marathon.

    with RecordingProxy(lab.url) as proxy:
        run_task("marathon_app", {"url": proxy.url, ...})
        assert proxy.writes() == []

Every request is forwarded unchanged (method, path, query, headers, body) to the target and the
answer returned unchanged; ``proxy.log`` keeps ``(method, path_with_query, status)``.
"""

from __future__ import annotations

import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade", "te", "trailer"}


class RecordingProxy:
    def __init__(self, target):
        parts = urlsplit(target)
        self.target_host = parts.hostname
        self.target_port = parts.port or 80
        self.log = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _forward(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP | {"host"}}
                conn = http.client.HTTPConnection(proxy.target_host, proxy.target_port, timeout=60)
                try:
                    conn.request(self.command, self.path, body=body, headers=headers)
                    answer = conn.getresponse()
                    data = answer.read()
                finally:
                    conn.close()
                with proxy._lock:
                    proxy.log.append((self.command, self.path, answer.status))
                self.send_response(answer.status)
                for key, value in answer.getheaders():
                    if key.lower() not in _HOP_BY_HOP | {"content-length"}:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _forward  # noqa: N815

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def clear(self):
        with self._lock:
            self.log.clear()

    def requests(self):
        with self._lock:
            return list(self.log)

    def writes(self):
        """The requests that could change something (every method but GET and HEAD)."""
        return [r for r in self.requests() if r[0] not in ("GET", "HEAD")]

    def count(self):
        """``{"GET": n, "PUT": m, ...}``."""
        counts = {}
        for method, _path, _status in self.requests():
            counts[method] = counts.get(method, 0) + 1
        return counts
