"""s3_partition_arrival: raw events land under s3://<bucket>/raw/<schema>/<table>/dt=YYYY-MM-DD/ (S3 sink connector).

Per prefix, one finding judging:
- today's partition exists by `partition_deadline` after midnight (in `timezone`, UTC by default);
- it keeps receiving files: age of its newest object vs `newest_warn_after` / `newest_critical_after`;
- yesterday's partition is complete: files landing more than `late_grace` after its close are a warning;
- no gap in dt= partitions over the last `gap_lookback_days` closed days (critical);
- yesterday's object count and bytes vs the median of the same weekday over the last `size_weeks` weeks.

Marker objects are never data: 0-byte keys, keys ending in `/` (console "folders") and names starting with `_` or
`.` (`_SUCCESS`, `.crc`, `_temporary/`). Otherwise a partition holding only a folder marker reads "has 1 files" and
a `_SUCCESS` rewritten a minute ago hides data files that are 50 minutes old. Objects stamped in the future (beyond
`future_tolerance`) are reported as a warning and the age is judged on the newest object that is not in the future.
A prefix that cannot be listed is that prefix's ERROR finding; the other prefixes are still judged.

`mode: daily` is for outputs written once per closed day (processed/daily_transaction_summary/): the partition of
the last closed day must exist by `partition_deadline` after midnight, with no gaps and a plausible size
(see checks/_lake.py).

Day boundaries are computed in `timezone` with zoneinfo and compared as aware UTC instants, so DST days
(23 or 25 hours long) and midnight are exact.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator, model_validator

from sentinel.api import (
    Check,
    CheckContext,
    CheckResult,
    Duration,
    Finding,
    Params,
    Status,
    TimeZoneName,
    crossed,
    format_duration,
    judge,
    measured_status,
    require_ordered,
    target_error,
)

from ._lake import due_day, human_bytes, is_marker, judge_daily, other_layouts


class S3PartitionArrivalParams(Params):
    bucket: str = Field(min_length=3)
    prefixes: list[str] = Field(min_length=1, description="e.g. raw/payments/transactions/ (dt= partitions below)")
    mode: Literal["stream", "daily"] = Field("stream", description="stream: today's partition keeps receiving files; "
                                             "daily: one partition per closed day, due by partition_deadline")
    table_labels: dict[str, str] = Field(default_factory=dict,
                                         description="prefix -> pipeline table label (default: the last two folders)")
    stage: str = Field("s3", pattern=r"^[a-z_]+$", description="the pipeline stage these prefixes are")
    timezone: TimeZoneName = "UTC"
    partition_deadline: Duration = Field(default=timedelta(minutes=15), description="today's dt= must exist by then")
    newest_warn_after: Duration = timedelta(minutes=15)
    newest_critical_after: Duration = timedelta(minutes=30)
    late_grace: Duration = Field(default=timedelta(hours=1), description="yesterday's files after close+grace: warn")
    gap_lookback_days: int = Field(7, ge=1, le=60)
    size_weeks: int = Field(4, ge=0, le=12, description="same-weekday partitions compared; 0 = no size check")
    size_warn_ratio: float = Field(0.5, gt=0, le=1)
    size_critical_ratio: float = Field(0.2, ge=0, le=1)
    partition_key: str = Field("dt", pattern=r"^[a-z_]+$")
    future_tolerance: Duration = Field(default=timedelta(minutes=2),
                                       description="objects newer than now + this are clock skew: warn, not fresh")

    @field_validator("prefixes")
    @classmethod
    def _slash(cls, prefixes: list[str]) -> list[str]:
        return [p if p.endswith("/") else p + "/" for p in prefixes]

    @field_validator("table_labels")
    @classmethod
    def _label_slash(cls, labels: dict[str, str]) -> dict[str, str]:
        return {(k if k.endswith("/") else k + "/"): v for k, v in labels.items()}

    def labels_for(self, prefix: str) -> dict[str, str]:
        return {"table": self.table_labels.get(prefix, table_label(prefix)), "stage": self.stage, "prefix": prefix}

    @model_validator(mode="after")
    def _order(self) -> S3PartitionArrivalParams:
        require_ordered("newest_warn_after", self.newest_warn_after, "newest_critical_after",
                        self.newest_critical_after, op=">=", show=format_duration)
        require_ordered("size_warn_ratio", self.size_warn_ratio, "size_critical_ratio", self.size_critical_ratio, op="<")
        return self


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    last_modified: datetime


@dataclass(frozen=True)
class PartitionStats:
    count: int
    bytes: int


@dataclass(frozen=True)
class PrefixObservation:
    """Everything listed for one prefix, as plain values."""

    prefix: str
    partition_dates: frozenset[date]  # dt= partitions present (within the listed range)
    today: Sequence[ObjectInfo]
    yesterday: Sequence[ObjectInfo]
    history: dict[date, PartitionStats]  # same weekday as yesterday, previous weeks
    other_layouts: tuple[str, ...] = ()  # e.g. ("date=2025-01-14/",): partitions under another key, for a hint




def day_bounds(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) of a calendar day in `tz`, as aware UTC datetimes (23h/25h apart on DST days).

    Converted to UTC because Python subtracts two datetimes of the same tzinfo by wall clock, ignoring DST.
    """
    start = datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz).astimezone(UTC)
    return start, end


