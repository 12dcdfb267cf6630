"""Short breaches are visible in the report's chart: the rendered pixels of 2026-W53 show a 30-minute breach at
Monday 00:00 clear of the left axis and a 5-minute breach on New Year's Eve."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import date2num

from sentinel.config.alerting_spec import SlaSpec
from sentinel.reports.charts import chart_figure
from sentinel.sla import ObsState, SlaObservation, analyse
from sentinel.weeks import week_bounds

START, END = week_bounds("2026-W53")
MONDAY_BREACH = (START, START + timedelta(minutes=30))
NYE_BREACH = (START + timedelta(days=3, hours=12), START + timedelta(days=3, hours=12, minutes=5))


def observations() -> list[SlaObservation]:
    out, t = [], START
    while t < END:
        late = any(s <= t < e for s, e in (MONDAY_BREACH, NYE_BREACH))
        out.append(SlaObservation("daily", t, ObsState.BREACH if late else ObsState.MET, 300.0 if late else 0.0))
        t += timedelta(minutes=5)
    return out


def red_columns(pixels: np.ndarray, row: int) -> list[int]:
    """x of the pixels on `row` tinted by the breach shading (#d93025 at 18% over white is about 248,218,216)."""
    r, g, b = (pixels[row, :, i].astype(int) for i in range(3))
    return [int(x) for x in np.nonzero((r > 200) & (r - g > 20) & (r - b > 20))[0]]


def clusters(xs: list[int]) -> list[tuple[int, int]]:
    """Runs of columns; a gap of up to 3 px (the value line drawn across the shading) does not split a run."""
    out: list[tuple[int, int]] = []
    for x in xs:
        if out and x <= out[-1][1] + 4:
            out[-1] = (out[-1][0], x)
        else:
            out.append((x, x))
    return out


def test_a_breach_at_monday_midnight_and_a_five_minute_breach_are_both_visible() -> None:
    sla = SlaSpec.model_validate({"id": "daily", "check": "c", "kind": "deadline", "deadline": "1h",
                                  "objective": 0.99, "max_gap": "15m"})
    window = analyse(sla, observations(), START, END, now=END)
    fig = chart_figure(window, START, END)
    canvas = FigureCanvasAgg(fig)  # the renderer savefig uses for the PNG
    canvas.draw()
    pixels = np.asarray(canvas.buffer_rgba())
    ax = fig.axes[0]
    left_axis_x = ax.get_window_extent().x0
    height = pixels.shape[0]
    row = height - int(ax.get_window_extent().y0 + ax.get_window_extent().height * 0.4)  # display y is bottom-up
    spans = clusters(red_columns(pixels, row))
    assert len(spans) == 2, spans
    (monday, nye) = spans
    assert monday[0] > left_axis_x + 2  # not under the axis
    assert nye[1] - nye[0] + 1 >= 3  # at least 3 pixels wide, although 5 minutes are a third of a pixel
    nye_x = ax.transData.transform((date2num(NYE_BREACH[0]), 0))[0]
    assert nye[0] <= nye_x <= nye[1] + 1  # and where it happened


def test_spans_keep_their_place_in_time() -> None:
    from sentinel.reports.charts import visible_spans

    sla = SlaSpec.model_validate({"id": "daily", "check": "c", "kind": "deadline", "deadline": "1h",
                                  "objective": 0.99, "max_gap": "15m"})
    window = analyse(sla, observations(), START, END, now=END)
    monday, nye = visible_spans(window, ObsState.BREACH, START, END)
    assert monday[0] == START and monday[1] - monday[0] >= timedelta(minutes=60)  # grows inwards at the edge
    assert nye[0] < NYE_BREACH[0] and nye[1] > NYE_BREACH[1]  # centred on the 5 minutes
    assert isinstance(nye[0], datetime)
