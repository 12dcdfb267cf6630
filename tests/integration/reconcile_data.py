"""Identical small transaction tables in PostgreSQL, DuckDB and the fakesnow server, for reconciliation tests.

Rows are plain tuples (id, merchant_id, amount, currency, status, note, created_at, updated_at); each loader
writes them with that engine's own types (numeric(12,2) vs DECIMAL(18,4) vs NUMBER(38,4), timestamptz vs naive
UTC TIMESTAMP/TIMESTAMP_NTZ), so the tests also prove the normalisation hides type differences.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import psycopg

Row = tuple[int, int, Decimal | None, str, str, str | None, datetime, datetime]
COLUMNS = ("id", "merchant_id", "amount", "currency", "status", "note", "created_at", "updated_at")


def make_rows(now: datetime, n: int = 600, hours: int = 60, seed: int = 7) -> list[Row]:
    """n rows spread evenly over the `hours` before `now` (ids increase with created_at), some NULLs."""
    rnd = random.Random(seed)
    start = now - timedelta(hours=hours)
    step = timedelta(hours=hours) / n
    rows: list[Row] = []
    for i in range(n):
        created = start + step * i + timedelta(microseconds=rnd.randrange(1_000_000))
        amount = None if i % 37 == 0 else Decimal(rnd.randrange(-5000, 500000)) / 100
        note = None if i % 3 else rnd.choice(["", "refund ü", "a|b", "x'y"])
        rows.append((1000 + i * 3, rnd.randrange(1, 50), amount, rnd.choice(["EUR", "USD"]),
                     rnd.choice(["settled", "pending"]), note, created, created + timedelta(seconds=rnd.randrange(90))))
    return rows


def load_postgres(dsn: str, table: str, rows: Iterable[Row], *, extra_ddl: str = "") -> None:
    schema, _name = table.split(".")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        conn.execute(f"DROP TABLE IF EXISTS {table}")
        conn.execute(f"CREATE TABLE {table} (id bigint PRIMARY KEY, merchant_id integer NOT NULL, amount numeric(12,2),"
                     " currency text NOT NULL, status text NOT NULL, note text, created_at timestamptz NOT NULL,"
                     f" updated_at timestamptz NOT NULL{extra_ddl})")
        with conn.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for r in rows:
                copy.write_row(r)


def load_duckdb(path: Path, table: str, rows: Iterable[Sequence[Any]], *, deleted: Sequence[str | None] = ()) -> None:
    """Target-style copy: DECIMAL(18,4) amounts, naive UTC timestamps, a Debezium __deleted column."""
    schema, _ = table.split(".")
    conn = duckdb.connect(str(path))
    try:
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        conn.execute(f"DROP TABLE IF EXISTS {table}")
        conn.execute(f"CREATE TABLE {table} (id BIGINT, merchant_id INTEGER, amount DECIMAL(18,4), currency VARCHAR,"
                     " status VARCHAR, note VARCHAR, created_at TIMESTAMP, updated_at TIMESTAMP, __deleted VARCHAR)")
        data = [(*_naive(r), deleted[i] if i < len(deleted) else None) for i, r in enumerate(rows)]
        for i in range(0, len(data), 300):  # multi-row VALUES: executemany is row by row in DuckDB
            chunk = data[i:i + 300]
            values = ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?, ?)"] * len(chunk))
            conn.execute(f"INSERT INTO {table} VALUES {values}", [v for r in chunk for v in r])
    finally:
        conn.close()


def load_snowflake(conn: Any, table: str, rows: Iterable[Sequence[Any]], *, tz: bool = True,
                   deleted: Sequence[str | None] = ()) -> None:
    """Snowflake-style copy (fakesnow): NUMBER(38,4), TIMESTAMP_TZ (or NTZ) and the Debezium __DELETED column."""
    db, schema, _name = table.split(".")
    cur = conn.cursor()
    cur.execute(f"CREATE DATABASE IF NOT EXISTS {db}")
    cur.execute(f"CREATE SCHEMA IF NOT EXISTS {db}.{schema}")
    ts = "TIMESTAMP_TZ" if tz else "TIMESTAMP_NTZ"
    cur.execute(f"CREATE OR REPLACE TABLE {table} (ID NUMBER(38,0), MERCHANT_ID NUMBER(38,0), AMOUNT NUMBER(38,4),"
                f" CURRENCY VARCHAR, STATUS VARCHAR, NOTE VARCHAR, CREATED_AT {ts}, UPDATED_AT {ts}, __DELETED VARCHAR)")
    data = [(*(_sf_value(v, tz) for v in r), deleted[i] if i < len(deleted) else None) for i, r in enumerate(rows)]
    if data:
        for i in range(0, len(data), 500):
            chunk = data[i:i + 500]
            values = ", ".join(["(" + ", ".join(["%s"] * 9) + ")"] * len(chunk))
            cur.execute(f"INSERT INTO {table} VALUES {values}", [v for r in chunk for v in r])
    cur.close()


def _sf_value(v: Any, tz: bool) -> Any:
    if isinstance(v, datetime):
        text = v.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        return text + "+00:00" if tz else text
    return v


def _naive(r: Sequence[Any]) -> tuple[Any, ...]:
    return tuple(v.astimezone(UTC).replace(tzinfo=None) if isinstance(v, datetime) else v for v in r)
