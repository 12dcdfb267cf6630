"""The alert state machine as a pure function of (previous state, verdict, rule, now)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from sentinel.alerting.lifecycle import step
from sentinel.alerting.types import AlertState, ChangeKind, EventKind, Phase, Verdict
from sentinel.model import AlertKey, Severity
from sentinel.rules import Rule

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
KEY = AlertKey.of("lag", {"check": "lag"})


def verdict(severity: Severity, at: datetime, *, known: bool = True) -> Verdict:
    return Verdict(rule_id="lag", key=KEY, check_id="lag", kind="kafka_consumer_lag", severity=severity,
                   observed_at=at, summary=f"lag is {severity.value}", runbook="kafka-consumer-lag", known=known)


def drive(rule: Rule, script: list[tuple[int, Severity | None]]) -> tuple[AlertState | None, list[tuple[int, str]]]:
    """script: (minute, severity or None for unknown) -> final state and (minute, event) list."""
    state: AlertState | None = None
    events = []
    for minute, sev in script:
        now = T0 + timedelta(minutes=minute)
        state, new = step(state, verdict(sev or Severity.NONE, now, known=sev is not None), rule, now)
        events += [(minute, e.kind.value) for e in new]
    return state, events


def test_breach_fires_at_once_without_for():
    state, events = drive(Rule(id="lag", runbook="x"), [(0, Severity.CRITICAL)])
    assert events == [(0, "fired")] and state is not None and state.phase is Phase.FIRING


def test_for_holds_pending_until_elapsed_and_clear_cancels_silently():
    rule = Rule(id="lag", runbook="x", for_=timedelta(minutes=5))
    state, events = drive(rule, [(0, Severity.WARNING), (3, Severity.WARNING), (4, Severity.NONE)])
    assert events == [] and state is not None and state.phase is Phase.INACTIVE
    _, events = drive(rule, [(0, Severity.WARNING), (3, Severity.WARNING), (5, Severity.WARNING)])
    assert events == [(5, "fired")]


def test_for_count_needs_consecutive_observations():
    rule = Rule(id="lag", runbook="x", for_count=3)
    _, events = drive(rule, [(0, Severity.WARNING), (1, Severity.WARNING), (2, Severity.NONE), (3, Severity.WARNING),
                             (4, Severity.WARNING), (5, Severity.WARNING)])
    assert events == [(5, "fired")]


def test_escalation_then_reminders_on_the_repeat_interval():
    rule = Rule(id="lag", runbook="x", repeat=timedelta(minutes=30))
    _, events = drive(rule, [(0, Severity.WARNING), (10, Severity.CRITICAL), (20, Severity.CRITICAL),
                             (39, Severity.CRITICAL), (40, Severity.CRITICAL), (55, Severity.WARNING),
                             (70, Severity.CRITICAL)])
    assert events == [(0, "fired"), (10, "escalated"), (40, "reminder"), (70, "reminder")]


def test_flap_damping_resolves_only_after_clear_for():
    rule = Rule(id="lag", runbook="x", clear_for=timedelta(minutes=10))
    script: list[tuple[int, Severity | None]] = [(m, Severity.CRITICAL if m % 2 == 0 else Severity.NONE)
                                                 for m in range(20)]
    script += [(20 + m, Severity.NONE) for m in range(12)]
    state, events = drive(rule, script)
    assert events == [(0, "fired"), (29, "resolved")]  # last breach at 18, clear from 19, + 10 min
    assert state is not None and state.phase is Phase.RESOLVED and state.resolved_at == T0 + timedelta(minutes=29)


def test_unknown_neither_fires_nor_resolves():
    rule = Rule(id="lag", runbook="x")
    state, events = drive(rule, [(0, Severity.CRITICAL), (1, None), (2, None), (3, None)])
    assert events == [(0, "fired")] and state is not None and state.phase is Phase.FIRING
    state, events = drive(rule, [(0, None), (1, None)])
    assert events == [] and state is not None and state.phase is Phase.INACTIVE


def test_a_breach_after_resolve_is_a_new_episode():
    rule = Rule(id="lag", runbook="x")
    state, events = drive(rule, [(0, Severity.CRITICAL), (5, Severity.NONE), (9, Severity.WARNING)])
    assert events == [(0, "fired"), (5, "resolved"), (9, "fired")]
    assert state is not None and state.fired_at == T0 + timedelta(minutes=9) and state.resolved_at is None
    assert state.announced is False


def test_state_round_trips_through_json():
    state, _ = drive(Rule(id="lag", runbook="x"), [(0, Severity.CRITICAL)])
    assert state is not None
    assert AlertState.from_json(state.to_json()) == state
    assert [e.value for e in EventKind] == ["fired", "escalated", "reminder", "resolved"]


def test_an_alert_whose_check_was_removed_resolves_at_once_saying_why():
    from sentinel.alerting.compose import change_line
    from sentinel.alerting.lifecycle import CHECK_REMOVED, retire

    rule = Rule(id="lag", runbook="x", clear_for=timedelta(minutes=10))  # flap damping does not apply: no data comes
    firing, _ = drive(rule, [(0, Severity.CRITICAL)])
    assert firing is not None
    resolved, events = retire(firing, T0 + timedelta(minutes=1))
    assert [e.kind for e in events] == [EventKind.RESOLVED] and resolved.phase is Phase.RESOLVED
    assert events[0].previous_severity is Severity.CRITICAL
    assert change_line(ChangeKind.RESOLVED, resolved, str) == f"Resolved: lag ({CHECK_REMOVED})"

    pending, _ = drive(Rule(id="lag", runbook="x", for_=timedelta(minutes=5)), [(0, Severity.WARNING)])
    assert pending is not None and pending.phase is Phase.PENDING
    ended, events = retire(pending, T0 + timedelta(minutes=1))
    assert events == [] and ended.phase is Phase.INACTIVE  # never announced, so nothing to resolve

    again, events = step(resolved, verdict(Severity.CRITICAL, T0 + timedelta(minutes=2)), Rule(id="lag", runbook="x"),
                         T0 + timedelta(minutes=2))
    assert again.phase is Phase.FIRING and again.resolve_note == ""  # a new episode forgets the old note


def test_advance_steps_each_alert_from_the_latest_state_and_redacts_what_it_keeps():
    from sentinel.alerting.lifecycle import advance

    rule = Rule(id="lag", runbook="x")
    leaky = replace(verdict(Severity.WARNING, T0), summary="login hunter2 refused")
    worse = verdict(Severity.CRITICAL, T0)
    clear_unknown = Verdict(rule_id="other", key=AlertKey.of("other", {"check": "other"}), check_id="other", kind="k",
                            severity=Severity.NONE, observed_at=T0, summary="fine", runbook="x")
    outcome = advance([(rule, leaky), (rule, worse), (rule, clear_unknown)], {}, T0,
                      lambda s: s.replace("hunter2", "[redacted]"))
    assert [e.kind for e in outcome.events] == [EventKind.FIRED, EventKind.ESCALATED]  # the second saw the first
    assert list(outcome.changed) == [KEY.fingerprint]  # the clear alert was never remembered
    assert outcome.events[0].state.summary == "login [redacted] refused"


def test_retire_all_touches_only_the_removed_checks():
    from sentinel.alerting.lifecycle import retire_all

    rule = Rule(id="lag", runbook="x")
    firing, _ = step(None, verdict(Severity.CRITICAL, T0), rule, T0)
    outcome = retire_all([firing], {"lag"}, T0)
    assert outcome.changed[firing.fingerprint].phase is Phase.RESOLVED and len(outcome.events) == 1
    assert retire_all([firing], {"something_else"}, T0).changed == {}
