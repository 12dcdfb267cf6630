"""Volume anomaly detection quality (issue 22): Sentinel's seasonal median/MAD against Elementary-style 3-sigma rules.

Labelled synthetic hourly row counts, the same series for every detector in the same run:
  tables      12 tables, 20 weeks of hours each; the first 6 weeks only train, the last 14 are scored
  seasonality a daily curve (night ~15% of the afternoon peak), weekends at 60%, +1% a week of growth,
              month-end peaks (last two days of a month x1.5, normal, not anomalies), lognormal noise (5%) + Poisson
  batches     a third of the tables get a nightly batch at 02:00 (x6 the hour)
  holidays    4 days at 35% of normal, given to every detector as exclusion windows (not judged, not learned from)
  anomalies   per table 8 non-overlapping injections: drops of 20/35/50/60/80% for 1-12 h, outages (0 rows, 1-6 h),
              spikes of +50/+100/+200% for 1-3 h, and a missing nightly batch on batch tables

Detectors, each judging every hour of the scored weeks from the hours before it:
  sentinel           sentinel_checks._seasonal.judge, the check's own code and defaults (direction both)
  sentinel_drop      the same with direction: drop (the production setting for transaction counts)
  rolling_3sigma     mean +- 3 sd over the previous 14 days of all hours (Elementary's default)
  how_3sigma         mean +- 3 sd over the same hour of week in the last 4 weeks (Elementary, seasonality hour_of_week)

Scoring. An alarm event is a run of consecutive alarmed hours (one alert, as the alert state machine fires once).
An event is a true positive when it overlaps a labelled anomaly, else a false alarm. Recall counts anomalies with at
least one alarmed hour inside them; time to detect = first alarmed hour - anomaly start + 1 h (the hour must end before
it can be counted). "Goal" anomalies: drops >= 35%, outages, missing batches (the issue's goal: recall >= 90% with at
most one false alarm per table per month).
The check's default min_band_ratio (0.2, was 0.15) was chosen on seed 7; the figures written here are seed 22, a
series the default was not tuned on. Month-end peaks are the known weakness: the model has no month-end season, so
in direction both they read as spikes (most of sentinel's false alarms) and a drop on a month-end day is masked.
Writes benchmarks/results/anomaly.json and anomaly.png. Run: .venv/bin/python benchmarks/anomaly.py
"""

from __future__ import annotations

import json
import platform
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sentinel_checks._seasonal import SeasonalSettings, Window, judge  # noqa: E402

SEED = 22
TABLES = 12
WEEKS = 20
TRAIN_WEEKS = 6
H = 168
START = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday; fixed, never today
HOUR = timedelta(hours=1)
HOLIDAYS = [datetime(2026, 4, 3, tzinfo=UTC), datetime(2026, 4, 6, tzinfo=UTC), datetime(2026, 5, 1, tzinfo=UTC),
            datetime(2026, 5, 25, tzinfo=UTC)]
OUT = ROOT / "benchmarks" / "results"


@dataclass(frozen=True)
class Anomaly:
    kind: str  # drop / outage / spike / missing_batch
    start: int  # hour index
    length: int
    size: float  # relative change: -0.6 = 60% drop

    @property
    def goal(self) -> bool:
        return self.kind in ("outage", "missing_batch") or (self.kind == "drop" and self.size <= -0.35)


@dataclass
class Series:
    name: str
    counts: np.ndarray
    anomalies: list[Anomaly]
    holiday: np.ndarray  # bool per hour


def hours() -> list[datetime]:
    return [START + i * HOUR for i in range(WEEKS * H)]


