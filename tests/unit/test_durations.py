from datetime import timedelta

import pytest

from sentinel.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [("30s", timedelta(seconds=30)), ("5m", timedelta(minutes=5)), ("1h30m", timedelta(minutes=90)),
     ("2d", timedelta(days=2)), ("250ms", timedelta(milliseconds=250)), ("1w", timedelta(days=7))],
)
def test_parse(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("bad", [30, "30", "5 minutes", "", "m5", True, "1h 30x"])
def test_bare_numbers_and_unknown_units_are_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(bad)


def test_format_reads_like_a_human_wrote_it() -> None:
    assert format_duration(timedelta(seconds=45)) == "45s"
    assert format_duration(timedelta(minutes=12)) == "12m"
    assert format_duration(timedelta(hours=3, minutes=5)) == "3h05m"
    assert format_duration(timedelta(days=2, hours=4)) == "2d04h"
