"""SLA figures at the edges, on simulated data around the 2026-W53 turn of the year: breaches that cross a week's
ends, burn-rate alerts while the measuring check errors, a previous week without data, and percentages next to
their objective."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from sentinel.alerting.lifecycle import step
from sentinel.alerting.types import AlertState, EventKind
from sentinel.config.alerting_spec import SlaSpec
from sentinel.model import Status
from sentinel.reports.model import AlertStats, SlaSection, WeeklyReport
from sentinel.reports.render import breach_length, breach_start, pct, pct_against, render_html, render_text, trend
from sentinel.rules import RuleBook
from sentinel.sla import ObsState, SlaObservation, SlaWindow, analyse, burn_result, burn_statuses
from sentinel.weeks import week_bounds

W53, W01 = week_bounds("2026-W53"), week_bounds("2027-W01")  # Mon 2026-12-28 .. Mon 2027-01-04 .. Mon 2027-01-11
M = timedelta(minutes=1)


def spec(**kw: object) -> SlaSpec:
    base: dict[str, object] = {"id": "merchants", "check": "fresh", "threshold": "30m", "objective": 0.995,
                               "max_gap": "15m", "table": "users.merchants"}
    return SlaSpec.model_validate({**base, **kw})


def every_5_minutes(start: datetime, end: datetime, state_at: dict[datetime, ObsState]) -> list[SlaObservation]:
    """An observation every 5 minutes, met unless `state_at` says otherwise (breaches worth 40 min of age)."""
    out, t = [], start
    while t < end:
        state = state_at.get(t, ObsState.MET)
        value = {ObsState.MET: 600.0, ObsState.BREACH: 2400.0}.get(state)
        out.append(SlaObservation("merchants", t, state, value, "fresh", "FCT_MERCHANT_HEALTH 40 min old"))
        t += 5 * M
    return out


def breach_from(start: datetime, end: datetime) -> dict[datetime, ObsState]:
    return {start + i * 5 * M: ObsState.BREACH for i in range(int((end - start) / (5 * M)))}


def test_breaches_crossing_the_ends_of_a_finished_week_say_so() -> None:
    start, end = W53
    # Carried in: Sun 2026-12-27 23:40 (W52) to Mon 00:20. Carried out: Sun 2027-01-03 23:30 to Mon 00:45 (W01).
    states = {**breach_from(start - 20 * M, start + 20 * M), **breach_from(end - 30 * M, end + 45 * M)}
    observations = every_5_minutes(start - timedelta(days=1), end + timedelta(days=1), states)
    w = analyse(spec(), observations, start, end, now=end + timedelta(days=2),
                context=(start - timedelta(days=1), end + timedelta(days=1)))
    first, last = w.breaches
    assert (first.start, first.duration, first.began_at, first.ongoing) == (start, 20 * M, start - 20 * M, False)
    assert (last.start, last.duration, last.ongoing) == (end - 30 * M, 30 * M, False)
    assert last.continues and last.ended_at == end + 45 * M
    assert w.attainment.breach == 50 * M  # only the time inside W53 counts against W53
    assert breach_start(first) == "Sun 2026-12-27 23:40 UTC (began the week before)"
    assert breach_length(first) == "20m in this week"
    assert breach_length(last) == "30m in this week, continued into the next week, ended Mon 2027-01-04 00:45 UTC"
    text = render_text(report_of(w, start, end))
    assert "ongoing" not in text
    assert "- Sun 2027-01-03 23:30 UTC for 30m in this week, continued into the next week" in text
    html = render_html(report_of(w, start, end))
    assert "ongoing" not in html and "began the week before" in html and "continued into the next week" in html


def test_a_breach_that_ends_exactly_at_midnight_does_not_continue() -> None:
    start, end = W53
    observations = every_5_minutes(end - timedelta(days=1), end + timedelta(days=1), breach_from(end - 30 * M, end))
    w = analyse(spec(), observations, start, end, now=end + timedelta(days=2),
                context=(start - timedelta(days=1), end + timedelta(days=1)))
    (last,) = w.breaches
    assert (last.duration, last.continues, last.ended_at, breach_length(last)) == (30 * M, False, None, "30m")


def test_the_next_week_sees_the_same_breach_carried_in_and_a_running_week_calls_it_ongoing() -> None:
    start, end = W53
    states = breach_from(end - 30 * M, end + 45 * M)
    observations = every_5_minutes(end - timedelta(days=1), end + timedelta(hours=2), states)
    w01 = analyse(spec(), observations, W01[0], W01[1], now=end + timedelta(hours=2),
                  context=(end - timedelta(days=1), end + timedelta(hours=2)))
    (carried,) = w01.breaches
    assert (carried.start, carried.duration, carried.began_at) == (end, 45 * M, end - 30 * M)
    # Sunday 23:50 of W53, while it is still breaching: the week is not over, so the breach is ongoing.
    running = analyse(spec(), observations, start, end, now=end - 10 * M,
                      context=(end - timedelta(days=1), end - 10 * M))
    (now_breach,) = running.breaches
    assert now_breach.ongoing and not now_breach.continues and breach_length(now_breach) == "ongoing, 20m so far"


def test_fast_burn_alert_pages_once_while_two_check_runs_error_mid_breach() -> None:
    """New Year's Eve: a breach from 14:15 to 15:00; the check errors at 14:35 and 14:40."""
    sla = spec(id="tx", threshold="15m", objective=0.99, max_gap="15m", table="payments.transactions")
    day = W53[0] + timedelta(days=3)  # Thu 2026-12-31
    states = {**breach_from(day + timedelta(hours=14, minutes=15), day + timedelta(hours=15)),
              day + timedelta(hours=14, minutes=35): ObsState.UNKNOWN,
              day + timedelta(hours=14, minutes=40): ObsState.UNKNOWN}
    observations = every_5_minutes(day + timedelta(hours=12), day + timedelta(hours=16), states)
    book = RuleBook()
    states_by_key: dict[str, AlertState] = {}
    events: list[tuple[EventKind, datetime]] = []
    summaries: dict[datetime, str] = {}
    for o in observations[12:]:  # judge after every check run from 13:00, as the ledger does
        now = o.observed_at + timedelta(seconds=1)
        result = burn_result(sla, burn_statuses(sla, [x for x in observations if x.observed_at < now], now), now)
        assert result.status is not Status.ERROR  # missing data in a window is not a broken check
        for rule, verdict in book.judge(result):
            if verdict.labels.get("burn_window") != "fast":
                continue
            state, emitted = step(states_by_key.get(verdict.fingerprint), verdict, rule, now)
            states_by_key[verdict.fingerprint] = state
            events += [(e.kind, now) for e in emitted]
            summaries[o.observed_at] = verdict.summary
    assert [(kind, f"{at:%H:%M}") for kind, at in events] == [(EventKind.FIRED, "14:25"), (EventKind.RESOLVED, "15:05")]
    # 14:40: the 5-minute window holds only the failed runs; the hour before them was measured, and says so.
    held = summaries[day + timedelta(hours=14, minutes=40)]
    assert "no measurement in the last 5m" in held and "alert state held" in held
    assert "36.4x over 1h00m (54m of it measured)" in held and "no measurement in the last 1h" not in held


