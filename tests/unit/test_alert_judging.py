"""Judge: results become (rule, verdict) pairs; clear verdicts only for active alerts; a finding that a check stops
reporting is judged clear, but not while the check cannot measure."""

from __future__ import annotations

from sentinel.alerting.judging import judge_results
from sentinel.alerting.lifecycle import advance
from sentinel.model import CheckResult, Finding, Severity, Status
from sentinel.rules import RuleBook
from tests.unit.alert_builders import T0


def dbt_result(*failing: str, status: Status | None = None) -> CheckResult:
    findings = tuple(Finding(key, Status.CRITICAL, f"{key} failed") for key in failing)
    worst = status or (Status.CRITICAL if failing else Status.OK)
    return CheckResult("dbt_prod", "dbt_results", worst, T0, f"{len(failing)} tests failing", findings=findings)


def test_a_fixed_test_that_drops_out_of_the_results_is_judged_clear():
    rulebook = RuleBook(kind_runbooks={})
    fired = advance(judge_results(rulebook, [dbt_result("not_null_id", "unique_id")], {}), {}, T0)
    active = fired.changed
    assert len(active) == 2 and {s.labels["finding"] for s in active.values()} == {"not_null_id", "unique_id"}

    judged = judge_results(rulebook, [dbt_result("unique_id")], active)
    by_finding = {active[v.fingerprint].labels["finding"]: v for _, v in judged if not v.broken}
    assert by_finding["not_null_id"].severity is Severity.NONE and by_finding["not_null_id"].summary == (
        "no longer reported")
    assert by_finding["unique_id"].severity is Severity.CRITICAL

    blind = judge_results(rulebook, [dbt_result(status=Status.ERROR)], active)
    # an ERROR run says nothing about the findings: no clear verdict for them, only "unknown" and "check broken"
    assert all(v.broken or not v.known for _, v in blind) and not any(v.fingerprint in active for _, v in blind)


def test_a_healthy_result_of_an_unknown_alert_produces_no_data_verdict():
    judged = judge_results(RuleBook(kind_runbooks={}), [dbt_result()], {})
    assert judged == []
