"""The fault matrix of docs/reliability.md on real components: PostgreSQL restarted mid-query and a hung query,
the fakesnow server killed, S3 slow / 500 / SlowDown (a fault-injecting proxy in front of the moto server), Kafka
Connect hung and down. Each row: ERROR within the check's deadline with words that say what happened, nothing left
running on the watched system, and the next run after recovery measures again without a false alert.

Faults that would disturb other tests get their own server: a PostgreSQL cluster and a fakesnow server of this
module's own; the session's moto server is only reached through the proxy; the session's Connect worker is frozen
(SIGSTOP) for a few seconds and always woken in a finally.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
import requests
from pydantic import SecretStr
from sentinel_checks.kafka_connect_status import KafkaConnectStatusCheck, KafkaConnectStatusParams
from sentinel_checks.s3_partition_arrival import S3PartitionArrivalCheck, S3PartitionArrivalParams
from sentinel_checks.sql_threshold import SqlThresholdCheck, SqlThresholdParams
from sentinel_checks.warehouse_freshness import WarehouseFreshnessCheck, WarehouseFreshnessParams

from devstack.base import free_port
from devstack.kafka import KafkaConnectService
from devstack.postgres import PostgresService, start_postgres
from devstack.s3 import S3Service
from devstack.snowflake import SnowflakeService, start_snowflake
from sentinel.api import Check, DictMemory, Status
from sentinel.clock import FakeClock, SystemClock
from sentinel.config.checks_spec import CheckSpec
from sentinel.config.settings import Settings
from sentinel.model import CheckResult
from sentinel.redact import Redactor
from sentinel.runner import CheckRunner, PlannedCheck
from sentinel.sources import Sources
from tests.fakes.fault_proxy import FaultProxy
from tests.plugins import start_or_fail

pytestmark = pytest.mark.integration


def run(sources: Sources, check: Check[Any], timeout: float, clock: Any = None) -> tuple[CheckResult, float]:
    spec = CheckSpec(id=f"{check.kind}_fault", kind=check.kind, timeout=timedelta(seconds=timeout))
    runner = CheckRunner(sources, lambda _: DictMemory(), clock or SystemClock(), Redactor.from_settings(sources.settings))
    started = time.monotonic()
    result = runner.run_one(PlannedCheck(spec, check, check.runbook))
    return result, time.monotonic() - started


# -- PostgreSQL ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def own_postgres() -> Iterator[PostgresService]:
    service = start_or_fail("PostgreSQL, the fault tests' own cluster",
                            lambda: start_postgres(f"faults-{os.getpid()}", throwaway=True))
    yield service
    service.stop()


def active_queries(pg: PostgresService, like: str) -> list[str]:
    with psycopg.connect(pg.dsn(), autocommit=True) as conn:
        rows = conn.execute("SELECT query FROM pg_stat_activity WHERE state = 'active' AND query LIKE %s "
                            "AND pid <> pg_backend_pid()", (f"%{like}%",)).fetchall()
    return [r[0] for r in rows]


def test_postgres_restarted_mid_query_is_an_error_at_once_and_the_next_run_measures(
        own_postgres: PostgresService) -> None:
    sources = Sources(Settings(postgres_dsn=SecretStr(own_postgres.monitor_dsn("postgres"))))
    slow = SqlThresholdCheck(SqlThresholdParams(query="SELECT 1 FROM pg_sleep(25)", warning=5))
    box: dict[str, Any] = {}
    worker = threading.Thread(target=lambda: box.update(zip(("result", "took"), run(sources, slow, 30), strict=True)))
    worker.start()
    deadline = time.monotonic() + 15
    while not active_queries(own_postgres, "pg_sleep(25)"):
        assert time.monotonic() < deadline, "the check's query never started"
        time.sleep(0.1)
    own_postgres.restart()
    worker.join(30)
    result: CheckResult = box["result"]
    assert result.status is Status.ERROR and box["took"] < 25, (box["took"], result.summary)
    assert "PostgreSQL 'default' (" in result.summary, result.summary
    assert "terminating connection" in result.summary or "server closed the connection" in result.summary, \
        result.summary
    assert own_postgres.password not in str(result.to_json())
    after, _ = run(sources, SqlThresholdCheck(SqlThresholdParams(query="SELECT 3", warning=5)), 10)
    assert after.status is Status.OK and after.values["value"] == 3, after.summary


def test_a_hung_query_is_cut_on_the_server_by_statement_timeout(own_postgres: PostgresService) -> None:
    """The server itself cancels the statement: nothing keeps running on the watched database after the ERROR."""
    sources = Sources(Settings(postgres_dsn=SecretStr(own_postgres.monitor_dsn("postgres"))))
    result, took = run(sources, SqlThresholdCheck(SqlThresholdParams(query="SELECT 1 FROM pg_sleep(40)",
                                                                     warning=5)), 3)
    assert result.status is Status.ERROR and took < 4.5, (took, result.summary)
    assert "PostgreSQL" in result.summary and ("statement_timeout" in result.summary or "deadline" in result.summary)
    deadline = time.monotonic() + 5
    while active_queries(own_postgres, "pg_sleep(40)"):
        assert time.monotonic() < deadline, "the hung query was left running on the watched database"
        time.sleep(0.2)


# -- Snowflake (fakesnow) -----------------------------------------------------------------------------------------


@pytest.fixture
def own_snowflake() -> Iterator[SnowflakeService]:
    service = start_or_fail("the fault tests' own fakesnow server", start_snowflake)
    yield service
    service.stop()


def seed_fresh_table(svc: SnowflakeService, loaded_at: datetime) -> None:
    conn = svc.connect()
    try:
        cur = conn.cursor()
        cur.execute("CREATE DATABASE IF NOT EXISTS FAULTS")
        cur.execute("CREATE SCHEMA IF NOT EXISTS FAULTS.ANALYTICS")
        cur.execute("CREATE OR REPLACE TABLE FAULTS.ANALYTICS.FCT_T (ID NUMBER, _LOADED_AT TIMESTAMP_NTZ)")
        cur.execute("INSERT INTO FAULTS.ANALYTICS.FCT_T VALUES (1, %s)", (loaded_at.replace(tzinfo=None),))
    finally:
        conn.close()


def test_the_fakesnow_server_killed_is_an_error_within_the_deadline_and_back_it_measures(
        own_snowflake: SnowflakeService) -> None:
    svc = own_snowflake
    now = datetime.now(UTC).replace(microsecond=0)
    seed_fresh_table(svc, now - timedelta(minutes=3))
    sources = Sources(Settings(snowflake_account=svc.account, snowflake_user=svc.user,
                               snowflake_password=SecretStr(svc.password), snowflake_host=svc.host,
                               snowflake_port=svc.port, snowflake_protocol="http", snowflake_database="FAULTS",
                               snowflake_schema="ANALYTICS"))
    check = WarehouseFreshnessCheck(WarehouseFreshnessParams(tables=[
        {"table": "ANALYTICS.FCT_T", "column": "_loaded_at", "critical_after": "15m"}]))
    clock = FakeClock(now)
    before, _ = run(sources, check, 10, clock)
    assert before.status is Status.OK, before.summary
    assert svc._proc is not None
    svc._proc.send_signal(signal.SIGKILL)
    svc._proc.popen.wait(10)
    down, took = run(sources, check, 5, clock)
    assert down.status is Status.ERROR and took < 6, (took, down.summary)
    assert (f"tables could not be measured: cannot measure Snowflake table ANALYTICS.FCT_T: Snowflake login as "
            f"'sentinel' to {svc.host}:{svc.port} failed: {svc.host}:{svc.port} refused the connection") in down.summary, \
        down.summary
    assert svc.password not in str(down.to_json())
    back_svc = start_or_fail("fakesnow, started again", lambda: start_snowflake(port=svc.port))
    try:
        seed_fresh_table(back_svc, now - timedelta(minutes=3))  # fakesnow keeps data in memory; Snowflake would not lose it
        back, _ = run(sources, check, 10, clock)
        assert back.status is Status.OK, back.summary  # measured again on a new session: no false stale alert
    finally:
        back_svc.stop()


# -- S3 -----------------------------------------------------------------------------------------------------------


PREFIX = "raw/payments/transactions/"


@pytest.fixture
def s3_proxy(s3_server: S3Service) -> Iterator[tuple[FaultProxy, str]]:
    bucket = f"faults-{os.getpid()}-{time.monotonic_ns() % 10**6}"
    client = s3_server.client()
    client.create_bucket(Bucket=bucket)
    today = datetime.now(UTC).date()
    for d in (today - timedelta(days=1), today):
        client.put_object(Bucket=bucket, Key=f"{PREFIX}dt={d}/part-00000.parquet", Body=b"x" * 64)
    with FaultProxy(s3_server.endpoint_url, slow_seconds=20) as proxy:
        yield proxy, bucket


def s3_sources(proxy: FaultProxy, s3: S3Service, read_timeout: float = 1.0) -> Sources:
    return Sources(Settings(aws_endpoint_url=proxy.url, aws_region=s3.region,
                            aws_access_key_id=SecretStr(s3.access_key_id),
                            aws_secret_access_key=SecretStr(s3.secret_access_key),
                            aws_read_timeout_seconds=read_timeout, aws_connect_timeout_seconds=1.0))


def arrival(bucket: str) -> S3PartitionArrivalCheck:
    return S3PartitionArrivalCheck(S3PartitionArrivalParams(bucket=bucket, prefixes=[PREFIX], size_weeks=0,
                                                            gap_lookback_days=1))


@pytest.mark.parametrize(("fault", "says"), [
    ("slow", "Read timeout"),
    ("error500", "InternalError"),
    ("slowdown", "SlowDown"),
])
def test_s3_slow_5xx_and_slowdown_are_errors_within_the_deadline_then_it_measures(
        s3_proxy: tuple[FaultProxy, str], s3_server: S3Service, fault: Any, says: str) -> None:
    proxy, bucket = s3_proxy
    sources = s3_sources(proxy, s3_server)
    assert run(sources, arrival(bucket), 10)[0].status is not Status.ERROR
    proxy.fault = fault
    before = proxy.requests
    result, took = run(sources, arrival(bucket), 8)
    assert result.status is Status.ERROR and took < 8.5, (took, result.summary)
    assert "S3" in result.summary and says in result.summary, result.summary
    assert s3_server.secret_access_key not in str(result.to_json())
    assert proxy.requests - before <= 8, "retries are bounded (standard mode), never a hammering of a throttled S3"
    proxy.fault = "none"
    again, _ = run(sources, arrival(bucket), 10)
    assert again.status is not Status.ERROR, again.summary


# -- Kafka Connect ------------------------------------------------------------------------------------------------


def test_kafka_connect_hung_then_down_are_errors_that_say_which(kafka_connect: KafkaConnectService) -> None:
    check = KafkaConnectStatusCheck(KafkaConnectStatusParams(connectors=[]))
    sources = Sources(Settings(kafka_connect_url=kafka_connect.url))
    assert requests.get(f"{kafka_connect.url}/connectors", timeout=10).ok
    kafka_connect.process.send_signal(signal.SIGSTOP)
    try:
        hung, took = run(sources, check, 3)
    finally:
        kafka_connect.process.send_signal(signal.SIGCONT)
    assert hung.status is Status.ERROR and took < 4, (took, hung.summary)
    assert kafka_connect.url in hung.summary, hung.summary
    down_url = f"http://127.0.0.1:{free_port()}"
    down, took = run(Sources(Settings(kafka_connect_url=down_url)), check, 3)
    assert down.status is Status.ERROR and took < 4, (took, down.summary)
    assert down_url in down.summary and "refused" in down.summary.lower(), down.summary
    back, _ = run(sources, check, 10)
    assert back.status is not Status.ERROR, back.summary


