"""Demo area "reconcile": the Snowflake copy of payments.transactions has lost three rows.

The demo's PostgreSQL already holds payments.transactions (devstack.demo.seed_postgres: 4,000 rows over the last
hour). This copies it into the Snowflake stand-in as NOVAPAY.RAW_CDC.TRANSACTIONS, the way the CDC pipeline lands
it (NUMBER(38,4) amounts, TIMESTAMP_TZ, a Debezium __DELETED column), minus three settled rows older than the
in-flight window, so `row_reconciliation` fires CRITICAL naming the table pair, the hour bucket, the counts and the
three missing ids, with the runbook link.

    seed_reconcile(dsn, snowflake, missing=3) -> (env, missing_ids)   seeds running services
    seed(stack)                                                      devstack.demo entry (after seed_postgres)
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from devstack.snowflake import SnowflakeService, start_snowflake

DATABASE = "NOVAPAY"
TABLE = f"{DATABASE}.RAW_CDC.TRANSACTIONS"


def seed_reconcile(dsn: str, snowflake: SnowflakeService, *, missing: int = 3) -> tuple[dict[str, str], list[int]]:
    import psycopg

    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT id, merchant_id, amount, currency, status, created_at, updated_at "
                            "FROM payments.transactions ORDER BY id").fetchall()
    cutoff = datetime.now(UTC) - timedelta(minutes=25)  # well outside the 15-minute in-flight window
    old = [r for r in rows if r[5] < cutoff]
    lost = sorted(int(r[0]) for r in old[len(old) // 4:: max(1, len(old) // (missing * 2))][:missing])
    conn_sf = snowflake.connect()
    try:
        cur = conn_sf.cursor()
        cur.execute(f"CREATE DATABASE IF NOT EXISTS {DATABASE}")
        cur.execute(f"CREATE SCHEMA IF NOT EXISTS {DATABASE}.RAW_CDC")
        cur.execute(f"CREATE OR REPLACE TABLE {TABLE} (ID NUMBER(38,0), MERCHANT_ID NUMBER(38,0), "
                    "AMOUNT NUMBER(38,4), CURRENCY VARCHAR, STATUS VARCHAR, CREATED_AT TIMESTAMP_TZ, "
                    "UPDATED_AT TIMESTAMP_TZ, __DELETED VARCHAR)")
        kept = [r for r in rows if int(r[0]) not in lost]
        for i in range(0, len(kept), 500):
            chunk = kept[i:i + 500]
            values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, 'false')"] * len(chunk))
            cur.execute(f"INSERT INTO {TABLE} VALUES {values}", [_sf(v) for r in chunk for v in r])
        cur.close()
    finally:
        conn_sf.close()
    return snowflake.env(DATABASE), lost


def _sf(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f") + "+00:00"
    return value


def seed(stack: Any) -> None:
    """devstack.demo entry point: needs the demo PostgreSQL (seed_postgres) and starts or reuses "snowflake"."""
    stack.postgres()
    sf: SnowflakeService = stack.start("snowflake", start_snowflake)
    env, _ = seed_reconcile(stack.env["SENTINEL_POSTGRES_DSN"], sf)
    for key, value in env.items():
        stack.env.setdefault(key, value)
