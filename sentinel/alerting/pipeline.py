"""The alert path after a check result, as a sequence of small stages (Alertmanager's notify pipeline is the
model):

    judge (sentinel.alerting.judging) -> dedup + lifecycle (lifecycle.advance) -> group buffer (group)
    ... group due -> silence (silences) -> inhibit (inhibit) -> plan what to tell (notices) -> route -> compose
    -> outbox, one queue per receiver (outbox, delivery_workers)

    pipeline = AlertPipeline(config, store, notifiers, clock, settings)
    events = pipeline.process(results)      # judge, step the state machine, persist, buffer per route group
    deliveries = pipeline.deliver_due()     # flush due groups into the outbox, send what is due, with retry

`process` never sends; `deliver_due` never judges. With `immediate=True` (`sentinel check --once`) groups
are flushed without waiting for group_wait/group_interval. AlertPipeline only wires the stages and holds the locks.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sentinel.alerting.delivery_workers import DeliveryWorkers
from sentinel.alerting.flush import Composer, Flusher
from sentinel.alerting.group import GroupBuffer
from sentinel.alerting.inhibit import Lineage
from sentinel.alerting.judging import judge_results
from sentinel.alerting.lifecycle import Advance, advance, retire_all
from sentinel.alerting.metrics import AlertingMetrics
from sentinel.alerting.outbox import Outbox
from sentinel.alerting.receiver_health import receiver_problems
from sentinel.alerting.receiver_health import window as health_window
from sentinel.alerting.routing import Router, compile_routes, route_problems
from sentinel.alerting.silences import MaintenanceWindow
from sentinel.alerting.types import AlertEvent, Delivery
from sentinel.clock import Clock
from sentinel.config.loader import LoadedConfig
from sentinel.config.settings import Settings
from sentinel.config.spec import SentinelConfig
from sentinel.errors import ConfigErrors
from sentinel.model import CheckResult
from sentinel.notify.base import Notifier
from sentinel.rules import RuleBook
from sentinel.store.alerts import AlertStore, OutboxRow
from sentinel.store.lease import Claim

log = logging.getLogger(__name__)

PRUNE_EVERY = timedelta(hours=1)
KEEP_RESOLVED = timedelta(days=7)  # resolved alert states (their threads go with the next episode)
KEEP_OUTBOX = timedelta(days=16)  # sent/failed outbox rows (the weekly SLA report reads last week's messages on
# Monday for root causes and the noisiest checks: two weeks and a bit); delivery history (deliveries table) is kept


def _runbook_named_after(kind: str) -> str:
    """Without the kinds' runbooks (the composition root always passes them): runbooks/<kind-with-dashes>.md."""
    return kind.replace("_", "-")


