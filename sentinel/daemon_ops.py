"""Daemon duties beyond scheduling: leader election on a shared store, and config reload (SIGHUP, POST /-/reload,
and a newer config shared by another replica: see sentinel.config_sync).

A reload builds a new config graph in the composition root (sentinel.compose_root.build_graph) and swaps it into
the app in one assignment; a config that does not load or build leaves the running graph untouched."""

from __future__ import annotations

import logging
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from sentinel.config_sync import RunningConfig, config_hash, describe
from sentinel.errors import ConfigErrors, SentinelError
from sentinel.store.shared_config import SharedConfigTables

if TYPE_CHECKING:
    from sentinel.app import App
    from sentinel.config.loader import LoadedConfig
    from sentinel.scheduler import CheckScheduler

log = logging.getLogger("sentinel.daemon")


@dataclass
class Daemon:
    """What `sentinel run` owns beside the app: its scheduler and which config it runs (hash, shared version)."""

    app: App
    scheduler: CheckScheduler
    running: RunningConfig
    # SIGHUP (main loop), POST /-/reload (an HTTP thread) and the shared-config sync: one reload at a time
    lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def of(cls, app: App, scheduler: CheckScheduler) -> Daemon:
        """The hash of the file this replica starts with."""
        return cls(app, scheduler, RunningConfig(hash=config_hash(_read_text(app.config.path))))


def start_leadership(app: App) -> None:
    """Start the election the composition root built (replicas on a shared store); alone this replica just runs."""
    if app.leader is None:
        return
    app.leader.start()
    log.info("leader election: this replica starts as %s", app.leader.role)


def reload_config(daemon: Daemon) -> bool:
    """Load the config file again: SIGHUP and POST /-/reload both call this. Valid: it replaces checks, rules and
    routes, the jobs follow, alerts of removed checks resolve, and with replicas it is published to the shared
    store so every replica takes it (sentinel.config_sync). Invalid: every error is logged and the running config
    stays. Returns whether the new config was taken."""
    from sentinel.config.loader import load_config

    app = daemon.app
    path = app.config.path
    with daemon.lock:
        text = _read_text(path)
        if _apply(daemon, lambda: load_config(path, app.registry), str(path)):
            return False
        daemon.running.hash, daemon.running.version, daemon.running.origin = config_hash(text), 0, "its own file"
        publish_config(daemon, text)
        return True


def publish_config(daemon: Daemon, text: str | None = None) -> None:
    """With a shared store: record this replica's config as the one every replica runs, if it differs."""
    app, running = daemon.app, daemon.running
    store = app.store
    if app.settings.state_dsn is None or not isinstance(store, SharedConfigTables):
        return
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


def sync_shared_config(daemon: Daemon) -> bool:
    """Take a newer shared config than the one running (every SYNC_INTERVAL, on every replica). Returns whether
    a config was taken."""
    app, running = daemon.app, daemon.running
    store = app.store
    if app.settings.state_dsn is None or not isinstance(store, SharedConfigTables):
        return False
    with daemon.lock:
        try:
            shared = store.shared_config()
        except Exception as exc:
            log.debug("shared config not readable: %s", type(exc).__name__)
            return False
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
            error = _apply(daemon, lambda: _load_copy(app, copy), origin)
        finally:
            copy.unlink(missing_ok=True)
        if error:
            running.rejected_version, running.rejected_why = shared.version, error
            return False
        running.hash, running.version, running.origin = shared.hash, shared.version, origin
        running.rejected_version, running.rejected_why = 0, ""
        return True


def config_state(daemon: Daemon) -> str:
    """For /readyz: the config version and hash this replica runs, or how it differs from the shared one."""
    app = daemon.app
    store = app.store
    shared = None
    if app.settings.state_dsn is not None and isinstance(store, SharedConfigTables):
        try:
            shared = store.shared_config()
        except Exception:
            shared = None
    return describe(daemon.running, shared)


def replica_name() -> str:
    from sentinel.compose_root import replica_name

    return replica_name()


def _load_copy(app: App, copy: Path) -> LoadedConfig:
    """The shared config, loaded from a temporary copy but known by this replica's config path (SIGHUP reads it)."""
    from sentinel.config.loader import load_config

    return replace(load_config(copy, app.registry), path=app.config.path)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _apply(daemon: Daemon, load: Callable[[], LoadedConfig], source: str) -> str:
    """Load a config, build its graph and swap it in. Returns '' when applied, else the first line of why not
    (logged). Until the swap nothing of the running graph is touched, so a failure anywhere keeps it."""
    from sentinel.compose_root import build_graph, warn_privileged_allowed

    app = daemon.app
    started = time.monotonic()
    try:
        config = load()
        graph = build_graph(app, config)
    except (ConfigErrors, SentinelError) as exc:
        app.metrics.config_reload("rejected")
        log.error("config reload rejected; still running the previous config (%d checks):\n%s", len(app.planned), exc)
        return _first_line(exc)
    except Exception as exc:  # a reload must never take the running daemon down
        app.metrics.config_reload("rejected")
        log.exception("config reload failed; still running the previous config (%d checks)", len(app.planned))
        return _first_line(exc)
    with app.judging:  # no result is judged between the swap and the resolution of the removed checks' alerts
        old = app.swap(graph)
        before, after = {p.id for p in old.planned}, {p.id for p in graph.planned}
        daemon.scheduler.replace_checks(graph.planned)
        if graph.alerting is not None and app.leads():  # followers leave alert states to the leader
            try:
                graph.alerting.resolve_removed(before - after)
            except Exception:
                log.exception("resolving the alerts of removed checks failed; they stay open until the next reload")
    warn_privileged_allowed(config)
    if old.alerting is not None and graph.alerting is not None:
        may_send = old.alerting.stop_delivery_workers()  # the new pipeline's workers take over the same outbox
        if may_send is not None:
            graph.alerting.start_delivery_workers(may_send)
    app.metrics.config_reload("applied")
    log.info("config reloaded from %s in %.0f ms: %d checks (added: %s; removed: %s)", source,
             (time.monotonic() - started) * 1000, len(graph.planned), ", ".join(sorted(after - before)) or "none",
             ", ".join(sorted(before - after)) or "none")
    return ""


def resolve_orphans(app: App) -> int:
    """On becoming leader: alerts of checks the running config does not have resolve ("check removed from config").
    The leader that took a reload resolves them at once; this covers a leader that died before taking it, whose
    follower took the config while it could not yet touch alert states. Returns how many resolved."""
    from sentinel.sla import burn_check_id

    if app.alerting is None or not app.leads():
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
