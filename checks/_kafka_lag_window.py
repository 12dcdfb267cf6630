"""Burrow-like window evaluation of consumer offsets: pure functions over numpy arrays.

A window is the samples this check took on its earlier runs plus the current one, as arrays:
    times      (S,)   float64  sample times, epoch seconds, ascending; the last row is "now"
    committed  (S, P) int64    the group's committed offset per partition; -1 = no committed offset
    end        (S, P) int64    the partition's log-end offset; -1 = partition did not exist yet
plus, for the current sample only, the log start offsets (P,) and which partitions a live member owns (P,).
Columns of all group/topics are concatenated, so one call evaluates a whole check run.

The state kept between runs is the same arrays flattened to JSON lists (`WindowState`), one time axis for
everything, each matrix stored as its first row plus row-to-row differences: compact, and it loads straight
back into arrays.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
BOOL = npt.NDArray[np.bool_]

STATE_VERSION = 2
_TIME_SLACK = 0.01  # stored times are rounded to the millisecond


class LagTrend(enum.IntEnum):
    """How one partition's consumer is doing over the window, in increasing priority (a higher one wins when
    several apply). Not an alerting Verdict: the check maps each trend to a status through its params."""

    OK = 0
    IDLE = 1  # nothing to consume and no new data
    NEW = 2  # partition (or its first commit) is newer than the window: thresholds only
    GROWING = 3  # the consumer commits, but lag grew in every interval of the window
    AHEAD = 4  # committed offset beyond the log end (topic recreated or truncated): lag counted as 0
    REWIND = 5  # the committed offset went backwards inside the window
    STALL = 6  # a live member owns the partition, committed offset did not move for the window, lag > 0
    STOP = 7  # no live member owns it, committed offset did not move for the window, lag > 0
    NO_OFFSET = 8  # the partition holds data, the group never committed an offset for it
    DATA_LOSS = 9  # committed offset below the log start: retention deleted messages the group never read

    @property
    def label(self) -> str:
        return self.name.replace("_", " ")


@dataclass(frozen=True)
class WindowEval:
    verdict: npt.NDArray[np.int8]  # (P,) LagTrend values
    lag: I64  # (P,) current lag in messages, never negative; 0 for NO_OFFSET
    unread_without_offset: I64  # (P,) retained messages of NO_OFFSET partitions (end - start)
    lost: I64  # (P,) messages deleted below the committed offset (DATA_LOSS), else 0
    stuck_seconds: F64  # (P,) how long the committed offset has not moved within the window (0 if it moved)


def evaluate(
    times: F64,
    committed: I64,
    end: I64,
    log_start: I64,
    owned: BOOL,
    *,
    window_seconds: float,
    min_samples: int,
) -> WindowEval:
    """LagTrend per partition column. Pure and vectorised: 100k partitions x 11 samples in a few ms."""
    s_count, _ = committed.shape
    c_now, e_now = committed[-1], end[-1]
    has_c = c_now >= 0
    lag = np.where(has_c, np.maximum(e_now - c_now, 0), 0).astype(np.int64)
    data_loss = has_c & (c_now < log_start)
    lost = np.where(data_loss, log_start - c_now, 0).astype(np.int64)
    no_offset = ~has_c & (e_now > log_start)
    unread = np.where(no_offset, e_now - log_start, 0).astype(np.int64)
    ahead = has_c & (c_now > e_now) & (e_now >= 0)

    verdict = np.zeros(c_now.shape, dtype=np.int8)
    stuck_seconds = np.zeros(c_now.shape, dtype=np.float64)
    if s_count >= 2:
        valid_rows = (committed >= 0) & (end >= 0)
        valid_all = valid_rows.all(axis=0)
        covered = (times[-1] - times[0]) >= window_seconds - _TIME_SLACK
        enough = valid_all & (s_count >= min_samples)
        lags = np.maximum(end - committed, 0)
        dc = np.diff(committed, axis=0)
        pair_valid = valid_rows[1:] & valid_rows[:-1]
        rewind = ((dc < 0) & pair_valid).any(axis=0)
        any_zero_lag = ((lags == 0) & valid_rows).any(axis=0)
        moved = committed[-1] != committed[0]
        positive_lag = (lags > 0).all(axis=0)
        stuck = enough & covered & ~moved & positive_lag
        growing = enough & moved & ~any_zero_lag & (np.diff(lags, axis=0) > 0).all(axis=0)
        idle = (lag == 0) & (e_now == end[0])
        new = ~valid_all & has_c

        # time since the committed offset last changed, within the window
        changed = np.vstack([np.zeros((1, c_now.shape[0]), dtype=bool), dc != 0])
        last_change_row = np.where(changed.any(axis=0), s_count - 1 - np.argmax(changed[::-1], axis=0), 0)
        stuck_seconds = np.where(valid_all & positive_lag, times[-1] - times[last_change_row], 0.0)

        verdict[idle] = LagTrend.IDLE
        verdict[new] = LagTrend.NEW
        verdict[growing] = LagTrend.GROWING
        verdict[ahead] = LagTrend.AHEAD
        verdict[rewind] = LagTrend.REWIND
        verdict[stuck & owned & ~rewind] = LagTrend.STALL
        verdict[stuck & ~owned & ~rewind] = LagTrend.STOP
    else:
        verdict[(lag == 0)] = LagTrend.OK
        verdict[ahead] = LagTrend.AHEAD
    verdict[no_offset] = LagTrend.NO_OFFSET
    verdict[data_loss] = LagTrend.DATA_LOSS
    return WindowEval(verdict, lag, unread, lost, stuck_seconds)


def estimate_written_at(times: F64, committed_now: I64, end: I64) -> F64:
    """Latest time by which the message at each committed offset had surely been written (epoch seconds).

    The first sample whose log-end offset was already past the committed offset: the message existed then,
    so `now - that time` is a lower bound of the lag in seconds. NaN where nothing is waiting.
    """
    existed = end > committed_now[None, :]
    first = np.argmax(existed, axis=0)
    return np.where(existed.any(axis=0) & (committed_now >= 0), times[first], np.nan)


# -- state between runs -------------------------------------------------------------------------------------


@dataclass
class WindowState:
    """Sample times and per-key offset matrices; keys are topics (end offsets) and group/topic (committed)."""

    times: F64
    end: dict[str, I64]  # topic -> (S, P)
    committed: dict[str, I64]  # "group\ttopic" -> (S, P)

    @staticmethod
    def empty() -> WindowState:
        return WindowState(np.zeros(0, dtype=np.float64), {}, {})

    @staticmethod
    def from_json(data: Any) -> WindowState:
        """Read the stored form; anything unreadable (older version, hand-edited) starts a fresh window."""
        if not isinstance(data, Mapping) or data.get("v") != STATE_VERSION:
            return WindowState.empty()
        try:
            times = np.asarray(data["t"], dtype=np.float64)
            s_count = len(times)

            def load(block: Mapping[str, Any]) -> dict[str, I64]:
                out: dict[str, I64] = {}
                for key, (p_count, flat) in block.items():
                    arr = np.asarray(flat, dtype=np.int64)
                    if arr.size != s_count * int(p_count):
                        continue
                    out[key] = np.cumsum(arr.reshape(s_count, int(p_count)), axis=0)  # rows are stored as deltas
                return out

            return WindowState(times, load(data["e"]), load(data["c"]))
        except (KeyError, TypeError, ValueError):
            return WindowState.empty()

    def to_json(self) -> dict[str, Any]:
        def dump(block: dict[str, I64]) -> dict[str, Any]:
            # first row absolute, later rows as differences from the row before: offsets near 10^9 become
            # a few digits each, and cumsum restores them exactly
            return {k: [int(v.shape[1]), np.diff(v, axis=0, prepend=np.zeros((1, v.shape[1]), np.int64)).ravel()
                        .tolist()] for k, v in block.items()}

        return {"v": STATE_VERSION, "t": [round(float(t), 3) for t in self.times], "e": dump(self.end),
                "c": dump(self.committed)}

    def append(self, now: float, end: Mapping[str, I64], committed: Mapping[str, I64], *, window_seconds: float,
               max_samples: int) -> WindowState:
        """A new state with the current sample appended (rows padded with -1 where a key or partition is new),
        keys not sampled now dropped, and old samples trimmed to one at or before the window start."""
        keep = self.times < now  # a clock that went back, or a second run at the same instant, replaces samples
        times = np.append(self.times[keep], now)
        old_rows = int(keep.sum())

        def merge(prev: dict[str, I64], cur: Mapping[str, I64]) -> dict[str, I64]:
            out: dict[str, I64] = {}
            for key, row in cur.items():
                p_count = row.shape[0]
                mat = np.full((old_rows + 1, p_count), -1, dtype=np.int64)
                old = prev.get(key)
                if old is not None and old_rows:
                    old = old[keep]
                    width = min(p_count, old.shape[1])
                    mat[:old_rows, :width] = old[:, :width]
                mat[-1] = row
                out[key] = mat
            return out

        new_end, new_committed = merge(self.end, end), merge(self.committed, committed)
        # drop the oldest rows while the next one is still at or before the window start
        start = 0
        while start + 1 < len(times) - 1 and times[start + 1] <= now - window_seconds + _TIME_SLACK:
            start += 1
        rows = np.arange(start, len(times))
        if len(rows) > max_samples:
            rows = np.concatenate([rows[:1], rows[-(max_samples - 1):]])
        return WindowState(times[rows], {k: v[rows] for k, v in new_end.items()},
                           {k: v[rows] for k, v in new_committed.items()})
