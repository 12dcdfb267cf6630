"""The demo's reconciliation area: seeded into real services, the fragment's check fires on the three lost rows."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
import yaml
from pydantic import SecretStr
from sentinel_checks.row_reconciliation import RowReconciliationCheck, RowReconciliationParams

from devstack.demo_reconcile import seed_reconcile
from devstack.postgres import PostgresService
from devstack.snowflake import SnowflakeService
from sentinel.api import CheckContext, DictMemory, Status
from sentinel.clock import SystemClock
from sentinel.config.settings import Settings
from sentinel.sources import Sources

pytestmark = pytest.mark.integration

FRAGMENT = Path(__file__).resolve().parents[2] / "demo" / "fragments" / "reconcile.yaml"


def test_demo_pair_reports_the_three_missing_rows(postgres: PostgresService, snowflake_server: SnowflakeService) -> None:
    dsn = postgres.create_database("demo_reconcile")
    with psycopg.connect(dsn, autocommit=True) as conn:  # what devstack.demo.seed_postgres creates
        conn.execute("CREATE SCHEMA IF NOT EXISTS payments")
        conn.execute("DROP TABLE IF EXISTS payments.transactions")
        conn.execute("CREATE TABLE payments.transactions (id bigint PRIMARY KEY, merchant_id int, amount numeric(12,2),"
                     " currency text, status text, created_at timestamptz, updated_at timestamptz)")
        conn.execute("INSERT INTO payments.transactions SELECT g, g % 50, (g % 997) * 1.25, 'EUR', 'settled',"
                     " now() - (g || ' seconds')::interval, now() - (g || ' seconds')::interval"
                     " FROM generate_series(1, 4000) g")
    env, lost = seed_reconcile(dsn, snowflake_server)
    assert len(lost) == 3
    spec = yaml.safe_load(FRAGMENT.read_text())["checks"][0]
    assert spec["kind"] == "row_reconciliation"
    monitor = postgres.monitor_dsn("demo_reconcile", ["payments.transactions"], schemas=["payments"])
    settings = Settings(postgres_dsn=SecretStr(monitor), snowflake_account=env["SENTINEL_SNOWFLAKE_ACCOUNT"],
                        snowflake_user=env["SENTINEL_SNOWFLAKE_USER"],
                        snowflake_password=SecretStr(env["SENTINEL_SNOWFLAKE_PASSWORD"]),
                        snowflake_host=env["SENTINEL_SNOWFLAKE_HOST"], snowflake_port=int(env["SENTINEL_SNOWFLAKE_PORT"]),
                        snowflake_protocol="http", snowflake_database=env["SENTINEL_SNOWFLAKE_DATABASE"])
    clock = SystemClock()
    ctx = CheckContext(spec["id"], clock, clock.monotonic() + 60, Sources(settings), DictMemory())
    result = RowReconciliationCheck(RowReconciliationParams.model_validate(spec["params"])).run(ctx)
    assert result.status is Status.CRITICAL, result.summary
    f = result.findings[0]
    assert f.values["missing_rows"] == 3
    assert sorted(int(k) for k in f.details["missing_keys"].split(", ")) == lost
    assert result.summary.startswith("payments.transactions: 3 missing in ")
