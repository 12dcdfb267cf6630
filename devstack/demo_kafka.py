"""Demo area "kafka": the CDC hop of the pipeline on a real KRaft broker and Kafka Connect worker.

- `cdc.payments.transactions` (3 partitions) gets Debezium-style change events: 20 minutes of history (message
  timestamps spread over the last 20 minutes) and then a live CDC-like producer writing a few events a second;
- the S3 sink's consumer group `connect-s3-sink` read and committed up to the events of ~13 minutes ago, and its
  member is still alive (heartbeating, owning all partitions) but no longer commits: lag grows, lag in seconds
  is ~13 minutes, and once the check has a window of samples the verdict is STALL;
- the users.* CDC topics and the payment.events stream hold a few events the sink has read and committed to the
  end (their s3_sink stage: OK, no lag);
- on the Connect worker, `s3-sink-refunds` (a FileStream sink standing in for the S3 sink) has a task FAILED
  for real on a record that is not JSON, with its Java trace; `cdc-audit-source` runs fine.

    seed_kafka(bootstrap, connect_url, now) -> DemoClients      seeds running services, starts producer + member
    seed(stack)                                                 devstack.demo entry: starts "kafka" and
                                                                "kafka-connect", seeds, sets SENTINEL_KAFKA_*
    warm_up(env, rounds=2, interval=10.0)                       runs `sentinel check --once --only <kafka ids>`
                                                                so the state store holds a window before the
                                                                demo's final run (STALL needs one)
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from devstack.base import ServiceUnavailable, cache_dir
from devstack.kafka import KafkaConnectService, KafkaService, start_kafka, start_kafka_connect
from sentinel.clock import SystemClock

TOPIC = "cdc.payments.transactions"
REFUNDS_TOPIC = "cdc.payments.refunds"
# Topics the S3 sink has read to the end: their s3_sink stage is measured and OK (no lag).
CAUGHT_UP_TOPICS = ("cdc.users.merchants", "cdc.users.api_keys", "payment.events")
CAUGHT_UP_EVENTS = 30
SINK_GROUP = "connect-s3-sink"
PARTITIONS = 3
HISTORY = timedelta(minutes=20)
COMMITTED_AGE = timedelta(minutes=13)  # the sink stopped committing at events this old
LAG_CHECK_IDS = ("kafka_s3_sink_lag", "kafka_events_sink_lag")


def _event(i: int, when: datetime) -> bytes:
    """A Debezium-like change event envelope (JSON converter, no schema)."""
    return json.dumps({
        "before": None,
        "after": {"id": 100_000 + i, "merchant_id": i % 50, "amount": round((i % 997) * 1.25, 2), "currency": "EUR",
                  "status": "settled"},
        "source": {"connector": "postgresql", "name": "novapay", "db": "novapay", "schema": "payments",
                   "table": "transactions", "ts_ms": int(when.timestamp() * 1000)},
        "op": "c", "ts_ms": int(when.timestamp() * 1000),
    }).encode()


@dataclass
class DemoClients:
    """The live producer and the stalled sink member; stop() ends both."""

    threads: list[threading.Thread] = field(default_factory=list)
    stop_event: threading.Event = field(default_factory=threading.Event)

    def stop(self) -> None:
        self.stop_event.set()
        for t in self.threads:
            t.join(10)


def _create_topics(bootstrap: str) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

    with AdminClient({"bootstrap.servers": bootstrap}) as admin:
        existing = set(admin.list_topics(timeout=10).topics)
        new = [NewTopic(t, PARTITIONS, 1) for t in (TOPIC, REFUNDS_TOPIC, *CAUGHT_UP_TOPICS) if t not in existing]
        if new:
            for f in admin.create_topics(new, operation_timeout=30, request_timeout=30).values():
                f.result(timeout=40)


def _produce_history(bootstrap: str, now: datetime) -> dict[int, int]:
    """20 minutes of events, one every 2 s per partition; returns, per partition, the first offset written after
    `now - COMMITTED_AGE` (where the sink's committed offset will sit)."""
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20})
    start = now - HISTORY
    steps = int(HISTORY.total_seconds() // 2)
    cut: dict[int, int] = {}
    for p in range(PARTITIONS):
        for i in range(steps):
            when = start + timedelta(seconds=2 * i)
            if p not in cut and when >= now - COMMITTED_AGE:
                cut[p] = i
            producer.produce(TOPIC, value=_event(p * steps + i, when), partition=p,
                             timestamp=int(when.timestamp() * 1000))
        producer.poll(0)
    for topic in CAUGHT_UP_TOPICS:  # a few events on partition 0 of each; the sink commits past them
        for i in range(CAUGHT_UP_EVENTS):
            when = now - timedelta(seconds=10 * (CAUGHT_UP_EVENTS - i))  # the last ones just before the seed
            producer.produce(topic, value=_event(i, when), partition=0, timestamp=int(when.timestamp() * 1000))
    if producer.flush(30) != 0:
        raise ServiceUnavailable("demo producer could not deliver the CDC history to Kafka")
    return cut


def _stalled_member(bootstrap: str, committed: dict[int, int], stop: threading.Event) -> None:
    """Commit the sink's position once, then stay in the group (polling, owning partitions) without committing."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": SINK_GROUP, "enable.auto.commit": False,
                         "auto.offset.reset": "earliest", "session.timeout.ms": 45000,
                         "max.poll.interval.ms": 3600000})
    caught_up = [TopicPartition(t, p, CAUGHT_UP_EVENTS if p == 0 else 0) for t in CAUGHT_UP_TOPICS
                 for p in range(PARTITIONS)]
    consumer.commit(offsets=[TopicPartition(TOPIC, p, off) for p, off in committed.items()] + caught_up,
                    asynchronous=False)
    consumer.subscribe([TOPIC])
    try:
        while not stop.is_set():
            consumer.poll(0.5)  # reads but never commits: the S3 writer behind it is wedged
            for tp in consumer.assignment():
                with contextlib.suppress(Exception):
                    consumer.pause([tp])  # stop fetching once joined, stay a member
    finally:
        consumer.close()


def _live_producer(bootstrap: str, stop: threading.Event) -> None:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 50})
    i = 0
    while not stop.is_set():
        producer.produce(TOPIC, value=_event(900_000 + i, SystemClock().now()), partition=i % PARTITIONS)
        producer.poll(0)
        i += 1
        stop.wait(0.2)
    producer.flush(5)


def _put_connector(url: str, name: str, config: dict[str, str]) -> None:
    import requests

    resp = requests.put(f"{url}/connectors/{name}/config", json={**config, "name": name}, timeout=30)
    if resp.status_code not in (200, 201):
        raise ServiceUnavailable(f"Kafka Connect refused connector {name}: HTTP {resp.status_code} {resp.text[:300]}")


def _seed_connect(bootstrap: str, connect_url: str) -> None:
    from confluent_kafka import Producer

    work = cache_dir("demo", "kafka-connect-files")
    audit = work / "audit.log"
    audit.write_text("payments audit line\n")
    _put_connector(connect_url, "cdc-audit-source", {
        "connector.class": "org.apache.kafka.connect.file.FileStreamSourceConnector",
        "file": str(audit), "topic": "cdc.audit.events", "tasks.max": "1"})
    _put_connector(connect_url, "s3-sink-refunds", {
        "connector.class": "org.apache.kafka.connect.file.FileStreamSinkConnector",
        "file": str(work / "refunds.out"), "topics": REFUNDS_TOPIC, "tasks.max": "1",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter.schemas.enable": "true"})
    producer = Producer({"bootstrap.servers": bootstrap})
    producer.produce(REFUNDS_TOPIC, value=b"refund 4411 EUR 12.50 (not JSON: a producer bug)", partition=0)
    producer.flush(10)


def seed_kafka(bootstrap: str, connect_url: str | None, now: datetime) -> DemoClients:
    _create_topics(bootstrap)
    committed = _produce_history(bootstrap, now)
    clients = DemoClients()
    member = threading.Thread(target=_stalled_member, args=(bootstrap, committed, clients.stop_event),
                              name="demo-stalled-sink", daemon=True)
    producer = threading.Thread(target=_live_producer, args=(bootstrap, clients.stop_event),
                                name="demo-cdc-producer", daemon=True)
    clients.threads += [member, producer]
    member.start()
    producer.start()
    if connect_url:
        _seed_connect(bootstrap, connect_url)
    _wait_member(bootstrap)
    return clients


def _wait_member(bootstrap: str, timeout: float = 30) -> None:
    from confluent_kafka.admin import AdminClient

    with AdminClient({"bootstrap.servers": bootstrap}) as admin:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            desc = admin.describe_consumer_groups([SINK_GROUP], request_timeout=5)[SINK_GROUP].result(timeout=6)
            if desc.members and any(m.assignment.topic_partitions for m in desc.members):
                return
            time.sleep(0.5)
    raise ServiceUnavailable(f"the demo sink member never joined {SINK_GROUP}")


def seed(stack: Any) -> None:
    """devstack.demo entry: start Kafka and Connect, seed them, export SENTINEL_KAFKA_*."""
    def throwaway_kafka() -> KafkaService:
        service = start_kafka()
        service.remove_data_on_stop = True
        return service

    kafka: KafkaService = stack.start("kafka", throwaway_kafka)
    connect: KafkaConnectService | None = None
    try:
        connect = stack.start("kafka-connect", lambda: start_kafka_connect(kafka.bootstrap))
    except ServiceUnavailable as exc:  # the lag demo still works without Connect
        print(f"demo: kafka-connect could not start, skipping its part: {exc}", file=sys.stderr)
    now = SystemClock().now()
    stack.start("kafka-demo-clients", lambda: seed_kafka(kafka.bootstrap, connect.url if connect else None, now))
    stack.env["SENTINEL_KAFKA_BOOTSTRAP"] = kafka.bootstrap
    if connect is not None:
        stack.env["SENTINEL_KAFKA_CONNECT_URL"] = connect.url


def warm_up(env: dict[str, str], *, rounds: int = 2, interval: float = 10.0) -> None:
    """Run the lag check `rounds` times, `interval` seconds apart, before the demo's final `check --once`, so its
    stored window spans the (demo-short) window and the final run can say STALL. Output is discarded."""
    sentinel = Path(sys.executable).parent / "sentinel"
    only = [arg for cid in LAG_CHECK_IDS for arg in ("--only", cid)]
    for i in range(rounds):
        if i:
            time.sleep(interval)
        subprocess.run([str(sentinel), "check", "--once", "--no-notify", *only], env=env, check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
    time.sleep(interval)
