"""Pure window evaluation of consumer offsets (Burrow-like), the stored window state, and the params model."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
from pydantic import ValidationError
from sentinel_checks._kafka_lag_window import LagTrend, WindowState, estimate_written_at, evaluate
from sentinel_checks.kafka_consumer_lag import KafkaConsumerLagParams

from benchmarks.baselines.kafka_lag_naive import naive_evaluate

W = 600.0  # window seconds


def ev(times: list[float], committed: list[list[int]], end: list[list[int]], start: list[int] | None = None,
       owned: list[bool] | None = None, min_samples: int = 3) -> list[LagTrend]:
    c = np.array(committed, dtype=np.int64)
    e = np.array(end, dtype=np.int64)
    p = c.shape[1]
    res = evaluate(np.array(times, dtype=np.float64), c, e, np.array(start or [0] * p, dtype=np.int64),
                   np.array(owned or [False] * p), window_seconds=W, min_samples=min_samples)
    return [LagTrend(int(v)) for v in res.verdict]


T3 = [0.0, 300.0, 600.0]


def test_consumer_keeping_up_is_ok_and_idle_partition_is_idle() -> None:
    assert ev(T3, [[10], [20], [30]], [[12], [22], [31]]) == [LagTrend.OK]
    assert ev(T3, [[5], [5], [5]], [[5], [5], [5]]) == [LagTrend.IDLE]


def test_stuck_offset_with_lag_is_stop_without_owner_and_stall_with_one() -> None:
    committed, end = [[5, 5]] * 3, [[8, 8], [9, 9], [12, 12]]
    assert ev(T3, committed, end, owned=[False, True]) == [LagTrend.STOP, LagTrend.STALL]


def test_stuck_but_window_not_covered_yet_is_not_judged() -> None:
    assert ev([0.0, 200.0, 400.0], [[5]] * 3, [[8], [9], [12]]) == [LagTrend.OK]
    assert ev(T3, [[5]] * 3, [[8], [9], [12]], min_samples=4) == [LagTrend.OK]


def test_any_zero_lag_in_the_window_prevents_stall() -> None:
    # caught up at the first sample, then data arrived and the consumer has not committed yet
    assert ev(T3, [[5]] * 3, [[5], [7], [9]], owned=[True]) != [LagTrend.STALL]


def test_committed_offset_going_back_is_rewind_even_with_two_samples() -> None:
    assert ev([0.0, 60.0], [[40], [10]], [[50], [50]]) == [LagTrend.REWIND]


def test_lag_growing_in_every_interval_while_consumer_moves_is_growing() -> None:
    assert ev([0.0, 200.0, 400.0, 600.0], [[10], [20], [30], [40]], [[15], [30], [50], [80]]) == [LagTrend.GROWING]
    # lag shrank once: not growing
    assert ev([0.0, 200.0, 400.0, 600.0], [[10], [20], [30], [40]], [[15], [30], [34], [80]]) == [LagTrend.OK]


def test_no_committed_offset_is_explicit_and_never_negative_lag() -> None:
    res = evaluate(np.array([0.0]), np.array([[-1, -1]]), np.array([[7, 0]]), np.array([0, 0]),
                   np.array([False, False]), window_seconds=W, min_samples=3)
    assert [LagTrend(int(v)) for v in res.verdict] == [LagTrend.NO_OFFSET, LagTrend.OK]
    assert res.lag.tolist() == [0, 0] and res.unread_without_offset.tolist() == [7, 0]


def test_offset_below_log_start_is_data_loss_with_lost_count() -> None:
    res = evaluate(np.array(T3), np.array([[2]] * 3), np.array([[7], [7], [8]]), np.array([6]), np.array([True]),
                   window_seconds=W, min_samples=3)
    assert LagTrend(int(res.verdict[0])) is LagTrend.DATA_LOSS
    assert res.lost.tolist() == [4] and res.lag.tolist() == [6]


def test_offset_ahead_of_log_end_is_flagged_and_lag_is_zero() -> None:
    res = evaluate(np.array([0.0, 60.0]), np.array([[90], [90]]), np.array([[50], [50]]), np.array([0]),
                   np.array([False]), window_seconds=W, min_samples=3)
    assert LagTrend(int(res.verdict[0])) is LagTrend.AHEAD and res.lag.tolist() == [0]


def test_new_partition_without_full_history_is_new_not_stop() -> None:
    committed = [[5, -1], [5, -1], [5, 0]]
    end = [[5, -1], [5, 3], [5, 3]]
    assert ev(T3, committed, end) == [LagTrend.IDLE, LagTrend.NEW]


def test_stuck_seconds_counts_from_the_last_change() -> None:
    res = evaluate(np.array([0.0, 300.0, 600.0, 900.0]), np.array([[1], [5], [5], [5]]),
                   np.array([[9], [9], [10], [12]]), np.array([0]), np.array([False]), window_seconds=W,
                   min_samples=3)
    assert res.stuck_seconds.tolist() == [600.0]


def test_vectorised_and_naive_evaluations_agree_on_random_windows() -> None:
    rng = random.Random(7)
    for _ in range(200):
        s_count, p_count = rng.randint(1, 6), rng.randint(1, 8)
        times = sorted(rng.uniform(0, 1200) for _ in range(s_count))
        end = [[rng.randint(-1, 30) for _ in range(p_count)] for _ in range(s_count)]
        committed = [[rng.choice([-1, rng.randint(0, 30)]) for _ in range(p_count)] for _ in range(s_count)]
        start = [rng.randint(0, 5) for _ in range(p_count)]
        owned = [rng.random() < 0.5 for _ in range(p_count)]
        fast = evaluate(np.array(times), np.array(committed, dtype=np.int64), np.array(end, dtype=np.int64),
                        np.array(start, dtype=np.int64), np.array(owned), window_seconds=W, min_samples=3)
        slow = naive_evaluate(times, committed, end, start, owned, W, 3)
        assert fast.verdict.tolist() == slow, (times, committed, end, start, owned)


def test_estimate_is_the_first_sample_where_the_message_existed() -> None:
    times = np.array([0.0, 60.0, 120.0])
    end = np.array([[3, 10], [6, 10], [9, 10]], dtype=np.int64)
    got = estimate_written_at(times, np.array([4, 10], dtype=np.int64), end)
    assert got[0] == 60.0 and np.isnan(got[1])


def test_state_appends_pads_new_partitions_and_trims_to_the_window() -> None:
    st = WindowState.empty()
    for i in range(15):
        parts = 2 if i < 10 else 3
        st = st.append(i * 60.0, {"t": np.arange(parts, dtype=np.int64) + i},
                       {"g\tt": np.full(parts, i, dtype=np.int64)}, window_seconds=W, max_samples=30)
    assert st.times[0] == 14 * 60.0 - W and st.times[-1] == 14 * 60.0 and len(st.times) == 11
    c = st.committed["g\tt"]
    assert c.shape == (11, 3)
    assert c[:6, 2].tolist() == [-1] * 6 and c[6:, 2].tolist() == [10, 11, 12, 13, 14]
    back = WindowState.from_json(json.loads(json.dumps(st.to_json())))
    assert np.array_equal(back.committed["g\tt"], c) and np.array_equal(back.end["t"], st.end["t"])
    # a clock that went backwards replaces the newer samples instead of corrupting the order
    again = back.append(13 * 60.0, {"t": np.zeros(3, dtype=np.int64)}, {"g\tt": np.zeros(3, dtype=np.int64)},
                        window_seconds=W, max_samples=30)
    assert again.times[-1] == 13 * 60.0 and np.all(np.diff(again.times) > 0)


def test_state_is_capped_at_max_samples_keeping_the_oldest_and_newest() -> None:
    st = WindowState.empty()
    for i in range(40):
        st = st.append(float(i), {"t": np.array([i], dtype=np.int64)}, {}, window_seconds=W, max_samples=10)
    assert len(st.times) == 10 and st.times[0] == 0.0 and st.times[-1] == 39.0


def test_unreadable_state_starts_a_fresh_window() -> None:
    assert len(WindowState.from_json({"v": 999}).times) == 0
    assert len(WindowState.from_json({"v": 2, "t": "x"}).times) == 0
    assert len(WindowState.from_json({"v": 1, "t": [1.0], "e": {}, "c": {}}).times) == 0  # older format
    assert len(WindowState.from_json(None).times) == 0


def test_params_validate_regexes_and_threshold_order() -> None:
    with pytest.raises(ValidationError, match="not a valid regex"):
        KafkaConsumerLagParams(groups=["connect-("])
    with pytest.raises(ValidationError, match="lag_warn must not exceed lag_critical"):
        KafkaConsumerLagParams(groups=["g"], lag_warn="20m", lag_critical="15m")
    with pytest.raises(ValidationError, match="table"):
        KafkaConsumerLagParams(groups=["g"], table_from_topic="cdc\\.(.*)")
    with pytest.raises(ValidationError):
        KafkaConsumerLagParams(groups=["g"], window=600)  # a bare number has no unit
    p = KafkaConsumerLagParams(groups=["connect-s3-sink"], topics=["cdc\\..*"], lag_warn="5m")
    assert p.window.total_seconds() == 600 and p.lag_warn is not None and p.lag_warn.total_seconds() == 300


def test_the_lag_status_series_lists_every_verdict() -> None:
    """The check writes its verdicts out (so loading it does not import numpy); /metrics must know them all."""
    from sentinel_checks.kafka_consumer_lag import KafkaConsumerLagCheck

    series = KafkaConsumerLagCheck.finding_series
    assert series is not None and series.verdict is not None
    assert series.verdict[2] == tuple(v.label for v in LagTrend)


@pytest.mark.parametrize("kind", ["kafka_consumer_lag", "kafka_topic_arrival"])
def test_table_from_topic_needs_its_table_group_in_both_kafka_kinds(kind: str) -> None:
    from sentinel.plugins import check_registry

    params = check_registry().load(kind).Params
    base = {"groups": ["connect-s3-sink"]} if kind == "kafka_consumer_lag" else {"topics": ["cdc.payments.transactions"]}
    with pytest.raises(ValidationError, match=r"named group \(\?P<table>"):
        params(**base, table_from_topic=r"cdc\..*")
    with pytest.raises(ValidationError, match="not a valid regex"):
        params(**base, table_from_topic=r"cdc\.(?P<table>")
    assert params(**base, table_from_topic=r"cdc\.(?P<table>.+)").table_from_topic == r"cdc\.(?P<table>.+)"
