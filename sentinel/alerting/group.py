"""Grouping: events wait in a buffer per (route, group key) so that 200 checks failing because one database is
down arrive as one message. A group is flushed `group_wait` after its oldest event, and then at most once per
`group_interval` (Alertmanager's timing); `force` (`sentinel check --once`) flushes every group now.

The buffer lives in the state store, so a restart loses no event.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sentinel.alerting.dedup import collapse
from sentinel.alerting.routing import Route, Router
from sentinel.alerting.types import AlertEvent, AlertState, BufferedAlert, EventKind
from sentinel.store.alerts import AlertStore


@dataclass(frozen=True)
class DueGroup:
    route: Route
    key: str


def is_due(route: Route, oldest: datetime, last_flushed: datetime | None, now: datetime) -> bool:
    """Pure: has the group waited long enough since its first event and since its last flush?"""
    if now - oldest < route.group_wait:
        return False
    return last_flushed is None or now - last_flushed >= route.group_interval


class GroupBuffer:
    def __init__(self, store: AlertStore, router: Router) -> None:
        self.store = store
        self.router = router

    def add(self, event: AlertEvent, tx: Any) -> None:
        """Buffer an event in the group of every route it goes to (a resolve: every route that may have had it)."""
        state = event.state
        routes = (self.router.routes_for_any_severity(state) if event.kind is EventKind.RESOLVED
                  else self.router.routes_for(state))
        for route in routes:
            self.store.pending_add(route.name, route.group_key(state), state.fingerprint, event.kind.value, event.at,
                                   {"previous_severity": event.previous_severity.value}, tx)

    def add_resurfaced(self, state: AlertState, now: datetime, tx: Any) -> None:
        """A firing alert no longer silenced or inhibited: announced as fired where it has no thread yet."""
        for route in self.router.routes_for(state):
            if self.store.thread_of(route.name, state.fingerprint) is None:
                self.store.pending_add(route.name, route.group_key(state), state.fingerprint, EventKind.FIRED.value,
                                       now, {}, tx)

    def due(self, now: datetime, *, force: bool) -> Iterator[DueGroup]:
        """The groups to flush now. The buffer of a route removed from the config is dropped on the way."""
        for route_name, group_key, oldest in self.store.pending_groups():
            route = self.router.by_name.get(route_name)
            if route is None:
                with self.store.transaction() as tx:
                    self.store.pending_take(route_name, group_key, tx)
                continue
            if force or is_due(route, oldest, self.store.group_flushed_at(route_name, group_key), now):
                yield DueGroup(route, group_key)

    def take(self, group: DueGroup, tx: Any) -> list[BufferedAlert]:
        return collapse(self.store.pending_take(group.route.name, group.key, tx))

    def mark_flushed(self, group: DueGroup, now: datetime, tx: Any) -> None:
        self.store.group_mark_flushed(group.route.name, group.key, now, tx)
