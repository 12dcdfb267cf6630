"""The composition root: the only module that builds Sentinel's concrete objects and wires them together
(tests/unit/test_compose_root.py proves no other module does).

    build_app(settings)          -> App: the long-lived parts plus the first ConfigGraph
    build_graph(app, config)     -> ConfigGraph: planned checks, SLA ledger, alert pipeline for one config;
                                    a reload (sentinel.daemon_ops) calls it and swaps the result in with App.swap
    build_store(settings)        -> the state store (`sentinel alerts`, `sentinel silence` need only that)
    validate_config(path, ...)   -> what `sentinel validate` proves

Plugins are found only through sentinel.plugins (entry points "sentinel.checks" and "sentinel.notifiers"); a
plugin that does not import is a PluginError naming it, never skipped.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sentinel.app import AlertSink, App, AppStore, ConfigGraph, Pinger
from sentinel.clock import Clock, SystemClock
from sentinel.config.loader import LoadedConfig, load_config
from sentinel.config.settings import Settings
from sentinel.config.yaml_source import gc_paused
from sentinel.errors import ConfigErrors, ConfigProblem, PluginError
from sentinel.metrics import Metrics, NullMetrics
from sentinel.plugins import Registry, check_registry, notifier_registry
from sentinel.redact import Redactor
from sentinel.runner import CheckRunner, PlannedCheck
from sentinel.sla_ledger import SlaLedger
from sentinel.sources import Sources
from sentinel.store.base import StoreMemory
from sentinel.store.sqlite import SqliteStateStore

if TYPE_CHECKING:
    from sentinel.config.spec import SentinelConfig
    from sentinel.isolation import WorkerPool
    from sentinel.leader import LeaderElector
    from sentinel.metrics import SentinelMetrics
    from sentinel.notify.base import Notifier
    from sentinel.store.alerts import OutboxRow
    from sentinel.store.lease import Claim

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Wiring:
    """How a command wants its app: the daemon, `check --once`, a report, a benchmark."""

    alerting: bool = True  # build the alert pipeline (False: `--no-notify`, reports)
    metrics: bool = True  # Prometheus metrics (False: one-shot commands nothing scrapes)
    immediate_alerts: bool = False  # one-shot runs send at once; the daemon waits group_wait to group alerts
    daemon: bool = False  # checks in worker processes, and a leader election when the store is shared
    isolate_checks: bool = False  # checks in worker processes without the daemon's election (`check --once`)


def build_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    config_path: Path | None = None,
    store: AppStore | None = None,
    extra_checks: Mapping[str, object] | None = None,
    wiring: Wiring = Wiring(),
) -> App:
    """Build everything from settings. Raises ConfigErrors (every problem at once) or PluginError."""
    clock = clock or SystemClock()
    registry = check_registry(extra_checks)
    config = load_config(config_path or settings.config_file, registry)
    planned = _plan(config, registry)
    pool = _worker_pool(settings, clock, planned) if wiring.daemon or wiring.isolate_checks else None
    store = store or build_store(settings)
    redactor = Redactor.from_settings(settings)
    sources = Sources(settings, config.spec.connections)
    warn_privileged_allowed(config)
    runner = CheckRunner(
        sources=sources,
        memory_for=lambda check_id: StoreMemory(store, check_id, clock),
        clock=clock,
        redactor=redactor,
        max_workers=settings.max_workers,
        pool=pool,
    )
    prometheus = _prometheus_metrics() if wiring.metrics else None
    metrics: Metrics = prometheus if prometheus is not None else NullMetrics()
    leader = _leader(settings, prometheus) if wiring.daemon else None
    app = App(settings, clock, registry, store, sources, runner, metrics, redactor,
              graph=ConfigGraph(config, planned, SlaLedger(config.spec.slas, store, clock)),
              heartbeat=build_heartbeat(settings) if wiring.alerting else None, leader=leader)
    app.swap(build_graph(app, config, planned=planned, wiring=wiring))
    if prometheus is not None:
        _scrape_time_collectors(prometheus, app)
    return app


def build_graph(app: App, config: LoadedConfig, *, planned: list[PlannedCheck] | None = None,
                wiring: Wiring | None = None) -> ConfigGraph:
    """The parts that follow alert_rules.yaml. A reload passes only the new config: it gets the alerting the
    running app has (a daemon never sends at once). Raises ConfigErrors; builds nothing the caller must close."""
    planned = _plan(config, app.registry) if planned is None else planned
    wiring = wiring or Wiring(alerting=app.alerting is not None)
    ledger = SlaLedger(config.spec.slas, app.store, app.clock)
    alerting = _alerting(app, config, planned, ledger, immediate=wiring.immediate_alerts) if wiring.alerting else None
    return ConfigGraph(config, planned, ledger, alerting)


def build_store(settings: Settings) -> AppStore:
    """SQLite by default; PostgreSQL (shared by replicas, see sentinel/leader.py) when SENTINEL_STATE_DSN is set."""
    if settings.state_dsn is not None:
        from sentinel.store.postgres import PostgresStateStore

        return PostgresStateStore(settings.state_dsn.get_secret_value())
    return SqliteStateStore(settings.state_path)


def build_notifiers(config: SentinelConfig | LoadedConfig, settings: Settings,
                    extra: Mapping[str, Notifier] | None = None) -> dict[str, Notifier]:
    """The named notifiers: implicit ones from settings (`slack` when SENTINEL_SLACK_TOKEN is set, `pager` when
    SENTINEL_PAGER_BACKEND is set, `console` always) plus every `notifiers:` entry of alert_rules.yaml, whose
    `kind` is a "sentinel.notifiers" entry point found through the plugin registry."""
    spec = config.spec if isinstance(config, LoadedConfig) else config
    load = notifier_registry().load
    out: dict[str, Notifier] = {"console": load("console").create("console", {}, settings)}
    if settings.slack_token is not None:
        out["slack"] = load("slack").create("slack", {}, settings)
    if settings.pager_backend != "none":
        out["pager"] = load(settings.pager_backend).create("pager", {}, settings)
    problems = []
    for i, n in enumerate(spec.notifiers):
        try:
            out[n.name] = load(n.kind).create(n.name, dict(n.options), settings)
        except (PluginError, ValueError) as exc:
            problems.append(ConfigProblem(str(settings.config_file), f"notifiers[{i}] ({n.name})", str(exc)))
    if problems:
        raise ConfigErrors(problems)
    out.update(extra or {})
    return out


def build_heartbeat(settings: Settings) -> Pinger | None:
    """The dead man's switch from SENTINEL_HEARTBEAT_* (see sentinel.notify.heartbeat), or None."""
    from sentinel.notify.heartbeat import HeartbeatPinger, OpsgenieHeartbeat

    if settings.heartbeat_url:
        auth = None
        if settings.heartbeat_basic_auth is not None:
            user, _, token = settings.heartbeat_basic_auth.get_secret_value().partition(":")
            auth = (user, token)
        return HeartbeatPinger(settings.heartbeat_url, auth=auth)
    name = settings.heartbeat_name
    if not name:
        return None
    if settings.pager_backend == "opsgenie" and settings.opsgenie_api_key is not None:
        return OpsgenieHeartbeat(name, settings.opsgenie_api_key, settings.opsgenie_base_url)
    log.warning("SENTINEL_HEARTBEAT_NAME is set but only Opsgenie pings by name; for JSM set SENTINEL_HEARTBEAT_URL"
                " (.../v1/teams/{teamId}/heartbeats/ping?name=...) and SENTINEL_HEARTBEAT_BASIC_AUTH: no dead man's"
                " switch until then")
    return None


