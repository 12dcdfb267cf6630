"""Plain alert values for the unit tests of the alert pipeline's stages."""

from __future__ import annotations

from datetime import UTC, datetime

from sentinel.alerting.types import AlertState, Phase
from sentinel.model import Severity

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # a Monday (the maintenance window tests need one)


def alert(check: str, stage: str | None = None, table: str | None = "payments.transactions",
          severity: Severity = Severity.CRITICAL, phase: Phase = Phase.FIRING, **labels: str) -> AlertState:
    lbl = {k: v for k, v in {"stage": stage, "table": table, **labels}.items() if v}
    return AlertState(fingerprint=f"fp-{check}", rule_id=check, check_id=check, kind="k", labels=lbl, phase=phase,
                      severity=severity, summary=f"{check} broke", runbook="rb", fired_at=T0)
