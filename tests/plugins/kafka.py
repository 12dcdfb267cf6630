"""Session fixtures: one real Kafka KRaft node and one Kafka Connect worker for the whole test run.

`kafka` is the KafkaService (use `.bootstrap`); `kafka_connect` the KafkaConnectService (use `.url`).
They fail the run (never skip) with the reason and log tail when they cannot start.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devstack.kafka import KafkaConnectService, KafkaService, start_kafka, start_kafka_connect
from tests.plugins import start_or_fail


@pytest.fixture(scope="session")
def kafka() -> Iterator[KafkaService]:
    service = start_or_fail("Apache Kafka (KRaft)", start_kafka)
    yield service
    service.cleanup()


@pytest.fixture(scope="session")
def kafka_connect(kafka: KafkaService) -> Iterator[KafkaConnectService]:
    if not kafka.running():
        kafka.restart()
    service = start_or_fail("Kafka Connect", lambda: start_kafka_connect(kafka.bootstrap))
    yield service
    service.stop()
