"""The daemon's HTTP routes: metrics, probes, and POST /-/reload (as Prometheus and Alertmanager offer it)."""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Callable
from typing import TYPE_CHECKING

from prometheus_client import CONTENT_TYPE_LATEST

from sentinel.daemon_ops import config_state
from sentinel.http import PostRequest, PostRoute, Route

if TYPE_CHECKING:
    from sentinel.daemon_ops import Daemon

TEXT = "text/plain; charset=utf-8"


def health_routes(daemon: Daemon) -> dict[str, Route]:
    app, scheduler = daemon.app, daemon.scheduler

    def metrics() -> tuple[int, str, bytes]:
        return 200, CONTENT_TYPE_LATEST, app.metrics.exposition()

    def healthz() -> tuple[int, str, bytes]:
        if scheduler.check_health():
            return 200, TEXT, b"ok\n"
        return 503, TEXT, ("unhealthy: " + "; ".join(scheduler.problems) + "\n").encode()

    def readyz() -> tuple[int, str, bytes]:
        try:
            version = app.store.schema_version()
        except Exception as exc:
            return 503, TEXT, f"state store not usable: {type(exc).__name__}\n".encode()
        elector = app.leader
        role = f", role {elector.role}" if elector is not None else ""
        # A broken receiver is shown, but stays 200: failing readiness would take the pod Sentinel runs in out of
        # service, and a monitor must never harm what it watches. A replica whose config differs from the shared
        # one is still ready (it serves, it can lead), but says so.
        problems = "".join(f"{p}\n" for p in (app.alerting.receiver_problems() if app.alerting is not None else []))
        config = f", {config_state(daemon)}" if elector is not None else ""
        return 200, TEXT, f"ready: {len(app.planned)} checks, store schema v{version}{role}{config}\n{problems}".encode()

    return {"/metrics": metrics, "/healthz": healthz, "/readyz": readyz}


def reload_route(reload: Callable[[], bool], token: str | None) -> dict[str, PostRoute]:
    """POST /-/reload: the same reload as SIGHUP (`reload`), for a caller on loopback, or anywhere with
    `Authorization: Bearer <token>` when a reload token is set (the `reload_token` secret file). The scrape port is
    reachable from the pod network, so without a token a remote caller is refused rather than trusted."""

    def allowed(request: PostRequest) -> tuple[bool, str]:
        if token is not None and request.authorization is not None:
            scheme, _, given = request.authorization.partition(" ")
            if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
                return True, ""
            return False, "wrong reload token\n"
        try:
            loopback = ipaddress.ip_address(request.client_host.removeprefix("::ffff:")).is_loopback
        except ValueError:
            loopback = False
        if loopback:
            return True, ""
        if token is None:
            return False, ("reload over the network is off: set the reload_token secret and send Authorization: Bearer "
                           "<token>, or call from inside the pod (loopback) or send SIGHUP\n")
        return False, "send Authorization: Bearer <reload token>\n"

    def post(request: PostRequest) -> tuple[int, str, bytes]:
        ok, why = allowed(request)
        if not ok:
            return 403, TEXT, why.encode()
        if reload():
            return 200, TEXT, b"config reloaded\n"
        return 500, TEXT, (b"config reload rejected; the previous config keeps running. The errors are in the log; "
                           b"`sentinel validate` lists them with file:line\n")

    return {"/-/reload": post}
