"""kafka_consumer_lag against the real KRaft broker and real consumer groups: every scenario of issue 3.

Window verdicts use a FakeClock that starts at real now and is moved by hand between runs, so a 10-minute
window takes a second of wall time; offsets, groups and message timestamps are real.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from pydantic import SecretStr
from sentinel_checks.kafka_consumer_lag import KafkaConsumerLagCheck, KafkaConsumerLagParams

from devstack.base import free_port
from devstack.kafka import KafkaService
from sentinel.api import DictMemory, Status
from sentinel.clock import SystemClock
from sentinel.config.checks_spec import CheckSpec
from sentinel.config.settings import Settings
from sentinel.redact import Redactor
from sentinel.runner import CheckRunner, PlannedCheck
from sentinel.sources import Sources
from tests.integration.kafka_util import (
    Harness,
    add_partitions,
    commit,
    create_topic,
    live_consumer,
    produce,
    set_topic_config,
    unique,
)

pytestmark = pytest.mark.integration


def lag_check(**params: Any) -> KafkaConsumerLagCheck:
    params.setdefault("window", "10m")
    params.setdefault("min_samples", 3)
    return KafkaConsumerLagCheck(KafkaConsumerLagParams(**params))


def harness(kafka: KafkaService, **params: Any) -> Harness:
    return Harness(lag_check(**params), Settings(kafka_bootstrap=kafka.bootstrap),
                   labels={"stage": "s3_sink"})


def run_window(h: Harness, between: Any = None, runs: int = 3, step: float = 300) -> list[Any]:
    """`runs` check runs `step` seconds apart (fake time), calling between() before each later run."""
    results = [h.run()]
    for _ in range(runs - 1):
        h.advance(step)
        if between is not None:
            between()
        results.append(h.run())
    return results


def test_lag_in_offsets_and_seconds_from_message_timestamps(kafka: KafkaService) -> None:
    topic = create_topic(kafka.bootstrap, "cdc.payments." + unique("tx").replace(".", "_"), 4)
    group = unique("connect-s3-sink")
    h = harness(kafka, groups=[group], topics=[topic], lag_warn="5m", lag_critical="15m")
    written = h.clock.now() - timedelta(minutes=20)
    for p in range(4):  # N = 25 per partition, message i written at `written + i*10s`
        produce(kafka.bootstrap, topic, p, 25, written_at=written, step=timedelta(seconds=10))
    commit(kafka.bootstrap, group, {(topic, p): 10 + p for p in range(4)})  # M = 10..13

    result = h.run()
    [f] = result.findings
    assert f.key == f"{group}/{topic}"
    assert f.values["lag_offsets"] == sum(25 - (10 + p) for p in range(4)) == 54
    assert f.values["max_partition_lag_offsets"] == 15
    # the oldest unconsumed message is partition 0 offset 10, written 20m - 100s before "now"
    assert f.values["lag_seconds"] == pytest.approx(20 * 60 - 100, abs=2)
    assert f.values["lag_seconds_estimated"] == 0.0
    assert f.status is Status.CRITICAL and result.status is Status.CRITICAL
    assert "lag 54 msgs" in f.summary and "18m" in f.summary and "oldest unconsumed > 15m" in f.summary
    assert f.labels["group"] == group and f.labels["topic"] == topic
    assert f.labels["table"] == topic.removeprefix("cdc.")
    # per-partition data, worst first: partition 0 has the most lag
    assert f.details["partitions"].splitlines()[0].startswith(
        "partition=0 committed=10 log_start=0 log_end=25 lag=15 lag_seconds=")


def test_stopped_consumer_is_stop_after_the_window_and_not_before(kafka: KafkaService) -> None:
    topic = create_topic(kafka.bootstrap, unique("cdc.stop"), 2)
    group = unique("sink-stop")
    for p in range(2):
        produce(kafka.bootstrap, topic, p, 10)
    commit(kafka.bootstrap, group, {(topic, 0): 5, (topic, 1): 5})  # the consumer then went away
    h = harness(kafka, groups=[group], topics=[topic], window="10m")

    first = h.run()
    assert first.findings[0].status is Status.OK  # one sample: nothing to judge yet
    h.advance(300)
    produce(kafka.bootstrap, topic, 0, 5)
    mid = h.run()
    assert "STOP" not in mid.findings[0].summary  # 5 minutes < 10-minute window
    h.advance(300)
    produce(kafka.bootstrap, topic, 1, 5)
    last = h.run()
    f = last.findings[0]
    assert f.status is Status.CRITICAL, (f.summary, f.details)
    assert f.summary.startswith(f"{group} on {topic}: STOP on 2/2 partitions")
    assert "committed offset unchanged for 10m" in f.summary and "no live consumer" in f.summary
    assert f.details["verdict"] == "STOP"


def test_live_consumer_not_committing_is_stall(kafka: KafkaService) -> None:
    topic = create_topic(kafka.bootstrap, unique("cdc.stall"), 2)
    group = unique("sink-stall")
    for p in range(2):
        produce(kafka.bootstrap, topic, p, 10)
    commit(kafka.bootstrap, group, {(topic, 0): 4, (topic, 1): 4})
    h = harness(kafka, groups=[group], topics=[topic], window="10m")
    with live_consumer(kafka.bootstrap, group, topic, 2):
        results = run_window(h, between=lambda: produce(kafka.bootstrap, topic, 0, 3))
    f = results[-1].findings[0]
    assert f.status is Status.CRITICAL, (f.summary, f.details)
    assert "STALL on 2/2 partitions" in f.summary and "consumer alive" in f.summary
    assert "1 member(s)" in f.details["group_state"]


def test_offsets_reset_backwards_is_rewind(kafka: KafkaService) -> None:
    topic = create_topic(kafka.bootstrap, unique("cdc.rewind"), 1)
    group = unique("sink-rewind")
    produce(kafka.bootstrap, topic, 0, 50)
    commit(kafka.bootstrap, group, {(topic, 0): 40})
    h = harness(kafka, groups=[group], topics=[topic])
    h.run()
    h.advance(60)
    commit(kafka.bootstrap, group, {(topic, 0): 10}, consume=False)  # like kafka-consumer-groups --reset-offsets
    f = h.run().findings[0]
    assert f.status is Status.WARN
    assert "REWIND on 1/1 partitions" in f.summary and "went backwards" in f.summary


def test_retention_deleting_below_the_committed_offset_is_critical_data_loss(kafka: KafkaService) -> None:
    topic = create_topic(kafka.bootstrap, unique("cdc.retention"), 1, {"segment.ms": "10", "file.delete.delay.ms": "0"})
    group = unique("sink-retention")
    h = harness(kafka, groups=[group], topics=[topic])
    produce(kafka.bootstrap, topic, 0, 6, flush_each=True)  # small segments: segment.ms rolls one per batch
    commit(kafka.bootstrap, group, {(topic, 0): 2})  # the sink read 2 messages, then stopped
    set_topic_config(kafka.bootstrap, topic, {"retention.ms": "100"})  # retention overtakes the stopped sink
    time.sleep(0.3)
    produce(kafka.bootstrap, topic, 0, 1)  # rolls the last old segment out of the active one
    source = h.sources.kafka()
    deadline = time.monotonic() + 60
    while source.log_offsets([(topic, 0)], 5)[(topic, 0)][0] <= 2:
        assert time.monotonic() < deadline, "retention never deleted the old segments"
        time.sleep(0.5)
    log_start = source.log_offsets([(topic, 0)], 5)[(topic, 0)][0]

    f = h.run().findings[0]
    assert f.status is Status.CRITICAL
    assert "DATA LOSS on 1/1 partitions" in f.summary
    assert f"retention deleted {log_start - 2:,} messages never read" in f.summary
    assert f.values["lost_offsets"] == log_start - 2
    if f.values["lag_seconds"] == 0:  # no readable message behind the lost ones: say so, never "written 0s ago"
        assert "written 0s ago" not in f.summary and f.details["lag_seconds_source"].startswith("none")


def test_idle_topic_is_ok_not_stop(kafka: KafkaService) -> None:
    topic = create_topic(kafka.bootstrap, unique("cdc.idle"), 2)
    empty = create_topic(kafka.bootstrap, unique("cdc.empty"), 1)
    group = unique("sink-idle")
    for p in range(2):
        produce(kafka.bootstrap, topic, p, 5)
    commit(kafka.bootstrap, group, {(topic, 0): 5, (topic, 1): 5})  # fully caught up, consumer gone
    h = harness(kafka, groups=[group], topics=[topic, empty])
    results = run_window(h)
    assert results[-1].status is Status.OK
    by_topic = {f.labels["topic"]: f for f in results[-1].findings}
    assert by_topic[topic].summary == f"{group} on {topic}: IDLE, lag 0 msgs"
    assert by_topic[empty].status is Status.OK  # never committed, but nothing to read
    assert results[-1].summary.startswith("2 group/topics OK")


def test_new_partitions_and_missing_commits_are_explicit(kafka: KafkaService) -> None:
    topic = create_topic(kafka.bootstrap, unique("cdc.grow"), 2)
    group = unique("sink-grow")
    for p in range(2):
        produce(kafka.bootstrap, topic, p, 4)
    commit(kafka.bootstrap, group, {(topic, 0): 4, (topic, 1): 4})
    h = harness(kafka, groups=[group], topics=["cdc\\.grow\\..*"], window="2m")
    h.run()
    add_partitions(kafka.bootstrap, topic, 4)
    produce(kafka.bootstrap, topic, 2, 7)  # partition 2 has data nobody committed; partition 3 is empty
    h.advance(60)
    f = h.run().findings[0]
    assert f.status is Status.WARN
    assert "NO OFFSET on 1/4 partitions: 7 messages waiting, no committed offset" in f.summary
    assert f.values["unread_without_offset"] == 7 and f.values["lag_offsets"] == 0
    # the group picks the new partitions up; their short history is NEW, never a negative lag or STOP
    commit(kafka.bootstrap, group, {(topic, 2): 7, (topic, 3): 0}, consume=False)
    h.advance(60)
    g = h.run().findings[0]
    assert g.status is Status.OK, g.summary
    assert g.values["lag_offsets"] == 0 and g.values["partitions"] == 4


def test_a_group_the_cluster_never_saw_is_not_an_idle_ok(kafka: KafkaService) -> None:
    """A typo in `groups:` on an empty topic read "OK, IDLE, lag 0 msgs": nothing said the group does not exist."""
    topic = create_topic(kafka.bootstrap, unique("cdc.empty"), 2)
    typo = unique("conect-s3-sink")
    f = harness(kafka, groups=[typo], topics=[topic]).run().findings[0]
    assert f.status is Status.WARN, f.summary
    assert f.summary == (f"consumer group {typo} has no members and no committed offsets: the cluster does not know "
                         f"it (a typo in `groups:`?) or it has never consumed {topic}")
    # The same topic with a real, committed group stays OK: only the unknown one is flagged.
    group = unique("sink-real")
    commit(kafka.bootstrap, group, {(topic, 0): 0, (topic, 1): 0}, consume=False)
    both = harness(kafka, groups=[typo, group], topics=[topic]).run()
    assert {x.key: x.status for x in both.findings} == {f"{typo}/{topic}": Status.WARN, f"{group}/{topic}": Status.OK}


def test_regex_groups_and_topics_one_finding_per_group_topic(kafka: KafkaService) -> None:
    base = unique("cdc.multi")
    t1 = create_topic(kafka.bootstrap, f"{base}.a", 1)
    t2 = create_topic(kafka.bootstrap, f"{base}.b", 1)
    gbase = unique("rx-sink")
    g1, g2 = f"{gbase}.one", f"{gbase}.two"
    for t in (t1, t2):
        produce(kafka.bootstrap, t, 0, 3)
    commit(kafka.bootstrap, g1, {(t1, 0): 3, (t2, 0): 1})
    commit(kafka.bootstrap, g2, {(t1, 0): 2})
    prefix = base.replace(".", "\\.")
    h = harness(kafka, groups=[re.escape(gbase) + "\\..*"],
                topics=[prefix + "\\..*"], all_matching_topics=False)
    result = h.run()
    keys = sorted(f.key for f in result.findings)
    assert keys == sorted([f"{g1}/{t1}", f"{g1}/{t2}", f"{g2}/{t1}"])
    assert result.values["lag_offsets"] == 0 + 2 + 1


def test_lag_seconds_fall_back_to_a_labelled_estimate(kafka: KafkaService) -> None:
    topic = create_topic(kafka.bootstrap, unique("cdc.estimate"), 1)
    group = unique("sink-estimate")
    produce(kafka.bootstrap, topic, 0, 5)
    commit(kafka.bootstrap, group, {(topic, 0): 2})
    h = harness(kafka, groups=[group], topics=[topic], max_timestamp_reads=0)
    h.run()
    h.advance(600)
    f = h.run().findings[0]
    assert f.values["lag_seconds_estimated"] == 1.0
    assert f.values["lag_seconds"] == pytest.approx(600, abs=1)  # the message existed at the first sample
    assert "(estimated, at least)" in f.summary
    assert f.details["lag_seconds_source"].startswith("estimate")


@pytest.fixture
def blackhole() -> Iterator[int]:
    """A TCP port that accepts connections and never answers (a hung broker)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    conns: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conns.append(srv.accept()[0])
            except OSError:
                continue

    th = threading.Thread(target=accept, daemon=True)
    th.start()
    yield srv.getsockname()[1]
    stop.set()
    th.join(2)
    for c in conns:
        c.close()
    srv.close()


