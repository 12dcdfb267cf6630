"""kafka_consumer_lag while its broker fails, on a real KRaft broker of this module's own (the session's broker serves
the other tests, which must not see it stopped or frozen). Checks run in worker processes, as in the daemon, so a
crash inside librdkafka would show as "check crashed" instead of killing the test run.

Issue 14: the admin client's committed-offsets call crashed librdkafka (SIGSEGV) when it met NOT_COORDINATOR in the
first seconds after a broker restart; the broker being hung, down, or never there must each read differently.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sentinel_checks.kafka_consumer_lag import KafkaConsumerLagCheck, KafkaConsumerLagParams

from devstack.base import free_port
from devstack.kafka import KafkaService, start_kafka
from sentinel.api import DictMemory, Status
from sentinel.clock import SystemClock
from sentinel.config.checks_spec import CheckSpec
from sentinel.config.settings import Settings
from sentinel.isolation import WorkerPool
from sentinel.model import CheckResult
from sentinel.redact import Redactor
from sentinel.runner import CheckRunner, PlannedCheck
from tests.integration.kafka_util import commit, create_topic, produce, unique
from tests.plugins import start_or_fail

pytestmark = pytest.mark.integration
MIB = 2**20


class SteppedClock:
    """Wall time moved by hand (window verdicts over minutes in seconds of test), real monotonic time (so deadlines
    still pass while a call hangs)."""

    def __init__(self) -> None:
        self._now = SystemClock().now()
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def monotonic(self) -> float:
        return time.monotonic()

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += timedelta(seconds=seconds)


@pytest.fixture(scope="module")
def own_kafka() -> Iterator[KafkaService]:
    service = start_or_fail("Apache Kafka (KRaft), the fault tests' own broker", start_kafka)
    yield service
    service.cleanup()


def lag_runner(bootstrap: str, clock: Any) -> CheckRunner:
    settings = Settings(kafka_bootstrap=bootstrap)
    memories: dict[str, DictMemory] = {}
    pool = WorkerPool(settings, clock, size=1, memory_limit_bytes=512 * MIB,
                      preload=["confluent_kafka", "numpy", "sentinel_checks._kafka_lag_window"])
    return CheckRunner(None, lambda cid: memories.setdefault(cid, DictMemory()), clock,
                       Redactor.from_settings(settings), pool=pool)


def lag_planned(groups: list[str], topic: str, timeout: float = 8) -> PlannedCheck:
    check = KafkaConsumerLagCheck(KafkaConsumerLagParams(groups=groups, topics=[topic], window="10m", min_samples=2))
    return PlannedCheck(CheckSpec(id="s3_sink_lag", kind="kafka_consumer_lag", timeout=timedelta(seconds=timeout)),
                        check, "kafka-consumer-lag")


def assert_not_crashed(result: CheckResult) -> None:
    assert "crashed" not in result.summary, result.summary
    assert "KafkaError{" not in str(result.to_json()), result.summary


@pytest.mark.timeout(900)  # 20 JVM restarts: 3-4 minutes on a quiet 2-core machine, much longer under load
def test_lag_check_in_the_first_seconds_after_20_broker_restarts_never_crashes_or_misjudges(
        own_kafka: KafkaService) -> None:
    """Each cycle: the consumers move on, the broker restarts, and the check runs from the moment the port opens
    until it measures. An ERROR while the coordinator loads is honest; a crash, a STOP or a REWIND is not."""
    bootstrap = own_kafka.bootstrap
    partitions = 3
    topic = create_topic(bootstrap, unique("cdc.restart"), partitions)
    groups = [unique(f"sink-restart-{i}") for i in range(6)]
    clock = SteppedClock()
    runner = lag_runner(bootstrap, clock)
    planned = lag_planned(groups, topic)
    committed = 0
    errors_while_loading = 0
    try:
        for cycle in range(20):
            for p in range(partitions):
                produce(bootstrap, topic, p, 2)
            committed += 2
            for g in groups:  # each group stays 1 behind the log end and moves 2 each cycle
                commit(bootstrap, g, {(topic, p): committed - 1 for p in range(partitions)}, consume=False)
            own_kafka.restart(until_ready=False)
            clock.advance(300)
            deadline = time.monotonic() + 60
            while True:
                result = runner.run_one(planned)
                assert_not_crashed(result)
                if result.status is not Status.ERROR or time.monotonic() > deadline:
                    break
                errors_while_loading += 1
                time.sleep(0.1)
            assert result.status is Status.OK, f"cycle {cycle}: {result.summary}"
            assert result.values["lag_offsets"] == len(groups) * partitions, f"cycle {cycle}: {result.summary}"
            for f in result.findings:
                assert not any(word in f.summary for word in ("STOP", "STALL", "REWIND", "NO OFFSET")), f.summary
    finally:
        runner.close()
    print(f"{errors_while_loading} ERROR runs while the broker was starting, none crashed")


def test_a_hung_broker_is_an_error_within_the_deadline_that_says_hung_then_recovers(own_kafka: KafkaService) -> None:
    bootstrap = own_kafka.bootstrap
    topic = create_topic(bootstrap, unique("cdc.hung"), 2)
    group = unique("sink-hung")
    produce(bootstrap, topic, 0, 5)
    commit(bootstrap, group, {(topic, 0): 5, (topic, 1): 0}, consume=False)
    clock = SteppedClock()
    runner = lag_runner(bootstrap, clock)
    planned = lag_planned([group], topic, timeout=4)
    try:
        assert runner.run_one(planned).status is Status.OK
        own_kafka.process.send_signal(signal.SIGSTOP)
        try:
            clock.advance(300)
            started = time.monotonic()
            hung = runner.run_one(planned)
            took = time.monotonic() - started
        finally:
            own_kafka.process.send_signal(signal.SIGCONT)
        assert_not_crashed(hung)
        assert hung.status is Status.ERROR and took < 5, (took, hung.summary)
        assert f"Kafka {bootstrap}" in hung.summary
        assert "accepts connections but did not answer" in hung.summary, hung.summary
        deadline = time.monotonic() + 30
        while (back := runner.run_one(planned)).status is Status.ERROR and time.monotonic() < deadline:
            clock.advance(60)
            time.sleep(0.5)
        assert back.status is Status.OK, back.summary  # no STOP for the frozen minutes: the offsets were still read
    finally:
        runner.close()


@pytest.mark.parametrize(("bootstrap", "says"), [
    (f"127.0.0.1:{free_port()}", "refused the connection (nothing listens there: server down?)"),
    ("kafka-broker-that-does-not-exist.invalid:9092", "host kafka-broker-that-does-not-exist.invalid is unknown"),
])
def test_a_refused_connection_and_an_unknown_host_each_say_so(bootstrap: str, says: str) -> None:
    runner = lag_runner(bootstrap, SystemClock())
    try:
        started = time.monotonic()
        result = runner.run_one(lag_planned(["connect-s3-sink"], "cdc.payments.transactions", timeout=3))
        took = time.monotonic() - started
    finally:
        runner.close()
    assert_not_crashed(result)
    assert result.status is Status.ERROR and took < 4, (took, result.summary)
    assert says in result.summary, result.summary
