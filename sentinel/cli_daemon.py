"""`sentinel run`: the sidecar daemon."""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from datetime import timedelta
from types import FrameType
from typing import TYPE_CHECKING, Any

import click

from sentinel.cli import settings_from
from sentinel.errors import ConfigErrors, SentinelError

if TYPE_CHECKING:
    from sentinel.config.settings import Settings
    from sentinel.daemon_ops import Daemon
    from sentinel.http import HttpServer

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
    more: dict[str, Any] = {k: v for k, v in {"http_port": http_port, "http_host": http_host}.items() if v is not None}
    settings = settings_from(ctx, **more)
    stop, reload_requested = _signals()  # before anything starts: a SIGTERM during startup still drains
    daemon, server = _start(settings)
    _main_loop(daemon, stop, reload_requested)
    _shutdown(daemon, server)
    sys.exit(0)


def _start(settings: Settings) -> tuple[Daemon, HttpServer]:
    """Build the app (exit 4 on a bad config or a refused privileged connection), elect, serve and schedule."""
    from sentinel.compose_root import Wiring, build_app
    from sentinel.daemon_ops import Daemon, publish_config, start_leadership
    from sentinel.privilege_preflight import refusals
    from sentinel.reports.weekly import install_report_duty
    from sentinel.scheduler import CheckScheduler

    try:
        app = build_app(settings, wiring=Wiring(daemon=True))
    except ConfigErrors as exc:
        click.echo(str(exc), err=True)
        sys.exit(4)
    except SentinelError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(4)
    refused = refusals(app.sources, app.config)
    if refused:
        for message in refused:
            click.echo(f"error: {message}", err=True)
        app.close()
        sys.exit(4)
    daemon = Daemon.of(app, CheckScheduler(app))  # the hash of the file this replica started with
    start_leadership(app)
    publish_config(daemon)  # replicas: a pod started with a changed file brings the others along
    server = _serve(daemon, settings)
    daemon.scheduler.start()
    if app.alerting is not None:
        leader = app.leader
        app.alerting.start_delivery_workers(lambda: leader is None or leader.confirm())  # a follower never sends
    install_report_duty(app, daemon.scheduler)  # weekly SLA report: on schedule, and a missed one on start
    log.info("sentinel running: %d checks, http on %s:%d", len(app.planned), settings.http_host, server.port)
    return daemon, server


def _serve(daemon: Daemon, settings: Settings) -> HttpServer:
    from sentinel.daemon_http import health_routes, reload_route
    from sentinel.daemon_ops import reload_config
    from sentinel.http import HttpServer
    from sentinel.status_page import status_routes

    token = settings.reload_token.get_secret_value() if settings.reload_token is not None else None
    server = HttpServer(settings.http_host, settings.http_port,
                        {**health_routes(daemon), **status_routes(daemon.app)},
                        post_routes=reload_route(lambda: reload_config(daemon), token))
    server.start()
    return server


def _signals() -> tuple[threading.Event, threading.Event]:
    """SIGTERM/SIGINT set the first event (drain and exit), SIGHUP the second (reload)."""
    stop, reload_requested = threading.Event(), threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s; draining", signal.Signals(signum).name)
        stop.set()

    def on_hup(_signum: int, _frame: FrameType | None) -> None:
        reload_requested.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, on_hup)
    return stop, reload_requested


def _main_loop(daemon: Daemon, stop: threading.Event, reload_requested: threading.Event) -> None:
    from sentinel.config_sync import SYNC_INTERVAL
    from sentinel.daemon_ops import reload_config, resolve_orphans, sync_shared_config

    app = daemon.app
    synced_at = time.monotonic()
    led = False
    while not stop.wait(1.0):
        leads = app.leader is not None and app.leader.is_leader
        if leads and not led:
            resolve_orphans(app)  # a reload the previous leader never took may have removed checks
        led = leads
        if reload_requested.is_set():
            reload_requested.clear()
            log.info("received SIGHUP; reloading %s", app.config.path)
            reload_config(daemon)
        if time.monotonic() - synced_at >= SYNC_INTERVAL.total_seconds():
            synced_at = time.monotonic()
            sync_shared_config(daemon)  # a reload on another replica reaches this one


def _shutdown(daemon: Daemon, server: HttpServer) -> bool:
    """Stop scheduling, drain running checks, send what is due (leader only), release the lock. True: drained."""
    app = daemon.app
    drained = daemon.scheduler.shutdown(DRAIN)
    if app.alerting is not None:
        app.alerting.stop_delivery_workers()
    if app.alerting is not None and app.leads():  # a follower never sends
        try:
            app.alerting.deliver_due()
        except Exception:
            log.exception("final delivery failed; the outbox keeps it for the next start")
    server.stop()
    if app.leader is not None:
        app.leader.stop()  # release the lock now: the other replica takes over within its retry interval
    app.close()
    log.info("stopped cleanly" if drained else "stopped; some checks were abandoned mid-run")
    return drained
