"""SLA arithmetic with plain values: time-weighting with gaps, breaches, budgets, burn rates, ISO weeks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sentinel.config.alerting_spec import SlaSpec
from sentinel.model import CheckResult, Finding, Status
from sentinel.sla import (
    ObsState,
    SlaObservation,
    analyse,
    burn_result,
    burn_statuses,
    observe,
    percentile,
    timeline,
)
from sentinel.weeks import due_week, iso_week, scheduled_send_at, week_bounds

T0 = datetime(2026, 11, 16, tzinfo=UTC)  # Monday of 2026-W47
M = timedelta(minutes=1)


def sla(**kw: object) -> SlaSpec:
    base: dict[str, object] = {"id": "tx", "check": "fresh", "threshold": "15m", "objective": 0.99,
                               "max_gap": "15m", "table": "payments.transactions"}
    base.update(kw)
    return SlaSpec.model_validate(base)


def obs(minute: float, state: ObsState, value: float | None = None) -> SlaObservation:
    return SlaObservation("tx", T0 + minute * M, state, value)


def result(status: Status, age_min: float | None = None, table: str = "payments.transactions") -> CheckResult:
    values = {} if age_min is None else {"age_seconds": age_min * 60}
    finding = Finding(key="ANALYTICS.FCT_TRANSACTIONS", status=status, summary="s", values=values,
                      labels={"table": table})
    return CheckResult("fresh", "warehouse_freshness", status, T0, "s", findings=(finding,))


def test_observation_follows_the_finding_of_its_table_and_error_is_unknown() -> None:
    s = sla()
    assert observe(s, result(Status.OK, 14.9)).state is ObsState.MET  # type: ignore[union-attr]
    assert observe(s, result(Status.CRITICAL, 15.0)).state is ObsState.BREACH  # type: ignore[union-attr]
    assert observe(s, result(Status.CRITICAL, None)).state is ObsState.BREACH  # type: ignore[union-attr]
    error = CheckResult("fresh", "warehouse_freshness", Status.ERROR, T0, "connection refused")
    assert observe(s, error).state is ObsState.UNKNOWN  # type: ignore[union-attr]
    other_table = observe(s, result(Status.OK, 1, table="users.merchants"))
    assert other_table is not None and other_table.state is ObsState.UNKNOWN
    assert observe(s, CheckResult("other", "x", Status.OK, T0, "s")) is None


def test_deadline_sla_breaches_only_while_the_row_is_late() -> None:
    s = sla(kind="deadline", threshold=None, deadline="1h", value=None)
    late = CheckResult("fresh", "warehouse_freshness", Status.CRITICAL, T0, "late",
                       values={"seconds_past_deadline": 300.0})
    ok = CheckResult("fresh", "warehouse_freshness", Status.OK, T0, "ok", values={"deadline_seconds_after_midnight": 3600})
    s2 = sla(kind="deadline", threshold=None, deadline="1h", table=None)
    assert observe(s2, late).state is ObsState.BREACH  # type: ignore[union-attr]
    assert observe(s2, ok).state is ObsState.MET  # type: ignore[union-attr]
    assert observe(s2, ok).value == 0.0  # type: ignore[union-attr]
    assert s.value_name == "seconds_past_deadline"


def test_gaps_are_unknown_never_met_and_spend_budget() -> None:
    s = sla()
    # every 5 minutes for one hour, except nothing between 20 and 45: the 20-minute observation holds 15 minutes
    points = [obs(m, ObsState.MET, 300) for m in range(0, 60, 5) if not 20 < m < 45]
    points[1] = obs(5, ObsState.BREACH, 1200)
    ivs = timeline(points, T0, T0 + 60 * M, s.max_gap)
    assert sum((iv.duration for iv in ivs), timedelta(0)) == 60 * M
    unknown = [iv for iv in ivs if iv.state is ObsState.UNKNOWN]
    assert [(iv.start, iv.end) for iv in unknown] == [(T0 + 35 * M, T0 + 45 * M)]
    w = analyse(s, points, T0, T0 + timedelta(days=7), now=T0 + 60 * M)
    a = w.attainment
    assert (a.met, a.breach, a.unknown) == (45 * M, 5 * M, 10 * M)
    assert a.attainment == pytest.approx(45 / 60)
    assert a.measured_attainment == pytest.approx(45 / 50)
    assert a.budget == timedelta(days=7) * 0.01  # 100.8 minutes
    assert a.budget_left == timedelta(minutes=100.8 - 15)
    assert a.objective_met is None  # the week is not over and the budget is not spent
    assert [(b.start, b.duration, b.worst_value) for b in w.breaches] == [(T0 + 5 * M, 5 * M, 1200)]


def test_prior_observation_covers_the_start_of_the_window_up_to_max_gap() -> None:
    prior = SlaObservation("tx", T0 - 10 * M, ObsState.BREACH, 1000)
    ivs = timeline([obs(20, ObsState.MET)], T0, T0 + 30 * M, timedelta(minutes=15), prior)
    assert [(iv.state, iv.duration) for iv in ivs] == [
        (ObsState.BREACH, 5 * M), (ObsState.UNKNOWN, 15 * M), (ObsState.MET, 10 * M)]


def test_burn_rates_over_long_and_short_windows() -> None:
    s = sla()  # 99% -> 1% allowed; fast: 14.4x over 1h and 5m
    now = T0 + 120 * M
    points = [obs(m, ObsState.BREACH if m >= 110 else ObsState.MET, 60) for m in range(0, 120, 5)]
    fast, slow = burn_statuses(s, points, now)
    assert fast.long_rate == pytest.approx((10 / 60) / 0.01)  # 16.7x
    assert fast.short_rate == pytest.approx(100.0)
    assert fast.firing and fast.severity == "critical"
    assert slow.long_rate == pytest.approx((10 / 120) / 0.01)  # only 2h measured of 6h: rate over measured time
    assert slow.short_rate == pytest.approx((10 / 30) / 0.01)
    assert slow.firing
    res = burn_result(s, [fast, slow], now)
    assert res.check_id == "sla_burn_tx" and res.kind == "sla_burn_rate" and res.status is Status.CRITICAL
    assert {f.key: f.status for f in res.findings} == {"fast": Status.CRITICAL, "slow": Status.WARN}
    assert "16.7x over 1h" in res.findings[0].summary
    calm = burn_statuses(s, [obs(m, ObsState.MET, 60) for m in range(0, 120, 5)], now)
    assert not any(b.firing for b in calm)
    assert burn_result(s, calm, now).status is Status.OK


def test_nearest_rank_percentiles() -> None:
    values = sorted(float(v) for v in range(1, 101))
    assert (percentile(values, 50), percentile(values, 95), percentile(values, 100)) == (50.0, 95.0, 100.0)
    assert percentile([7.0], 95) == 7.0


def test_iso_weeks_and_when_the_report_is_due() -> None:
    assert iso_week(T0) == "2026-W47"
    assert week_bounds("2026-W47") == (T0, T0 + timedelta(days=7))
    assert week_bounds("2026-W01")[0] == datetime(2025, 12, 29, tzinfo=UTC)  # ISO year starts on a Monday
    assert scheduled_send_at("2026-W47") == datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    assert due_week(datetime(2026, 11, 23, 8, 59, tzinfo=UTC)) == "2026-W46"
    assert due_week(datetime(2026, 11, 23, 9, 0, tzinfo=UTC)) == "2026-W47"
    assert due_week(datetime(2026, 11, 29, 23, 0, tzinfo=UTC)) == "2026-W47"
    assert due_week(datetime(2026, 11, 25, 7, 0, tzinfo=UTC), "wednesday", "07:30") == "2026-W46"
    with pytest.raises(ValueError, match="ISO week"):
        week_bounds("2026-47")


def test_sla_spec_requires_what_its_kind_needs() -> None:
    with pytest.raises(ValueError, match="needs threshold"):
        SlaSpec.model_validate({"id": "x", "check": "c"})
    with pytest.raises(ValueError, match="needs deadline"):
        SlaSpec.model_validate({"id": "x", "check": "c", "kind": "deadline"})
    with pytest.raises(ValueError, match="shorter than long"):
        sla(burn_rate=[{"name": "odd", "long": "5m", "short": "1h", "factor": 2}])


def test_without_a_selector_the_result_itself_is_the_measurement() -> None:
    s = SlaSpec.model_validate({"id": "tx", "check": "fresh", "threshold": "15m"})
    with_findings = result(Status.CRITICAL, 20)
    picked = observe(s, CheckResult("fresh", "k", Status.OK, T0, "s", values={"age_seconds": 60.0},
                                    findings=with_findings.findings))
    assert picked is not None and (picked.state, picked.value) == (ObsState.MET, 60.0)
    named = SlaSpec.model_validate({"id": "tx", "check": "fresh", "threshold": "15m", "finding": "NOPE"})
    missing = observe(named, with_findings)
    assert missing is not None and missing.state is ObsState.UNKNOWN
