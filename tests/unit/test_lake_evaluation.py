"""Pure judgement of the lake checks (S3 arrival, Snowpipe, freshness) and the text of the production SQL."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError
from sentinel_checks.s3_partition_arrival import (
    ObjectInfo,
    PartitionStats,
    PrefixObservation,
    S3PartitionArrivalParams,
    day_bounds,
    evaluate_prefix,
    partition_dates,
)
from sentinel_checks.snowpipe_load_history import (
    PipeMemory,
    SnowpipeLoadHistoryParams,
    SnowpipeTarget,
    evaluate_copy_history,
    evaluate_pipe,
)
from sentinel_checks.warehouse_freshness import FreshnessTarget, due_day, evaluate_age, evaluate_deadline

from sentinel.api import Status
from sentinel.errors import SourceError
from sentinel.sources.snowpipe import CopyHistoryRow, PipeStatus, SnowpipeQueries, TableName, normalise_status

PREFIX = "raw/payments/transactions/"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def objs(day: date, n: int, when: datetime, size: int = 1000) -> list[ObjectInfo]:
    return [ObjectInfo(f"{PREFIX}dt={day}/part-{i:05d}.parquet", size, when) for i in range(n)]


def observe(
    now: datetime,
    *,
    today: list[ObjectInfo] | None = None,
    yesterday: list[ObjectInfo] | None = None,
    missing: tuple[date, ...] = (),
    history: dict[date, PartitionStats] | None = None,
) -> PrefixObservation:
    d = now.date()
    present = {d - timedelta(days=i) for i in range(1, 30)} - set(missing)
    if today:
        present.add(d)
    y = d - timedelta(days=1)
    return PrefixObservation(
        PREFIX,
        frozenset(present),
        today or [],
        yesterday if yesterday is not None else objs(y, 50, at(f"{y}T23:59:00")),
        history if history is not None else {},
    )


P = S3PartitionArrivalParams(bucket="novapay-raw", prefixes=[PREFIX])


# --- S3 partition arrival ----------------------------------------------------------------------------------


def test_today_missing_at_0020_is_critical_but_not_before_the_deadline() -> None:
    late = evaluate_prefix(observe(at("2025-01-15T00:20:00")), at("2025-01-15T00:20:00"), P)
    assert late.status is Status.CRITICAL
    assert "today's partition dt=2025-01-15 is missing 20m after midnight UTC (deadline 15m)" in late.summary
    assert late.labels["table"] == "payments.transactions" and late.labels["stage"] == "s3"
    early = evaluate_prefix(observe(at("2025-01-15T00:10:00")), at("2025-01-15T00:10:00"), P)
    assert early.status is Status.OK and "not due until 15m after midnight" in early.summary


def test_newest_file_age_against_warn_and_critical() -> None:
    now = at("2025-01-15T10:00:00")
    obs = observe(now, today=objs(now.date(), 3, now - timedelta(minutes=40)))
    assert evaluate_prefix(obs, now, P).status is Status.CRITICAL  # 15m / 30m defaults
    lenient = P.model_copy(
        update={"newest_warn_after": timedelta(minutes=30), "newest_critical_after": timedelta(hours=1)}
    )
    f = evaluate_prefix(obs, now, lenient)
    assert f.status is Status.WARN
    assert "newest file in dt=2025-01-15 is 40m old (threshold 30m)" in f.summary
    assert f.values["newest_object_age_seconds"] == 2400


def test_gap_in_the_last_days_is_critical_and_named() -> None:
    now = at("2025-01-15T10:00:00")
    f = evaluate_prefix(observe(now, today=objs(now.date(), 3, now), missing=(date(2025, 1, 12),)), now, P)
    assert f.status is Status.CRITICAL
    assert "1 partition(s) missing in the last 7 days: dt=2025-01-12" in f.summary


def test_files_landing_long_after_close_are_a_warning() -> None:
    now = at("2025-01-15T10:00:00")
    y = date(2025, 1, 14)
    late = [*objs(y, 40, at("2025-01-14T23:00:00")), ObjectInfo(f"{PREFIX}dt={y}/late.parquet", 10, at("2025-01-15T03:30:00"))]
    f = evaluate_prefix(observe(now, today=objs(now.date(), 3, now), yesterday=late), now, P)
    assert f.status is Status.WARN
    assert "1 file(s) landed in dt=2025-01-14 after its close + 1h00m (latest 3h30m after midnight)" in f.summary


def test_partition_a_tenth_of_the_same_weekday_median_is_critical() -> None:
    now = at("2025-01-15T10:00:00")
    y = date(2025, 1, 14)
    history = {y - timedelta(weeks=w): PartitionStats(100, 100 * 1_000_000) for w in (1, 2, 3, 4)}
    small = objs(y, 10, at("2025-01-14T12:00:00"), size=1_000_000)
    f = evaluate_prefix(observe(now, today=objs(now.date(), 3, now), yesterday=small, history=history), now, P)
    assert f.status is Status.CRITICAL
    assert f.values["size_ratio"] == pytest.approx(0.1)
    assert "10 files / 9.5 MiB, 10% of the Tuesday median (100 files / 95.4 MiB over 4 weeks)" in f.summary
    normal = objs(y, 95, at("2025-01-14T12:00:00"), size=1_000_000)
    assert (
        evaluate_prefix(observe(now, today=objs(now.date(), 3, now), yesterday=normal, history=history), now, P).status
        is Status.OK
    )


def test_midnight_boundary_in_utc_and_a_dst_zone() -> None:
    # 2025-03-30: Europe/Berlin springs forward; its day is 23 hours long.
    start, end = day_bounds(date(2025, 3, 30), ZoneInfo("Europe/Berlin"))
    assert (end - start) == timedelta(hours=23)
    # In UTC, 23:59:59 belongs to the 29th, 00:00:01 to the 30th (not due yet).
    before = evaluate_prefix(observe(at("2025-03-29T23:59:59")), at("2025-03-29T23:59:59"), P)
    assert "dt=2025-03-29 is missing" in before.summary and before.status is Status.CRITICAL
    after = evaluate_prefix(observe(at("2025-03-30T00:00:01")), at("2025-03-30T00:00:01"), P)
    assert after.status is Status.OK
    # Berlin partitions: 23:20 UTC on the 29th is 00:20 local on the 30th -> the 30th is 20 minutes overdue.
    berlin = P.model_copy(update={"timezone": "Europe/Berlin"})
    now = at("2025-03-29T23:20:00")
    obs = PrefixObservation(
        PREFIX,
        frozenset(date(2025, 3, 29) - timedelta(days=i) for i in range(10)),
        [],
        objs(date(2025, 3, 29), 5, at("2025-03-29T20:00:00")),
        {},
    )
    f = evaluate_prefix(obs, now, berlin)
    assert f.status is Status.CRITICAL
    assert "dt=2025-03-30 is missing 20m after midnight Europe/Berlin" in f.summary


def test_partition_dates_ignores_foreign_folders() -> None:
    got = partition_dates([f"{PREFIX}dt=2025-01-14/", f"{PREFIX}dt=bogus/", f"{PREFIX}_temporary/"], PREFIX, "dt")
    assert got == frozenset({date(2025, 1, 14)})


def test_params_refuse_bad_zone_and_inverted_thresholds() -> None:
    with pytest.raises(ValidationError, match="unknown time zone"):
        S3PartitionArrivalParams(bucket="abc", prefixes=["x/"], timezone="Mars/Olympus")
    with pytest.raises(ValidationError, match="newest_critical_after"):
        S3PartitionArrivalParams(bucket="abc", prefixes=["x/"], newest_warn_after="1h", newest_critical_after="5m")


# --- Snowpipe ----------------------------------------------------------------------------------------------

TARGET = SnowpipeTarget(
    table="NOVAPAY.RAW.TRANSACTIONS", pipe="NOVAPAY.RAW.TRANSACTIONS_PIPE", source_table="payments.transactions"
)
SP = SnowpipeLoadHistoryParams(targets=[TARGET])


def row(status: str, when: datetime, **kw: object) -> CopyHistoryRow:
    base: dict[str, object] = dict(
        file_name="raw/payments/transactions/dt=2025-01-15/part-1.parquet",
        stage_location="s3://novapay-raw/",
        last_load_at=when,
        row_count=1000,
        row_parsed=1000,
        file_size=2048,
        first_error_message=None,
        first_error_line_number=None,
        first_error_column_name=None,
        error_count=0,
        status=normalise_status(status),
        pipe_name="TRANSACTIONS_PIPE",
        pipe_received_at=when,
    )
    base.update(kw)
    return CopyHistoryRow(**base)  # type: ignore[arg-type]


def test_failed_file_carries_its_first_error_into_the_summary() -> None:
    now = at("2025-01-15T10:00:00")
    rows = [
        row("Loaded", now - timedelta(minutes=5)),
        row(
            "Load failed",
            now - timedelta(minutes=3),
            file_name="raw/payments/transactions/dt=2025-01-15/part-7.parquet",
            row_count=0,
            error_count=1,
            first_error_message="Numeric value 'abc' is not recognized",
            first_error_line_number=12,
            first_error_column_name='"TRANSACTIONS"["AMOUNT":3]',
        ),
    ]
    f = evaluate_copy_history(TARGET, rows, now, SP)
    assert f.status is Status.CRITICAL
    assert (
        "1 file(s) LOAD_FAILED in the last 1h00m, at 2025-01-15 09:57 UTC (3m ago): "
        "s3://novapay-raw/raw/payments/transactions/dt=2025-01-15/part-7.parquet" in f.summary
    )
    assert "Numeric value 'abc' is not recognized (line 12" in f.summary
    assert f.values["files_failed"] == 1 and f.values["rows_loaded"] == 1000


def test_no_recent_load_is_critical_with_the_age() -> None:
    now = at("2025-01-15T10:00:00")
    f = evaluate_copy_history(TARGET, [row("Loaded", now - timedelta(minutes=50))], now, SP)
    assert f.status is Status.CRITICAL and "last successful load 50m ago (threshold 45m)" in f.summary
    assert evaluate_copy_history(TARGET, [], now, SP).status is Status.CRITICAL


def status_json(**kw: object) -> PipeStatus:
    data: dict[str, object] = {
        "executionState": "RUNNING",
        "pendingFileCount": 0,
        "lastIngestedTimestamp": "2025-01-15T09:58:00.123Z",
        "lastIngestedFilePath": "raw/payments/transactions/dt=2025-01-15/part-9.parquet",
        "notificationChannelName": "arn:aws:sqs:us-east-1:123:sf-snowpipe",
        "numOutstandingMessagesOnChannel": 0,
        "lastReceivedMessageTimestamp": "2025-01-15T09:59:00.000Z",
        "lastForwardedMessageTimestamp": "2025-01-15T09:59:01.000Z",
    }
    data.update(kw)
    return PipeStatus.parse("NOVAPAY.RAW.TRANSACTIONS_PIPE", json.dumps(data))


def test_pipe_states() -> None:
    now = at("2025-01-15T10:00:00")
    assert evaluate_pipe(TARGET, status_json(), None, now, SP).status is Status.OK
    paused = evaluate_pipe(TARGET, status_json(executionState="PAUSED"), None, now, SP)
    assert paused.status is Status.CRITICAL and "pipe is PAUSED" in paused.summary
    stopped = evaluate_pipe(TARGET, status_json(executionState="STOPPED_STAGE_ALTERED"), None, now, SP)
    assert stopped.status is Status.CRITICAL


def test_pending_growing_without_ingestion_is_critical_only_when_growing() -> None:
    now = at("2025-01-15T10:00:00")
    stale = "2025-01-15T09:30:00.000Z"
    first = status_json(pendingFileCount=12, lastIngestedTimestamp=stale)
    f1 = evaluate_pipe(TARGET, first, None, now, SP)
    assert f1.status is Status.WARN and "12 files pending and no ingestion for 30m" in f1.summary
    mem = PipeMemory.of(first, now)
    later = now + timedelta(minutes=5)
    f2 = evaluate_pipe(TARGET, status_json(pendingFileCount=40, lastIngestedTimestamp=stale), mem, later, SP)
    assert f2.status is Status.CRITICAL
    assert "40 files pending (was 12 at the previous run) and no ingestion for 35m" in f2.summary
    # ingestion moved on: backlog but not stuck
    moving = status_json(pendingFileCount=40, lastIngestedTimestamp="2025-01-15T10:04:00.000Z")
    assert evaluate_pipe(TARGET, moving, mem, later, SP).status is Status.OK


def test_pipe_status_json_parsing() -> None:
    st = status_json(
        oldestPendingFilePath="raw/x.parquet",
        oldestFileTimestamp="2025-01-15T09:00:00.000Z",
        error="Remote file 'x' was not found",
        lastPipeErrorTimestamp="2025-01-15T09:10:00.000Z",
    )
    assert st.last_ingested_at == datetime(2025, 1, 15, 9, 58, 0, 123000, tzinfo=UTC)
    assert st.oldest_file_at == at("2025-01-15T09:00:00") and st.error == "Remote file 'x' was not found"
    with pytest.raises(SourceError, match="not JSON"):
        PipeStatus.parse("P", "Pipe 'P' does not exist")
    assert normalise_status("Partially loaded") == "PARTIALLY_LOADED" == normalise_status("PARTIALLY LOADED")


def test_production_sql_is_the_real_snowflake_sql() -> None:
    class NoRunner:
        def query(
            self, sql: str, params: dict[str, object] | None = None, *, timeout: float | None = None
        ) -> list[dict[str, object]]:
            raise AssertionError("not called")

    q = SnowpipeQueries(NoRunner())
    table = TableName.parse("novapay.raw.transactions")
    sql = q.copy_history_sql(table)
    assert sql.startswith(
        "SELECT FILE_NAME, STAGE_LOCATION, LAST_LOAD_TIME, ROW_COUNT, ROW_PARSED, FILE_SIZE, FIRST_ERROR_MESSAGE"
    )
    assert (
        "FROM TABLE(NOVAPAY.INFORMATION_SCHEMA.COPY_HISTORY(TABLE_NAME => %(table_name)s, "
        "START_TIME => %(start_time)s::TIMESTAMP_LTZ)) ORDER BY LAST_LOAD_TIME"
    ) in sql
    params = q.copy_history_params(table, at("2025-01-15T09:00:00"))
    assert params == {"table_name": "NOVAPAY.RAW.TRANSACTIONS", "start_time": "2025-01-15T09:00:00+00:00"}
    assert "FROM TABLE(INFORMATION_SCHEMA.COPY_HISTORY(" in q.copy_history_sql(TableName.parse("RAW.T"))
    assert q.pipe_status_sql() == "SELECT SYSTEM$PIPE_STATUS(%(pipe_name)s) AS PIPE_STATUS"
    assert q.pipe_status_params("NOVAPAY.RAW.TRANSACTIONS_PIPE") == {"pipe_name": "NOVAPAY.RAW.TRANSACTIONS_PIPE"}
    with pytest.raises(ValueError, match="plain identifiers"):
        TableName.parse("raw.t; drop table x")


# --- warehouse freshness -----------------------------------------------------------------------------------

FCT = FreshnessTarget(
    table="ANALYTICS.FCT_TRANSACTIONS",
    column="_loaded_at",
    critical_after="15m",
    warn_after="10m",
    source_table="payments.transactions",
)
DAILY = FreshnessTarget(table="ANALYTICS.FCT_DAILY_VOLUME", column="volume_date", mode="deadline", deadline="1h")


def test_freshness_20m_on_a_15m_sla_is_critical_with_the_numbers() -> None:
    now = at("2025-01-15T10:00:00")
    f = evaluate_age(FCT, datetime(2025, 1, 15, 9, 40), now)  # naive = TIMESTAMP_NTZ = UTC
    assert f.status is Status.CRITICAL
    assert (
        f.summary
        == "ANALYTICS.FCT_TRANSACTIONS is 20m old, 5m over its 15m SLA (newest _loaded_at 2025-01-15 09:40:00 UTC)"
    )
    assert f.values == {"age_seconds": 1200.0, "sla_seconds": 900.0}
    assert evaluate_age(FCT, at("2025-01-15T09:48:00"), now).status is Status.WARN
    assert evaluate_age(FCT, at("2025-01-15T09:55:00"), now).status is Status.OK
    assert evaluate_age(FCT, None, now).status is Status.CRITICAL


def test_daily_aggregate_deadline_at_midnight_and_one() -> None:
    utc = ZoneInfo("UTC")
    assert due_day(at("2025-01-16T00:59:00"), timedelta(hours=1), utc) == date(2025, 1, 14)
    assert due_day(at("2025-01-16T01:00:00"), timedelta(hours=1), utc) == date(2025, 1, 15)
    missing = evaluate_deadline(DAILY, date(2025, 1, 14), at("2025-01-16T01:05:00"), utc)
    assert missing.status is Status.CRITICAL
    assert missing.summary == (
        "ANALYTICS.FCT_DAILY_VOLUME has no row for 2025-01-15 at 01:05 UTC, due by 01:00 UTC "
        "(5m late); latest is 2025-01-14"
    )
    not_yet = evaluate_deadline(DAILY, date(2025, 1, 14), at("2025-01-16T00:55:00"), utc)
    assert not_yet.status is Status.OK and "2025-01-15 is due by 2025-01-16 01:00 UTC" in not_yet.summary
    assert evaluate_deadline(DAILY, date(2025, 1, 15), at("2025-01-16T01:05:00"), utc).status is Status.OK


def test_s3_source_uses_standard_retries_and_timeouts() -> None:
    from sentinel.sources.s3 import S3Source

    src = S3Source(region="eu-west-1", endpoint_url="http://127.0.0.1:9", connect_timeout=3, read_timeout=7)
    config = src._client.meta.config
    assert config.retries == {"mode": "standard", "total_max_attempts": 4}
    assert (config.connect_timeout, config.read_timeout) == (3, 7)


def test_before_the_deadline_a_sink_stopped_yesterday_evening_is_still_caught() -> None:
    now = at("2025-01-15T00:05:00")
    y = date(2025, 1, 14)
    stopped = observe(now, yesterday=objs(y, 30, at("2025-01-14T22:00:00")))
    f = evaluate_prefix(stopped, now, P)
    assert f.status is Status.CRITICAL
    assert "newest file in dt=2025-01-14 is 2h05m old (threshold 30m)" in f.summary
    running = evaluate_prefix(observe(now, yesterday=objs(y, 30, at("2025-01-14T23:58:00"))), now, P)
    assert running.status is Status.OK
    assert running.summary.endswith("dt=2025-01-15 has 0 files (not due until 15m after midnight), newest file 7m old; no gaps")
