"""volume_anomaly's pure parts: the seasonal band, the verdicts, the bucket judged at a given time, the message.

Times are fixed instants (a Thursday in 2026), never today's date.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError
from sentinel_checks._seasonal import WEEK, SeasonalSettings, Window, band, judge
from sentinel_checks.volume_anomaly import VolumeAnomalyParams, VolumeTable, describe_judgement, fill_zeros, judged_bucket

HOUR = timedelta(hours=1)
THU_14 = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)  # a Thursday


def weeks_of(values: list[float], at: datetime = THU_14) -> dict[datetime, float]:
    """values[0] is one week back, values[1] two weeks back..."""
    return {at - (i + 1) * WEEK: v for i, v in enumerate(values)}


def test_a_60_percent_drop_is_a_drop_and_the_band_comes_from_the_same_hour_of_week() -> None:
    history = weeks_of([100_000, 104_000, 98_000, 110_000, 101_000, 99_000])
    history[THU_14 - HOUR] = 5  # other hours of the week do not enter the band
    j = judge(history, THU_14, 41_200, HOUR, SeasonalSettings())
    assert j.verdict == "drop" and j.history_points == 6
    assert j.expected == 100_500
    assert j.low is not None and j.high is not None and j.low < 100_000 < j.high
    assert judge(history, THU_14, 103_000, HOUR, SeasonalSettings()).verdict == "normal"


def test_one_past_outage_does_not_drag_the_baseline() -> None:
    history = weeks_of([100_000, 0, 98_000, 102_000, 101_000, 99_000])
    j = judge(history, THU_14, 99_500, HOUR, SeasonalSettings())
    assert j.verdict == "normal"
    assert j.expected == 99_500


def test_direction_limits_what_is_reported() -> None:
    history = weeks_of([1000, 1010, 990, 1005])
    assert judge(history, THU_14, 3000, HOUR, SeasonalSettings(direction="both")).verdict == "spike"
    assert judge(history, THU_14, 3000, HOUR, SeasonalSettings(direction="drop")).verdict == "normal"
    assert judge(history, THU_14, 100, HOUR, SeasonalSettings(direction="spike")).verdict == "normal"


def test_sensitivity_widens_the_band() -> None:
    points = [1000, 1100, 900, 1050, 950]
    _, low_tight, _ = band(points, SeasonalSettings(sensitivity=2, min_band_ratio=0))
    _, low_loose, _ = band(points, SeasonalSettings(sensitivity=6, min_band_ratio=0))
    assert low_loose < low_tight


def test_a_flat_history_still_has_a_band_of_at_least_min_band_ratio() -> None:
    _, low, high = band([1000, 1000, 1000], SeasonalSettings(min_band_ratio=0.15))
    assert (low, high) == (850, 1150)


def test_too_little_history_says_so_instead_of_guessing() -> None:
    history = weeks_of([100_000, 100_000])
    j = judge(history, THU_14, 0, HOUR, SeasonalSettings(min_history=3))
    assert j.verdict == "insufficient_history" and not j.anomalous and j.history_points == 2
    text = describe_judgement(VolumeTable(table="payments.transactions", timestamp_column="created_at"), j, HOUR, 6)
    assert "not judged: only 2 past Thursdays at 14:00" in text


def test_exclusion_windows_are_neither_judged_nor_learned_from() -> None:
    christmas = Window(datetime(2026, 12, 24, tzinfo=UTC), datetime(2026, 12, 27, tzinfo=UTC))
    after = datetime(2026, 12, 31, 14, tzinfo=UTC)  # one week after the holiday
    history = weeks_of([10_000, 100_000, 100_000, 100_000], at=after)  # the holiday week was quiet
    assert judge(history, after, 100_000, HOUR, SeasonalSettings(), [christmas]).history_points == 3
    assert judge(history, after, 100_000, HOUR, SeasonalSettings(), [christmas]).verdict == "normal"
    on_holiday = judge(weeks_of([100_000] * 4, at=christmas.start_at), christmas.start_at, 5, HOUR,
                       SeasonalSettings(), [christmas])
    assert on_holiday.verdict == "excluded"


def test_judged_bucket_is_the_last_complete_one_after_settling() -> None:
    now = datetime(2026, 11, 26, 15, 7, tzinfo=UTC)
    assert judged_bucket(now, HOUR, timedelta(0)) == THU_14
    assert judged_bucket(now, HOUR, timedelta(minutes=10)) == THU_14 - HOUR
    assert judged_bucket(now, timedelta(minutes=15), timedelta(0)) == datetime(2026, 11, 26, 14, 45, tzinfo=UTC)


def test_the_message_shows_observed_band_basis_and_dashboards() -> None:
    history = weeks_of([100_000, 104_000, 98_000, 110_000])
    j = judge(history, THU_14, 41_200, HOUR, SeasonalSettings(training_weeks=4))
    table = VolumeTable(table="payments.transactions", timestamp_column="created_at",
                        dashboards=["Executive (transaction counts)"])
    text = describe_judgement(table, j, HOUR, 4)
    assert text.startswith("payments.transactions volume drop -60%: Thu 14:00-15:00 UTC: 41,200 rows, expected ")
    assert "(same hour, last 4 Thursdays); at risk: Executive (transaction counts)" in text


def test_hours_without_rows_count_as_zero() -> None:
    filled = fill_zeros({THU_14: 5.0}, THU_14 - HOUR, THU_14 + HOUR, HOUR)
    assert filled == {THU_14 - HOUR: 0.0, THU_14: 5.0}


def test_params_refuse_incoherent_settings() -> None:
    tables = [{"table": "payments.transactions", "timestamp_column": "created_at"}]
    with pytest.raises(ValidationError, match="divide a week"):
        VolumeAnomalyParams.model_validate({"bucket": "11m", "tables": tables})
    with pytest.raises(ValidationError, match="min_history"):
        VolumeAnomalyParams.model_validate({"training_weeks": 2, "min_history": 3, "tables": tables})
    with pytest.raises(ValidationError, match="time zone"):
        VolumeAnomalyParams.model_validate(
            {"tables": tables, "exclusions": [{"start": "2026-12-24T00:00", "end": "2026-12-27T00:00", "reason": "x"}]})
    with pytest.raises(ValidationError, match="plain identifiers"):
        VolumeAnomalyParams.model_validate({"tables": [{"table": "x; DROP", "timestamp_column": "t"}]})


def test_each_backend_needs_its_own_location() -> None:
    with pytest.raises(ValidationError, match="needs s3_bucket and s3_prefix"):
        VolumeAnomalyParams.model_validate({"backend": "s3", "tables": [{"table": "payments.transactions"}]})
    with pytest.raises(ValidationError, match="needs timestamp_column"):
        VolumeAnomalyParams.model_validate({"backend": "snowflake", "tables": [{"table": "RAW.TRANSACTIONS"}]})
