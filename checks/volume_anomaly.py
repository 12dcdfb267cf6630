"""volume_anomaly: is the last complete hour's row count normal for that hour of the week?

Catches what a healthy-looking pipeline hides: upstream of PostgreSQL the payments API loses 60% of transactions,
every hop stays fresh and reconciled because it faithfully carries less data, and the Executive Dashboard is wrong.

Per table: count rows per bucket (default one hour) from PostgreSQL or Snowflake, or bytes of the Parquet objects
the S3 sink wrote per bucket (backend s3, by object LastModified); keep the counts in check memory
(the state store), and judge the newest complete bucket against the same bucket of the week over the last N weeks
(median / MAD, see checks/_seasonal.py). A restart keeps the history; what is missing is counted from the table
itself, one bucket per past week (see _history), so a young table is "not enough history", not a history of zeros.
With too few weeks the finding says so and does not guess.

A table with `reconciliation:` reads the rows per bucket a row_reconciliation check already counted (its memory,
read-only, checks/_bucket_counts.py) instead of counting again: the source side's for backend postgres, the target's
for snowflake. When those counts do not cover the judged bucket (stale, other bucket tiers, another table), the table
is counted itself if it has a timestamp_column; otherwise the finding is ERROR and says why. `details.counted_by`
names what counted the judged bucket.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import Field, model_validator

from sentinel.api import (
    Check,
    CheckContext,
    CheckError,
    CheckReference,
    CheckResult,
    ColumnName,
    ConnectionName,
    Duration,
    Finding,
    Params,
    Status,
    TableName,
)

from ._bucket_counts import Reading, Side, counts_key, read_counts
from ._seasonal import WEEK, Direction, Judgement, SeasonalSettings, Window, judge
from ._volume_counts import postgres_counts, s3_bytes, snowflake_counts

CATCH_UP = 24  # after a longer gap (daemon down) only the judged bucket is counted, not every hour in between


class ReconciledCounts(Params):
    """Read the rows per bucket a row_reconciliation check already counted, instead of counting the table again."""

    check: str = Field(min_length=1, description="id of the row_reconciliation check comparing this table")
    pair: str | None = Field(None, description="its pair name (default: this table's source_table, else table)")


class VolumeTable(Params):
    table: TableName = Field(description="schema.table (Postgres) or [DATABASE.]SCHEMA.TABLE (Snowflake)")
    timestamp_column: ColumnName | None = Field(None, description="when the row happened (created_at, _loaded_at); "
                                                "with `reconciliation`, optional: without it there is no fallback query")
    reconciliation: ReconciledCounts | None = Field(None, description="backend postgres: the pair's source counts; "
                                                    "snowflake: its target counts; missing or stale ones are counted "
                                                    "from the table when timestamp_column is set")
    s3_bucket: str | None = Field(None, description="backend s3: the lake bucket")
    s3_prefix: str | None = Field(None, description="backend s3: e.g. raw/payments/transactions/ (holds dt=YYYY-MM-DD/)")
    source_table: str | None = Field(None, description="pipeline table label, e.g. payments.transactions")
    stage: str = "postgres"
    dashboards: list[str] = Field(default_factory=list, description="what is wrong when this count is wrong")

    @property
    def label(self) -> str:
        return self.source_table or self.table.lower()


class ExclusionWindow(Params):
    start: datetime
    end: datetime
    reason: str = Field(min_length=1, description="holiday, maintenance, backfill INC-123 ...")

    @model_validator(mode="after")
    def _ordered(self) -> ExclusionWindow:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("exclusion start and end need a time zone (write ...Z for UTC)")
        if self.end <= self.start:
            raise ValueError("exclusion end must be after its start")
        return self


class VolumeAnomalyParams(Params):
    backend: Literal["postgres", "snowflake", "s3"] = "postgres"
    connection: ConnectionName = Field("default", description="PostgreSQL connection name (backend: postgres)")
    bucket: Duration = Field(timedelta(hours=1), description="count per this much time; must divide a week")
    settle: Duration = Field(timedelta(0), description="wait this long after a bucket ends before judging it (late rows)")
    sensitivity: float = Field(4.0, gt=0, description="band half-width in robust standard deviations (MAD x 1.4826)")
    min_band_ratio: float = Field(0.2, ge=0, lt=1, description="the band is never narrower than +- this share")
    direction: Direction = "both"
    training_weeks: int = Field(6, ge=1, le=26, description="compare with the same hour of this many past weeks")
    min_history: int = Field(3, ge=1, description="past same-hour points needed before judging")
    exclusions: list[ExclusionWindow] = Field(default_factory=list)
    tables: list[VolumeTable] = Field(min_length=1)

    @model_validator(mode="after")
    def _coherent(self) -> VolumeAnomalyParams:
        if self.bucket <= timedelta(0) or WEEK % self.bucket:
            raise ValueError("bucket must divide a week evenly (e.g. 15m, 1h, 4h, 1d)")
        if self.min_history > self.training_weeks:
            raise ValueError("min_history cannot exceed training_weeks")
        for t in self.tables:
            if self.backend == "s3" and not (t.s3_bucket and t.s3_prefix):
                raise ValueError(f"backend s3: table {t.table} needs s3_bucket and s3_prefix")
            if self.backend == "s3" and t.reconciliation:
                raise ValueError(f"backend s3 judges bytes: table {t.table} cannot use reconciliation row counts")
            if self.backend != "s3" and not (t.timestamp_column or t.reconciliation):
                raise ValueError(f"backend {self.backend}: table {t.table} needs timestamp_column (or reconciliation)")
        return self

    def check_references(self) -> list[CheckReference]:
        return [CheckReference(("tables", i, "reconciliation", "check"), t.reconciliation.check, "row_reconciliation")
                for i, t in enumerate(self.tables) if t.reconciliation]

    def seasonal(self) -> SeasonalSettings:
        return SeasonalSettings(self.sensitivity, self.direction, self.training_weeks, self.min_history,
                                self.min_band_ratio)

    def windows(self) -> list[Window]:
        return [Window(e.start.astimezone(UTC), e.end.astimezone(UTC)) for e in self.exclusions]


def judged_bucket(now: datetime, bucket: timedelta, settle: timedelta) -> datetime:
    """Start of the newest bucket that is complete (and settled) at `now`."""
    seconds = int(bucket.total_seconds())
    edge = int((now - settle).timestamp()) // seconds * seconds
    return datetime.fromtimestamp(edge, tz=UTC) - bucket


def _fmt(value: float) -> str:
    return f"{value:,.0f}"


def describe_judgement(t: VolumeTable, j: Judgement, width: timedelta, weeks: int, unit: str = "rows") -> str:
    """One line for 3 a.m.: the window, the observed count, the band and where it comes from."""
    end = j.bucket_at + width
    when = f"{j.bucket_at:%a %H:%M}-{end:%H:%M} UTC"
    if j.verdict == "excluded":
        return f"{t.label} {when}: {_fmt(j.observed)} {unit}, not judged (inside an exclusion window)"
    if j.verdict == "insufficient_history":
        return (f"{t.label} {when}: {_fmt(j.observed)} {unit}, not judged: only {j.history_points} past "
                f"{j.bucket_at:%A}s at {j.bucket_at:%H:%M} in history (needs {weeks} weeks to learn, judges from the minimum)")
    assert j.low is not None and j.high is not None
    basis = f"same hour, last {j.history_points} {j.bucket_at:%A}s"
    measured = f"{when}: {_fmt(j.observed)} {unit}, expected {_fmt(j.low)}-{_fmt(j.high)} ({basis})"
    if not (j.anomalous and j.expected):
        return f"{t.label} {measured}"
    change = (j.observed - j.expected) / j.expected
    risk = f"; at risk: {', '.join(t.dashboards)}" if t.dashboards else ""
    return f"{t.label} volume {j.verdict} {change:+.0%}: {measured}{risk}"


def finding_for(t: VolumeTable, j: Judgement, p: VolumeAnomalyParams, counted_by: str | None = None) -> Finding:
    status = Status.CRITICAL if j.anomalous else Status.OK
    unit = "bytes" if p.backend == "s3" else "rows"
    values = {f"observed_{unit}": j.observed, "history_weeks": float(j.history_points)}
    if j.expected is not None and j.low is not None and j.high is not None:
        values.update({f"expected_{unit}": j.expected, f"expected_low_{unit}": j.low, f"expected_high_{unit}": j.high})
    details = {"verdict": j.verdict, "bucket_start": j.bucket_at.isoformat(), "source": f"{p.backend} {t.table}"}
    if counted_by:
        details["counted_by"] = counted_by
    if t.dashboards:
        details["dashboards_at_risk"] = ", ".join(t.dashboards)
    return Finding(key=t.table, status=status, summary=describe_judgement(t, j, p.bucket, p.training_weeks, unit),
                   values=values, details=details,
                   # labels make the alert key: only stable ones, or a drop's alert could never resolve
                   labels={"table": t.label, "stage": t.stage})


class VolumeAnomalyCheck(Check[VolumeAnomalyParams]):
    kind = "volume_anomaly"
    Params = VolumeAnomalyParams
    runbook = "volume-anomaly"

    def describe(self) -> str:
        p = self.params
        return (f"{p.backend}: {len(p.tables)} table(s), {p.direction} beyond {p.sensitivity:g} robust sigma of the "
                f"same hour over {p.training_weeks} weeks")

    def run(self, ctx: CheckContext) -> CheckResult:
        p = self.params
        bucket_at = judged_bucket(ctx.now(), p.bucket, p.settle)
        findings = [self._judge_table(ctx, t, bucket_at) for t in p.tables]
        bad = [f for f in findings if f.status is not Status.OK]
        if bad:
            summary = (f"{len(bad)}/{len(findings)} tables off their seasonal volume or not counted: "
                       + " | ".join(f.summary for f in bad[:3]))
        else:
            summary = f"{len(findings)} table(s) checked for {bucket_at:%a %H:%M} UTC: " + " | ".join(
                f.summary for f in findings[:2])
        return ctx.result(self.kind, Status.worst(f.status for f in findings), summary,
                          values={"anomalous_tables": float(len(bad))}, findings=findings)

    def _judge_table(self, ctx: CheckContext, t: VolumeTable, bucket_at: datetime) -> Finding:
        p = self.params
        try:
            history, counted_by = self._history(ctx, t, bucket_at)
        except CheckError as exc:  # SourceError included: this table could not be counted, the others can
            return Finding(key=t.table, status=Status.ERROR, summary=f"{t.label}: cannot count: {exc}",
                           labels={"table": t.label, "stage": t.stage}, details={"error": str(exc)})
        observed = history.get(bucket_at, 0.0)
        past = {k: v for k, v in history.items() if k < bucket_at}
        return finding_for(t, judge(past, bucket_at, observed, p.bucket, p.seasonal(), p.windows()), p, counted_by)

    def _history(self, ctx: CheckContext, t: VolumeTable, bucket_at: datetime) -> tuple[dict[datetime, float], str]:
        """Stored counts, topped up with only what this judgement needs; the judged bucket is always re-counted
        (or re-read from the reconciliation's counts). Returns the history and what counted the judged bucket.

        Never one big backfill: 6 weeks of a 50M-rows-a-day table in one GROUP BY would hit statement_timeout on every
        run and the check would never learn. Instead each run counts the judged bucket (plus the few buckets since the
        last run, so every hour gets stored) and the same bucket of each past week it does not know yet, one
        bucket-sized range each. A past bucket with no rows is not stored: it may predate the table, and "not enough
        history" is better than a baseline of zeros (the judged bucket's zero is real and is stored).
        """
        p = self.params
        key = f"counts:{t.table}"
        stored = {datetime.fromisoformat(k): float(v) for k, v in (ctx.memory.load(key) or {}).items()}
        horizon = bucket_at - p.training_weeks * WEEK
        known = [k for k in stored if k < bucket_at]
        since = max(known) + p.bucket if known and bucket_at - max(known) <= CATCH_UP * p.bucket else bucket_at
        weeks = [bucket_at - n * WEEK for n in range(1, p.training_weeks + 1)]
        reading = self._reconciled(ctx, t, [*bucket_starts(since, bucket_at + p.bucket, p.bucket), *weeks])
        fresh, counted_by = self._fresh(ctx, t, since, bucket_at, reading)
        for past in weeks:
            if past not in stored and past not in fresh:
                fresh.update(self._past(ctx, t, past, reading))
        merged = {k: v for k, v in {**stored, **fresh}.items() if k >= horizon}
        ctx.memory.save(key, {k.isoformat(): v for k, v in sorted(merged.items())})
        return merged, counted_by

    def _reconciled(self, ctx: CheckContext, t: VolumeTable, starts: list[datetime]) -> Reading | None:
        """The configured row_reconciliation's counts of this table (read-only), or None without one."""
        if t.reconciliation is None:
            return None
        record = ctx.memory.load_from(t.reconciliation.check, counts_key(t.reconciliation.pair or t.label))
        side: Side = "source" if self.params.backend == "postgres" else "target"
        return read_counts(record, side, t.table, t.timestamp_column, self.params.bucket, starts)

    def _fresh(self, ctx: CheckContext, t: VolumeTable, since: datetime, bucket_at: datetime,
               reading: Reading | None) -> tuple[dict[datetime, float], str]:
        """The buckets since the last run up to the judged one: from the reconciliation when it counted the judged
        bucket, else from the table (saying why), else an error that says why it cannot judge."""
        p = self.params
        end = bucket_at + p.bucket
        if reading is not None and t.reconciliation is not None:
            who = f"row_reconciliation {t.reconciliation.check!r} (pair {t.reconciliation.pair or t.label})"
            if bucket_at in reading.counts:
                return {b: n for b, n in reading.counts.items() if since <= b < end}, f"{who}, no query"
            why = f"{who} has no count for {bucket_at:%a %H:%M}-{end:%H:%M} UTC: {self._why(reading, end)}"
            if not t.timestamp_column:
                raise CheckError(f"{why}; there is no timestamp_column to count {t.table} itself")
            return fill_zeros(self._count(ctx, t, since, end), since, end, p.bucket), f"{p.backend} query ({why})"
        return fill_zeros(self._count(ctx, t, since, end), since, end, p.bucket), f"{p.backend} query"

    def _why(self, reading: Reading, end: datetime) -> str:
        if reading.problem:
            return reading.problem
        if reading.counted_to is not None and reading.counted_to < end:
            return (f"its counts reach only {reading.counted_to:%a %H:%M} UTC (stale: it has not run since the bucket "
                    f"ended, or this check's settle is shorter than its in_flight plus its interval)")
        return ("it keeps no bucket of exactly that span (its bucket tiers differ, or it last compared that span before "
                "it kept counts)")

    def _past(self, ctx: CheckContext, t: VolumeTable, past: datetime, reading: Reading | None) -> dict[datetime, float]:
        """The same bucket of a past week: from the reconciliation if it has it, else counted if the table can be."""
        if reading is not None and past in reading.counts:
            counted = {past: reading.counts[past]}
        elif t.timestamp_column or self.params.backend == "s3":
            counted = self._count(ctx, t, past, past + self.params.bucket)
        else:
            counted = {}
        return {b: n for b, n in counted.items() if n > 0}

    def _count(self, ctx: CheckContext, t: VolumeTable, start: datetime, end: datetime) -> dict[datetime, float]:
        p = self.params
        if p.backend == "s3":
            assert t.s3_bucket and t.s3_prefix  # validated in Params
            return s3_bytes(ctx, t.s3_bucket, t.s3_prefix, start, end, p.bucket)
        assert t.timestamp_column  # validated in Params
        if p.backend == "postgres":
            return postgres_counts(ctx, p.connection, t.table, t.timestamp_column, start, end, p.bucket)
        return snowflake_counts(ctx, t.table, t.timestamp_column, start, end, p.bucket)


def bucket_starts(start: datetime, end: datetime, width: timedelta) -> list[datetime]:
    return [start + i * width for i in range((end - start) // width)]


def fill_zeros(counts: dict[datetime, float], start: datetime, end: datetime, width: timedelta) -> dict[datetime, float]:
    """Every bucket in [start, end): its count, or 0 when the GROUP BY returned no row for it."""
    return {at: counts.get(at, 0.0) for at in bucket_starts(start, end, width)}
