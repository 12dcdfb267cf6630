"""Dedup: a verdict that changes nothing is dropped, an alert's buffered events collapse to the one that matters,
and one notification to one receiver has one stable id."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from sentinel.alerting.compose import MessageDraft, build_message
from sentinel.alerting.dedup import collapse, delivery_id, worth_stepping
from sentinel.alerting.types import EventKind, Verdict
from sentinel.model import AlertKey, Severity
from sentinel.notify.message import Message, MessageEvent
from sentinel.store.alerts import PendingEntry
from tests.unit.alert_builders import T0, alert


def verdict(severity: Severity, *, known: bool = True) -> Verdict:
    return Verdict(rule_id="lag", key=AlertKey.of("lag", {"check": "lag"}), check_id="lag", kind="k",
                   severity=severity, observed_at=T0, summary="s", runbook="rb", known=known)


def entry(fingerprint: str, event: EventKind, minute: int) -> PendingEntry:
    return PendingEntry(minute, "default", "stage=dbt", fingerprint, event.value, T0 + timedelta(minutes=minute), {})


def test_only_a_breach_starts_remembering_an_alert():
    assert worth_stepping(None, verdict(Severity.WARNING))
    assert not worth_stepping(None, verdict(Severity.NONE))  # clear, never breached: nothing to remember
    assert not worth_stepping(None, verdict(Severity.CRITICAL, known=False))  # no data neither fires nor resolves
    assert worth_stepping(alert("lag"), verdict(Severity.NONE))  # a known alert needs its clear verdict


def test_buffered_events_collapse_per_alert_and_the_strongest_speaks():
    batch = collapse([entry("a", EventKind.FIRED, 0), entry("b", EventKind.REMINDER, 1),
                      entry("a", EventKind.ESCALATED, 2), entry("b", EventKind.REMINDER, 3),
                      entry("c", EventKind.ESCALATED, 4), entry("c", EventKind.RESOLVED, 5)])
    assert [(b.fingerprint, b.kind) for b in batch] == [
        ("a", EventKind.ESCALATED), ("b", EventKind.REMINDER), ("c", EventKind.RESOLVED)]
    assert batch[0].kinds == {EventKind.FIRED, EventKind.ESCALATED}


def message(event: MessageEvent = MessageEvent.FIRED) -> Message:
    draft = MessageDraft(key="k", route="default", group="g", event=event, is_update=False, states=[alert("x")])
    return build_message(draft, now=T0, base_url="https://rb.example", redact=str)


def test_the_same_notification_keeps_its_id_and_any_difference_changes_it():
    same = delivery_id("slack", "default", message(), T0)
    assert same == delivery_id("slack", "default", message(), T0) and len(same) == 32
    others = {
        delivery_id("pager", "default", message(), T0),
        delivery_id("slack", "page", message(), T0),
        delivery_id("slack", "default", message(MessageEvent.ESCALATED), T0),
        delivery_id("slack", "default", message(), T0 + timedelta(seconds=1)),
        delivery_id("slack", "default", replace(message(), changes=("Resolved: x",)), T0),
    }
    assert same not in others and len(others) == 5
