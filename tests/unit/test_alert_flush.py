"""Flush: a due group goes through silence, inhibition and the plan into the outbox in one transaction, and the
states remember what was told (announced, last notified, silenced)."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

from sentinel.alerting.flush import Composer, Flusher
from sentinel.alerting.group import GroupBuffer
from sentinel.alerting.inhibit import Lineage
from sentinel.alerting.outbox import Outbox
from sentinel.alerting.routing import Route, Router
from sentinel.alerting.silences import new_silence
from sentinel.alerting.types import AlertEvent, AlertState, EventKind, Phase
from sentinel.clock import FakeClock
from sentinel.config.alerting_spec import PipelineSpec
from sentinel.notify.console import ConsoleNotifier
from sentinel.notify.message import Message, MessageEvent
from sentinel.store.sqlite import SqliteStateStore
from tests.unit.alert_builders import T0, alert


class World:
    def __init__(self, path: Path) -> None:
        self.store = SqliteStateStore(path)
        router = Router([Route("chat", ("console",), group_wait=timedelta(seconds=30))])
        self.buffer = GroupBuffer(self.store, router)
        outbox = Outbox(self.store, {"console": ConsoleNotifier(stream=io.StringIO())}, FakeClock(T0))
        self.flusher = Flusher(self.store, router, self.buffer, outbox, [],
                               Composer(Lineage(PipelineSpec()), "https://rb.example", str))

    def fire(self, *states: AlertState, kind: EventKind = EventKind.FIRED) -> None:
        with self.store.transaction() as tx:
            self.store.alert_states_save(list(states), T0, tx)
            for state in states:
                self.buffer.add(AlertEvent(kind, T0, state), tx)

    def queued(self) -> list[Message]:
        return [Message.from_json(row.payload) for row in self.store.outbox_pending("console")]


def test_a_due_group_is_announced_once_and_its_resolve_follows_in_the_same_thread(tmp_path: Path):
    world = World(tmp_path / "state.db")
    lag, slot = alert("lag", "kafka", table="payments.refunds"), alert("slot", "kafka", table="users.merchants")
    world.fire(lag, slot)
    assert world.flusher.flush(T0 + timedelta(seconds=10), force=False) == 0  # still within group_wait
    assert world.flusher.flush(T0 + timedelta(seconds=30), force=False) == 1
    (announced,) = world.queued()
    assert announced.event is MessageEvent.FIRED and announced.total_alerts == 2
    states = world.store.alert_states(["fp-lag", "fp-slot"])
    assert all(s.announced and s.last_notified_at == T0 + timedelta(seconds=30) for s in states.values())
    assert world.flusher.flush(T0 + timedelta(minutes=1), force=True) == 0  # nothing new buffered

    world.fire(states["fp-lag"].evolve(phase=Phase.RESOLVED, resolved_at=T0), kind=EventKind.RESOLVED)
    assert world.flusher.flush(T0 + timedelta(minutes=10), force=False) == 1
    resolved = world.queued()[-1]
    assert resolved.key == announced.key and resolved.is_update and resolved.event is MessageEvent.UPDATE
    assert resolved.changes == ("Resolved: lag",)  # one of the two resolved: an update, not a resolve
    world.store.close()


def test_a_silenced_alert_is_marked_not_announced_and_resurfaces_when_the_silence_ends(tmp_path: Path):
    world = World(tmp_path / "state.db")
    silence = new_silence({"alertname": "lag"}, T0, timedelta(hours=1))
    world.store.silence_add(silence)
    world.fire(alert("lag", "kafka"))
    assert world.flusher.flush(T0 + timedelta(minutes=1), force=True) == 0
    held = world.store.alert_states(["fp-lag"])["fp-lag"]
    assert held.silenced_by == f"silence:{silence.id}" and not held.announced

    assert world.flusher.flush(T0 + timedelta(hours=1), force=True) == 1
    assert world.queued()[-1].event is MessageEvent.FIRED
    assert world.store.alert_states(["fp-lag"])["fp-lag"].silenced_by is None
    world.store.close()
