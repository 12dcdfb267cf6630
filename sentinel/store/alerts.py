"""The alerting part of the StateStore protocol: alert states, the group buffer, threads, the outbox,
deliveries, receiver references (e.g. a Slack message's ts) and silences.

Write methods take an optional `tx` (from `store.transaction()`) so the pipeline can change several
tables atomically; without it each call is its own transaction. Written once for both engines in alert_tables.py.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sentinel.alerting.types import AlertState, Delivery, Silence
from sentinel.store.sql import Tx


@dataclass(frozen=True)
class PendingEntry:
    seq: int
    route: str
    group_key: str
    fingerprint: str
    event: str
    event_at: datetime
    payload: dict[str, Any]


@dataclass(frozen=True)
class OutboxRow:
    seq: int
    receiver: str
    message_key: str
    event: str
    created_at: datetime
    next_attempt_at: datetime
    attempts: int
    status: str  # pending | sent | failed | skipped
    last_error: str
    payload: dict[str, Any]


class AlertStore(Protocol):
    def transaction(self) -> AbstractContextManager[Tx]: ...

    # alert states
    def alert_states(self, fingerprints: Sequence[str] | None = None, *, active_only: bool = False,
                     check_id: str | None = None) -> dict[str, AlertState]: ...

    def alert_states_save(self, states: Sequence[AlertState], at: datetime, tx: Tx | None = None) -> None: ...

    # group buffer
    def pending_add(self, route: str, group_key: str, fingerprint: str, event: str, event_at: datetime,
                    payload: dict[str, Any], tx: Tx | None = None) -> None: ...

    def pending_groups(self) -> list[tuple[str, str, datetime]]:
        """(route, group_key, oldest event_at) of every group with buffered events."""
        ...

    def pending_take(self, route: str, group_key: str, tx: Tx) -> list[PendingEntry]: ...

    def group_flushed_at(self, route: str, group_key: str) -> datetime | None: ...

    def group_mark_flushed(self, route: str, group_key: str, at: datetime, tx: Tx) -> None: ...

    # threads (which message an alert was announced in, per route)
    def thread_of(self, route: str, fingerprint: str) -> str | None: ...

    def thread_set(self, route: str, fingerprint: str, thread_key: str, at: datetime, tx: Tx | None = None) -> None: ...

    def threads_set(self, route: str, fingerprints: Sequence[str], thread_key: str, at: datetime,
                    tx: Tx | None = None) -> None: ...

    def threads_of(self, route: str, fingerprints: Sequence[str]) -> dict[str, str]: ...

    def threads_forget(self, fingerprints: Sequence[str], tx: Tx | None = None) -> None:
        """A new episode of these alerts starts: their next notification is a new message, not a follow-up."""
        ...

    def thread_members(self, route: str, thread_key: str) -> list[str]: ...

    # outbox and deliveries
    def outbox_add(self, receiver: str, message_key: str, dedup_id: str, event: str, payload: dict[str, Any],
                   at: datetime, tx: Tx | None = None) -> bool: ...

    def outbox_pending(self, receiver: str | None = None) -> list[OutboxRow]:
        """Unsent rows, oldest first; only `receiver`'s when given."""
        ...

    def outbox_pending_count(self) -> int: ...

    def firing_count(self) -> int: ...

    def outbox_update(self, seq: int, *, status: str, attempts: int, next_attempt_at: datetime, last_error: str,
                      tx: Tx | None = None) -> None: ...

    def outbox_rows(self, limit: int = 100) -> list[OutboxRow]: ...

    def outbox_prune(self, older_than: datetime, tx: Tx | None = None) -> int: ...

    def alert_states_prune(self, resolved_before: datetime, tx: Tx | None = None) -> int: ...

    def delivery_add(self, delivery: Delivery, tx: Tx | None = None) -> None: ...

    def deliveries_between(self, start: datetime, end: datetime) -> list[Delivery]: ...

    def ref_get(self, receiver: str, message_key: str) -> str | None: ...

    def ref_set(self, receiver: str, message_key: str, ref: str, at: datetime, tx: Tx | None = None) -> None: ...

    # silences
    def silence_add(self, silence: Silence) -> None: ...

    def silences(self, *, include_expired: bool = False, now: datetime | None = None) -> list[Silence]: ...

    def silence_expire(self, silence_id: str, at: datetime) -> bool: ...


def iter_chunks(items: Sequence[str], size: int = 500) -> Iterator[Sequence[str]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]
