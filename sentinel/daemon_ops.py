"""Daemon duties beyond scheduling: leader election on a shared store, and config reload on SIGHUP."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from sentinel.errors import ConfigErrors, ConfigProblem, PluginError, SentinelError

if TYPE_CHECKING:
    from sentinel.app import App
    from sentinel.leader import LeaderElector
    from sentinel.scheduler import CheckScheduler

log = logging.getLogger("sentinel.daemon")


def start_leadership(app: App) -> LeaderElector | None:
    """With SENTINEL_STATE_DSN (replicas share state) elect one leader; alone (SQLite) this replica just runs."""
    if app.settings.state_dsn is None:
        return None
    import os
    import socket

    from sentinel.leader import LeaderElector, leader_gauge

    elector = LeaderElector(app.settings.state_dsn.get_secret_value(), name=f"{socket.gethostname()}:{os.getpid()}")
    app.extras["leader"] = elector
    registry = getattr(app.metrics, "registry", None)
    if registry is not None:
        leader_gauge(registry, elector)
    elector.start()
    log.info("leader election: this replica starts as %s", elector.role)
    return elector


def reload_config(app: App, scheduler: CheckScheduler) -> bool:
    """Load the config file again. Valid: it replaces checks, rules and routes, and the jobs follow.
    Invalid: every error is logged and the running config stays. Returns whether the new config was taken."""
    from sentinel.app import build_alerting, plan_checks, warn_privileged_allowed
    from sentinel.config.loader import load_config

    path = app.config.path
    started = time.monotonic()
    try:
        config = load_config(path, app.registry)
        try:
            planned = plan_checks(config, app.registry)
        except PluginError as exc:
            raise ConfigErrors([ConfigProblem(str(path), "checks", str(exc))]) from None
    except (ConfigErrors, SentinelError) as exc:
        _count(app, "rejected")
        log.error("config reload rejected; still running the previous config (%d checks):\n%s", len(app.planned), exc)
        return False
    except Exception:
        _count(app, "rejected")
        log.exception("config reload failed; still running the previous config (%d checks)", len(app.planned))
        return False

    old = (app.config, app.planned, app.alerting, app.sla)
    app.config, app.planned = config, planned
    try:
        app.sla = _sla_ledger(app)
        if app.alerting is not None:
            app.alerting = build_alerting(app)
    except Exception as exc:  # a reload must never take the running daemon down
        app.config, app.planned, app.alerting, app.sla = old
        _count(app, "rejected")
        if isinstance(exc, (ConfigErrors, SentinelError)):
            log.error("config reload rejected; still running the previous config:\n%s", exc)
        else:
            log.exception("config reload failed; still running the previous config")
        return False
    # the connection policy (allow_privileged) follows the file too; the runner reads it from the shared Sources
    app.sources.connections = config.spec.connections
    warn_privileged_allowed(config)
    before, after = {p.id for p in old[1]}, {p.id for p in planned}
    scheduler.replace_checks(planned)
    _forget_metrics(app, [p for p in old[1] if p.id not in after])
    _count(app, "applied")
    log.info("config reloaded from %s in %.0f ms: %d checks (added: %s; removed: %s)", path,
             (time.monotonic() - started) * 1000, len(planned), ", ".join(sorted(after - before)) or "none",
             ", ".join(sorted(before - after)) or "none")
    return True


def _forget_metrics(app: App, removed: list[Any]) -> None:
    """Drop the series of removed checks, so dashboards and alerts do not see their last value forever."""
    forget = getattr(app.metrics, "forget", None)
    if forget is not None:
        for p in removed:
            forget(p.id, p.spec.kind)


def _sla_ledger(app: App) -> Any:
    """The SLA ledger for the new config's `slas:` (as build_app makes it), or None."""
    if not app.config.spec.slas:
        return None
    from sentinel.sla_ledger import SlaLedger

    return SlaLedger(app.config.spec.slas, app.store, app.clock)


def _count(app: App, result: str) -> None:
    registry = getattr(app.metrics, "registry", None)
    if registry is None:
        return
    counter: Any = app.extras.get("reload_counter")
    if counter is None:
        from prometheus_client import Counter

        counter = Counter("sentinel_config_reloads", "Config reloads (SIGHUP or POST /-/reload) by result (applied, rejected)",
                          ["result"], registry=registry)
        app.extras["reload_counter"] = counter
    counter.labels(result=result).inc()
