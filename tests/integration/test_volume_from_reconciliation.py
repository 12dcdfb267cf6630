"""volume_anomaly judging from the rows per bucket row_reconciliation already counted: real PostgreSQL source, the
fakesnow server as the warehouse copy, both checks run by the runner with their memory in the SQLite state store.

The story of issue 22: the payments API loses most transactions upstream of PostgreSQL. The pipeline carries the
smaller volume faithfully, so the reconciliation matches; the volume check sees the drop from the counts the
reconciliation made anyway, without counting the table a second time. Times are a fixed Thursday in 2026.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sentinel_checks.row_reconciliation import RowReconciliationCheck, RowReconciliationParams
from sentinel_checks.volume_anomaly import VolumeAnomalyCheck, VolumeAnomalyParams

from devstack.postgres import PostgresService
from devstack.snowflake import SnowflakeService
from sentinel.api import Check, Status
from sentinel.clock import FakeClock
from sentinel.config.checks_spec import CheckSpec
from sentinel.config.settings import Settings
from sentinel.isolation import WorkerPool
from sentinel.model import CheckResult, Finding
from sentinel.redact import Redactor
from sentinel.runner import CheckRunner, PlannedCheck
from sentinel.sources import Sources
from sentinel.store.base import StoreMemory
from sentinel.store.sqlite import SqliteStateStore
from tests.integration.reconcile_data import Row, load_postgres, load_snowflake

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 26, 15, 20, tzinfo=UTC)  # Thursday; the reconciliation's in-flight cutoff is 15:05
DROP_DAY = datetime(2026, 11, 25, tzinfo=UTC)  # all Wednesday: 1 row an hour instead of 2 at night, 40 in office hours
DROP_HOUR = datetime(2026, 11, 26, 14, tzinfo=UTC)  # Thursday 14:00-15:00: 10 rows instead of 40
SF_TABLE = "RECONVOL.PAYMENTS.TRANSACTIONS"
MIB = 2**20


def rows_in(hour: datetime) -> int:
    if hour.date() == DROP_DAY.date():
        return 1
    if hour == DROP_HOUR:
        return 10
    normal = 40 if 9 <= hour.hour < 18 else 2
    return max(1, normal // 2) if hour.weekday() >= 5 else normal


def make_rows() -> list[Row]:
    rows: list[Row] = []
    hour = NOW.replace(minute=0) - timedelta(days=37)
    while hour < NOW + timedelta(hours=3):
        for i in range(rows_in(hour)):
            at = hour + timedelta(seconds=11 + i * 3600 // rows_in(hour))
            rows.append((len(rows) + 1, 7, None, "EUR", "settled", None, at, at))
        hour += timedelta(hours=1)
    return rows


@pytest.fixture(scope="module")
def world(postgres: PostgresService, snowflake_server: SnowflakeService) -> Iterator[dict[str, Any]]:
    dsn = postgres.create_database("volume_reconciled")
    rows = make_rows()
    load_postgres(dsn, "payments.transactions", rows)
    sf = snowflake_server.connect()
    load_snowflake(sf, SF_TABLE, rows)  # the pipeline carried everything it was given, drop included
    monitor = postgres.monitor_dsn("volume_reconciled", ["payments.transactions"], schemas=["payments"])
    svc = snowflake_server
    settings = Settings(postgres_dsn=SecretStr(monitor), snowflake_account=svc.account, snowflake_user=svc.user,
                        snowflake_password=SecretStr(svc.password), snowflake_host=svc.host, snowflake_port=svc.port,
                        snowflake_protocol="http")
    yield {"sources": Sources(settings), "rows": rows}
    sf.close()


PAIR = {"name": "payments.transactions", "source": {"engine": "postgres", "table": "payments.transactions"},
        "target": {"engine": "snowflake", "table": SF_TABLE.lower()}, "key": ["id"], "time_column": "created_at",
        "version_column": "updated_at", "target_deleted": {"column": "__deleted", "values": ["true"]}}


def run(check: Check[Any], check_id: str, sources: Sources | None, clock: FakeClock, store: SqliteStateStore,
        pool: WorkerPool | None = None) -> CheckResult:
    """One run as the daemon runs it: through the runner, with the check's memory in the state store. `sources`
    None: a Sources with no system configured at all, so any query would fail."""
    sources = sources or Sources(Settings())
    runner = CheckRunner(sources, lambda cid: StoreMemory(store, cid, clock), clock,
                         Redactor.from_settings(sources.settings), pool=pool)
    spec = CheckSpec(id=check_id, kind=check.kind, timeout=timedelta(seconds=120))
    return runner.run_one(PlannedCheck(spec, check, check.runbook))


def reconcile(world: dict[str, Any], check_id: str, buckets: list[dict[str, str]], clock: FakeClock,
              store: SqliteStateStore) -> CheckResult:
    params = RowReconciliationParams.model_validate({"pairs": [PAIR], "buckets": buckets, "in_flight": "15m"})
    result = run(RowReconciliationCheck(params), check_id, world["sources"], clock, store)
    assert result.status is Status.OK, result.summary  # the pipeline is healthy: it carried the drop faithfully
    return result


def volume(table: dict[str, Any], **params: Any) -> VolumeAnomalyCheck:
    return VolumeAnomalyCheck(VolumeAnomalyParams.model_validate({"training_weeks": 4, "tables": [table], **params}))


def only(result: CheckResult) -> Finding:
    (finding,) = result.findings
    return finding


@pytest.mark.parametrize(("backend", "table"), [("postgres", "payments.transactions"), ("snowflake", SF_TABLE)])
def test_a_daily_drop_is_judged_from_the_reconciliations_counts_with_no_system_configured(
        world: dict[str, Any], tmp_path: Path, backend: str, table: str) -> None:
    clock, store = FakeClock(NOW), SqliteStateStore(tmp_path / "state.db")
    reconcile(world, "reconcile_daily", [{"every": "1d", "last": "35d"}], clock, store)
    check = volume({"table": table, "source_table": "payments.transactions",
                    "reconciliation": {"check": "reconcile_daily"}}, backend=backend, bucket="1d")
    # in a supervised worker process, as in production: load_from crosses the pipe to the caller's state store
    pool = WorkerPool(Settings(), clock, size=1, memory_limit_bytes=512 * MIB)
    try:
        result = run(check, "volume", None, clock, store, pool)
    finally:
        pool.close()
    finding = only(result)
    assert finding.status is Status.CRITICAL, finding.summary
    normal_wednesday = sum(rows_in(DROP_DAY - timedelta(days=7) + timedelta(hours=h)) for h in range(24))
    assert (finding.values["observed_rows"], finding.values["expected_rows"]) == (24, normal_wednesday)
    assert finding.values["history_weeks"] == 4  # the four past Wednesdays came from the 35 daily buckets too
    assert finding.details["counted_by"] == "row_reconciliation 'reconcile_daily' (pair payments.transactions), no query"
    assert finding.summary.startswith(f"payments.transactions volume drop {(24 - normal_wednesday) / normal_wednesday:+.0%}")


def test_hourly_counts_come_from_the_reconciliation_and_stale_ones_fall_back_or_say_why(
        world: dict[str, Any], tmp_path: Path) -> None:
    clock, store = FakeClock(NOW), SqliteStateStore(tmp_path / "state.db")
    hourly = [{"every": "1h", "last": "48h"}, {"every": "1d", "last": "30d"}]
    reconcile(world, "reconcile", hourly, clock, store)
    table = {"table": "payments.transactions", "source_table": "payments.transactions",
             "reconciliation": {"check": "reconcile"}}
    with_fallback = volume({**table, "timestamp_column": "created_at"}, settle="15m")
    judged = only(run(with_fallback, "volume", world["sources"], clock, store))
    assert judged.status is Status.CRITICAL, judged.summary
    assert (judged.values["observed_rows"], judged.values["expected_rows"]) == (10, 40)
    assert judged.details["counted_by"] == "row_reconciliation 'reconcile' (pair payments.transactions), no query"
    assert judged.values["history_weeks"] == 4  # past Thursdays are beyond the 48 hourly buckets: counted once each

    clock.advance(timedelta(hours=1))  # 15:00-16:00 is judged, and the reconciliation has not run since 15:20
    stale = "row_reconciliation 'reconcile' (pair payments.transactions) has no count for Thu 15:00-16:00 UTC: its " \
            "counts reach only Thu 15:05 UTC (stale: it has not run since the bucket ended, or this check's settle " \
            "is shorter than its in_flight plus its interval)"
    fell_back = only(run(with_fallback, "volume", world["sources"], clock, store))
    assert fell_back.status is Status.OK, fell_back.summary
    assert fell_back.values["observed_rows"] == 40  # counted from PostgreSQL itself
    assert fell_back.details["counted_by"] == f"postgres query ({stale})"
    no_query = volume(table, settle="15m")
    cannot = only(run(no_query, "volume_no_query", None, clock, store))
    assert cannot.status is Status.ERROR
    assert cannot.summary == (f"payments.transactions: cannot count: {stale}; there is no timestamp_column to count "
                              "payments.transactions itself")

    reconcile(world, "reconcile", hourly, clock, store)  # it runs again: 15:00-16:00 is now counted
    learning = only(run(no_query, "volume_no_query", None, clock, store))
    assert learning.values["observed_rows"] == 40
    assert learning.details["verdict"] == "insufficient_history"  # 48 hourly buckets hold no past Thursday 15:00
    assert "not judged: only 0 past Thursdays at 15:00 in history" in learning.summary
