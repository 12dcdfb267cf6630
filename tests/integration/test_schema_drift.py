"""schema_drift on real parts: a column added in PostgreSQL followed hop by hop.

PostgreSQL (the test cluster), Parquet written by pyarrow into moto S3, the Snowflake raw table in fakesnow, and the
dbt source as declared in the manifest of the fixture dbt project run by dbt-core. The check's memory is the SQLite
state store, so "reported once" is what the daemon would do across runs and restarts.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]
import pytest
from pydantic import SecretStr
from sentinel_checks.schema_drift import SchemaDriftCheck, SchemaDriftParams

from devstack.postgres import PostgresService
from devstack.s3 import S3Service
from devstack.snowflake import SnowflakeService
from sentinel.api import Status
from sentinel.clock import FakeClock
from sentinel.config.checks_spec import CheckSpec
from sentinel.config.settings import Settings
from sentinel.model import CheckResult
from sentinel.redact import Redactor
from sentinel.runner import CheckRunner, PlannedCheck
from sentinel.sources import Sources
from sentinel.store.base import StoreMemory
from sentinel.store.sqlite import SqliteStateStore
from tests.plugins.dbt import DbtRuns

pytestmark = pytest.mark.integration

BUCKET = "drift-lake"
PREFIX = "raw/payments/transactions/"
PARTITION = f"{PREFIX}dt=2026-11-26/"
SF_DB = "DRIFT_TEST"
PG_WHERE = "PostgreSQL payments.transactions"
S3_WHERE = "S3 Parquet dt=2026-11-26"
SF_WHERE = f"Snowflake {SF_DB}.RAW.TRANSACTIONS"
BASE_COLUMNS: dict[str, Any] = {"transaction_id": pa.int64(), "merchant_id": pa.int64(),
                                "amount": pa.decimal128(18, 2), "currency": pa.string(), "status": pa.string(),
                                "created_at": pa.timestamp("us", tz="UTC"), "__deleted": pa.string()}


def write_parquet(s3: S3Service, key: str, columns: dict[str, Any]) -> None:
    table = pa.table({name: pa.array([None, None], type=t) for name, t in columns.items()})
    buf = io.BytesIO()
    pq.write_table(table, buf)
    s3.client().put_object(Bucket=BUCKET, Key=key, Body=buf.getvalue())


@pytest.fixture(scope="module")
def world(postgres: PostgresService, s3_server: S3Service, snowflake_server: SnowflakeService,
          dbt_runs: DbtRuns) -> Iterator[tuple[Sources, SchemaDriftParams, Any]]:
    dsn = postgres.create_database("schema_drift")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS payments")
        conn.execute("CREATE TABLE payments.transactions (transaction_id bigint primary key, merchant_id bigint, "
                     "amount numeric(18,2) not null, currency char(3), status varchar(32), created_at timestamptz)")
    s3_server.client().create_bucket(Bucket=BUCKET)
    write_parquet(s3_server, f"{PARTITION}part-0000.parquet", BASE_COLUMNS)
    conn_sf = snowflake_server.connect()
    cur = conn_sf.cursor()
    cur.execute(f"CREATE DATABASE IF NOT EXISTS {SF_DB}")
    cur.execute(f"CREATE SCHEMA IF NOT EXISTS {SF_DB}.RAW")
    cur.execute(f"CREATE OR REPLACE TABLE {SF_DB}.RAW.TRANSACTIONS (TRANSACTION_ID NUMBER, MERCHANT_ID NUMBER, "
                "AMOUNT NUMBER(18,2), CURRENCY VARCHAR(3), STATUS VARCHAR(32), CREATED_AT TIMESTAMP_NTZ, "
                "_LOADED_AT TIMESTAMP_NTZ)")
    svc = snowflake_server
    sources = Sources(Settings(
        postgres_dsn=SecretStr(postgres.monitor_dsn("schema_drift", ["payments.transactions"], schemas=("payments",))),
        aws_endpoint_url=s3_server.endpoint_url, aws_region=s3_server.region,
        aws_access_key_id=SecretStr("testing"), aws_secret_access_key=SecretStr("testing"),
        snowflake_account=svc.account, snowflake_user=svc.user, snowflake_password=SecretStr(svc.password),
        snowflake_host=svc.host, snowflake_port=svc.port, snowflake_protocol="http", snowflake_database=SF_DB,
        snowflake_schema="RAW"))
    params = SchemaDriftParams.model_validate({
        "dbt_location": str(dbt_runs.broken),
        "tables": [{"name": "payments.transactions", "postgres": "payments.transactions", "s3_bucket": BUCKET,
                    "s3_prefix": PREFIX, "snowflake": f"{SF_DB}.RAW.TRANSACTIONS", "dbt_source": "payments.transactions"}],
    })
    yield sources, params, cur
    conn_sf.close()


def run(world: tuple[Sources, SchemaDriftParams, Any], store: SqliteStateStore, clock: FakeClock) -> CheckResult:
    sources, params, _ = world
    check = SchemaDriftCheck(params)
    spec = CheckSpec(id="schema_drift", kind=check.kind, timeout=timedelta(seconds=60))
    runner = CheckRunner(sources, lambda cid: StoreMemory(store, cid, clock), clock,
                         Redactor.from_settings(sources.settings))
    result = runner.run_one(PlannedCheck(spec, check, check.runbook))
    clock.advance(timedelta(hours=1))
    return result


def by_key(result: CheckResult) -> dict[str, Any]:
    return {f.key: f for f in result.findings}


def test_fee_currency_followed_hop_by_hop(world: Any, postgres: PostgresService, s3_server: S3Service,
                                         tmp_path: Path) -> None:
    store, clock = SqliteStateStore(tmp_path / "state.db"), FakeClock(datetime(2026, 11, 26, 9, tzinfo=UTC))
    first = run(world, store, clock)
    assert first.status is Status.OK, first.summary
    assert by_key(first)["payments.transactions:changes"].summary.startswith("payments.transactions: baseline recorded at")

    with psycopg.connect(postgres.dsn("schema_drift"), autocommit=True) as conn:
        conn.execute("ALTER TABLE payments.transactions ADD COLUMN fee_currency char(3)")
    second = by_key(run(world, store, clock))
    assert second["payments.transactions:gaps"].summary == (
        f"payments.transactions: fee_currency reaches {PG_WHERE} but not {S3_WHERE}")
    assert second["payments.transactions:changes"].status is Status.WARN
    assert f"fee_currency added at {PG_WHERE} (character(3))" in second["payments.transactions:changes"].summary

    # The S3 sink writes the next file with the new column: it now stops at Snowflake raw (Snowpipe drops it).
    write_parquet(s3_server, f"{PARTITION}part-0001.parquet", {**BASE_COLUMNS, "fee_currency": pa.string()})
    third = by_key(run(world, store, clock))
    assert third["payments.transactions:gaps"].summary == (
        f"payments.transactions: fee_currency reaches {S3_WHERE} but not {SF_WHERE}")
    assert third["payments.transactions:changes"].summary == (
        f"payments.transactions: changed since the last run: fee_currency added at {S3_WHERE} (string)")

    # Reported once, across a restart (a new store on the same file): the change finding is OK while the gap holds.
    fourth = by_key(run(world, SqliteStateStore(tmp_path / "state.db"), clock))
    assert fourth["payments.transactions:changes"].status is Status.OK
    assert fourth["payments.transactions:gaps"].status is Status.WARN

    _, _, cur = world
    cur.execute(f"ALTER TABLE {SF_DB}.RAW.TRANSACTIONS ADD COLUMN FEE_CURRENCY VARCHAR(3)")
    fifth = by_key(run(world, store, clock))
    assert fifth["payments.transactions:gaps"].status is Status.OK, fifth["payments.transactions:gaps"].summary


def test_a_dropped_source_column_is_critical_and_names_where_it_is_still_read(
        world: Any, postgres: PostgresService, tmp_path: Path) -> None:
    store, clock = SqliteStateStore(tmp_path / "state.db"), FakeClock(datetime(2026, 11, 27, 9, tzinfo=UTC))
    run(world, store, clock)
    with psycopg.connect(postgres.dsn("schema_drift"), autocommit=True) as conn:
        conn.execute("ALTER TABLE payments.transactions DROP COLUMN status")
        conn.execute("ALTER TABLE payments.transactions ALTER COLUMN amount TYPE numeric(10,2)")
    result = run(world, store, clock)
    assert result.status is Status.CRITICAL
    changes = by_key(result)["payments.transactions:changes"].summary
    assert (f"status dropped at {PG_WHERE}; still in {S3_WHERE}, {SF_WHERE}, dbt source payments.transactions: "
            "downstream reads NULL") in changes
    assert f"amount narrowed at {PG_WHERE}: numeric(18,2) -> numeric(10,2)" in changes


def test_a_table_whose_hop_cannot_be_read_is_its_own_error(world: Any, tmp_path: Path) -> None:
    sources, params, _ = world
    broken = params.model_validate({**params.model_dump(), "tables": [
        *[t.model_dump() for t in params.tables],
        {"name": "payments.ghost", "postgres": "payments.ghost", "snowflake": f"{SF_DB}.RAW.GHOST"}]})
    result = run((sources, broken, None), SqliteStateStore(tmp_path / "state.db"), FakeClock(datetime(2026, 11, 28, tzinfo=UTC)))
    findings = by_key(result)
    assert findings["payments.ghost:gaps"].status is Status.ERROR
    assert "PostgreSQL table payments.ghost has no columns visible to Sentinel" in findings["payments.ghost:gaps"].summary
    assert findings["payments.transactions:gaps"].status is not Status.ERROR


def test_the_drift_is_an_incident_of_the_weekly_report(world: Any, postgres: PostgresService, make_pipeline: Any,
                                                        tmp_path: Path) -> None:
    from tests.integration.report_incidents import weekly_report_after

    store, clock = SqliteStateStore(tmp_path / "state.db"), FakeClock(datetime(2026, 11, 25, 9, tzinfo=UTC))
    run(world, store, clock)  # the baseline
    with psycopg.connect(postgres.dsn("schema_drift"), autocommit=True) as conn:
        conn.execute("ALTER TABLE payments.transactions ADD COLUMN IF NOT EXISTS incident_note text")
    try:
        result = run(world, store, clock)
    finally:
        with psycopg.connect(postgres.dsn("schema_drift"), autocommit=True) as conn:
            conn.execute("ALTER TABLE payments.transactions DROP COLUMN incident_note")
    report, text, html = weekly_report_after(make_pipeline, [result],
                                             [{"id": "schema_drift", "kind": "schema_drift", "params": {}}])
    drift = [i for i in report.incidents if i.kind == "schema_drift"]
    assert {i.table for i in drift} == {"payments.transactions"} and len(drift) == 2, report.incidents  # gap, change
    assert all(i.stage == "schema" and i.severity == "warning" and i.resolved_at is None for i in drift)
    assert any(f"incident_note reaches {PG_WHERE} but not {S3_WHERE}" in i.summary for i in drift)
    assert "Incidents (2):" in text and "schema_drift (schema_drift) schema / payments.transactions" not in text
    assert "warning schema_drift schema / payments.transactions: payments.transactions: incident_note" in text
    assert html.count('data-kind="schema_drift"') == 2
