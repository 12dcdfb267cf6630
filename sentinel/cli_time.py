"""Moments and weeks typed on the command line (`--at`, `--week`), for looking back at an incident."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from sentinel.weeks import iso_week, week_start


class MomentType(click.ParamType[datetime]):
    """An ISO 8601 moment; one without an offset is UTC, because every time Sentinel shows is UTC."""

    name = "TIME"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> datetime:
        if isinstance(value, datetime):
            moment = value
        else:
            text = str(value).strip()
            try:
                moment = datetime.fromisoformat(text.replace(" ", "T", 1) if " " in text else text)
            except ValueError:
                self.fail(f"{value!r} is not a time; use ISO 8601 such as 2026-11-30T14:30 or "
                          "2026-11-30T15:30+01:00 (UTC unless an offset is given)", param, ctx)
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class IsoWeekType(click.ParamType[str]):
    """An ISO week like 2026-W48, normalised (2026-w48 is accepted)."""

    name = "WEEK"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> str:
        try:
            return iso_week(week_start(str(value)))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


MOMENT = MomentType()
ISO_WEEK = IsoWeekType()
