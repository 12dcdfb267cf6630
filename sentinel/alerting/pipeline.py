"""The alert path after a check result: rules -> lifecycle -> silences -> inhibition -> grouping -> dedup ->
outbox -> notifiers.

    pipeline = AlertPipeline(config, store, notifiers, clock, settings)
    events = pipeline.process(results)      # judge, step the state machine, persist, buffer per route group
    deliveries = pipeline.deliver_due()     # flush due groups into the outbox, send what is due, with retry

`process` never sends; `deliver_due` never judges. With `immediate=True` (`sentinel check --once`) groups
are flushed without waiting for group_wait/group_interval.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sentinel.alerting.compose import build_message, change_line
from sentinel.alerting.delivery_workers import DeliveryWorkers
from sentinel.alerting.inhibit import Inhibitor, Lineage
from sentinel.alerting.lifecycle import retire, step
from sentinel.alerting.metrics import AlertingMetrics
from sentinel.alerting.outbox import Outbox, RetryPolicy, dedup_id
from sentinel.alerting.receiver_health import receiver_problems
from sentinel.alerting.receiver_health import window as health_window
from sentinel.alerting.routing import Route, Router, compile_routes, group_thread_key
from sentinel.alerting.silences import MaintenanceWindow, Suppressor
from sentinel.alerting.types import AlertEvent, AlertState, Delivery, EventKind, Phase, Verdict
from sentinel.clock import Clock
from sentinel.config.settings import Settings
from sentinel.errors import ConfigErrors, ConfigProblem
from sentinel.model import AlertKey, CheckResult, Severity, Status
from sentinel.notify.base import Notifier
from sentinel.notify.message import Message
from sentinel.rules import RuleBook
from sentinel.store.alerts import AlertStore, OutboxRow
from sentinel.store.lease import Claim

log = logging.getLogger(__name__)

_KIND_RANK = {"reminder": 0, "fired": 1, "escalated": 2, "resolved": 3}
PRUNE_EVERY = timedelta(hours=1)
KEEP_RESOLVED = timedelta(days=7)  # resolved alert states (their threads go with the next episode)
KEEP_OUTBOX = timedelta(days=16)  # sent/failed outbox rows (the weekly SLA report reads last week's messages on
# Monday for root causes and the noisiest checks: two weeks and a bit); delivery history (deliveries table) is kept


def _entry_point_runbook(kind: str) -> str:
    """The check class's `runbook` attribute, found through its entry point (cached)."""
    cached = _RUNBOOK_CACHE.get(kind)
    if cached is None:
        cached = kind.replace("_", "-")
        try:
            from importlib.metadata import entry_points

            for ep in entry_points(group="sentinel.checks", name=kind):
                cached = getattr(ep.load(), "runbook", None) or cached
        except Exception:  # a broken plugin must not stop alerting; the kind name is a fine fallback
            log.warning("could not load the runbook of check kind %r", kind)
        _RUNBOOK_CACHE[kind] = cached
    return cached


_RUNBOOK_CACHE: dict[str, str] = {}