def local_today(now: datetime, tz: ZoneInfo) -> date:
    return now.astimezone(tz).date()


def table_label(prefix: str) -> str:
    """raw/payments/transactions/ -> payments.transactions (the pipeline's table name)."""
    parts = [p for p in prefix.strip("/").split("/") if p]
    if len(parts) >= 2:
        return f"{parts[-2]}.{parts[-1]}"
    return prefix.strip("/")


def history_days(yesterday: date, weeks: int) -> list[date]:
    return [yesterday - timedelta(weeks=w) for w in range(1, weeks + 1)]


def evaluate_prefix(obs: PrefixObservation, now: datetime, p: S3PartitionArrivalParams) -> Finding:
    """Judge one prefix. Pure: plain values in, one Finding out."""
    tz = ZoneInfo(p.timezone)
    today = local_today(now, tz)
    yesterday = today - timedelta(days=1)
    today_start, _ = day_bounds(today, tz)
    _, yesterday_end = day_bounds(yesterday, tz)
    since_midnight = now - today_start
    problems: list[tuple[Status, str, str]] = []  # status, text, headline value
    values: dict[str, float] = {"seconds_since_midnight": since_midnight.total_seconds()}
    key = p.partition_key

    # 1. today's partition exists by the deadline, and keeps receiving files
    values["today_objects"] = float(len(obs.today))
    overdue = judge(since_midnight, warn=None, critical=p.partition_deadline, op=">=")
    if not obs.today and overdue is not Status.OK:
        problems.append((overdue, f"today's partition {key}={today} is missing "
                         f"{format_duration(since_midnight)} after midnight {p.timezone} "
                         f"(deadline {format_duration(p.partition_deadline)})", "seconds_since_midnight"))
    else:
        # Before today's deadline an empty partition is normal: judge the newest file of yesterday instead,
        # so a sink that stopped at 22:00 is not invisible until 00:15.
        newest_day, pool = (today, obs.today) if obs.today else (yesterday, obs.yesterday)
        future = [o for o in pool if o.last_modified > now + p.future_tolerance]
        pool = [o for o in pool if o.last_modified <= now + p.future_tolerance]
        if future:
            ahead = max(o.last_modified for o in future) - now
            values["future_objects"] = float(len(future))
            problems.append((Status.WARN, f"{len(future)} file(s) in {key}={newest_day} are stamped up to "
                             f"{format_duration(ahead)} in the future (clock skew?); age judged without them",
                             "future_objects"))
        if pool:
            newest = max(o.last_modified for o in pool)
            age = max(timedelta(0), now - newest)
            values["newest_object_age_seconds"] = age.total_seconds()
            status, limit = crossed(age, warn=p.newest_warn_after, critical=p.newest_critical_after, op=">=")
            if status is not Status.OK and limit is not None:
                problems.append((status, f"newest file in {key}={newest_day} is {format_duration(age)} old "
                                 f"(threshold {format_duration(limit)})", "newest_object_age_seconds"))

    # 2. yesterday complete: nothing landing long after close
    late = [o for o in obs.yesterday if o.last_modified > yesterday_end + p.late_grace]
    values["yesterday_late_objects"] = float(len(late))
    if late:
        latest = max(o.last_modified for o in late)
        problems.append((Status.WARN, f"{len(late)} file(s) landed in {key}={yesterday} after its close + "
                         f"{format_duration(p.late_grace)} (latest {format_duration(latest - yesterday_end)} after "
                         f"midnight): dbt may have built {yesterday} without them", "yesterday_late_objects"))

    # 3. gaps among closed days
    expected = [yesterday - timedelta(days=i) for i in range(p.gap_lookback_days)]
    missing = sorted(d for d in expected if d not in obs.partition_dates)
    values["missing_partitions"] = float(len(missing))
    if missing:
        shown = ", ".join(f"{key}={d}" for d in missing[:5]) + (" ..." if len(missing) > 5 else "")
        problems.append((Status.CRITICAL, f"{len(missing)} partition(s) missing in the last "
                         f"{p.gap_lookback_days} days: {shown}{layout_hint(obs, key)}", "missing_partitions"))

    # 4. yesterday's size vs the same weekday in previous weeks
    if p.size_weeks and yesterday not in missing:
        problems.extend(judge_size(yesterday, obs.yesterday, obs.history, p, values))

    status = Status.worst(s for s, _, _ in problems)
    worst_first = sorted(problems, key=lambda sp: -sp[0].rank)
    values = headline_first(values, worst_first[0][2] if worst_first else
                            "newest_object_age_seconds" if "newest_object_age_seconds" in values else "today_objects")
    if problems:
        summary = f"s3 {obs.prefix}: " + "; ".join(text for _, text, _ in worst_first)
    else:
        newest_txt = ""
        if "newest_object_age_seconds" in values:
            newest_txt = f", newest file {format_duration(timedelta(seconds=values['newest_object_age_seconds']))} old"
        if not obs.today:
            newest_txt = f" (not due until {format_duration(p.partition_deadline)} after midnight){newest_txt}"
        summary = f"s3 {obs.prefix}: {key}={today} has {len(obs.today)} files{newest_txt}; no gaps"
    return Finding(key=obs.prefix, status=status, summary=summary, values=values, labels=p.labels_for(obs.prefix))


