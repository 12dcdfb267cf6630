"""Demo area "lake": an S3 bucket of raw partitions and a Snowflake stand-in with raw tables, load history and
analytics tables, seeded relative to `now` so `sentinel check --once` shows each lake check fire or pass:

- s3_partition_arrival:   the lake laid out as NovaPay documents it (s3://novapay-data-lake/): raw/payments/refunds/
                          lacks the partition of 3 days ago (a gap: critical); the other raw prefixes and the
                          raw/events/payment.events/ stream have today's partition with fresh files (ok); closed
                          partitions carry a _SUCCESS marker (never counted as data); processed/daily_transaction_summary/
                          has one partition per closed day written at 00:40 and processed/merchant_analytics/ a file
                          6 minutes old (ok); archive/ holds old partitions nobody watches;
- snowpipe_load_history:  RAW.REFUNDS has one LOAD_FAILED file with Snowflake's first error (critical);
                          RAW.TRANSACTIONS, RAW.MERCHANTS and RAW.API_KEYS load every 5 minutes through RUNNING
                          pipes (ok);
- warehouse_freshness:    ANALYTICS.FCT_TRANSACTIONS is 3 minutes old, FCT_MERCHANT_HEALTH 8, and
                          FCT_DAILY_VOLUME has yesterday's row (all ok).

    seed_lake(s3, snowflake, now) -> env      seeds running services, returns the SENTINEL_* settings for them
    start_seeded_s3(now) -> S3Service         a child-process moto seeded with realistic object times
    seed(stack)                               devstack.demo entry: starts "s3" (seeded) and "snowflake", seeds, env
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from datetime import UTC, date, datetime, timedelta
from typing import Any

from devstack.base import PROJECT_ROOT, ServiceUnavailable, cache_dir, free_port, spawn, wait_until
from devstack.s3 import S3Service, start_s3
from devstack.snowflake import SnowflakeService, start_snowflake

BUCKET = "novapay-data-lake"
DATABASE = "NOVAPAY"
COPY_HISTORY = f"{DATABASE}.MONITORING.COPY_HISTORY"
PIPE_STATUS = f"{DATABASE}.MONITORING.PIPE_STATUS"
PREFIXES = ("raw/payments/transactions/", "raw/payments/refunds/", "raw/users/merchants/", "raw/users/api_keys/",
            "raw/events/payment.events/", "processed/merchant_analytics/")
DAILY_SUMMARY = "processed/daily_transaction_summary/"
ARCHIVE = "archive/raw/payments/transactions/"
RAW_TABLES = (("TRANSACTIONS", "raw/payments/transactions/"), ("REFUNDS", "raw/payments/refunds/"),
              ("MERCHANTS", "raw/users/merchants/"), ("API_KEYS", "raw/users/api_keys/"))  # Snowpipe loads these
GAP = ("raw/payments/refunds/", 3)  # prefix, days ago: the missing partition
FAILED_FILE_ERROR = "Numeric value 'N/A' is not recognized"


def _midday(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 12, tzinfo=UTC)


def seed_s3(s3: S3Service, now: datetime, *, bucket: str = BUCKET, days: int = 8) -> None:
    """Parquet-named objects under raw/<schema>/<table>/dt=YYYY-MM-DD/ for `days` closed days plus today."""
    client = s3.client()
    existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
    if bucket not in existing:
        client.create_bucket(Bucket=bucket)
    today = now.date()
    for prefix in PREFIXES:
        for age in range(days + 1):
            if (prefix, age) == GAP:
                continue
            day = today - timedelta(days=age)
            fresh = timedelta(minutes=6 if prefix.startswith("processed/") else 2)
            when = now - fresh if age == 0 else _midday(day)
            keys = [f"{prefix}dt={day}/part-{i:05d}.snappy.parquet" for i in range(6)]
            _put(s3, bucket, keys, when)
            if age > 0:  # the sink's commit marker: 0 bytes, never counted as data
                _put(s3, bucket, [f"{prefix}dt={day}/_SUCCESS"], when, body=b"")
    for age in range(1, days + 2):  # the daily summary of day D is written at 00:40 on D+1
        day = today - timedelta(days=age)
        written = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1, minutes=40)
        if written <= now:
            _put(s3, bucket, [f"{DAILY_SUMMARY}dt={day}/part-00000.snappy.parquet"], written)
    _put(s3, bucket, [f"{ARCHIVE}dt={today - timedelta(days=400)}/part-00000.snappy.parquet"], _midday(today))


def _put(s3: S3Service, bucket: str, keys: list[str], when: datetime, body: bytes = b"PAR1" + b"\0" * 2048) -> None:
    if s3.in_process:
        s3.bulk_put(bucket, keys, body, last_modified=when)
    else:  # a child-process moto stamps objects with the real now; still fine for the gap and freshness
        for key in keys:
            s3.client().put_object(Bucket=bucket, Key=key, Body=body)


def seed_snowflake(sf: SnowflakeService, now: datetime, *, database: str = DATABASE) -> None:
    from sentinel.sources.snowpipe import COPY_HISTORY_STANDIN_DDL, PIPE_STATUS_STANDIN_DDL

    conn = sf.connect()
    try:
        cur = conn.cursor()
        cur.execute(f"CREATE DATABASE IF NOT EXISTS {database}")
        for schema in ("RAW", "ANALYTICS", "MONITORING"):
            cur.execute(f"CREATE SCHEMA IF NOT EXISTS {database}.{schema}")
        cur.execute(f"DROP TABLE IF EXISTS {_copy_history(database)}")
        cur.execute(f"DROP TABLE IF EXISTS {_pipe_status(database)}")
        cur.execute(COPY_HISTORY_STANDIN_DDL.format(relation=_copy_history(database)))
        cur.execute(PIPE_STATUS_STANDIN_DDL.format(relation=_pipe_status(database)))
        _seed_raw_tables(cur, database, now)
        _seed_load_history(cur, database, now)
        _seed_pipe_status(cur, database, now)
        _seed_analytics(cur, database, now)
    finally:
        conn.close()


def _copy_history(database: str) -> str:
    return f"{database}.MONITORING.COPY_HISTORY"


def _pipe_status(database: str) -> str:
    return f"{database}.MONITORING.PIPE_STATUS"


def _seed_raw_tables(cur: Any, database: str, now: datetime) -> None:
    """The raw tables as Snowpipe fills them."""
    naive_now = now.astimezone(UTC).replace(tzinfo=None)
    for table in ("TRANSACTIONS", "REFUNDS"):
        cur.execute(f"CREATE OR REPLACE TABLE {database}.RAW.{table} (ID NUMBER, AMOUNT NUMBER(12,2), "
                    "CURRENCY VARCHAR, _LOADED_AT TIMESTAMP_NTZ)")
        cur.execute(f"INSERT INTO {database}.RAW.{table} VALUES (1, 10.50, 'EUR', %s), (2, 99.00, 'EUR', %s)",
                    (naive_now - timedelta(minutes=9), naive_now - timedelta(minutes=4)))
    # the users.* tables, with the columns of their PostgreSQL source (devstack.demo.seed_other_captured_tables)
    cur.execute(f"CREATE OR REPLACE TABLE {database}.RAW.MERCHANTS (ID NUMBER, NAME VARCHAR, COUNTRY VARCHAR(2), "
                "CREATED_AT TIMESTAMP_TZ, UPDATED_AT TIMESTAMP_TZ, _LOADED_AT TIMESTAMP_NTZ)")
    cur.execute(f"INSERT INTO {database}.RAW.MERCHANTS VALUES (1, 'merchant 1', 'DE', %s, %s, %s)",
                (now - timedelta(minutes=1), now - timedelta(minutes=1), naive_now - timedelta(minutes=6)))
    cur.execute(f"CREATE OR REPLACE TABLE {database}.RAW.API_KEYS (ID NUMBER, MERCHANT_ID NUMBER, "
                "CREATED_AT TIMESTAMP_TZ, REVOKED_AT TIMESTAMP_TZ, _LOADED_AT TIMESTAMP_NTZ)")
    cur.execute(f"INSERT INTO {database}.RAW.API_KEYS VALUES (1, 1, %s, NULL, %s)",
                (now - timedelta(minutes=3), naive_now - timedelta(minutes=7)))


def _seed_load_history(cur: Any, database: str, now: datetime) -> None:
    """Load history: every 5 minutes for the last hour; one refunds file failed 7 minutes ago."""
    rows: list[tuple[Any, ...]] = []
    for table, prefix in RAW_TABLES:
        for i in range(12):
            when = now - timedelta(minutes=2 + 5 * i)
            rows.append(_copy_row(database, table, f"{prefix}dt={when.date()}/part-{100 - i:05d}.snappy.parquet",
                                  when, "Loaded", 4000 if table == "TRANSACTIONS" else 120 if table == "REFUNDS"
                                  else 5))
    failed_at = now - timedelta(minutes=7)
    rows.append(_copy_row(database, "REFUNDS", f"raw/payments/refunds/dt={failed_at.date()}/part-00093-bad.snappy.parquet",
                          failed_at, "Load failed", 0, error=FAILED_FILE_ERROR, line=17,
                          column='"REFUNDS"["AMOUNT":2]'))
    cur.executemany(
        f"INSERT INTO {_copy_history(database)} (FILE_NAME, STAGE_LOCATION, LAST_LOAD_TIME, ROW_COUNT, ROW_PARSED, "
        "FILE_SIZE, FIRST_ERROR_MESSAGE, FIRST_ERROR_LINE_NUMBER, FIRST_ERROR_COLUMN_NAME, ERROR_COUNT, ERROR_LIMIT, STATUS, "
        "TABLE_CATALOG_NAME, TABLE_SCHEMA_NAME, TABLE_NAME, PIPE_CATALOG_NAME, PIPE_SCHEMA_NAME, PIPE_NAME, "
        "PIPE_RECEIVED_TIME) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        rows,
    )


def _seed_pipe_status(cur: Any, database: str, now: datetime) -> None:
    """Every raw table's pipe is RUNNING and ingested a file 2 minutes ago."""
    for table, prefix in RAW_TABLES:
        status = {
            "executionState": "RUNNING",
            "pendingFileCount": 0,
            "lastIngestedTimestamp": _iso(now - timedelta(minutes=2)),
            "lastIngestedFilePath": f"{prefix}dt={now.date()}/part-00100.snappy.parquet",
            "notificationChannelName": "arn:aws:sqs:eu-west-1:123456789012:sf-snowpipe-demo",
            "numOutstandingMessagesOnChannel": 0,
            "lastReceivedMessageTimestamp": _iso(now - timedelta(minutes=2, seconds=30)),
            "lastForwardedMessageTimestamp": _iso(now - timedelta(minutes=2, seconds=29)),
            "lastPulledFromChannelTimestamp": _iso(now - timedelta(seconds=20)),
        }
        cur.execute(f"INSERT INTO {_pipe_status(database)} VALUES (%s, %s)",
                    (f"{database}.RAW.{table}_PIPE", json.dumps(status)))


