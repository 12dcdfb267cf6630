"""Small builders shared by the alerting tests."""

from __future__ import annotations

from typing import Any

from sentinel.clock import FakeClock
from sentinel.model import CheckResult, Status

FRESHNESS_RULE = {
    "id": "tx_freshness", "checks": ["tx_freshness"], "value": "age_seconds",
    "thresholds": {"warning": 600, "critical": 900}, "repeat": "1h", "runbook": "snowflake-freshness",
}


def freshness(clock: FakeClock, age: float, *, check_id: str = "tx_freshness", summary: str | None = None,
              **labels: str) -> CheckResult:
    status = Status.CRITICAL if age > 900 else Status.WARN if age > 600 else Status.OK
    return CheckResult(
        check_id=check_id, kind="snowflake_freshness", status=status, observed_at=clock.now(),
        summary=summary or f"payments.transactions in Snowflake is {age:.0f}s old (SLA 900s)",
        values={"age_seconds": age},
        labels={"table": "payments.transactions", "stage": "snowflake_raw", **labels},
    )


def result(clock: FakeClock, check_id: str, status: Status, summary: str, *, kind: str = "generic",
           values: dict[str, float] | None = None, **labels: Any) -> CheckResult:
    return CheckResult(check_id=check_id, kind=kind, status=status, observed_at=clock.now(), summary=summary,
                       values=values or {}, labels=labels)


def all_text(blocks: list[dict[str, Any]]) -> str:
    """Every text string inside Block Kit blocks, joined."""
    out: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "text" and isinstance(v, str):
                    out.append(v)
                else:
                    walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(blocks)
    return "\n".join(out)
