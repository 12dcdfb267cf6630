"""warehouse_freshness: how old is the newest row of a warehouse table, against its SLA?

Two modes per table:
- age:      now - max(<column>) (an event time or a metadata column like _loaded_at) vs warn_after / critical_after;
- deadline: for daily aggregates, the row for yesterday (max(<date column>) >= yesterday) must exist by
            `deadline` after midnight in `timezone` (UTC): fct_daily_volume by 01:00 UTC.
Works against Snowflake (IDENTIFIER() binding, per-statement timeout, one reconnect on session expiry) and
PostgreSQL (psycopg.sql.Identifier, statement_timeout) with the same judgement.

A newest value in the future (clock skew, local time written to an NTZ column) would read "0s old" and hide a
stale table: beyond `future_tolerance` it is a warning, and the age is judged on the newest value that is not in
the future (a second, filtered MAX). A table that cannot be queried (dropped, no grant) is that table's ERROR
finding; the other tables are still judged.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import Field, model_validator

from sentinel.api import (
    Check,
    CheckContext,
    CheckResult,
    ColumnName,
    ConnectionName,
    Duration,
    Finding,
    Params,
    SourceError,
    Status,
    TableName,
    TimeZoneName,
    crossed,
    format_duration,
    measured_status,
    require_ordered,
    target_error,
)


class FreshnessTarget(Params):
    table: TableName = Field(description="SCHEMA.TABLE or DATABASE.SCHEMA.TABLE (Snowflake); schema.table (Postgres)")
    column: ColumnName = Field(description="timestamp column (age mode) or date column (deadline mode)")
    mode: Literal["age", "deadline"] = "age"
    warn_after: Duration | None = None
    critical_after: Duration | None = Field(None, description="the SLA, in age mode")
    deadline: Duration = Field(default=timedelta(hours=1), description="deadline mode: yesterday's row by midnight + this")
    source_table: str | None = Field(None, description="pipeline table label, e.g. payments.transactions")
    stage: str = "analytics"

    @model_validator(mode="after")
    def _thresholds(self) -> FreshnessTarget:
        if self.mode == "age":
            if self.critical_after is None and self.warn_after is None:
                raise ValueError("age mode needs critical_after (the SLA) and/or warn_after")
            require_ordered("warn_after", self.warn_after, "critical_after", self.critical_after, op=">=",
                            show=format_duration)
        return self

    @property
    def label(self) -> str:
        return self.source_table or self.table.split(".")[-1].lower()


class WarehouseFreshnessParams(Params):
    backend: Literal["snowflake", "postgres"] = "snowflake"
    connection: ConnectionName = Field("default", description="PostgreSQL connection name (backend: postgres)")
    timezone: TimeZoneName = "UTC"
    tables: list[FreshnessTarget] = Field(min_length=1)
    future_tolerance: Duration = Field(default=timedelta(minutes=2),
                                       description="newest values later than now + this are reported, not trusted")


def as_utc(value: datetime) -> datetime:
    """Naive warehouse timestamps (TIMESTAMP_NTZ, Postgres timestamp) are UTC by convention."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def due_day(now: datetime, deadline: timedelta, tz: ZoneInfo) -> date:
    """The latest day whose row must exist at `now`: day D is due at local midnight ending D plus `deadline`."""
    return (now - deadline).astimezone(tz).date() - timedelta(days=1)


def _local_midnight(day: date, tz: ZoneInfo) -> datetime:
    """Midnight starting `day` in `tz`, in UTC (so adding a duration is absolute time, not wall clock)."""
    return datetime.combine(day, datetime.min.time(), tzinfo=tz).astimezone(UTC)


def evaluate_age(target: FreshnessTarget, newest: datetime | None, now: datetime,
                 future: datetime | None = None) -> Finding:
    """`newest` is the newest value not in the future; `future`, if set, the (rejected) newest value of all."""
    finding = _evaluate_age(target, newest, now)
    if future is None:
        return finding
    ahead = as_utc(future) - now
    note = (f"newest {target.column} {as_utc(future):%Y-%m-%d %H:%M} UTC is {format_duration(ahead)} in the future "
            "(clock skew, or local time in an NTZ column?); the age above ignores it")
    status = Status.worst([finding.status, Status.WARN])
    return _finding(target, status, f"{finding.summary}; {note}",
                    {**finding.values, "future_seconds": ahead.total_seconds()})