def judge_size(day: date, objs: Sequence[ObjectInfo], history: dict[date, PartitionStats],
               p: S3PartitionArrivalParams, values: dict[str, float]) -> list[tuple[Status, str, str]]:
    """A day's object count and bytes vs the median of the same weekday in previous weeks (adds to `values`)."""
    past = [history[d] for d in history_days(day, p.size_weeks) if d in history]
    past = [s for s in past if s.count > 0]
    if not past:
        return []
    median_count = statistics.median(s.count for s in past)
    median_bytes = statistics.median(s.bytes for s in past)
    count = len(objs)
    size = sum(o.size for o in objs)
    ratio = min(count / median_count if median_count else 1.0, size / median_bytes if median_bytes else 1.0)
    values.update(yesterday_objects=float(count), yesterday_bytes=float(size),
                  median_objects=float(median_count), median_bytes=float(median_bytes), size_ratio=ratio)
    status = judge(ratio, warn=p.size_warn_ratio, critical=p.size_critical_ratio, op="<")
    if status is Status.OK:
        return []
    return [(status, f"{p.partition_key}={day} holds {count} files / {human_bytes(size)}, {ratio:.0%} of the "
             f"{day:%A} median ({median_count:g} files / {human_bytes(median_bytes)} over {len(past)} weeks)", "size_ratio")]


