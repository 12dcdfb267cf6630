"""The weekly report's incidents from the alert history: one per alert episode, however many receivers got it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sentinel.reports.incidents import incidents
from sentinel.sla import burn_check_id
from sentinel.store.sla import SentMessage

START = datetime(2026, 11, 23, tzinfo=UTC)  # a Monday; the week is [START, START + 7 days)
END = START + timedelta(days=7)


def line(fp: str, check: str, severity: str, since: datetime, **extra: Any) -> dict[str, Any]:
    return {"fingerprint": fp, "check_id": check, "rule_id": check, "severity": severity, "since": since.isoformat(),
            "summary": f"{check} says {severity}", "stage": "postgres", "table": "payments.transactions", **extra}


def message(seq: int, event: str, at: datetime, *lines: dict[str, Any], receiver: str = "slack") -> SentMessage:
    return SentMessage(seq, receiver, event, "sent", at, {"alerts": list(lines)})


def test_one_incident_per_episode_with_its_worst_severity_and_end() -> None:
    t1, t2 = START + timedelta(days=1, hours=14), START + timedelta(days=3, hours=2)
    history = [
        message(1, "fired", t1, line("a", "volume_source", "warning", t1)),
        message(2, "fired", t1, line("a", "volume_source", "warning", t1), receiver="pager"),  # same alert, 2nd receiver
        message(3, "escalated", t1 + timedelta(minutes=20), line("a", "volume_source", "critical", t1)),
        message(4, "reminder", t1 + timedelta(hours=1), line("a", "volume_source", "critical", t1)),
        message(5, "resolved", t1 + timedelta(hours=2), line("a", "volume_source", "critical", t1, phase="resolved",
                                                             resolved_at=(t1 + timedelta(hours=2)).isoformat())),
        message(6, "fired", t2, line("a", "volume_source", "warning", t2)),  # the same alert fires again: a 2nd one
        message(7, "fired", t2, line("b", burn_check_id("tx"), "critical", t2)),  # burn rate: the SLA section's
        message(8, "fired", START - timedelta(hours=1), line("c", "schema_drift", "warning", START - timedelta(hours=1))),
    ]
    found = incidents(history, {"volume_source": "volume_anomaly"}, START, END)
    assert [(i.started_at, i.severity, i.kind, i.resolved_at) for i in found] == [
        (t1, "critical", "volume_anomaly", t1 + timedelta(hours=2)),
        (t2, "warning", "volume_anomaly", None),
    ]
    assert found[0].summary == "volume_source says warning" and found[0].where == "postgres / payments.transactions"


def test_a_check_removed_from_the_config_keeps_its_incident_without_a_kind() -> None:
    at = START + timedelta(hours=5)
    [found] = incidents([message(1, "fired", at, line("x", "gone_check", "critical", at))], {}, START, END)
    assert (found.check_id, found.kind) == ("gone_check", "")