def _evaluate_age(target: FreshnessTarget, newest: datetime | None, now: datetime) -> Finding:
    values: dict[str, float] = {}
    if newest is None:
        if target.critical_after is not None:
            values["sla_seconds"] = target.critical_after.total_seconds()
        return _finding(target, Status.CRITICAL, f"{target.table} is empty: no {target.column} at all", values)
    newest = as_utc(newest)
    age = max(timedelta(0), now - newest)
    values["age_seconds"] = age.total_seconds()
    if target.critical_after is not None:
        values["sla_seconds"] = target.critical_after.total_seconds()
    status, limit = crossed(age, warn=target.warn_after, critical=target.critical_after, op=">=")
    sla = target.critical_after or target.warn_after
    assert sla is not None
    if status is Status.OK:
        summary = (f"{target.table} is {format_duration(age)} old (newest {target.column} {newest:%Y-%m-%d %H:%M} UTC), "
                   f"SLA {format_duration(sla)}")
    else:
        assert limit is not None
        over = age - limit
        summary = (f"{target.table} is {format_duration(age)} old, {format_duration(over)} over its "
                   f"{format_duration(limit)} {'SLA' if status is Status.CRITICAL else 'warning threshold'} "
                   f"(newest {target.column} {newest:%Y-%m-%d %H:%M:%S} UTC)")
    return _finding(target, status, summary, values)


def evaluate_deadline(target: FreshnessTarget, newest: date | datetime | None, now: datetime, tz: ZoneInfo) -> Finding:
    due = due_day(now, target.deadline, tz)
    pending = due + timedelta(days=1)  # the next day to arrive, due at its own deadline
    pending_due_at = _local_midnight(pending + timedelta(days=1), tz) + target.deadline
    newest_day = None if newest is None else (as_utc(newest).astimezone(tz).date() if isinstance(newest, datetime) else newest)
    values: dict[str, float] = {}  # the first value is the headline in tables
    zone = tz.key
    if newest_day is not None:
        values["days_behind"] = float(max(0, (due - newest_day).days))
    values["deadline_seconds_after_midnight"] = target.deadline.total_seconds()
    if newest_day is None or newest_day < due:
        due_at = _local_midnight(due + timedelta(days=1), tz) + target.deadline
        late = now - due_at
        values = {"seconds_past_deadline": late.total_seconds(), **values}
        latest = f"latest is {newest_day}" if newest_day else "the table is empty"
        summary = (f"{target.table} has no row for {due} at {now.astimezone(tz):%H:%M} {zone}, due by "
                   f"{due_at.astimezone(tz):%H:%M} {zone} ({format_duration(late)} late); {latest}")
        return _finding(target, Status.CRITICAL, summary, values)
    if newest_day >= pending:
        summary = f"{target.table} already has the row for {newest_day} (latest day due: {due})"
    else:
        due_txt = f"{pending_due_at.astimezone(tz):%Y-%m-%d %H:%M} {zone}"
        summary = f"{target.table} has the row for {due}; {pending} is due by {due_txt}"
    return _finding(target, Status.OK, summary, values)


def _finding(target: FreshnessTarget, status: Status, summary: str, values: dict[str, float]) -> Finding:
    return Finding(key=target.table, status=status, summary=summary, values=values,
                   labels={"table": target.label, "stage": target.stage, "warehouse_table": target.table})


def snowflake_newest_sql(cutoff: bool = False) -> str:
    where = " WHERE IDENTIFIER(%(column)s) <= %(cutoff)s" if cutoff else ""
    return "SELECT MAX(IDENTIFIER(%(column)s)) AS NEWEST FROM IDENTIFIER(%(table)s)" + where


def postgres_newest_query(target: FreshnessTarget, cutoff: bool = False) -> Any:
    from psycopg import sql

    parts = target.table.split(".")
    text = "SELECT max({col}) FROM {tbl}" + (" WHERE {col} <= %s" if cutoff else "")
    return sql.SQL(text).format(col=sql.Identifier(target.column), tbl=sql.Identifier(*parts))


