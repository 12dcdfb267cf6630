"""SLA arithmetic, pure: observations from check results, time-weighted attainment, error budgets, breaches,
multi-window burn rates and ISO-week calendar helpers. No I/O; every function takes `now` or explicit bounds.

Time-weighting: an observation holds from its `observed_at` until the next observation, but for at most the
SLA's `max_gap`. Time no observation covers is UNKNOWN: it is shown, it is never counted as met, and it spends
error budget like a breach does (we cannot promise what we did not measure).

    attainment  = met time / elapsed time
    budget      = (1 - objective) * whole period        (a week: 99.5% -> 50.4 min)
    budget left = budget - breach time - unknown time
    burn rate   = breach fraction of the measured time in a window / (1 - objective)
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sentinel.model import CheckResult, Finding, Status
from sentinel.weeks import WEEK

BURN_KIND = "sla_burn_rate"
BURN_RUNBOOK = "sla-burn-rate"


class ObsState(enum.StrEnum):
    MET = "met"
    BREACH = "breach"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class SlaObservation:
    sla_id: str
    observed_at: datetime
    state: ObsState
    value: float | None = None
    check_id: str = ""
    summary: str = ""


@dataclass(frozen=True, slots=True)
class Interval:
    """[start, end) in one state; `value` is the measurement behind it (None for unknown)."""

    start: datetime
    end: datetime
    state: ObsState
    value: float | None = None
    summary: str = ""

    @property
    def duration(self) -> timedelta:
        return self.end - self.start


# -- observations from check results --------------------------------------------------------------------------
def _pick(sla: Any, result: CheckResult) -> tuple[Status, Mapping[str, float], str] | None:
    """The status, values and summary this SLA follows inside a result: the finding named by `finding` (its key)
    or by `table` (its `table` label), else the result itself. None when the named finding is not reported."""
    finding: Finding | None = None
    if sla.finding is not None:
        finding = next((f for f in result.findings if f.key == sla.finding), None)
    elif sla.table is not None and result.findings:
        finding = next((f for f in result.findings if f.labels.get("table") == sla.table), None)
    else:
        return result.status, result.values, result.summary
    if finding is None:
        return None
    return finding.status, {**result.values, **finding.values}, finding.summary


def observe(sla: Any, result: CheckResult) -> SlaObservation | None:
    """What one check result says about one SLA, or None when the result is not about it."""
    if result.check_id != sla.check:
        return None
    base = {"sla_id": sla.id, "observed_at": result.observed_at, "check_id": result.check_id}
    if result.status is Status.ERROR:
        return SlaObservation(state=ObsState.UNKNOWN, summary=f"check could not measure: {result.summary}"[:300],
                              **base)
    picked = _pick(sla, result)
    if picked is None:
        return SlaObservation(state=ObsState.UNKNOWN, summary="the check did not report this SLA's table", **base)
    status, values, summary = picked
    value = values.get(sla.value_name)
    if status is Status.ERROR:
        return SlaObservation(state=ObsState.UNKNOWN, summary=summary[:300], **base)
    if sla.kind == "freshness":
        if value is None:
            state = ObsState.BREACH if status is Status.CRITICAL else ObsState.UNKNOWN
        else:
            state = ObsState.MET if value < sla.threshold.total_seconds() else ObsState.BREACH
    else:  # deadline: late means the due row is missing past its deadline
        late = value is not None and value > 0
        state = ObsState.BREACH if late or status is Status.CRITICAL else ObsState.MET
        value = max(0.0, value or 0.0)
    return SlaObservation(state=state, value=None if value is None else float(value), summary=summary[:300], **base)


def observations_for(slas: Sequence[Any], result: CheckResult) -> list[SlaObservation]:
    return [o for sla in slas if (o := observe(sla, result)) is not None]


# -- timeline and attainment ----------------------------------------------------------------------------------
def timeline(observations: Sequence[SlaObservation], start: datetime, end: datetime, max_gap: timedelta,
             prior: SlaObservation | None = None) -> list[Interval]:
    """Cover [start, end) with intervals: each observation holds until the next one or for `max_gap`,
    whichever comes first; the rest is UNKNOWN. `prior` is the last observation before `start`."""
    if end <= start:
        return []
    obs = sorted((o for o in observations if start <= o.observed_at < end), key=lambda o: o.observed_at)
    if prior is not None and prior.observed_at < start:
        obs.insert(0, prior)
    out: list[Interval] = []
    cursor = start
    for i, o in enumerate(obs):
        nxt = obs[i + 1].observed_at if i + 1 < len(obs) else end
        hold_from = max(o.observed_at, start)
        hold_to = min(nxt, o.observed_at + max_gap, end)
        if hold_from > cursor:
            out.append(Interval(cursor, hold_from, ObsState.UNKNOWN, summary="no observation"))
        if hold_to > hold_from:
            out.append(Interval(hold_from, hold_to, o.state, o.value, o.summary))
            cursor = hold_to
        cursor = max(cursor, hold_from)
    if cursor < end:
        out.append(Interval(cursor, end, ObsState.UNKNOWN, summary="no observation"))
    return out


@dataclass(frozen=True)
class Attainment:
    sla_id: str
    objective: float
    start: datetime
    end: datetime  # end of the period (a week's Monday)
    until: datetime  # how far we looked: min(end, now)
    met: timedelta
    breach: timedelta
    unknown: timedelta

    @property
    def period(self) -> timedelta:
        return self.end - self.start

    @property
    def elapsed(self) -> timedelta:
        return self.until - self.start

    @property
    def complete(self) -> bool:
        return self.until >= self.end

    @property
    def attainment(self) -> float | None:
        """Met time over elapsed time; unknown time counts against it."""
        return self.met / self.elapsed if self.elapsed > timedelta(0) else None

    @property
    def measured_attainment(self) -> float | None:
        measured = self.met + self.breach
        return self.met / measured if measured > timedelta(0) else None

    @property
    def budget(self) -> timedelta:
        return self.period * (1.0 - self.objective)

    @property
    def budget_spent(self) -> timedelta:
        return self.breach + self.unknown

    @property
    def budget_left(self) -> timedelta:
        return self.budget - self.budget_spent

    @property
    def budget_left_fraction(self) -> float:
        return self.budget_left / self.budget if self.budget > timedelta(0) else 0.0

    @property
    def objective_met(self) -> bool | None:
        """True/False once decided: budget exhausted -> False already; complete week -> compare."""
        if self.budget_left < timedelta(0):
            return False
        if not self.complete:
            return None
        att = self.attainment
        return att is not None and att >= self.objective


def attainment(sla: Any, intervals: Sequence[Interval], start: datetime, end: datetime,
               until: datetime) -> Attainment:
    totals = {s: timedelta(0) for s in ObsState}
    for iv in intervals:
        s, e = max(iv.start, start), min(iv.end, until)
        if e > s:
            totals[iv.state] += e - s
    return Attainment(sla.id, sla.objective, start, end, min(until, end), totals[ObsState.MET],
                      totals[ObsState.BREACH], totals[ObsState.UNKNOWN])


@dataclass(frozen=True)
class Breach:
    start: datetime
    end: datetime
    ongoing: bool
    worst_value: float | None
    summary: str
    root_cause: str = ""
    root_cause_ref: str = ""

    @property
    def duration(self) -> timedelta:
        return self.end - self.start


def breaches(intervals: Sequence[Interval], until: datetime) -> list[Breach]:
    """Contiguous BREACH time (unknown gaps inside a breach split it: we do not know what happened there)."""
    out: list[Breach] = []
    run: list[Interval] = []

    def close() -> None:
        if run:
            values = [iv.value for iv in run if iv.value is not None]
            out.append(Breach(run[0].start, run[-1].end, ongoing=run[-1].end >= until,
                              worst_value=max(values) if values else None, summary=run[0].summary))
            run.clear()

    for iv in intervals:
        if iv.state is ObsState.BREACH and (not run or run[-1].end == iv.start):
            run.append(iv)
        else:
            close()
            if iv.state is ObsState.BREACH:
                run.append(iv)
    close()
    return out


@dataclass(frozen=True)
class Distribution:
    count: int
    p50: float | None
    p95: float | None
    max: float | None


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (the value an observation actually had; no interpolation)."""
    if not sorted_values:
        raise ValueError("no values")
    rank = max(1, math.ceil(q / 100.0 * len(sorted_values)))
    return float(sorted_values[rank - 1])


