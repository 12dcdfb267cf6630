"""Dedup: nothing is told twice.

Three places where the same thing could otherwise travel on: a verdict that changes nothing (an alert that never
breached measures clear again), several events of one alert buffered in one group (fired, then escalated before
the group was flushed: one line says it), and a notification queued twice for a receiver (after a crash between
queueing and marking the group flushed: the outbox refuses the second row by its delivery id).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime

from sentinel.alerting.types import AlertState, BufferedAlert, EventKind, Verdict
from sentinel.model import Severity
from sentinel.notify.message import Message
from sentinel.store.alerts import PendingEntry


def worth_stepping(previous: AlertState | None, verdict: Verdict) -> bool:
    """False for a verdict about an alert with nothing to remember: no state yet, and clear or unmeasured."""
    return previous is not None or (verdict.known and verdict.severity is not Severity.NONE)


def collapse(entries: Iterable[PendingEntry]) -> list[BufferedAlert]:
    """One BufferedAlert per alert, in the order the alerts first appear in the buffer."""
    kinds: dict[str, set[EventKind]] = {}
    for entry in entries:
        kinds.setdefault(entry.fingerprint, set()).add(EventKind(entry.event))
    return [BufferedAlert(fp, frozenset(k)) for fp, k in kinds.items()]


def dedup_id(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


def delivery_id(receiver: str, route: str, message: Message, at: datetime) -> str:
    """Names one notification to one receiver: the same message of the same flush gets the same id."""
    return dedup_id(receiver, route, message.key, message.event.value, at.isoformat(), *message.changes,
                    *(a.fingerprint for a in message.alerts))
