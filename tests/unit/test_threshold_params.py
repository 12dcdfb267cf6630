"""Threshold params of the check kinds: one order rule (sentinel.judge.ordered) with messages naming the fields, and
the kafka lag thresholds under the `*_after` names every other age threshold has, without breaking the old names."""

from datetime import timedelta

import pytest
from pydantic import ValidationError
from sentinel_checks.kafka_consumer_lag import KafkaConsumerLagParams
from sentinel_checks.s3_partition_arrival import S3PartitionArrivalParams
from sentinel_checks.snowpipe_load_history import SnowpipeLoadHistoryParams

from sentinel.api import require_ordered


def test_lag_thresholds_read_like_every_other_age_threshold_and_the_first_names_still_work() -> None:
    new = KafkaConsumerLagParams(groups=["g"], lag_warn_after="5m", lag_critical_after="15m")
    old = KafkaConsumerLagParams(groups=["g"], lag_warn="5m", lag_critical="15m")
    assert new == old
    assert new.lag_warn == timedelta(minutes=5) and new.lag_critical == timedelta(minutes=15)


def test_a_lag_threshold_given_under_both_names_is_refused() -> None:
    with pytest.raises(ValidationError, match="lag_warn"):
        KafkaConsumerLagParams(groups=["g"], lag_warn="5m", lag_warn_after="6m")


def test_inverted_lag_thresholds_name_both_fields_and_values_whichever_name_was_used() -> None:
    with pytest.raises(ValidationError, match=r"lag_warn must not exceed lag_critical \(lag_warn 20m, lag_critical 15m\)"):
        KafkaConsumerLagParams(groups=["g"], lag_warn_after="20m", lag_critical_after="15m")


def test_a_ratio_that_must_stay_high_is_ordered_the_other_way() -> None:
    S3PartitionArrivalParams(bucket="lake", prefixes=["raw/x/"], size_warn_ratio=0.5, size_critical_ratio=0.2)
    with pytest.raises(ValidationError, match="size_warn_ratio must not be below size_critical_ratio"):
        S3PartitionArrivalParams(bucket="lake", prefixes=["raw/x/"], size_warn_ratio=0.2, size_critical_ratio=0.5)


def test_equal_thresholds_are_allowed_and_inverted_ages_are_refused_with_durations_a_person_reads() -> None:
    SnowpipeLoadHistoryParams(targets=[{"table": "DB.RAW.T"}], last_load_warn_after="20m", last_load_critical_after="20m")
    with pytest.raises(ValidationError, match=r"last_load_critical_after 10m\)"):
        SnowpipeLoadHistoryParams(targets=[{"table": "DB.RAW.T"}], last_load_warn_after="20m",
                                  last_load_critical_after="10m")


def test_require_ordered_ignores_an_unset_threshold() -> None:
    require_ordered("warn", None, "critical", 5)
    require_ordered("warn", 5, "critical", None)
    with pytest.raises(ValueError, match="swap them"):
        require_ordered("warn", 6, "critical", 5)
