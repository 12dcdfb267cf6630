"""Rows per bucket from row_reconciliation, read by volume_anomaly without a second scan: the pure parts.

The engine's per-bucket counts (zero included), the record row_reconciliation keeps, what volume_anomaly may take from
it, the read-only `CheckMemory.load_from`, and volume_anomaly judging from another check's memory without any source.
Times are fixed instants (a Thursday in 2026), never today's date.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError
from sentinel_checks._bucket_counts import counts_key, merged_counts, read_counts
from sentinel_checks.volume_anomaly import VolumeAnomalyCheck, VolumeAnomalyParams

from sentinel.api import CheckContext, DictMemory, Status
from sentinel.clock import FakeClock
from sentinel.sources.reconcile.engine import bucket_rows
from sentinel.sources.reconcile.model import BucketDiff, BucketRows
from sentinel.sources.reconcile.plan import Tier, plan_buckets

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
THU = datetime(2026, 11, 26, tzinfo=UTC)  # a Thursday, 00:00 UTC
SOURCE = ("payments.transactions", "created_at")
TARGET = ("novapay.raw.transactions", "created_at")


def test_the_engine_counts_every_compared_bucket_zero_included_and_no_skipped_one() -> None:
    plan = plan_buckets(THU + timedelta(hours=5, minutes=20), [Tier(HOUR, timedelta(hours=4))], timedelta(minutes=15))
    buckets = plan.buckets  # 01:00 .. 05:00-05:05 (open)
    per_bucket = {0: BucketDiff(buckets[0], 7, 7), 2: BucketDiff(buckets[2], 5, 4), -1: BucketDiff(buckets[0], 3, 3)}
    rows = bucket_rows(plan, per_bucket, skipped={buckets[1].start})
    assert rows == {buckets[0]: BucketRows(7, 7), buckets[2]: BucketRows(5, 4), buckets[3]: BucketRows(0, 0),
                    buckets[4]: BucketRows(0, 0)}  # the empty hour is a zero, the remembered one and no-time are absent
    assert buckets[4].end == plan.cutoff == THU + timedelta(hours=5, minutes=5)


def record(counted: list[tuple[datetime, datetime, int, int]], *, old: Any = None, fp: str = "fp1",
           counted_to: datetime = THU + timedelta(hours=15, minutes=5)) -> dict[str, Any]:
    return merged_counts(old, fp, counted, counted_to=counted_to, keep_from=THU - 2 * DAY, source=SOURCE, target=TARGET)


def test_counts_of_remembered_buckets_are_carried_over_until_they_leave_the_window() -> None:
    first = record([(THU - 3 * DAY, THU - 3 * DAY + HOUR, 1, 1), (THU, THU + HOUR, 10, 9), (THU + HOUR, THU + 2 * HOUR, 8, 8)])
    second = record([(THU + HOUR, THU + 2 * HOUR, 8, 7)], old=first)  # 00:00 was remembered, so not compared again
    assert second["buckets"] == {f"{THU.isoformat()}|{(THU + HOUR).isoformat()}": [10, 9],
                                 f"{(THU + HOUR).isoformat()}|{(THU + 2 * HOUR).isoformat()}": [8, 7]}
    assert record([], old=first, fp="fp2")["buckets"] == {}  # another pair definition: nothing carried over
    assert counts_key("payments.transactions") == "bucket_counts:payments.transactions"


def test_a_reader_gets_whole_buckets_of_its_side_only() -> None:
    rec = record([(THU + 14 * HOUR, THU + 15 * HOUR, 40, 38), (THU + 15 * HOUR, THU + 15 * HOUR + timedelta(minutes=5), 3, 3)])
    wanted = [THU + 14 * HOUR, THU + 15 * HOUR, THU + 13 * HOUR]
    source = read_counts(rec, "source", "payments.transactions", "created_at", HOUR, wanted)
    assert source.counts == {THU + 14 * HOUR: 40.0} and source.problem is None  # 15:00-15:05 is not the 15:00 hour
    assert source.counted_to == THU + timedelta(hours=15, minutes=5)
    target = read_counts(rec, "target", "RAW.TRANSACTIONS", "CREATED_AT", HOUR, wanted)
    assert target.counts == {THU + 14 * HOUR: 38.0}  # Snowflake names compare case-insensitively, database optional
    assert read_counts(rec, "source", "payments.transactions", None, DAY, [THU]).counts == {}  # no daily bucket


@pytest.mark.parametrize(("stored", "table", "column", "problem"), [
    (None, "payments.transactions", "created_at", "it has stored no bucket counts"),
    ({"version": 1, "source": {}}, "payments.transactions", "created_at", "its stored bucket counts are unreadable"),
    ("record", "payments.refunds", "created_at", "it counts payments.transactions, not payments.refunds"),
    ("record", "payments.transactions", "updated_at", "it buckets by created_at, this table by updated_at"),
])
def test_counts_of_another_table_or_time_column_are_refused_with_the_reason(
        stored: Any, table: str, column: str, problem: str) -> None:
    rec = record([(THU, THU + HOUR, 1, 1)]) if stored == "record" else stored
    reading = read_counts(rec, "source", table, column, HOUR, [THU])
    assert reading.counts == {}
    assert reading.problem is not None and reading.problem.startswith(problem)


def test_load_from_reads_another_checks_memory_and_cannot_change_it() -> None:
    others: dict[str, DictMemory] = {}
    mine = DictMemory(others)
    assert mine.load_from("reconcile", "k") is None  # no such check yet
    others["reconcile"] = DictMemory()
    others["reconcile"].save("k", {"buckets": {"a": [1, 2]}})
    value = mine.load_from("reconcile", "k")
    value["buckets"]["a"][0] = 99
    assert others["reconcile"].load("k") == {"buckets": {"a": [1, 2]}}  # a copy: the writer's value is untouched
    assert mine.load("k") is None  # and it is not this check's own memory


# ------------------------------------------------------------------------------ volume_anomaly judging from the counts
NOW = THU + timedelta(hours=15, minutes=20)  # judged with settle 15m: Thu 14:00-15:00


def volume(**table: Any) -> VolumeAnomalyCheck:
    return VolumeAnomalyCheck(VolumeAnomalyParams.model_validate({
        "backend": "postgres", "settle": "15m", "training_weeks": 4,
        "tables": [{"table": "payments.transactions", "source_table": "payments.transactions",
                    "reconciliation": {"check": "reconcile"}, **table}]}))


def run(check: VolumeAnomalyCheck, reconcile: DictMemory, now: datetime = NOW) -> Any:
    clock = FakeClock(now)
    # sources=None: judging from the reconciliation's counts must not touch any system
    ctx = CheckContext("volume", clock, clock.monotonic() + 30, None, DictMemory({"reconcile": reconcile}))
    return check.run(ctx).findings[0]


def reconciled(hours: dict[datetime, int], counted_to: datetime) -> DictMemory:
    memory = DictMemory()
    memory.save(counts_key("payments.transactions"),
                record([(at, at + HOUR, n, n) for at, n in hours.items()], counted_to=counted_to))
    return memory


def test_volume_anomaly_judges_from_the_reconciliations_counts_without_a_query() -> None:
    judged = THU + 14 * HOUR
    weeks = {judged - n * 7 * DAY: 100 for n in range(1, 5)}  # as if the window were 30 days of hours
    finding = run(volume(), reconciled({**weeks, judged: 40}, counted_to=THU + timedelta(hours=15, minutes=5)))
    assert finding.status is Status.CRITICAL, finding.summary
    assert finding.values["observed_rows"] == 40 and finding.values["expected_rows"] == 100
    assert finding.details["counted_by"] == "row_reconciliation 'reconcile' (pair payments.transactions), no query"


def test_stale_counts_without_a_fallback_query_say_why_the_table_cannot_be_judged() -> None:
    finding = run(volume(), reconciled({THU + 13 * HOUR: 90}, counted_to=THU + timedelta(hours=14, minutes=5)))
    assert finding.status is Status.ERROR
    assert finding.summary == (
        "payments.transactions: cannot count: row_reconciliation 'reconcile' (pair payments.transactions) has no count "
        "for Thu 14:00-15:00 UTC: its counts reach only Thu 14:05 UTC (stale: it has not run since the bucket ended, or "
        "this check's settle is shorter than its in_flight plus its interval); there is no timestamp_column to count "
        "payments.transactions itself")


def test_reconciliation_counts_are_rows_so_an_s3_bytes_check_cannot_use_them() -> None:
    with pytest.raises(ValidationError, match=re.escape("table x.y cannot use reconciliation row counts")):
        VolumeAnomalyParams.model_validate({"backend": "s3", "tables": [
            {"table": "x.y", "s3_bucket": "b", "s3_prefix": "p/", "reconciliation": {"check": "reconcile"}}]})
    with pytest.raises(ValidationError, match=re.escape("table x.y needs timestamp_column (or reconciliation)")):
        VolumeAnomalyParams.model_validate({"backend": "postgres", "tables": [{"table": "x.y"}]})


def test_counts_in_other_buckets_than_the_judged_one_say_so() -> None:
    daily = DictMemory()
    daily.save(counts_key("payments.transactions"),
               record([(THU - DAY, THU, 900, 900)], counted_to=THU + timedelta(hours=15, minutes=5)))
    finding = run(volume(), daily)
    assert finding.status is Status.ERROR
    assert "has no count for Thu 14:00-15:00 UTC: it keeps no bucket of exactly that span (its bucket tiers differ" \
        in finding.summary
