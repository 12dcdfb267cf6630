"""kafka_topic_arrival on the real KRaft broker: the newest message of each topic, by its CreateTime, judged against
the clock (a FakeClock at the real now: message times are set relative to it, never to a date)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sentinel_checks.kafka_topic_arrival import KafkaTopicArrivalCheck, KafkaTopicArrivalParams

from devstack.kafka import KafkaService
from sentinel.config.settings import Settings
from sentinel.model import Status
from tests.integration.kafka_util import Harness, create_topic, produce


def test_fresh_stale_empty_and_missing_topics_each_get_their_own_finding(kafka: KafkaService) -> None:
    schema = f"t{uuid.uuid4().hex[:8]}"
    fresh, stale, empty = (create_topic(kafka.bootstrap, f"cdc.{schema}.{name}", 2) for name in ("fresh", "stale", "quiet"))
    events = create_topic(kafka.bootstrap, f"{schema}.payment.events", 1)
    missing = f"cdc.{schema}.gone"
    check = KafkaTopicArrivalCheck(KafkaTopicArrivalParams(
        topics=[fresh, stale, empty, events, missing], warn_after="10m", critical_after="30m",
        table_labels={events: "events.payment_events"}))
    h = Harness(check, Settings(kafka_bootstrap=kafka.bootstrap), labels={"stage": "kafka"})
    try:
        now = h.clock.now()
        produce(kafka.bootstrap, fresh, 0, 5, written_at=now - timedelta(minutes=50))
        produce(kafka.bootstrap, fresh, 1, 3, written_at=now - timedelta(minutes=2))  # the newest partition wins
        produce(kafka.bootstrap, stale, 0, 4, written_at=now - timedelta(minutes=40))
        produce(kafka.bootstrap, events, 0, 2, written_at=now - timedelta(minutes=15))
        result = h.run()
    finally:
        h.close()
    by = {f.key: f for f in result.findings}
    assert by[fresh].status is Status.OK and by[fresh].summary.startswith(f"topic {fresh}: newest message 1m")
    assert by[fresh].labels == {"topic": fresh, "stage": "kafka", "table": f"{schema}.fresh"}
    assert by[fresh].values["messages_retained"] == 8
    assert by[stale].status is Status.CRITICAL
    # its newest message is the 4th, written 40m - 3s ago
    assert by[stale].summary.startswith(f"topic {stale}: nothing written for 39m (> 30m); newest message written ")
    assert by[events].status is Status.WARN and by[events].labels["table"] == "events.payment_events"
    assert by[empty].status is Status.WARN and "no message to read" in by[empty].summary
    assert by[missing].status is Status.CRITICAL and "does not exist" in by[missing].summary
    assert result.status is Status.CRITICAL and result.values["topics_with_problems"] == 4