def _seed_analytics(cur: Any, database: str, now: datetime) -> None:
    """Analytics tables, fresh."""
    naive_now = now.astimezone(UTC).replace(tzinfo=None)
    cur.execute(f"CREATE OR REPLACE TABLE {database}.ANALYTICS.FCT_TRANSACTIONS (TRANSACTION_ID NUMBER, "
                "MERCHANT_ID NUMBER, AMOUNT NUMBER(12,2), _LOADED_AT TIMESTAMP_NTZ)")
    cur.execute(f"INSERT INTO {database}.ANALYTICS.FCT_TRANSACTIONS VALUES (1, 7, 10.50, %s), (2, 9, 99.00, %s)",
                (naive_now - timedelta(minutes=11), naive_now - timedelta(minutes=3)))
    cur.execute(f"CREATE OR REPLACE TABLE {database}.ANALYTICS.FCT_MERCHANT_HEALTH (MERCHANT_ID NUMBER, "
                "APPROVAL_RATE FLOAT, UPDATED_AT TIMESTAMP_NTZ)")
    cur.execute(f"INSERT INTO {database}.ANALYTICS.FCT_MERCHANT_HEALTH VALUES (7, 0.97, %s)",
                (naive_now - timedelta(minutes=8),))
    cur.execute(f"CREATE OR REPLACE TABLE {database}.ANALYTICS.FCT_DAILY_VOLUME (VOLUME_DATE DATE, "
                "CURRENCY VARCHAR, TOTAL_AMOUNT NUMBER(18,2), TX_COUNT NUMBER)")
    yesterday = now.date() - timedelta(days=1)
    cur.execute(f"INSERT INTO {database}.ANALYTICS.FCT_DAILY_VOLUME VALUES (%s, 'EUR', 1250000.00, 48211), "
                "(%s, 'EUR', 1190000.00, 47002)", (yesterday, yesterday - timedelta(days=1)))


