"""row_reconciliation end to end: a real PostgreSQL source against a DuckDB file and against the fakesnow server.

The source is one small payments table (600 rows over 60 h, ids rising with time, NULL amounts and notes); each
scenario builds its own target copy with the engine's own types (DECIMAL(18,4)/NUMBER(38,4), naive UTC or TZ
timestamps, a Debezium __deleted column) and runs the real check with a fixed clock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pytest
from pydantic import SecretStr
from sentinel_checks.row_reconciliation import RowReconciliationCheck, RowReconciliationParams

from devstack.postgres import PostgresService
from devstack.snowflake import SnowflakeService
from sentinel.api import CheckContext, CheckResult, DictMemory, Finding, Status
from sentinel.clock import FakeClock
from sentinel.config.settings import Settings
from sentinel.sources import Sources
from tests.integration.reconcile_data import Row, load_duckdb, load_postgres, load_snowflake, make_rows

pytestmark = pytest.mark.integration

NOW = datetime(2026, 3, 29, 12, 0, tzinfo=UTC)  # the EU spring-forward (01:00 UTC) is inside the window
LAG = timedelta(minutes=10)  # the target is 10 minutes behind: inside the 15-minute in-flight window


@pytest.fixture(scope="module")
def world(postgres: PostgresService, snowflake_server: SnowflakeService,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    dsn = postgres.create_database("reconcile")
    with psycopg.connect(dsn, autocommit=True) as conn:  # a source session in a DST zone: buckets must stay UTC
        conn.execute("ALTER DATABASE reconcile SET timezone = 'America/New_York'")
    rows = make_rows(NOW, n=600, hours=60)
    load_postgres(dsn, "payments.transactions", rows)
    sf = snowflake_server.connect()
    sf.cursor().execute("CREATE DATABASE IF NOT EXISTS RECON")
    monitor = postgres.monitor_dsn("reconcile", ["payments.transactions"], schemas=["payments"])
    settings = Settings(postgres_dsn=SecretStr(monitor), snowflake_account=snowflake_server.account,
                        snowflake_user=snowflake_server.user, snowflake_password=SecretStr(snowflake_server.password),
                        snowflake_host=snowflake_server.host, snowflake_port=snowflake_server.port,
                        snowflake_protocol="http")
    yield {"dsn": dsn, "pg": postgres, "rows": rows, "dir": tmp_path_factory.mktemp("reconcile"), "sf": sf,
           "sources": Sources(settings)}
    sf.close()


def load_source(world: dict[str, Any], table: str, rows: list[Row]) -> None:
    """A source table the check reads as the monitoring role: loaded as admin, then granted per the grants file."""
    load_postgres(world["dsn"], table, rows)
    world["pg"].monitor_dsn("reconcile", [table], schemas=["payments"])


def replicated(world: dict[str, Any]) -> list[Row]:
    """What a healthy CDC copy holds now: every source row older than the lag."""
    return [r for r in world["rows"] if r[6] < NOW - LAG]


def make_target(world: dict[str, Any], engine: str, name: str, rows: list[Any],
                deleted: list[str | None] | None = None) -> dict[str, Any]:
    if engine == "duckdb":
        path: Path = world["dir"] / f"{name}.duckdb"
        path.unlink(missing_ok=True)
        load_duckdb(path, "payments.transactions", rows, deleted=deleted or [])
        return {"engine": "duckdb", "path": str(path), "table": "payments.transactions"}
    load_snowflake(world["sf"], f"RECON.PAYMENTS.{name.upper()}", rows, tz=name.endswith("tz"), deleted=deleted or [])
    return {"engine": "snowflake", "table": f"recon.payments.{name}"}


def run(world: dict[str, Any], target: dict[str, Any], *, memory: DictMemory | None = None,
        clock: FakeClock | None = None, **params: Any) -> tuple[CheckResult, Finding]:
    pair = {"name": "payments.transactions", "source": {"engine": "postgres", "table": "payments.transactions"},
            "target": target, "key": ["id"], "time_column": "created_at", "version_column": "updated_at",
            "target_deleted": {"column": "__deleted", "values": ["true"]}, **params.pop("pair", {})}
    p = RowReconciliationParams.model_validate({"pairs": [pair], **params})
    clock = clock or FakeClock(NOW)
    ctx = CheckContext("reconcile_tx", clock, clock.monotonic() + 60, world["sources"], memory or DictMemory(),
                       labels={"stage": "snowflake_raw"})
    result = RowReconciliationCheck(p).run(ctx)
    assert len(result.findings) == 1
    return result, result.findings[0]


ENGINES = ["duckdb", "snowflake"]


def _without(rows: list[Row], keep: Callable[[Row], bool]) -> list[Row]:
    return [r for r in rows if keep(r)]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("mode", ["checksum", "full"])
def test_identical_copy_is_ok_despite_nulls_scale_and_time_types(world: dict[str, Any], engine: str, mode: str) -> None:
    target = make_target(world, engine, f"same_{mode}_tz", replicated(world))
    result, f = run(world, target, mode=mode)
    assert f.status is Status.OK, f.summary
    assert result.status is Status.OK
    compared = [r for r in world["rows"] if r[6] < NOW - timedelta(minutes=15)]  # newer rows are in flight
    assert f.values["source_rows"] == f.values["target_rows"] == len(compared)
    assert f.values["missing_rows"] == f.values["stale_rows"] == 0
    assert f.summary.startswith(f"payments.transactions: {len(compared)} rows match in ")


@pytest.mark.parametrize("engine", ENGINES)
def test_deleted_duplicated_and_stale_rows_are_found_by_key(world: dict[str, Any], engine: str) -> None:
    rows = replicated(world)
    gone = {rows[10][0], rows[250][0], rows[400][0]}
    target: list[Any] = [r for r in rows if r[0] not in gone]
    target += [rows[20], rows[300]]  # duplicated by a connector replaying from an old offset
    stale_id = rows[120][0]
    target = [(*r[:2], Decimal("1.00"), *r[3:7], r[7] - timedelta(minutes=30)) if r[0] == stale_id else r
              for r in target]  # the update of row 120 never arrived: old amount, old updated_at
    # tiny leaves and fanout force a multi-level key-range drill-down on every dialect
    result, f = run(world, make_target(world, engine, "mixed_tz", target), leaf_rows=2, fanout=4)
    assert f.status is Status.CRITICAL and result.status is Status.CRITICAL
    assert int(f.details["queries"].rsplit(" ", 1)[1]) >= 2  # drill-down levels
    assert (f.values["missing_rows"], f.values["duplicate_rows"], f.values["stale_rows"], f.values["extra_rows"]) == (
        3, 2, 1, 0)
    assert set(f.details["missing_keys"].split(", ")) == {str(k) for k in gone}
    assert set(f.details["duplicate_keys"].split(", ")) == {str(rows[20][0]), str(rows[300][0])}
    assert f.details["stale_keys"] == str(stale_id)
    assert "3 missing, 2 duplicated, 1 stale in 6 of" in f.summary
    assert f.labels["table"] == "payments.transactions" and f.labels["stage"] == "snowflake_raw"
    assert "e.g. missing id" in f.summary


@pytest.mark.parametrize("engine", ENGINES)
def test_a_whole_missing_hour_names_its_bucket(world: dict[str, Any], engine: str) -> None:
    hour = datetime(2026, 3, 28, 7, tzinfo=UTC)
    rows = replicated(world)
    lost = [r for r in rows if hour <= r[6] < hour + timedelta(hours=1)]
    _, f = run(world, make_target(world, engine, "hour_tz", [r for r in rows if r not in lost]))
    assert f.status is Status.CRITICAL
    assert f.values["missing_rows"] == len(lost) == 10
    assert f.values["differing_buckets"] == 1
    assert f"worst 2026-03-28T07:00Z: source {len(lost)} vs target 0" in f.summary
    assert f.details["buckets"].startswith("2026-03-28T07:00Z: source 10, target 0, missing 10")


def test_a_target_table_that_does_not_exist_is_an_error_that_says_so(world: dict[str, Any]) -> None:
    result, f = run(world, {"engine": "snowflake", "table": "recon.payments.no_such_table"})
    assert result.status is Status.ERROR and f.status is Status.ERROR
    assert "target table recon.payments.no_such_table does not exist on snowflake" in f.summary
    duck = world["dir"] / "empty.duckdb"
    load_duckdb(duck, "payments.other", [])
    _, f2 = run(world, {"engine": "duckdb", "path": str(duck), "table": "payments.transactions"})
    assert f2.status is Status.ERROR and "target table payments.transactions does not exist" in f2.summary


def test_rows_in_the_in_flight_window_are_not_a_breach(world: dict[str, Any]) -> None:
    """The target is 14 minutes behind and one old row's update (2 minutes ago) has not arrived: CDC delay."""
    rows = [r for r in world["rows"] if r[6] < NOW - timedelta(minutes=14)]
    old = rows[50]
    source = list(world["rows"])
    source[50] = (*old[:7], NOW - timedelta(minutes=2))
    load_source(world, "payments.tx_inflight", source)
    _, f = run(world, make_target(world, "duckdb", "inflight", rows),
               pair={"source": {"engine": "postgres", "table": "payments.tx_inflight"}})
    assert f.status is Status.OK, f.summary
    assert f.values["in_flight_rows"] == 1
    assert "1 recent updates still in flight" in f.summary


