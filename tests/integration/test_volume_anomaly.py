"""volume_anomaly on real PostgreSQL and fakesnow, driven by a fake clock, with its history in the SQLite state store.

The story of the issue: at 14:00 the payments API loses 60% of transactions upstream of PostgreSQL. Every hop is fresh;
only the count is wrong. Time is a fixed Thursday in 2026, never today's date.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from freezegun import freeze_time
from pydantic import SecretStr
from sentinel_checks.volume_anomaly import VolumeAnomalyCheck, VolumeAnomalyParams

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

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 26, 15, 5, tzinfo=UTC)  # Thursday 15:05: the 14:00-15:00 hour is complete
JUDGED = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)
WEEKS = 5
DASHBOARDS = ["Executive (transaction counts)", "Operational"]


@pytest.fixture(scope="module")
def pg_sources(postgres: PostgresService) -> Iterator[Sources]:
    dsn = postgres.create_database("volume_anomaly")
    start = JUDGED - timedelta(weeks=WEEKS)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS payments")
        conn.execute("CREATE TABLE payments.transactions (id bigserial primary key, created_at timestamptz not null)")
        # Daily and weekly seasonality: 40 rows an hour at night, 100 in office hours, half that at weekends.
        conn.execute(
            """INSERT INTO payments.transactions (created_at)
               SELECT h + i * interval '7 seconds'
               FROM generate_series(%(start)s::timestamptz, %(end)s::timestamptz, interval '1 hour') h,
                    generate_series(1, ((CASE WHEN extract(hour FROM h AT TIME ZONE 'UTC') BETWEEN 9 AND 18
                                              THEN 100 ELSE 40 END)
                                        * (CASE WHEN extract(isodow FROM h AT TIME ZONE 'UTC') >= 6
                                                THEN 0.5 ELSE 1 END))::int) i""",
            {"start": start, "end": JUDGED - timedelta(hours=1)})
        # The incident: 14:00-15:00 today carries 40 rows where 100 are normal.
        conn.execute("INSERT INTO payments.transactions (created_at) "
                     "SELECT %(at)s::timestamptz + i * interval '60 seconds' FROM generate_series(1, 40) i",
                     {"at": JUDGED})
        conn.execute("CREATE TABLE payments.refunds (id bigserial primary key, created_at timestamp not null)")
        conn.execute("INSERT INTO payments.refunds (created_at) SELECT %(at)s::timestamp - i * interval '1 hour' "
                     "FROM generate_series(1, 100) i", {"at": JUDGED.replace(tzinfo=None)})
    monitor = postgres.monitor_dsn("volume_anomaly", ["payments.transactions", "payments.refunds"],
                                   schemas=("payments",))
    yield Sources(Settings(postgres_dsn=SecretStr(monitor)))
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP SCHEMA payments CASCADE")


def run(sources: Sources, params: dict[str, Any], clock: FakeClock, store: SqliteStateStore) -> CheckResult:
    check = VolumeAnomalyCheck(VolumeAnomalyParams.model_validate(params))
    spec = CheckSpec(id="volume", kind=check.kind, timeout=timedelta(seconds=30))
    runner = CheckRunner(sources, lambda cid: StoreMemory(store, cid, clock), clock,
                         Redactor.from_settings(sources.settings))
    return runner.run_one(PlannedCheck(spec, check, check.runbook))


PG_PARAMS: dict[str, Any] = {
    "backend": "postgres",
    "training_weeks": 4,
    "tables": [{"table": "payments.transactions", "timestamp_column": "created_at",
                "source_table": "payments.transactions", "stage": "source", "dashboards": DASHBOARDS}],
}


def test_a_60_percent_drop_on_postgres_is_critical_with_band_and_dashboards(pg_sources: Sources, tmp_path: Path) -> None:
    clock = FakeClock(NOW)
    store = SqliteStateStore(tmp_path / "state.db")
    result = run(pg_sources, PG_PARAMS, clock, store)
    assert result.status is Status.CRITICAL, result.summary
    (finding,) = result.findings
    assert finding.key == "payments.transactions"
    assert finding.values["observed_rows"] == 40 and finding.values["expected_rows"] == 100
    assert finding.summary == ("payments.transactions volume drop -60%: Thu 14:00-15:00 UTC: 40 rows, expected "
                               "60-140 (same hour, last 4 Thursdays); at risk: Executive (transaction counts), Operational")
    assert finding.labels == {"table": "payments.transactions", "stage": "source"}  # stable: they make the alert key
    assert finding.details["verdict"] == "drop"


def test_history_survives_a_restart_and_the_source_purging_old_rows(
        pg_sources: Sources, postgres: PostgresService, tmp_path: Path) -> None:
    clock = FakeClock(NOW - timedelta(hours=1))  # Thursday 14:05 judges 13:00, which was normal
    first = run(pg_sources, PG_PARAMS, clock, SqliteStateStore(tmp_path / "state.db"))
    assert first.status is Status.OK, first.summary
    assert "100 rows, expected 60-140 (same hour, last 4 Thursdays)" in first.summary
    clock.set(NOW)
    assert run(pg_sources, PG_PARAMS, clock, SqliteStateStore(tmp_path / "state.db")).status is Status.CRITICAL
    # Restart (a new store object on the same file) after the source dropped everything older than a day.
    with psycopg.connect(postgres.dsn("volume_anomaly"), autocommit=True) as conn:
        conn.execute("CREATE TABLE payments.purged AS SELECT * FROM payments.transactions WHERE created_at < %s",
                     (JUDGED - timedelta(days=1),))
        conn.execute("DELETE FROM payments.transactions WHERE created_at < %s", (JUDGED - timedelta(days=1),))
    try:
        clock.advance(timedelta(minutes=5))
        again = run(pg_sources, PG_PARAMS, clock, SqliteStateStore(tmp_path / "state.db"))
        clock.advance(timedelta(hours=1))  # 15:00 was never judged, and its past weeks are gone from the source
        later = run(pg_sources, PG_PARAMS, clock, SqliteStateStore(tmp_path / "state.db"))
    finally:
        with psycopg.connect(postgres.dsn("volume_anomaly"), autocommit=True) as conn:
            conn.execute("INSERT INTO payments.transactions SELECT * FROM payments.purged")
            conn.execute("DROP TABLE payments.purged")
    assert again.status is Status.CRITICAL, again.summary
    assert again.findings[0].values["history_weeks"] == 4  # learned from the store, not the purged table
    assert later.status is Status.OK and later.findings[0].details["verdict"] == "insufficient_history"


def test_a_young_table_says_it_has_too_little_history(pg_sources: Sources, tmp_path: Path) -> None:
    params = {"backend": "postgres", "tables": [{"table": "payments.refunds", "timestamp_column": "created_at"}]}
    result = run(pg_sources, params, FakeClock(NOW), SqliteStateStore(tmp_path / "state.db"))
    assert result.status is Status.OK
    assert "not judged: only 0 past Thursdays at 14:00 in history" in result.findings[0].summary
    assert result.findings[0].details["verdict"] == "insufficient_history"


SF_DB = "VOLUME_TEST"


@pytest.fixture(scope="module")
def sf_sources(snowflake_server: SnowflakeService) -> Iterator[Sources]:
    conn = snowflake_server.connect()
    cur = conn.cursor()
    cur.execute(f"CREATE DATABASE IF NOT EXISTS {SF_DB}")
    cur.execute(f"CREATE SCHEMA IF NOT EXISTS {SF_DB}.RAW")
    cur.execute(f"CREATE OR REPLACE TABLE {SF_DB}.RAW.TRANSACTIONS (ID NUMBER, CREATED_AT TIMESTAMP_NTZ)")
    rows = []
    for weeks_back in (1, 2, 3):  # only Thursday 14:00 matters to the judged hour; 30 rows each week
        at = (JUDGED - timedelta(weeks=weeks_back)).replace(tzinfo=None)
        rows += [(weeks_back * 1000 + i, at + timedelta(minutes=2 * i)) for i in range(30)]
    rows += [(9000 + i, JUDGED.replace(tzinfo=None) + timedelta(minutes=20 * i)) for i in range(3)]  # the drop
    cur.executemany(f"INSERT INTO {SF_DB}.RAW.TRANSACTIONS (ID, CREATED_AT) VALUES (%s, %s)", rows)
    svc = snowflake_server
    yield Sources(Settings(snowflake_account=svc.account, snowflake_user=svc.user,
                           snowflake_password=SecretStr(svc.password), snowflake_host=svc.host,
                           snowflake_port=svc.port, snowflake_protocol="http", snowflake_database=SF_DB,
                           snowflake_schema="RAW"))
    conn.close()


def test_snowflake_raw_table_drop_is_detected_from_warehouse_counts(sf_sources: Sources, tmp_path: Path) -> None:
    params = {"backend": "snowflake", "training_weeks": 3, "direction": "drop",
              "tables": [{"table": "RAW.TRANSACTIONS", "timestamp_column": "CREATED_AT",
                          "source_table": "payments.transactions", "stage": "snowflake_raw"}]}
    result = run(sf_sources, params, FakeClock(NOW), SqliteStateStore(tmp_path / "state.db"))
    assert result.status is Status.CRITICAL, result.summary
    finding = result.findings[0]
    assert finding.values["observed_rows"] == 3 and finding.values["expected_rows"] == 30
    assert "3 rows, expected" in finding.summary and "(same hour, last 3 Thursdays)" in finding.summary


def test_s3_bytes_per_hour_show_the_drop_from_the_lake(s3_server_inprocess: S3Service, tmp_path: Path) -> None:
    """backend s3: bytes of the Parquet objects the sink wrote per hour (LastModified; moto follows freezegun)."""
    svc, bucket, prefix = s3_server_inprocess, "volume-lake", "raw/payments/transactions/"
    client = svc.client()
    client.create_bucket(Bucket=bucket)

    def write(at: datetime, files: int) -> None:
        with freeze_time(at):
            for i in range(files):
                client.put_object(Bucket=bucket, Key=f"{prefix}dt={at.date()}/part-{at:%H%M}-{i:03d}.parquet",
                                  Body=b"x" * 1000)

    for weeks_back in (1, 2, 3):
        write(JUDGED - timedelta(weeks=weeks_back) + timedelta(minutes=5), 10)
    write(JUDGED + timedelta(minutes=5), 2)  # the sink wrote a fifth of the usual bytes
    sources = Sources(Settings(aws_endpoint_url=svc.endpoint_url, aws_region=svc.region,
                               aws_access_key_id=SecretStr(svc.access_key_id),
                               aws_secret_access_key=SecretStr(svc.secret_access_key)))
    params = {"backend": "s3", "training_weeks": 3, "tables": [
        {"table": "payments.transactions", "s3_bucket": bucket, "s3_prefix": prefix, "stage": "s3"}]}
    result = run(sources, params, FakeClock(NOW), SqliteStateStore(tmp_path / "state.db"))
    assert result.status is Status.CRITICAL, result.summary
    finding = result.findings[0]
    assert finding.values["observed_bytes"] == 2000 and finding.values["expected_bytes"] == 10_000
    assert "Thu 14:00-15:00 UTC: 2,000 bytes, expected" in finding.summary


def test_a_table_that_cannot_be_counted_is_its_own_error_the_others_are_judged(
        pg_sources: Sources, tmp_path: Path) -> None:
    params = {**PG_PARAMS, "tables": [*PG_PARAMS["tables"],
                                      {"table": "payments.no_such_table", "timestamp_column": "created_at"}]}
    result = run(pg_sources, params, FakeClock(NOW), SqliteStateStore(tmp_path / "state.db"))
    by_key = {f.key: f for f in result.findings}
    assert by_key["payments.transactions"].status is Status.CRITICAL
    assert by_key["payments.no_such_table"].status is Status.ERROR
    assert "cannot count" in by_key["payments.no_such_table"].summary


def test_the_drop_is_an_incident_of_the_weekly_report(pg_sources: Sources, make_pipeline: Any, tmp_path: Path) -> None:
    from tests.integration.report_incidents import weekly_report_after

    result = run(pg_sources, PG_PARAMS, FakeClock(NOW), SqliteStateStore(tmp_path / "state.db"))
    report, text, html = weekly_report_after(make_pipeline, [result],
                                             [{"id": "volume", "kind": "volume_anomaly", "params": PG_PARAMS}])
    [incident] = report.incidents
    assert (incident.kind, incident.check_id, incident.severity) == ("volume_anomaly", "volume", "critical")
    assert (incident.stage, incident.table, incident.started_at) == ("source", "payments.transactions", NOW)
    assert incident.resolved_at is None and "volume drop -60%" in incident.summary
    assert "Incidents (1):" in text
    assert ("- Thu 2026-11-26 15:05 UTC critical volume_anomaly (volume) source / payments.transactions: "
            "payments.transactions volume drop -60%") in text
    assert 'class="incident" data-kind="volume_anomaly"' in html and "expected 60-140" in html