def _copy_row(database: str, table: str, file: str, when: datetime, status: str, rows: int, *, error: str | None = None,
              line: int | None = None, column: str | None = None) -> tuple[Any, ...]:
    failed = status != "Loaded"
    return (file, f"s3://{BUCKET}/", when, rows, rows if not failed else 1, 18_432, error, line, column,
            1 if failed else 0, 1 if failed else rows, status, database, "RAW", table, database, "RAW",
            f"{table}_PIPE", when - timedelta(seconds=45))


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def sentinel_env(s3: S3Service, sf: SnowflakeService, *, database: str = DATABASE) -> dict[str, str]:
    return {
        **s3.env(),
        **sf.env(database=database),
        "SENTINEL_SNOWFLAKE_SCHEMA": "RAW",  # fakesnow resolves IDENTIFIER() names only with a current schema
        "SENTINEL_SNOWFLAKE_COPY_HISTORY_RELATION": f"{database}.MONITORING.COPY_HISTORY",
        "SENTINEL_SNOWFLAKE_PIPE_STATUS_RELATION": f"{database}.MONITORING.PIPE_STATUS",
    }


def seed_lake(s3: S3Service, sf: SnowflakeService, now: datetime, *, bucket: str = BUCKET,
              database: str = DATABASE) -> dict[str, str]:
    """Seed both running services relative to `now`; returns the SENTINEL_* environment pointing at them.

    `bucket` / `database` default to the names demo/fragments/lake.yaml uses (novapay-data-lake, NOVAPAY).
    """
    seed_s3(s3, now, bucket=bucket)
    seed_snowflake(sf, now, database=database)
    return sentinel_env(s3, sf, database=database)