def test_dst_edges_and_session_time_zone_do_not_move_rows_between_buckets(world: dict[str, Any]) -> None:
    """Source sessions run in America/New_York; the row at 00:59:59.999999 UTC on the EU DST day belongs to the
    00:00Z hour and the one a microsecond later to 01:00Z, on both engines."""
    edge = datetime(2026, 3, 29, 0, 59, 59, 999999, tzinfo=UTC)
    extra: list[Row] = [(8_000_001, 1, Decimal("1.10"), "EUR", "settled", None, edge, edge),
                        (8_000_002, 1, None, "EUR", "settled", None, edge + timedelta(microseconds=1), edge)]
    source = world["rows"] + extra
    load_source(world, "payments.tx_dst", source)
    target = [r for r in source if r[6] < NOW - LAG and r[0] != 8_000_001]
    _, f = run(world, make_target(world, "duckdb", "dst", target), mode="full",
               pair={"source": {"engine": "postgres", "table": "payments.tx_dst"}})
    assert f.values["missing_rows"] == 1 and f.details["missing_keys"] == "8000001"
    assert f.details["buckets"].startswith("2026-03-29T00:00Z:")


def test_cdc_deletes_in_the_target_are_filtered_when_configured(world: dict[str, Any]) -> None:
    rows = replicated(world)
    tombstone = rows[77]
    source_rows = [r for r in world["rows"] if r[0] != tombstone[0]]
    load_source(world, "payments.tx_deleted", source_rows)
    target = make_target(world, "duckdb", "tombstones", rows, deleted=[None] * 77 + ["true"])
    src = {"source": {"engine": "postgres", "table": "payments.tx_deleted"}}
    _, ok = run(world, target, pair=src)
    assert ok.status is Status.OK, ok.summary
    _, bad = run(world, target, pair={**src, "target_deleted": None})
    assert bad.status is Status.CRITICAL and bad.details["extra_keys"] == str(tombstone[0])


