"""Every statement the row_reconciliation check sends to Snowflake, recorded while it runs the production pair
config (payments.transactions -> novapay.raw.transactions) on the devstack, parses as Snowflake SQL and is read-only.
fakesnow executes it on DuckDB, which accepts things Snowflake would not; this holds it to Snowflake's grammar."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlglot
import yaml
from pydantic import SecretStr
from sentinel_checks.row_reconciliation import RowReconciliationCheck, RowReconciliationParams
from sqlglot import exp

from devstack.postgres import PostgresService
from devstack.snowflake import SnowflakeService
from sentinel.api import CheckContext, DictMemory
from sentinel.clock import FakeClock
from sentinel.config.settings import Settings
from sentinel.readonly_sql import check_read_only
from sentinel.sources import Sources
from sentinel.sources.snowflake import SnowflakeSource
from tests.integration.reconcile_data import load_postgres, load_snowflake, make_rows

pytestmark = pytest.mark.integration

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)  # a fixed instant on a fake clock: the statements, not the date
PRODUCTION = Path(__file__).resolve().parents[2] / "alert_rules.yaml"


def production_reconciliation() -> dict[str, Any]:
    checks = yaml.safe_load(PRODUCTION.read_text())["checks"]
    params: dict[str, Any] = next(c["params"] for c in checks if c["kind"] == "row_reconciliation")
    return {**params, "pairs": params["pairs"][:1]}  # payments.transactions; the others differ only in names


@pytest.fixture(scope="module")
def recorded(postgres: PostgresService, snowflake_server: SnowflakeService) -> Iterator[list[tuple[str, Any]]]:
    dsn = postgres.create_database("sf_contract")
    rows = make_rows(NOW, n=200, hours=48)
    load_postgres(dsn, "payments.transactions", rows)
    conn = snowflake_server.connect()
    load_snowflake(conn, "NOVAPAY.RAW.TRANSACTIONS", [r for r in rows[:-3]])  # a few missing: drill-down runs too
    conn.close()
    statements: list[tuple[str, Any]] = []
    original = SnowflakeSource.query

    def recording(self: SnowflakeSource, sql: str, params: Any = None, **kw: Any) -> Any:
        statements.append((sql, dict(params or {})))
        return original(self, sql, params, **kw)

    settings = Settings(postgres_dsn=SecretStr(postgres.monitor_dsn("sf_contract", ["payments.transactions"],
                                                                     schemas=["payments"])),
                        snowflake_account=snowflake_server.account, snowflake_user=snowflake_server.user,
                        snowflake_password=SecretStr(snowflake_server.password), snowflake_host=snowflake_server.host,
                        snowflake_port=snowflake_server.port, snowflake_protocol="http")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(SnowflakeSource, "query", recording)
        for mode in ("checksum", "full"):
            clock = FakeClock(NOW + timedelta(hours=1))
            params = RowReconciliationParams.model_validate({**production_reconciliation(), "mode": mode})
            ctx = CheckContext("reconcile_cdc_tables", clock, clock.monotonic() + 120, Sources(settings), DictMemory())
            result = RowReconciliationCheck(params).run(ctx)
            assert result.findings and result.findings[0].values.get("missing_rows", 0) >= 1, result.summary
    yield statements


def bind(sql: str, params: dict[str, Any]) -> str:
    return re.sub(r"%\((\w+)\)s", lambda m: exp.convert(params[m.group(1)]).sql("snowflake"), sql)


def test_reconciliation_statements_are_snowflake_sql_and_read_only(recorded: list[tuple[str, Any]]) -> None:
    assert len(recorded) >= 3, len(recorded)  # columns, bucket aggregates, key drill-down
    for sql, params in recorded:
        bound = bind(sql, params)
        sqlglot.parse_one(bound, read="snowflake")  # raises on anything Snowflake's grammar would reject
        check_read_only(bound, "snowflake")


def test_reconciliation_names_the_configured_target_only(recorded: list[tuple[str, Any]]) -> None:
    for sql, params in recorded:
        tree = sqlglot.parse_one(bind(sql, params), read="snowflake")
        tables = {".".join(p.name.upper() for p in t.parts) for t in tree.find_all(exp.Table) if t.name}
        assert tables <= {"NOVAPAY.RAW.TRANSACTIONS", "NOVAPAY.INFORMATION_SCHEMA.COLUMNS"}, tables
