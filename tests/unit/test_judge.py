"""The one judging function: which way is bad, which threshold wins, and what it says about misordered ones."""

from datetime import timedelta

import pytest

from sentinel.api import Status, crossed, judge
from sentinel.judge import ordered


@pytest.mark.parametrize(("value", "expected"), [(5, Status.OK), (10, Status.OK), (11, Status.WARN),
                                                  (20, Status.WARN), (21, Status.CRITICAL)])
def test_higher_is_worse_by_default(value: int, expected: Status) -> None:
    assert judge(value, warn=10, critical=20) is expected


@pytest.mark.parametrize(("value", "expected"), [(0.9, Status.OK), (0.4, Status.WARN), (0.1, Status.CRITICAL)])
def test_lower_is_worse_with_lt(value: float, expected: Status) -> None:
    assert judge(value, warn=0.5, critical=0.2, op="<") is expected


def test_durations_are_judged_like_numbers() -> None:
    assert judge(timedelta(minutes=16), warn=timedelta(minutes=10), critical=timedelta(minutes=15)) is Status.CRITICAL
    assert crossed(timedelta(minutes=12), warn=timedelta(minutes=10), critical=None) == (Status.WARN,
                                                                                       timedelta(minutes=10))


def test_an_unset_threshold_never_fires_and_ok_reports_the_nearest_threshold() -> None:
    assert judge(1e12, warn=None, critical=None) is Status.OK
    assert crossed(3, warn=None, critical=5) == (Status.OK, 5)
    assert crossed(6, warn=None, critical=5) == (Status.CRITICAL, 5)


def test_ordered_names_a_critical_that_would_hide_the_warning() -> None:
    assert ordered(10, 20) is None
    assert ordered(20, 10) is not None and "swap" in (ordered(20, 10) or "")
    assert ordered(0.2, 0.5, "<") is not None
    assert ordered(0.5, 0.2, "<") is None
