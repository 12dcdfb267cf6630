"""The one Message form every notifier renders: what broke, how bad, value vs threshold, since when, where
(stage, table), the runbook link and the command to silence it. JSON round-trips through the outbox."""

from __future__ import annotations

import enum
import shlex
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sentinel.durations import format_duration
from sentinel.model import Severity


class MessageEvent(enum.StrEnum):
    """Why a message goes out. The values are what the outbox, the deliveries table and Slack metadata store."""

    FIRED = "fired"
    ESCALATED = "escalated"
    REMINDER = "reminder"
    RESOLVED = "resolved"
    UPDATE = "update"  # a follow-up in an alert's thread that is none of the above (e.g. a symptom attached)
    META = "meta"  # about Sentinel's own delivery (a receiver broken, or back)
    TEST = "test"  # `sentinel notify test`


class PageAction(enum.StrEnum):
    """What a pager does with a message: open (or re-open) the incident, close it, or nothing."""

    TRIGGER = "trigger"
    RESOLVE = "resolve"
    NONE = "none"


@dataclass(frozen=True)
class AlertLine:
    """One alert as a message shows it (a snapshot of its state when the message was built)."""

    fingerprint: str
    rule_id: str
    check_id: str
    severity: str
    phase: str
    summary: str
    runbook: str
    runbook_url: str
    since: datetime | None = None
    resolved_at: datetime | None = None
    value_name: str | None = None
    value: float | None = None
    threshold: float | None = None
    op: str | None = None
    stage: str | None = None
    table: str | None = None
    silence_command: str = ""
    details: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def value_text(self) -> str:
        if self.value is None:
            return ""
        text = f"{self.value_name} = {self.value:g}"
        if self.threshold is not None and self.op:
            text += f" ({self.op} {self.threshold:g})"
        return text

    def since_text(self, now: datetime) -> str:
        if self.since is None:
            return ""
        return f"{self.since.strftime('%Y-%m-%d %H:%M UTC')} ({format_duration(now - self.since)} ago)"

    @property
    def where(self) -> str:
        return " / ".join(p for p in (self.stage, self.table) if p)


MAX_LINES = 50  # alert lines kept per message (Slack shows 30, email 50); the rest is counted


@dataclass(frozen=True)
class Message:
    key: str  # thread key == pager dedup key (an alert fingerprint, or a group's key)
    route: str
    event: MessageEvent
    is_update: bool
    severity: Severity  # WARNING or CRITICAL
    title: str
    created_at: datetime
    alerts: tuple[AlertLine, ...] = ()
    changes: tuple[str, ...] = ()
    symptoms: tuple[AlertLine, ...] = ()
    at_risk: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    page_action: PageAction = PageAction.NONE
    resolved: bool = False
    total_alerts: int = 0  # `alerts` and `symptoms` hold at most MAX_LINES each; these count them all
    total_symptoms: int = 0
    delivery_id: str = ""  # names this notification to this receiver across resends (set by the outbox)
    resend: bool = False  # an earlier attempt may have reached the receiver: look for it before posting anew

    def __post_init__(self) -> None:
        # A payload read back from the outbox (or a caller passing the wire strings) gets the enum members.
        object.__setattr__(self, "event", MessageEvent(self.event))
        object.__setattr__(self, "severity", Severity(self.severity))
        object.__setattr__(self, "page_action", PageAction(self.page_action))
        if self.total_alerts < len(self.alerts):
            object.__setattr__(self, "total_alerts", len(self.alerts))
        if self.total_symptoms < len(self.symptoms):
            object.__setattr__(self, "total_symptoms", len(self.symptoms))

    @property
    def firing(self) -> list[AlertLine]:
        return [a for a in self.alerts if a.phase != "resolved"]

    def to_json(self) -> dict[str, Any]:
        data = {f: getattr(self, f) for f in self.__dataclass_fields__}
        data["alerts"] = [_line_json(a) for a in self.alerts]
        data["symptoms"] = [_line_json(a) for a in self.symptoms]
        return _jsonable(data)  # type: ignore[no-any-return]

    @staticmethod
    def from_json(data: dict[str, Any]) -> Message:
        def line(d: dict[str, Any]) -> AlertLine:
            d = dict(d)
            for k in ("since", "resolved_at"):
                if d.get(k):
                    d[k] = datetime.fromisoformat(d[k])
            return AlertLine(**d)

        values = dict(data)
        values["created_at"] = datetime.fromisoformat(values["created_at"])
        values["alerts"] = tuple(line(a) for a in values.get("alerts", ()))
        values["symptoms"] = tuple(line(a) for a in values.get("symptoms", ()))
        for k in ("changes", "at_risk", "notes"):
            values[k] = tuple(values.get(k, ()))
        return Message(**values)


def _line_json(line: AlertLine) -> dict[str, Any]:
    data = {f: getattr(line, f) for f in line.__dataclass_fields__}
    for k in ("since", "resolved_at"):
        if data[k] is not None:
            data[k] = data[k].isoformat()
    return data


def _jsonable(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value  # the stored payload keeps its plain strings
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def silence_command(rule_id: str, check_id: str, labels: dict[str, str], duration: str = "2h") -> str:
    parts = ["sentinel", "silence", "add", "--match", f"alertname={rule_id}", "--match", f"check={check_id}"]
    if "finding" in labels:
        parts += ["--match", f"finding={labels['finding']}"]
    parts += ["--for", duration, "--comment", "investigating"]
    return " ".join(shlex.quote(p) for p in parts)


def runbook_url(base_url: str, name: str) -> str:
    return base_url.rstrip("/") + "/" + name + ".md"


def plain_text(message: Message, now: datetime | None = None, limit: int = 50) -> str:
    """A readable plain-text rendering (console, email body, test notifier)."""
    now = now or message.created_at
    lines = [message.title]
    for note in message.notes:
        lines.append(f"NOTE: {note}")
    for change in message.changes:
        lines.append(f"- {change}")
    shown = message.alerts[:limit]
    for a in shown:
        lines.append("")
        lines.append(f"[{a.severity.upper()}{' RESOLVED' if a.phase == 'resolved' else ''}] {a.summary}")
        if a.value_text:
            lines.append(f"  value:   {a.value_text}")
        if a.since:
            lines.append(f"  since:   {a.since_text(now)}")
        if a.where:
            lines.append(f"  where:   {a.where}")
        lines.append(f"  check:   {a.check_id} (rule {a.rule_id})")
        lines.append(f"  runbook: {a.runbook_url}")
        if a.phase != "resolved" and a.silence_command:
            lines.append(f"  silence: {a.silence_command}")
    if message.total_alerts > len(shown):
        lines.append(f"... and {message.total_alerts - len(shown)} more (run `sentinel alerts`)")
    if message.symptoms:
        lines.append("")
        lines.append(f"Symptoms attached to this incident (paged as one with it): {message.total_symptoms}")
        lines.extend(f"  - {s.summary} ({s.where})" for s in message.symptoms[:limit])
    if message.at_risk:
        lines.append("")
        lines.append("At risk: " + ", ".join(message.at_risk))
    return "\n".join(lines)
