"""The SLA part of the StateStore protocol: the observation ledger, the weekly report send log, and a
read-only view of the alert history (the outbox's messages) for root causes in the report."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sentinel.sla import SlaObservation


@dataclass(frozen=True)
class ReportLogEntry:
    week: str
    status: str  # sending | sent | failed
    claimed_at: datetime
    sent_at: datetime | None
    recipients: str
    detail: str


@dataclass(frozen=True)
class SentMessage:
    """One message the alerting pipeline queued for a receiver (the alert history as people saw it)."""

    seq: int
    receiver: str
    event: str
    status: str
    created_at: datetime
    payload: dict[str, Any]


class SlaStore(Protocol):
    def sla_observations_add(self, observations: Sequence[SlaObservation]) -> None: ...

    def sla_observations(self, sla_id: str, start: datetime, end: datetime) -> list[SlaObservation]: ...

    def sla_observation_before(self, sla_id: str, moment: datetime) -> SlaObservation | None: ...

    def report_claim(self, week: str, at: datetime, recipients: str) -> bool:
        """Atomically take the right to send `week`'s report: False if it was sent or is being sent."""
        ...

    def report_mark(self, week: str, status: str, at: datetime, detail: str = "") -> None: ...

    def report_log(self, week: str | None = None) -> list[ReportLogEntry]: ...

    def messages_between(self, start: datetime, end: datetime) -> list[SentMessage]: ...

    def result_status_counts(self, start: datetime, end: datetime) -> dict[str, dict[str, int]]: ...
