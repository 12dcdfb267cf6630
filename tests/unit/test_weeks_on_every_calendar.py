"""The weekly calendar (ISO weeks, the Monday report job, the week a late daemon catches up on) at every calendar
of tests/calendars.py: the real week, the 2026-W53 turn of the year, the 2028 leap day and a Sunday 23:59."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from sentinel.config.alerting_spec import ReportSpec
from sentinel.reports.weekly import WeeklyReportDuty
from sentinel.weeks import due_week, iso_week, scheduled_send_at, shift_week, week_bounds
from tests.calendars import CALENDARS, Calendar

pytestmark = pytest.mark.parametrize("cal", list(CALENDARS.values()), ids=list(CALENDARS))


def test_the_three_weeks_are_consecutive_iso_weeks(cal: Calendar) -> None:
    assert shift_week(cal.week_a, 1) == cal.week_b and shift_week(cal.week_b, 1) == cal.week_c
    assert shift_week(cal.week_c, -2) == cal.week_a
    assert week_bounds(cal.week_b) == (cal.week_b_start, cal.week_c_start)
    assert iso_week(cal.now) == cal.week_c
    assert cal.week_b_start.weekday() == 0 and (cal.week_c_start - cal.week_b_start) == timedelta(days=7)


def _next_monday_0900(cal: Calendar) -> Any:
    this_week = cal.c(0, 9, 0)
    return this_week if cal.now < this_week else this_week + timedelta(days=7)


def test_the_monday_job_fires_next_at_monday_0900_utc(cal: Calendar) -> None:
    jobs: dict[str, Any] = {}
    scheduler = SimpleNamespace(add_job=lambda func, trigger, job_id: jobs.__setitem__(job_id, trigger))
    app = SimpleNamespace(config=SimpleNamespace(spec=SimpleNamespace(report=ReportSpec(
        to=["a@novapay.example"], weekday="monday", at="09:00"))))
    WeeklyReportDuty(app).install(scheduler)  # type: ignore[arg-type]
    assert jobs["__weekly_report"].get_next_fire_time(None, cal.now) == _next_monday_0900(cal)


def test_the_due_week_turns_at_monday_0900_not_at_midnight(cal: Calendar) -> None:
    assert scheduled_send_at(cal.week_b) == cal.c(0, 9, 0)
    assert due_week(cal.c(0, 8, 59)) == cal.week_a
    assert due_week(cal.c(0, 9, 0)) == cal.week_b
    assert due_week(cal.now) == (cal.week_b if cal.now >= cal.c(0, 9, 0) else cal.week_a)
    # A minute before the week turns, the report of the week that is ending is still eight days away.
    sunday_2359 = cal.c(6, 23, 59)
    assert iso_week(sunday_2359) == cal.week_c and iso_week(sunday_2359 + timedelta(minutes=1)) != cal.week_c
    assert due_week(sunday_2359) == cal.week_b
