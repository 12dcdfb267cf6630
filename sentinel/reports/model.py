"""The weekly SLA report as data: per SLA the objective, attainment, budget, freshness distribution, breaches
with their root cause from the alert history, and the trend against the week before; the noisiest checks; the
alerts sent and the pages. Built from the state store only, so it can be rebuilt for any past week."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sentinel.durations import format_duration
from sentinel.reports.incidents import Incident, incidents
from sentinel.sla import Attainment, Breach, SlaWindow, burn_check_id
from sentinel.store.sla import SentMessage
from sentinel.weeks import shift_week, week_bounds

PAGER_KINDS = frozenset({"opsgenie", "jsm", "pagerduty"})
ROOT_CAUSE_LOOKBACK = timedelta(hours=2)


@dataclass(frozen=True)
class SlaSection:
    sla: Any
    window: SlaWindow
    previous: Attainment | None
    breaches: list[Breach]

    @property
    def attainment(self) -> Attainment:
        return self.window.attainment

    @property
    def trend_points(self) -> float | None:
        """Attainment change against the previous week, in percentage points."""
        now, before = self.attainment.attainment, self.previous.attainment if self.previous else None
        if now is None or before is None:
            return None
        return (now - before) * 100.0

    @property
    def verdict(self) -> str:
        met = self.attainment.objective_met
        if met is None:
            return "on track" if self.attainment.budget_left_fraction > 0.25 else "at risk"
        return "met" if met else "missed"

    @property
    def threshold_text(self) -> str:
        if self.sla.kind == "freshness":
            return f"age < {format_duration(self.sla.threshold)}"
        return f"yesterday's row by {format_duration(self.sla.deadline)} after midnight UTC"


@dataclass(frozen=True)
class NoisyCheck:
    check_id: str
    alerts: int  # alert notifications (fired, escalated, reminders) that named this check
    episodes: int  # distinct alerts that fired
    results: int
    not_ok: int
    errors: int


@dataclass(frozen=True)
class AlertStats:
    messages: int  # messages delivered (any receiver)
    by_receiver: dict[str, int]
    pages: int  # fired/escalated messages delivered to a pager
    failed: int
    fired: int  # alert episodes announced


@dataclass(frozen=True)
class WeeklyReport:
    week: str
    start: datetime
    end: datetime
    generated_at: datetime
    sections: list[SlaSection]
    noisiest: list[NoisyCheck]
    alerts: AlertStats
    previous_week: str
    charts: dict[str, bytes] = field(default_factory=dict)
    incidents: list[Incident] = field(default_factory=list)  # every alert episode of the week, any kind

    @property
    def complete(self) -> bool:
        return self.generated_at >= self.end

    @property
    def last_day(self) -> datetime:
        return self.end - timedelta(days=1)

    @property
    def headline(self) -> str:
        missed = [s.sla.id for s in self.sections if s.verdict == "missed"]
        if not self.sections:
            return "no SLAs configured"
        if missed:
            return f"{len(missed)} of {len(self.sections)} SLAs missed: {', '.join(missed)}"
        return f"all {len(self.sections)} SLAs met" if self.complete else "week in progress"


def pager_receivers(config: Any) -> set[str]:
    names = {"pager"}
    names.update(n.name for n in getattr(config, "notifiers", ()) if n.kind in PAGER_KINDS)
    return names


def _alert_lines(message: SentMessage) -> list[dict[str, Any]]:
    return [a for a in message.payload.get("alerts", []) if isinstance(a, dict)]


def root_cause(sla: Any, breach: Breach, messages: Sequence[SentMessage], stages: Sequence[str]) -> tuple[str, str]:
    """The most upstream alert announced for this SLA's table around the breach, as (text, fingerprint).

    Burn-rate alerts are effects, not causes, and are skipped. Without any alert, the SLA check's own words."""
    order = {s: i for i, s in enumerate(stages)}
    candidates: dict[str, tuple[tuple[int, int, datetime], dict[str, Any]]] = {}
    for m in messages:
        if m.event not in ("fired", "escalated") or not (breach.start - ROOT_CAUSE_LOOKBACK <= m.created_at
                                                            <= breach.end):
            continue
        for line in _alert_lines(m):
            if line.get("check_id", "").startswith("sla_burn_"):
                continue
            table = line.get("table")
            if sla.table and table and table != sla.table:
                continue
            since = datetime.fromisoformat(line["since"]) if line.get("since") else m.created_at
            rank = (0 if table == sla.table else 1, order.get(line.get("stage") or "", len(order)), since)
            fp = line.get("fingerprint", "")
            if fp not in candidates or rank < candidates[fp][0]:
                candidates[fp] = (rank, line)
    if not candidates:
        return f"no alert recorded; the SLA check said: {breach.summary}", ""
    _, line = min(candidates.values(), key=lambda c: c[0])
    where = " / ".join(p for p in (line.get("stage"), line.get("table")) if p)
    fired = datetime.fromisoformat(line["since"]) if line.get("since") else None
    when = f", firing since {fired:%a %H:%M} UTC" if fired else ""
    return f"{where}: {line.get('summary', '')} (alert {line.get('rule_id', '?')}{when})", line.get("fingerprint", "")


