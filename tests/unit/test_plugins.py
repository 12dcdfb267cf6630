"""The entry-point registry: lazy, type-checked, loud about unknown and duplicate kinds."""

from __future__ import annotations

from importlib.metadata import EntryPoint

import pytest

from sentinel import plugins
from sentinel.errors import PluginError
from sentinel.plugins import check_registry


def test_builtin_checks_are_found_by_entry_point_without_importing_them() -> None:
    registry = check_registry()
    assert {"sql_threshold", "kafka_consumer_lag", "dbt_results", "row_reconciliation"} <= set(registry.kinds())
    assert registry.load("sql_threshold").kind == "sql_threshold"


def test_unknown_kind_suggests_and_lists_the_known_ones() -> None:
    with pytest.raises(PluginError) as info:
        check_registry().load("kafka_consumer_lagg")
    message = str(info.value)
    assert "unknown check kind 'kafka_consumer_lagg' (did you mean \"kafka_consumer_lag\"?)" in message
    assert "known kinds:" in message and "sql_threshold" in message


def test_two_packages_registering_one_kind_fail_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    eps = [
        EntryPoint("sql_threshold", "sentinel_checks.sql_threshold:SqlThresholdCheck", "sentinel.checks"),
        EntryPoint("sql_threshold", "othercorp.checks:SqlThreshold", "sentinel.checks"),
    ]
    monkeypatch.setattr(plugins, "entry_points", lambda group: eps)
    with pytest.raises(PluginError, match=r"duplicate sentinel.checks kinds .* sql_threshold: sentinel_checks.sql_threshold"):
        check_registry()


def test_a_plugin_whose_class_does_not_fit_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    eps = [EntryPoint("broken", "sentinel.model:Status", "sentinel.checks")]
    monkeypatch.setattr(plugins, "entry_points", lambda group: eps)
    with pytest.raises(PluginError, match=r"check plugin 'broken' .* has kind=None, expected 'broken'.*no pydantic `Params`"):
        check_registry().load("broken")