def evaluate_daily(obs: PrefixObservation, due_objs: Sequence[ObjectInfo], now: datetime,
                   p: S3PartitionArrivalParams) -> Finding:
    """Judge a daily output prefix (mode: daily). Pure."""
    tz = ZoneInfo(p.timezone)
    key = p.partition_key
    problems, values, due = judge_daily(now, key=key, tz=tz, deadline=p.partition_deadline,
                                        present=obs.partition_dates, due_files=[o.size for o in due_objs],
                                        lookback_days=p.gap_lookback_days)
    if due_objs and p.size_weeks:
        problems.extend(judge_size(due, due_objs, obs.history, p, values))
    if not due_objs and obs.other_layouts:
        problems = [(s, t + layout_hint(obs, key), h) for s, t, h in problems]
    ranked = sorted(problems, key=lambda sp: -sp[0].rank)
    values = headline_first(values, ranked[0][2] if ranked else "seconds_past_deadline")
    if ranked:
        summary = f"s3 {obs.prefix}: " + "; ".join(text for _, text, _ in ranked)
    else:
        summary = (f"s3 {obs.prefix}: {key}={due} is there ({len(due_objs)} files, "
                   f"{human_bytes(sum(o.size for o in due_objs))}); no gaps")
    return Finding(key=obs.prefix, status=Status.worst(s for s, _, _ in problems), summary=summary, values=values,
                   labels=p.labels_for(obs.prefix))


def layout_hint(obs: PrefixObservation, key: str) -> str:
    """Partitions under another key (date= instead of dt=) usually mean a changed sink path.format, not lost data."""
    if not obs.other_layouts:
        return ""
    sample = obs.other_layouts[-1]
    other = sample.split("=", 1)[0]
    return (f" — but {len(obs.other_layouts)} partition(s) exist as {other}=... (newest {sample}): did the sink's "
            f"path format change, or should this check use partition_key: {other}?")


def headline_first(values: dict[str, float], key: str) -> dict[str, float]:
    """The value that explains the status first (tables show a finding's first value)."""
    return {key: values[key], **values} if key in values else values


def partition_dates(prefixes: Iterable[str], base: str, key: str) -> frozenset[date]:
    """dt=YYYY-MM-DD/ common prefixes -> dates (others ignored)."""
    out: set[date] = set()
    for full in prefixes:
        part = full[len(base):].strip("/")
        if part.startswith(f"{key}="):
            try:
                out.add(date.fromisoformat(part[len(key) + 1:]))
            except ValueError:
                continue
    return frozenset(out)