SEEDED_MARKER = "_sentinel_demo/seeded"


def start_seeded_s3(now: datetime, *, bucket: str = BUCKET, timeout: float = 60.0) -> S3Service:
    """A moto server in a child process, seeded before it starts serving, with object times relative to `now`.

    The child (`python -m devstack.demo_lake serve-s3`) seeds through moto's backend, so LastModified is realistic
    (yesterday's files at yesterday's times), and it outlives this process: `scripts/demo --keep` keeps working.
    """
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    log = cache_dir("moto") / f"moto-demo-{port}.log"
    proc = spawn("moto-demo", [sys.executable, "-m", "devstack.demo_lake", "serve-s3", "--port", str(port),
                               "--now", now.isoformat(), "--bucket", bucket], log=log, cwd=PROJECT_ROOT)
    svc = S3Service(endpoint, in_process=False, _stop=proc.stop)

    try:
        wait_until(lambda: _seeded(svc, bucket), what=f"seeded moto server on {endpoint}", timeout=timeout,
                   proc=proc.popen, log=log)
    except ServiceUnavailable:
        proc.stop()
        raise
    return svc


def _serve_s3(port: int, now: datetime, bucket: str) -> None:
    svc = start_s3(in_process=True, port=port)
    seed_s3(svc, now, bucket=bucket)
    svc.client().put_object(Bucket=bucket, Key=SEEDED_MARKER, Body=b"")
    threading.Event().wait()  # serve until the parent stops our process group


def seed(stack: Any) -> None:
    """devstack.demo entry point: start (or reuse) "s3" and "snowflake" in the DemoStack, seed, export env."""
    now = datetime.now(UTC)
    s3: S3Service = stack.start("s3", lambda: start_seeded_s3(now))
    if not _seeded(s3, BUCKET):
        seed_s3(s3, now)  # another area started "s3" first: seed it through the API
    sf: SnowflakeService = stack.start("snowflake", start_snowflake)
    seed_snowflake(sf, now)
    stack.env.update(sentinel_env(s3, sf))


def _seeded(s3: S3Service, bucket: str) -> bool:
    client = s3.client()
    if bucket not in {b["Name"] for b in client.list_buckets().get("Buckets", [])}:
        return False
    return bool(client.list_objects_v2(Bucket=bucket, Prefix=SEEDED_MARKER).get("KeyCount"))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="serve a seeded moto S3 for the demo")
    parser.add_argument("command", choices=["serve-s3"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--now", required=True, help="ISO time the seed is relative to")
    parser.add_argument("--bucket", default=BUCKET)
    args = parser.parse_args()
    _serve_s3(args.port, datetime.fromisoformat(args.now), args.bucket)
