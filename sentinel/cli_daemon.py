"""`sentinel run`: the sidecar daemon."""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from datetime import timedelta
from types import FrameType
from typing import Any

import click

from sentinel.cli import settings_from
from sentinel.errors import ConfigErrors, SentinelError

log = logging.getLogger("sentinel.daemon")
DRAIN = timedelta(seconds=8)  # SIGTERM to exit must stay under Kubernetes' and our 10 s budget


@click.command()
@click.option("--http-port", type=int, default=None, help="Port for /metrics, /healthz, /readyz [env SENTINEL_HTTP_PORT; 9108].")
@click.option("--http-host", default=None, help="Address to bind [env SENTINEL_HTTP_HOST; 0.0.0.0].")
@click.pass_context
def run(ctx: click.Context, http_port: int | None, http_host: str | None) -> None:
    """Run the daemon: every check on its schedule, results stored, alerts delivered, metrics served.

    \b
    HTTP:  /metrics  Prometheus metrics (check durations, last status, values, errors)
           /healthz  200 while the process and its scheduler are alive (liveness probe)
           /readyz   200 once the config is loaded and the state store is open (readiness probe)
           /         the pipeline per table, stage by stage, with firing alerts (HTML for on-call)
           /-/reload POST: reload alert_rules.yaml, as SIGHUP does (200 taken, 500 rejected, 403 not allowed)
    SIGTERM or SIGINT stop scheduling, let running checks finish (up to 8 s) and exit 0.
    SIGHUP or POST /-/reload (from loopback, or with `Authorization: Bearer` and the reload_token secret) reloads
    alert_rules.yaml: a valid file replaces the checks; a broken one is logged and ignored (/-/reload answers 500).
    With SENTINEL_STATE_DSN (PostgreSQL) replicas share state and only the elected leader runs checks; a config
    reloaded on one replica is shared through the store and taken by every replica within 5 s.
    """
    from sentinel.app import build_app
    from sentinel.config_sync import SYNC_INTERVAL
    from sentinel.daemon_http import health_routes, reload_route
    from sentinel.daemon_ops import (
        publish_config,
        reload_config,
        resolve_orphans,
        running_config,
        start_leadership,
        sync_shared_config,
    )
    from sentinel.http import HttpServer
    from sentinel.reports.weekly import install_report_duty
    from sentinel.scheduler import CheckScheduler
    from sentinel.status_page import status_routes

    more: dict[str, Any] = {k: v for k, v in {"http_port": http_port, "http_host": http_host}.items() if v is not None}
    settings = settings_from(ctx, **more)
    try:
        app = build_app(settings, isolate_checks=True)
    except ConfigErrors as exc:
        click.echo(str(exc), err=True)
        sys.exit(4)
    except SentinelError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(4)

    from sentinel.privilege_preflight import refusals

    refused = refusals(app.sources, app.config)
    if refused:
        for message in refused:
            click.echo(f"error: {message}", err=True)
        app.close()
        sys.exit(4)

    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s; draining", signal.Signals(signum).name)
        stop.set()

    reload_requested = threading.Event()

    def on_hup(_signum: int, _frame: FrameType | None) -> None:
        reload_requested.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, on_hup)

    running_config(app)  # the hash of the file this replica started with
    elector = start_leadership(app)
    publish_config(app)  # replicas: a pod started with a changed file brings the others along
    scheduler = CheckScheduler(app)
    reload_lock = threading.Lock()

    def reload() -> bool:
        """SIGHUP and POST /-/reload: one reload at a time, the same function for both."""
        with reload_lock:
            return reload_config(app, scheduler)

    token = settings.reload_token.get_secret_value() if settings.reload_token is not None else None
    server = HttpServer(settings.http_host, settings.http_port, {**health_routes(app, scheduler), **status_routes(app)},
                        post_routes=reload_route(reload, token))
    server.start()
    scheduler.start()
    if app.alerting is not None:
        app.alerting.start_delivery_workers(lambda: elector is None or elector.confirm())  # a follower never sends
    install_report_duty(app, scheduler)  # weekly SLA report: on schedule, and a missed one on start
    log.info("sentinel running: %d checks, http on %s:%d", len(app.planned), settings.http_host, server.port)
    synced_at = time.monotonic()
    led = False
    while not stop.wait(1.0):
        leads = elector is not None and elector.is_leader
        if leads and not led:
            resolve_orphans(app)  # a reload the previous leader never took may have removed checks
        led = leads
        if reload_requested.is_set():
            reload_requested.clear()
            log.info("received SIGHUP; reloading %s", app.config.path)
            reload()
        if time.monotonic() - synced_at >= SYNC_INTERVAL.total_seconds():
            synced_at = time.monotonic()
            sync_shared_config(app, scheduler)  # a reload on another replica reaches this one
    drained = scheduler.shutdown(DRAIN)
    if app.alerting is not None:
        app.alerting.stop_delivery_workers()
    if app.alerting is not None and (elector is None or elector.is_leader):  # a follower never sends
        try:
            app.alerting.deliver_due()
        except Exception:
            log.exception("final delivery failed; the outbox keeps it for the next start")
    server.stop()
    if elector is not None:
        elector.stop()  # release the lock now: the other replica takes over within its retry interval
    app.close()
    log.info("stopped cleanly" if drained else "stopped; some checks were abandoned mid-run")
    sys.exit(0)
