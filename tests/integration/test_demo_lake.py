"""The lake demo keeps telling the story it promises: seed with devstack/demo_lake.py, run the checks of
demo/fragments/lake.yaml through the real runner, and see the gap and the failed file fire while freshness passes.
The seed and the runner share one moment, taken from every calendar of tests/calendars.py (the `dt=` partitions
then cross the turn of the year and the leap day)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml
from pydantic import SecretStr

from devstack.base import PROJECT_ROOT
from devstack.demo_lake import FAILED_FILE_ERROR, seed_lake
from devstack.s3 import S3Service
from devstack.snowflake import SnowflakeService
from sentinel.api import DictMemory, Status
from sentinel.clock import FakeClock, SystemClock
from sentinel.config.checks_spec import CheckSpec
from sentinel.config.settings import Settings
from sentinel.plugins import check_registry
from sentinel.redact import Redactor
from sentinel.runner import CheckRunner, PlannedCheck
from sentinel.sources import Sources
from tests.calendars import CALENDARS, Calendar

pytestmark = pytest.mark.integration

BUCKET, DATABASE = "demo-lake-raw", "DEMO_LAKE"  # not the demo's names: the servers are shared by the session


def fragment_checks(bucket: str) -> list[dict[str, Any]]:
    text = (PROJECT_ROOT / "demo" / "fragments" / "lake.yaml").read_text()
    text = text.replace("novapay-data-lake", bucket).replace("NOVAPAY.", f"{DATABASE}.")
    return list(yaml.safe_load(text)["checks"])


@pytest.mark.parametrize("cal", list(CALENDARS.values()), ids=list(CALENDARS))
def test_demo_seed_makes_the_fragment_checks_fire_and_pass(
    s3_server_inprocess: S3Service, snowflake_server: SnowflakeService, cal: Calendar
) -> None:
    now = cal.now
    bucket = f"{BUCKET}-{cal.name.replace('_', '-')}"  # a bucket per calendar: no partition of another one counts
    env = seed_lake(s3_server_inprocess, snowflake_server, now, bucket=bucket, database=DATABASE)
    settings = Settings(
        aws_endpoint_url=env["SENTINEL_AWS_ENDPOINT_URL"],
        aws_access_key_id=SecretStr("testing"),
        aws_secret_access_key=SecretStr("testing"),
        snowflake_account=env["SENTINEL_SNOWFLAKE_ACCOUNT"],
        snowflake_user=env["SENTINEL_SNOWFLAKE_USER"],
        snowflake_password=SecretStr(env["SENTINEL_SNOWFLAKE_PASSWORD"]),
        snowflake_host=env["SENTINEL_SNOWFLAKE_HOST"],
        snowflake_port=int(env["SENTINEL_SNOWFLAKE_PORT"]),
        snowflake_protocol="http",
        snowflake_database=DATABASE,
        snowflake_schema="RAW",
        snowflake_copy_history_relation=env["SENTINEL_SNOWFLAKE_COPY_HISTORY_RELATION"],
        snowflake_pipe_status_relation=env["SENTINEL_SNOWFLAKE_PIPE_STATUS_RELATION"],
    )
    registry = check_registry()  # the entry points, as `sentinel check` finds them
    sources = Sources(settings)
    runner = CheckRunner(sources, lambda _: DictMemory(), FakeClock(now), Redactor.from_settings(settings))
    planned = []
    for raw in fragment_checks(bucket):
        spec = CheckSpec(**raw)
        cls = registry.load(spec.kind)
        planned.append(PlannedCheck(spec, cls(cls.Params(**spec.params)), cls.runbook))
    results = {r.check_id: r for r in runner.run_many(planned)}

    s3 = results["s3_raw_partitions"]
    assert s3.status is Status.CRITICAL, s3.summary
    gap_day = now.date() - timedelta(days=3)
    assert [f.key for f in s3.findings if f.status is not Status.OK] == ["raw/payments/refunds/"]
    assert f"missing in the last 7 days: dt={gap_day}" in s3.summary

    pipe = results["snowpipe_raw_loads"]
    assert pipe.status is Status.CRITICAL, pipe.summary
    assert [f.key for f in pipe.findings if f.status is not Status.OK] == [f"table:{DATABASE}.RAW.REFUNDS"]
    assert FAILED_FILE_ERROR in pipe.summary

    fresh = results["warehouse_freshness"]
    assert fresh.status is Status.OK, fresh.summary

    # the rest of the documented layout: the event stream and the processed outputs arrive (issue 20)
    for check_id in ("s3_payment_events", "s3_processed_daily_summary", "s3_processed_merchant_analytics"):
        assert results[check_id].status is Status.OK, results[check_id].summary
    events = results["s3_payment_events"].findings[0]
    assert events.labels["table"] == "events.payment_events" and events.values["today_objects"] == 6
    daily = results["s3_processed_daily_summary"].findings[0]
    assert daily.labels == {"table": "payments.transactions", "stage": "processed",
                            "prefix": "processed/daily_transaction_summary/"}


def test_seeded_child_process_s3_has_realistic_object_times() -> None:
    from devstack.demo_lake import start_seeded_s3

    now = SystemClock().now().replace(microsecond=0)  # a child-process moto stamps objects with the real now
    svc = start_seeded_s3(now, bucket="demo-lake-child")
    try:
        yesterday = now.date() - timedelta(days=1)
        listed = svc.client().list_objects_v2(Bucket="demo-lake-child", Prefix=f"raw/users/merchants/dt={yesterday}/")
        times = {o["LastModified"] for o in listed["Contents"]}
        assert times == {datetime(yesterday.year, yesterday.month, yesterday.day, 12, tzinfo=UTC)}
    finally:
        svc.stop()