def distribution(values: Iterable[float]) -> Distribution:
    vals = sorted(values)
    if not vals:
        return Distribution(0, None, None, None)
    return Distribution(len(vals), percentile(vals, 50), percentile(vals, 95), float(vals[-1]))


# -- burn rates -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BurnStatus:
    window: str
    severity: str
    factor: float
    long: timedelta
    short: timedelta
    long_rate: float | None
    short_rate: float | None

    @property
    def firing(self) -> bool:
        return (self.long_rate is not None and self.short_rate is not None
                and self.long_rate >= self.factor and self.short_rate >= self.factor)


def burn_rate(intervals: Sequence[Interval], start: datetime, end: datetime, objective: float) -> float | None:
    """How many times faster than allowed the budget burned in [start, end): breach share of measured time
    over (1 - objective). None without any measurement (unknown time alone is the check-broken alert's job)."""
    bad = good = timedelta(0)
    for iv in intervals:
        s, e = max(iv.start, start), min(iv.end, end)
        if e <= s:
            continue
        if iv.state is ObsState.BREACH:
            bad += e - s
        elif iv.state is ObsState.MET:
            good += e - s
    measured = bad + good
    if measured <= timedelta(0):
        return None
    return (bad / measured) / (1.0 - objective)


def burn_statuses(sla: Any, observations: Sequence[SlaObservation], now: datetime,
                  prior: SlaObservation | None = None) -> list[BurnStatus]:
    longest = max((w.long for w in sla.burn_rate), default=timedelta(0))
    intervals = timeline(observations, now - longest, now, sla.max_gap, prior)
    return [
        BurnStatus(w.name, w.severity, w.factor, w.long, w.short,
                   burn_rate(intervals, now - w.long, now, sla.objective),
                   burn_rate(intervals, now - w.short, now, sla.objective))
        for w in sla.burn_rate
    ]


