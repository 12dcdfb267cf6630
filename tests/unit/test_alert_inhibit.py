"""Inhibit: while an upstream stage of a table fires, downstream alerts of that table are symptoms of it."""

from __future__ import annotations

from sentinel.alerting.inhibit import Inhibitor, Lineage
from sentinel.alerting.types import Phase
from sentinel.config.alerting_spec import PipelineSpec, SlaSpec
from sentinel.model import Status
from tests.unit.alert_builders import alert


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


def test_resolved_and_broken_alerts_are_never_roots():
    lineage = Lineage(PipelineSpec(stages=["postgres", "kafka", "dbt"]))
    resolved = alert("pg", "postgres", phase=Phase.RESOLVED)
    broken = alert("kafka", "kafka").evolve(broken=True)
    fresh = alert("fresh", "dbt")
    inh = Inhibitor(lineage, [resolved, broken, fresh])
    assert inh.root_of(fresh) is None and inh.symptoms_of(resolved) == [] and inh.symptoms_of(broken) == []
