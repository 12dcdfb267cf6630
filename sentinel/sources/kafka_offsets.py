"""Committed offsets of consumer groups, read the way a consumer reads its own: `Consumer.committed()`.

The admin call list_consumer_group_offsets crashed librdkafka 2.16 (SIGSEGV, librdkafka issue #5040): its
OffsetFetch answer handler, meeting NOT_COORDINATOR (the first seconds after a broker restart, or a group the
coordinator has not seen), asks the client's consumer-group handle to look the coordinator up again, and an admin
client has none. A consumer with the group's `group.id` has one: it finds the coordinator first and retries
NOT_COORDINATOR and COORDINATOR_LOAD_IN_PROGRESS. It is assign-only (never subscribes, so it never joins the group)
and commits nothing.

One consumer per group is kept between runs (up to KEEP of them, least recently used closed first): its first
`committed()` pays the connection and the coordinator lookup (10-35 ms on loopback), later ones one round trip.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from typing import Any

from sentinel.sources.kafka_errors import PartitionError

TP = tuple[str, int]
# librdkafka's work per committed() call grows with the square of its partitions (1,000 took ~150 ms, 50 under
# 2 ms): a few round trips of CHUNK partitions each cost less than one large request.
CHUNK = 100
PARALLEL = 16  # groups fetched at once: the calls wait on the network, not on a core
KEEP = 256  # consumers kept between runs (each a librdkafka client: threads, sockets); beyond, closed after use


class CommittedOffsetReader:
    def __init__(self, config: Mapping[str, Any]) -> None:
        self._config = {k: v for k, v in config.items() if k != "client.id"}
        self._lock = threading.Lock()
        self._idle: OrderedDict[str, Any] = OrderedDict()  # group -> consumer not in use, most recently used last

    def read(self, groups: list[str], tps: list[TP], timeout: float,
             fail: Callable[[str, BaseException | None], Exception]) -> dict[str, dict[TP, int]]:
        """Committed offset per partition of each group within `timeout`; `fail(what, exc)` builds the error."""
        deadline = time.monotonic() + timeout
        pool = ThreadPoolExecutor(min(PARALLEL, len(groups)), thread_name_prefix="sentinel-committed")
        try:
            futs = {g: pool.submit(self._one, g, tps, deadline) for g in groups}
            done, _ = wait_futures(list(futs.values()), timeout=timeout + 0.5)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)  # a call still running ends at its own timeout
        out: dict[str, dict[TP, int]] = {}
        for group, fut in futs.items():
            if fut not in done:
                raise fail(f"fetching committed offsets of group {group}", None)
            if (exc := fut.exception()) is not None:
                raise fail(f"fetching committed offsets of group {group}", exc)
            out[group] = fut.result()
        return out

    def _one(self, group: str, tps: list[TP], deadline: float) -> dict[TP, int]:
        from confluent_kafka import TopicPartition

        consumer = self._take(group)
        healthy = False
        got: list[Any] = []
        try:
            for i in range(0, len(tps), CHUNK):
                got += consumer.committed([TopicPartition(t, p) for t, p in tps[i:i + CHUNK]],
                                          timeout=max(0.1, deadline - time.monotonic()))
            healthy = True
        finally:
            self._give_back(group, consumer, healthy)
        offsets: dict[TP, int] = {}
        for tp in got:
            if tp.error is not None:
                raise PartitionError(f"{tp.topic}[{tp.partition}]", tp.error)
            if tp.offset >= 0:
                offsets[(tp.topic, tp.partition)] = int(tp.offset)
        return offsets

    def _take(self, group: str) -> Any:
        with self._lock:
            consumer = self._idle.pop(group, None)
        if consumer is not None:
            return consumer
        from confluent_kafka import Consumer

        return Consumer({**self._config, "client.id": "sentinel-offsets", "group.id": group,
                         "enable.auto.commit": False, "enable.auto.offset.store": False})

    def _give_back(self, group: str, consumer: Any, healthy: bool) -> None:
        evicted = [] if healthy else [consumer]
        if healthy:
            with self._lock:
                self._idle[group] = consumer
                while len(self._idle) > KEEP:
                    evicted.append(self._idle.popitem(last=False)[1])
        for c in evicted:
            _close(c)

    def reset(self) -> None:
        """Close every kept consumer (after a failure their connections may be stale; on close)."""
        with self._lock:
            idle = list(self._idle.values())
            self._idle.clear()
        for c in idle:
            _close(c)


def _close(consumer: Any) -> None:
    # Always from a Python thread of ours: librdkafka aborts when a client is destroyed on one of its own threads.
    with contextlib.suppress(Exception):
        consumer.close()