def test_a_previous_week_without_observations_is_no_data_not_zero() -> None:
    start, end = W53
    w52 = analyse(spec(), [], week_bounds("2026-W52")[0], start, now=end + timedelta(hours=9))
    assert w52.attainment.attainment == 0.0 and not w52.attainment.measured  # all unknown: no attainment
    w = analyse(spec(), every_5_minutes(start, end, {}), start, end, now=end + timedelta(hours=9))
    section = SlaSection(spec(), w, None if not w52.attainment.measured else w52.attainment, w.breaches)
    assert trend(section.trend_points) == "no data last week"


@pytest.mark.parametrize(("attainment", "objective", "shown"), [
    (0.994998, 0.995, "99.49%"),  # would round up to the objective it missed
    (0.995, 0.995, "99.50%"),  # exactly met reads as met, despite binary floating point
    (1 - 1 / 604800, 0.99, "99.99%"),  # one unknown second in a week is not 100.00%
    (0.99991, 0.99995, "99.991%"),  # more digits when two would read as the objective
])
def test_percentages_never_contradict_the_verdict(attainment: float, objective: float, shown: str) -> None:
    assert pct_against(attainment, objective) == shown
    digits = len(shown.rstrip("%").split(".")[1])
    assert (attainment >= objective) == (Decimal(shown.rstrip("%")) >= Decimal(pct(objective, digits).rstrip("%")))


def test_an_attainment_just_under_the_objective_prints_under_it_in_the_report() -> None:
    start, end = W53
    # 99.5% of a week allows 3,024 s; one breach of 3,025 s misses it by a second: 99.4998% (not "99.50%").
    breach_at, back_at = start + timedelta(days=2), start + timedelta(days=2, seconds=3025)
    observations = [o for o in every_5_minutes(start, end, {}) if not breach_at <= o.observed_at < back_at]
    observations += [SlaObservation("merchants", breach_at, ObsState.BREACH, 2400.0),
                     SlaObservation("merchants", back_at, ObsState.MET, 60.0)]
    w = analyse(spec(max_gap="1h"), observations, start, end, now=end)
    assert w.attainment.breach == timedelta(seconds=3025)
    report = report_of(w, start, end)
    assert report.sections[0].verdict == "missed"
    assert "attainment 99.49%" in render_text(report) and "99.50%</td>" not in render_html(report).split("objective")[-1]


def report_of(window: SlaWindow, start: datetime, end: datetime) -> WeeklyReport:
    section = SlaSection(window.sla, window, None, window.breaches)
    return WeeklyReport("2026-W53", start, end, end + timedelta(hours=9), [section], [], AlertStats(0, {}, 0, 0, 0),
                        "2026-W52")
