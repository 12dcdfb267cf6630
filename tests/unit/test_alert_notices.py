"""What a flushed group tells, and in which thread: the decisions `_flush_group` used to tangle, as plain values."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from sentinel.alerting.inhibit import Inhibitor, Lineage
from sentinel.alerting.notices import (
    GroupView,
    announcement,
    announcement_key,
    follow_up,
    follow_up_event,
    plan_group,
)
from sentinel.alerting.routing import Route, Router
from sentinel.alerting.silences import Suppressor, new_silence
from sentinel.alerting.types import AlertState, BufferedAlert, Change, ChangeKind, EventKind, Phase
from sentinel.config.alerting_spec import PipelineSpec
from sentinel.model import Severity
from sentinel.notify.message import MessageEvent, PageAction
from tests.unit.alert_builders import T0, alert

LINEAGE = Lineage(PipelineSpec(stages=["postgres", "kafka", "dbt"]))
CHAT = Route("chat", ("slack",))
PAGE = Route("page", ("pager",), min_severity=Severity.CRITICAL)


def view(states: Sequence[AlertState], threads: dict[str, str] | None = None, *, route: Route = CHAT,
         silenced: str | None = None, firing: Sequence[AlertState] = ()) -> GroupView:
    silences = [new_silence({"alertname": silenced}, T0, timedelta(hours=1))] if silenced else []
    return GroupView(route=route, key="stage=dbt", states={s.fingerprint: s for s in states}, threads=threads or {},
                     suppressor=Suppressor(silences, [], T0), inhibitor=Inhibitor(LINEAGE, [*states, *firing]),
                     routes_for=Router([CHAT, PAGE]).routes_for)


def batch(*pairs: tuple[AlertState, EventKind]) -> list[BufferedAlert]:
    return [BufferedAlert(s.fingerprint, frozenset({k})) for s, k in pairs]


def test_new_firing_alerts_are_announced_together_and_silenced_ones_only_marked():
    a = alert("fresh_tx", "dbt")
    b = alert("fresh_refunds", "dbt", table="payments.refunds")
    quiet = alert("quiet", "dbt", table="users.merchants")
    waiting = alert("waiting", "dbt", table="users.api_keys", phase=Phase.PENDING)
    group = view([a, b, quiet, waiting], silenced="quiet")
    plan = plan_group(batch((a, EventKind.FIRED), (b, EventKind.ESCALATED), (quiet, EventKind.FIRED),
                            (waiting, EventKind.FIRED)), group)
    assert [s.check_id for s in plan.announce] == ["fresh_tx", "fresh_refunds"] and plan.follow_ups == {}
    assert plan.updated["fp-quiet"].silenced_by is not None and set(plan.updated) == {a.fingerprint, b.fingerprint,
                                                                                       "fp-quiet", "fp-waiting"}
    key = announcement_key(group, plan.announce, T0)
    assert key.startswith("sentinel-grp-") and announcement_key(group, plan.announce[:1], T0) == a.fingerprint
    draft = announcement(group, plan, key, LINEAGE)
    assert (draft.event, draft.page_action, draft.is_update) == (MessageEvent.ESCALATED, PageAction.TRIGGER, False)


def test_lines_go_to_existing_threads_and_a_resolve_only_where_it_was_announced():
    firing = alert("lag", "kafka")
    resolved = alert("slot", "postgres", table="users.merchants", phase=Phase.RESOLVED)
    never_told = alert("old", "dbt", table="users.api_keys", phase=Phase.RESOLVED)
    group = view([firing, resolved, never_told], {"fp-lag": "t-lag", "fp-slot": "t-slot"})
    plan = plan_group(batch((firing, EventKind.REMINDER), (resolved, EventKind.RESOLVED),
                            (never_told, EventKind.RESOLVED)), group)
    assert plan.announce == []
    assert {t: [c.kind for c in cs] for t, cs in plan.follow_ups.items()} == {
        "t-lag": [ChangeKind.REMINDER], "t-slot": [ChangeKind.RESOLVED]}


def test_a_symptom_joins_its_roots_thread_but_a_reminder_of_it_says_nothing():
    root, symptom = alert("slot", "postgres"), alert("fresh", "dbt")
    group = view([symptom], {"fp-slot": "t-root"}, firing=[root])
    plan = plan_group(batch((symptom, EventKind.FIRED)), group)
    assert [(c.kind, c.state.check_id) for c in plan.follow_ups["t-root"]] == [(ChangeKind.SYMPTOM, "fresh")]
    assert plan.updated["fp-fresh"].inhibited_by == "fp-slot"
    assert plan_group(batch((symptom, EventKind.REMINDER)), group).follow_ups == {}


def test_a_critical_symptom_of_a_warning_root_announces_the_incident_on_the_page_route():
    root = alert("slot", "postgres", severity=Severity.WARNING)  # below the page route
    symptom = alert("fresh", "dbt")
    group = view([symptom], route=PAGE, firing=[root])
    plan = plan_group(batch((symptom, EventKind.FIRED)), group)
    assert [s.check_id for s in plan.announce] == ["slot"]  # titled by its root, paged at the symptom's severity
    draft = announcement(group, plan, announcement_key(group, plan.announce, T0), LINEAGE)
    assert [s.check_id for s in draft.symptoms] == ["fresh"]
    # on the chat route the root is announced by its own event: the symptom waits for the root's thread
    assert plan_group(batch((symptom, EventKind.FIRED)), view([symptom], firing=[root])).announce == []


def test_the_follow_up_event_says_the_most_important_change():
    firing, done = alert("a"), alert("b", phase=Phase.RESOLVED)
    lines = [Change(ChangeKind.REMINDER, firing)]
    assert follow_up_event([firing], lines) == (MessageEvent.REMINDER, PageAction.NONE)
    assert follow_up_event([firing], [*lines, Change(ChangeKind.SYMPTOM, firing)]) == (MessageEvent.UPDATE,
                                                                                        PageAction.NONE)
    assert follow_up_event([firing], [*lines, Change(ChangeKind.ESCALATED, firing)]) == (MessageEvent.ESCALATED,
                                                                                          PageAction.TRIGGER)
    assert follow_up_event([done], [Change(ChangeKind.RESOLVED, done)]) == (MessageEvent.RESOLVED, PageAction.RESOLVE)
    draft = follow_up(view([done]), "t", [Change(ChangeKind.RESOLVED, done)], [done], LINEAGE, str)
    assert draft.changes == ["Resolved: b"] and draft.is_update and draft.at_risk == []
