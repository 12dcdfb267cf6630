"""Row counts per time bucket from PostgreSQL or Snowflake, for volume_anomaly.

One GROUP BY over [start, end) returns only buckets that have rows; the caller fills the rest with zero, because an
hour without a single row is the loudest volume anomaly there is, not a missing measurement.
Buckets are epoch-aligned (floor(epoch seconds / width)), so an hourly bucket is a UTC hour in both databases.
Naive timestamps (Postgres `timestamp`, Snowflake TIMESTAMP_NTZ) are UTC by the pipeline's convention.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sentinel.api import CheckContext


def _epoch_buckets(rows: list[tuple[Any, Any]], width: timedelta) -> dict[datetime, float]:
    seconds = int(width.total_seconds())
    return {datetime.fromtimestamp(int(b) * seconds, tz=UTC): float(n) for b, n in rows if b is not None}


def postgres_counts(ctx: CheckContext, connection: str, table: str, column: str, start_at: datetime,
                    end_at: datetime, width: timedelta) -> dict[datetime, float]:
    from psycopg import sql

    col = sql.Identifier(column)
    # extract(epoch) of a naive timestamp is its nominal UTC wall time; of a timestamptz its instant: both UTC.
    query = sql.SQL(
        "SELECT floor(extract(epoch FROM {col}) / %(w)s)::bigint AS b, count(*) FROM {tbl} "
        "WHERE {col} >= %(start)s AND {col} < %(end)s GROUP BY 1"
    ).format(col=col, tbl=sql.Identifier(*table.split(".")))
    source = ctx.sources.postgres(connection)
    # Bind the range in the column's own type: a naive bound against a timestamptz column (or the reverse) would be
    # converted with the session's TimeZone, which is the server's, not necessarily UTC. Both keep the index usable.
    aware = _postgres_column_is_aware(ctx, source, table, column)
    bound = (lambda t: t) if aware else _naive
    params = {"w": int(width.total_seconds()), "start": bound(start_at), "end": bound(end_at)}
    rows = source.fetch_all(query, params, ctx.remaining())
    return _epoch_buckets([(r[0], r[1]) for r in rows], width)


def _postgres_column_is_aware(ctx: CheckContext, source: Any, table: str, column: str) -> bool:
    schema, name = table.split(".")
    row = source.fetch_one(
        "SELECT data_type FROM information_schema.columns WHERE table_schema = %s AND table_name = %s AND column_name = %s",
        (schema, name, column), ctx.remaining())
    return row is not None and row[0] == "timestamp with time zone"


SNOWFLAKE_COUNTS_SQL = (
    "SELECT FLOOR(DATE_PART(EPOCH_SECOND, IDENTIFIER(%(column)s)) / %(w)s) AS B, COUNT(*) AS N "
    "FROM IDENTIFIER(%(table)s) WHERE IDENTIFIER(%(column)s) >= %(start)s AND IDENTIFIER(%(column)s) < %(end)s "
    "GROUP BY 1"
)


def snowflake_counts(ctx: CheckContext, table: str, column: str, start_at: datetime, end_at: datetime,
                     width: timedelta) -> dict[datetime, float]:
    params = {"column": column.upper(), "table": table.upper(), "w": int(width.total_seconds()),
              "start": _naive(start_at), "end": _naive(end_at)}
    with ctx.sources.snowflake(timeout=ctx.remaining_seconds()) as sf:
        rows = sf.query(SNOWFLAKE_COUNTS_SQL, params, timeout=ctx.remaining_seconds())
    return _epoch_buckets([(r["B"], r["N"]) for r in rows], width)


def _naive(when: datetime) -> datetime:
    """Bound as a naive UTC wall time: compares right against naive columns, and against aware ones in a UTC session."""
    return when.astimezone(UTC).replace(tzinfo=None)


def s3_bytes(ctx: CheckContext, bucket: str, prefix: str, start_at: datetime, end_at: datetime,
             width: timedelta) -> dict[datetime, float]:
    """Bytes of the objects written per bucket (by LastModified) in the dt= partitions that [start, end) touches.

    A file for day D can land just after midnight, so the partition of the day before start is listed too.
    """
    s3 = ctx.sources.s3()
    seconds = int(width.total_seconds())
    out: dict[datetime, float] = {}
    day = (start_at - timedelta(days=1)).date()
    while day <= end_at.date():
        for obj in s3.iter_objects(bucket, f"{prefix}dt={day.isoformat()}/", timeout=ctx.remaining_seconds()):
            at = obj.last_modified.astimezone(UTC)
            if start_at <= at < end_at:
                key = datetime.fromtimestamp(int(at.timestamp()) // seconds * seconds, tz=UTC)
                out[key] = out.get(key, 0.0) + obj.size
        day += timedelta(days=1)
    return out
