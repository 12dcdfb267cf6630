"""Rows per time bucket that row_reconciliation already counted, kept in its memory for volume_anomaly (pure).

The reconciliation counts every compared bucket on both sides anyway; keeping those counts lets volume_anomaly judge
a table without a second scan of it. One memory key per table pair, written by row_reconciliation after each run and
read by volume_anomaly through `CheckMemory.load_from` (read-only):

    bucket_counts:<pair label> = {
        "version": 1, "fp": <pair fingerprint>,
        "counted_to": <in-flight cutoff of the last run, ISO UTC>,
        "source": {"table": "payments.transactions", "time_column": "created_at"},
        "target": {"table": "novapay.raw.transactions", "time_column": "created_at"},
        "buckets": {"<start ISO>|<end ISO>": [source rows, target rows], ...},
    }

Target counts leave out the rows the pair marks deleted (`target_deleted`), as the reconciliation compares them;
a count of the table itself includes those tombstones, so on a table with many deletes the two differ by them.
A bucket remembered as matched is skipped by later runs, so its counts are carried over from the run that counted it;
buckets older than the reconciliation window are dropped. The open bucket (ending at the cutoff) is stored with its
real end, so a reader asking for a whole hour never mistakes its partial count for the hour's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

VERSION = 1
Side = Literal["source", "target"]


def counts_key(pair_label: str) -> str:
    return f"bucket_counts:{pair_label}"


def merged_counts(old: Any, fp: str, counted: Iterable[tuple[datetime, datetime, int, int]], *, counted_to: datetime,
                  keep_from: datetime, source: tuple[str, str], target: tuple[str, str]) -> dict[str, Any]:
    """The record to store after a run: this run's counts over the carried-over ones of the same pair definition.

    counted: (start, end, source rows, target rows) per compared bucket; source, target: (table, time column)."""
    carried = old.get("buckets", {}) if isinstance(old, dict) and old.get("fp") == fp else {}
    buckets = {k: v for k, v in carried.items() if datetime.fromisoformat(k.split("|")[0]) >= keep_from}
    for start, end, source_rows, target_rows in counted:
        buckets[f"{start.isoformat()}|{end.isoformat()}"] = [source_rows, target_rows]
    return {"version": VERSION, "fp": fp, "counted_to": counted_to.isoformat(),
            "source": {"table": source[0], "time_column": source[1]},
            "target": {"table": target[0], "time_column": target[1]},
            "buckets": dict(sorted(buckets.items()))}


@dataclass(frozen=True)
class Reading:
    """What a reader got: counts per bucket start (only whole buckets of its width), and why the rest is missing."""

    counts: dict[datetime, float]
    problem: str | None = None  # why nothing at all could be used (wrong table, never ran, ...)
    counted_to: datetime | None = None


def _same_table(stored: str, wanted: str) -> bool:
    """NOVAPAY.RAW.TRANSACTIONS names the same table as raw.transactions; identifiers compare case-insensitively."""
    a, b = stored.lower().split("."), wanted.lower().split(".")
    n = min(len(a), len(b))
    return a[-n:] == b[-n:]


def read_counts(record: Any, side: Side, table: str, time_column: str | None, width: timedelta,
                starts: Iterable[datetime]) -> Reading:
    """The stored rows of `side` for the wanted bucket starts that a stored bucket covers exactly.

    The counts are only used when they count the same table by the same time column as the reader would."""
    if not isinstance(record, dict) or record.get("version") != VERSION:
        return Reading({}, "it has stored no bucket counts (not run yet, not a row_reconciliation check, or no such pair)")
    try:
        return _read(record, side, table, time_column, width, starts)
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        return Reading({}, f"its stored bucket counts are unreadable ({type(exc).__name__}: {exc})")


def _read(record: dict[str, Any], side: Side, table: str, time_column: str | None, width: timedelta,
          starts: Iterable[datetime]) -> Reading:
    stored = record[side]
    if not _same_table(stored["table"], table):
        return Reading({}, f"it counts {stored['table']}, not {table}")
    if time_column and stored["time_column"].lower() != time_column.lower():
        return Reading({}, f"it buckets by {stored['time_column']}, this table by {time_column}")
    index = 0 if side == "source" else 1
    buckets: Mapping[str, list[int]] = record["buckets"]
    counts = {}
    for start in starts:
        rows = buckets.get(f"{start.isoformat()}|{(start + width).isoformat()}")
        if rows is not None:
            counts[start] = float(rows[index])
    return Reading(counts, None, datetime.fromisoformat(record["counted_to"]))
