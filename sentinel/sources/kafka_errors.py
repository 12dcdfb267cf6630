"""Kafka failures in words a person on call can act on, never a raw `KafkaError{code=...}` repr.

librdkafka reports a refused connection, an unknown host and a broker that accepts connections but never answers
all as the same timeout when the caller's deadline comes first; sentinel.sources.reach tells them apart.
"""

from __future__ import annotations

from typing import Any

# librdkafka's local error codes, named for people (see rdkafka.h RD_KAFKA_RESP_ERR__*)
_PLAIN = {
    "_TRANSPORT": "connection to the broker failed",
    "_ALL_BROKERS_DOWN": "every bootstrap broker is down or unreachable",
    "_RESOLVE": "the broker host name does not resolve",
    "_TIMED_OUT": "no answer in time",
    "_AUTHENTICATION": "authentication failed",
    "_SSL": "TLS handshake failed",
    "NOT_COORDINATOR": "the group coordinator moved (broker restarting?)",
    "COORDINATOR_NOT_AVAILABLE": "the group coordinator is not available (broker starting?)",
    "COORDINATOR_LOAD_IN_PROGRESS": "the group coordinator is still loading offsets (broker starting?)",
    "GROUP_AUTHORIZATION_FAILED": "not authorised to read the consumer group (grant DESCRIBE on the group)",
    "TOPIC_AUTHORIZATION_FAILED": "not authorised on the topic (grant DESCRIBE on the topic)",
}


class PartitionError(Exception):
    """A per-partition error from a batched answer, with the partition it came from."""

    def __init__(self, where: str, error: Any) -> None:
        super().__init__(f"{where}: {describe_kafka_error(error)}")


def describe_kafka_error(error: Any) -> str:
    """A KafkaException or KafkaError as 'what happened (CODE)'; anything else as its text."""
    err = error.args[0] if error.__class__.__name__ == "KafkaException" and error.args else error
    name = getattr(err, "name", None)
    text = getattr(err, "str", None)
    if callable(name) and callable(text):
        code = str(name())
        detail = str(text()).strip()
        plain = _PLAIN.get(code)
        if plain and detail and detail.lower() not in plain.lower():
            return f"{plain}: {detail} ({code})"
        return f"{plain or detail or 'Kafka error'} ({code})"
    return str(error) or type(error).__name__
