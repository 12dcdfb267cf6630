"""Seasonal volume judgement: is this hour's count normal for this hour of the week?

Pure functions of (history, bucket, settings): no clock, no I/O, so the check, its tests and
benchmarks/anomaly.py all judge with the very same code.

The baseline is the same bucket of the week over the last N weeks (Thursday 14:00 against the last N Thursdays at
14:00), summarised robustly: the median, and the MAD scaled to a standard deviation (x 1.4826). A past outage or a
month-end peak is one point of N and moves the median very little, where a mean and a 3-sigma band would be dragged
by it. The band is never narrower than `min_band_ratio` of the median: with few points the MAD can be near zero and
a 2% wobble must not page anyone.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

WEEK = timedelta(days=7)
MAD_TO_SIGMA = 1.4826  # MAD of a normal distribution times this is its standard deviation

Direction = Literal["drop", "spike", "both"]


@dataclass(frozen=True)
class SeasonalSettings:
    sensitivity: float = 4.0  # band half-width in robust standard deviations
    direction: Direction = "both"
    training_weeks: int = 6
    min_history: int = 3  # same-hour points needed before judging at all
    min_band_ratio: float = 0.2  # the band is at least +-20% of the median


@dataclass(frozen=True)
class Window:
    """A span not to learn from nor judge: a holiday, a maintenance, a known backfill. [start, end)."""

    start_at: datetime
    end_at: datetime

    def covers(self, start_at: datetime, end_at: datetime) -> bool:
        return start_at < self.end_at and self.start_at < end_at


@dataclass(frozen=True)
class Judgement:
    bucket_at: datetime
    observed: float
    verdict: Literal["normal", "drop", "spike", "insufficient_history", "excluded"]
    expected: float | None = None
    low: float | None = None
    high: float | None = None
    history_points: int = 0

    @property
    def anomalous(self) -> bool:
        return self.verdict in ("drop", "spike")


def excluded(start_at: datetime, width: timedelta, exclusions: Sequence[Window]) -> bool:
    return any(w.covers(start_at, start_at + width) for w in exclusions)


def same_bucket_history(
    history: Mapping[datetime, float], bucket_at: datetime, width: timedelta, settings: SeasonalSettings,
    exclusions: Sequence[Window] = (),
) -> list[float]:
    """The counts of this bucket 1..N weeks back, skipping buckets never measured or inside an exclusion window."""
    points = []
    for weeks_back in range(1, settings.training_weeks + 1):
        past = bucket_at - weeks_back * WEEK
        value = history.get(past)
        if value is not None and not excluded(past, width, exclusions):
            points.append(value)
    return points


def band(points: Sequence[float], settings: SeasonalSettings) -> tuple[float, float, float]:
    """(expected, low, high) from past points: median +- max(sensitivity x robust sigma, min_band_ratio x median)."""
    median = statistics.median(points)
    mad = statistics.median(abs(p - median) for p in points)
    half = max(settings.sensitivity * MAD_TO_SIGMA * mad, settings.min_band_ratio * median)
    # Counts are Poisson at least: a bucket expecting 4 rows can see 0 without anything being wrong.
    half = max(half, settings.sensitivity * math.sqrt(max(median, 1.0)))
    return median, max(0.0, median - half), median + half


def judge(
    history: Mapping[datetime, float], bucket_at: datetime, observed: float, width: timedelta,
    settings: SeasonalSettings, exclusions: Sequence[Window] = (),
) -> Judgement:
    """Judge the count of the bucket starting at `bucket_at` against the same bucket in past weeks."""
    if excluded(bucket_at, width, exclusions):
        return Judgement(bucket_at, observed, "excluded")
    points = same_bucket_history(history, bucket_at, width, settings, exclusions)
    if len(points) < settings.min_history:
        return Judgement(bucket_at, observed, "insufficient_history", history_points=len(points))
    expected, low, high = band(points, settings)
    verdict: Literal["normal", "drop", "spike"] = "normal"
    if observed < low and settings.direction in ("drop", "both"):
        verdict = "drop"
    elif observed > high and settings.direction in ("spike", "both"):
        verdict = "spike"
    return Judgement(bucket_at, observed, verdict, expected, low, high, len(points))
