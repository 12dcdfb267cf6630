"""Builds Messages (sentinel.notify.message) from alert states: titles, lines, symptoms, SLAs at risk."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sentinel.alerting.types import AlertState, ChangeKind, Phase
from sentinel.model import Severity
from sentinel.notify.message import (
    MAX_LINES,
    AlertLine,
    Message,
    MessageEvent,
    PageAction,
    runbook_url,
    silence_command,
)

Redact = Callable[[str], str]

_ICON = {Severity.CRITICAL: "CRITICAL", Severity.WARNING: "WARNING"}


def line_of(state: AlertState, base_url: str, redact: Redact) -> AlertLine:
    labels = {k: redact(v) for k, v in state.labels.items()}
    return AlertLine(
        fingerprint=state.fingerprint, rule_id=state.rule_id, check_id=state.check_id,
        severity=(state.severity if state.severity is not Severity.NONE else state.notified_severity).value,
        phase=state.phase.value, summary=redact(state.summary), runbook=state.runbook,
        runbook_url=runbook_url(base_url, state.runbook), since=state.fired_at or state.pending_since,
        resolved_at=state.resolved_at, value_name=state.value_name, value=state.value, threshold=state.threshold,
        op=state.op, stage=labels.get("stage"), table=labels.get("table"),
        silence_command=redact(silence_command(state.rule_id, state.check_id, dict(state.labels))),
        details={k: redact(v)[:500] for k, v in list(state.details.items())[:8]}, labels=labels,
    )


def worst(states: Sequence[AlertState]) -> Severity:
    ranks = [max(s.severity.rank, s.notified_severity.rank) for s in states]
    return Severity.CRITICAL if ranks and max(ranks) >= Severity.CRITICAL.rank else Severity.WARNING


def title_of(states: Sequence[AlertState], route_group: str, redact: Redact, severity: Severity | None = None) -> str:
    firing = [s for s in states if s.phase is not Phase.RESOLVED]
    head = "RESOLVED" if not firing else _ICON[severity or worst(firing)]
    if len(states) == 1:
        s = states[0]
        where = " / ".join(redact(v) for v in (s.labels.get("stage"), s.labels.get("table")) if v)
        # An implicit rule is named after its check: say it once, and name the finding (test, prefix, table pair).
        what = s.check_id if s.rule_id == s.check_id else f"{s.rule_id} on {s.check_id}"
        if s.broken:
            what = f"check broken: {s.check_id}"
        finding = s.labels.get("finding")
        if finding and not s.broken:
            what += f" [{redact(finding)}]"
        return f"{head}: {what}" + (f" ({where})" if where else "")
    return f"{head}: {len(firing)} of {len(states)} alerts firing ({redact(route_group)})"


@dataclass(frozen=True)
class MessageDraft:
    """What one message says, before it is rendered into a Message: which thread, why, and about which alerts."""

    key: str  # the thread key (an alert fingerprint, or a group's key)
    route: str
    group: str
    event: MessageEvent
    is_update: bool
    states: Sequence[AlertState]
    changes: Sequence[str] = ()
    symptoms: Sequence[AlertState] = ()
    at_risk: Sequence[str] = ()
    page_action: PageAction = PageAction.NONE
    notes: Sequence[str] = ()


def build_message(draft: MessageDraft, *, now: datetime, base_url: str, redact: Redact) -> Message:
    states, symptoms, changes = draft.states, draft.symptoms, draft.changes
    ordered = sorted(states, key=lambda s: (s.phase is Phase.RESOLVED, -s.severity.rank, s.check_id))
    resolved = all(s.phase is Phase.RESOLVED for s in states)
    # An incident is as severe as its worst firing alert, symptoms included: a warning root with a critical
    # symptom pages critical, titled by the root cause.
    severity = worst([*states, *(s for s in symptoms if s.phase is Phase.FIRING)])
    return Message(
        key=draft.key, route=draft.route, event=draft.event, is_update=draft.is_update, severity=severity,
        title=title_of(ordered, draft.group, redact, severity), created_at=now,
        alerts=tuple(line_of(s, base_url, redact) for s in ordered[:MAX_LINES]),
        changes=tuple(redact(c) for c in changes[:MAX_LINES])
        + ((f"... and {len(changes) - MAX_LINES} more changes",) if len(changes) > MAX_LINES else ()),
        symptoms=tuple(line_of(s, base_url, redact) for s in symptoms[:MAX_LINES]),
        total_alerts=len(ordered), total_symptoms=len(symptoms), at_risk=tuple(draft.at_risk),
        notes=tuple(redact(n) for n in draft.notes), page_action=draft.page_action, resolved=resolved,
    )


def change_line(kind: ChangeKind, state: AlertState, redact: Redact) -> str:
    what = f"{state.check_id}: {redact(state.summary)}"
    return {
        ChangeKind.FIRED: f"Fired ({state.severity.value}): {what}",
        ChangeKind.ESCALATED: f"Escalated to {state.severity.value}: {what}",
        ChangeKind.REMINDER: f"Still firing ({state.severity.value}): {what}",
        ChangeKind.RESOLVED: f"Resolved: {state.check_id}" + (f" ({state.resolve_note})" if state.resolve_note else ""),
        ChangeKind.SYMPTOM: f"Symptom attached ({state.severity.value}): {what}",
    }[kind]
