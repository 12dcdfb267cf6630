"""One small HTTP server for /metrics, /healthz, /readyz (and pages added by other modules)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

log = logging.getLogger(__name__)

# A route answers (status code, content type, body).
Route = Callable[[], tuple[int, str, bytes]]


class HttpServer:
    def __init__(self, host: str, port: int, routes: dict[str, Route]) -> None:
        self.routes = routes
        handler = self._handler()
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="sentinel-http", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        routes = self.routes

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                route = routes.get(self.path.split("?", 1)[0])
                if route is None:
                    code, ctype, body = 404, "text/plain; charset=utf-8", b"not found\n"
                else:
                    try:
                        code, ctype, body = route()
                    except Exception:
                        log.exception("HTTP route %s failed", self.path)
                        code, ctype, body = 500, "text/plain; charset=utf-8", b"internal error\n"
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                log.debug("http: " + format, *args)

        return Handler
