"""Tables of any shape in PostgreSQL, a DuckDB file and the fakesnow server, for reconciliation tests of key types
and failure shapes (reconcile_data.py has the fixed payments table).

A table is a list of Col (name and the type per engine) and rows of plain Python values; each loader writes them
with that engine's types (timestamps: timestamptz in PostgreSQL, naive UTC TIMESTAMP in DuckDB, TIMESTAMP_TZ in
Snowflake).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import psycopg


@dataclass(frozen=True)
class Col:
    name: str
    postgres: str
    duckdb: str
    snowflake: str


def load_postgres_table(dsn: str, table: str, cols: Sequence[Col], rows: Sequence[Sequence[Any]]) -> None:
    schema, _ = table.split(".")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        conn.execute(f"DROP TABLE IF EXISTS {table}")
        conn.execute(f"CREATE TABLE {table} ({', '.join(f'{c.name} {c.postgres}' for c in cols)})")
        with conn.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(c.name for c in cols)}) FROM STDIN") as copy:
            for r in rows:
                copy.write_row(r)
        conn.execute(f"ANALYZE {table}")  # statistics, as autovacuum keeps them (full mode plans with them)


def load_duckdb_table(path: Path, table: str, cols: Sequence[Col], rows: Sequence[Sequence[Any]]) -> None:
    schema, _ = table.split(".")
    conn = duckdb.connect(str(path))
    try:
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        conn.execute(f"DROP TABLE IF EXISTS {table}")
        conn.execute(f"CREATE TABLE {table} ({', '.join(f'{c.name} {c.duckdb}' for c in cols)})")
        data = [tuple(_naive(v) for v in r) for r in rows]
        marks = "(" + ", ".join(["?"] * len(cols)) + ")"
        for i in range(0, len(data), 300):  # multi-row VALUES: executemany is row by row in DuckDB
            chunk = data[i:i + 300]
            conn.execute(f"INSERT INTO {table} VALUES {', '.join([marks] * len(chunk))}", [v for r in chunk for v in r])
    finally:
        conn.close()


def load_snowflake_table(conn: Any, table: str, cols: Sequence[Col], rows: Sequence[Sequence[Any]]) -> None:
    db, schema, _ = table.split(".")
    cur = conn.cursor()
    cur.execute(f"CREATE DATABASE IF NOT EXISTS {db}")
    cur.execute(f"CREATE SCHEMA IF NOT EXISTS {db}.{schema}")
    cur.execute(f"CREATE OR REPLACE TABLE {table} ({', '.join(f'{c.name} {c.snowflake}' for c in cols)})")
    data = [tuple(_sf(v) for v in r) for r in rows]
    marks = "(" + ", ".join(["%s"] * len(cols)) + ")"
    for i in range(0, len(data), 500):
        chunk = data[i:i + 500]
        cur.execute(f"INSERT INTO {table} VALUES {', '.join([marks] * len(chunk))}", [v for r in chunk for v in r])
    cur.close()


def _naive(v: Any) -> Any:
    if isinstance(v, datetime):
        return v.astimezone(UTC).replace(tzinfo=None)
    return str(v) if type(v).__name__ == "UUID" else v


def _sf(v: Any) -> Any:
    if isinstance(v, datetime):
        return v.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f") + "+00:00"
    return str(v) if type(v).__name__ == "UUID" else v
