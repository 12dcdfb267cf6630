"""Group: events wait per (route, group key); a group is due group_wait after its first event, then at most once
per group_interval; the buffer survives in the store and a removed route's buffer is dropped."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sentinel.alerting.group import GroupBuffer, is_due
from sentinel.alerting.routing import Route, Router
from sentinel.alerting.types import AlertEvent, EventKind, Phase
from sentinel.model import Severity
from sentinel.store.sqlite import SqliteStateStore
from tests.unit.alert_builders import T0, alert

CHAT = Route("chat", ("slack",), group_wait=timedelta(seconds=30), group_interval=timedelta(minutes=5))
PAGE = Route("page", ("pager",), min_severity=Severity.CRITICAL, group_wait=timedelta(0))


def test_group_timing():
    assert not is_due(CHAT, T0, None, T0 + timedelta(seconds=29))
    assert is_due(CHAT, T0, None, T0 + timedelta(seconds=30))
    flushed = T0 + timedelta(minutes=1)
    assert not is_due(CHAT, T0 + timedelta(minutes=2), flushed, flushed + timedelta(minutes=4, seconds=59))
    assert is_due(CHAT, T0 + timedelta(minutes=2), flushed, flushed + timedelta(minutes=5))


def test_events_buffer_per_route_group_and_come_out_collapsed(tmp_path: Path):
    store = SqliteStateStore(tmp_path / "state.db")
    buffer = GroupBuffer(store, Router([CHAT, PAGE]))
    warning = alert("lag", "kafka", severity=Severity.WARNING)
    critical = alert("slot", "postgres")
    with store.transaction() as tx:
        buffer.add(AlertEvent(EventKind.FIRED, T0, warning), tx)
        buffer.add(AlertEvent(EventKind.FIRED, T0, critical), tx)
        buffer.add(AlertEvent(EventKind.ESCALATED, T0, critical), tx)
        # a resolve goes to every route that may have announced it, whatever its severity now
        buffer.add(AlertEvent(EventKind.RESOLVED, T0, warning.evolve(phase=Phase.RESOLVED)), tx)

    at_once = sorted((g.route.name, g.key) for g in buffer.due(T0, force=False))
    assert at_once == [("page", "stage=kafka"), ("page", "stage=postgres")]  # the pager route does not wait
    due = sorted(buffer.due(T0 + timedelta(seconds=30), force=False), key=lambda g: (g.route.name, g.key))
    assert [(g.route.name, g.key) for g in due] == [("chat", "stage=kafka"), ("chat", "stage=postgres"),
                                                   ("page", "stage=kafka"), ("page", "stage=postgres")]
    with store.transaction() as tx:
        taken = buffer.take(due[1], tx)
        buffer.mark_flushed(due[1], T0 + timedelta(seconds=30), tx)
    assert [(a.fingerprint, a.kind) for a in taken] == [("fp-slot", EventKind.ESCALATED)]
    with store.transaction() as tx:
        assert buffer.take(due[1], tx) == []  # taken once
    store.close()


def test_the_buffer_of_a_route_removed_from_the_config_is_dropped(tmp_path: Path):
    store = SqliteStateStore(tmp_path / "state.db")
    with store.transaction() as tx:
        GroupBuffer(store, Router([CHAT, PAGE])).add(AlertEvent(EventKind.FIRED, T0, alert("slot", "postgres")), tx)
    reloaded = GroupBuffer(store, Router([CHAT]))
    assert [g.route.name for g in reloaded.due(T0 + timedelta(hours=1), force=True)] == ["chat"]
    assert [route for route, _, _ in store.pending_groups()] == ["chat"]
    store.close()