def _plan(config: LoadedConfig, registry: Registry) -> list[PlannedCheck]:
    try:
        return plan_checks(config, registry)
    except PluginError as exc:
        raise ConfigErrors([ConfigProblem(str(config.path), "checks", str(exc))]) from None


def _prometheus_metrics() -> SentinelMetrics:
    from prometheus_client import CollectorRegistry

    from sentinel.metrics import SentinelMetrics

    return SentinelMetrics(CollectorRegistry(auto_describe=True))


def _scrape_time_collectors(metrics: SentinelMetrics, app: App) -> None:
    """Collectors that read the app's current graph at each scrape: a reload is followed without touching them."""
    from sentinel.check_metrics import PlannedSeries
    from sentinel.sla_metrics import SlaCollector

    metrics.gauges.planned = lambda: [PlannedSeries(p.id, p.spec.kind, type(p.check).finding_series)
                                      for p in app.planned]
    metrics.registry.register(SlaCollector(lambda: app.sla, app.clock))


def _leader(settings: Settings, metrics: SentinelMetrics | None) -> LeaderElector | None:
    """With SENTINEL_STATE_DSN (replicas share state) one leader is elected; alone (SQLite) this process leads.
    Built here, started by the daemon (sentinel.daemon_ops.start_leadership)."""
    if settings.state_dsn is None:
        return None
    from sentinel.leader import LeaderElector, leader_gauge

    elector = LeaderElector(settings.state_dsn.get_secret_value(), name=replica_name())
    if metrics is not None:
        leader_gauge(metrics.registry, elector)
    return elector


