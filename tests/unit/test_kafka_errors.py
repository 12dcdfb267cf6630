"""librdkafka errors become a reason and a fix on-call can act on (the real broker cases: test_kafka_acls.py)."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError, KafkaException

from sentinel.sources.kafka_errors import GRANTS, UNREACHABLE_HINT, PartitionError, explain, hint_for


@pytest.mark.parametrize(("code", "words"), [
    (KafkaError.TOPIC_AUTHORIZATION_FAILED, "not authorised on the topic"),
    (KafkaError.GROUP_AUTHORIZATION_FAILED, "not authorised to read the consumer group"),
    (KafkaError.CLUSTER_AUTHORIZATION_FAILED, "Cluster authorization failed"),
])
def test_an_authorization_failure_points_at_the_grants_not_at_the_network(code: int, words: str) -> None:
    reason, hint = explain(KafkaException(KafkaError(code)))
    assert words in reason and "KafkaError{" not in reason
    assert GRANTS in hint and hint != UNREACHABLE_HINT


def test_an_authentication_failure_names_the_settings_to_check() -> None:
    reason, hint = explain(KafkaException(KafkaError(KafkaError.SASL_AUTHENTICATION_FAILED, "bad credentials")))
    assert "bad credentials" in reason and "SENTINEL_KAFKA_SASL_USERNAME" in hint


def test_a_transport_error_is_readable_and_keeps_its_code_name() -> None:
    reason, hint = explain(KafkaException(KafkaError(KafkaError._TRANSPORT, "Connection refused")))
    assert reason == "connection to the broker failed: Connection refused (_TRANSPORT)" and hint == UNREACHABLE_HINT


def test_a_partition_error_keeps_the_hint_of_its_cause() -> None:
    error = PartitionError("cdc.payments.transactions[0]", KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED))
    assert str(error).startswith("cdc.payments.transactions[0]: not authorised on the topic")
    assert GRANTS in hint_for(error)