class WarehouseFreshnessCheck(Check[WarehouseFreshnessParams]):
    kind = "warehouse_freshness"
    Params = WarehouseFreshnessParams
    runbook = "freshness-sla-breach"
    warm_imports = ("sentinel.sources.postgres", "sentinel.sources.snowflake")

    def describe(self) -> str:
        parts = []
        for t in self.params.tables:
            if t.mode == "deadline":
                parts.append(f"{t.table} yesterday's row by +{format_duration(t.deadline)}")
            else:
                parts.append(f"{t.table} < {format_duration(t.critical_after or t.warn_after or timedelta(0))}")
        return f"{self.params.backend}: " + ", ".join(parts)

    def run(self, ctx: CheckContext) -> CheckResult:
        p = self.params
        now = ctx.now()
        tz = ZoneInfo(p.timezone)
        if p.backend == "postgres":
            pg = ctx.sources.postgres(p.connection)

            def newest_pg(t: FreshnessTarget, cutoff: datetime | None) -> Any:
                row = pg.fetch_one(postgres_newest_query(t, cutoff is not None),
                                   None if cutoff is None else (cutoff,), ctx.remaining())
                return row[0] if row else None

            findings = [self._measure(ctx, t, newest_pg, now, tz) for t in p.tables]
        else:
            with ctx.sources.snowflake(timeout=ctx.remaining_seconds()) as sf:
                def newest_sf(t: FreshnessTarget, cutoff: datetime | None) -> Any:
                    params = {"column": t.column.upper(), "table": t.table.upper(), "cutoff": cutoff}
                    rows = sf.query(snowflake_newest_sql(cutoff is not None), params, timeout=ctx.remaining_seconds())
                    return rows[0]["NEWEST"] if rows else None

                findings = [self._measure(ctx, t, newest_sf, now, tz) for t in p.tables]
        bad = [f for f in findings if f.status is not Status.OK]
        unmeasured = [f for f in bad if f.status is Status.ERROR]
        if bad and len(unmeasured) == len(bad):  # "stale" would claim an age nobody could read
            summary = (f"{len(bad)}/{len(findings)} {p.backend} tables could not be measured: "
                       + " | ".join(f.summary for f in bad[:3]))
        elif bad:
            summary = f"{len(bad)}/{len(findings)} {p.backend} tables stale: " + " | ".join(f.summary for f in bad[:3])
        else:
            summary = f"all {len(findings)} {p.backend} tables within their freshness SLAs"
        details = {"query": snowflake_newest_sql() if p.backend == "snowflake" else "SELECT max(<column>) FROM <table>"}
        return ctx.result(self.kind, measured_status(findings), summary, values={"stale_tables": float(len(bad))},
                          details=details, findings=findings)

    def _measure(self, ctx: CheckContext, t: FreshnessTarget, newest_of: Callable[[FreshnessTarget, datetime | None], Any],
                 now: datetime, tz: ZoneInfo) -> Finding:
        """One table's finding; a failing query is this table's ERROR finding, not the whole check's."""
        system = "Snowflake" if self.params.backend == "snowflake" else "PostgreSQL"
        try:
            with ctx.doing(f"{system} query MAX({t.column}) on {t.table}"):
                value = newest_of(t, None)
                if t.mode == "deadline":
                    return evaluate_deadline(t, value, now, tz)
                newest = _ts(t, value)
                cutoff = now + self.params.future_tolerance
                if newest is None or as_utc(newest) <= cutoff:
                    return evaluate_age(t, newest, now)
                # naive (NTZ) columns hold UTC by convention: bind a naive cutoff for them, an aware one otherwise
                bound = cutoff.replace(tzinfo=None) if newest.tzinfo is None else cutoff
                return evaluate_age(t, _ts(t, newest_of(t, bound)), now, future=newest)
        except Exception as exc:
            return target_error(t.table, exc, {"table": t.label, "stage": t.stage, "warehouse_table": t.table},
                                what=f"{system} table {t.table}")


def _ts(target: FreshnessTarget, value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    if isinstance(value, date):  # a date column in age mode: the day's end is its freshest moment
        return datetime.combine(value + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    raise SourceError(f"max({target.column}) on {target.table} is {type(value).__name__} {str(value)[:40]!r}, not a timestamp",
                      hint="point `column` at a TIMESTAMP column (or use mode: deadline for a date column)")