def replica_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _alerting(app: App, config: LoadedConfig, planned: list[PlannedCheck], ledger: SlaLedger, *,
              immediate: bool) -> AlertSink:
    from sentinel.alerting.pipeline import AlertPipeline

    leader = app.leader

    def fence(row: OutboxRow) -> Claim:
        """With replicas each outbox row is claimed for the leader's term before it is sent."""
        from sentinel.store.lease import Claim

        return Claim.CLAIMED if leader is None else leader.claim(row.seq)

    pipeline = AlertPipeline(
        config, app.store, build_notifiers(config, app.settings), app.clock, app.settings, app.metrics,
        kind_runbooks={p.spec.kind: type(p.check).runbook for p in planned},
        redact=app.redactor.text, immediate=immediate, fence=fence,
    )
    if ledger.slas:  # SLA burn-rate alerts ride along with the results that measure the SLA
        from sentinel.sla_ledger import SlaAlertSink

        return SlaAlertSink(pipeline, ledger)
    return pipeline


def _worker_pool(settings: Settings, clock: Clock, planned: list[PlannedCheck]) -> WorkerPool | None:
    """Worker processes for the checks (None: SENTINEL_CHECK_ISOLATION=thread). Warmed now: forked from this
    process while it is single-threaded, else started by the fork server in the background (sentinel.isolation)."""
    if settings.check_isolation != "process":
        return None
    from sentinel.isolation import WorkerPool

    pool = WorkerPool(settings, clock, size=settings.max_workers,
                      memory_limit_bytes=settings.check_memory_limit_mb * 2**20,
                      preload=sorted({m for p in planned for m in (type(p.check).__module__, *p.check.warm_imports)}))
    pool.warm(min(settings.max_workers, len(planned)))
    return pool


def plan_checks(config: LoadedConfig, registry: Registry) -> list[PlannedCheck]:
    planned = []
    with gc_paused():  # one object per check, on top of a freshly loaded config: nothing for the collector to find
        for spec in config.spec.checks:
            if not spec.enabled:
                continue
            cls = registry.load(spec.kind)
            planned.append(PlannedCheck(spec=spec, check=cls(config.params[spec.id]),
                                        runbook=spec.runbook or cls.runbook))
    return planned


@dataclass(frozen=True)
class ConfigSummary:
    """What `sentinel validate` reports about a valid file."""

    checks: int
    rules: int
    routes: int
    slas: int
    enabled_checks: int


def validate_config(path: Path, registry: Registry) -> ConfigSummary:
    """Everything `sentinel validate` proves: the file loads (ConfigErrors lists every problem) and each enabled
    check can be built. Only counts come back, and the cyclic collector stays paused until the parsed config is
    gone: resumed while it is alive, its first pass rescans every object of it and finds no garbage (for 25,000
    checks, a sixth of the time; benchmarks/validate.py)."""
    with gc_paused():
        return _summary(path, registry)


def _summary(path: Path, registry: Registry) -> ConfigSummary:
    config = load_config(path, registry)
    planned = plan_checks(config, registry)
    spec = config.spec
    return ConfigSummary(len(spec.checks), len(spec.rules), len(spec.routes), len(spec.slas), len(planned))




def warn_privileged_allowed(config: LoadedConfig) -> None:
    """At every start (and reload): say which connections run with more than monitoring privileges, and why."""
    connections = config.spec.connections
    for name in connections.privileged_allowed():
        kind, _, conn = name.partition(" ")
        policy = connections.snowflake if kind == "snowflake" else connections.postgres[conn]
        why = f" ({policy.reason})" if policy.reason else ""
        log.warning("connection %s is allowed to be privileged (allow_privileged: true in %s)%s: a mistake in a "
                    "check's SQL can change the database; use the grants in deploy/grants/ instead", name,
                    config.path, why)
