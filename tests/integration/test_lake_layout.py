"""NovaPay's lake as it is laid out (issue 20, point 1) on a real moto S3 server: the daily transaction summary is
due by 01:00 UTC (mode: daily), and prefixes carry their pipeline table and stage."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from freezegun import freeze_time
from sentinel_checks.s3_partition_arrival import S3PartitionArrivalCheck, S3PartitionArrivalParams

from devstack.s3 import S3Service
from sentinel.api import DictMemory, Status
from sentinel.clock import FakeClock
from sentinel.config.checks_spec import CheckSpec
from sentinel.model import CheckResult
from sentinel.redact import Redactor
from sentinel.runner import CheckRunner, PlannedCheck
from tests.integration.test_s3_partition_arrival import at, sources_for

pytestmark = pytest.mark.integration

SUMMARY = "processed/daily_transaction_summary/"
_buckets = itertools.count()


@pytest.fixture
def bucket(s3_server_inprocess: S3Service) -> Iterator[str]:
    name = f"lake-layout-{next(_buckets)}"
    s3_server_inprocess.client().create_bucket(Bucket=name)
    yield name


def write_summary(svc: S3Service, bucket: str, day: date, size: int = 4096) -> None:
    written = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=UTC) + timedelta(minutes=40)
    with freeze_time(written):
        svc.client().put_object(Bucket=bucket, Key=f"{SUMMARY}dt={day}/part-0.parquet", Body=b"x" * size)
        svc.client().put_object(Bucket=bucket, Key=f"{SUMMARY}dt={day}/_SUCCESS", Body=b"")


def run_daily(svc: S3Service, bucket: str, now: datetime) -> CheckResult:
    params = S3PartitionArrivalParams(
        bucket=bucket, prefixes=[SUMMARY], mode="daily", partition_deadline=timedelta(hours=1), size_weeks=4,
        table_labels={SUMMARY: "payments.transactions"}, stage="processed")
    spec = CheckSpec(id="lake_processed", kind="s3_partition_arrival", timeout=timedelta(seconds=60))
    sources = sources_for(svc)
    runner = CheckRunner(sources, lambda _: DictMemory(), FakeClock(now), Redactor.from_settings(sources.settings))
    return runner.run_one(PlannedCheck(spec, S3PartitionArrivalCheck(params), "s3-partition-missing"))


def seed_weeks(svc: S3Service, bucket: str, last: date, days: int = 29) -> None:
    for i in range(days):
        write_summary(svc, bucket, last - timedelta(days=i))


def test_daily_summary_present_before_the_deadline_is_ok(s3_server_inprocess: S3Service, bucket: str) -> None:
    now = at("2025-01-16T00:50:00")  # the 15th is not due until 01:00: the 14th is judged
    seed_weeks(s3_server_inprocess, bucket, date(2025, 1, 14))
    result = run_daily(s3_server_inprocess, bucket, now)
    (f,) = result.findings
    assert f.status is Status.OK, f.summary
    assert f.summary == f"s3 {SUMMARY}: dt=2025-01-14 is there (1 files, 4.0 KiB); no gaps"
    assert f.labels == {"table": "payments.transactions", "stage": "processed", "prefix": SUMMARY}
    assert f.values["seconds_past_deadline"] == 0
    assert result.summary == "all 1 daily outputs in s3://" + bucket + " arrived by their deadline"


def test_daily_summary_missing_after_0100_is_critical_and_late(s3_server_inprocess: S3Service, bucket: str) -> None:
    now = at("2025-01-16T01:10:00")
    seed_weeks(s3_server_inprocess, bucket, date(2025, 1, 14))
    result = run_daily(s3_server_inprocess, bucket, now)
    (f,) = result.findings
    assert f.status is Status.CRITICAL
    assert f.summary == f"s3 {SUMMARY}: dt=2025-01-15 is missing at 01:10 UTC, due by 01:00 UTC (10m late)"
    assert f.values["seconds_past_deadline"] == 600  # what the daily-aggregates deadline SLA reads


def test_a_tiny_daily_summary_is_implausible(s3_server_inprocess: S3Service, bucket: str) -> None:
    now = at("2025-01-16T02:00:00")
    seed_weeks(s3_server_inprocess, bucket, date(2025, 1, 14))
    write_summary(s3_server_inprocess, bucket, date(2025, 1, 15), size=100)
    result = run_daily(s3_server_inprocess, bucket, now)
    (f,) = result.findings
    assert f.status is Status.CRITICAL, f.summary
    assert "dt=2025-01-15 holds 1 files / 100 B, 2% of the Wednesday median (1 files / 4.0 KiB over 4 weeks)" in f.summary
