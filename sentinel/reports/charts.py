"""PNG charts for the report (email clients do not render SVG): per SLA, the measured value over the week as a
step line against its threshold, breaches shaded red, unknown time (no observation) shaded grey.
matplotlib is imported lazily, with the Agg backend, so nothing else pays for it."""

from __future__ import annotations

import io
import math
from datetime import datetime, timedelta
from typing import Any

from sentinel.sla import ObsState, SlaWindow

WIDTH_PX, HEIGHT_PX, DPI = 760, 230, 100


# At the week's scale one pixel is ~15 minutes: a 5-minute breach would vanish and one at Monday 00:00 would hide
# under the left axis. Every shaded span is drawn at least this share of the period wide, and the axis is padded.
MIN_SPAN_SHARE = 1 / 150  # ~67 min of a week, ~4-5 px
PAD_SHARE = 1 / 100  # ~1.7 h of a week on either side


def chart_png(window: SlaWindow, start: datetime, end: datetime) -> bytes:
    fig = chart_figure(window, start, end)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def visible_spans(window: SlaWindow, state: ObsState, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """The spans of `state` to shade, each widened to the minimum visible width (inside [start, end]: a span at an
    edge grows inwards) and merged where the widening makes them touch."""
    least = (end - start) * MIN_SPAN_SHARE
    spans: list[tuple[datetime, datetime]] = []
    for iv in window.intervals:
        if iv.state is not state:
            continue
        s, e = iv.start, iv.end
        if e - s < least:
            middle = s + (e - s) / 2
            s = min(max(start, middle - least / 2), end - least)
            e = s + least
        if spans and s <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(spans[-1][1], e))
        else:
            spans.append((s, e))
    return spans


def chart_figure(window: SlaWindow, start: datetime, end: datetime) -> Any:
    from sentinel.extras import require

    require("report")
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.dates as _mdates
    from matplotlib.figure import Figure

    mdates: Any = _mdates
    sla = window.sla
    fig = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI)
    ax: Any = fig.add_subplot(1, 1, 1)
    deadline = sla.kind == "deadline"
    limit = 0.0 if deadline else sla.threshold.total_seconds() / 60.0
    for s, e in visible_spans(window, ObsState.UNKNOWN, start, end):
        ax.axvspan(s, e, color="#9aa0a6", alpha=0.25, linewidth=0, hatch="//")
    for s, e in visible_spans(window, ObsState.BREACH, start, end):  # drawn last: a breach shows over a gap
        ax.axvspan(s, e, color="#d93025", alpha=0.18, linewidth=0)
    xs, ys = hourly_max(window, start, end)
    if xs:
        ax.step(xs, ys, where="post", color="#1a73e8", linewidth=1.3,
                label="minutes late (hourly max)" if deadline else "age, hourly max (min)")
    ax.axhline(limit, color="#d93025", linestyle="--", linewidth=1.2,
               label="deadline" if deadline else f"threshold {limit:g} min")
    pad = (end - start) * PAD_SHARE
    ax.set_xlim(start - pad, end + pad)
    top = max([limit * 1.6 if limit else 10.0] + [y * 1.15 for y in ys if not math.isnan(y)])
    ax.set_ylim(-0.04 * top if deadline else 0, top)  # a deadline's line at 0 stays visible above the axis
    ax.xaxis.set_major_locator(mdates.DayLocator())
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%a %d"))
    ax.set_ylabel("min past deadline" if deadline else "age (min)", fontsize=8)
    ax.tick_params(labelsize=8)
    ax.grid(True, axis="y", alpha=0.3)
    ax.set_title(f"{sla.id}: {'minutes past the deadline' if deadline else 'freshness'} over the week (UTC)",
                 fontsize=9, loc="left")
    ax.legend(loc="upper right", fontsize=7, frameon=False)
    fig.tight_layout()
    return fig


def hourly_max(window: SlaWindow, start: datetime, end: datetime) -> tuple[list[datetime], list[float]]:
    """The worst measured value per hour, in minutes (NaN for an hour without measurement): a week of 5-minute
    observations drawn raw is a solid band; the hourly maximum keeps every peak and stays readable."""
    hours = int((end - start) / timedelta(hours=1))
    worst = [float("nan")] * hours
    for iv in window.intervals:
        if iv.state is ObsState.UNKNOWN or iv.value is None:
            continue
        first = max(0, int((iv.start - start) / timedelta(hours=1)))
        last = min(hours - 1, int((iv.end - start - timedelta(microseconds=1)) / timedelta(hours=1)))
        for h in range(first, last + 1):
            v = iv.value / 60.0
            worst[h] = v if math.isnan(worst[h]) else max(worst[h], v)
    xs = [start + timedelta(hours=h) for h in range(hours)] + [end]
    return xs, [*worst, worst[-1] if worst else float("nan")]


def charts_for(report: Any) -> dict[str, bytes]:
    return {s.sla.id: chart_png(s.window, report.start, report.end) for s in report.sections}
