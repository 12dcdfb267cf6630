"""Where simulated time sits on the calendar, so no test depends on the day it runs.

A date-sensitive scenario is written against a `Calendar`: three consecutive ISO weeks A, B, C (A and B hold the
simulated data, C is the week "now" falls in) and the moment `now`. The suite runs such scenarios at every calendar
in `CALENDARS`, on every run:

- `current`: the real now; week C is this ISO week (the path a user takes without --at / --week);
- `turn_of_year`: week B is 2026-W53 (Mon 2026-12-28 to Sun 2027-01-03), C is 2027-W01;
- `leap_day`: week B is 2028-W09, whose Tuesday is 2028-02-29;
- `sunday_before_report`: now is Sunday 23:59 UTC of week C, a minute before the week turns and nine hours
  before Monday's report is due.

A calendar time bomb (a date written into a test) then fails on the day it is written, not weeks later.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sentinel.clock import SystemClock
from sentinel.weeks import iso_week, week_start

DAY = timedelta(days=1)
WEEK = timedelta(days=7)


@dataclass(frozen=True)
class Calendar:
    name: str
    week_a_start: datetime  # Monday 00:00 UTC of the first simulated week
    now: datetime  # the moment the scenario calls "now" (inside week C)

    @property
    def week_b_start(self) -> datetime:
        return self.week_a_start + WEEK

    @property
    def week_c_start(self) -> datetime:
        return self.week_a_start + 2 * WEEK

    @property
    def week_a(self) -> str:
        return iso_week(self.week_a_start)

    @property
    def week_b(self) -> str:
        return iso_week(self.week_b_start)

    @property
    def week_c(self) -> str:
        return iso_week(self.week_c_start)

    def a(self, weekday: int, hh: int = 0, mm: int = 0) -> datetime:
        """A moment in week A: weekday 0 is Monday."""
        return self.week_a_start + weekday * DAY + timedelta(hours=hh, minutes=mm)

    def b(self, weekday: int, hh: int = 0, mm: int = 0) -> datetime:
        return self.week_b_start + weekday * DAY + timedelta(hours=hh, minutes=mm)

    def c(self, weekday: int, hh: int = 0, mm: int = 0) -> datetime:
        return self.week_c_start + weekday * DAY + timedelta(hours=hh, minutes=mm)

    def day(self, moment: datetime) -> date:
        return moment.astimezone(UTC).date()

    def __str__(self) -> str:
        return f"{self.name} (A {self.week_a}, B {self.week_b}, now {self.now:%Y-%m-%d %H:%M} UTC)"


def _week_of(moment: datetime) -> datetime:
    return week_start(iso_week(moment))


def current(now: datetime | None = None) -> Calendar:
    """Weeks A and B are the two weeks before the real current one; now is the real now."""
    now = now or SystemClock().now()
    return Calendar("current", _week_of(now) - 2 * WEEK, now)


def turn_of_year() -> Calendar:
    b = week_start("2026-W53")
    return Calendar("turn_of_year", b - WEEK, b + WEEK + DAY + timedelta(hours=10, minutes=30))


def leap_day() -> Calendar:
    b = week_start("2028-W09")
    assert b + DAY == datetime(2028, 2, 29, tzinfo=UTC)  # the Tuesday of week B is the leap day
    return Calendar("leap_day", b - WEEK, b + WEEK + DAY + timedelta(hours=10, minutes=30))


def sunday_before_report() -> Calendar:
    """Relative to the real week, so it moves with the suite; now is week C's last minute."""
    a = _week_of(SystemClock().now()) - 2 * WEEK
    return Calendar("sunday_before_report", a, a + 2 * WEEK + 6 * DAY + timedelta(hours=23, minutes=59))


CALENDARS = {c.name: c for c in (current(), turn_of_year(), leap_day(), sunday_before_report())}