def normal_curve(rng: np.random.Generator, times: list[datetime], batch: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    peak = rng.uniform(200, 20_000)
    hod = np.array([t.hour for t in times])
    daily = 0.15 + 0.85 * np.exp(-((hod - 14) ** 2) / (2 * 4.0**2))
    weekly = np.where(np.array([t.weekday() for t in times]) >= 5, 0.6, 1.0)
    growth = 1 + 0.01 * np.arange(len(times)) / H
    month_end = np.array([1.5 if (t + timedelta(days=2)).month != t.month else 1.0 for t in times])
    holiday = np.array([any(d <= t < d + timedelta(days=1) for d in HOLIDAYS) for t in times])
    mean = peak * daily * weekly * growth * month_end * np.where(holiday, 0.35, 1.0)
    batch_part = np.where(hod == 2, 6 * peak * 0.15, 0.0) if batch else np.zeros(len(times))
    return mean + batch_part, holiday, batch_part


def inject(rng: np.random.Generator, mean: np.ndarray, batch_part: np.ndarray, batch: bool) -> tuple[np.ndarray, list[Anomaly]]:
    kinds = ["drop", "drop", "drop", "outage", "spike", "spike", "drop"] + (["missing_batch"] if batch else ["drop"])
    slots = np.linspace(TRAIN_WEEKS * H + 24, WEEKS * H - 36, len(kinds) + 1).astype(int)
    out, labels = mean.copy(), []
    for i, kind in enumerate(kinds):
        at = int(rng.integers(slots[i], slots[i + 1] - 24))
        if kind == "drop":
            a = Anomaly(kind, at, int(rng.choice([1, 3, 6, 12])), -float(rng.choice([0.2, 0.35, 0.5, 0.6, 0.8])))
        elif kind == "outage":
            a = Anomaly(kind, at, int(rng.choice([1, 2, 6])), -1.0)
        elif kind == "spike":
            a = Anomaly(kind, at, int(rng.choice([1, 2, 3])), float(rng.choice([0.5, 1.0, 2.0])))
        else:
            at = at - at % 24 + 2  # the 02:00 batch hour of that day
            a = Anomaly(kind, at, 1, -1.0)
        if kind == "missing_batch":
            out[at] -= batch_part[at]  # the hour keeps its ordinary traffic and loses the batch
        else:
            out[a.start:a.start + a.length] *= 1 + a.size
        labels.append(a)
    return out, labels


def make_series(seed: int = SEED) -> list[Series]:
    rng = np.random.default_rng(seed)
    times = hours()
    series = []
    for n in range(TABLES):
        batch = n % 3 == 0
        mean, holiday, batch_part = normal_curve(rng, times, batch)
        mean, labels = inject(rng, mean, batch_part, batch)
        noisy = mean * rng.lognormal(0, 0.05, len(mean))
        series.append(Series(f"table_{n:02d}", rng.poisson(noisy).astype(float), labels, holiday))
    return series


# --- detectors: each returns (alarm per hour, low band, high band) over the whole series; only scored hours count ---

Detector = Callable[[Series], tuple[np.ndarray, np.ndarray, np.ndarray]]


def holiday_windows() -> list[Window]:
    return [Window(d, d + timedelta(days=1)) for d in HOLIDAYS]


def sentinel(settings: SeasonalSettings) -> Detector:
    def detect(s: Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        times, windows = hours(), holiday_windows()
        history = dict(zip(times, s.counts.tolist(), strict=True))
        alarm, low, high = (np.zeros(len(times), bool), np.full(len(times), np.nan), np.full(len(times), np.nan))
        for i in range(TRAIN_WEEKS * H, len(times)):
            j = judge(history, times[i], s.counts[i], HOUR, settings, windows)
            alarm[i] = j.anomalous
            low[i], high[i] = (j.low, j.high) if j.low is not None and j.high is not None else (np.nan, np.nan)
        return alarm, low, high
    return detect


def three_sigma(points: Callable[[np.ndarray, int], np.ndarray]) -> Detector:
    """mean +- 3 sd of `points(masked counts, i)`; holiday hours are neither judged nor learned from."""
    def detect(s: Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        masked = np.where(s.holiday, np.nan, s.counts)
        n = len(s.counts)
        alarm, low, high = np.zeros(n, bool), np.full(n, np.nan), np.full(n, np.nan)
        for i in range(TRAIN_WEEKS * H, n):
            past = points(masked, i)
            past = past[~np.isnan(past)]
            if len(past) < 2 or s.holiday[i]:
                continue
            mu, sd = float(past.mean()), float(past.std(ddof=1))
            low[i], high[i] = mu - 3 * sd, mu + 3 * sd
            alarm[i] = not low[i] <= s.counts[i] <= high[i]
        return alarm, low, high
    return detect


rolling_3sigma = three_sigma(lambda m, i: m[i - 14 * 24:i])
how_3sigma = three_sigma(lambda m, i: m[[i - k * H for k in range(1, 5)]])


DETECTORS: dict[str, Detector] = {
    "sentinel": sentinel(SeasonalSettings()),
    "sentinel_drop": sentinel(SeasonalSettings(direction="drop")),
    "rolling_3sigma": rolling_3sigma,
    "how_3sigma": how_3sigma,
}


# --- scoring ---

def events(alarm: np.ndarray) -> list[tuple[int, int]]:
    """Runs of consecutive alarmed scored hours as [start, end)."""
    out, start = [], None
    for i in range(TRAIN_WEEKS * H, len(alarm) + 1):
        on = i < len(alarm) and bool(alarm[i])
        if on and start is None:
            start = i
        elif not on and start is not None:
            out.append((start, i))
            start = None
    return out


def score_series(s: Series, alarm: np.ndarray) -> dict[str, list[float]]:
    evs = events(alarm)
    overlaps = [any(a.start < e and b < a.start + a.length for a in s.anomalies) for b, e in evs]
    got: dict[str, list[float]] = {"tp_events": [float(sum(overlaps))], "fp_events": [float(len(evs) - sum(overlaps))]}
    for a in s.anomalies:
        hit = np.flatnonzero(alarm[a.start:a.start + a.length])
        group = "goal" if a.goal else ("small_drop" if a.kind == "drop" else a.kind)
        got.setdefault(f"{group}_detected", []).append(float(len(hit) > 0))
        if len(hit):
            got.setdefault(f"{group}_ttd_hours", []).append(float(hit[0] + 1))
    return got


def summarise(per_series: list[dict[str, list[float]]]) -> dict[str, float | None]:
    merged: dict[str, list[float]] = {}
    for got in per_series:
        for k, v in got.items():
            merged.setdefault(k, []).extend(v)
    tp, fp = sum(merged["tp_events"]), sum(merged["fp_events"])
    months = TABLES * (WEEKS - TRAIN_WEEKS) * 7 / 30.44
    out: dict[str, float | None] = {"precision": round(tp / (tp + fp), 3) if tp + fp else 1.0,
           "false_alarms_per_table_month": round(fp / months, 2), "false_alarm_events": fp}
    for group in ("goal", "small_drop", "spike"):
        found = merged.get(f"{group}_detected", [])
        out[f"recall_{group}"] = round(sum(found) / len(found), 3) if found else 0.0
        out[f"{group}_anomalies"] = len(found)
        ttd = merged.get(f"{group}_ttd_hours", [])
        out[f"median_ttd_hours_{group}"] = statistics.median(ttd) if ttd else None  # none detected
    return out


def figure(s: Series, bands: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    a = next(x for x in s.anomalies if x.goal and x.kind == "drop")
    lo, hi = max(TRAIN_WEEKS * H, a.start - 5 * 24), min(len(s.counts), a.start + 3 * 24)
    x = np.array(hours()[lo:hi])
    fig, ax = plt.subplots(figsize=(12, 5), dpi=110)
    for name, color in (("sentinel", "tab:green"), ("rolling_3sigma", "tab:red")):
        alarm, low, high = bands[name]
        ax.fill_between(x, np.clip(low[lo:hi], 0, None), high[lo:hi], color=color, alpha=0.15,
                        label=f"{name} band")
        hits = np.flatnonzero(alarm[lo:hi])
        ax.scatter(x[hits], s.counts[lo:hi][hits], color=color, marker="v" if name == "sentinel" else "x", s=60,
                   zorder=3, label=f"{name} alarm")
    ax.plot(x, s.counts[lo:hi], color="black", lw=1, label="rows per hour")
    for an in s.anomalies:
        if lo <= an.start < hi:
            ax.axvspan(hours()[an.start], hours()[an.start] + an.length * HOUR, color="orange", alpha=0.3)
    ax.set_title(f"{s.name}: injected anomalies (orange) - Sentinel's seasonal band vs rolling 14-day 3 sigma")
    ax.set_ylabel("rows per hour")
    ax.legend(loc="upper left", fontsize=8)
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    series = make_series()
    results: dict[str, dict[str, float | None]] = {}
    shown: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    for name, detect in DETECTORS.items():
        per = []
        for s in series:
            alarm, low, high = detect(s)
            per.append(score_series(s, alarm))
            if s is series[1]:
                shown[name] = (alarm, low, high)
        results[name] = summarise(per)
    OUT.mkdir(parents=True, exist_ok=True)
    figure(series[1], shown, OUT / "anomaly.png")
    doc = {"seed": SEED, "tables": TABLES, "scored_weeks": WEEKS - TRAIN_WEEKS, "detectors": results,
           "machine": {"python": platform.python_version(), "platform": platform.platform()}}
    (OUT / "anomaly.json").write_text(json.dumps(doc, indent=2) + "\n")
    cols = ["precision", "false_alarms_per_table_month", "recall_goal", "median_ttd_hours_goal", "recall_small_drop",
            "recall_spike"]
    print(f"{'detector':16s} " + " ".join(f"{c:>14.14s}" for c in cols))
    for name, r in results.items():
        print(f"{name:16s} " + " ".join(f"{'-' if r[c] is None else r[c]:>14}" for c in cols))
    print(f"goal anomalies: {results['sentinel']['goal_anomalies']}, small drops: "
          f"{results['sentinel']['small_drop_anomalies']}, spikes: {results['sentinel']['spike_anomalies']}")
    print(f"wrote {OUT / 'anomaly.json'} and {OUT / 'anomaly.png'}")


if __name__ == "__main__":
    main()
