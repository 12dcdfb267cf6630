"""Silence: ad hoc silences and maintenance windows hold an alert back; when they end, a firing alert resurfaces."""

from __future__ import annotations

from datetime import timedelta

import pytest

from sentinel.alerting.inhibit import Inhibitor, Lineage
from sentinel.alerting.silences import MaintenanceWindow, Suppressor, lifted, new_silence, parse_matchers
from sentinel.alerting.types import Phase
from sentinel.config.alerting_spec import PipelineSpec
from tests.unit.alert_builders import T0, alert


def test_matchers_and_silences():
    assert parse_matchers(["table=payments.transactions", "stage=~s3.*", "severity=!warning"]) == {
        "table": "payments.transactions", "stage": "~s3.*", "severity": "!warning"}
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_matchers(["nope"])
    s = new_silence({"stage": "~s3.*", "alertname": "lag"}, T0, timedelta(hours=2))
    sup = Suppressor([s], [], T0 + timedelta(hours=1))
    assert sup.reason(alert("lag", "s3_sink")) == f"silence:{s.id}"
    assert sup.reason(alert("other", "s3_sink")) is None
    assert Suppressor([s], [], T0 + timedelta(hours=2)).reason(alert("lag", "s3")) is None  # ended


def test_maintenance_window_uses_crontab_weekdays():
    monday_9 = MaintenanceWindow("m", {"stage": "dbt"}, "0 9 * * 1", timedelta(hours=1))
    assert monday_9.active_at(T0) and monday_9.active_at(T0 + timedelta(minutes=59))
    assert not monday_9.active_at(T0 + timedelta(minutes=60))
    assert not monday_9.active_at(T0 + timedelta(days=1))  # Tuesday
    assert MaintenanceWindow("n", {}, "30 8 * * *", timedelta(hours=1)).active_at(T0)


def test_held_back_alerts_resurface_when_their_silence_ends_or_their_root_resolves():
    lineage = Lineage(PipelineSpec(stages=["postgres", "dbt"]))
    silence = new_silence({"alertname": "silenced"}, T0, timedelta(hours=1))
    was_silenced = alert("silenced", "dbt", table="payments.refunds").evolve(silenced_by=f"silence:{silence.id}")
    was_symptom = alert("symptom", "dbt").evolve(inhibited_by="fp-root")
    never_held = alert("plain", "dbt", table="users.merchants")
    pending = alert("pending", "dbt", table="users.api_keys", phase=Phase.PENDING).evolve(silenced_by="silence:x")
    states = [was_silenced, was_symptom, never_held, pending]

    during = lifted(states, Suppressor([silence], [], T0 + timedelta(minutes=30)), Inhibitor(lineage, states))
    assert [s.check_id for s in during] == ["symptom"]  # its root is not firing (any more)
    assert during[0].inhibited_by is None and during[0].silenced_by is None

    root = alert("root", "postgres")
    still_held = lifted(states, Suppressor([silence], [], T0 + timedelta(hours=2)), Inhibitor(lineage, [*states, root]))
    assert [s.check_id for s in still_held] == ["silenced"]  # the silence ended; the symptom's root fires now
