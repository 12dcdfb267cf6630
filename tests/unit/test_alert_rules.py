"""Rules judge results: value thresholds, status mirroring, findings, check-broken, runbooks."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sentinel.config.alerting_spec import RuleSpec
from sentinel.model import CheckResult, Finding, Severity, Status
from sentinel.rules import BROKEN_RULE_ID, RuleBook, evaluate

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def res(status: Status, *, values=None, labels=None, findings=(), check_id="lag", kind="kafka_consumer_lag"):
    return CheckResult(check_id=check_id, kind=kind, status=status, observed_at=T0, summary="lag summary",
                       values=values or {}, labels=labels or {"stage": "s3_sink"}, findings=findings)


def book(*rules: dict, **kw) -> RuleBook:
    return RuleBook([RuleSpec.model_validate(r) for r in rules], **kw)


LAG_RULE = {"id": "sink_lag", "match": {"kind": "kafka_consumer_lag"}, "value": "lag_seconds",
            "thresholds": {"warning": 300, "critical": 900}, "runbook": "kafka-consumer-lag"}


@pytest.mark.parametrize(("value", "severity", "threshold"), [(100, Severity.NONE, 900), (301, Severity.WARNING, 300),
                                                              (900, Severity.WARNING, 300),
                                                              (901, Severity.CRITICAL, 900)])
def test_value_thresholds(value, severity, threshold):
    rule = book(LAG_RULE).rules[0]
    (v,) = evaluate(rule, res(Status.OK, values={"lag_seconds": value}))
    assert v.severity is severity and v.threshold == threshold and v.value == value
    if severity is not Severity.NONE:
        assert f"lag_seconds {value} > {threshold}" in v.summary


def test_lower_is_worse_with_op():
    rule = book({**LAG_RULE, "value": "rows", "op": "<", "thresholds": {"warning": 100, "critical": 10}}).rules[0]
    assert evaluate(rule, res(Status.OK, values={"rows": 5}))[0].severity is Severity.CRITICAL
    assert evaluate(rule, res(Status.OK, values={"rows": 50}))[0].severity is Severity.WARNING


def test_missing_value_or_error_is_unknown_not_clear():
    rule = book(LAG_RULE).rules[0]
    assert evaluate(rule, res(Status.OK))[0].known is False
    assert evaluate(rule, res(Status.ERROR, values={"lag_seconds": 5000}))[0].known is False


def test_unmatched_results_follow_the_implicit_rule_with_the_kind_runbook():
    rb = book(LAG_RULE, kind_runbooks={"s3_partition_arrival": "s3-partition-missing"},
              check_runbooks={"special": "my-runbook"})
    pairs = rb.judge(res(Status.WARN, check_id="s3_raw", kind="s3_partition_arrival"))
    data = [v for r, v in pairs if r.id != BROKEN_RULE_ID]
    assert [(v.rule_id, v.severity, v.runbook) for v in data] == [("s3_raw", Severity.WARNING, "s3-partition-missing")]
    pairs = rb.judge(res(Status.CRITICAL, check_id="special", kind="other"))
    assert next(v for r, v in pairs if r.implicit).runbook == "my-runbook"


def test_each_finding_is_its_own_alert_with_a_stable_key():
    rb = book()
    findings = (Finding("test.a", Status.CRITICAL, "a failed", labels={"table": "t1"}),
                Finding("test.b", Status.OK, "b passed"))
    data = [v for r, v in rb.judge(res(Status.CRITICAL, findings=findings)) if not r.broken]
    assert [(v.labels["finding"], v.severity) for v in data] == [("test.a", Severity.CRITICAL),
                                                                  ("test.b", Severity.NONE)]
    again = [v for r, v in rb.judge(res(Status.CRITICAL, findings=findings)) if not r.broken]
    assert [v.fingerprint for v in data] == [v.fingerprint for v in again]
    assert data[0].fingerprint != data[1].fingerprint and data[0].labels["table"] == "t1"


def test_check_broken_verdict_is_separate():
    rb = book(LAG_RULE, error_threshold=4)
    pairs = rb.judge(res(Status.ERROR))
    broken = [(r, v) for r, v in pairs if r.broken]
    assert len(broken) == 1 and broken[0][0].for_count == 4
    assert broken[0][1].severity is Severity.WARNING and broken[0][1].runbook == "check-broken"
    # a healthy result skips the check-broken verdict unless one is active
    assert not [r for r, _ in rb.judge(res(Status.OK), lambda rule, check: False) if r.broken]
    assert [r for r, _ in rb.judge(res(Status.OK), lambda rule, check: rule == BROKEN_RULE_ID) if r.broken]


def test_fast_path_drops_only_clear_verdicts():
    rule = book(LAG_RULE).rules[0]
    assert evaluate(rule, res(Status.OK, values={"lag_seconds": 10}), keep_clear=False) == []
    assert len(evaluate(rule, res(Status.OK, values={"lag_seconds": 1000}), keep_clear=False)) == 1


def test_summary_template_fills_only_known_names():
    rule = book({**LAG_RULE, "summary": "{check} lags {value}s on {table} {__class__}"}).rules[0]
    (v,) = evaluate(rule, res(Status.OK, values={"lag_seconds": 1000}, labels={"table": "payments.transactions"}))
    assert v.summary == "lag lags 1000s on payments.transactions {__class__}"


@pytest.mark.parametrize(("rule", "message"), [
    ({"id": "r", "runbook": "x"}, r"needs `checks: \[ids\]` or `match"),
    ({"id": "r", "checks": ["c"], "runbook": "x", "value": "lag"}, "needs thresholds.warning"),
    ({"id": "r", "checks": ["c"], "runbook": "x", "thresholds": {"warning": 1}}, "thresholds need `value"),
    ({"id": "r", "checks": ["c"], "runbook": "x", "value": "v", "thresholds": {"warning": 10, "critical": 5}},
     "at least as bad"),
    ({"id": "r", "checks": ["c"], "runbook": "x", "repeat": "10s"}, "at least 1m"),
    ({"id": "r", "checks": ["c"], "runbook": "x", "fore": "5m"}, "Extra inputs are not permitted"),
])
def test_rule_spec_errors_are_clear(rule, message):
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=message):
        RuleSpec.model_validate(rule)


def test_lower_is_worse_thresholds_are_accepted_and_routes_need_receivers():
    from pydantic import ValidationError

    from sentinel.config.alerting_spec import MaintenanceSpec, RouteSpec

    RuleSpec.model_validate({"id": "r", "checks": ["c"], "runbook": "x", "value": "rows", "op": "<",
                             "thresholds": {"warning": 100, "critical": 10}})
    with pytest.raises(ValidationError, match="at least 1 item"):
        RouteSpec.model_validate({"name": "r", "receivers": []})
    with pytest.raises(ValidationError, match="5 fields"):
        MaintenanceSpec.model_validate({"name": "m", "cron": "0 9 * * 1 2026", "duration": "1h"})


def test_a_partly_blind_result_keeps_alerting_and_raises_check_broken_naming_the_blind_target():
    """Issue 20: one target that cannot be measured is its own ERROR finding; the others still alert."""
    findings = (Finding(key="table:RAW.TX", status=Status.CRITICAL, summary="1 file LOAD_FAILED"),
                Finding(key="pipe:RAW.GHOST", status=Status.ERROR, summary="cannot measure Snowflake pipe RAW.GHOST"))
    rb = book({"id": "snowpipe", "match": {"kind": "snowpipe_load_history"}, "runbook": "snowpipe-load-failure"})
    pairs = rb.judge(res(Status.CRITICAL, findings=findings, kind="snowpipe_load_history"))
    alerts = {v.labels["finding"]: v for r, v in pairs if not r.broken}
    assert alerts["table:RAW.TX"].severity is Severity.CRITICAL and alerts["pipe:RAW.GHOST"].known is False
    (broken,) = [v for r, v in pairs if r.broken]
    assert broken.severity is Severity.WARNING
    assert broken.summary == "check lag cannot measure 1 of 2 targets: cannot measure Snowflake pipe RAW.GHOST"
