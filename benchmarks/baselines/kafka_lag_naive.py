"""The consumer-lag window evaluated with per-partition Python loops: the baseline of benchmarks/kafka_lag.py
and the reference the vectorised sentinel_checks._kafka_lag_window.evaluate is tested against (same verdicts)."""

from __future__ import annotations

import itertools

from sentinel_checks._kafka_lag_window import _TIME_SLACK, LagTrend


def naive_evaluate(times: list[float], committed: list[list[int]], end: list[list[int]], log_start: list[int],
                   owned: list[bool], window_seconds: float, min_samples: int) -> list[int]:
    """Per-partition Python loops over lists of tuples; the benchmark's baseline (same answers, slower)."""
    out: list[int] = []
    s_count = len(times)
    covered = s_count >= 2 and times[-1] - times[0] >= window_seconds - _TIME_SLACK
    for p in range(len(log_start)):
        pairs = [(committed[s][p], end[s][p]) for s in range(s_count)]
        c_now, e_now = pairs[-1]
        v = LagTrend.OK
        if s_count >= 2:
            valid = all(c >= 0 and e >= 0 for c, e in pairs)
            lags = [max(e - c, 0) for c, e in pairs]
            if (c_now < 0 or e_now - c_now <= 0) and e_now == pairs[0][1]:
                v = LagTrend.IDLE
            if not valid and c_now >= 0:
                v = LagTrend.NEW
            enough = valid and s_count >= min_samples
            moved = pairs[-1][0] != pairs[0][0]
            if enough and moved and min(lags) > 0 and all(b > a for a, b in itertools.pairwise(lags)):
                v = LagTrend.GROWING
            if c_now >= 0 and e_now >= 0 and c_now > e_now:
                v = LagTrend.AHEAD
            rewind = any(b[0] < a[0] and min(a + b) >= 0 for a, b in itertools.pairwise(pairs))
            if rewind:
                v = LagTrend.REWIND
            elif enough and covered and not moved and min(lags) > 0:
                v = LagTrend.STALL if owned[p] else LagTrend.STOP
        elif c_now >= 0 and e_now >= 0 and c_now > e_now:
            v = LagTrend.AHEAD
        if c_now < 0 and e_now > log_start[p]:
            v = LagTrend.NO_OFFSET
        if c_now >= 0 and c_now < log_start[p]:
            v = LagTrend.DATA_LOSS
        out.append(int(v))
    return out
