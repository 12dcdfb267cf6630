"""Outbox: every notification is stored before it is sent, once per receiver, in order, and retried with backoff
in this one place. (Receivers that fail, answer 429 or hang: tests/integration/test_alerting_delivery.py.)"""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

from sentinel.alerting.compose import MessageDraft, build_message
from sentinel.alerting.outbox import Outbox, RetryPolicy
from sentinel.alerting.types import DeliveryStatus
from sentinel.clock import FakeClock
from sentinel.notify.console import ConsoleNotifier
from sentinel.notify.message import Message, MessageEvent, PageAction
from sentinel.store.sqlite import SqliteStateStore
from tests.unit.alert_builders import T0, alert


def message(key: str, event: MessageEvent = MessageEvent.FIRED) -> Message:
    draft = MessageDraft(key=key, route="default", group="g", event=event, is_update=False, states=[alert(key)],
                         page_action=PageAction.TRIGGER)
    return build_message(draft, now=T0, base_url="https://rb.example", redact=str)


def test_backoff_doubles_up_to_its_cap():
    policy = RetryPolicy(base=timedelta(seconds=5), cap=timedelta(minutes=1))
    assert [policy.delay(n).total_seconds() for n in range(1, 7)] == [5, 10, 20, 40, 60, 60]


def test_a_row_is_queued_once_sent_in_order_and_stored_with_plain_wire_values(tmp_path: Path):
    store = SqliteStateStore(tmp_path / "state.db")
    out = io.StringIO()
    outbox = Outbox(store, {"console": ConsoleNotifier(stream=out)}, FakeClock(T0))
    assert outbox.enqueue("console", message("first"), "id-1")
    assert not outbox.enqueue("console", message("first"), "id-1")  # the same notification again: refused
    assert outbox.enqueue("console", message("second", MessageEvent.ESCALATED), "id-2")

    (row, second) = store.outbox_pending("console")
    assert (row.event, row.payload["event"], row.payload["severity"], row.payload["page_action"]) == (
        "fired", "fired", "critical", "trigger")  # what the store and the weekly report read stays plain text
    assert Message.from_json(row.payload).event is MessageEvent.FIRED

    deliveries = outbox.deliver_due()
    assert [(d.message_key, d.status) for d in deliveries] == [("first", DeliveryStatus.SENT),
                                                               ("second", DeliveryStatus.SENT)]
    assert out.getvalue().index("key first") < out.getvalue().index("key second")
    assert store.outbox_pending() == [] and second.event == "escalated"
    store.close()
