"""Kafka failures in words a person on call can act on, never a raw `KafkaError{code=...}` repr.

librdkafka reports a refused connection, an unknown host and a broker that accepts connections but never answers
all as the same timeout when the caller's deadline comes first; sentinel.sources.reach tells them apart.
Authorization and authentication failures get their own hint: "is the broker up?" would send on-call the wrong
way when the broker answered and refused.
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


GRANTS = "deploy/grants/kafka-acls.sh"
UNREACHABLE_HINT = ("check SENTINEL_KAFKA_BOOTSTRAP is reachable from Sentinel and the broker is up "
                    "(kafka-broker-api-versions.sh)")
_HINTS = {
    "TOPIC_AUTHORIZATION_FAILED": f"grant Sentinel's principal Describe and Read on the topics ({GRANTS})",
    "GROUP_AUTHORIZATION_FAILED": f"grant Sentinel's principal Describe on the groups ({GRANTS})",
    "CLUSTER_AUTHORIZATION_FAILED": f"Sentinel needs no cluster ACL; name the groups in `groups:` ({GRANTS})",
    "SASL_AUTHENTICATION_FAILED": "check SENTINEL_KAFKA_SASL_USERNAME, SENTINEL_KAFKA_SASL_MECHANISM and the "
                                  "kafka_sasl_password secret",
}
_HINTS["_AUTHENTICATION"] = _HINTS["SASL_AUTHENTICATION_FAILED"]


class PartitionError(Exception):
    """A per-partition error from a batched answer, with the partition it came from."""

    def __init__(self, where: str, error: Any) -> None:
        super().__init__(f"{where}: {describe_kafka_error(error)}")
        self.error = error


def error_code(error: Any) -> str | None:
    """The librdkafka code name ("TOPIC_AUTHORIZATION_FAILED", "_TRANSPORT") of a KafkaException, KafkaError or
    PartitionError; None for anything else."""
    if isinstance(error, PartitionError):
        error = error.error
    err = error.args[0] if error.__class__.__name__ == "KafkaException" and error.args else error
    name = getattr(err, "name", None)
    return str(name()) if callable(name) else None


def hint_for(error: Any) -> str:
    """What to do about it: the grants for a refusal, the credentials for a failed login, else reachability."""
    return _HINTS.get(error_code(error) or "", UNREACHABLE_HINT)


def explain(error: Any) -> tuple[str, str]:
    """(reason, hint) for an exception raised by a confluent-kafka call."""
    return describe_kafka_error(error), hint_for(error)


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
