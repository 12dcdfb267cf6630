"""The daemon's HTTP routes: metrics and probes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from sentinel.daemon_ops import config_state
from sentinel.http import Route

if TYPE_CHECKING:
    from sentinel.app import App
    from sentinel.scheduler import CheckScheduler

TEXT = "text/plain; charset=utf-8"


def health_routes(app: App, scheduler: CheckScheduler) -> dict[str, Route]:
    def metrics() -> tuple[int, str, bytes]:
        return 200, CONTENT_TYPE_LATEST, generate_latest(app.metrics.registry)

    def healthz() -> tuple[int, str, bytes]:
        if scheduler.check_health():
            return 200, TEXT, b"ok\n"
        return 503, TEXT, ("unhealthy: " + "; ".join(scheduler.problems) + "\n").encode()

    def readyz() -> tuple[int, str, bytes]:
        try:
            version = app.store.schema_version()
        except Exception as exc:
            return 503, TEXT, f"state store not usable: {type(exc).__name__}\n".encode()
        elector = app.extras.get("leader")
        role = f", role {elector.role}" if elector is not None else ""
        # A broken receiver is shown, but stays 200: failing readiness would take the pod Sentinel runs in out of
        # service, and a monitor must never harm what it watches. A replica whose config differs from the shared
        # one is still ready (it serves, it can lead), but says so.
        problems = "".join(f"{p}\n" for p in (app.alerting.receiver_problems() if app.alerting is not None else []))
        config = f", {config_state(app)}" if elector is not None else ""
        return 200, TEXT, f"ready: {len(app.planned)} checks, store schema v{version}{role}{config}\n{problems}".encode()

    return {"/metrics": metrics, "/healthz": healthz, "/readyz": readyz}
