"""Session fixtures: one real Kafka KRaft node and one Kafka Connect worker for the whole test run.

`kafka` is the KafkaService (use `.bootstrap`); `kafka_connect` the KafkaConnectService (use `.url`).
They fail the run (never skip) with the reason and log tail when they cannot start.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devstack.base import ServiceUnavailable
from devstack.kafka import KafkaConnectService, KafkaService, start_kafka, start_kafka_connect


@pytest.fixture(scope="session")
def kafka() -> Iterator[KafkaService]:
    try:
        service = start_kafka()
    except ServiceUnavailable as exc:
        pytest.fail(f"Apache Kafka (KRaft) could not start, so the Kafka tests cannot run: {exc}", pytrace=False)
    yield service
    service.cleanup()


@pytest.fixture(scope="session")
def kafka_connect(kafka: KafkaService) -> Iterator[KafkaConnectService]:
    if not kafka.running():
        kafka.restart()
    try:
        service = start_kafka_connect(kafka.bootstrap)
    except ServiceUnavailable as exc:
        pytest.fail(f"Kafka Connect could not start, so the Connect tests cannot run: {exc}", pytrace=False)
    yield service
    service.stop()
