"""s3_partition_arrival against a real moto S3 server (in-process, so object LastModified follows freezegun)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from freezegun import freeze_time
from pydantic import SecretStr
from sentinel_checks.s3_partition_arrival import S3PartitionArrivalCheck, S3PartitionArrivalParams

from devstack.s3 import S3Service
from sentinel.api import DictMemory, Status
from sentinel.clock import FakeClock
from sentinel.config.checks_spec import CheckSpec
from sentinel.config.settings import Settings
from sentinel.model import CheckResult
from sentinel.redact import Redactor
from sentinel.runner import CheckRunner, PlannedCheck
from sentinel.sources import Sources

pytestmark = pytest.mark.integration

PREFIX = "raw/payments/transactions/"
_buckets = itertools.count()


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
def bucket(s3_server_inprocess: S3Service) -> Iterator[str]:
    name = f"lake-test-{next(_buckets)}"
    s3_server_inprocess.client().create_bucket(Bucket=name)
    yield name


def sources_for(svc: S3Service, access_key: str | None = None, secret_key: str | None = None) -> Sources:
    return Sources(
        Settings(
            aws_endpoint_url=svc.endpoint_url,
            aws_region=svc.region,
            aws_access_key_id=SecretStr(access_key or svc.access_key_id),
            aws_secret_access_key=SecretStr(secret_key or svc.secret_access_key),
        )
    )


def put(svc: S3Service, bucket: str, day: date, when: datetime, n: int = 1, size: int = 64, start: int = 0) -> None:
    """n objects in dt=<day>/ whose LastModified is `when` (moto stamps objects with the frozen time)."""
    client = svc.client()
    with freeze_time(when):
        for i in range(start, start + n):
            client.put_object(Bucket=bucket, Key=f"{PREFIX}dt={day}/part-{i:05d}.parquet", Body=b"x" * size)


def seed_history(svc: S3Service, bucket: str, today: date, days: int = 7, skip: tuple[date, ...] = ()) -> None:
    """One small file in each closed partition of the last `days` days."""
    for i in range(1, days + 1):
        d = today - timedelta(days=i)
        if d not in skip:
            put(svc, bucket, d, datetime.combine(d, datetime.min.time(), tzinfo=UTC) + timedelta(hours=12))


def run(svc: S3Service, bucket: str, now: datetime, sources: Sources | None = None, _timeout: float = 60,
        **params: Any) -> CheckResult:
    params.setdefault("size_weeks", 0)
    check = S3PartitionArrivalCheck(S3PartitionArrivalParams(bucket=bucket, prefixes=[PREFIX], **params))
    sources = sources or sources_for(svc)
    spec = CheckSpec(
        id="s3_arrival", kind="s3_partition_arrival", timeout=timedelta(seconds=_timeout), labels={"stage": "s3"}
    )
    runner = CheckRunner(sources, lambda _: DictMemory(), FakeClock(now), Redactor.from_settings(sources.settings))
    return runner.run_one(PlannedCheck(spec, check, "s3-partition-missing"))


def test_today_missing_at_0020_is_critical(s3_server_inprocess: S3Service, bucket: str) -> None:
    now = at("2025-01-15T00:20:00")
    seed_history(s3_server_inprocess, bucket, now.date())
    result = run(s3_server_inprocess, bucket, now)
    assert result.status is Status.CRITICAL
    (finding,) = result.findings
    assert "today's partition dt=2025-01-15 is missing 20m after midnight UTC (deadline 15m)" in finding.summary
    assert finding.labels["table"] == "payments.transactions"
    assert result.summary.startswith(f"1/1 S3 prefixes in s3://{bucket} have arrival problems")


def test_present_and_fresh_is_ok(s3_server_inprocess: S3Service, bucket: str) -> None:
    now = at("2025-01-15T10:00:00")
    seed_history(s3_server_inprocess, bucket, now.date())
    put(s3_server_inprocess, bucket, now.date(), now - timedelta(minutes=2), n=3)
    result = run(s3_server_inprocess, bucket, now)
    assert result.status is Status.OK, result.summary
    assert result.findings[0].summary == f"s3 {PREFIX}: dt=2025-01-15 has 3 files, newest file 2m old; no gaps"


def test_newest_file_40_minutes_old_warns_or_pages_per_thresholds(s3_server_inprocess: S3Service, bucket: str) -> None:
    now = at("2025-01-15T10:00:00")
    seed_history(s3_server_inprocess, bucket, now.date())
    put(s3_server_inprocess, bucket, now.date(), now - timedelta(minutes=40), n=2)
    crit = run(s3_server_inprocess, bucket, now)  # defaults: warn 15m, critical 30m
    assert crit.status is Status.CRITICAL
    assert "newest file in dt=2025-01-15 is 40m old (threshold 30m)" in crit.findings[0].summary
    warn = run(s3_server_inprocess, bucket, now, newest_warn_after="30m", newest_critical_after="1h")
    assert warn.status is Status.WARN
    assert warn.findings[0].values["newest_object_age_seconds"] == 2400


def test_gap_in_yesterdays_partitions_is_critical(s3_server_inprocess: S3Service, bucket: str) -> None:
    now = at("2025-01-15T10:00:00")
    seed_history(s3_server_inprocess, bucket, now.date(), skip=(date(2025, 1, 14),))
    put(s3_server_inprocess, bucket, now.date(), now - timedelta(minutes=1))
    result = run(s3_server_inprocess, bucket, now)
    assert result.status is Status.CRITICAL
    assert "1 partition(s) missing in the last 7 days: dt=2025-01-14" in result.findings[0].summary


def test_late_files_in_yesterdays_partition_warn(s3_server_inprocess: S3Service, bucket: str) -> None:
    now = at("2025-01-15T10:00:00")
    seed_history(s3_server_inprocess, bucket, now.date())
    put(s3_server_inprocess, bucket, now.date(), now - timedelta(minutes=1))
    put(s3_server_inprocess, bucket, date(2025, 1, 14), at("2025-01-15T02:10:00"), start=900)
    result = run(s3_server_inprocess, bucket, now)
    assert result.status is Status.WARN
    assert (
        "1 file(s) landed in dt=2025-01-14 after its close + 1h00m (latest 2h10m after midnight)"
        in result.findings[0].summary
    )


def test_partition_a_tenth_of_its_usual_size(s3_server_inprocess: S3Service, bucket: str) -> None:
    now = at("2025-01-15T10:00:00")  # Wednesday; yesterday is a Tuesday
    for i in range(2, 30):  # 4 weeks of closed partitions before yesterday
        d = now.date() - timedelta(days=i)
        with freeze_time(datetime.combine(d, datetime.min.time()) + timedelta(hours=12)):
            s3_server_inprocess.bulk_put(
                bucket, (f"{PREFIX}dt={d}/part-{j:05d}.parquet" for j in range(10)), b"x" * 1000
            )
    put(s3_server_inprocess, bucket, date(2025, 1, 14), at("2025-01-14T12:00:00"), n=1, size=1000)  # 1 file: a tenth
    put(s3_server_inprocess, bucket, now.date(), now - timedelta(minutes=1))
    memory = DictMemory()
    check = S3PartitionArrivalCheck(S3PartitionArrivalParams(bucket=bucket, prefixes=[PREFIX], size_weeks=4))
    sources = sources_for(s3_server_inprocess)
    spec = CheckSpec(id="s3_arrival", kind="s3_partition_arrival", timeout=timedelta(seconds=60))
    runner = CheckRunner(sources, lambda _: memory, FakeClock(now), Redactor.from_settings(sources.settings))
    result = runner.run_one(PlannedCheck(spec, check, "s3-partition-missing"))
    assert result.status is Status.CRITICAL
    f = result.findings[0]
    assert f.values["size_ratio"] == pytest.approx(0.1)
    assert (
        "dt=2025-01-14 holds 1 files / 1000 B, 10% of the Tuesday median (10 files / 9.8 KiB over 4 weeks)" in f.summary
    )
    # closed partitions' sizes are remembered: the next run lists only what can still change
    assert memory.load(f"sizes:{PREFIX}") == {
        d: [10, 10000] for d in ("2025-01-07", "2024-12-31", "2024-12-24", "2024-12-17")
    }


def test_2500_keys_are_all_listed(s3_server_inprocess: S3Service, bucket: str) -> None:
    """Listing pages past 1,000 keys (ListObjectsV2 returns at most 1,000 per page)."""
    now = at("2025-01-15T10:00:00")
    seed_history(s3_server_inprocess, bucket, now.date())
    with freeze_time(now - timedelta(minutes=3)):
        s3_server_inprocess.bulk_put(bucket, (f"{PREFIX}dt=2025-01-15/part-{i:05d}.parquet" for i in range(2500)))
    listed = sources_for(s3_server_inprocess).s3().list_objects(bucket, f"{PREFIX}dt=2025-01-15/")
    assert len(listed) == 2500 and len({o.key for o in listed}) == 2500
    assert max(o.last_modified for o in listed) == now - timedelta(minutes=3)
    result = run(s3_server_inprocess, bucket, now)
    assert result.status is Status.OK, result.summary
    assert result.findings[0].values["today_objects"] == 2500
    assert result.findings[0].values["newest_object_age_seconds"] == 180


def test_access_denied_is_an_error_naming_s3_listbucket(s3_server: S3Service) -> None:
    """Real IAM enforcement in moto: a user with no policy gets AccessDenied from ListObjectsV2."""
    name = "lake-denied"
    s3_server.client().create_bucket(Bucket=name)
    key_id, secret = s3_server.create_user_without_permissions("sentinel-no-perms")
    sources = sources_for(s3_server, key_id, secret)
    with s3_server.enforce_iam():
        result = run(s3_server, name, at("2025-01-15T10:00:00"), sources=sources)
    assert result.status is Status.ERROR
    assert f"S3 ListObjectsV2 on s3://{name}/{PREFIX} failed: AccessDenied (HTTP 403)" in result.summary
    assert f"s3:ListBucket on arn:aws:s3:::{name}" in result.summary
    assert secret not in result.summary and secret not in str(result.to_json())


def test_missing_bucket_is_an_error_with_a_hint(s3_server: S3Service) -> None:
    result = run(s3_server, "no-such-bucket-here", at("2025-01-15T10:00:00"))
    assert result.status is Status.ERROR
    assert "NoSuchBucket" in result.summary and "does not exist in this account/region" in result.summary


def test_unreachable_endpoint_is_an_error_within_the_deadline() -> None:
    from devstack.base import free_port

    sources = Sources(
        Settings(
            aws_endpoint_url=f"http://127.0.0.1:{free_port()}",
            aws_connect_timeout_seconds=1,
            aws_access_key_id=SecretStr("AKIAEXAMPLE"),
            aws_secret_access_key=SecretStr("wJalrXUtnFEMI-secret"),
        )
    )
    check = S3PartitionArrivalCheck(S3PartitionArrivalParams(bucket="whatever", prefixes=[PREFIX]))
    spec = CheckSpec(id="s3_arrival", kind="s3_partition_arrival", timeout=timedelta(seconds=30))
    result = CheckRunner(
        sources, lambda _: DictMemory(), FakeClock(), Redactor.from_settings(sources.settings)
    ).run_one(PlannedCheck(spec, check, "s3-partition-missing"))
    assert result.status is Status.ERROR
    assert "EndpointConnectionError" in result.summary and "wJalrXUtnFEMI-secret" not in result.summary


def test_dst_day_partitions_in_a_local_zone(s3_server_inprocess: S3Service, bucket: str) -> None:
    """Europe/Berlin springs forward on 2025-03-30: local midnight is 23:00 UTC the day before, the day 23h long."""
    now = at("2025-03-29T23:20:00")  # 00:20 in Berlin on the 30th
    seed_history(s3_server_inprocess, bucket, date(2025, 3, 30))
    missing = run(s3_server_inprocess, bucket, now, timezone="Europe/Berlin")
    assert missing.status is Status.CRITICAL
    assert "today's partition dt=2025-03-30 is missing 20m after midnight Europe/Berlin" in missing.findings[0].summary
    # a file written at 00:10 Berlin (23:10 UTC, still CET) lands in the 30th and is 10 minutes old
    put(s3_server_inprocess, bucket, date(2025, 3, 30), at("2025-03-29T23:10:00"))
    present = run(s3_server_inprocess, bucket, now, timezone="Europe/Berlin")
    assert present.status is Status.OK, present.summary
    assert present.findings[0].values["newest_object_age_seconds"] == 600
