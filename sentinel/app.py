"""The running application as a typed object graph. Only sentinel.compose_root builds one.

Two lifetimes:
- App: what lives as long as the process (settings, clock, plugin registry, state store, sources, check runner,
  metrics, redactor, the dead man's switch, the leader elector);
- ConfigGraph: what follows alert_rules.yaml (the config, the planned checks, the alert pipeline, the SLA ledger).
  A reload builds a new ConfigGraph and swaps it in with one assignment (App.swap): readers see the old graph or
  the new one, never a mix, and a rejected config leaves the old one untouched.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from sentinel.clock import Clock
from sentinel.config.loader import LoadedConfig
from sentinel.config.settings import Settings
from sentinel.errors import ConfigErrors, ConfigProblem, StoreError
from sentinel.metrics import Metrics
from sentinel.model import CheckResult
from sentinel.plugins import Registry
from sentinel.redact import Redactor
from sentinel.runner import CheckRunner, PlannedCheck
from sentinel.sla_ledger import SlaLedger
from sentinel.sources import Sources
from sentinel.store.alerts import AlertStore
from sentinel.store.base import StateStore
from sentinel.store.sla import SlaStore

if TYPE_CHECKING:
    from sentinel.alerting.types import AlertEvent, Delivery
    from sentinel.leader import LeaderElector

log = logging.getLogger(__name__)


class AppStore(StateStore, AlertStore, SlaStore, Protocol):
    """The state store as the app uses it: results, alert states and outbox, SLA observations and the report log
    (SqliteStateStore, PostgresStateStore)."""


class AlertSink(Protocol):
    """What the app needs from the alerting pipeline (sentinel.alerting.pipeline.AlertPipeline)."""

    def process(self, results: Sequence[CheckResult]) -> Sequence[AlertEvent]: ...

    def deliver_due(self) -> Sequence[Delivery]: ...

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

    def resolve_removed(self, check_ids: Collection[str]) -> Sequence[AlertEvent]:
        """Resolve the alerts of checks a reload removed ("check removed from config")."""
        ...


class Pinger(Protocol):
    """The pager's dead man's switch (sentinel.notify.heartbeat)."""

    def ping(self) -> bool:
        """True when the heartbeat endpoint accepted the ping."""
        ...


@dataclass(frozen=True)
class ConfigGraph:
    """Everything built from one alert_rules.yaml. `ledger` exists even without `slas:` (the weekly report reads
    deliveries and incidents through it); `alerting` is None for runs that do not alert (`--no-notify`)."""

    config: LoadedConfig
    planned: list[PlannedCheck]
    ledger: SlaLedger
    alerting: AlertSink | None = None


@dataclass
class App:
    settings: Settings
    clock: Clock
    registry: Registry
    store: AppStore
    sources: Sources
    runner: CheckRunner
    metrics: Metrics
    redactor: Redactor
    graph: ConfigGraph
    heartbeat: Pinger | None = None  # built when alerting is, from SENTINEL_HEARTBEAT_*
    leader: LeaderElector | None = None  # the daemon with a shared (PostgreSQL) store; started by the daemon
    store_problems: list[str] = field(default_factory=list)  # results a run_checks() could not store, and why
    # held while a result is judged and while a reload swaps the graph and resolves the removed checks' alerts
    judging: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    # -- the current config graph -------------------------------------------------------------------------------
    @property
    def config(self) -> LoadedConfig:
        return self.graph.config

    @property
    def planned(self) -> list[PlannedCheck]:
        return self.graph.planned

    @property
    def alerting(self) -> AlertSink | None:
        return self.graph.alerting

    @property
    def ledger(self) -> SlaLedger:
        return self.graph.ledger

    @property
    def sla(self) -> SlaLedger | None:
        """The SLA ledger when the config has `slas:`."""
        return self.graph.ledger if self.graph.ledger.slas else None

    def swap(self, graph: ConfigGraph) -> ConfigGraph:
        """Take a new config graph (a reload); returns the previous one. The connection policy (allow_privileged)
        follows the file: the long-lived Sources read it at each connect."""
        old, self.graph = self.graph, graph
        self.sources.connections = graph.config.spec.connections
        return old

    def leads(self) -> bool:
        """With replicas only the leader runs checks, alerts and reports; alone, this process always leads."""
        return self.leader is None or bool(self.leader.is_leader)

    # -- running checks -------------------------------------------------------------------------------------------
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
        graph = self.graph  # one graph for the whole result, even if a reload swaps it meanwhile
        self.store.save_result(result)
        graph.ledger.record(result)
        # A run that was in flight across a reload that removed its check is not counted for it any more.
        if any(p.id == result.check_id for p in graph.planned):
            self.metrics.observe(result)

    def judge(self, result: CheckResult) -> None:
        """Hand a daemon's result to alerting, unless a reload removed its check while it ran. That reload
        resolved the check's alerts; judging the late result would fire them again, for a check that no longer
        exists. Under `judging`, so a reload cannot slip in between the test and the judgement."""
        with self.judging:
            alerting = self.alerting
            if alerting is not None and any(p.id == result.check_id for p in self.planned):
                alerting.process([result])

    def runbook_url(self, name: str) -> str:
        return self.settings.runbook_base_url.rstrip("/") + "/" + name + ".md"

    def close(self) -> None:
        self.runner.close()
        self.store.close()