def test_full_mode_catches_a_changed_column_that_checksum_mode_cannot(world: dict[str, Any]) -> None:
    rows = replicated(world)
    victim = rows[33][0]
    target = [(r[0], r[1], Decimal("123.45"), *r[3:]) if r[0] == victim else r for r in rows]
    spec = make_target(world, "duckdb", "silent_change", target)
    _, checksum = run(world, spec, mode="checksum")
    _, full = run(world, spec, mode="full")
    assert checksum.status is Status.OK
    assert full.status is Status.CRITICAL and full.details["stale_keys"] == str(victim)


def test_count_mode_and_tolerances(world: dict[str, Any]) -> None:
    rows = replicated(world)
    spec = make_target(world, "duckdb", "one_missing", rows[:5] + rows[6:])
    _, counted = run(world, spec, mode="count")
    assert counted.status is Status.CRITICAL
    assert counted.values["unresolved_rows"] == 1 and "1 rows of count difference" in counted.summary
    _, tolerated = run(world, spec, tolerance_abs=1)
    assert tolerated.status is Status.WARN and tolerated.details["missing_keys"] == str(rows[5][0])
    _, pct = run(world, spec, tolerance_pct=5.0)  # 1 of the 10 rows of that hour is 10%
    assert pct.status is Status.CRITICAL


