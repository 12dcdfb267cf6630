"""Time buckets for reconciliation (pure).

Tiers say how fine to look at which age: `hour for the last 48 h, day for the last 30 days`. Buckets are aligned
to UTC (days start at 00:00 UTC, whatever the time zone of the data). Rows newer than the in-flight cutoff
(now - in_flight window) are not compared at all: normal CDC delay is not a difference. The newest bucket ends at
the cutoff and is `open`; the others are `closed` and, once matched and settled, can be remembered.

The databases are asked for *cells* at the finest grain (hour or day) and the buckets are rolled up here, so the
pushed-down query is one cheap GROUP BY date_trunc per side, and a drill-down can start from a single hour.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Tier:
    width: timedelta
    span: timedelta

    def __post_init__(self) -> None:
        w = self.width
        if w <= timedelta(0) or self.span <= timedelta(0):
            raise ValueError("bucket width and span must be positive")
        if w < DAY and (w % HOUR or DAY % w):
            raise ValueError(f"bucket width {w} must be whole hours dividing a day (1h, 2h, 3h, 4h, 6h, 8h, 12h) or whole days")
        if w >= DAY and w % DAY:
            raise ValueError(f"bucket width {w} must be whole days")


@dataclass(frozen=True)
class Bucket:
    start: datetime
    end: datetime
    closed: bool

    @property
    def timeless(self) -> bool:
        """The bucket of rows whose time column is NULL (see NO_TIME)."""
        return self.start == self.end

    @property
    def label(self) -> str:
        if self.timeless:
            return "no time"
        width = self.end - self.start
        if width >= DAY and self.start.hour == 0:
            return self.start.strftime("%Y-%m-%d")
        return self.start.strftime("%Y-%m-%dT%H:%MZ")


# Rows whose time column is NULL belong to no time bucket, so a time-window filter never reads them; they are
# compared in this extra bucket on every run (never remembered: it has no end after which it settles).
NO_TIME = Bucket(EPOCH, EPOCH, closed=False)


@dataclass(frozen=True)
class BucketPlan:
    cutoff: datetime
    grain: str  # "hour" or "day": the date_trunc unit of the cells
    buckets: tuple[Bucket, ...]

    @property
    def start(self) -> datetime:
        return self.buckets[0].start

    def cell_width(self) -> timedelta:
        return HOUR if self.grain == "hour" else DAY

    def bucket_index(self, cell_start: datetime | None) -> int | None:
        """Index of the bucket holding a cell; -1 for the no-time cell (None); None outside the plan."""
        if cell_start is None:
            return -1
        lo, hi = 0, len(self.buckets)
        while lo < hi:
            mid = (lo + hi) // 2
            if self.buckets[mid].end <= cell_start:
                lo = mid + 1
            else:
                hi = mid
        if lo < len(self.buckets) and self.buckets[lo].start <= cell_start < self.buckets[lo].end:
            return lo
        return None

    def bucket(self, index: int) -> Bucket:
        return NO_TIME if index == -1 else self.buckets[index]

    def cell_end(self, cell_start: datetime) -> datetime:
        return min(cell_start + self.cell_width(), self.cutoff)

    def ranges(self, skip: Iterable[datetime] = ()) -> list[tuple[datetime, datetime]]:
        """Contiguous time ranges covering the buckets not in `skip` (bucket starts), oldest first."""
        skipped = set(skip)
        out: list[tuple[datetime, datetime]] = []
        for b in self.buckets:
            if b.start in skipped:
                continue
            if out and out[-1][1] == b.start:
                out[-1] = (out[-1][0], b.end)
            else:
                out.append((b.start, b.end))
        return out


def align_down(when: datetime, width: timedelta) -> datetime:
    seconds = int((when - EPOCH).total_seconds())
    step = int(width.total_seconds())
    return EPOCH + timedelta(seconds=seconds - seconds % step)


def plan_buckets(now: datetime, tiers: Sequence[Tier], in_flight: timedelta) -> BucketPlan:
    if not tiers:
        raise ValueError("at least one bucket tier is needed")
    ordered = sorted(tiers, key=lambda t: t.width)
    cutoff = now.astimezone(UTC) - in_flight
    grain = "hour" if ordered[0].width < DAY else "day"
    buckets: list[Bucket] = []
    end = cutoff
    for i, tier in enumerate(ordered):
        align = ordered[i + 1].width if i + 1 < len(ordered) else tier.width
        start = align_down(cutoff - tier.span, align)
        if start >= end:
            continue
        tier_buckets: list[Bucket] = []
        t = start
        while t < end:
            nxt = min(align_down(t, tier.width) + tier.width, end)
            tier_buckets.append(Bucket(t, nxt, closed=nxt < cutoff))
            t = nxt
        buckets[:0] = tier_buckets
        end = start
    return BucketPlan(cutoff=cutoff, grain=grain, buckets=tuple(buckets))
