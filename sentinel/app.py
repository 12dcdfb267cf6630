"""The composition root: the only place that builds concrete classes and wires them together."""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from sentinel.clock import Clock, SystemClock
from sentinel.config.loader import LoadedConfig, load_config
from sentinel.config.settings import Settings
from sentinel.config.yaml_source import gc_paused
from sentinel.errors import ConfigErrors, ConfigProblem, PluginError, StoreError
from sentinel.model import CheckResult
from sentinel.plugins import Registry, check_registry
from sentinel.redact import Redactor
from sentinel.runner import CheckRunner, PlannedCheck

if TYPE_CHECKING:
    from sentinel.isolation import WorkerPool
from sentinel.sources import Sources
from sentinel.store.base import StateStore, StoreMemory
from sentinel.store.sqlite import SqliteStateStore

log = logging.getLogger(__name__)


class AlertSink(Protocol):
    """What the app needs from the alerting pipeline (sentinel.alerting.pipeline.AlertPipeline)."""

    def process(self, results: Sequence[CheckResult]) -> Sequence[Any]: ...

    def deliver_due(self) -> Sequence[Any]: ...

    def start_delivery_workers(self, may_send: Callable[[], bool] = ...) -> None:
        """The daemon: one sending thread per receiver from now on, so no receiver waits on another;
        `may_send` (e.g. "am I the leader") is asked before each round of sending."""
        ...

    def stop_delivery_workers(self, timeout_seconds: float = 5.0) -> Callable[[], bool] | None:
        """Stop them; returns the `may_send` they ran with (None when none ran), for the next pipeline."""
        ...

    def receiver_problems(self) -> list[str]:
        """One line per receiver that is broken or still retrying (for /readyz)."""
        ...

    def resolve_removed(self, check_ids: Collection[str]) -> Sequence[Any]:
        """Resolve the alerts of checks a reload removed ("check removed from config")."""
        ...

    def heartbeat(self) -> bool:
        """Ping the pager's dead man's switch; False when none is configured or the ping failed."""
        ...


@dataclass
class App:
    settings: Settings
    clock: Clock
    config: LoadedConfig
    registry: Registry
    store: StateStore
    sources: Sources
    runner: CheckRunner
    metrics: Any  # SentinelMetrics in the daemon, NullMetrics for one-shot runs
    redactor: Redactor
    planned: list[PlannedCheck]
    alerting: AlertSink | None = None
    sla: Any = None  # sentinel.sla_ledger.SlaLedger when the config has `slas:`
    extras: dict[str, Any] = field(default_factory=dict)
    store_problems: list[str] = field(default_factory=list)  # results a run_checks() could not store, and why

    def select(self, only: Sequence[str] | None = None) -> list[PlannedCheck]:
        if not only:
            return list(self.planned)
        known = {p.id: p for p in self.planned}
        unknown = [o for o in only if o not in known]
        if unknown:
            from sentinel.plugins import suggest

            hints = "; ".join(f"{u!r}{suggest(u, list(known))}" for u in unknown)
            raise ConfigErrors([ConfigProblem(str(self.config.path), "checks", f"no enabled check with id {hints}")])
        return [known[o] for o in only]

    def run_checks(self, only: Sequence[str] | None = None) -> list[CheckResult]:
        selected = self.select(only)
        # Longest first (by last known duration): with a bounded pool, a slow check queued behind quick ones
        # would make the whole run last longer than the slowest check.
        last = self.store.latest_results()
        selected.sort(key=lambda p: -(last[p.id].duration.total_seconds() if p.id in last else 1e9))
        results = self.runner.run_many(selected)
        for result in results:
            try:
                self.record(result)
            except StoreError as exc:  # what was measured is still shown; the caller says it was not stored
                self.store_problems.append(str(exc))
                break
        return results

    def record(self, result: CheckResult) -> None:
        """Persist and measure one result. Alerting runs separately so `--no-notify` can skip it."""
        self.store.save_result(result)
        if self.sla is not None:
            self.sla.record(result)
        # A run that was in flight across a reload that removed its check must not bring its gauges back.
        if any(p.id == result.check_id for p in self.planned):
            self.metrics.observe(result)

    def runbook_url(self, name: str) -> str:
        return self.settings.runbook_base_url.rstrip("/") + "/" + name + ".md"

    def close(self) -> None:
        self.runner.close()
        self.store.close()


def _worker_pool(settings: Settings, clock: Clock, planned: list[PlannedCheck]) -> WorkerPool | None:
    """Worker processes for the checks (None: SENTINEL_CHECK_ISOLATION=thread). Started now, in the background,
    so their fork server imports while the store opens and alerting is built."""
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


def build_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    config_path: Path | None = None,
    store: StateStore | None = None,
    extra_checks: Mapping[str, Any] | None = None,
    with_alerting: bool = True,
    with_metrics: bool = True,
    immediate_alerts: bool = False,
    isolate_checks: bool = False,
) -> App:
    """Build everything from settings. Raises ConfigErrors (every problem at once) or PluginError."""
    clock = clock or SystemClock()
    registry = check_registry(extra_checks)
    config = load_config(config_path or settings.config_file, registry)
    try:
        planned = plan_checks(config, registry)
    except PluginError as exc:
        raise ConfigErrors([ConfigProblem(str(config.path), "checks", str(exc))]) from None
    pool = _worker_pool(settings, clock, planned) if isolate_checks else None
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
    metrics = build_metrics(registry) if with_metrics else NullMetrics()
    app = App(settings, clock, config, registry, store, sources, runner, metrics, redactor, planned)
    # One-shot runs send at once; the daemon waits group_wait so related alerts arrive as one message.
    app.extras["alerting_immediate"] = immediate_alerts
    if config.spec.slas:
        from sentinel.sla_ledger import SlaLedger

        app.sla = SlaLedger(config.spec.slas, store, clock)
    if with_alerting:
        app.alerting = build_alerting(app)
    prometheus = getattr(metrics, "registry", None)
    if prometheus is not None:
        from sentinel.sla_metrics import SlaCollector

        # reads app.sla at each scrape: a reload that changes `slas:` is followed
        prometheus.register(SlaCollector(lambda: app.sla, clock))
    return app


def build_store(settings: Settings) -> StateStore:
    """SQLite by default; PostgreSQL (shared by replicas, see sentinel/leader.py) when SENTINEL_STATE_DSN is set."""
    if settings.state_dsn is not None:
        from sentinel.store.postgres import PostgresStateStore

        return PostgresStateStore(settings.state_dsn.get_secret_value())
    return SqliteStateStore(settings.state_path)


class NullMetrics:
    """For `check --once`: nothing scrapes a one-shot process, so prometheus_client is not even imported."""

    def observe(self, result: CheckResult) -> None:
        pass


def build_metrics(plugins: Registry | None = None) -> Any:
    from prometheus_client import CollectorRegistry

    from sentinel.metrics import SentinelMetrics

    def finding_series(kind: str) -> Any:
        try:
            return getattr(plugins.load(kind), "finding_series", None) if plugins is not None else None
        except Exception:  # an unknown kind (a test's extra check) publishes no finding series
            return None

    return SentinelMetrics(CollectorRegistry(auto_describe=True), finding_series)


def build_alerting(app: App) -> AlertSink:
    from sentinel.alerting.pipeline import build_pipeline

    pipeline: AlertSink = build_pipeline(app)
    if app.sla is not None:  # SLA burn-rate alerts ride along with the results that measure the SLA
        from sentinel.sla_ledger import SlaAlertSink

        return SlaAlertSink(pipeline, app.sla)
    return pipeline


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