@pytest.mark.parametrize("kind", ["refused", "hung"])
def test_broker_down_is_an_error_within_the_deadline(kind: str, blackhole: int) -> None:
    port = free_port() if kind == "refused" else blackhole
    sources = Sources(Settings(kafka_bootstrap=f"127.0.0.1:{port}", kafka_security_protocol="SASL_PLAINTEXT",
                               kafka_sasl_mechanism="PLAIN", kafka_sasl_username="sentinel",
                               kafka_sasl_password=SecretStr("kafka-pw-s3cr3t")))
    spec = CheckSpec(id="s3_sink_lag", kind="kafka_consumer_lag", timeout=timedelta(seconds=3),
                     labels={"stage": "s3_sink"})
    runner = CheckRunner(sources, lambda _: DictMemory(), SystemClock(), Redactor.from_settings(sources.settings))
    started = time.monotonic()
    result = runner.run_one(PlannedCheck(spec, lag_check(groups=["connect-s3-sink"], topics=["cdc\\..*"]),
                                         "kafka-consumer-lag"))
    elapsed = time.monotonic() - started
    assert result.status is Status.ERROR
    assert elapsed < 3.5
    assert f"Kafka 127.0.0.1:{port}" in result.summary
    assert "did not finish within" not in result.summary  # our own timeout fired, not the runner's
    assert "kafka-pw-s3cr3t" not in str(result.to_json())


