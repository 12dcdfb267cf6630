"""What a librdkafka error means for on-call: a readable reason and the fix, never the raw KafkaError repr.

Authorization and authentication failures get their own hint: "is the broker up?" would send on-call the wrong
way when the broker answered and refused.
"""

from __future__ import annotations

from confluent_kafka import KafkaError, KafkaException

GRANTS = "deploy/grants/kafka-acls.sh"
UNREACHABLE_HINT = "check SENTINEL_KAFKA_BOOTSTRAP is reachable from Sentinel and the broker is up " \
    "(kafka-broker-api-versions.sh)"

_AUTHORIZATION = {
    KafkaError.TOPIC_AUTHORIZATION_FAILED: ("not authorized for the topic",
                                            f"grant Sentinel's principal Describe and Read on the topics ({GRANTS})"),
    KafkaError.GROUP_AUTHORIZATION_FAILED: ("not authorized for the consumer group",
                                            f"grant Sentinel's principal Describe on the groups ({GRANTS})"),
    KafkaError.CLUSTER_AUTHORIZATION_FAILED: ("not authorized for a cluster-wide request",
                                              f"Sentinel needs no cluster ACL; name the groups in `groups:` ({GRANTS})"),
}
_AUTHENTICATION = {KafkaError.SASL_AUTHENTICATION_FAILED, KafkaError._AUTHENTICATION}


def kafka_error(exc: BaseException) -> KafkaError | None:
    if isinstance(exc, KafkaException) and exc.args and isinstance(exc.args[0], KafkaError):
        return exc.args[0]
    return None


def explain(exc: BaseException) -> tuple[str, str]:
    """(reason, hint) for an exception raised by a confluent-kafka call."""
    err = kafka_error(exc)
    if err is None:
        return str(exc) or type(exc).__name__, UNREACHABLE_HINT
    code = err.code()
    text = err.str() or err.name()
    if code in _AUTHORIZATION:
        reason, hint = _AUTHORIZATION[code]
        return f"{reason} ({text})", hint
    if code in _AUTHENTICATION:
        return f"authentication failed ({text})", ("check SENTINEL_KAFKA_SASL_USERNAME, SENTINEL_KAFKA_SASL_MECHANISM "
                                                   "and the kafka_sasl_password secret")
    return f"{text} ({err.name()})", UNREACHABLE_HINT
