"""The demo's quality area seeded into real services: both fragment checks fire (a volume drop, a drifted column).

Seeded relative to a fixed instant and judged with a fake clock at that instant, so the test never depends on the
real date.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from pydantic import SecretStr
from sentinel_checks.schema_drift import SchemaDriftCheck, SchemaDriftParams
from sentinel_checks.volume_anomaly import VolumeAnomalyCheck, VolumeAnomalyParams

from devstack.demo_quality import seed_drift, seed_volume
from devstack.postgres import PostgresService
from devstack.snowflake import SnowflakeService
from sentinel.api import CheckContext, DictMemory, Status
from sentinel.clock import FakeClock
from sentinel.config.settings import Settings
from sentinel.sources import Sources

pytestmark = pytest.mark.integration

FRAGMENT = Path(__file__).resolve().parents[2] / "demo" / "fragments" / "quality.yaml"
NOW = datetime(2026, 11, 27, 13, 20, tzinfo=UTC)  # a Friday


def test_demo_quality_area_fires_both_checks(postgres: PostgresService, snowflake_server: SnowflakeService) -> None:
    dsn = postgres.create_database("demo_quality")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS payments")
    seed_volume(dsn, NOW)
    env = seed_drift(dsn, snowflake_server)
    monitor = postgres.monitor_dsn("demo_quality", ["payments.checkout_events", "payments.refunds"],
                                   schemas=["payments"])
    settings = Settings(postgres_dsn=SecretStr(monitor), snowflake_account=env["SENTINEL_SNOWFLAKE_ACCOUNT"],
                        snowflake_user=env["SENTINEL_SNOWFLAKE_USER"],
                        snowflake_password=SecretStr(env["SENTINEL_SNOWFLAKE_PASSWORD"]),
                        snowflake_host=env["SENTINEL_SNOWFLAKE_HOST"], snowflake_port=int(env["SENTINEL_SNOWFLAKE_PORT"]),
                        snowflake_protocol="http", snowflake_database=env["SENTINEL_SNOWFLAKE_DATABASE"])
    specs: dict[str, Any] = {c["id"]: c for c in yaml.safe_load(FRAGMENT.read_text())["checks"]}
    clock = FakeClock(NOW)

    def ctx(check_id: str) -> CheckContext:
        return CheckContext(check_id, clock, clock.monotonic() + 60, Sources(settings), DictMemory())

    volume = VolumeAnomalyCheck(VolumeAnomalyParams.model_validate(specs["volume_checkout_events"]["params"]))
    result = volume.run(ctx("volume"))
    assert result.status is Status.CRITICAL, result.summary
    assert result.findings[0].summary.startswith(
        "payments.checkout_events volume drop -65%: Fri 12:00-13:00 UTC: 35 rows, expected 60-140 "
        "(same hour, last 4 Fridays); at risk: Executive Dashboard")

    drift = SchemaDriftCheck(SchemaDriftParams.model_validate(specs["schema_drift"]["params"]))
    gaps = {f.key: f for f in drift.run(ctx("drift")).findings}["payments.refunds:gaps"]
    assert gaps.status is Status.WARN
    assert gaps.summary == ("payments.refunds: fee_currency reaches PostgreSQL payments.refunds "
                            "but not Snowflake NOVAPAY.RAW_CDC.REFUNDS")