class S3PartitionArrivalCheck(Check[S3PartitionArrivalParams]):
    kind = "s3_partition_arrival"
    Params = S3PartitionArrivalParams
    runbook = "s3-partition-missing"
    warm_imports = ("sentinel.sources.s3", "boto3")

    def describe(self) -> str:
        p = self.params
        if p.mode == "daily":
            return (f"s3://{p.bucket}: {len(p.prefixes)} daily outputs, the closed day's {p.partition_key}= by "
                    f"{format_duration(p.partition_deadline)} after midnight {p.timezone}")
        return (f"s3://{p.bucket}: {len(p.prefixes)} prefixes, {p.partition_key}= by "
                f"{format_duration(p.partition_deadline)} after midnight {p.timezone}, newest < "
                f"{format_duration(p.newest_critical_after)}")

    def run(self, ctx: CheckContext) -> CheckResult:
        p = self.params
        s3 = ctx.sources.s3()
        now = ctx.now()
        findings = [self._evaluate_or_error(ctx, s3, prefix, now) for prefix in p.prefixes]
        status = measured_status(findings)
        bad = [f for f in findings if f.status is not Status.OK]
        if bad:
            summary = (f"{len(bad)}/{len(findings)} S3 prefixes in s3://{p.bucket} have arrival problems; "
                       + " | ".join(f.summary for f in bad[:3]))
        else:
            summary = (f"all {len(findings)} daily outputs in s3://{p.bucket} arrived by their deadline" if p.mode == "daily"
                       else f"all {len(findings)} S3 prefixes in s3://{p.bucket} have today's partition and fresh files")
        return ctx.result(
            self.kind, status, summary,
            values={"prefixes_with_problems": float(len(bad))},
            labels={"stage": p.stage},
            details={"bucket": p.bucket, "timezone": p.timezone,
                     "listing": f"aws s3 ls s3://{p.bucket}/{p.prefixes[0]}"},
            findings=findings,
        )

    def _evaluate_or_error(self, ctx: CheckContext, s3: Any, prefix: str, now: datetime) -> Finding:
        try:
            return self._evaluate(ctx, s3, prefix, now)
        except Exception as exc:  # this prefix only: the others are still judged
            return target_error(prefix, exc, self.params.labels_for(prefix),
                                what=f"S3 prefix s3://{self.params.bucket}/{prefix}")

    def _evaluate(self, ctx: CheckContext, s3: Any, prefix: str, now: datetime) -> Finding:
        p = self.params
        tz = ZoneInfo(p.timezone)
        today = local_today(now, tz)
        # daily mode judges the last closed day that is due; stream mode today and yesterday
        yesterday = due_day(now, p.partition_deadline, tz) if p.mode == "daily" else today - timedelta(days=1)

        def listing(day: date) -> list[ObjectInfo]:
            where = f"{prefix}{p.partition_key}={day.isoformat()}/"
            with ctx.doing(f"S3 ListObjectsV2 on s3://{p.bucket}/{where}"):
                objs = s3.list_objects(p.bucket, where, timeout=ctx.remaining_seconds())
            return [ObjectInfo(o.key, o.size, o.last_modified) for o in objs if not is_marker(o.key, o.size)]

        oldest = min(yesterday - timedelta(days=p.gap_lookback_days), yesterday - timedelta(weeks=p.size_weeks))
        # dt=YYYY-MM-DD sorts by date: start listing just before the oldest partition we look at
        start_after = f"{prefix}{p.partition_key}={oldest - timedelta(days=1)}/~"
        with ctx.doing(f"S3 ListObjectsV2 (partitions) on s3://{p.bucket}/{prefix}"):
            listed = s3.list_prefixes(p.bucket, prefix, start_after=start_after, timeout=ctx.remaining_seconds())
        present = partition_dates(listed, prefix, p.partition_key)
        today_objs = listing(today) if today in present and p.mode == "stream" else []
        yesterday_objs = listing(yesterday) if yesterday in present else []
        if yesterday in present and not yesterday_objs:  # only markers: the partition has no data
            present = present - {yesterday}
        history = self._history(ctx, prefix, yesterday, present, listing)
        layouts: tuple[str, ...] = ()
        if yesterday not in present:  # only on the failure path: is the data under another layout (date=)?
            with ctx.doing(f"S3 ListObjectsV2 (layout) on s3://{p.bucket}/{prefix}"):
                everything = s3.list_prefixes(p.bucket, prefix, timeout=ctx.remaining_seconds())
            layouts = other_layouts(everything, prefix, p.partition_key)
        obs = PrefixObservation(prefix, present, today_objs, yesterday_objs, history, layouts)
        return evaluate_daily(obs, yesterday_objs, now, p) if p.mode == "daily" else evaluate_prefix(obs, now, p)

    def _history(self, ctx: CheckContext, prefix: str, yesterday: date, present: frozenset[date],
                 listing: Callable[[date], list[ObjectInfo]]) -> dict[date, PartitionStats]:
        """Sizes of closed same-weekday partitions; they no longer change, so they are remembered."""
        p = self.params
        mem_key = f"sizes:{prefix}"
        cached: dict[str, list[int]] = ctx.memory.load(mem_key) or {}
        out: dict[date, PartitionStats] = {}
        wanted = history_days(yesterday, p.size_weeks)
        for day in wanted:
            if day not in present:
                continue
            hit = cached.get(day.isoformat())
            if hit is None:
                objs = listing(day)
                hit = [len(objs), sum(o.size for o in objs)]
                cached[day.isoformat()] = hit
            out[day] = PartitionStats(hit[0], hit[1])
        keep = {d.isoformat() for d in wanted}
        ctx.memory.save(mem_key, {k: v for k, v in cached.items() if k in keep})
        return out
