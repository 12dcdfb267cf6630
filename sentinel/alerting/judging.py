"""The first stage: results -> (rule, verdict) pairs, through the rule book (sentinel.rules).

Only pending and firing alerts need a clear verdict (to resolve); a healthy fleet therefore costs little to judge.
A finding a check stops reporting (a fixed dbt test drops out of the results) is judged clear here as well, since
no rule will ever see it again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sentinel.alerting.types import AlertState, Verdict
from sentinel.model import AlertKey, CheckResult, Severity, Status
from sentinel.rules import Rule, RuleBook

Judged = tuple[Rule, Verdict]


def judge_results(rulebook: RuleBook, results: Sequence[CheckResult], active: Mapping[str, AlertState]) -> list[Judged]:
    pairs = {(s.rule_id, s.check_id) for s in active.values()}
    judged = [pair for result in results
              for pair in rulebook.judge(result, lambda rule_id, check_id: (rule_id, check_id) in pairs)]
    return judged + vanished(rulebook, results, {v.fingerprint for _, v in judged}, active)


def vanished(rulebook: RuleBook, results: Sequence[CheckResult], seen: set[str],
             active: Mapping[str, AlertState]) -> list[Judged]:
    """Clear verdicts for active findings that a check measured without reporting them."""
    measured = {r.check_id: r for r in results if r.status is not Status.ERROR}
    if not measured:
        return []
    out = []
    for state in active.values():
        result = measured.get(state.check_id)
        if result is None or state.fingerprint in seen or state.broken or "finding" not in state.labels:
            continue
        rule = rulebook.rule_by_id(state.rule_id, state.check_id, state.kind)
        key = AlertKey.of(state.rule_id, {**state.labels, "check": state.check_id})
        if rule is None or key.fingerprint != state.fingerprint:
            continue
        out.append((rule, Verdict(
            rule_id=state.rule_id, key=key, check_id=state.check_id, kind=state.kind, severity=Severity.NONE,
            observed_at=result.observed_at, summary="no longer reported", runbook=state.runbook)))
        seen.add(state.fingerprint)
    return out
