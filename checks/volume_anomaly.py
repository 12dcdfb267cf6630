"""volume_anomaly: is the last complete hour's row count normal for that hour of the week?

Catches what a healthy-looking pipeline hides: upstream of PostgreSQL the payments API loses 60% of transactions,
every hop stays fresh and reconciled because it faithfully carries less data, and the Executive Dashboard is wrong.

Per table: count rows per bucket (default one hour) from PostgreSQL or Snowflake, or bytes of the Parquet objects
the S3 sink wrote per bucket (backend s3, by object LastModified); keep the counts in check memory
(the state store), and judge the newest complete bucket against the same bucket of the week over the last N weeks
(median / MAD, see checks/_seasonal.py). A restart keeps the history; what is missing is counted from the table
itself, one bucket per past week (see _history), so a young table is "not enough history", not a history of zeros.
With too few weeks the finding says so and does not guess.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import Field, model_validator

from sentinel.api import (
    Check,
    CheckContext,
    CheckError,
    CheckResult,
    ColumnName,
    ConnectionName,
    Duration,
    Finding,
    Params,
    Status,
    TableName,
)

from ._seasonal import WEEK, Direction, Judgement, SeasonalSettings, Window, judge
from ._volume_counts import postgres_counts, s3_bytes, snowflake_counts

CATCH_UP = 24  # after a longer gap (daemon down) only the judged bucket is counted, not every hour in between


class VolumeTable(Params):
    table: TableName = Field(description="schema.table (Postgres) or [DATABASE.]SCHEMA.TABLE (Snowflake)")
    timestamp_column: ColumnName | None = Field(None, description="when the row happened (created_at, _loaded_at)")
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
            if self.backend != "s3" and not t.timestamp_column:
                raise ValueError(f"backend {self.backend}: table {t.table} needs timestamp_column")
        return self

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


def finding_for(t: VolumeTable, j: Judgement, p: VolumeAnomalyParams) -> Finding:
    status = Status.CRITICAL if j.anomalous else Status.OK
    unit = "bytes" if p.backend == "s3" else "rows"
    values = {f"observed_{unit}": j.observed, "history_weeks": float(j.history_points)}
    if j.expected is not None and j.low is not None and j.high is not None:
        values.update({f"expected_{unit}": j.expected, f"expected_low_{unit}": j.low, f"expected_high_{unit}": j.high})
    details = {"verdict": j.verdict, "bucket_start": j.bucket_at.isoformat(), "source": f"{p.backend} {t.table}"}
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
            history = self._history(ctx, t, bucket_at)
        except CheckError as exc:  # SourceError included: this table could not be counted, the others can
            return Finding(key=t.table, status=Status.ERROR, summary=f"{t.label}: cannot count: {exc}",
                           labels={"table": t.label, "stage": t.stage}, details={"error": str(exc)})
        observed = history.get(bucket_at, 0.0)
        past = {k: v for k, v in history.items() if k < bucket_at}
        return finding_for(t, judge(past, bucket_at, observed, p.bucket, p.seasonal(), p.windows()), p)

    def _history(self, ctx: CheckContext, t: VolumeTable, bucket_at: datetime) -> dict[datetime, float]:
        """Stored counts, topped up with only what this judgement needs; the judged bucket is always re-counted.

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
        fresh = fill_zeros(self._count(ctx, t, since, bucket_at + p.bucket), since, bucket_at + p.bucket, p.bucket)
        for weeks_back in range(1, p.training_weeks + 1):
            past = bucket_at - weeks_back * WEEK
            if past not in stored and past not in fresh:
                fresh.update({b: n for b, n in self._count(ctx, t, past, past + p.bucket).items() if n > 0})
        merged = {k: v for k, v in {**stored, **fresh}.items() if k >= horizon}
        ctx.memory.save(key, {k.isoformat(): v for k, v in sorted(merged.items())})
        return merged

    def _count(self, ctx: CheckContext, t: VolumeTable, start: datetime, end: datetime) -> dict[datetime, float]:
        p = self.params
        if p.backend == "s3":
            assert t.s3_bucket and t.s3_prefix  # validated in Params
            return s3_bytes(ctx, t.s3_bucket, t.s3_prefix, start, end, p.bucket)
        assert t.timestamp_column  # validated in Params
        if p.backend == "postgres":
            return postgres_counts(ctx, p.connection, t.table, t.timestamp_column, start, end, p.bucket)
        return snowflake_counts(ctx, t.table, t.timestamp_column, start, end, p.bucket)


def fill_zeros(counts: dict[datetime, float], start: datetime, end: datetime, width: timedelta) -> dict[datetime, float]:
    """Every bucket in [start, end): its count, or 0 when the GROUP BY returned no row for it."""
    out: dict[datetime, float] = {}
    at = start
    while at < end:
        out[at] = counts.get(at, 0.0)
        at += width
    return out
