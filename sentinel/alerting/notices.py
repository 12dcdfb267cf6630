"""What a flushed group tells, and in which thread (pure).

Each alert of the group ends in one of these places:

    resolved, with a thread here         -> a "Resolved" line in its thread
    pending, or silenced                 -> nothing (tracked; announced if it outlives its silence)
    a symptom of a firing root cause     -> a line in the root's thread; or, when the root was never routed
                                            here, the incident is announced here titled by its root (a symptom
                                            must not lower the incident's page)
    firing, no thread here               -> announced (one message for all of the group's new alerts)
    firing, with a thread                -> a line (fired again, escalated, still firing) in that thread

Then every thread with lines gets one follow-up whose event says the most important of them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sentinel.alerting.compose import MessageDraft, Redact, change_line
from sentinel.alerting.inhibit import Inhibitor, Lineage
from sentinel.alerting.routing import Route, group_thread_key
from sentinel.alerting.silences import Suppressor
from sentinel.alerting.types import AlertState, BufferedAlert, Change, ChangeKind, EventKind, Phase
from sentinel.notify.message import MessageEvent, PageAction


@dataclass(frozen=True)
class GroupView:
    """What the planner reads about one group, fetched by the flusher inside the group's transaction."""

    route: Route
    key: str
    states: Mapping[str, AlertState]  # the group's alerts
    threads: Mapping[str, str]  # fingerprint -> its thread on this route (the group's alerts and their roots)
    suppressor: Suppressor
    inhibitor: Inhibitor
    routes_for: Callable[[AlertState], Sequence[Route]]


@dataclass
class GroupPlan:
    updated: dict[str, AlertState] = field(default_factory=dict)  # silence/inhibition marks, incident roots
    announce: list[AlertState] = field(default_factory=list)
    follow_ups: dict[str, list[Change]] = field(default_factory=dict)  # thread key -> its new lines, in order
    escalated: frozenset[str] = frozenset()  # fingerprints with an escalation among their buffered events

    def follow(self, thread: str, kind: ChangeKind, state: AlertState) -> None:
        self.follow_ups.setdefault(thread, []).append(Change(kind, state))


def plan_group(batch: Sequence[BufferedAlert], view: GroupView) -> GroupPlan:
    plan = GroupPlan(escalated=frozenset(a.fingerprint for a in batch if EventKind.ESCALATED in a.kinds))
    incident_roots: dict[str, AlertState] = {}
    for alert in batch:
        state = view.states.get(alert.fingerprint)
        if state is None:
            continue
        root = view.inhibitor.root_of(state) if state.phase is Phase.FIRING else None
        state = state.evolve(silenced_by=view.suppressor.reason(state),
                             inhibited_by=root.fingerprint if root else None)
        plan.updated[alert.fingerprint] = state
        if root is None:
            _place(plan, alert.kind, state, view)
        elif state.silenced_by is None and alert.kind is not EventKind.REMINDER:
            _place_symptom(plan, incident_roots, state, root, view)
    for fp, root in incident_roots.items():
        if fp not in plan.updated:
            plan.updated[fp] = root
            plan.announce.append(root)
    return plan


def _place(plan: GroupPlan, kind: EventKind, state: AlertState, view: GroupView) -> None:
    thread = view.threads.get(state.fingerprint)
    if state.phase is Phase.RESOLVED:
        if thread is not None:  # never announced here -> nothing to resolve here
            plan.follow(thread, ChangeKind.RESOLVED, state)
    elif state.phase is not Phase.FIRING or state.silenced_by:
        return  # silenced: tracked, shown by `sentinel alerts`, announced if it outlives the silence
    elif thread is not None:
        plan.follow(thread, ChangeKind.of(kind), state)
    elif view.route.matches(state):
        plan.announce.append(state)


def _place_symptom(plan: GroupPlan, incident_roots: dict[str, AlertState], state: AlertState, root: AlertState,
                   view: GroupView) -> None:
    if state.fingerprint in view.threads:
        return  # announced before its root fired: its own thread carries on
    root_thread = view.threads.get(root.fingerprint)
    if root_thread is not None:
        plan.follow(root_thread, ChangeKind.SYMPTOM, state)
    elif view.route not in view.routes_for(root):
        # The root is below this route (a warning, an on-call route for criticals): a symptom must not lower
        # the incident's page, so the incident is announced here, titled by its root.
        incident_roots[root.fingerprint] = root


def announcement_key(view: GroupView, announce: Sequence[AlertState], now: datetime) -> str:
    """One new alert threads under its own fingerprint (the pager's dedup key); several under a group key."""
    if len(announce) == 1:
        return announce[0].fingerprint
    return group_thread_key(view.route.name, view.key, announce[0].fingerprint, now.isoformat())


def announcement(view: GroupView, plan: GroupPlan, key: str, lineage: Lineage) -> MessageDraft:
    symptoms = [s for a in plan.announce for s in view.inhibitor.symptoms_of(a)]
    tables = [t for s in (*plan.announce, *symptoms) if (t := s.labels.get("table"))]
    escalated = any(s.fingerprint in plan.escalated for s in plan.announce)
    return MessageDraft(
        key=key, route=view.route.name, group=view.key,
        event=MessageEvent.ESCALATED if escalated else MessageEvent.FIRED, is_update=False,
        states=plan.announce, symptoms=symptoms, at_risk=lineage.at_risk(tables), page_action=PageAction.TRIGGER)


def follow_up_event(states: Sequence[AlertState], changes: Sequence[Change]) -> tuple[MessageEvent, PageAction]:
    kinds = {c.kind for c in changes}
    if all(s.phase is Phase.RESOLVED for s in states):
        return MessageEvent.RESOLVED, PageAction.RESOLVE
    if ChangeKind.ESCALATED in kinds:
        return MessageEvent.ESCALATED, PageAction.TRIGGER
    if kinds == {ChangeKind.REMINDER}:
        return MessageEvent.REMINDER, PageAction.NONE
    return MessageEvent.UPDATE, PageAction.NONE


def follow_up(view: GroupView, thread: str, changes: Sequence[Change], members: Sequence[AlertState],
              lineage: Lineage, redact: Redact) -> MessageDraft:
    """A follow-up in `thread`, showing every member of the thread as it is now."""
    event, action = follow_up_event(members, changes)
    firing = [s for s in members if s.phase is Phase.FIRING]
    symptoms = [s for a in firing for s in view.inhibitor.symptoms_of(a)]
    tables = [t for s in (*firing, *symptoms) if (t := s.labels.get("table"))]
    return MessageDraft(
        key=thread, route=view.route.name, group=view.key, event=event, is_update=True, states=members,
        changes=[change_line(c.kind, c.state, redact) for c in changes], symptoms=symptoms,
        at_risk=lineage.at_risk(tables) if firing else [], page_action=action)
