"""Lake helpers shared by the S3 check: marker objects, partition layouts, and daily outputs.

Judging a daily output in the lake (processed/daily_transaction_summary/dt=YYYY-MM-DD/): one partition per
closed day, written once after midnight, due by a deadline. Pure: plain values in, problems and values out.

Why a separate mode: a raw stream's *today* partition must exist by 00:15 and keep receiving files, but a daily
output's partition for day D appears only after D has closed, so "today's partition is missing" would be wrong all
day, and the newest-file age says nothing. What matters is day D by its deadline (the "daily aggregates < 1 h after
midnight UTC" SLA), no gaps, and a plausible size.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sentinel.api import Status, format_duration

Problem = tuple[Status, str, str]  # status, text, headline value


def due_day(now: datetime, deadline: timedelta, tz: ZoneInfo) -> date:
    """The latest day whose partition must exist at `now`: day D is due at the local midnight ending D + deadline."""
    return (now - deadline).astimezone(tz).date() - timedelta(days=1)


def due_at(day: date, deadline: timedelta, tz: ZoneInfo) -> datetime:
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz).astimezone(UTC) + deadline


def judge_daily(now: datetime, *, key: str, tz: ZoneInfo, deadline: timedelta, present: frozenset[date],
                due_files: Sequence[int], lookback_days: int) -> tuple[list[Problem], dict[str, float], date]:
    """Problems and values for the due day's presence and gaps; `due_files` are the sizes of its data files."""
    due = due_day(now, deadline, tz)
    zone = tz.key
    problems: list[Problem] = []
    values: dict[str, float] = {"seconds_past_deadline": 0.0, "due_objects": float(len(due_files)),
                                "due_bytes": float(sum(due_files))}
    if not due_files:
        late = now - due_at(due, deadline, tz)
        values["seconds_past_deadline"] = late.total_seconds()
        problems.append((Status.CRITICAL, f"{key}={due} is missing at {now.astimezone(tz):%H:%M} {zone}, due by "
                         f"{due_at(due, deadline, tz).astimezone(tz):%H:%M} {zone} ({format_duration(late)} late)",
                         "seconds_past_deadline"))
    expected = [due - timedelta(days=i) for i in range(1, lookback_days)]
    missing = sorted(d for d in expected if d not in present)
    values["missing_partitions"] = float(len(missing))
    if missing:
        shown = ", ".join(f"{key}={d}" for d in missing[:5]) + (" ..." if len(missing) > 5 else "")
        problems.append((Status.CRITICAL, f"{len(missing)} earlier daily partition(s) missing: {shown}",
                         "missing_partitions"))
    return problems, values, due


def is_marker(key: str, size: int) -> bool:
    """Folder markers, _SUCCESS / _temporary, .crc and other 0-byte keys: present, but never data."""
    name = key.rstrip("/").rsplit("/", 1)[-1]
    return size == 0 or key.endswith("/") or name.startswith(("_", "."))


def other_layouts(prefixes: Iterable[str], base: str, key: str) -> tuple[str, ...]:
    """Sub-folders of `base` that look like partitions of another key (`date=2025-01-14/`), sorted."""
    found = []
    for full in prefixes:
        part = full[len(base):]
        name = part.split("=", 1)[0]
        if "=" in part and name != key and name.replace("_", "").isalpha():
            found.append(part)
    return tuple(sorted(found))


def human_bytes(n: float) -> str:
    """1536 -> '1.5 KiB' (sizes in summaries a person reads)."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"
