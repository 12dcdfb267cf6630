"""The per-partition data of one kafka_consumer_lag finding, and its compact text form (pure, no numpy).

A finding carries the worst partitions as data, one logfmt line each (`partition=0 committed=10 ... verdict=STALL`):
a person reads it in `check --once --format json` or the alert's details, a script splits it on spaces and `=`, and
no column widths are baked into the result. How to show it is the renderer's business.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

MAX_ROWS = 25  # partitions listed per finding, worst first; the values still count every partition


@dataclass(frozen=True)
class PartitionRow:
    """One partition of a group/topic as the check measured it."""

    partition: int
    committed: int | None  # None: the group has no committed offset here
    log_start: int
    log_end: int
    lag: int
    lag_seconds: float
    estimated: bool  # lag_seconds is a lower-bound estimate, not a message timestamp
    owned: bool  # a live member of the group is assigned this partition
    verdict: str


def partition_line(row: PartitionRow) -> str:
    """One partition as logfmt; `-` for a missing committed offset."""
    committed = "-" if row.committed is None else str(row.committed)
    return (f"partition={row.partition} committed={committed} log_start={row.log_start} log_end={row.log_end} "
            f"lag={row.lag} lag_seconds={round(row.lag_seconds)} estimated={_yes(row.estimated)} "
            f"owned={_yes(row.owned)} verdict={row.verdict.replace(' ', '_')}")


def partition_lines(rows: Sequence[PartitionRow], total: int) -> str:
    """The listed rows, one line each, and how many partitions were left out of `total`."""
    lines = [partition_line(r) for r in rows]
    if total > len(rows):
        lines.append(f"... {total - len(rows)} more partition(s)")
    return "\n".join(lines)


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"
