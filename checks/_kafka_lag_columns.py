"""Column bookkeeping of kafka_consumer_lag: every group/topic is a range of columns in one set of arrays.

Slices name the ranges, a Snapshot holds this run's offsets per column, Measured what the findings are judged from.
numpy is imported inside the functions, so importing this module (when the config is validated) stays cheap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sentinel.sources.kafka import GroupInfo

from ._kafka_lag_partitions import MAX_ROWS, PartitionRow

if TYPE_CHECKING:
    import numpy as np

    from ._kafka_lag_window import WindowEval, WindowState


@dataclass
class Slice:
    """One group/topic: `count` partition columns from `start` in the concatenated arrays."""

    group: str
    topic: str
    start: int  # first column in the concatenated arrays
    count: int

    @property
    def key(self) -> str:
        """The group/topic key of the stored window and offsets memory."""
        return f"{self.group}\t{self.topic}"


@dataclass(frozen=True)
class Snapshot:
    """This run's offsets, one column per partition of every group/topic (slices concatenated)."""

    total: int
    committed: np.ndarray  # -1 = no committed offset
    start: np.ndarray  # log start offsets
    owned: np.ndarray  # a live member is assigned the partition
    end_by_topic: dict[str, np.ndarray]  # log-end offsets per topic
    committed_by_key: dict[str, np.ndarray]  # committed offsets per group/topic key

    @staticmethod
    def of(slices: list[Slice], committed: dict[str, dict[tuple[str, int], int]], described: dict[str, GroupInfo],
           log: dict[tuple[str, int], tuple[int, int]]) -> Snapshot:
        import numpy as np

        total = sum(s.count for s in slices)
        snap = Snapshot(total, np.full(total, -1, dtype=np.int64), np.zeros(total, dtype=np.int64),
                         np.zeros(total, dtype=bool), {}, {})
        for s in slices:
            cols = slice(s.start, s.start + s.count)
            if s.topic not in snap.end_by_topic:
                snap.end_by_topic[s.topic] = np.array([log[(s.topic, i)][1] for i in range(s.count)], dtype=np.int64)
            offs = committed.get(s.group, {})
            row = np.array([offs.get((s.topic, i), -1) for i in range(s.count)], dtype=np.int64)
            snap.committed_by_key[s.key] = row
            snap.committed[cols] = row
            snap.start[cols] = [log[(s.topic, i)][0] for i in range(s.count)]
            if (info := described.get(s.group)) is not None:
                snap.owned[cols] = [(s.topic, i) in info.assigned for i in range(s.count)]
        return snap


@dataclass(frozen=True)
class Measured:
    """Everything the findings are judged from: the window evaluation and the lag in seconds, per column."""

    ev: WindowEval
    lag_seconds: np.ndarray
    estimated: np.ndarray  # lag_seconds is an estimate (no readable message timestamp)
    snap: Snapshot
    end: np.ndarray  # log-end offsets now


def offsets_moved_at(remembered: Any, current: dict[str, Any], now: float) -> dict[str, dict[str, list[Any]]]:
    """Per group/topic key: the committed offsets and, per partition, since when each has had that value."""
    before = remembered if isinstance(remembered, dict) else {}
    out: dict[str, dict[str, list[Any]]] = {}
    for key, row in current.items():
        offsets = [int(x) for x in row]
        old = before.get(key) or {}
        old_offsets, old_at = list(old.get("offsets", [])), list(old.get("at", []))
        out[key] = {"offsets": offsets, "at": [
            float(old_at[i]) if i < len(old_offsets) and i < len(old_at) and old_offsets[i] == off else now
            for i, off in enumerate(offsets)]}
    return out


def partition_rows(s: Slice, m: Measured, codes: np.ndarray) -> list[PartitionRow]:
    """The worst partitions of a group/topic (by verdict, then lag) as data, at most MAX_ROWS."""
    import numpy as np

    from ._kafka_lag_window import LagTrend

    lag = m.ev.lag[s.start:s.start + s.count]
    order: list[int] = np.lexsort((-lag, -codes))[:MAX_ROWS].tolist() if s.count else []
    rows = []
    for i in order:
        c = s.start + i
        committed = int(m.snap.committed[c])
        rows.append(PartitionRow(
            partition=i, committed=committed if committed >= 0 else None, log_start=int(m.snap.start[c]),
            log_end=int(m.end[c]), lag=int(lag[i]), lag_seconds=float(m.lag_seconds[c]),
            estimated=bool(m.estimated[c] and m.lag_seconds[c] > 0), owned=bool(m.snap.owned[c]),
            verdict=LagTrend(int(codes[i])).label))
    return rows


def window_matrices(slices: list[Slice], state: WindowState, total: int) -> tuple[np.ndarray, np.ndarray]:
    """The stored samples (and this run's) as (samples, columns) matrices of committed and log-end offsets."""
    import numpy as np

    committed_m = np.empty((len(state.times), total), dtype=np.int64)
    end_m = np.empty((len(state.times), total), dtype=np.int64)
    for s in slices:
        committed_m[:, s.start:s.start + s.count] = state.committed[s.key]
        end_m[:, s.start:s.start + s.count] = state.end[s.topic]
    return committed_m, end_m
