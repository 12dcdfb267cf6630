"""Lake checks benchmark (issue 4), against the same local stand-ins the tests use.

  s3_list_<n>          S3Source.list_objects over n keys in one partition (pages of 1,000), in-process moto
  s3_list_raw_<n>      baseline: boto3's own paginator over the same keys (what S3Source wraps)
  s3_arrival_cold      s3_partition_arrival over 4 prefixes x (today + yesterday + 4 same-weekday partitions)
  s3_arrival_warm      the same check again: closed partitions' sizes come from the check memory
  sf_freshness         warehouse_freshness over 3 tables (login + 3 queries) via fakesnow over HTTP
  sf_snowpipe          snowpipe_load_history over 2 tables + pipes via fakesnow over HTTP

Figures are printed and written to benchmarks/results/lake.json; nothing is asserted. moto scans the whole bucket
for every ListObjectsV2 page (O(bucket) per page), so absolute S3 times say more about moto than about S3, where a
1,000-key page takes tens of milliseconds; the comparisons within the run are what matter.
Run: .venv/bin/python benchmarks/lake.py
"""

from __future__ import annotations

import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from freezegun import freeze_time  # noqa: E402
from pydantic import SecretStr  # noqa: E402
from sentinel_checks.s3_partition_arrival import S3PartitionArrivalCheck, S3PartitionArrivalParams  # noqa: E402
from sentinel_checks.snowpipe_load_history import SnowpipeLoadHistoryCheck, SnowpipeLoadHistoryParams  # noqa: E402
from sentinel_checks.warehouse_freshness import WarehouseFreshnessCheck, WarehouseFreshnessParams  # noqa: E402

from devstack.demo_lake import seed_snowflake  # noqa: E402
from devstack.s3 import start_s3  # noqa: E402
from devstack.snowflake import start_snowflake  # noqa: E402
from sentinel.api import Check, CheckContext, DictMemory  # noqa: E402
from sentinel.clock import FakeClock  # noqa: E402
from sentinel.config.settings import Settings  # noqa: E402
from sentinel.sources import Sources  # noqa: E402

N_KEYS = 5_000
PREFIXES = ["raw/payments/transactions/", "raw/payments/refunds/", "raw/users/merchants/", "raw/users/api_keys/"]
NOW = datetime(2025, 1, 15, 10, 0, tzinfo=UTC)


def timed(fn: Callable[[], Any], repeat: int = 3) -> tuple[float, Any]:
    runs, out = [], None
    for _ in range(repeat):
        began = time.perf_counter()
        out = fn()
        runs.append(time.perf_counter() - began)
    return statistics.median(runs), out


def run_check(check: Check[Any], sources: Sources, memory: DictMemory) -> Any:
    clock = FakeClock(NOW)
    ctx = CheckContext("bench", clock, clock.monotonic() + 120, sources, memory)
    return check.run(ctx)