class AlertPipeline:
    def __init__(
        self,
        config: SentinelConfig | LoadedConfig,
        store: AlertStore,
        notifiers: Mapping[str, Notifier],
        clock: Clock,
        settings: Settings,
        metrics: Any = None,
        *,
        kind_runbooks: Mapping[str, str] | Callable[[str], str] | None = None,
        redact: Callable[[str], str] | None = None,
        immediate: bool = False,
        fence: Callable[[OutboxRow], Claim] | None = None,
    ) -> None:
        spec = config.spec if isinstance(config, LoadedConfig) else config
        self.config = spec
        self.store = store
        self.notifiers = dict(notifiers)
        self.clock = clock
        self.settings = settings
        self.metrics = metrics
        self.immediate = immediate
        self.redact = redact or (lambda s: s)
        self._redacting = redact is not None
        self.rulebook = RuleBook(
            spec.rules, error_threshold=spec.defaults.error_threshold, resolve_after=spec.defaults.resolve_after,
            check_runbooks={c.id: c.runbook for c in spec.checks if c.runbook},
            kind_runbooks=kind_runbooks if kind_runbooks is not None else _runbook_named_after,
        )
        self.router = Router(compile_routes(spec.routes, list(self.notifiers), slack="slack" in self.notifiers,
                                            pager="pager" in self.notifiers))
        problems = route_problems(self.router, self.notifiers, self.rulebook.rules, str(settings.config_file))
        if problems:
            raise ConfigErrors(problems)
        self.lineage = Lineage(spec.pipeline, spec.slas)
        windows = [MaintenanceWindow(m.name, dict(m.match), m.cron, m.duration, m.comment) for m in spec.maintenance]
        # a broken receiver is reported through every other one of the routes, and the console as a last resort
        meta = [n for r in self.router.routes for n in r.receivers] + (["console"] if "console" in self.notifiers else [])
        self.outbox = Outbox(store, self.notifiers, clock, redact=self.redact,
                             meta_receivers=list(dict.fromkeys(meta)), on_enqueue=self._queued, fence=fence)
        self.buffer = GroupBuffer(store, self.router)
        self.flusher = Flusher(store, self.router, self.buffer, self.outbox, windows,
                               Composer(self.lineage, settings.runbook_base_url, self.redact))
        self._metrics = AlertingMetrics.attach(metrics, store)
        if self._metrics is not None:
            self.outbox.on_delivery = self._metrics.on_delivery
        self._lock = threading.RLock()
        self._deliver_lock = threading.Lock()
        self._last_prune: datetime | None = None
        self._workers: DeliveryWorkers | None = None

    # -- judging and lifecycle ------------------------------------------------------------------------------
    def process(self, results: Sequence[CheckResult]) -> list[AlertEvent]:
        """Judge results, advance every alert's lifecycle, persist states and buffer events per route group."""
        if not results:
            return []
        with self._lock:
            now = self.clock.now()
            # Only pending and firing alerts matter: a clear verdict for anything else changes nothing, and a
            # breach of a resolved alert starts a new episode from scratch.
            known = self.store.alert_states(active_only=True)
            judged = judge_results(self.rulebook, results, known)
            outcome = advance(judged, known, now, self.redact if self._redacting else None)
            self._record(outcome, now, new_episodes=[fp for fp in outcome.changed if fp not in known])
            if outcome.events and self._workers is not None:
                self._workers.request_flush()
            return outcome.events

    def resolve_removed(self, check_ids: Collection[str]) -> list[AlertEvent]:
        """After a reload: alerts of checks no longer configured resolve now ("check removed from config")."""
        if not check_ids:
            return []
        with self._lock:
            now = self.clock.now()
            outcome = retire_all(self.store.alert_states(active_only=True).values(), check_ids, now)
            if outcome.changed:
                self._record(outcome, now)
            for event in outcome.events:
                log.info("alert %s of %s resolved: its check was removed from the config", event.state.rule_id,
                         event.state.check_id)
            return outcome.events

    def _record(self, outcome: Advance, now: datetime, new_episodes: Sequence[str] = ()) -> None:
        """Persist changed states and buffer their events, in one transaction."""
        with self.store.transaction() as tx:
            if outcome.changed:
                self.store.alert_states_save(list(outcome.changed.values()), now, tx)
                # a new episode gets new messages: forget the threads of the previous one
                self.store.threads_forget(list(new_episodes), tx)
            for event in outcome.events:
                self.buffer.add(event, tx)
        if self._metrics is not None and outcome.events:
            self._metrics.on_events(outcome.events)

    # -- silences, inhibition, grouping -> outbox ------------------------------------------------------------
    def flush(self, *, force: bool = False) -> int:
        """Turn buffered events of due groups into outbox messages. Returns the number of messages queued."""
        with self._lock:
            return self.flusher.flush(self.clock.now(), force=force)

    # -- delivery -------------------------------------------------------------------------------------------
    def deliver_due(self, *, flush: bool | None = None) -> list[Delivery]:
        """Flush due groups (all of them when immediate) and send what is due from the outbox.

        With the delivery workers running (the daemon) this only flushes and wakes them, and returns no
        deliveries: each receiver's worker sends on its own."""
        with self._deliver_lock:
            self.flush(force=self.immediate if flush is None else flush)
            if self._workers is not None and self._workers.running:
                self._workers.wake()
                deliveries: list[Delivery] = []
            else:
                deliveries = self.outbox.deliver_due()
            self._housekeeping()
            return deliveries

    def start_delivery_workers(self, may_send: Callable[[], bool] = lambda: True, *,
                               idle_poll_seconds: float = 1.0) -> None:
        """One worker thread per receiver from now on (the daemon); `stop_delivery_workers` ends them."""
        if self._workers is not None:
            return
        self._workers = DeliveryWorkers(self.outbox, list(self.notifiers), self._flush_and_wake, may_send=may_send,
                                        idle_poll_seconds=idle_poll_seconds)
        self._workers.start()

    def stop_delivery_workers(self, timeout_seconds: float = 5.0) -> Callable[[], bool] | None:
        workers, self._workers = self._workers, None
        if workers is None:
            return None
        workers.stop(timeout_seconds)
        return workers.may_send

    def _flush_and_wake(self) -> None:
        if self.flush(force=self.immediate) and self._workers is not None:
            self._workers.wake()

    def _queued(self) -> None:
        if self._workers is not None:
            self._workers.wake()

    def _housekeeping(self) -> None:
        """Hourly: prune old resolved states and sent outbox rows."""
        now = self.clock.now()
        if self._last_prune is not None and now - self._last_prune < PRUNE_EVERY:
            return
        self._last_prune = now
        with self.store.transaction() as tx:
            self.store.alert_states_prune(now - KEEP_RESOLVED, tx)
            self.store.outbox_prune(now - KEEP_OUTBOX, tx)

    def receiver_problems(self) -> list[str]:
        """A line per receiver that is broken or still retrying, from the last day's deliveries."""
        return receiver_problems(self.store.deliveries_between(*health_window(self.clock.now())))
