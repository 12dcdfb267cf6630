"""Silences (ad hoc, from `sentinel silence add`) and recurring maintenance windows (from config).

A silenced alert is tracked, not lost: its state advances as usual, it shows as silenced in
`sentinel alerts`, and it is announced if it is still firing when the silence ends.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sentinel.alerting.inhibit import Inhibitor
from sentinel.alerting.types import AlertState, Phase, Silence
from sentinel.config.base import label_matches, matcher_problem


def alert_labels(state: AlertState) -> dict[str, str]:
    """Labels silences and routes match on: the alert's labels plus alertname, check and severity."""
    return {**state.labels, "alertname": state.rule_id, "check": state.check_id, "severity": state.severity.value}


def parse_matchers(pairs: Sequence[str]) -> dict[str, str]:
    """`KEY=VALUE` strings (VALUE may be `~regex` or `!value`) -> matchers. Raises ValueError with the bad one."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip() or not value:
            raise ValueError(f"matcher {pair!r} must look like KEY=VALUE (e.g. table=payments.transactions)")
        problem = matcher_problem(key.strip(), value)
        if problem:
            raise ValueError(problem)
        out[key.strip()] = value
    if not out:
        raise ValueError("a silence needs at least one --match KEY=VALUE")
    return out


def new_silence(matchers: Mapping[str, str], now: datetime, duration: timedelta, *, created_by: str = "",
                comment: str = "") -> Silence:
    if duration <= timedelta(0):
        raise ValueError("a silence needs a positive --for duration")
    return Silence(id="sil-" + secrets.token_hex(4), matchers=dict(matchers), starts_at=now, ends_at=now + duration,
                   created_by=created_by, comment=comment, created_at=now)


@dataclass(frozen=True)
class MaintenanceWindow:
    name: str
    matchers: Mapping[str, str]
    cron: str
    duration: timedelta
    comment: str = ""

    def active_at(self, now: datetime) -> bool:
        # the window is [start, start + duration): look for a start strictly after now - duration
        start = crontab_trigger(self.cron).get_next_fire_time(None, now - self.duration + timedelta(microseconds=1))
        return start is not None and start <= now


_DOW = {"0": "sun", "1": "mon", "2": "tue", "3": "wed", "4": "thu", "5": "fri", "6": "sat", "7": "sun"}


def crontab_trigger(expr: str) -> Any:
    """A UTC CronTrigger with standard crontab day-of-week numbers (0 or 7 = Sunday, 1 = Monday).

    APScheduler 3's from_crontab counts 0 = Monday, so `0 9 * * 1` would open the window on Tuesday."""
    from apscheduler.triggers.cron import CronTrigger

    fields = expr.split()
    if len(fields) != 5:
        raise ValueError(f"cron expression {expr!r} needs 5 fields (minute hour day month day-of-week)")
    minute, hour, day, month, dow = fields
    dow = re.sub(r"\d", lambda m: _DOW[m.group(0)], dow)
    return CronTrigger(minute=minute, hour=hour, day=day, month=month, day_of_week=dow, timezone=UTC)


class Suppressor:
    """Which silence or maintenance window (if any) covers an alert at `now`."""

    def __init__(self, silences: Sequence[Silence], windows: Sequence[MaintenanceWindow], now: datetime) -> None:
        self.silences = [s for s in silences if s.active_at(now)]
        self.windows = [w for w in windows if w.active_at(now)]

    def reason(self, state: AlertState) -> str | None:
        labels = alert_labels(state)
        for s in self.silences:
            if label_matches(dict(s.matchers), labels):
                return f"silence:{s.id}"
        for w in self.windows:
            if label_matches(dict(w.matchers), labels):
                return f"maintenance:{w.name}"
        return None


def lifted(active: Iterable[AlertState], suppressor: Suppressor, inhibitor: Inhibitor) -> list[AlertState]:
    """Firing alerts that were held back (silenced, or a symptom of a root cause) and are not any more: their
    silence ended or their root resolved. They are announced now, with the hold cleared."""
    return [state.evolve(silenced_by=None, inhibited_by=None) for state in active
            if state.phase is Phase.FIRING and (state.silenced_by or state.inhibited_by)
            and suppressor.reason(state) is None and inhibitor.root_of(state) is None]
