"""sql_threshold against the real local PostgreSQL: breach, warning, OK, hung query, bad inputs."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from pydantic import SecretStr
from sentinel_checks.sql_threshold import SqlThresholdCheck, SqlThresholdParams

from devstack.postgres import PostgresService
from sentinel.api import DictMemory, Status
from sentinel.clock import SystemClock
from sentinel.config.checks_spec import CheckSpec
from sentinel.config.settings import Settings
from sentinel.model import CheckResult
from sentinel.redact import Redactor
from sentinel.runner import CheckRunner, PlannedCheck
from sentinel.sources import Sources

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def sources(postgres: PostgresService) -> Sources:
    dsn = postgres.create_database("sql_threshold")
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS outbox_backlog")
        conn.execute("CREATE TABLE outbox_backlog (id int)")
        conn.execute("INSERT INTO outbox_backlog SELECT generate_series(1, 250)")
    # as the least-privilege role of deploy/grants/postgres.sql, as in production
    monitor = postgres.monitor_dsn("sql_threshold", ["public.outbox_backlog"])
    return Sources(Settings(postgres_dsn=SecretStr(monitor),
                            postgres_dsns={"unresolvable": SecretStr("postgresql://u:topsecret-pw@no-such-host.invalid/db")}))


def run(sources: Sources, timeout: float = 10, **params: Any) -> CheckResult:
    spec = CheckSpec(id="backlog", kind="sql_threshold", timeout=timedelta(seconds=timeout),
                     labels={"stage": "postgres"})
    check = SqlThresholdCheck(SqlThresholdParams(**params))
    runner = CheckRunner(sources, lambda _: DictMemory(), SystemClock(), Redactor.from_settings(sources.settings))
    return runner.run_one(PlannedCheck(spec, check, "sql-threshold"))


COUNT = "SELECT count(*) FROM outbox_backlog WHERE id > %(min_id)s"


def test_ok_warning_and_critical_from_real_rows(sources: Sources) -> None:
    ok = run(sources, query=COUNT, parameters={"min_id": 0}, value_name="backlog_rows", warning=500, critical=1000)
    assert ok.status is Status.OK and ok.values["backlog_rows"] == 250
    warn = run(sources, query=COUNT, parameters={"min_id": 0}, value_name="backlog_rows", warning=200, critical=1000)
    assert warn.status is Status.WARN
    assert warn.summary == "backlog_rows = 250 (> warn threshold 200)"
    crit = run(sources, query=COUNT, parameters={"min_id": 100}, value_name="backlog_rows", warning=50, critical=100)
    assert crit.status is Status.CRITICAL and crit.values["backlog_rows"] == 150


def test_bound_parameters_are_values_not_sql(sources: Sources) -> None:
    result = run(sources, query=COUNT, parameters={"min_id": "0 OR 1=1"}, warning=1)
    assert result.status is Status.ERROR  # postgres refuses the text as an integer instead of executing it
    assert "invalid input syntax" in result.summary


def test_a_hung_query_is_cut_by_its_deadline(sources: Sources) -> None:
    started = time.monotonic()
    result = run(sources, timeout=2, query="SELECT 1 FROM pg_sleep(30)", warning=5)
    assert result.status is Status.ERROR
    assert "statement_timeout" in result.summary or "deadline" in result.summary
    assert time.monotonic() - started < 10


def test_a_data_modifying_cte_is_refused_before_it_reaches_the_database(sources: Sources) -> None:
    query = "WITH d AS (DELETE FROM outbox_backlog RETURNING 1) SELECT count(*) FROM d"
    with pytest.raises(ValueError, match="writes data"):
        SqlThresholdParams(query=query, warning=1)
    # and at run time, for params that never went through validation
    check = SqlThresholdCheck(SqlThresholdParams.model_construct(query=query, warning=1, parameters={},
                                                                 connection="default", value_name="value", op=">"))
    spec = CheckSpec(id="backlog", kind="sql_threshold", timeout=timedelta(seconds=10))
    runner = CheckRunner(sources, lambda _: DictMemory(), SystemClock(), Redactor.from_settings(sources.settings))
    result = runner.run_one(PlannedCheck(spec, check, "sql-threshold"))
    assert result.status is Status.ERROR and "writes data" in result.summary
    assert run(sources, query=COUNT, parameters={"min_id": 0}, warning=1000).values["value"] == 250


def test_no_row_and_non_number_are_clear_errors(sources: Sources) -> None:
    none = run(sources, query="SELECT 1 WHERE false", warning=1)
    assert none.status is Status.ERROR and "returned no row" in none.summary and "no_row_value" in none.summary
    text = run(sources, query="SELECT 'many'", warning=1)
    assert text.status is Status.ERROR and "not a number" in text.summary
    defaulted = run(sources, query="SELECT 1 WHERE false", warning=1, no_row_value=0)
    assert defaulted.status is Status.OK


def test_a_dsn_that_does_not_resolve_is_an_error_without_the_password(sources: Sources) -> None:
    result = run(sources, connection="unresolvable", query="SELECT 1", warning=1)
    assert result.status is Status.ERROR
    assert "cannot connect to PostgreSQL 'unresolvable' at no-such-host.invalid:5432/db" in result.summary
    assert "topsecret-pw" not in repr(result.to_json())


def test_an_unknown_connection_name_lists_the_known_ones(sources: Sources) -> None:
    result = run(sources, connection="replica", query="SELECT 1", warning=1)
    assert "no PostgreSQL connection named 'replica' (configured: default, unresolvable)" in result.summary


def test_a_hung_query_names_the_connection_and_host_in_the_deadline_error(postgres: PostgresService) -> None:
    """Issue 20: 'did not finish within its 1s deadline' alone does not say what hung."""
    postgres.create_database("sql_hang")
    sources = Sources(Settings(postgres_dsn=SecretStr(postgres.monitor_dsn("sql_hang"))))
    check = SqlThresholdCheck(SqlThresholdParams(query="SELECT 1 FROM pg_sleep(5)", warning=1))
    spec = CheckSpec(id="hang", kind="sql_threshold", timeout=timedelta(seconds=1))
    runner = CheckRunner(sources, lambda _: DictMemory(), SystemClock(), Redactor.from_settings(sources.settings))
    result = runner.run_one(PlannedCheck(spec, check, check.runbook))
    assert result.status is Status.ERROR
    assert "did not finish within its 1s deadline while waiting on PostgreSQL query on 'default' (" in result.summary


def test_the_shipped_source_writes_check_measures_the_postgres_stage(postgres: PostgresService) -> None:
    """Issue 20: the shipped config measures the postgres stage of payments.transactions (newest write age)."""
    from pathlib import Path

    import psycopg

    from sentinel.config.loader import load_config
    from sentinel.plugins import check_registry

    config = load_config(Path(__file__).resolve().parents[2] / "alert_rules.yaml", check_registry())
    spec = next(c for c in config.spec.checks if c.id == "source_transactions_writes")
    dsn = postgres.create_database("source_writes")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS payments")
        conn.execute("CREATE TABLE payments.transactions (id int, updated_at timestamptz)")
        conn.execute("INSERT INTO payments.transactions VALUES (1, now() - interval '20 minutes')")
    monitor = postgres.monitor_dsn("source_writes", ["payments.transactions"], ["payments"])
    sources = Sources(Settings(postgres_dsn=SecretStr(monitor)))
    check = SqlThresholdCheck(SqlThresholdParams(**spec.params))
    runner = CheckRunner(sources, lambda _: DictMemory(), SystemClock(), Redactor.from_settings(sources.settings))
    result = runner.run_one(PlannedCheck(spec, check, "freshness-sla-breach"))
    assert result.status is Status.WARN, result.summary
    assert 1190 <= result.values["newest_write_age_seconds"] <= 1300
    assert result.labels["stage"] == "postgres" and result.labels["table"] == "payments.transactions"