def test_matched_closed_buckets_are_remembered_and_rechecked_later(world: dict[str, Any]) -> None:
    spec = make_target(world, "duckdb", "memory", replicated(world))
    memory = DictMemory()
    _, first = run(world, spec, memory=memory)
    assert first.values["buckets_skipped"] == 0
    clock = FakeClock(NOW + timedelta(minutes=5))
    _, second = run(world, spec, memory=memory, clock=clock)
    assert second.status is Status.OK
    assert second.values["buckets_skipped"] > 0
    assert second.values["buckets_checked"] < first.values["buckets_checked"]
    clock.advance(timedelta(hours=25))
    _, later = run(world, spec, memory=memory, clock=clock)
    assert later.values["buckets_skipped"] == 0  # recheck_after (24 h) passed: everything is compared again
    _, other_mode = run(world, spec, memory=memory, clock=FakeClock(NOW + timedelta(hours=25, minutes=1)), mode="full")
    assert other_mode.values["buckets_skipped"] == 0  # a remembered match is only valid for the same comparison


def test_one_pair_that_cannot_be_measured_does_not_blind_the_others(world: dict[str, Any]) -> None:
    """Issue 20: a dropped target table is that pair's ERROR finding; the other pair's loss still pages."""
    rows = replicated(world)
    lost = make_target(world, "duckdb", "lossy", rows[50:])
    base = {"source": {"engine": "postgres", "table": "payments.transactions"}, "key": ["id"],
            "time_column": "created_at", "version_column": "updated_at"}
    p = RowReconciliationParams.model_validate({"pairs": [
        {**base, "name": "payments.transactions", "target": lost},
        {**base, "name": "payments.refunds", "target": {"engine": "snowflake", "table": "recon.payments.dropped"}},
    ]})
    clock = FakeClock(NOW)
    ctx = CheckContext("reconcile", clock, clock.monotonic() + 60, world["sources"], DictMemory())
    result = RowReconciliationCheck(p).run(ctx)
    by_key = {f.key: f for f in result.findings}
    assert by_key["payments.transactions"].status is Status.CRITICAL
    assert by_key["payments.refunds"].status is Status.ERROR
    assert result.status is Status.CRITICAL


def test_the_sides_open_together_and_a_side_that_cannot_open_closes_the_other(world: dict[str, Any]) -> None:
    """Both sessions open at the same time (a Snowflake login need not wait for PostgreSQL's); when one cannot
    open, the pair's ERROR names it and the other side's session, already open, is closed again."""
    target = make_target(world, "duckdb", "opened", replicated(world))
    _, f = run(world, target, pair={"source": {"engine": "postgres", "table": "payments.transactions",
                                               "connection": "ledger"}})
    assert f.status is Status.ERROR and "no PostgreSQL connection named 'ledger'" in f.summary, f.summary
    duckdb.connect(target["path"]).close()  # refused while the check's read-only session on the file is open

    missing = {"engine": "duckdb", "path": str(world["dir"] / "never_written.duckdb"), "table": "payments.transactions"}
    _, f = run(world, missing)
    assert f.status is Status.ERROR and "never_written.duckdb does not exist" in f.summary, f.summary
    with psycopg.connect(world["dsn"]) as conn:
        open_sessions = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = 'reconcile' "
                                     "AND application_name = 'sentinel'").fetchone()
    assert open_sessions == (0,)
