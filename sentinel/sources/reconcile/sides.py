"""Adapters from Sentinel's thin clients to the one call the algorithm needs: execute(sql, params) -> rows.

Each adapter keeps one session open for the whole comparison (a few grouped statements, not one login per query)
and gives every statement the time left before the check's deadline.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import psycopg

from sentinel.sources.reconcile.engine import Execute

Remaining = Callable[[], timedelta]
_PLACEHOLDER = re.compile(r"%s")


@contextlib.contextmanager
def postgres_execute(source: Any, remaining: Remaining, *, parallel: bool = False,
                     workers: int | None = None) -> Iterator[Execute]:
    """PostgresSource: one read-only session whose statement_timeout is the time left. `parallel` lets the scans use
    parallel workers, at most `workers` of them (never more than the server's max_parallel_workers_per_gather)."""
    with source.connect(remaining()) as conn:
        # JIT compiles the one scan over the compared range (a tenth off a 5M-row checksum scan, in a few
        # milliseconds of compiling; statement `scan`) but never LLVM's optimising or inlining passes, which cost
        # more than they save here. Not the other statements: enable_sort = off (below) prices any sort at 10^10,
        # so the JIT threshold would compile every small catalog or drill-down statement that sorts (30 ms for
        # one information_schema query). A server's or role's jit = off stands.
        row = conn.execute("SELECT j, set_config('jit', 'off', false), set_config('jit_optimize_above_cost', '-1', "
                           "false), set_config('jit_inline_above_cost', '-1', false) "
                           "FROM (SELECT current_setting('jit') AS j OFFSET 0) s").fetchone()
        jit = row is not None and row[0] == "on"
        conn.execute("SET TimeZone = 'UTC'")  # date_trunc of timestamptz then cuts UTC hours and days
        if parallel:
            # The planner cannot estimate the number of hours in a GROUP BY date_trunc and so never plans a
            # parallel scan for it; cheap parallel costs let the (DBA-capped) parallel workers share the scan.
            conn.execute("SET parallel_setup_cost = 0")
            conn.execute("SET parallel_tuple_cost = 0")
            # With sorting allowed the planner sorts every row (spilling to disk beyond work_mem): to group them
            # by date_trunc, whose groups it estimates at one per row, or to merge-join them with the cells'
            # calendar (queries.cells). Hashing them into the few hundred cells is a quarter faster.
            conn.execute("SET enable_sort = off")
            if workers is not None:
                row = conn.execute("SELECT current_setting('max_parallel_workers_per_gather')::int").fetchone()
                allowed = min(int(row[0]) if row else 0, max(0, workers))
                conn.execute(f"SET max_parallel_workers_per_gather = {allowed}")
        def execute(sql: str, params: list[Any], /, *, scan: bool = False) -> list[tuple[Any, ...]]:
            if not (scan and jit):
                return [tuple(r) for r in conn.execute(sql, params).fetchall()]
            conn.execute("SET jit = on")
            try:
                return [tuple(r) for r in conn.execute(sql, params).fetchall()]
            finally:
                # a session the scan broke reports the scan's error, not this reset's
                with contextlib.suppress(psycopg.Error):
                    conn.execute("SET jit = off")

        yield execute


@contextlib.contextmanager
def duckdb_execute(source: Any, remaining: Remaining, *, threads: int | None = None,
                   memory_mb: int | None = None) -> Iterator[Execute]:
    """DuckDBSource: one read-only connection, interrupted at the deadline.

    `memory_mb` caps DuckDB's buffer pool. By default DuckDB keeps every block it has read cached up to 80 % of
    RAM, so one scan of a table leaves all of its compressed columns resident (about 55 MiB for the benchmark's
    5M rows, all columns): memory the comparison never needs, since it scans each table once for the cells and
    the drill-down reads a few row groups back (from the OS page cache). The aggregates themselves need little
    (hundreds of groups); a larger one would spill to DuckDB's temp directory rather than fail."""
    with source.connect(remaining()) as conn:
        if threads:
            conn.execute(f"SET threads = {int(threads)}")
        if memory_mb:
            conn.execute(f"SET memory_limit = '{int(memory_mb)}MB'")

        def execute(sql: str, params: list[Any], /, *, scan: bool = False) -> list[tuple[Any, ...]]:
            return [tuple(r) for r in conn.execute(sql, params).fetchall()]

        yield execute


@contextlib.contextmanager
def snowflake_execute(source: Any, remaining: Remaining) -> Iterator[Execute]:
    """SnowflakeSource.query takes named pyformat parameters and returns dicts: number the positional %s and
    read the columns back in SELECT order."""

    def execute(sql: str, params: list[Any], /, *, scan: bool = False) -> list[tuple[Any, ...]]:
        counter = iter(range(len(params)))
        named_sql = _PLACEHOLDER.sub(lambda _m: f"%(p{next(counter)})s", sql)
        named = {f"p{i}": v for i, v in enumerate(params)}
        rows = source.query(named_sql, named, timeout=max(1.0, remaining().total_seconds()))
        return [tuple(r.values()) for r in rows]

    yield execute
