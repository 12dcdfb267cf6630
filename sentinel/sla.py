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
from dataclasses import dataclass, field, replace
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
    since: datetime | None = None  # when the observation behind it was made (may precede `start`: carried in)

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
            out.append(Interval(hold_from, hold_to, o.state, o.value, o.summary, o.observed_at))
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
    def measured(self) -> bool:
        """Some of the elapsed time was measured (met or breach); all-unknown time says nothing of attainment."""
        return self.met + self.breach > timedelta(0)

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
    """Breach time inside one window: `start`/`end` are clipped to it, so `duration` is what the window spent.

    `ongoing`: still breaching at the end of an unfinished window (now). `began_at`: the breach began before the
    window (carried in from the week before). `continues`: it ran up to the end of a finished window and went on
    into the next one; `ended_at` is when it ended there, if the observations we looked at show it."""

    start: datetime
    end: datetime
    ongoing: bool
    worst_value: float | None
    summary: str
    root_cause: str = ""
    root_cause_ref: str = ""
    began_at: datetime | None = None
    continues: bool = False
    ended_at: datetime | None = None

    @property
    def duration(self) -> timedelta:
        return self.end - self.start


def breach_runs(intervals: Sequence[Interval]) -> list[list[Interval]]:
    """Contiguous BREACH intervals (unknown gaps inside a breach split it: we do not know what happened there)."""
    runs: list[list[Interval]] = []
    for iv in intervals:
        if iv.state is not ObsState.BREACH:
            continue
        if runs and runs[-1][-1].end == iv.start:
            runs[-1].append(iv)
        else:
            runs.append([iv])
    return runs


def breaches(intervals: Sequence[Interval], start: datetime, until: datetime, *, complete: bool,
             seen_until: datetime | None = None) -> list[Breach]:
    """The breaches that overlap [start, until), clipped to it. `intervals` may reach beyond both ends (up to
    `seen_until`) so that a breach crossing a week boundary knows when it began and when it ended."""
    seen_until = seen_until or until
    out: list[Breach] = []
    for run in breach_runs(intervals):
        run_start, run_end = run[0].start, run[-1].end
        if run_end <= start or run_start >= until:
            continue
        began = run[0].since if run[0].since is not None else run_start
        inside = [iv for iv in run if iv.end > start and iv.start < until]
        values = [iv.value for iv in inside if iv.value is not None]
        reaches_end = run_end >= until
        # Past the end we only know what the look-ahead shows; without any, a breach still holding at the last
        # instant of the week is taken to go on (its observation holds past the end, clipped only by the window).
        goes_on = run_end > until or (reaches_end and seen_until <= until)
        out.append(Breach(
            max(run_start, start), min(run_end, until), ongoing=reaches_end and not complete,
            worst_value=max(values) if values else None, summary=inside[0].summary,
            began_at=began if began < start else None, continues=complete and goes_on,
            ended_at=run_end if complete and until < run_end < seen_until else None))
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
    long_measured: timedelta = timedelta(0)  # how much of each window had a measurement (met or breach)
    short_measured: timedelta = timedelta(0)

    @property
    def known(self) -> bool:
        """Both windows hold a measurement; otherwise the burn cannot be judged and the alert keeps its state."""
        return self.long_rate is not None and self.short_rate is not None

    @property
    def firing(self) -> bool:
        return (self.long_rate is not None and self.short_rate is not None
                and self.long_rate >= self.factor and self.short_rate >= self.factor)


def _measured(intervals: Sequence[Interval], start: datetime, end: datetime) -> tuple[timedelta, timedelta]:
    """(breach time, met time) in [start, end)."""
    bad = good = timedelta(0)
    for iv in intervals:
        s, e = max(iv.start, start), min(iv.end, end)
        if e <= s:
            continue
        if iv.state is ObsState.BREACH:
            bad += e - s
        elif iv.state is ObsState.MET:
            good += e - s
    return bad, good


def burn_rate(intervals: Sequence[Interval], start: datetime, end: datetime, objective: float) -> float | None:
    """How many times faster than allowed the budget burned in [start, end): breach share of measured time
    over (1 - objective). None without any measurement (unknown time alone is the check-broken alert's job)."""
    bad, good = _measured(intervals, start, end)
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
                   burn_rate(intervals, now - w.short, now, sla.objective),
                   sum(_measured(intervals, now - w.long, now), timedelta(0)),
                   sum(_measured(intervals, now - w.short, now), timedelta(0)))
        for w in sla.burn_rate
    ]


