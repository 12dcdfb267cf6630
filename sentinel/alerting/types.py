"""Value types of the alert path: Verdict (what a rule decided about one result or finding), AlertState
(what alerting remembers about one alert), AlertEvent (what changed), BufferedAlert (an alert's events waiting
in a route group), Change (a line of a follow-up), Delivery (what a receiver got).

Frozen and stdlib only, like sentinel.model. Times are aware UTC datetimes named *_at.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

from sentinel.model import AlertKey, Severity


class Phase(enum.StrEnum):
    INACTIVE = "inactive"
    PENDING = "pending"
    FIRING = "firing"
    RESOLVED = "resolved"


class EventKind(enum.StrEnum):
    """What changed about an alert. Several buffered for one alert collapse into the one with the highest rank."""

    FIRED = "fired"
    ESCALATED = "escalated"
    REMINDER = "reminder"
    RESOLVED = "resolved"

    @property
    def rank(self) -> int:
        return _EVENT_RANK[self]


_EVENT_RANK = {EventKind.REMINDER: 0, EventKind.FIRED: 1, EventKind.ESCALATED: 2, EventKind.RESOLVED: 3}


class ChangeKind(enum.StrEnum):
    """One line of a follow-up in an alert thread: an event of a member, or a downstream alert attached."""

    FIRED = "fired"
    ESCALATED = "escalated"
    REMINDER = "reminder"
    RESOLVED = "resolved"
    SYMPTOM = "symptom"  # a downstream alert joined the thread of its root cause

    @staticmethod
    def of(kind: EventKind) -> ChangeKind:
        return ChangeKind(kind.value)


def _frozen(mapping: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True, slots=True)
class Verdict:
    """A rule's judgement of one result (or one finding of it).

    severity NONE = the condition is clear; `known=False` = the check could not measure (ERROR), so the
    alert keeps its state instead of resolving or firing on no data.
    """

    rule_id: str
    key: AlertKey
    check_id: str
    kind: str
    severity: Severity
    observed_at: datetime
    summary: str
    runbook: str
    known: bool = True
    value_name: str | None = None
    value: float | None = None
    threshold: float | None = None
    op: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    details: Mapping[str, str] = field(default_factory=dict)
    route: str | None = None
    broken: bool = False
    fingerprint: str = field(default="", compare=False)  # computed from `key` once

    def __post_init__(self) -> None:
        object.__setattr__(self, "labels", _frozen(self.labels))
        object.__setattr__(self, "details", _frozen(self.details))
        object.__setattr__(self, "fingerprint", self.key.fingerprint)


@dataclass(frozen=True, slots=True)
class AlertState:
    """What alerting remembers about one alert between results (persisted in the state store)."""

    fingerprint: str
    rule_id: str
    check_id: str
    kind: str
    labels: Mapping[str, str]
    phase: Phase = Phase.INACTIVE
    severity: Severity = Severity.NONE
    summary: str = ""
    runbook: str = ""
    value_name: str | None = None
    value: float | None = None
    threshold: float | None = None
    op: str | None = None
    details: Mapping[str, str] = field(default_factory=dict)
    route: str | None = None
    broken: bool = False
    pending_since: datetime | None = None  # first breach of the current episode
    breach_count: int = 0  # consecutive breaching observations of the current episode
    fired_at: datetime | None = None
    clear_since: datetime | None = None  # first clear observation while firing (flap damping)
    resolved_at: datetime | None = None
    last_event_at: datetime | None = None  # when the last event (fired/escalated/reminder) was emitted
    notified_severity: Severity = Severity.NONE
    last_observed_at: datetime | None = None
    announced: bool = False  # a Fired for this episode reached at least one receiver (not silenced/inhibited)
    last_notified_at: datetime | None = None
    silenced_by: str | None = None
    inhibited_by: str | None = None
    resolve_note: str = ""  # why it resolved when not by a clear measurement (e.g. its check was removed)

    def __post_init__(self) -> None:
        object.__setattr__(self, "labels", _frozen(self.labels))
        object.__setattr__(self, "details", _frozen(self.details))

    @property
    def active(self) -> bool:
        return self.phase in (Phase.PENDING, Phase.FIRING)

    @property
    def since(self) -> datetime | None:
        return self.fired_at or self.pending_since

    def evolve(self, **changes: Any) -> AlertState:
        return replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        data = {f: getattr(self, f) for f in self.__dataclass_fields__}
        data["labels"] = dict(self.labels)
        data["details"] = dict(self.details)
        for k, v in list(data.items()):
            if isinstance(v, datetime):
                data[k] = v.isoformat()
            elif isinstance(v, enum.Enum):
                data[k] = v.value
        return data

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> AlertState:
        values = dict(data)
        for name in ("pending_since", "fired_at", "clear_since", "resolved_at", "last_event_at", "last_observed_at",
                     "last_notified_at"):
            if values.get(name):
                values[name] = datetime.fromisoformat(values[name])
        values["phase"] = Phase(values["phase"])
        values["severity"] = Severity(values["severity"])
        values["notified_severity"] = Severity(values.get("notified_severity", "none"))
        known = set(AlertState.__dataclass_fields__)
        return AlertState(**{k: v for k, v in values.items() if k in known})


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """One change worth telling someone about. `state` is the alert right after the change."""

    kind: EventKind
    at: datetime
    state: AlertState
    previous_severity: Severity = Severity.NONE

    @property
    def fingerprint(self) -> str:
        return self.state.fingerprint


@dataclass(frozen=True, slots=True)
class BufferedAlert:
    """The events of one alert waiting in one route group, collapsed when the group is flushed."""

    fingerprint: str
    kinds: frozenset[EventKind]

    @property
    def kind(self) -> EventKind:
        """The event that speaks for the batch (a resolve outranks an escalation, which outranks a fire)."""
        return max(self.kinds, key=lambda k: k.rank)


@dataclass(frozen=True, slots=True)
class Change:
    """One line of a follow-up message: what happened to one alert of a thread."""

    kind: ChangeKind
    state: AlertState


class DeliveryStatus(enum.StrEnum):
    SENT = "sent"
    RETRY = "retry"  # failed, will be retried
    FAILED = "failed"  # failed for good (non-retryable 4xx, or gave up)
    SKIPPED = "skipped"  # the receiver had nothing to do for this message (e.g. a pager and a reminder)


@dataclass(frozen=True, slots=True)
class Delivery:
    """One attempt to hand one message to one receiver (the weekly report and `sentinel status` read these)."""

    outbox_id: int
    receiver: str
    message_key: str
    event: str
    status: DeliveryStatus
    attempt: int
    at: datetime
    latency: timedelta = timedelta(0)
    error: str = ""
    remote_ref: str | None = None


@dataclass(frozen=True, slots=True)
class Silence:
    """Matchers (label -> value, `~regex`, `!value`) active in [starts_at, ends_at)."""

    id: str
    matchers: Mapping[str, str]
    starts_at: datetime
    ends_at: datetime
    created_by: str = ""
    comment: str = ""
    created_at: datetime | None = None
    expired_at: datetime | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "matchers", _frozen(self.matchers))

    def active_at(self, now: datetime) -> bool:
        end = self.ends_at if self.expired_at is None else min(self.ends_at, self.expired_at)
        return self.starts_at <= now < end
