"""The `checks:` section of alert_rules.yaml."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import Field, model_validator

from sentinel.config.base import Identifier, RunbookName, Spec
from sentinel.durations import Duration


class ScheduleSpec(Spec):
    """Either `every: 1m` or `cron: "*/5 * * * *"` (UTC)."""

    every: Duration | None = None
    cron: str | None = None

    @model_validator(mode="after")
    def _one_of(self) -> ScheduleSpec:
        if (self.every is None) == (self.cron is None):
            raise ValueError("set exactly one of `every` (e.g. '1m') or `cron` (e.g. '*/5 * * * *')")
        if self.every is not None and self.every < timedelta(seconds=1):
            raise ValueError(f"`every` must be at least 1s, got {self.every}")
        if self.cron is not None:
            check_cron(self.cron)
        return self

    def describe(self) -> str:
        from sentinel.durations import format_duration

        return f"every {format_duration(self.every)}" if self.every is not None else f"cron {self.cron!r} UTC"


def check_cron(expr: str) -> None:
    """Reject a cron expression that does not parse or never fires (e.g. 30 February)."""
    from apscheduler.triggers.cron import CronTrigger

    try:
        trigger = CronTrigger.from_crontab(expr, timezone=UTC)
    except ValueError as exc:
        raise ValueError(f"invalid cron expression {expr!r}: {exc}") from None
    # A real clock is fine here: this only asks whether the expression can ever fire.
    probe = datetime(2026, 1, 1, tzinfo=UTC)
    if trigger.get_next_fire_time(None, probe) is None:
        raise ValueError(f"cron expression {expr!r} never fires")


class CheckSpec(Spec):
    id: Identifier
    kind: str
    description: str = ""
    schedule: ScheduleSpec = Field(default_factory=lambda: ScheduleSpec(every=timedelta(minutes=1)))
    timeout: Duration = timedelta(seconds=30)
    labels: dict[str, str] = Field(default_factory=dict)
    params: dict[str, Any] = Field(default_factory=dict)
    enabled: bool = True
    runbook: RunbookName | None = None

    @model_validator(mode="after")
    def _timeout_positive(self) -> CheckSpec:
        if self.timeout <= timedelta(0):
            raise ValueError("`timeout` must be positive")
        return self