def burn_check_id(sla_id: str) -> str:
    return f"sla_burn_{sla_id}"


def burn_result(sla: Any, statuses: Sequence[BurnStatus], now: datetime) -> CheckResult:
    """Burn-rate judgement as a check result with one finding per window, so it goes through the alerting
    pipeline like any other: critical (fast burn) pages, warning (slow burn) goes to chat."""
    findings = []
    budget_week = WEEK * (1.0 - sla.objective)
    for st in statuses:
        labels = {"sla": sla.id, "burn_window": st.window, "owner": sla.owner}
        if sla.table:
            labels["table"] = sla.table
        if st.long_rate is None or st.short_rate is None:
            status, text = Status.OK, f"SLA {sla.id}: no measurement in the last {_short(st.long)} to judge burn rate"
        else:
            status = (Status.CRITICAL if st.severity == "critical" else Status.WARN) if st.firing else Status.OK
            spent = st.long * (1.0 - sla.objective) * st.long_rate / budget_week if budget_week else 0.0
            text = (f"SLA {sla.id} ({sla.description or sla.kind}) error budget burning {st.long_rate:.1f}x over "
                    f"{_short(st.long)} and {st.short_rate:.1f}x over {_short(st.short)} (alert at {st.factor:g}x); "
                    f"{spent:.0%} of the week's budget spent in {_short(st.long)}")
        values = {"burn_rate_long": st.long_rate or 0.0, "burn_rate_short": st.short_rate or 0.0,
                  "burn_factor": st.factor}
        findings.append(Finding(key=st.window, status=status, summary=text, values=values, labels=labels))
    worst = Status.worst(f.status for f in findings)
    summary = next((f.summary for f in findings if f.status is worst and worst is not Status.OK),
                   f"SLA {sla.id} error budget burn within limits")
    return CheckResult(check_id=burn_check_id(sla.id), kind=BURN_KIND, status=worst, observed_at=now,
                       summary=summary, labels={"sla": sla.id, **({"table": sla.table} if sla.table else {})},
                       findings=tuple(findings))


def _short(delta: timedelta) -> str:
    from sentinel.durations import format_duration

    return format_duration(delta)


@dataclass(frozen=True)
class SlaWindow:
    """Everything about one SLA over one period: attainment, intervals, breaches, the value distribution."""

    sla: Any
    attainment: Attainment
    intervals: list[Interval]
    breaches: list[Breach]
    values: Distribution
    points: list[tuple[datetime, float | None, ObsState]] = field(default_factory=list)


def analyse(sla: Any, observations: Sequence[SlaObservation], start: datetime, end: datetime, now: datetime,
            prior: SlaObservation | None = None) -> SlaWindow:
    until = min(end, now)
    intervals = timeline(observations, start, until, sla.max_gap, prior) if until > start else []
    att = attainment(sla, intervals, start, end, until)
    inside = [o for o in observations if start <= o.observed_at < until]
    dist = distribution(o.value for o in inside if o.value is not None and o.state is not ObsState.UNKNOWN)
    points = [(o.observed_at, o.value, o.state) for o in sorted(inside, key=lambda o: o.observed_at)]
    return SlaWindow(sla, att, intervals, breaches(intervals, until), dist, points)
