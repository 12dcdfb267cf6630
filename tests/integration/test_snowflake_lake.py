"""snowpipe_load_history and warehouse_freshness against the fakesnow server over HTTP with the real connector.

COPY_HISTORY and SYSTEM$PIPE_STATUS do not exist in fakesnow: the query layer is pointed at stand-in tables with
the real column names/types and the real pipe-status JSON keys (see sentinel/sources/snowpipe.py). Everything else
(login, IDENTIFIER() binding, MAX() over real tables, timeouts, errors) goes through fakesnow for real.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import requests
from pydantic import SecretStr
from pytest_httpserver import HTTPServer
from sentinel_checks.snowpipe_load_history import SnowpipeLoadHistoryCheck, SnowpipeLoadHistoryParams
from sentinel_checks.warehouse_freshness import WarehouseFreshnessCheck, WarehouseFreshnessParams
from werkzeug import Request, Response

from devstack.postgres import PostgresService
from devstack.snowflake import SnowflakeService
from sentinel.api import Check, CheckMemory, DictMemory, Status
from sentinel.clock import FakeClock
from sentinel.config.checks_spec import CheckSpec
from sentinel.config.settings import Settings
from sentinel.model import CheckResult
from sentinel.redact import Redactor
from sentinel.runner import CheckRunner, PlannedCheck
from sentinel.sources import Sources
from sentinel.sources.snowpipe import COPY_HISTORY_STANDIN_DDL, PIPE_STATUS_STANDIN_DDL

pytestmark = pytest.mark.integration

DB = "LAKE_TEST"
COPY_HISTORY = f"{DB}.MONITORING.COPY_HISTORY"
PIPE_STATUS = f"{DB}.MONITORING.PIPE_STATUS"
NOW = datetime(2025, 1, 15, 10, 0, tzinfo=UTC)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture(scope="module")
def sf(snowflake_server: SnowflakeService) -> Iterator[Any]:
    conn = snowflake_server.connect()
    cur = conn.cursor()
    cur.execute(f"CREATE DATABASE IF NOT EXISTS {DB}")
    for schema in ("RAW", "ANALYTICS", "MONITORING"):
        cur.execute(f"CREATE SCHEMA IF NOT EXISTS {DB}.{schema}")
    cur.execute(COPY_HISTORY_STANDIN_DDL.format(relation=COPY_HISTORY))
    cur.execute(PIPE_STATUS_STANDIN_DDL.format(relation=PIPE_STATUS))
    cur.execute(
        f"CREATE OR REPLACE TABLE {DB}.ANALYTICS.FCT_TRANSACTIONS (ID NUMBER, AMOUNT NUMBER(18,2), _LOADED_AT TIMESTAMP_NTZ)"
    )
    cur.execute(
        f"CREATE OR REPLACE TABLE {DB}.ANALYTICS.FCT_MERCHANT_HEALTH (MERCHANT_ID NUMBER, UPDATED_AT TIMESTAMP_LTZ)"
    )
    cur.execute(f"CREATE OR REPLACE TABLE {DB}.ANALYTICS.FCT_DAILY_VOLUME (VOLUME_DATE DATE, TOTAL NUMBER(18,2))")
    yield cur
    conn.close()


def sources_for(svc: SnowflakeService, **overrides: Any) -> Sources:
    settings: dict[str, Any] = dict(
        snowflake_account=svc.account,
        snowflake_user=svc.user,
        snowflake_password=SecretStr(svc.password),
        snowflake_host=svc.host,
        snowflake_port=svc.port,
        snowflake_protocol="http",
        snowflake_database=DB,
        snowflake_schema="RAW",
        snowflake_copy_history_relation=COPY_HISTORY,
        snowflake_pipe_status_relation=PIPE_STATUS,
    )
    settings.update(overrides)
    return Sources(Settings(**settings))


def run(
    sources: Sources,
    check: Check[Any],
    clock: FakeClock | None = None,
    memory: CheckMemory | None = None,
    timeout: float = 30,
) -> CheckResult:
    spec = CheckSpec(id="lake_check", kind=check.kind, timeout=timedelta(seconds=timeout))
    mem = memory or DictMemory()
    runner = CheckRunner(sources, lambda _: mem, clock or FakeClock(NOW), Redactor.from_settings(sources.settings))
    return runner.run_one(PlannedCheck(spec, check, check.runbook))


def load(
    cur: Any,
    table: str,
    file: str,
    when: datetime,
    status: str = "Loaded",
    rows: int = 1000,
    error: str | None = None,
    errors: int = 0,
    line: int | None = None,
    column: str | None = None,
) -> None:
    cur.execute(
        f"INSERT INTO {COPY_HISTORY} (FILE_NAME, STAGE_LOCATION, LAST_LOAD_TIME, ROW_COUNT, ROW_PARSED, FILE_SIZE, "
        "FIRST_ERROR_MESSAGE, FIRST_ERROR_LINE_NUMBER, FIRST_ERROR_COLUMN_NAME, ERROR_COUNT, ERROR_LIMIT, STATUS, "
        "TABLE_CATALOG_NAME, TABLE_SCHEMA_NAME, TABLE_NAME, PIPE_CATALOG_NAME, PIPE_SCHEMA_NAME, PIPE_NAME, PIPE_RECEIVED_TIME) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            file,
            "s3://novapay-raw/",
            when,
            rows if status != "Load failed" else 0,
            rows,
            524288,
            error,
            line,
            column,
            errors,
            1 if status == "Load failed" else rows,
            status,
            DB,
            "RAW",
            table,
            DB,
            "RAW",
            f"{table}_PIPE",
            when - timedelta(seconds=40),
        ),
    )


def set_pipe(cur: Any, pipe: str, **status: Any) -> None:
    data = {
        "executionState": "RUNNING",
        "pendingFileCount": 0,
        "lastIngestedTimestamp": "2025-01-15T09:58:00.000Z",
        "lastIngestedFilePath": "raw/payments/transactions/dt=2025-01-15/part-00041.parquet",
        "notificationChannelName": "arn:aws:sqs:us-east-1:123456789012:sf-snowpipe-AIDA-example",
        "numOutstandingMessagesOnChannel": 0,
        "lastReceivedMessageTimestamp": "2025-01-15T09:59:30.000Z",
        "lastForwardedMessageTimestamp": "2025-01-15T09:59:31.000Z",
        "lastPulledFromChannelTimestamp": "2025-01-15T09:59:55.000Z",
        "lastForwardedFilePath": "novapay-raw/raw/payments/transactions/dt=2025-01-15/part-00042.parquet",
    }
    data.update(status)
    cur.execute(f"DELETE FROM {PIPE_STATUS} WHERE PIPE_NAME = %s", (pipe,))
    cur.execute(f"INSERT INTO {PIPE_STATUS} VALUES (%s, %s)", (pipe, json.dumps(data)))


def snowpipe(table: str, **params: Any) -> SnowpipeLoadHistoryCheck:
    return SnowpipeLoadHistoryCheck(
        SnowpipeLoadHistoryParams(
            targets=[
                {
                    "table": f"{DB}.RAW.{table}",
                    "pipe": f"{DB}.RAW.{table}_PIPE",
                    "source_table": f"payments.{table.lower()}",
                }
            ],
            **params,
        )
    )


# --- snowpipe_load_history ---------------------------------------------------------------------------------


def test_failed_file_in_copy_history_puts_its_error_in_the_result(snowflake_server: SnowflakeService, sf: Any) -> None:
    load(sf, "TRANSACTIONS", "raw/payments/transactions/dt=2025-01-15/part-00040.parquet", NOW - timedelta(minutes=6))
    load(
        sf,
        "TRANSACTIONS",
        "raw/payments/transactions/dt=2025-01-15/part-00041.parquet",
        NOW - timedelta(minutes=3),
        status="Load failed",
        error="Numeric value 'N/A' is not recognized",
        errors=1,
        line=17,
        column='"TRANSACTIONS"["AMOUNT":4]',
    )
    set_pipe(sf, f"{DB}.RAW.TRANSACTIONS_PIPE")
    result = run(sources_for(snowflake_server), snowpipe("TRANSACTIONS"))
    assert result.status is Status.CRITICAL
    table = next(f for f in result.findings if f.key == f"table:{DB}.RAW.TRANSACTIONS")
    assert table.summary == (
        f"snowpipe {DB}.RAW.TRANSACTIONS: 1 file(s) LOAD_FAILED in the last 1h00m, at 2025-01-15 09:57 UTC (3m ago): "
        "s3://novapay-raw/raw/payments/transactions/dt=2025-01-15/part-00041.parquet: "
        'Numeric value \'N/A\' is not recognized (line 17, column "TRANSACTIONS"["AMOUNT":4])'
    )
    assert table.values["files_failed"] == 1 and table.values["rows_loaded"] == 1000
    assert table.labels == {
        "table": "payments.transactions",
        "stage": "snowpipe",
        "snowflake_table": f"{DB}.RAW.TRANSACTIONS",
    }
    assert "Numeric value 'N/A' is not recognized" in result.summary  # the alert line itself names the error
    pipe = next(f for f in result.findings if f.key.startswith("pipe:"))
    assert pipe.status is Status.OK and pipe.summary.endswith("RUNNING, 0 files pending, last ingested 2m ago")


def test_paused_pipe_is_critical(snowflake_server: SnowflakeService, sf: Any) -> None:
    load(sf, "REFUNDS", "raw/payments/refunds/dt=2025-01-15/part-00007.parquet", NOW - timedelta(minutes=4))
    set_pipe(
        sf,
        f"{DB}.RAW.REFUNDS_PIPE",
        executionState="PAUSED",
        pendingFileCount=3,
        oldestPendingFilePath="raw/payments/refunds/dt=2025-01-15/part-00008.parquet",
        oldestFileTimestamp="2025-01-15T09:57:00.000Z",
        lastIngestedTimestamp="2025-01-15T09:56:00.000Z",
    )
    result = run(sources_for(snowflake_server), snowpipe("REFUNDS"))
    assert result.status is Status.CRITICAL
    pipe = next(f for f in result.findings if f.key == f"pipe:{DB}.RAW.REFUNDS_PIPE")
    assert pipe.status is Status.CRITICAL
    assert pipe.summary.startswith(f"pipe {DB}.RAW.REFUNDS_PIPE: pipe is PAUSED (not RUNNING): nothing is being loaded")
    assert json.loads(pipe.details["pipe_status"])["oldestPendingFilePath"].endswith("part-00008.parquet")
    table = next(f for f in result.findings if f.key.startswith("table:"))
    assert table.status is Status.OK  # the load history itself is fine


def test_pending_files_piling_up_with_no_ingestion_is_critical(snowflake_server: SnowflakeService, sf: Any) -> None:
    load(sf, "MERCHANTS", "raw/users/merchants/dt=2025-01-15/part-00001.parquet", NOW - timedelta(minutes=5))
    pipe = f"{DB}.RAW.MERCHANTS_PIPE"
    set_pipe(sf, pipe, pendingFileCount=6, lastIngestedTimestamp="2025-01-15T09:35:00.000Z")
    clock, memory, sources = FakeClock(NOW), DictMemory(), sources_for(snowflake_server)
    check = snowpipe("MERCHANTS", last_load_warn_after="30m", last_load_critical_after="1h")
    first = run(sources, check, clock, memory)
    f1 = next(f for f in first.findings if f.key == f"pipe:{pipe}")
    assert f1.status is Status.WARN and "6 files pending and no ingestion for 25m" in f1.summary
    clock.advance(timedelta(minutes=5))
    set_pipe(sf, pipe, pendingFileCount=48, lastIngestedTimestamp="2025-01-15T09:35:00.000Z")
    second = run(sources, check, clock, memory)
    f2 = next(f for f in second.findings if f.key == f"pipe:{pipe}")
    assert f2.status is Status.CRITICAL
    assert "48 files pending (was 6 at the previous run) and no ingestion for 30m" in f2.summary
    assert f2.values["pending_growth"] == 42


def test_healthy_table_and_pipe_are_ok(snowflake_server: SnowflakeService, sf: Any) -> None:
    for i in range(4):
        load(
            sf,
            "API_KEYS",
            f"raw/users/api_keys/dt=2025-01-15/part-{i:05d}.parquet",
            NOW - timedelta(minutes=50 - i * 12),
            rows=250,
        )
    set_pipe(sf, f"{DB}.RAW.API_KEYS_PIPE")
    result = run(sources_for(snowflake_server), snowpipe("API_KEYS"))
    assert result.status is Status.OK, result.summary
    table = next(f for f in result.findings if f.key.startswith("table:"))
    assert (
        table.summary == f"snowpipe {DB}.RAW.API_KEYS: 4 files, 1,000 rows loaded in the last 1h00m, last load 14m ago"
    )


def test_missing_pipe_is_an_error_with_a_hint(snowflake_server: SnowflakeService, sf: Any) -> None:
    """The pipe is that target's ERROR finding; the table's load history is still judged (issue 20)."""
    load(sf, "GHOST", "raw/x/dt=2025-01-15/part-0.parquet", NOW - timedelta(minutes=1))
    result = run(sources_for(snowflake_server), snowpipe("GHOST"))
    pipe = next(f for f in result.findings if f.key == f"pipe:{DB}.RAW.GHOST_PIPE")
    assert pipe.status is Status.ERROR
    assert pipe.summary.startswith(f"cannot measure Snowflake pipe {DB}.RAW.GHOST_PIPE: ")
    assert "SYSTEM$PIPE_STATUS(LAKE_TEST.RAW.GHOST_PIPE) returned nothing" in pipe.summary
    assert "MONITOR on the pipe" in pipe.summary
    assert next(f for f in result.findings if f.key == f"table:{DB}.RAW.GHOST").status is Status.OK
    assert result.status is Status.OK


# --- warehouse_freshness -----------------------------------------------------------------------------------


def freshness(backend: str = "snowflake", **extra: Any) -> WarehouseFreshnessCheck:
    schema = "ANALYTICS" if backend == "snowflake" else "analytics"
    return WarehouseFreshnessCheck(
        WarehouseFreshnessParams(
            backend=backend,
            tables=[
                {
                    "table": f"{schema}.FCT_TRANSACTIONS" if backend == "snowflake" else "analytics.fct_transactions",
                    "column": "_loaded_at",
                    "warn_after": "10m",
                    "critical_after": "15m",
                    "source_table": "payments.transactions",
                },
                {
                    "table": f"{schema}.FCT_MERCHANT_HEALTH"
                    if backend == "snowflake"
                    else "analytics.fct_merchant_health",
                    "column": "updated_at",
                    "critical_after": "30m",
                    "source_table": "users.merchants",
                },
                {
                    "table": f"{schema}.FCT_DAILY_VOLUME" if backend == "snowflake" else "analytics.fct_daily_volume",
                    "column": "volume_date",
                    "mode": "deadline",
                    "deadline": "1h",
                },
            ],
            **extra,
        )
    )


def seed_analytics(cur: Any, newest_tx: datetime, newest_merchant: datetime, newest_day: date) -> None:
    cur.execute(f"DELETE FROM {DB}.ANALYTICS.FCT_TRANSACTIONS")
    cur.execute(f"DELETE FROM {DB}.ANALYTICS.FCT_MERCHANT_HEALTH")
    cur.execute(f"DELETE FROM {DB}.ANALYTICS.FCT_DAILY_VOLUME")
    cur.execute(
        f"INSERT INTO {DB}.ANALYTICS.FCT_TRANSACTIONS VALUES (1, 10.50, %s), (2, 99.00, %s)",
        (newest_tx.replace(tzinfo=None) - timedelta(minutes=7), newest_tx.replace(tzinfo=None)),
    )
    cur.execute(f"INSERT INTO {DB}.ANALYTICS.FCT_MERCHANT_HEALTH VALUES (7, %s)", (newest_merchant,))
    cur.execute(
        f"INSERT INTO {DB}.ANALYTICS.FCT_DAILY_VOLUME VALUES (%s, 1000), (%s, 1200)",
        (newest_day - timedelta(days=1), newest_day),
    )


def test_freshness_20m_on_a_15m_sla_is_critical_with_the_numbers(snowflake_server: SnowflakeService, sf: Any) -> None:
    seed_analytics(sf, NOW - timedelta(minutes=20), NOW - timedelta(minutes=10), date(2025, 1, 14))
    result = run(sources_for(snowflake_server), freshness())
    assert result.status is Status.CRITICAL
    tx = next(f for f in result.findings if f.key == "ANALYTICS.FCT_TRANSACTIONS")
    assert tx.summary == (
        "ANALYTICS.FCT_TRANSACTIONS is 20m old, 5m over its 15m SLA (newest _loaded_at 2025-01-15 09:40:00 UTC)"
    )
    assert tx.values["age_seconds"] == 1200 and tx.values["sla_seconds"] == 900
    assert tx.labels["table"] == "payments.transactions" and tx.labels["stage"] == "analytics"
    merchants = next(f for f in result.findings if f.key == "ANALYTICS.FCT_MERCHANT_HEALTH")
    assert merchants.status is Status.OK  # 10 minutes on a 30-minute SLA
    assert result.summary.startswith("1/3 snowflake tables stale: ANALYTICS.FCT_TRANSACTIONS is 20m old")


def test_daily_aggregate_missing_at_0105_is_critical(snowflake_server: SnowflakeService, sf: Any) -> None:
    now = at("2025-01-16T01:05:00")
    seed_analytics(sf, now - timedelta(minutes=2), now - timedelta(minutes=2), date(2025, 1, 14))
    result = run(sources_for(snowflake_server), freshness(), FakeClock(now))
    daily = next(f for f in result.findings if f.key == "ANALYTICS.FCT_DAILY_VOLUME")
    assert daily.status is Status.CRITICAL
    assert daily.summary == (
        "ANALYTICS.FCT_DAILY_VOLUME has no row for 2025-01-15 at 01:05 UTC, due by 01:00 UTC "
        "(5m late); latest is 2025-01-14"
    )
    # five minutes before the deadline the same table is fine
    early = run(sources_for(snowflake_server), freshness(), FakeClock(at("2025-01-16T00:55:00")))
    assert next(f for f in early.findings if f.key == "ANALYTICS.FCT_DAILY_VOLUME").status is Status.OK


def test_freshness_against_postgres(postgres: PostgresService) -> None:
    import psycopg

    dsn = postgres.create_database("lake_freshness")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS analytics")
        conn.execute(
            "DROP TABLE IF EXISTS analytics.fct_transactions, analytics.fct_merchant_health, analytics.fct_daily_volume"
        )
        conn.execute("CREATE TABLE analytics.fct_transactions (id int, _loaded_at timestamptz)")
        conn.execute("CREATE TABLE analytics.fct_merchant_health (merchant_id int, updated_at timestamp)")
        conn.execute("CREATE TABLE analytics.fct_daily_volume (volume_date date, total numeric)")
        conn.execute("INSERT INTO analytics.fct_transactions VALUES (1, %s)", (NOW - timedelta(minutes=20),))
        conn.execute(
            "INSERT INTO analytics.fct_merchant_health VALUES (1, %s)",
            ((NOW - timedelta(minutes=5)).replace(tzinfo=None),),
        )
        conn.execute("INSERT INTO analytics.fct_daily_volume VALUES ('2025-01-14', 10)")
    monitor = postgres.monitor_dsn("lake_freshness", ["analytics.fct_transactions", "analytics.fct_merchant_health",
                                                      "analytics.fct_daily_volume"], schemas=["analytics"])
    result = run(Sources(Settings(postgres_dsn=SecretStr(monitor))), freshness("postgres"))
    by_key = {f.key: f for f in result.findings}
    assert by_key["analytics.fct_transactions"].status is Status.CRITICAL
    assert by_key["analytics.fct_transactions"].values["age_seconds"] == 1200
    assert by_key["analytics.fct_merchant_health"].status is Status.OK
    assert by_key["analytics.fct_daily_volume"].status is Status.OK  # 10:00 on the 15th: the 14th is due, present


# --- errors and sessions -----------------------------------------------------------------------------------


def test_snowflake_login_failure_is_an_error_with_a_hint_and_no_secret(httpserver: HTTPServer) -> None:
    """The real connector logs in against an endpoint answering as Snowflake does for a wrong password."""
    secret = "Wr0ng-but-SECRET-pw"
    httpserver.expect_request("/session/v1/login-request", method="POST").respond_with_json(
        {
            "data": {"nextAction": None, "authnMethod": "USERNAME_PASSWORD"},
            "code": "390100",
            "message": "Incorrect username or password was specified.",
            "success": False,
            "headers": None,
        }
    )
    sources = Sources(
        Settings(
            snowflake_account="novapay-eu1",
            snowflake_user="SENTINEL_SVC",
            snowflake_password=SecretStr(secret),
            snowflake_host="127.0.0.1",
            snowflake_port=httpserver.port,
            snowflake_protocol="http",
            snowflake_database=DB,
        )
    )
    result = run(sources, freshness())
    assert result.status is Status.ERROR
    assert "Snowflake login as 'SENTINEL_SVC'" in result.summary
    assert "Incorrect username or password was specified" in result.summary
    assert "hint: Snowflake rejected the user name or password" in result.summary
    assert secret not in json.dumps(result.to_json())


def test_expired_session_390114_reconnects_once(
    snowflake_server: SnowflakeService, sf: Any, httpserver: HTTPServer
) -> None:
    """A proxy in front of fakesnow answers the first query with Snowflake's 390114; the source logs in again."""
    seed_analytics(sf, NOW - timedelta(minutes=3), NOW - timedelta(minutes=3), date(2025, 1, 14))
    upstream = f"http://{snowflake_server.host}:{snowflake_server.port}"
    state = {"expire_next_query": True, "logins": 0}

    def proxy(request: Request) -> Response:
        if request.path == "/session/v1/login-request":
            state["logins"] += 1
        elif request.path == "/queries/v1/query-request" and state["expire_next_query"]:
            state["expire_next_query"] = False
            return Response(
                json.dumps(
                    {
                        "data": {"errorCode": "390114", "sqlState": "08001"},
                        "code": "390114",
                        "message": "Authentication token has expired.  The user must authenticate again.",
                        "success": False,
                        "headers": None,
                    }
                ),
                content_type="application/json",
            )
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        resp = requests.request(
            request.method, upstream + request.full_path, data=request.get_data(), headers=headers, timeout=30
        )
        drop = ("content-encoding", "content-length", "transfer-encoding", "connection")
        return Response(
            resp.content,
            status=resp.status_code,
            headers=[(k, v) for k, v in resp.headers.items() if k.lower() not in drop],
        )

    httpserver.expect_request(re.compile(r"^/.*")).respond_with_handler(proxy)
    sources = sources_for(snowflake_server, snowflake_host="127.0.0.1", snowflake_port=httpserver.port)
    result = run(sources, freshness())
    assert result.status is Status.OK, result.summary
    assert state == {"expire_next_query": False, "logins": 2}
