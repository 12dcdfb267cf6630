"""Pure judgement of Kafka Connect status payloads and replication slot rows."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import SecretStr, ValidationError
from sentinel_checks.kafka_connect_status import KafkaConnectStatusParams, first_line, judge_connector, root_cause
from sentinel_checks.postgres_replication_slot import (
    PostgresReplicationSlotParams,
    format_bytes,
    judge_slot,
    parse_bytes,
)

from sentinel.api import Status
from sentinel.sources.kafka_connect import KafkaConnectSource, parse_status, safe_url

TRACE = ("org.apache.kafka.connect.errors.ConnectException: Tolerance exceeded in error handler\n"
         "\tat org.apache.kafka.connect.runtime.errors.RetryWithToleranceOperator.execAndHandleError(X.java:1)\n"
         "Caused by: org.apache.kafka.connect.errors.DataException: Converting byte[] to Kafka Connect data failed\n")


def payload(conn_state: str = "RUNNING", *tasks: tuple[str, str]) -> dict[str, object]:
    return {
        "name": "s3-sink", "type": "sink",
        "connector": {"state": conn_state, "worker_id": "10.0.0.5:8083"},
        "tasks": [{"id": i, "state": st, "worker_id": "10.0.0.5:8083", **({"trace": tr} if tr else {})}
                  for i, (st, tr) in enumerate(tasks)],
    }


def test_running_connector_is_ok() -> None:
    status, summary, _ = judge_connector(parse_status("s3-sink", payload("RUNNING", ("RUNNING", ""))),
                                         KafkaConnectStatusParams())
    assert status is Status.OK and summary == "sink connector s3-sink: RUNNING, 1/1 tasks running"


def test_failed_task_puts_the_root_cause_in_the_summary_and_the_trace_in_details() -> None:
    conn = parse_status("s3-sink", payload("RUNNING", ("RUNNING", ""), ("FAILED", TRACE)))
    status, summary, details = judge_connector(conn, KafkaConnectStatusParams())
    assert status is Status.CRITICAL
    # Not Connect's wrapper ("Tolerance exceeded in error handler") but what it wraps: the last Caused by.
    assert summary == ("sink connector s3-sink: task 1 FAILED on 10.0.0.5:8083: org.apache.kafka.connect.errors."
                       "DataException: Converting byte[] to Kafka Connect data failed (1/2 tasks running)")
    assert details["task_1_trace"] == TRACE


def test_root_cause_is_the_innermost_cause_or_the_first_line() -> None:
    nested = TRACE + "\tat x\nCaused by: com.fasterxml.jackson.core.JsonParseException: Unexpected character ('o')\n"
    assert root_cause(nested) == "com.fasterxml.jackson.core.JsonParseException: Unexpected character ('o')"
    assert root_cause("java.lang.OutOfMemoryError: heap\n\tat x") == "java.lang.OutOfMemoryError: heap"


@pytest.mark.parametrize(("state", "expected"), [("PAUSED", Status.WARN), ("STOPPED", Status.WARN),
                                                 ("UNASSIGNED", Status.WARN), ("FAILED", Status.CRITICAL)])
def test_connector_states(state: str, expected: Status) -> None:
    status, summary, _ = judge_connector(parse_status("x", payload(state)), KafkaConnectStatusParams(min_tasks=0))
    assert status is expected and f"connector {state}" in summary


def test_running_connector_without_tasks_is_not_healthy() -> None:
    status, summary, _ = judge_connector(parse_status("x", payload("RUNNING")), KafkaConnectStatusParams())
    assert status is Status.WARN and "only 0 task(s), expected at least 1" in summary


def test_first_line_skips_blank_lines() -> None:
    assert first_line("\n\n  java.lang.OutOfMemoryError: heap\n\tat x") == "java.lang.OutOfMemoryError: heap"


def test_connect_source_never_shows_credentials() -> None:
    assert safe_url("https://admin:pw@connect.internal:8083/") == "https://connect.internal:8083"
    src = KafkaConnectSource("https://connect:8083", username="u", password=SecretStr("s3cr3t"))
    assert "s3cr3t" not in repr(src) and src.url == "https://connect:8083"


def row(active: bool, retained: int, flush: int | None = 0, wal_status: str = "reserved") -> dict[str, object]:
    return {"slot_name": "debezium", "plugin": "pgoutput", "slot_type": "logical", "database": "payments",
            "active": active, "retained_bytes": retained, "flush_lag_bytes": flush, "wal_status": wal_status,
            "safe_wal_size": None}


def test_slot_thresholds_warn_then_critical() -> None:
    p = PostgresReplicationSlotParams(retained_warn="1GB", retained_critical="10GB", inactive_warn_after="5m")
    assert judge_slot(row(True, 10_000_000), None, p)[0] is Status.OK
    status, summary, _ = judge_slot(row(False, 2_000_000_000), timedelta(minutes=1), p)
    assert status is Status.WARN
    assert summary == ("slot debezium INACTIVE for at least 1m, retaining 2.0 GB of WAL, confirmed flush 0 B behind "
                       "(retained WAL > 1.0 GB)")
    assert judge_slot(row(False, 20_000_000_000), timedelta(minutes=1), p)[0] is Status.CRITICAL
    assert judge_slot(row(False, 1000), timedelta(minutes=6), p)[0] is Status.WARN


def test_invalidated_slot_is_critical() -> None:
    status, summary, _ = judge_slot(row(False, 0, None, "lost"), None, PostgresReplicationSlotParams())
    assert status is Status.CRITICAL and "INVALIDATED" in summary


def test_sizes_parse_and_print() -> None:
    assert parse_bytes("512MB") == 512_000_000 and parse_bytes("1GiB") == 1024**3 and parse_bytes(42) == 42
    assert format_bytes(3_200_000_000) == "3.2 GB"
    with pytest.raises(ValueError, match="size"):
        parse_bytes("lots")
    with pytest.raises(ValidationError, match="retained_warn must not exceed retained_critical"):
        PostgresReplicationSlotParams(retained_warn="10GB", retained_critical="1GB")


def test_kafka_source_scrubs_the_sasl_password_and_needs_configuration() -> None:
    from sentinel.config.settings import Settings
    from sentinel.errors import SourceError
    from sentinel.sources import Sources
    from sentinel.sources.kafka import KafkaSource

    src = KafkaSource("b1:9092", sasl_mechanism="SCRAM-SHA-512", sasl_username="u", sasl_password=SecretStr("k-pw"))
    err = src._fail("listing topics", RuntimeError("SASL authentication error for k-pw"))
    assert "k-pw" not in str(err) and "b1:9092" in str(err) and "k-pw" not in repr(src)
    with pytest.raises(SourceError, match="SENTINEL_KAFKA_BOOTSTRAP"):
        Sources(Settings()).kafka()
    with pytest.raises(SourceError, match="SENTINEL_KAFKA_CONNECT_URL"):
        Sources(Settings()).kafka_connect()


def test_a_failed_call_retires_the_shared_client_but_never_under_a_running_call() -> None:
    from concurrent.futures import Future

    from sentinel.sources.kafka import KafkaSource

    src = KafkaSource("127.0.0.1:1")
    pending: Future[int] = Future()
    with src._use() as first, src._use() as second:  # two checks on the same client
        assert first is second
        first.track([pending])
        src._fail("listing topics", RuntimeError("boom"))  # one of them fails: the client is retired...
        with src._use() as fresh:
            assert fresh is not first  # ...new calls get a fresh client
    assert src._graveyard == [first]  # no call uses it any more, but a request is still in flight
    pending.set_result(1)
    src.close()
    assert src._graveyard == [] and src._current is None
