"""One small HTTP server for /metrics, /healthz, /readyz (and pages added by other modules)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

log = logging.getLogger(__name__)
TEXT = "text/plain; charset=utf-8"

# A route answers (status code, content type, body).
Route = Callable[[], tuple[int, str, bytes]]
MAX_POST_BODY = 64 * 1024  # POST routes take no body; anything larger is not a client of ours


@dataclass(frozen=True)
class PostRequest:
    """What a POST route may judge the caller by: the peer address and its Authorization header."""

    client_host: str
    authorization: str | None


PostRoute = Callable[[PostRequest], tuple[int, str, bytes]]


class HttpServer:
    def __init__(self, host: str, port: int, routes: dict[str, Route],
                 post_routes: dict[str, PostRoute] | None = None) -> None:
        self.routes = routes
        self.post_routes = post_routes or {}
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
        routes, post_routes = self.routes, self.post_routes

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                route = routes.get(path)
                if route is None:
                    if path in post_routes:
                        self._answer(405, TEXT, b"use POST\n", allow="POST")
                        return
                    code, ctype, body = 404, TEXT, b"not found\n"
                else:
                    try:
                        code, ctype, body = route()
                    except Exception:
                        log.exception("HTTP route %s failed", self.path)
                        code, ctype, body = 500, TEXT, b"internal error\n"
                self._answer(code, ctype, body)

            def do_POST(self) -> None:
                path = self.path.split("?", 1)[0]
                post = post_routes.get(path)
                if post is None:
                    self._answer(405 if path in routes else 404, TEXT, b"not found\n" if path not in routes
                                 else b"use GET\n", allow="GET" if path in routes else None)
                    return
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_POST_BODY:
                    self._answer(413, TEXT, b"request body too large\n")
                    return
                self.rfile.read(length)  # drain it: a kept-alive connection must not read it as the next request
                try:
                    code, ctype, body = post(PostRequest(self.client_address[0], self.headers.get("Authorization")))
                except Exception:
                    log.exception("HTTP route POST %s failed", path)
                    code, ctype, body = 500, TEXT, b"internal error\n"
                self._answer(code, ctype, body)

            def _answer(self, code: int, ctype: str, body: bytes, allow: str | None = None) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                if allow:
                    self.send_header("Allow", allow)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                log.debug("http: " + format, *args)

        return Handler
