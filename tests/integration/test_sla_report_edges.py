"""The weekly report of 2026-W53 against an independent recount from the stored observations: the SQLite state store,
the SLA ledger and the report builder, with a previous week that has no data and a breach that runs from Sunday
23:30 into 2027-W01."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from sentinel.clock import FakeClock
from sentinel.config.spec import SentinelConfig
from sentinel.model import CheckResult, Finding, Status
from sentinel.reports.model import WeeklyReport, build_weekly_report
from sentinel.reports.render import render_text
from sentinel.sla import ObsState, SlaObservation
from sentinel.sla_ledger import SlaLedger
from sentinel.store.sqlite import SqliteStateStore
from sentinel.weeks import week_bounds

pytestmark = pytest.mark.integration
START, END = week_bounds("2026-W53")
MAX_GAP = timedelta(minutes=15)
CONFIG = SentinelConfig.model_validate({"slas": [{
    "id": "merchant_analytics_freshness", "check": "fresh", "finding": "FCT_MERCHANT_HEALTH", "table": "users.merchants",
    "threshold": "30m", "objective": 0.995, "max_gap": "15m", "owner": "merchant-insights"}]})


def age_at(t: datetime) -> float | None:
    """Minutes of age the simulated check reports at `t` (None: the warehouse did not answer)."""
    if t == START + timedelta(days=2, hours=3):
        return None  # Wed 03:00: one ERROR result
    if END - timedelta(minutes=30) <= t < END + timedelta(minutes=45):
        return 40.0  # Sun 23:30 to Mon 00:45 of 2027-W01: stale
    if START + timedelta(days=4, hours=12) <= t < START + timedelta(days=4, hours=12, minutes=25):
        return 35.0  # Fri 12:00-12:25
    return 10.0


def result_at(t: datetime) -> CheckResult:
    age = age_at(t)
    if age is None:
        return CheckResult("fresh", "warehouse_freshness", Status.ERROR, t, "warehouse did not answer")
    status = Status.CRITICAL if age >= 30 else Status.OK
    finding = Finding("FCT_MERCHANT_HEALTH", status, f"FCT_MERCHANT_HEALTH {age:g} min old",
                      {"age_seconds": age * 60}, {"table": "users.merchants"})
    return CheckResult("fresh", "warehouse_freshness", status, t, finding.summary, findings=(finding,))


@pytest.fixture
def report(tmp_path: Path) -> Iterator[tuple[WeeklyReport, SqliteStateStore]]:
    store = SqliteStateStore(tmp_path / "state.db")
    now = END + timedelta(hours=9)  # Monday 2027-01-04 09:00, when the report is due
    ledger = SlaLedger(CONFIG.slas, store, FakeClock(now))
    t = START  # 2026-W52 has no observation at all; W53 and W01 until 09:00 are measured every 5 minutes,
    while t < now:
        if not START + timedelta(days=5, hours=6) <= t < START + timedelta(days=5, hours=6, minutes=40):
            ledger.record(result_at(t))  # except Sat 06:00-06:40, when the daemon was down
        t += timedelta(minutes=5)
    yield build_weekly_report(CONFIG, ledger, store, "2026-W53", now), store
    store.close()


def recount(observations: list[SlaObservation]) -> tuple[Counter[ObsState], list[tuple[datetime, int]]]:
    """Second by second: the newest observation at or before it holds for max_gap, else the second is unknown."""
    counts: Counter[ObsState] = Counter()
    runs: list[tuple[datetime, int]] = []
    obs = sorted(observations, key=lambda o: o.observed_at)
    i, previous = -1, ObsState.UNKNOWN
    for second in range(int((END - START).total_seconds())):
        t = START + timedelta(seconds=second)
        while i + 1 < len(obs) and obs[i + 1].observed_at <= t:
            i += 1
        state = obs[i].state if i >= 0 and t - obs[i].observed_at < MAX_GAP else ObsState.UNKNOWN
        counts[state] += 1
        if state is ObsState.BREACH:
            if previous is ObsState.BREACH:
                runs[-1] = (runs[-1][0], runs[-1][1] + 1)
            else:
                runs.append((t, 1))
        previous = state
    return counts, runs


def test_the_report_matches_an_independent_recount_of_the_stored_observations(
        report: tuple[WeeklyReport, SqliteStateStore]) -> None:
    rep, store = report
    (section,) = rep.sections
    counts, runs = recount(store.sla_observations("merchant_analytics_freshness", START, END))
    a = section.attainment
    assert (a.met, a.breach, a.unknown) == tuple(timedelta(seconds=counts[s]) for s in
                                                 (ObsState.MET, ObsState.BREACH, ObsState.UNKNOWN))
    assert a.attainment == pytest.approx(counts[ObsState.MET] / (7 * 86400))
    assert [(b.start, int(b.duration.total_seconds())) for b in section.breaches] == runs
    # By hand as well: Fri 12:00-12:25 and Sun 23:30-24:00 in breach; unknown: down 06:00-06:40, where the 05:55
    # observation holds until 06:10 (30 min), and the 5 minutes after the ERROR.
    assert runs == [(START + timedelta(days=4, hours=12), 1500), (END - timedelta(minutes=30), 1800)]
    assert counts[ObsState.UNKNOWN] == 35 * 60


def test_a_breach_into_the_next_week_and_a_previous_week_without_data(
        report: tuple[WeeklyReport, SqliteStateStore]) -> None:
    rep, _ = report
    (section,) = rep.sections
    last = section.breaches[-1]
    assert not last.ongoing and last.continues and last.ended_at == END + timedelta(minutes=45)
    assert section.previous is None and section.trend_points is None  # 2026-W52 has no data: no trend
    text = render_text(rep)
    assert "(no data last week vs 2026-W52)" in text and "pp vs 2026-W52" not in text
    assert "ongoing" not in text
    assert "Sun 2027-01-03 23:30 UTC for 30m in this week, continued into the next week, ended Mon 2027-01-04 00:45" \
        in text
