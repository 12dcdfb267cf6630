"""The alert state machine: a pure function of (previous state, verdict, rule, now) -> (state, events).

    INACTIVE --breach--> PENDING --`for` elapsed and enough breaching observations--> FIRING
    PENDING --clear--> INACTIVE (nothing was ever sent)
    FIRING --breach, worse severity--> FIRING + Escalated
    FIRING --breach, `repeat` since the last event--> FIRING + Reminder
    FIRING --clear for `clear_for` (flap damping)--> RESOLVED + Resolved
    RESOLVED --breach--> PENDING/FIRING (a new episode)
    any --unknown (the check could not measure)--> unchanged: no data neither fires nor resolves
    FIRING/PENDING --its check removed from the config (`retire`)--> RESOLVED + Resolved / INACTIVE
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from sentinel.alerting.dedup import worth_stepping
from sentinel.alerting.types import AlertEvent, AlertState, EventKind, Phase, Verdict
from sentinel.model import Severity
from sentinel.rules import Rule

Redact = Callable[[str], str]


def initial_state(verdict: Verdict) -> AlertState:
    return AlertState(
        fingerprint=verdict.fingerprint, rule_id=verdict.rule_id, check_id=verdict.check_id, kind=verdict.kind,
        labels=verdict.labels, runbook=verdict.runbook, route=verdict.route, broken=verdict.broken,
    )


def _observe(state: AlertState, verdict: Verdict) -> AlertState:
    """Refresh what the message shows (latest summary, value, threshold) from a breaching verdict."""
    return state.evolve(
        summary=verdict.summary, value_name=verdict.value_name, value=verdict.value, threshold=verdict.threshold,
        op=verdict.op, details=verdict.details, labels=verdict.labels, runbook=verdict.runbook, route=verdict.route,
        last_observed_at=verdict.observed_at,
    )


def step(previous: AlertState | None, verdict: Verdict, rule: Rule, now: datetime) -> tuple[AlertState,
                                                                                                list[AlertEvent]]:
    state = previous or initial_state(verdict)
    if not verdict.known:
        return state.evolve(last_observed_at=verdict.observed_at), []

    breaching = verdict.severity is not Severity.NONE
    phase = state.phase

    if not breaching:
        if phase is Phase.PENDING:
            return state.evolve(phase=Phase.INACTIVE, pending_since=None, breach_count=0, severity=Severity.NONE,
                                last_observed_at=verdict.observed_at), []
        if phase is Phase.FIRING:
            clear_since = state.clear_since or now
            if now - clear_since >= rule.clear_for:
                resolved = state.evolve(
                    phase=Phase.RESOLVED, resolved_at=now, clear_since=None, breach_count=0, pending_since=None,
                    last_observed_at=verdict.observed_at, last_event_at=now,
                )
                return resolved, [AlertEvent(EventKind.RESOLVED, now, resolved, previous_severity=state.severity)]
            return state.evolve(clear_since=clear_since, last_observed_at=verdict.observed_at), []
        return state.evolve(last_observed_at=verdict.observed_at), []

    state = _observe(state, verdict)
    if phase in (Phase.INACTIVE, Phase.RESOLVED, Phase.PENDING):
        if phase is Phase.PENDING:
            state = state.evolve(breach_count=state.breach_count + 1, severity=verdict.severity)
        else:  # a new episode
            state = state.evolve(
                phase=Phase.PENDING, pending_since=now, breach_count=1, severity=verdict.severity, fired_at=None,
                resolved_at=None, clear_since=None, announced=False, notified_severity=Severity.NONE,
                silenced_by=None, inhibited_by=None, resolve_note="",
            )
        assert state.pending_since is not None
        if now - state.pending_since >= rule.for_ and state.breach_count >= rule.for_count:
            fired = state.evolve(phase=Phase.FIRING, fired_at=now, last_event_at=now,
                                 notified_severity=verdict.severity)
            return fired, [AlertEvent(EventKind.FIRED, now, fired)]
        return state, []

    # FIRING and still breaching: a breach cancels a pending resolve (flap damping)
    state = state.evolve(clear_since=None, severity=verdict.severity, breach_count=state.breach_count + 1)
    if verdict.severity.rank > state.notified_severity.rank:
        escalated = state.evolve(notified_severity=verdict.severity, last_event_at=now)
        return escalated, [AlertEvent(EventKind.ESCALATED, now, escalated, previous_severity=state.notified_severity)]
    if state.last_event_at is not None and now - state.last_event_at >= rule.repeat:
        reminded = state.evolve(last_event_at=now)
        return reminded, [AlertEvent(EventKind.REMINDER, now, reminded, previous_severity=state.severity)]
    return state, []


CHECK_REMOVED = "check removed from config"


def retire(state: AlertState, now: datetime, note: str = CHECK_REMOVED) -> tuple[AlertState, list[AlertEvent]]:
    """An alert whose check is gone: nothing will ever measure it clear, so it resolves now, saying why. A pending
    one was never announced and just ends."""
    if state.phase is Phase.FIRING:
        resolved = state.evolve(phase=Phase.RESOLVED, resolved_at=now, clear_since=None, breach_count=0,
                                pending_since=None, last_event_at=now, resolve_note=note)
        return resolved, [AlertEvent(EventKind.RESOLVED, now, resolved, previous_severity=state.severity)]
    if state.phase is Phase.PENDING:
        return state.evolve(phase=Phase.INACTIVE, pending_since=None, breach_count=0, severity=Severity.NONE), []
    return state, []


@dataclass(frozen=True)
class Advance:
    """What one round of verdicts did: the states that changed (by fingerprint) and the events to tell."""

    changed: dict[str, AlertState]
    events: list[AlertEvent]


def advance(judged: Iterable[tuple[Rule, Verdict]], known: Mapping[str, AlertState], now: datetime,
            redact: Redact | None = None) -> Advance:
    """Step every judged alert from its known state; verdicts that change nothing are dropped first (dedup).
    With `redact`, what a breaching verdict carries into the state (and so into messages) is redacted."""
    changed: dict[str, AlertState] = {}
    events: list[AlertEvent] = []
    for rule, judged_verdict in judged:
        previous = changed.get(judged_verdict.fingerprint) or known.get(judged_verdict.fingerprint)
        if not worth_stepping(previous, judged_verdict):
            continue
        verdict = judged_verdict
        if redact is not None and verdict.severity is not Severity.NONE:
            verdict = redacted(verdict, redact)
        state, new_events = step(previous, verdict, rule, now)
        if state != previous:
            changed[verdict.fingerprint] = state
        events.extend(new_events)
    return Advance(changed, events)


def redacted(verdict: Verdict, redact: Redact) -> Verdict:
    return replace(verdict, summary=redact(verdict.summary),
                   details={k: redact(v) for k, v in verdict.details.items()},
                   labels={k: redact(v) for k, v in verdict.labels.items()})


def retire_all(active: Iterable[AlertState], check_ids: Collection[str], now: datetime) -> Advance:
    """The alerts of checks no longer configured resolve (or, when pending, end) now."""
    changed: dict[str, AlertState] = {}
    events: list[AlertEvent] = []
    for state in active:
        if state.check_id in check_ids:
            changed[state.fingerprint], new_events = retire(state, now)
            events.extend(new_events)
    return Advance(changed, events)