def test_real_broker_stopped_then_back_error_then_recovers(kafka: KafkaService) -> None:
    """The session broker itself goes down: ERROR within the deadline; back up: the same (reused) client recovers."""
    topic = create_topic(kafka.bootstrap, unique("cdc.outage"), 1)
    group = unique("sink-outage")
    produce(kafka.bootstrap, topic, 0, 3)
    commit(kafka.bootstrap, group, {(topic, 0): 3})
    sources = Sources(Settings(kafka_bootstrap=kafka.bootstrap))
    runner = CheckRunner(sources, lambda _: DictMemory(), SystemClock(), Redactor.from_settings(sources.settings))
    planned = PlannedCheck(CheckSpec(id="s3_sink_lag", kind="kafka_consumer_lag", timeout=timedelta(seconds=5)),
                           lag_check(groups=[group], topics=[topic]), "kafka-consumer-lag")
    assert runner.run_one(planned).status is Status.OK
    kafka.stop()
    try:
        started = time.monotonic()
        down = runner.run_one(planned)
        assert time.monotonic() - started < 5.5
        assert down.status is Status.ERROR and kafka.bootstrap in down.summary
    finally:
        kafka.restart()
    deadline = time.monotonic() + 30
    while (up := runner.run_one(planned)).status is Status.ERROR and time.monotonic() < deadline:
        time.sleep(1)
    sources.kafka().close()
    assert up.status is Status.OK, up.summary


