"""ISO weeks in UTC: the SLA period and the weekly report's calendar (pure)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

WEEK = timedelta(days=7)
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def iso_week(moment: datetime) -> str:
    y, w, _ = moment.astimezone(UTC).isocalendar()
    return f"{y}-W{w:02d}"


def week_start(week: str) -> datetime:
    """Monday 00:00 UTC of an ISO week like '2026-W47'."""
    try:
        year_text, week_text = week.upper().split("-W")
        day = date.fromisocalendar(int(year_text), int(week_text), 1)
    except ValueError:
        raise ValueError(f"not an ISO week: {week!r} (expected e.g. 2026-W47)") from None
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def week_bounds(week: str) -> tuple[datetime, datetime]:
    start = week_start(week)
    return start, start + WEEK


def shift_week(week: str, weeks: int) -> str:
    return iso_week(week_start(week) + WEEK * weeks)


def scheduled_send_at(week: str, weekday: str = "monday", at: str = "09:00") -> datetime:
    """When the report of `week` is due: in the following week, on `weekday` at `at` UTC."""
    hours, minutes = (int(x) for x in at.split(":"))
    return week_bounds(week)[1] + timedelta(days=_WEEKDAYS.index(weekday), hours=hours, minutes=minutes)


def due_week(now: datetime, weekday: str = "monday", at: str = "09:00") -> str:
    """The newest week whose report is due at `now` (sent late if the daemon was down at the time)."""
    week = shift_week(iso_week(now), -1)
    if scheduled_send_at(week, weekday, at) > now:
        week = shift_week(week, -1)
    return week