class AlertPipeline:
    def __init__(
        self,
        config: Any,
        store: AlertStore,
        notifiers: Mapping[str, Notifier],
        clock: Clock,
        settings: Settings,
        metrics: Any = None,
        *,
        kind_runbooks: Mapping[str, str] | Callable[[str], str] | None = None,
        redact: Callable[[str], str] | None = None,
        immediate: bool = False,
        retry: RetryPolicy | None = None,
        fence: Callable[[OutboxRow], Claim] | None = None,
    ) -> None:
        spec = getattr(config, "spec", config)  # a LoadedConfig or a SentinelConfig
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
            kind_runbooks=kind_runbooks if kind_runbooks is not None else _entry_point_runbook,
        )
        self.router = Router(compile_routes(spec.routes, list(self.notifiers), slack="slack" in self.notifiers,
                                            pager="pager" in self.notifiers))
        self._validate_receivers()
        self.lineage = Lineage(spec.pipeline, spec.slas)
        self.windows = [MaintenanceWindow(m.name, dict(m.match), m.cron, m.duration, m.comment)
                        for m in spec.maintenance]
        # a broken receiver is reported through every other one of the routes, and the console as a last resort
        meta = [n for r in self.router.routes for n in r.receivers] + (["console"] if "console" in self.notifiers else [])
        self.outbox = Outbox(store, self.notifiers, clock, redact=self.redact,
                             meta_receivers=list(dict.fromkeys(meta)), policy=retry, on_enqueue=self._queued,
                             fence=fence)
        self._metrics = AlertingMetrics.attach(metrics, store)
        if self._metrics is not None:
            self.outbox.on_delivery = self._metrics.on_delivery
        self._lock = threading.RLock()
        self._deliver_lock = threading.Lock()
        self._last_prune: datetime | None = None
        self._workers: DeliveryWorkers | None = None

    def _validate_receivers(self) -> None:
        problems = []
        for i, route in enumerate(self.router.routes):
            for name in route.receivers:
                if name not in self.notifiers:
                    hint = {"slack": " (set SENTINEL_SLACK_TOKEN to enable the built-in `slack` receiver)",
                            "pager": " (set SENTINEL_PAGER_BACKEND and its key to enable the built-in `pager`)"}
                    problems.append(ConfigProblem(
                        str(self.settings.config_file), f"routes[{i}].receivers",
                        f"route {route.name!r} names receiver {name!r}, but the notifiers are: "
                        f"{', '.join(sorted(self.notifiers)) or 'none'}{hint.get(name, '')}"))
        for rule in self.rulebook.rules:
            if rule.route and rule.route not in self.router.by_name:
                problems.append(ConfigProblem(str(self.settings.config_file), f"rules.{rule.id}.route",
                                              f"unknown route {rule.route!r}; routes: {sorted(self.router.by_name)}"))
        if problems:
            raise ConfigErrors(problems)

    # -- judging --------------------------------------------------------------------------------------------
    def process(self, results: Sequence[CheckResult]) -> list[AlertEvent]:
        """Judge results, advance every alert's lifecycle, persist states and buffer events per route group."""
        if not results:
            return []
        with self._lock:
            now = self.clock.now()
            # Only pending and firing alerts matter: a clear verdict for anything else changes nothing, and a
            # breach of a resolved alert starts a new episode from scratch.
            known = self.store.alert_states(active_only=True)
            pairs = {(s.rule_id, s.check_id) for s in known.values()}
            judged = [pair for result in results
                      for pair in self.rulebook.judge(result, lambda rule_id, check_id: (rule_id, check_id) in pairs)]
            judged += self._vanished(results, {v.fingerprint for _, v in judged}, known)
            changed: dict[str, AlertState] = {}
            events: list[AlertEvent] = []
            for rule, judged_verdict in judged:
                verdict = judged_verdict
                previous = changed.get(verdict.fingerprint) or known.get(verdict.fingerprint)
                if previous is None and (not verdict.known or verdict.severity is Severity.NONE):
                    continue  # nothing to remember about an alert that never breached
                if self._redacting and verdict.severity is not Severity.NONE:
                    verdict = replace(verdict, summary=self.redact(verdict.summary),
                                      details={k: self.redact(v) for k, v in verdict.details.items()},
                                      labels={k: self.redact(v) for k, v in verdict.labels.items()})
                state, new_events = step(previous, verdict, rule, now)
                if state != previous:
                    changed[verdict.fingerprint] = state
                events.extend(new_events)
            with self.store.transaction() as tx:
                if changed:
                    self.store.alert_states_save(list(changed.values()), now, tx)
                    # a new episode gets new messages: forget the threads of the previous one
                    self.store.threads_forget([fp for fp in changed if fp not in known], tx)
                for event in events:
                    self._buffer(event, tx)
            if self._metrics is not None and events:
                self._metrics.on_events(events)
            if events and self._workers is not None:
                self._workers.request_flush()
            return events

    def resolve_removed(self, check_ids: Collection[str]) -> list[AlertEvent]:
        """After a reload: alerts of checks no longer configured resolve now ("check removed from config")."""
        if not check_ids:
            return []
        with self._lock:
            now = self.clock.now()
            changed: list[AlertState] = []
            events: list[AlertEvent] = []
            for state in self.store.alert_states(active_only=True).values():
                if state.check_id in check_ids:
                    retired, new_events = retire(state, now)
                    changed.append(retired)
                    events.extend(new_events)
            if changed:
                with self.store.transaction() as tx:
                    self.store.alert_states_save(changed, now, tx)
                    for event in events:
                        self._buffer(event, tx)
            if self._metrics is not None and events:
                self._metrics.on_events(events)
            for event in events:
                log.info("alert %s of %s resolved: its check was removed from the config", event.state.rule_id,
                         event.state.check_id)
            return events

    def _vanished(self, results: Sequence[CheckResult], seen: set[str],
                  known: dict[str, AlertState]) -> list[tuple[Any, Verdict]]:
        """Findings that a check no longer reports are clear (a fixed dbt test disappears from the results)."""
        measured = {r.check_id: r for r in results if r.status is not Status.ERROR}
        if not measured:
            return []
        out = []
        for state in list(known.values()):
            result = measured.get(state.check_id)
            if result is None or state.fingerprint in seen or state.broken or "finding" not in state.labels:
                continue
            rule = self.rulebook.rule_by_id(state.rule_id, state.check_id, state.kind)
            if rule is None:
                continue
            key = AlertKey.of(state.rule_id, {**state.labels, "check": state.check_id})
            if key.fingerprint != state.fingerprint:
                continue
            out.append((rule, Verdict(
                rule_id=state.rule_id, key=key, check_id=state.check_id,
                kind=state.kind, severity=Severity.NONE, observed_at=result.observed_at,
                summary="no longer reported", runbook=state.runbook)))
            seen.add(state.fingerprint)
        return out

    def _buffer(self, event: AlertEvent, tx: Any) -> None:
        state = event.state
        routes = (self.router.routes_for_any_severity(state) if event.kind is EventKind.RESOLVED
                  else self.router.routes_for(state))
        for route in routes:
            self.store.pending_add(route.name, route.group_key(state), state.fingerprint, event.kind.value, event.at,
                                   {"previous_severity": event.previous_severity.value}, tx)

    # -- grouping, silences, inhibition -> outbox ------------------------------------------------------------
    def flush(self, *, force: bool = False) -> int:
        """Turn buffered events of due groups into outbox messages. Returns the number of messages queued."""
        with self._lock:
            now = self.clock.now()
            suppressor = Suppressor(self.store.silences(now=now), self.windows, now)
            active = self.store.alert_states(active_only=True)
            inhibitor = Inhibitor(self.lineage, active.values())
            self._resurface(active, suppressor, inhibitor, now)
            cache = dict(active)  # states read once per flush, kept current as groups are flushed
            queued = 0
            for route_name, group_key, oldest in self.store.pending_groups():
                route = self.router.by_name.get(route_name)
                if route is None:  # a route removed from config: drop its buffer
                    with self.store.transaction() as tx:
                        self.store.pending_take(route_name, group_key, tx)
                    continue
                if not force:
                    last = self.store.group_flushed_at(route_name, group_key)
                    if now - oldest < route.group_wait or (last is not None and now - last < route.group_interval):
                        continue
                queued += self._flush_group(route, group_key, now, suppressor, inhibitor, cache)
            return queued

    def _resurface(self, active: Mapping[str, AlertState], suppressor: Suppressor, inhibitor: Inhibitor,
                   now: datetime) -> None:
        """Firing alerts whose silence ended or whose root cause resolved are announced now."""
        back = []
        for state in active.values():
            if state.phase is not Phase.FIRING or not (state.silenced_by or state.inhibited_by):
                continue
            if suppressor.reason(state) is None and inhibitor.root_of(state) is None:
                back.append(state.evolve(silenced_by=None, inhibited_by=None))
        if not back:
            return
        with self.store.transaction() as tx:
            self.store.alert_states_save(back, now, tx)
            for state in back:
                for route in self.router.routes_for(state):
                    if self.store.thread_of(route.name, state.fingerprint) is None:
                        self.store.pending_add(route.name, route.group_key(state), state.fingerprint, "fired", now,
                                               {}, tx)

    def _states(self, fingerprints: Sequence[str], cache: dict[str, AlertState]) -> dict[str, AlertState]:
        missing = [fp for fp in fingerprints if fp not in cache]
        if missing:
            cache.update(self.store.alert_states(missing))
        return {fp: cache[fp] for fp in fingerprints if fp in cache}

    def _flush_group(self, route: Route, group_key: str, now: datetime, suppressor: Suppressor,
                     inhibitor: Inhibitor, cache: dict[str, AlertState]) -> int:
        with self.store.transaction() as tx:
            entries = self.store.pending_take(route.name, group_key, tx)
            kinds: dict[str, list[str]] = defaultdict(list)
            for entry in entries:
                kinds[entry.fingerprint].append(entry.event)
            states = self._states(list(kinds), cache)
            threads = self.store.threads_of(route.name, list(kinds))
            updated: dict[str, AlertState] = {}
            announce: list[AlertState] = []
            incident_roots: dict[str, AlertState] = {}
            follow: dict[str, dict[str, Any]] = defaultdict(lambda: {"changes": [], "kinds": set()})
            for fp, fp_kinds in kinds.items():
                state = states.get(fp)
                if state is None:
                    continue
                silenced = suppressor.reason(state)
                root = inhibitor.root_of(state) if state.phase is Phase.FIRING else None
                state = state.evolve(silenced_by=silenced, inhibited_by=root.fingerprint if root else None)
                updated[fp] = state
                thread = threads.get(fp)
                kind = max(fp_kinds, key=lambda k: _KIND_RANK.get(k, 0))
                if state.phase is Phase.RESOLVED:
                    if thread is not None:  # never announced here -> nothing to resolve here
                        follow[thread]["changes"].append(change_line("resolved", state, self.redact))
                        follow[thread]["kinds"].add("resolved")
                    continue
                if state.phase is not Phase.FIRING or silenced:
                    continue  # silenced: tracked, shown by `sentinel alerts`, announced if it outlives the silence
                if root is not None:
                    root_thread = self.store.thread_of(route.name, root.fingerprint)
                    if root_thread is not None and thread is None and kind != "reminder":
                        follow[root_thread]["changes"].append(change_line("symptom", state, self.redact))
                        follow[root_thread]["kinds"].add("symptom")
                    elif root_thread is None and thread is None and kind != "reminder" and \
                            route not in self.router.routes_for(root):
                        # The root is below this route (a warning, an on-call route for criticals): a symptom must
                        # not lower the incident's page, so the incident is announced here, titled by its root.
                        incident_roots[root.fingerprint] = root
                    continue
                if thread is None:
                    if route.matches(state):
                        announce.append(state)
                    continue
                follow[thread]["changes"].append(change_line(kind, state, self.redact))
                follow[thread]["kinds"].add(kind)

            for fp, root_state in incident_roots.items():
                if fp not in updated:
                    updated[fp] = root_state
                    announce.append(root_state)
            messages: list[Message] = []
            if announce:
                messages.append(self._announce(route, group_key, announce, kinds, inhibitor, now, tx))
                for state in announce:
                    updated[state.fingerprint] = updated[state.fingerprint].evolve(announced=True, last_notified_at=now)
            for thread, info in follow.items():
                messages.append(self._follow_up(route, group_key, thread, info, updated, inhibitor, now, cache))
                for fp in self.store.thread_members(route.name, thread):
                    if fp in updated:
                        updated[fp] = updated[fp].evolve(last_notified_at=now)
            for message in messages:
                for receiver in route.receivers:
                    dedup = dedup_id(receiver, route.name, message.key, message.event, now.isoformat(),
                                     *message.changes, *(a.fingerprint for a in message.alerts))
                    self.outbox.enqueue(receiver, message, dedup, tx)
            if updated:
                self.store.alert_states_save(list(updated.values()), now, tx)
                cache.update(updated)
            self.store.group_mark_flushed(route.name, group_key, now, tx)
            return len(messages)

    def _announce(self, route: Route, group_key: str, announce: list[AlertState], kinds: Mapping[str, list[str]],
                  inhibitor: Inhibitor, now: datetime, tx: Any) -> Message:
        key = announce[0].fingerprint if len(announce) == 1 else group_thread_key(
            route.name, group_key, announce[0].fingerprint, now.isoformat())
        self.store.threads_set(route.name, [s.fingerprint for s in announce], key, now, tx)
        symptoms = [s for a in announce for s in inhibitor.symptoms_of(a)]
        tables = [t for s in (*announce, *symptoms) if (t := s.labels.get("table"))]
        escalated = any("escalated" in kinds.get(s.fingerprint, ()) for s in announce)
        return build_message(
            key=key, route=route.name, group=group_key, event="escalated" if escalated else "fired", is_update=False,
            states=announce, now=now, base_url=self.settings.runbook_base_url, redact=self.redact,
            symptoms=symptoms, at_risk=self.lineage.at_risk(tables) if symptoms or len(announce) else [],
            page_action="trigger",
        )

    def _follow_up(self, route: Route, group_key: str, thread: str, info: Mapping[str, Any],
                   updated: Mapping[str, AlertState], inhibitor: Inhibitor, now: datetime,
                   cache: dict[str, AlertState]) -> Message:
        members = self.store.thread_members(route.name, thread)
        stored = self._states(members, cache)
        states = [updated.get(fp) or stored[fp] for fp in members if fp in updated or fp in stored]
        resolved = all(s.phase is Phase.RESOLVED for s in states)
        kinds: set[str] = info["kinds"]
        if resolved:
            event, action = "resolved", "resolve"
        elif "escalated" in kinds:
            event, action = "escalated", "trigger"
        elif kinds == {"reminder"}:
            event, action = "reminder", "none"
        else:
            event, action = "update", "none"
        firing = [s for s in states if s.phase is Phase.FIRING]
        symptoms = [s for a in firing for s in inhibitor.symptoms_of(a)]
        tables = [t for s in (*firing, *symptoms) if (t := s.labels.get("table"))]
        return build_message(
            key=thread, route=route.name, group=group_key, event=event, is_update=True, states=states, now=now,
            base_url=self.settings.runbook_base_url, redact=self.redact, changes=info["changes"], symptoms=symptoms,
            at_risk=self.lineage.at_risk(tables) if firing else [], page_action=action,
        )

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
