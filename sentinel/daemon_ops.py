"""Daemon duties beyond scheduling: leader election on a shared store, and config reload (SIGHUP, POST /-/reload,
and a newer config shared by another replica: see sentinel.config_sync)."""

from __future__ import annotations

import logging
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sentinel.config_sync import RunningConfig, config_hash, describe
from sentinel.errors import ConfigErrors, ConfigProblem, PluginError, SentinelError
from sentinel.store.shared_config import SharedConfigMixin

if TYPE_CHECKING:
    from sentinel.app import App
    from sentinel.config.loader import LoadedConfig
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


_RELOAD_LOCK = threading.Lock()  # SIGHUP (main loop), POST /-/reload (an HTTP thread) and the shared-config sync


def reload_config(app: App, scheduler: CheckScheduler) -> bool:
    """Load the config file again: SIGHUP and POST /-/reload both call this. Valid: it replaces checks, rules and
    routes, the jobs follow, alerts of removed checks resolve, and with replicas it is published to the shared
    store so every replica takes it (sentinel.config_sync). Invalid: every error is logged and the running config
    stays. Returns whether the new config was taken."""
    from sentinel.config.loader import load_config

    path = app.config.path
    with _RELOAD_LOCK:
        text = _read_text(path)
        if _apply(app, scheduler, lambda: load_config(path, app.registry), str(path)):
            return False
        running = running_config(app)
        running.hash, running.version, running.origin = config_hash(text), 0, "its own file"
        publish_config(app, text)
        return True


def running_config(app: App) -> RunningConfig:
    """What this replica runs (kept in app.extras; the first call hashes the file it started with)."""
    running: RunningConfig | None = app.extras.get("running_config")
    if running is None:
        running = RunningConfig(hash=config_hash(_read_text(app.config.path)))
        app.extras["running_config"] = running
    return running


def publish_config(app: App, text: str | None = None) -> None:
    """With a shared store: record this replica's config as the one every replica runs, if it differs."""
    store = app.store
    if app.settings.state_dsn is None or not isinstance(store, SharedConfigMixin):
        return
    running = running_config(app)
    text = _read_text(app.config.path) if text is None else text
    if config_hash(text) != running.hash:
        return  # the file changed after it was loaded: the next reload publishes it
    try:
        before = store.shared_config()
        running.version = store.shared_config_publish(running.hash, text, replica_name(), app.clock.now())
    except Exception as exc:
        log.warning("could not record the config in the shared store (%s); other replicas keep theirs",
                    type(exc).__name__)
        return
    if before is None or before.hash != running.hash:
        log.info("config %s is now the shared config v%d: every replica takes it", running.hash, running.version)


def sync_shared_config(app: App, scheduler: CheckScheduler) -> bool:
    """Take a newer shared config than the one running (every SYNC_INTERVAL, on every replica). Returns whether
    a config was taken."""
    store = app.store
    if app.settings.state_dsn is None or not isinstance(store, SharedConfigMixin):
        return False
    with _RELOAD_LOCK:
        try:
            shared = store.shared_config()
        except Exception as exc:
            log.debug("shared config not readable: %s", type(exc).__name__)
            return False
        running = running_config(app)
        if shared is None:
            return False
        if shared.hash == running.hash:
            running.version = shared.version
            return False
        if shared.version <= max(running.version, running.rejected_version):
            return False
        origin = f"shared config v{shared.version} from {shared.published_by}"
        log.info("taking the %s (this replica ran %s)", origin, running.hash)
        copy = Path(tempfile.gettempdir()) / f"sentinel-shared-config-v{shared.version}.yaml"
        copy.write_text(shared.text, encoding="utf-8")
        try:
            error = _apply(app, scheduler, lambda: _load_copy(app, copy), origin)
        finally:
            copy.unlink(missing_ok=True)
        if error:
            running.rejected_version, running.rejected_why = shared.version, error
            return False
        running.hash, running.version, running.origin = shared.hash, shared.version, origin
        running.rejected_version, running.rejected_why = 0, ""
        return True