def test_stop_says_how_long_the_offset_has_really_been_frozen_not_the_window(kafka: KafkaService) -> None:
    """The window holds 10 minutes of samples; an outage of 40 minutes must read 40m, not 'unchanged for 10m'."""
    topic = create_topic(kafka.bootstrap, unique("cdc.frozen"), 1)
    group = unique("sink-frozen")
    produce(kafka.bootstrap, topic, 0, 10)
    commit(kafka.bootstrap, group, {(topic, 0): 5})
    h = harness(kafka, groups=[group], topics=[topic], window="10m")
    for _ in range(8):  # 40 minutes of runs every 5 minutes while the offset stays at 5
        h.run()
        h.advance(300)
    f = h.run().findings[0]
    assert f.status is Status.CRITICAL and "STOP" in f.summary, f.summary
    assert "committed offset unchanged for 40m" in f.summary, f.summary
    # It moves: the clock restarts from that moment.
    commit(kafka.bootstrap, group, {(topic, 0): 7}, consume=False)
    h.advance(300)
    h.run()
    for _ in range(3):
        h.advance(300)
        g = h.run().findings[0]
    assert "unchanged for 15m" in g.summary, g.summary


def test_messages_waiting_without_an_offset_are_not_hidden_behind_lag_0(kafka: KafkaService) -> None:
    topic = create_topic(kafka.bootstrap, unique("cdc.nooffset"), 2)
    group = unique("sink-nooffset")
    produce(kafka.bootstrap, topic, 0, 4)
    produce(kafka.bootstrap, topic, 1, 30)
    commit(kafka.bootstrap, group, {(topic, 0): 4}, consume=False)  # partition 1 never committed
    h = harness(kafka, groups=[group], topics=[topic])
    f = h.run().findings[0]
    assert "NO OFFSET on 1/2 partitions: 30 messages waiting, no committed offset" in f.summary, f.summary
    assert "lag 0 msgs (+30 waiting where nothing is committed)" in f.summary
