"""warehouse_freshness and snowpipe_load_history stay true (issue 20, point 3), on the fakesnow server with the real
connector: future timestamps are not fresh, one bad target does not blind the others, a reloaded file resolves,
and failures say when they happened."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from sentinel_checks.snowpipe_load_history import SnowpipeLoadHistoryCheck, SnowpipeLoadHistoryParams
from sentinel_checks.warehouse_freshness import WarehouseFreshnessCheck, WarehouseFreshnessParams

from devstack.postgres import PostgresService
from devstack.snowflake import SnowflakeService
from sentinel.api import Status
from tests.integration.test_snowflake_lake import DB, NOW, freshness, load, run, seed_analytics, set_pipe, sources_for
from tests.integration.test_snowflake_lake import sf as sf  # the module fixture with the stand-ins

pytestmark = pytest.mark.integration


def test_a_row_two_hours_in_the_future_does_not_make_a_stale_table_fresh(
    snowflake_server: SnowflakeService, sf: Any
) -> None:
    seed_analytics(sf, NOW - timedelta(hours=3), NOW - timedelta(minutes=5), date(2025, 1, 14))
    future = (NOW + timedelta(hours=2)).replace(tzinfo=None)  # local time written into an NTZ column
    sf.execute(f"INSERT INTO {DB}.ANALYTICS.FCT_TRANSACTIONS VALUES (3, 1.00, %s)", (future,))
    result = run(sources_for(snowflake_server), freshness())
    tx = next(f for f in result.findings if f.key == "ANALYTICS.FCT_TRANSACTIONS")
    assert tx.status is Status.CRITICAL, tx.summary
    assert tx.values["age_seconds"] == 3 * 3600 and tx.values["future_seconds"] == 2 * 3600
    assert tx.summary.startswith("ANALYTICS.FCT_TRANSACTIONS is 3h00m old, 2h45m over its 15m SLA")
    assert ("newest _loaded_at 2025-01-15 12:00 UTC is 2h00m in the future (clock skew, or local time in an NTZ "
            "column?); the age above ignores it") in tx.summary


def test_a_future_row_on_a_fresh_table_is_a_warning(snowflake_server: SnowflakeService, sf: Any) -> None:
    seed_analytics(sf, NOW - timedelta(minutes=3), NOW - timedelta(minutes=5), date(2025, 1, 14))
    sf.execute(f"INSERT INTO {DB}.ANALYTICS.FCT_MERCHANT_HEALTH VALUES (8, %s)", (NOW + timedelta(hours=1),))
    result = run(sources_for(snowflake_server), freshness())
    merchants = next(f for f in result.findings if f.key == "ANALYTICS.FCT_MERCHANT_HEALTH")
    assert merchants.status is Status.WARN, merchants.summary
    assert merchants.values["age_seconds"] == 300
    assert result.status is Status.WARN


def test_a_dropped_table_is_its_own_error_and_the_stale_one_still_pages(
    snowflake_server: SnowflakeService, sf: Any
) -> None:
    seed_analytics(sf, NOW - timedelta(hours=2), NOW - timedelta(minutes=5), date(2025, 1, 14))
    check = freshness()
    tables = [*check.params.tables, {"table": "ANALYTICS.FCT_DROPPED", "column": "_loaded_at", "critical_after": "15m"}]
    params = WarehouseFreshnessParams.model_validate({**check.params.model_dump(), "tables": tables})
    result = run(sources_for(snowflake_server), WarehouseFreshnessCheck(params))
    by_key = {f.key: f for f in result.findings}
    assert by_key["ANALYTICS.FCT_TRANSACTIONS"].status is Status.CRITICAL
    dropped = by_key["ANALYTICS.FCT_DROPPED"]
    assert dropped.status is Status.ERROR
    assert dropped.summary.startswith("cannot measure Snowflake table ANALYTICS.FCT_DROPPED: ")
    assert result.status is Status.CRITICAL  # measured, not blind: the SLA ledger sees the breach


def two_targets(*tables: str) -> SnowpipeLoadHistoryCheck:
    return SnowpipeLoadHistoryCheck(SnowpipeLoadHistoryParams(targets=[
        {"table": f"{DB}.RAW.{t}", "pipe": f"{DB}.RAW.{t}_PIPE", "source_table": f"payments.{t.lower()}"}
        for t in tables]))


def test_a_missing_pipe_does_not_hide_a_failed_load_on_another_table(
    snowflake_server: SnowflakeService, sf: Any
) -> None:
    load(sf, "TX20", "raw/payments/transactions/dt=2025-01-15/part-1.parquet", NOW - timedelta(minutes=2),
         status="Load failed", error="Numeric value 'N/A' is not recognized", errors=1)
    load(sf, "TX20", "raw/payments/transactions/dt=2025-01-15/part-2.parquet", NOW - timedelta(minutes=1))
    set_pipe(sf, f"{DB}.RAW.TX20_PIPE")
    result = run(sources_for(snowflake_server), two_targets("TX20", "NOPIPE20"))
    by_key = {f.key: f for f in result.findings}
    assert by_key[f"table:{DB}.RAW.TX20"].status is Status.CRITICAL
    assert by_key[f"pipe:{DB}.RAW.NOPIPE20_PIPE"].status is Status.ERROR
    assert result.status is Status.CRITICAL


def test_a_failed_file_resolves_once_the_same_file_is_loaded(snowflake_server: SnowflakeService, sf: Any) -> None:
    path = "raw/payments/refunds/dt=2025-01-15/part-9.parquet"
    load(sf, "RF20", path, NOW - timedelta(minutes=30), status="Load failed", error="bad", errors=1)
    set_pipe(sf, f"{DB}.RAW.RF20_PIPE")
    failing = run(sources_for(snowflake_server), two_targets("RF20"))
    assert failing.status is Status.CRITICAL
    assert "1 file(s) LOAD_FAILED in the last 1h00m, at 2025-01-15 09:30 UTC (30m ago)" in failing.summary
    load(sf, "RF20", path, NOW - timedelta(minutes=5))  # fixed and reloaded (ALTER PIPE ... REFRESH)
    fixed = run(sources_for(snowflake_server), two_targets("RF20"))
    table = next(f for f in fixed.findings if f.key == f"table:{DB}.RAW.RF20")
    assert table.status is Status.OK, table.summary
    assert table.values["files_failed"] == 0 and table.values["files_reloaded"] == 1


def test_a_load_stamped_in_the_future_does_not_look_recent(snowflake_server: SnowflakeService, sf: Any) -> None:
    load(sf, "FU20", "raw/payments/transactions/dt=2025-01-15/part-1.parquet", NOW - timedelta(minutes=50))
    load(sf, "FU20", "raw/payments/transactions/dt=2025-01-15/part-2.parquet", NOW + timedelta(hours=2))
    set_pipe(sf, f"{DB}.RAW.FU20_PIPE")
    result = run(sources_for(snowflake_server), two_targets("FU20"))
    table = next(f for f in result.findings if f.key == f"table:{DB}.RAW.FU20")
    assert table.status is Status.CRITICAL, table.summary
    assert table.values["seconds_since_last_load"] == 50 * 60 and table.values["future_loads"] == 1
    assert "1 load(s) stamped up to 2h00m in the future (clock skew?)" in table.summary


def test_future_rows_on_postgres_timestamp_and_timestamptz_columns(postgres: PostgresService) -> None:
    """The filtered MAX binds a naive cutoff for `timestamp` and an aware one for `timestamptz` columns."""
    import psycopg
    from pydantic import SecretStr

    from sentinel.config.settings import Settings
    from sentinel.sources import Sources

    dsn = postgres.create_database("lake_future")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("ALTER DATABASE lake_future SET timezone = 'America/New_York'")  # a non-UTC session zone
        conn.execute("CREATE SCHEMA IF NOT EXISTS analytics")
        conn.execute("DROP TABLE IF EXISTS analytics.fct_transactions, analytics.fct_merchant_health, "
                     "analytics.fct_daily_volume")
        conn.execute("CREATE TABLE analytics.fct_transactions (id int, _loaded_at timestamptz)")
        conn.execute("CREATE TABLE analytics.fct_merchant_health (merchant_id int, updated_at timestamp)")
        conn.execute("CREATE TABLE analytics.fct_daily_volume (volume_date date, total numeric)")
        conn.execute("INSERT INTO analytics.fct_transactions VALUES (1, %s), (2, %s)",
                     (NOW - timedelta(hours=3), NOW + timedelta(hours=2)))
        conn.execute("INSERT INTO analytics.fct_merchant_health VALUES (1, %s), (2, %s)",
                     ((NOW - timedelta(minutes=50)).replace(tzinfo=None), (NOW + timedelta(hours=1)).replace(tzinfo=None)))
        conn.execute("INSERT INTO analytics.fct_daily_volume VALUES ('2025-01-14', 10)")
    monitor = postgres.monitor_dsn("lake_future", ["analytics.fct_transactions", "analytics.fct_merchant_health",
                                                   "analytics.fct_daily_volume"], ["analytics"])
    result = run(Sources(Settings(postgres_dsn=SecretStr(monitor))), freshness("postgres"))
    by_key = {f.key: f for f in result.findings}
    tx, merchants = by_key["analytics.fct_transactions"], by_key["analytics.fct_merchant_health"]
    assert tx.status is Status.CRITICAL and tx.values["age_seconds"] == 3 * 3600, tx.summary
    assert tx.values["future_seconds"] == 2 * 3600
    assert merchants.status is Status.CRITICAL and merchants.values["age_seconds"] == 50 * 60, merchants.summary
    assert merchants.values["future_seconds"] == 3600


def test_a_pipe_error_says_when_it_happened(snowflake_server: SnowflakeService, sf: Any) -> None:
    load(sf, "PE20", "raw/payments/refunds/dt=2025-01-15/part-1.parquet", NOW - timedelta(minutes=2))
    set_pipe(sf, f"{DB}.RAW.PE20_PIPE", error="Remote file was not found", lastPipeErrorTimestamp="2025-01-15T09:48:00.000Z")
    result = run(sources_for(snowflake_server), two_targets("PE20"))
    pipe = next(f for f in result.findings if f.key == f"pipe:{DB}.RAW.PE20_PIPE")
    assert pipe.status is Status.WARN
    assert "pipe reports error: Remote file was not found (at 2025-01-15 09:48 UTC, 12m ago)" in pipe.summary