def config_state(app: App) -> str:
    """For /readyz: the config version and hash this replica runs, or how it differs from the shared one."""
    running = running_config(app)
    store = app.store
    shared = None
    if app.settings.state_dsn is not None and isinstance(store, SharedConfigMixin):
        try:
            shared = store.shared_config()
        except Exception:
            shared = None
    return describe(running, shared)


def replica_name() -> str:
    import os
    import socket

    return f"{socket.gethostname()}:{os.getpid()}"


def _load_copy(app: App, copy: Path) -> LoadedConfig:
    """The shared config, loaded from a temporary copy but known by this replica's config path (SIGHUP reads it)."""
    from sentinel.config.loader import load_config

    return replace(load_config(copy, app.registry), path=app.config.path)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _leads(app: App) -> bool:
    elector = app.extras.get("leader")
    return elector is None or bool(elector.is_leader)


def _apply(app: App, scheduler: CheckScheduler, load: Callable[[], LoadedConfig], source: str) -> str:
    """Load, validate and swap in a config. Returns '' when applied, else the first line of why not (logged)."""
    from sentinel.app import build_alerting, plan_checks, warn_privileged_allowed

    started = time.monotonic()
    try:
        config = load()
        try:
            planned = plan_checks(config, app.registry)
        except PluginError as exc:
            raise ConfigErrors([ConfigProblem(str(config.path), "checks", str(exc))]) from None
    except (ConfigErrors, SentinelError) as exc:
        _count(app, "rejected")
        log.error("config reload rejected; still running the previous config (%d checks):\n%s", len(app.planned), exc)
        return _first_line(exc)
    except Exception as exc:
        _count(app, "rejected")
        log.exception("config reload failed; still running the previous config (%d checks)", len(app.planned))
        return _first_line(exc)

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
        return _first_line(exc)
    # the connection policy (allow_privileged) follows the file too; the runner reads it from the shared Sources
    app.sources.connections = config.spec.connections
    warn_privileged_allowed(config)
    before, after = {p.id for p in old[1]}, {p.id for p in planned}
    scheduler.replace_checks(planned)
    if old[2] is not None and app.alerting is not None and old[2] is not app.alerting:
        may_send = old[2].stop_delivery_workers()  # the new pipeline's workers take over the same outbox
        if may_send is not None:
            app.alerting.start_delivery_workers(may_send)
    _forget_metrics(app, [p for p in old[1] if p.id not in after])
    if app.alerting is not None and _leads(app):  # followers leave alert states to the leader
        try:
            app.alerting.resolve_removed(before - after)
        except Exception:
            log.exception("resolving the alerts of removed checks failed; they stay open until the next reload")
    _count(app, "applied")
    log.info("config reloaded from %s in %.0f ms: %d checks (added: %s; removed: %s)", source,
             (time.monotonic() - started) * 1000, len(planned), ", ".join(sorted(after - before)) or "none",
             ", ".join(sorted(before - after)) or "none")
    return ""


def resolve_orphans(app: App) -> int:
    """On becoming leader: alerts of checks the running config does not have resolve ("check removed from config").
    The leader that took a reload resolves them at once; this covers a leader that died before taking it, whose
    follower took the config while it could not yet touch alert states. Returns how many resolved."""
    from sentinel.sla import burn_check_id

    if app.alerting is None or not _leads(app):
        return 0
    known = {p.id for p in app.planned} | {burn_check_id(s.id) for s in app.config.spec.slas}
    try:
        states = getattr(app.store, "alert_states", None)
        active = {s.check_id for s in states(active_only=True).values()} if states is not None else set()
        return len(app.alerting.resolve_removed(active - known))
    except Exception:
        log.exception("resolving alerts of checks no longer configured failed; retried at the next takeover")
        return 0


def _first_line(exc: BaseException) -> str:
    """The first problem, without a file name (a shared config is read from a temporary copy)."""
    if isinstance(exc, ConfigErrors) and exc.problems:
        first = exc.problems[0]
        more = f" (+{len(exc.problems) - 1} more, see the log)" if len(exc.problems) > 1 else ""
        return f"{first.path + ': ' if first.path else ''}{first.message}{more}"[:300]
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:300]


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
