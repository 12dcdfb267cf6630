"""s3_partition_arrival stays true (issue 20, point 3) on a real moto S3 server: markers are not data, future
timestamps are not fresh, another partition layout is hinted, and a hung listing names what hung."""

from __future__ import annotations

import itertools
import socket
import threading
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from freezegun import freeze_time
from pydantic import SecretStr

from devstack.s3 import S3Service
from sentinel.api import Status
from sentinel.config.settings import Settings
from sentinel.sources import Sources
from tests.integration.test_s3_partition_arrival import PREFIX, at, put, run, seed_history

pytestmark = pytest.mark.integration

_buckets = itertools.count()


@pytest.fixture
def bucket(s3_server_inprocess: S3Service) -> Iterator[str]:
    name = f"lake-truth-{next(_buckets)}"
    s3_server_inprocess.client().create_bucket(Bucket=name)
    yield name


def put_key(svc: S3Service, bucket: str, key: str, when: Any, body: bytes = b"") -> None:
    with freeze_time(when):
        svc.client().put_object(Bucket=bucket, Key=key, Body=body)


def test_a_partition_holding_only_markers_is_missing(s3_server_inprocess: S3Service, bucket: str) -> None:
    now = at("2025-01-15T00:20:00")
    seed_history(s3_server_inprocess, bucket, now.date())
    put_key(s3_server_inprocess, bucket, f"{PREFIX}dt=2025-01-15/", now - timedelta(minutes=1))
    put_key(s3_server_inprocess, bucket, f"{PREFIX}dt=2025-01-15/_SUCCESS", now - timedelta(minutes=1))
    put_key(s3_server_inprocess, bucket, f"{PREFIX}dt=2025-01-15/.part-0.crc", now - timedelta(minutes=1), b"crc")
    result = run(s3_server_inprocess, bucket, now)
    assert result.status is Status.CRITICAL, result.summary
    assert "today's partition dt=2025-01-15 is missing 20m after midnight UTC" in result.findings[0].summary
    assert result.findings[0].values["today_objects"] == 0


def test_a_fresh_success_marker_does_not_hide_stale_data(s3_server_inprocess: S3Service, bucket: str) -> None:
    now = at("2025-01-15T10:00:00")
    seed_history(s3_server_inprocess, bucket, now.date())
    put(s3_server_inprocess, bucket, now.date(), now - timedelta(minutes=50), n=2)
    put_key(s3_server_inprocess, bucket, f"{PREFIX}dt=2025-01-15/_SUCCESS", now - timedelta(minutes=1))
    result = run(s3_server_inprocess, bucket, now)
    assert result.status is Status.CRITICAL
    finding = result.findings[0]
    assert "newest file in dt=2025-01-15 is 50m old (threshold 30m)" in finding.summary
    assert finding.values["newest_object_age_seconds"] == 3000 and finding.values["today_objects"] == 2


def test_yesterday_with_only_a_folder_marker_is_a_gap(s3_server_inprocess: S3Service, bucket: str) -> None:
    now = at("2025-01-15T10:00:00")
    seed_history(s3_server_inprocess, bucket, now.date(), skip=(date(2025, 1, 14),))
    put_key(s3_server_inprocess, bucket, f"{PREFIX}dt=2025-01-14/", at("2025-01-14T00:01:00"))
    put(s3_server_inprocess, bucket, now.date(), now - timedelta(minutes=1))
    result = run(s3_server_inprocess, bucket, now)
    assert result.status is Status.CRITICAL
    assert "1 partition(s) missing in the last 7 days: dt=2025-01-14" in result.findings[0].summary


def test_a_file_from_the_future_warns_and_the_age_is_judged_without_it(
    s3_server_inprocess: S3Service, bucket: str
) -> None:
    now = at("2025-01-15T12:00:00")
    seed_history(s3_server_inprocess, bucket, now.date())
    put(s3_server_inprocess, bucket, now.date(), now - timedelta(hours=3), n=2)
    put(s3_server_inprocess, bucket, now.date(), now + timedelta(hours=2), start=50)
    result = run(s3_server_inprocess, bucket, now)
    finding = result.findings[0]
    assert result.status is Status.CRITICAL, finding.summary
    assert "newest file in dt=2025-01-15 is 3h00m old (threshold 30m)" in finding.summary
    assert "1 file(s) in dt=2025-01-15 are stamped up to 2h00m in the future (clock skew?)" in finding.summary
    assert finding.values["future_objects"] == 1 and finding.values["newest_object_age_seconds"] == 3 * 3600


def test_small_clock_skew_within_tolerance_is_fresh(s3_server_inprocess: S3Service, bucket: str) -> None:
    now = at("2025-01-15T12:00:00")
    seed_history(s3_server_inprocess, bucket, now.date())
    put(s3_server_inprocess, bucket, now.date(), now + timedelta(seconds=30))
    result = run(s3_server_inprocess, bucket, now)
    assert result.status is Status.OK, result.summary
    assert "future_objects" not in result.findings[0].values


def test_partitions_under_date_instead_of_dt_are_hinted(s3_server_inprocess: S3Service, bucket: str) -> None:
    now = at("2025-01-15T10:00:00")
    for i in range(1, 4):
        day = now.date() - timedelta(days=i)
        put_key(s3_server_inprocess, bucket, f"{PREFIX}date={day}/part-0.parquet", at(f"{day}T12:00:00"), b"x" * 64)
    result = run(s3_server_inprocess, bucket, now)
    assert result.status is Status.CRITICAL
    assert ("but 3 partition(s) exist as date=... (newest date=2025-01-14/): did the sink's path format change, "
            "or should this check use partition_key: date?") in result.findings[0].summary


def test_a_hung_listing_names_the_bucket_and_prefix(s3_server_inprocess: S3Service, bucket: str) -> None:
    """A TCP server that accepts and never answers: the deadline message says what Sentinel was waiting on."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    try:
        port = listener.getsockname()[1]
        sources = Sources(Settings(aws_endpoint_url=f"http://127.0.0.1:{port}", aws_region="us-east-1",
                                   aws_access_key_id=SecretStr("test"), aws_secret_access_key=SecretStr("test")))
        result = run(s3_server_inprocess, "novapay-data-lake", at("2025-01-15T10:00:00"), sources=sources,
                     _timeout=2)
    finally:
        stop.set()
        acceptor.join(5)
        for conn in held:
            conn.close()
        listener.close()
    assert result.status is Status.ERROR
    assert result.summary.endswith(
        "did not finish within its 2s deadline while waiting on S3 ListObjectsV2 (partitions) on "
        f"s3://novapay-data-lake/{PREFIX}"
    ), result.summary
