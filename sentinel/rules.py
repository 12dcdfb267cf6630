"""Rules judge results: thresholds per severity on a value or the check's own status, a `for` duration, labels,
a runbook and a route. Pure: `evaluate(rule, result)` turns one result into one Verdict per alert instance
(one per finding when the result has findings).

A result that no configured rule selects follows the implicit rule of its check: mirror the status
(warn -> warning, critical -> critical) with the check kind's runbook. A check that cannot measure (ERROR)
N times in a row raises a separate "check broken" alert (runbooks/check-broken.md) instead of a data alert.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from types import MappingProxyType
from typing import Any

from sentinel.alerting.types import Verdict
from sentinel.config.base import label_matches
from sentinel.judge import Op, breaches, crossed
from sentinel.model import AlertKey, CheckResult, Severity, Status

BROKEN_RULE_ID = "check_broken"
BROKEN_RUNBOOK = "check-broken"

_STATUS_SEVERITY = {Status.WARN: Severity.WARNING, Status.CRITICAL: Severity.CRITICAL}


@dataclass(frozen=True)
class Rule:
    """A compiled rule (from a RuleSpec, or implicit for a check)."""

    id: str
    runbook: str
    checks: frozenset[str] = frozenset()
    match: Mapping[str, str] = field(default_factory=dict)
    value: str | None = None
    op: Op = ">"
    warning: float | None = None
    critical: float | None = None
    for_: timedelta = timedelta(0)
    for_count: int = 1  # consecutive breaching observations needed as well as `for_`
    repeat: timedelta = timedelta(hours=4)
    clear_for: timedelta = timedelta(0)
    route: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    summary: str | None = None
    implicit: bool = False
    broken: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "match", MappingProxyType(dict(self.match)))
        object.__setattr__(self, "labels", MappingProxyType(dict(self.labels)))

    def selects(self, result: CheckResult) -> bool:
        if self.checks and result.check_id not in self.checks:
            return False
        if self.match:
            labels = {**result.labels, "kind": result.kind, "check": result.check_id}
            return label_matches(dict(self.match), labels)
        return True


@dataclass(frozen=True)
class _Unit:
    """One alert instance of a result: the result itself, or one of its findings (with the result's values,
    labels and details underneath its own)."""

    finding_key: str | None
    status: Status
    summary: str
    values: Mapping[str, float]
    labels: dict[str, str]
    details: Mapping[str, str]


def _units(result: CheckResult) -> list[_Unit]:
    if not result.findings:
        return [_Unit(None, result.status, result.summary, result.values, dict(result.labels), result.details)]
    return [
        _Unit(f.key, f.status, f.summary, {**result.values, **f.values}, {**result.labels, **f.labels},
              {**result.details, **f.details})
        for f in result.findings
    ]


_TOKEN = re.compile(r"\{([a-z_][a-z0-9_]*)\}")


def _fill(template: str, values: Mapping[str, Any]) -> str:
    """`{name}` placeholders only (no attribute access, unlike str.format)."""
    return _TOKEN.sub(lambda m: str(values.get(m.group(1), m.group(0))), template)


def _fmt(value: float) -> str:
    return f"{value:g}" if abs(value) < 1e15 else f"{value:.3e}"


def alert_key(rule: Rule, check_id: str, finding_key: str | None, labels: Mapping[str, str]) -> AlertKey:
    key_labels = {**labels, **rule.labels, "check": check_id}
    if finding_key is not None:
        key_labels["finding"] = finding_key
    return AlertKey.of(rule.id, key_labels)


def evaluate(rule: Rule, result: CheckResult, *, keep_clear: bool = True) -> list[Verdict]:
    """One Verdict per alert instance of `result` under `rule` (pure).

    keep_clear=False drops clear and unknown verdicts (a fast path when no alert of this rule and check is active,
    so there is nothing to resolve or hold)."""
    return [_verdict(rule, result, unit) for unit in _units(result) if keep_clear or _may_breach(rule, unit)]


def _may_breach(rule: Rule, unit: _Unit) -> bool:
    if unit.status is Status.ERROR:
        return False
    if rule.value is None:
        return unit.status in _STATUS_SEVERITY
    value = unit.values.get(rule.value)
    return value is not None and any(breaches(value, rule.op, t) for t in (rule.warning, rule.critical))


def _verdict(rule: Rule, result: CheckResult, unit: _Unit) -> Verdict:
    labels = {**unit.labels, **rule.labels}
    if unit.finding_key is not None:
        labels["finding"] = unit.finding_key
    common: dict[str, Any] = {
        "rule_id": rule.id, "key": alert_key(rule, result.check_id, unit.finding_key, unit.labels),
        "check_id": result.check_id, "kind": result.kind, "observed_at": result.observed_at, "runbook": rule.runbook,
        "labels": labels, "details": unit.details, "route": rule.route,
    }
    if unit.status is Status.ERROR:
        return Verdict(severity=Severity.NONE, summary=unit.summary, known=False, **common)
    if rule.value is None:  # mirror the check's own status
        text = unit.summary
        if rule.summary:
            text = _fill(rule.summary, {**labels, "check": result.check_id, "summary": unit.summary})
        return Verdict(severity=_STATUS_SEVERITY.get(unit.status, Severity.NONE), summary=text, **common)
    value = unit.values.get(rule.value)
    if value is None:
        return Verdict(severity=Severity.NONE, summary=unit.summary, known=False, value_name=rule.value, **common)
    # the one comparison every check kind uses too (sentinel.judge): critical first, one meaning of `op`
    status, threshold = crossed(value, warn=rule.warning, critical=rule.critical, op=rule.op)
    severity = _STATUS_SEVERITY.get(status, Severity.NONE)
    if severity is Severity.NONE:  # a clear verdict names the threshold that pages when there is one
        threshold = rule.critical if rule.critical is not None else rule.warning
    shown = _fmt(threshold or 0.0)
    if rule.summary:
        text = _fill(rule.summary, {**labels, "check": result.check_id, "summary": unit.summary,
                                    "value": _fmt(value), "threshold": shown})
    elif severity is Severity.NONE:
        text = unit.summary
    else:
        text = f"{unit.summary} ({rule.value} {_fmt(value)} {rule.op} {shown})"
    return Verdict(severity=severity, summary=text, value_name=rule.value, value=float(value), threshold=threshold,
                   op=rule.op, **common)


def broken_verdict(rule: Rule, result: CheckResult) -> Verdict:
    """The "check broken" judgement: breaching while the check returns ERROR, clear as soon as it measures."""
    key = alert_key(rule, result.check_id, None, {k: v for k, v in result.labels.items() if k in ("table", "stage")})
    blind = [f for f in result.findings if f.status is Status.ERROR]
    broken = result.status is Status.ERROR or bool(blind)
    if result.status is Status.ERROR:
        summary = f"check {result.check_id} cannot measure: {result.summary}"
    elif blind:  # some targets measured, these not: still a broken check, but the others keep alerting
        summary = (f"check {result.check_id} cannot measure {len(blind)} of {len(result.findings)} targets: "
                   + " | ".join(f.summary for f in blind[:3]))
    else:
        summary = f"check {result.check_id} measures again"
    return Verdict(
        rule_id=rule.id, key=key, check_id=result.check_id, kind=result.kind,
        severity=Severity.WARNING if broken else Severity.NONE, observed_at=result.observed_at, summary=summary,
        runbook=rule.runbook, labels={**result.labels, **rule.labels, "check": result.check_id},
        details=result.details, route=rule.route, broken=True,
    )


class RuleBook:
    """All rules of a config, compiled; `judge(result)` returns (rule, verdict) pairs for every alert instance."""

    def __init__(
        self,
        rules: Sequence[Any] = (),
        *,
        error_threshold: int = 3,
        resolve_after: timedelta = timedelta(0),
        check_runbooks: Mapping[str, str] | None = None,
        kind_runbooks: Mapping[str, str] | Callable[[str], str] | None = None,
    ) -> None:
        self.rules = [self.compile(spec, resolve_after) for spec in rules]
        self.resolve_after = resolve_after
        self._check_runbooks = dict(check_runbooks or {})
        self._kind_runbooks = kind_runbooks
        self.broken_rule = Rule(id=BROKEN_RULE_ID, runbook=BROKEN_RUNBOOK, for_count=max(1, error_threshold),
                                repeat=timedelta(hours=12), broken=True)
        self._implicit: dict[tuple[str, str], Rule] = {}

    @staticmethod
    def compile(spec: Any, resolve_after: timedelta = timedelta(0)) -> Rule:
        return Rule(
            id=spec.id, runbook=spec.runbook, checks=frozenset(spec.checks), match=dict(spec.match), value=spec.value,
            op=spec.op, warning=spec.thresholds.warning, critical=spec.thresholds.critical, for_=spec.for_,
            repeat=spec.repeat, clear_for=spec.clear_for or resolve_after, route=spec.route,
            labels=dict(spec.labels), summary=spec.summary,
        )

    def runbook_for(self, check_id: str, kind: str) -> str:
        if check_id in self._check_runbooks:
            return self._check_runbooks[check_id]
        if callable(self._kind_runbooks):
            return self._kind_runbooks(kind)
        if self._kind_runbooks and kind in self._kind_runbooks:
            return self._kind_runbooks[kind]
        return kind.replace("_", "-")

    def implicit_rule(self, result: CheckResult) -> Rule:
        cache_key = (result.check_id, result.kind)
        rule = self._implicit.get(cache_key)
        if rule is None:
            rule = Rule(id=result.check_id, runbook=self.runbook_for(result.check_id, result.kind),
                        checks=frozenset({result.check_id}), clear_for=self.resolve_after, implicit=True)
            self._implicit[cache_key] = rule
        return rule

    def rules_for(self, result: CheckResult) -> list[Rule]:
        chosen = [r for r in self.rules if r.selects(result)]
        return chosen or [self.implicit_rule(result)]

    def rule_by_id(self, rule_id: str, check_id: str, kind: str) -> Rule | None:
        if rule_id == BROKEN_RULE_ID:
            return self.broken_rule
        for r in self.rules:
            if r.id == rule_id:
                return r
        if rule_id == check_id:
            return self._implicit.get((check_id, kind)) or Rule(
                id=check_id, runbook=self.runbook_for(check_id, kind), checks=frozenset({check_id}),
                clear_for=self.resolve_after, implicit=True)
        return None

    def judge(self, result: CheckResult, active: Callable[[str, str], bool] | None = None) -> list[tuple[Rule, Verdict]]:
        """Verdicts of every rule that selects `result`, plus the check-broken verdict.

        `active(rule_id, check_id)` tells whether an alert of that rule and check is pending or firing; when it is
        not, clear verdicts are dropped (nothing to resolve), which keeps a healthy fleet cheap to judge."""
        out = [(rule, v) for rule in self.rules_for(result)
               for v in evaluate(rule, result, keep_clear=active is None or active(rule.id, result.check_id))]
        partly_blind = any(f.status is Status.ERROR for f in result.findings)
        if result.status is Status.ERROR or partly_blind or active is None or active(BROKEN_RULE_ID, result.check_id):
            out.append((self.broken_rule, broken_verdict(self.broken_rule, result)))
        return out