def main() -> int:
    figures: dict[str, Any] = {}
    s3 = start_s3(in_process=True)
    sf = start_snowflake()
    try:
        client = s3.client()
        client.create_bucket(Bucket="bench-raw")
        today = NOW.date()
        with freeze_time(NOW - timedelta(minutes=2)):
            s3.bulk_put("bench-raw", (f"{PREFIXES[0]}dt={today}/part-{i:06d}.parquet" for i in range(N_KEYS)))
        for prefix in PREFIXES:
            for age in range(1, 30):
                day = today - timedelta(days=age)
                s3.bulk_put("bench-raw", (f"{prefix}dt={day}/part-{i:05d}.parquet" for i in range(50)), b"x" * 512,
                            last_modified=datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=12))
            if prefix != PREFIXES[0]:
                s3.bulk_put("bench-raw", (f"{prefix}dt={today}/part-{i:05d}.parquet" for i in range(50)),
                            last_modified=NOW - timedelta(minutes=1))
        sources = Sources(Settings(aws_endpoint_url=s3.endpoint_url, aws_access_key_id=SecretStr("testing"),
                                   aws_secret_access_key=SecretStr("testing"), **_sf_settings(sf)))
        source = sources.s3()
        secs, objs = timed(lambda: source.list_objects("bench-raw", f"{PREFIXES[0]}dt={today}/"))
        figures[f"s3_list_{N_KEYS}_seconds"] = round(secs, 3)
        figures[f"s3_list_{N_KEYS}_keys"] = len(objs)

        def raw() -> int:
            pages = client.get_paginator("list_objects_v2").paginate(Bucket="bench-raw", Prefix=f"{PREFIXES[0]}dt={today}/")
            return sum(len(p.get("Contents", [])) for p in pages)

        secs, count = timed(raw)
        figures[f"s3_list_raw_{N_KEYS}_seconds"] = round(secs, 3)
        figures[f"s3_list_raw_{N_KEYS}_keys"] = count

        check = S3PartitionArrivalCheck(S3PartitionArrivalParams(bucket="bench-raw", prefixes=PREFIXES, size_weeks=4))
        memory = DictMemory()
        began = time.perf_counter()
        result = run_check(check, sources, memory)
        figures["s3_arrival_cold_seconds"] = round(time.perf_counter() - began, 3)
        figures["s3_arrival_status"] = result.status.value
        secs, _ = timed(lambda: run_check(check, sources, memory))
        figures["s3_arrival_warm_seconds"] = round(secs, 3)

        seed_snowflake(sf, NOW, database="BENCH")
        fresh = WarehouseFreshnessCheck(WarehouseFreshnessParams(tables=[
            {"table": "BENCH.ANALYTICS.FCT_TRANSACTIONS", "column": "_loaded_at", "critical_after": "15m"},
            {"table": "BENCH.ANALYTICS.FCT_MERCHANT_HEALTH", "column": "updated_at", "critical_after": "30m"},
            {"table": "BENCH.ANALYTICS.FCT_DAILY_VOLUME", "column": "volume_date", "mode": "deadline"},
        ]))
        secs, result = timed(lambda: run_check(fresh, sources, DictMemory()))
        figures["sf_freshness_seconds"] = round(secs, 3)
        figures["sf_freshness_status"] = result.status.value
        pipe = SnowpipeLoadHistoryCheck(SnowpipeLoadHistoryParams(targets=[
            {"table": "BENCH.RAW.TRANSACTIONS", "pipe": "BENCH.RAW.TRANSACTIONS_PIPE"},
            {"table": "BENCH.RAW.REFUNDS", "pipe": "BENCH.RAW.REFUNDS_PIPE"},
        ]))
        secs, result = timed(lambda: run_check(pipe, sources, DictMemory()))
        figures["sf_snowpipe_seconds"] = round(secs, 3)
        figures["sf_snowpipe_status"] = result.status.value
    finally:
        sf.stop()
        s3.stop()

    figures["machine"] = {"python": platform.python_version(), "platform": platform.platform()}
    out = ROOT / "benchmarks" / "results" / "lake.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=2) + "\n")
    for key, value in figures.items():
        if key != "machine":
            print(f"{key:32s} {value}")
    ratio = figures[f"s3_list_{N_KEYS}_seconds"] / max(1e-9, figures[f"s3_list_raw_{N_KEYS}_seconds"])
    print(f"S3Source listing vs raw boto3 paginator: {ratio:.2f}x; warm arrival check "
          f"{figures['s3_arrival_warm_seconds']}s vs cold {figures['s3_arrival_cold_seconds']}s")
    print(f"wrote {out}")
    return 0


def _sf_settings(sf: Any) -> dict[str, Any]:
    return {
        "snowflake_account": sf.account, "snowflake_user": sf.user, "snowflake_password": SecretStr(sf.password),
        "snowflake_host": sf.host, "snowflake_port": sf.port, "snowflake_protocol": "http",
        "snowflake_database": "BENCH", "snowflake_schema": "RAW",
        "snowflake_copy_history_relation": "BENCH.MONITORING.COPY_HISTORY",
        "snowflake_pipe_status_relation": "BENCH.MONITORING.PIPE_STATUS",
    }


if __name__ == "__main__":
    raise SystemExit(main())
