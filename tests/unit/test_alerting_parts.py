"""Routing, silences, maintenance windows, inhibition, Slack rendering limits and messages (pure parts)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sentinel.alerting.compose import build_message
from sentinel.alerting.inhibit import Inhibitor, Lineage
from sentinel.alerting.routing import Route, Router, compile_routes
from sentinel.alerting.silences import MaintenanceWindow, Suppressor, new_silence, parse_matchers
from sentinel.alerting.types import AlertState, Phase
from sentinel.config.alerting_spec import PipelineSpec, SlaSpec
from sentinel.model import Severity, Status
from sentinel.notify.message import Message
from sentinel.notify.slack_render import MAX_BLOCKS, escape, fallback_text, render_blocks

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # a Monday


def alert(check: str, stage: str | None = None, table: str | None = "payments.transactions",
          severity: Severity = Severity.CRITICAL, phase: Phase = Phase.FIRING, **labels: str) -> AlertState:
    lbl = {k: v for k, v in {"stage": stage, "table": table, **labels}.items() if v}
    return AlertState(fingerprint=f"fp-{check}", rule_id=check, check_id=check, kind="k", labels=lbl, phase=phase,
                      severity=severity, summary=f"{check} broke", runbook="rb", fired_at=T0)


def test_default_routes_slack_and_page_critical():
    routes = compile_routes([], ["console", "slack", "pager"], slack=True, pager=True)
    router = Router(routes)
    assert [r.name for r in router.routes_for(alert("a", severity=Severity.WARNING))] == ["default"]
    assert [r.name for r in router.routes_for(alert("a"))] == ["default", "page"]
    assert compile_routes([], ["console"], slack=False, pager=False)[0].receivers == ("console",)


def test_route_group_key_and_continue():
    first = Route("dbt", ("slack",), match={"stage": "dbt"}, continue_=False, group_by=("stage", "table"))
    router = Router([first, Route("all", ("console",))])
    assert [r.name for r in router.routes_for(alert("a", "dbt"))] == ["dbt"]
    assert [r.name for r in router.routes_for(alert("a", "kafka"))] == ["all"]
    assert first.group_key(alert("a", "dbt")) == "stage=dbt,table=payments.transactions"


def test_matchers_and_silences():
    assert parse_matchers(["table=payments.transactions", "stage=~s3.*", "severity=!warning"]) == {
        "table": "payments.transactions", "stage": "~s3.*", "severity": "!warning"}
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_matchers(["nope"])
    s = new_silence({"stage": "~s3.*", "alertname": "lag"}, T0, timedelta(hours=2))
    sup = Suppressor([s], [], T0 + timedelta(hours=1))
    assert sup.reason(alert("lag", "s3_sink")) == f"silence:{s.id}"
    assert sup.reason(alert("other", "s3_sink")) is None
    assert Suppressor([s], [], T0 + timedelta(hours=2)).reason(alert("lag", "s3")) is None  # ended


def test_maintenance_window_uses_crontab_weekdays():
    monday_9 = MaintenanceWindow("m", {"stage": "dbt"}, "0 9 * * 1", timedelta(hours=1))
    assert monday_9.active_at(T0) and monday_9.active_at(T0 + timedelta(minutes=59))
    assert not monday_9.active_at(T0 + timedelta(minutes=60))
    assert not monday_9.active_at(T0 + timedelta(days=1))  # Tuesday
    assert MaintenanceWindow("n", {}, "30 8 * * *", timedelta(hours=1)).active_at(T0)


def test_inhibition_picks_the_most_upstream_root_per_table():
    lineage = Lineage(PipelineSpec.model_validate({"tables": {"payments.transactions": {
        "slas": ["tx_15m"], "dashboards": ["Payments Operations"]}}}),
        [SlaSpec.model_validate({"id": "tx_fresh", "check": "c", "table": "payments.transactions", "threshold": "15m"})])
    connect, s3, fresh = alert("connect", "s3_sink"), alert("s3", "s3"), alert("fresh", "analytics")
    other_table = alert("fresh_refunds", "analytics", table="payments.refunds")
    no_stage = alert("x", None)
    inh = Inhibitor(lineage, [fresh, s3, connect, other_table, no_stage])
    assert inh.root_of(fresh) is connect and inh.root_of(s3) is connect and inh.root_of(connect) is None
    assert inh.root_of(other_table) is None and inh.root_of(no_stage) is None
    assert [s.check_id for s in inh.symptoms_of(connect)] == ["s3", "fresh"]
    assert lineage.at_risk(["payments.transactions"]) == ["SLA tx_15m", "dashboard Payments Operations",
                                                          "SLA tx_fresh"]


def message_for(states: list[AlertState]) -> Message:
    return build_message(key="k", route="default", group="stage=postgres", event="fired", is_update=False,
                         states=states, now=T0 + timedelta(minutes=5), base_url="https://rb.example/",
                         redact=lambda s: s.replace("hunter2", "[redacted]"), page_action="trigger")


def test_message_round_trip_and_redaction():
    msg = message_for([alert("pg", "postgres", summary_extra="x")])
    assert Message.from_json(msg.to_json()) == msg
    leaky = alert("pg", "postgres").evolve(summary="password hunter2 rejected")
    assert "hunter2" not in str(message_for([leaky]).to_json())


def test_slack_blocks_respect_limits_for_huge_groups():
    states = [alert(f"check_{i}", "postgres").evolve(summary="x" * 3000) for i in range(500)]
    blocks = render_blocks(message_for(states))
    assert len(blocks) <= MAX_BLOCKS
    for b in blocks:
        if b["type"] == "section" and "text" in b:
            assert len(b["text"]["text"]) <= 3000
        if b["type"] == "header":
            assert len(b["text"]["text"]) <= 150


def test_escape_and_fallback_defang():
    assert escape("<a> & <b>") == "&lt;a&gt; &amp; &lt;b&gt;"
    msg = message_for([alert("x", "dbt").evolve(summary="s")])
    msg = Message(**{**msg.__dict__, "title": "see https://evil.example @here"})
    text = fallback_text(msg)
    assert "https://evil" not in text and "@here" not in text


def test_a_failing_dbt_model_inhibits_the_looker_symptom_of_the_same_table():
    """Issue 20: the looker finding sits in the lineage (stage looker, the table), so dbt upstream is the root."""
    from pathlib import Path

    from sentinel_checks.looker import LookerParams, Problem, findings_for

    from sentinel.config.loader import load_config
    from sentinel.plugins import check_registry

    config = load_config(Path(__file__).resolve().parents[2] / "alert_rules.yaml", check_registry())
    (spec,) = [c for c in config.spec.checks if c.kind == "looker"]
    params = LookerParams.model_validate(spec.params)
    broken_tile = Problem("Executive Dashboard", "tile 'Daily GMV': Unknown field", Status.CRITICAL)
    content = next(f for f in findings_for(params, "content", [broken_tile]) if f.key == "content:payments.transactions")
    looker = alert("looker_dashboards", **{k: v for k, v in content.labels.items() if k not in ("table",)})
    dbt = alert("dbt_prod_results", "dbt")
    elsewhere = alert("dbt_refunds", "dbt", table="payments.refunds")
    inh = Inhibitor(Lineage(config.spec.pipeline, config.spec.slas), [looker, dbt, elsewhere])
    assert inh.root_of(looker) is dbt
    assert content.labels["dashboards"] == "Executive Dashboard, Payments Operations"
    assert "Warn the readers of: Executive Dashboard" in content.summary
