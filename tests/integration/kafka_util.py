"""Helpers for the Kafka integration tests: topics, producing with chosen timestamps, committing real offsets,
and running a check with an injected clock and memory."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewPartitions, NewTopic

from sentinel.api import CheckContext, DictMemory
from sentinel.clock import FakeClock, SystemClock
from sentinel.config.settings import Settings
from sentinel.model import CheckResult
from sentinel.sources import Sources


def unique(prefix: str) -> str:
    return f"{prefix}.{uuid.uuid4().hex[:8]}"


def admin(bootstrap: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap})


def create_topic(bootstrap: str, name: str, partitions: int, config: dict[str, str] | None = None) -> str:
    # `with`: clients are destroyed here, in this thread, never by a garbage collection that might run on a
    # librdkafka thread (which aborts the process)
    with admin(bootstrap) as client:
        futs = client.create_topics([NewTopic(name, partitions, 1, config=config or {})],
                                    operation_timeout=20, request_timeout=20)
        for f in futs.values():
            f.result(timeout=30)
        # wait until metadata shows every partition with a leader
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            md = client.list_topics(name, timeout=5)
            t = md.topics.get(name)
            if t is not None and t.error is None and len(t.partitions) == partitions and all(
                    p.leader >= 0 for p in t.partitions.values()):
                return name
            time.sleep(0.2)
    raise AssertionError(f"topic {name} not ready")


def add_partitions(bootstrap: str, name: str, total: int) -> None:
    with admin(bootstrap) as client:
        for f in client.create_partitions([NewPartitions(name, total)], request_timeout=20).values():
            f.result(timeout=30)
    time.sleep(0.5)


def set_topic_config(bootstrap: str, name: str, config: dict[str, str]) -> None:
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType

    resource = ConfigResource(ResourceType.TOPIC, name, incremental_configs=[
        ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET) for k, v in config.items()])
    with admin(bootstrap) as client:
        for f in client.incremental_alter_configs([resource], request_timeout=20).values():
            f.result(timeout=30)


def produce(bootstrap: str, topic: str, partition: int, count: int, *, written_at: datetime | None = None,
            step: timedelta = timedelta(seconds=1), flush_each: bool = False) -> None:
    """`count` messages to one partition; message i gets CreateTime written_at + i*step when given.

    Every delivery report is checked: an empty queue after flush() only means each message was settled, and one that
    failed (a timeout or a partition without a leader) would silently leave the log shorter than the test believes."""
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "enable.idempotence": False})
    failed: list[str] = []

    def report(err: Any, _msg: Any) -> None:
        if err is not None:
            failed.append(str(err))

    for i in range(count):
        kwargs: dict[str, Any] = {}
        if written_at is not None:
            kwargs["timestamp"] = int((written_at + i * step).timestamp() * 1000)
        p.produce(topic, value=f'{{"id": {i}, "op": "c"}}'.encode(), partition=partition, on_delivery=report, **kwargs)
        if flush_each:
            p.flush(10)
    assert p.flush(15) == 0
    assert not failed, f"{len(failed)} of {count} messages to {topic}[{partition}] were not delivered: {failed[0]}"


def commit(bootstrap: str, group: str, offsets: dict[tuple[str, int], int], *, consume: bool = True) -> None:
    """Commit offsets for `group` as a real consumer does: read up to each offset, then commit it."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
                  "auto.offset.reset": "earliest"})
    try:
        if consume:
            tps = [TopicPartition(t, p, 0) for (t, p), off in offsets.items() if off > 0]
            want = {(t, p): off for (t, p), off in offsets.items() if off > 0}
            if tps:
                c.assign(tps)
                deadline = time.monotonic() + 20
                while want and time.monotonic() < deadline:
                    for m in c.consume(500, timeout=0.5):
                        if m.error() is None:
                            key = (m.topic(), m.partition())
                            if key in want and m.offset() + 1 >= want[key]:
                                del want[key]
                assert not want, f"could not read up to {want}"
        c.commit(offsets=[TopicPartition(t, p, off) for (t, p), off in offsets.items()], asynchronous=False)
    finally:
        c.close()


@contextmanager
def live_consumer(bootstrap: str, group: str, topic: str, partitions: int) -> Iterator[Consumer]:
    """A group member that polls (so it stays in the group and owns partitions) but never commits."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
                  "auto.offset.reset": "latest", "session.timeout.ms": 30000, "max.poll.interval.ms": 300000})
    c.subscribe([topic])
    stop = threading.Event()
    assigned = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            c.poll(0.2)
            if len(c.assignment()) == partitions:
                assigned.set()

    th = threading.Thread(target=loop, daemon=True)
    th.start()
    try:
        assert assigned.wait(30), "consumer never got its partitions"
        yield c
    finally:
        stop.set()
        th.join(5)
        c.close()


class Harness:
    """Runs one check instance repeatedly with a FakeClock (starting at real now) and persistent memory."""

    def __init__(self, check: Any, settings: Settings, *, clock: FakeClock | None = None,
                 labels: dict[str, str] | None = None) -> None:
        self.check = check
        self.sources = Sources(settings)
        self.clock = clock or FakeClock(SystemClock().now())
        self.memory = DictMemory()
        self.labels = labels or {}

    def run(self, timeout: float = 20.0) -> CheckResult:
        ctx = CheckContext(check_id="t", clock=self.clock, deadline_monotonic=self.clock.monotonic() + timeout,
                           sources=self.sources, memory=self.memory, labels=self.labels)
        return self.check.run(ctx)

    def advance(self, seconds: float) -> None:
        self.clock.advance(timedelta(seconds=seconds))

    def close(self) -> None:
        if self.sources._cache.get("kafka") is not None:
            self.sources.kafka().close()
