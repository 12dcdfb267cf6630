"""Flushing due groups into the outbox: silence -> inhibit -> group -> route -> compose -> outbox.

Per group, in one transaction: take its buffered events (dedup collapses them per alert), read the states and
threads they need, plan what to tell (sentinel.alerting.notices, pure), write one row per message and receiver to
the outbox, and save the states (silence and inhibition marks, announced, last notified). A crash in between
leaves the buffer as it was; the outbox refuses a row it already has.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sentinel.alerting.compose import MessageDraft, Redact, build_message
from sentinel.alerting.dedup import delivery_id
from sentinel.alerting.group import DueGroup, GroupBuffer
from sentinel.alerting.inhibit import Inhibitor, Lineage
from sentinel.alerting.notices import GroupPlan, GroupView, announcement, announcement_key, follow_up, plan_group
from sentinel.alerting.outbox import Outbox
from sentinel.alerting.routing import Router
from sentinel.alerting.silences import MaintenanceWindow, Suppressor, lifted
from sentinel.alerting.types import AlertState
from sentinel.notify.message import Message
from sentinel.store.alerts import AlertStore


@dataclass(frozen=True)
class Composer:
    """Turns drafts into Messages with the runbook base URL and the redactor of this configuration."""

    lineage: Lineage
    base_url: str
    redact: Redact

    def message(self, draft: MessageDraft, now: datetime) -> Message:
        return build_message(draft, now=now, base_url=self.base_url, redact=self.redact)


class StateCache:
    """Alert states read once per flush and kept current as groups are flushed."""

    def __init__(self, store: AlertStore, active: Mapping[str, AlertState]) -> None:
        self.store = store
        self.states = dict(active)

    def get(self, fingerprints: Sequence[str]) -> dict[str, AlertState]:
        missing = [fp for fp in fingerprints if fp not in self.states]
        if missing:
            self.states.update(self.store.alert_states(missing))
        return {fp: self.states[fp] for fp in fingerprints if fp in self.states}


class Flusher:
    def __init__(self, store: AlertStore, router: Router, buffer: GroupBuffer, outbox: Outbox,
                 windows: Sequence[MaintenanceWindow], composer: Composer) -> None:
        self.store = store
        self.router = router
        self.buffer = buffer
        self.outbox = outbox
        self.windows = list(windows)
        self.composer = composer

    def flush(self, now: datetime, *, force: bool) -> int:
        """Queue the messages of every due group (all of them with `force`). Returns how many were queued."""
        suppressor = Suppressor(self.store.silences(now=now), self.windows, now)
        active = self.store.alert_states(active_only=True)
        inhibitor = Inhibitor(self.composer.lineage, active.values())
        self._resurface(lifted(active.values(), suppressor, inhibitor), now)
        cache = StateCache(self.store, active)
        return sum(self._flush_group(group, now, suppressor, inhibitor, cache)
                   for group in self.buffer.due(now, force=force))

    def _resurface(self, back: Sequence[AlertState], now: datetime) -> None:
        if not back:
            return
        with self.store.transaction() as tx:
            self.store.alert_states_save(back, now, tx)
            for state in back:
                self.buffer.add_resurfaced(state, now, tx)

    def _flush_group(self, group: DueGroup, now: datetime, suppressor: Suppressor, inhibitor: Inhibitor,
                     cache: StateCache) -> int:
        with self.store.transaction() as tx:
            batch = self.buffer.take(group, tx)
            states = cache.get([a.fingerprint for a in batch])
            roots = [r.fingerprint for s in states.values() if (r := inhibitor.root_of(s)) is not None]
            view = GroupView(route=group.route, key=group.key, suppressor=suppressor, inhibitor=inhibitor,
                             states=states, threads=self.store.threads_of(group.route.name, [*states, *roots]),
                             routes_for=self.router.routes_for)
            plan = plan_group(batch, view)
            drafts = self._drafts(view, plan, now, cache, tx)
            for draft in drafts:
                message = self.composer.message(draft, now)
                for receiver in group.route.receivers:
                    self.outbox.enqueue(receiver, message, delivery_id(receiver, group.route.name, message, now), tx)
            if plan.updated:
                self.store.alert_states_save(list(plan.updated.values()), now, tx)
                cache.states.update(plan.updated)
            self.buffer.mark_flushed(group, now, tx)
            return len(drafts)

    def _drafts(self, view: GroupView, plan: GroupPlan, now: datetime, cache: StateCache, tx: Any) -> list[MessageDraft]:
        """The announcement and the follow-ups of a plan; marks the alerts they tell about as notified."""
        route, updated = view.route.name, plan.updated
        drafts: list[MessageDraft] = []
        if plan.announce:
            key = announcement_key(view, plan.announce, now)
            self.store.threads_set(route, [s.fingerprint for s in plan.announce], key, now, tx)
            drafts.append(announcement(view, plan, key, self.composer.lineage))
            for state in plan.announce:
                updated[state.fingerprint] = updated[state.fingerprint].evolve(announced=True, last_notified_at=now)
        for thread, changes in plan.follow_ups.items():
            fingerprints = self.store.thread_members(route, thread)
            stored = cache.get(fingerprints)
            members = [updated.get(fp) or stored[fp] for fp in fingerprints if fp in updated or fp in stored]
            drafts.append(follow_up(view, thread, changes, members, self.composer.lineage, self.composer.redact))
            for fp in fingerprints:
                if fp in updated:
                    updated[fp] = updated[fp].evolve(last_notified_at=now)
        return drafts
