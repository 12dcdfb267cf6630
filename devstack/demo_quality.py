"""Demo area "quality": what a healthy-looking pipeline hides (issue 22).

- A volume drop: payments.checkout_events holds five weeks of seasonal hourly traffic up to now, and the last
  complete hour carries 35% of its usual rows. `volume_anomaly` backfills its history from the table on its first
  run and fires CRITICAL with the expected band and the dashboards at risk.
- A drifted column: payments.refunds gained fee_currency in PostgreSQL; its Snowflake raw copy
  (NOVAPAY.RAW_CDC.REFUNDS) does not have it, so `schema_drift` reports where the column stops.

    seed(stack)   devstack.demo entry (after seed_postgres); starts or reuses "snowflake"
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from devstack.snowflake import SnowflakeService, start_snowflake

DATABASE = "NOVAPAY"
REFUNDS = f"{DATABASE}.RAW_CDC.REFUNDS"


def seed_volume(dsn: str, now: datetime) -> None:
    """Five weeks of hourly rows (40 at night, 100 in office hours, half at weekends); the last full hour at 35%."""
    import psycopg

    last = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS payments.checkout_events")
        conn.execute("CREATE TABLE payments.checkout_events (id bigserial PRIMARY KEY, created_at timestamptz NOT NULL)")
        conn.execute(
            """INSERT INTO payments.checkout_events (created_at)
               SELECT h + i * interval '20 seconds'
               FROM generate_series(%(start)s::timestamptz, %(end)s::timestamptz, interval '1 hour') h,
                    generate_series(1, ((CASE WHEN extract(hour FROM h AT TIME ZONE 'UTC') BETWEEN 9 AND 18
                                              THEN 100 ELSE 40 END)
                                        * (CASE WHEN extract(isodow FROM h AT TIME ZONE 'UTC') >= 6 THEN 0.5 ELSE 1 END)
                                        * (CASE WHEN h = %(last)s::timestamptz THEN 0.35 ELSE 1 END))::int) i""",
            {"start": last - timedelta(weeks=5), "end": last, "last": last})


def seed_drift(dsn: str, snowflake: SnowflakeService) -> dict[str, str]:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS payments.refunds (id bigint PRIMARY KEY, transaction_id bigint NOT NULL, "
                     "amount numeric(12,2) NOT NULL, created_at timestamptz NOT NULL)")  # seed_postgres made it
        # the migration nobody announced
        conn.execute("ALTER TABLE payments.refunds ADD COLUMN IF NOT EXISTS fee_currency char(3)")
    conn_sf = snowflake.connect()
    try:
        cur = conn_sf.cursor()
        cur.execute(f"CREATE DATABASE IF NOT EXISTS {DATABASE}")
        cur.execute(f"CREATE SCHEMA IF NOT EXISTS {DATABASE}.RAW_CDC")
        cur.execute(f"CREATE OR REPLACE TABLE {REFUNDS} (ID NUMBER(38,0), TRANSACTION_ID NUMBER(38,0), "
                    "AMOUNT NUMBER(38,4), CREATED_AT TIMESTAMP_TZ, __DELETED VARCHAR)")
        cur.close()
    finally:
        conn_sf.close()
    return snowflake.env(DATABASE)


def seed(stack: Any) -> None:
    pg = stack.postgres()
    dsn = pg.dsn("novapay")
    seed_volume(dsn, datetime.now(UTC))
    sf: SnowflakeService = stack.start("snowflake", start_snowflake)
    for key, value in seed_drift(dsn, sf).items():
        stack.env.setdefault(key, value)
    # The demo's monitor role gets SELECT on the new table too, through the shipped grants file.
    from devstack.demo import monitor_dsn

    stack.env["SENTINEL_POSTGRES_DSN"] = monitor_dsn(pg, ("payments.checkout_events",))
