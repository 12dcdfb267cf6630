"""Durations in config are strings with units ("30s", "5m", "1h30m", "2d"); a bare number is refused
because its unit would be a guess."""

from __future__ import annotations

import functools
import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, PlainSerializer

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: Any) -> timedelta:
    """"30s", "5m", "1h30m", "2d" (or a timedelta) to a timedelta; anything else raises ValueError saying what is
    accepted. Bare numbers are refused: a unit-less 300 is ambiguous at 3 a.m."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError(f"expected a duration with a unit like '30s', '5m', '2h' or '1d', got {value!r}")
    return _parse_text(value)


@functools.lru_cache(maxsize=1024)
def _parse_text(value: str) -> timedelta:
    # Cached: a large config repeats the same few durations ("1m", "20s") tens of thousands of times.
    text = value.strip().replace(" ", "")
    pos, seconds = 0, 0.0
    for match in _PART.finditer(text):
        if match.start() != pos:
            break
        seconds += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text:
        raise ValueError(f"cannot read {value!r} as a duration; use e.g. '30s', '5m', '1h30m', '2d'")
    return timedelta(seconds=seconds)


def format_duration(delta: timedelta) -> str:
    """Short human form: 45s, 12m, 3h05m, 2d04h."""
    total = int(delta.total_seconds())
    sign = "-" if total < 0 else ""
    total = abs(total)
    days, rem = divmod(total, 86400)
    hours, rem = divmod(rem, 3600)
    minutes, secs = divmod(rem, 60)
    if days:
        return f"{sign}{days}d{hours:02d}h"
    if hours:
        return f"{sign}{hours}h{minutes:02d}m"
    if minutes:
        return f"{sign}{minutes}m{secs:02d}s" if secs and minutes < 10 else f"{sign}{minutes}m"
    return f"{sign}{secs}s"


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
]


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError(f"must be longer than 0 (got {format_duration(value)}); use e.g. '30s', '15m' or '1h'")
    return value


# For spans where zero means nothing sensible (a cadence, a window, a bucket): `0s` would divide by zero, never
# look back, or declare everything late, so it is refused at validation instead of misbehaving at run time.
PositiveDuration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    AfterValidator(_positive),
    PlainSerializer(format_duration, return_type=str),
]