def alert_stats(config: Any, deliveries: Iterable[Any], messages: Sequence[SentMessage]) -> AlertStats:
    pagers = pager_receivers(config)
    sent = [d for d in deliveries if d.status.value == "sent"]
    failed = sum(1 for d in deliveries if d.status.value == "failed")
    by_receiver = Counter(d.receiver for d in sent)
    pages = sum(1 for d in sent if d.receiver in pagers and d.event in ("fired", "escalated"))
    fired = {line.get("fingerprint") for m in messages if m.event in ("fired", "escalated") for line in _alert_lines(m)}
    return AlertStats(len({d.outbox_id for d in sent}), dict(by_receiver.most_common()), pages, failed, len(fired))


def noisiest(messages: Sequence[SentMessage], counts: dict[str, dict[str, int]], limit: int) -> list[NoisyCheck]:
    notes: Counter[str] = Counter()
    episodes: dict[str, set[str]] = defaultdict(set)
    seen: set[tuple[str, str]] = set()
    for m in messages:
        for line in _alert_lines(m):
            check = line.get("check_id", "")
            key = (m.payload.get("key", str(m.seq)) + m.event + m.created_at.isoformat(), line.get("fingerprint", ""))
            if key in seen:  # one message to Slack and the pager is one alert, not two
                continue
            seen.add(key)
            notes[check] += 1
            if m.event in ("fired", "escalated"):
                episodes[check].add(line.get("fingerprint", ""))
    checks = set(notes) | {c for c, by in counts.items() if sum(n for s, n in by.items() if s != "ok")}
    rows = []
    for check in checks:
        by = counts.get(check, {})
        rows.append(NoisyCheck(check, notes[check], len(episodes[check]), sum(by.values()),
                               sum(n for s, n in by.items() if s != "ok"), by.get("error", 0)))
    rows.sort(key=lambda r: (-r.alerts, -r.not_ok, r.check_id))
    return rows[:limit]


def build_weekly_report(config: Any, ledger: Any, store: Any, week: str, now: datetime) -> WeeklyReport:
    """`config` is the SentinelConfig, `ledger` a SlaLedger, `store` the state store."""
    start, end = week_bounds(week)
    until = min(end, now)
    previous = shift_week(week, -1)
    p_start, p_end = week_bounds(previous)
    messages = store.messages_between(start - ROOT_CAUSE_LOOKBACK, until)
    in_week = [m for m in messages if m.created_at >= start]
    sections = []
    for sla in config.slas:
        window = ledger.window(sla, start, end, now)
        before = ledger.window(sla, p_start, p_end, now).attainment if p_start < now else None
        if before is not None and not before.measured:
            before = None  # a week with no measurement has no attainment to compare with, not 0%
        found = [_with_cause(sla, b, messages, config.pipeline.stages) for b in window.breaches]
        sections.append(SlaSection(sla, window, before, found))
    counts = store.result_status_counts(start, until)
    counts = {c: by for c, by in counts.items() if not c.startswith(burn_check_id(""))}
    return WeeklyReport(
        week=week, start=start, end=end, generated_at=now, sections=sections,
        noisiest=noisiest(in_week, counts, config.report.noisiest),
        alerts=alert_stats(config, store.deliveries_between(start, until), in_week),
        previous_week=previous,
        incidents=incidents(messages, {c.id: c.kind for c in config.checks}, start, until),
    )


def _with_cause(sla: Any, breach: Breach, messages: Sequence[SentMessage], stages: Sequence[str]) -> Breach:
    from dataclasses import replace

    text, ref = root_cause(sla, breach, messages, stages)
    return replace(breach, root_cause=text, root_cause_ref=ref)