def burn_check_id(sla_id: str) -> str:
    return f"sla_burn_{sla_id}"


def burn_result(sla: Any, statuses: Sequence[BurnStatus], now: datetime) -> CheckResult:
    """Burn-rate judgement as a check result with one finding per window, so it goes through the alerting
    pipeline like any other: critical (fast burn) pages, warning (slow burn) goes to chat.

    A window without measurement is an ERROR finding: the alert lifecycle treats it as no data and holds the
    alert's state (Prometheus keeps a firing alert through missing samples; Grafana's NoData "keep last state"),
    so two failed runs of the measuring check in the middle of one breach do not resolve it and page again."""
    findings = [_burn_finding(sla, st) for st in statuses]
    known = [f.status for f in findings if f.status is not Status.ERROR]
    # The result itself measured fine; only a window lacked data. Its status must not read as a broken check.
    worst = Status.worst(known) if known else Status.OK
    summary = next((f.summary for f in findings if f.status is worst and worst is not Status.OK),
                   f"SLA {sla.id} error budget burn within limits")
    return CheckResult(check_id=burn_check_id(sla.id), kind=BURN_KIND, status=worst, observed_at=now,
                       summary=summary, labels={"sla": sla.id, **({"table": sla.table} if sla.table else {})},
                       findings=tuple(findings))


def _burn_finding(sla: Any, st: BurnStatus) -> Finding:
    labels = {"sla": sla.id, "burn_window": st.window, "owner": sla.owner}
    if sla.table:
        labels["table"] = sla.table
    if st.known:
        status = (Status.CRITICAL if st.severity == "critical" else Status.WARN) if st.firing else Status.OK
    else:
        status = Status.ERROR
    values = {"burn_rate_long": st.long_rate or 0.0, "burn_rate_short": st.short_rate or 0.0,
              "burn_factor": st.factor}
    return Finding(key=st.window, status=status, summary=_burn_text(sla, st), values=values, labels=labels)


def _rate_text(rate: float | None, window: timedelta, measured: timedelta) -> str:
    if rate is None:
        return f"no measurement in the last {_short(window)}"
    partly = "" if measured >= window else f" ({_short(measured)} of it measured)"
    return f"{rate:.1f}x over {_short(window)}{partly}"


def _burn_text(sla: Any, st: BurnStatus) -> str:
    """What is known about both windows, never more: a missing short window does not erase a measured hour."""
    head = f"SLA {sla.id} ({sla.description or sla.kind}) error budget burning " if st.known else f"SLA {sla.id}: "
    text = (f"{head}{_rate_text(st.long_rate, st.long, st.long_measured)} and "
            f"{_rate_text(st.short_rate, st.short, st.short_measured)} (alert at {st.factor:g}x)")
    if st.long_rate is not None:
        budget_week = WEEK * (1.0 - sla.objective)
        spent = st.long_measured * (1.0 - sla.objective) * st.long_rate / budget_week if budget_week else 0.0
        text += f"; {spent:.1%} of the week's budget spent in {_short(st.long)}"
    if not st.known:
        text += "; alert state held until the check measures again"
    return text


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
            prior: SlaObservation | None = None, context: tuple[datetime, datetime] | None = None) -> SlaWindow:
    """`observations` cover `context` (default: the window itself) and `prior` is the last one before it. A context
    wider than the window lets breaches that cross the window's edges say when they began and ended."""
    until = min(end, now)
    ctx_start, ctx_end = context or (start, until)
    ctx_start, ctx_end = min(ctx_start, start), max(min(ctx_end, now), until)
    seen = timeline(observations, ctx_start, ctx_end, sla.max_gap, prior) if ctx_end > ctx_start else []
    intervals = clip(seen, start, until)
    att = attainment(sla, intervals, start, end, until)
    inside = [o for o in observations if start <= o.observed_at < until]
    dist = distribution(o.value for o in inside if o.value is not None and o.state is not ObsState.UNKNOWN)
    points = [(o.observed_at, o.value, o.state) for o in sorted(inside, key=lambda o: o.observed_at)]
    found = breaches(seen, start, until, complete=until >= end, seen_until=ctx_end)
    return SlaWindow(sla, att, intervals, found, dist, points)


def clip(intervals: Sequence[Interval], start: datetime, end: datetime) -> list[Interval]:
    """The parts of `intervals` inside [start, end)."""
    return [replace(iv, start=max(iv.start, start), end=min(iv.end, end))
            for iv in intervals if iv.end > start and iv.start < end]
