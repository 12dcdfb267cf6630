"""kafka_consumer_lag through a rolling restart of a real multi-node KRaft cluster (docs/reliability.md).

Two nodes, not three: each is a JVM, and this 2-core machine runs the session's broker, Connect and PostgreSQL
beside them. Node 1 is also the cluster's only controller, so its restart is the harder case: the partitions it
leads have no leader until it is back. Every topic and the offsets topic are replicated to both nodes.

The test follows an operator's procedure: before each node is stopped, every replica is back in sync (no
under-replicated partition). The node is stopped, the check runs while it is down, the node is started again and
the check runs from the moment its port opens until it measures. An ERROR while partitions move is honest; a crash,
a raw KafkaError, or a STOP / STALL / REWIND / NO OFFSET verdict for consumers that kept up is not, and neither is a
lag other than the one a plain client reads once the cluster has settled.

An earlier draft read "total lag 0" where each partition was 1 behind: its produce() helper never looked at
delivery reports, so messages refused while a partition had no leader left the log shorter than the test assumed.
produce() now fails on any undelivered message, and the writes happen only on an in-sync cluster.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from devstack.kafka import KafkaService, start_kafka_cluster
from sentinel.api import Status
from sentinel.model import CheckResult
from tests.integration.kafka_util import commit, produce, unique
from tests.integration.test_kafka_broker_faults import SteppedClock, assert_not_crashed, lag_planned, lag_runner
from tests.plugins import start_or_fail

pytestmark = pytest.mark.integration
FALSE_VERDICTS = ("STOP", "STALL", "REWIND", "NO OFFSET")


@pytest.fixture(scope="module")
def cluster() -> Iterator[list[KafkaService]]:
    nodes = start_or_fail("a 2-node Apache Kafka (KRaft) cluster", lambda: start_kafka_cluster(timeout=300))
    yield nodes
    for node in reversed(nodes):  # node 1 owns the cluster's directory: cleaned up last
        node.cleanup()


def _create_replicated_topic(bootstrap: str, name: str, partitions: int) -> str:
    with AdminClient({"bootstrap.servers": bootstrap}) as admin:
        for f in admin.create_topics([NewTopic(name, partitions, 2)], operation_timeout=30,
                                     request_timeout=30).values():
            f.result(timeout=40)
    _wait_in_sync(bootstrap, name, partitions)
    return name


def _wait_in_sync(bootstrap: str, topic: str, partitions: int, timeout: float = 120) -> None:
    """Until every partition of `topic` and of the offsets topic has a leader and both replicas in sync."""
    deadline = time.monotonic() + timeout
    last = "no metadata yet"
    with AdminClient({"bootstrap.servers": bootstrap}) as admin:
        while time.monotonic() < deadline:
            try:
                md = admin.list_topics(timeout=5).topics
            except Exception as exc:  # a node still starting: ask again
                last = str(exc)
                time.sleep(0.5)
                continue
            mine = md.get(topic)
            # the offsets topic exists from the first commit on: until then there is nothing of it to sync
            wanted = [t for t in (mine, md.get("__consumer_offsets")) if t is not None]
            lagging = [f"{t.topic}[{p.id}] leader {p.leader} isr {list(p.isrs)}"
                       for t in wanted for p in t.partitions.values() if p.leader < 0 or len(p.isrs) < 2]
            complete = mine is not None and mine.error is None and len(mine.partitions) == partitions
            if complete and not lagging:
                return
            last = "; ".join(lagging[:5]) or f"metadata of {topic}: {mine.error if mine else 'absent'}"
            time.sleep(0.5)
    raise AssertionError(f"{topic} not back in sync on both nodes within {timeout:.0f}s: {last}")


def _no_false_verdict(result: CheckResult, when: str) -> None:
    assert_not_crashed(result)
    for finding in result.findings:
        assert not any(word in finding.summary for word in FALSE_VERDICTS), f"{when}: {finding.summary}"


@pytest.mark.timeout(900)
def test_lag_check_through_a_rolling_restart_never_crashes_or_misjudges(cluster: list[KafkaService]) -> None:
    bootstrap = ",".join(node.bootstrap for node in cluster)
    partitions = 4
    topic = _create_replicated_topic(bootstrap, unique("cdc.rolling"), partitions)
    groups = [unique(f"sink-rolling-{i}") for i in range(3)]
    clock = SteppedClock()
    runner = lag_runner(bootstrap, clock)
    planned = lag_planned(groups, topic)
    committed = 0
    errors = 0
    try:
        for round_ in range(2):
            for node in cluster:  # one node at a time, as an operator rolls a cluster
                _wait_in_sync(bootstrap, topic, partitions)  # the operator's gate before the next node
                for p in range(partitions):
                    produce(bootstrap, topic, p, 2)
                committed += 2
                for g in groups:  # each group stays 1 behind the log end and moves on each step
                    commit(bootstrap, g, {(topic, p): committed - 1 for p in range(partitions)}, consume=False)
                node.stop()
                clock.advance(60)
                down = runner.run_one(planned)
                _no_false_verdict(down, f"round {round_}, {node.bootstrap} down")
                errors += down.status is Status.ERROR
                node.restart(until_ready=False)
                clock.advance(60)
                deadline = time.monotonic() + 90
                while (back := runner.run_one(planned)).status is Status.ERROR and time.monotonic() < deadline:
                    _no_false_verdict(back, f"round {round_}, {node.bootstrap} starting")
                    errors += 1
                    time.sleep(0.2)
                _no_false_verdict(back, f"round {round_}, {node.bootstrap} back")
                truth = _offsets(bootstrap, topic, groups[0], partitions)
                assert back.status is Status.OK, f"round {round_}, {node.bootstrap} back: {back.summary}; {truth}"
                assert back.values["lag_offsets"] == len(groups) * partitions, (
                    f"round {round_}, {node.bootstrap} back: {back.summary}; {truth}")
    finally:
        runner.close()
    print(f"{errors} ERROR runs while a node was down or starting, none crashed or misjudged")


def _offsets(bootstrap: str, topic: str, group: str, partitions: int) -> str:
    """What a plain client reads once the cluster has settled: the log ends and a group's commits."""
    from confluent_kafka import Consumer, TopicPartition

    _wait_in_sync(bootstrap, topic, partitions)
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        ends = [c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(partitions)]
        commits = [tp.offset for tp in c.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)]
    finally:
        c.close()
    return f"a plain client then reads log ends {ends}, commits of {group} {commits}"
