"""The on-call status view from plain values: stage order, worst result per stage, findings, lag/age, alerts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sentinel.alerting.types import AlertState, Phase
from sentinel.config.spec import SentinelConfig
from sentinel.model import CheckResult, Finding, Severity, Status
from sentinel.status import NO_RESULT, NOT_WATCHED, build_status, key_value, render_text
from sentinel.status_page import render_html

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
TX = "payments.transactions"
CONFIG = SentinelConfig.model_validate({
    "checks": [
        {"id": "s3_sink_lag", "kind": "kafka_consumer_lag", "labels": {"table": TX, "stage": "s3_sink"}},
        {"id": "tx_fresh", "kind": "warehouse_freshness", "labels": {"table": TX, "stage": "snowflake_raw"}},
        {"id": "slot", "kind": "postgres_replication_slot", "labels": {"table": TX, "stage": "debezium"}},
        {"id": "refunds_lag", "kind": "kafka_consumer_lag", "labels": {"table": "payments.refunds", "stage": "s3_sink"}},
        {"id": "dbt", "kind": "dbt_results"},  # its findings carry table and stage
    ],
    "pipeline": {"tables": {TX: {"slas": ["transactions_freshness"], "dashboards": ["Executive Dashboard"]},
                            "users.merchants": {"stages": ["postgres", "debezium", "kafka"]}}},
})


def result(check_id: str, status: Status, summary: str, values: dict[str, float], *, ago: int = 30,
           findings: tuple[Finding, ...] = (), **labels: str) -> CheckResult:
    return CheckResult(check_id, "k", status, NOW - timedelta(seconds=ago), summary, values=values, labels=labels,
                       findings=findings)


LATEST = {
    "s3_sink_lag": result("s3_sink_lag", Status.CRITICAL, "connect-s3-sink is 25m behind on cdc.payments.transactions",
                          {"lag_seconds": 1500.0, "lag_messages": 90000.0}, table=TX, stage="s3_sink"),
    "tx_fresh": result("tx_fresh", Status.WARN, "RAW.TRANSACTIONS is 14m old", {"age_seconds": 840.0}, ago=90,
                       table=TX, stage="snowflake_raw"),
    "dbt": result("dbt", Status.CRITICAL, "2 dbt tests failed", {"failed_tests": 2.0}, findings=(
        Finding("test.not_null", Status.CRITICAL, "not_null_fct_transactions_id failed", {"failures": 3.0},
                {"table": TX, "stage": "dbt"}),
        Finding("test.unique", Status.OK, "ok", {}, {"table": "users.merchants", "stage": "dbt"}),
    )),
}
FIRING = AlertState("fp1", "s3_sink_lag", "s3_sink_lag", "kafka_consumer_lag", {"table": TX, "stage": "s3_sink"},
                    phase=Phase.FIRING, severity=Severity.CRITICAL, summary="s3 sink 25m behind", runbook="kafka-consumer-lag",
                    fired_at=NOW - timedelta(minutes=7))
SILENCED = AlertState("fp2", "tx_fresh", "tx_fresh", "warehouse_freshness", {"table": TX, "stage": "snowflake_raw"},
                      phase=Phase.FIRING, severity=Severity.WARNING, summary="14m old", runbook="freshness-sla-breach",
                      silenced_by="s1")
RESOLVED = FIRING.evolve(fingerprint="fp3", phase=Phase.RESOLVED)


def views() -> dict[str, object]:
    return {v.table: v for v in build_status(CONFIG, LATEST, [FIRING, SILENCED, RESOLVED], NOW)}


def test_stages_follow_the_pipeline_order_with_state_value_and_alerts() -> None:
    tx = build_status(CONFIG, LATEST, [FIRING, SILENCED, RESOLVED], NOW)[0]
    assert tx.table == TX and tx.slas == ("transactions_freshness",)
    assert [s.stage for s in tx.stages] == ["postgres", "debezium", "kafka", "s3_sink", "s3", "snowpipe",
                                            "snowflake_raw", "dbt", "analytics", "looker"]
    by = {s.stage: s for s in tx.stages}
    assert by["postgres"].note == NOT_WATCHED and by["postgres"].status is None
    assert by["debezium"].note == NO_RESULT and by["debezium"].checks == ("slot",)
    sink = by["s3_sink"]
    assert sink.status is Status.CRITICAL and sink.key_value == "lag 25m" and sink.note == "checked 30s ago"
    assert [(a.rule_id, a.severity, a.muted) for a in sink.alerts] == [("s3_sink_lag", "critical", "")]
    fresh = by["snowflake_raw"]
    assert fresh.key_value == "age 14m" and fresh.alerts[0].muted == "silenced"
    assert by["dbt"].status is Status.CRITICAL and by["dbt"].summary == "not_null_fct_transactions_id failed"
    assert tx.status is Status.CRITICAL and tx.first_failing is sink  # upstream of freshness and dbt


def test_tables_come_from_lineage_config_then_labels_and_honour_per_table_stages() -> None:
    tables = build_status(CONFIG, LATEST, [], NOW)
    assert [t.table for t in tables] == [TX, "users.merchants", "payments.refunds"]
    merchants = tables[1]
    assert [s.stage for s in merchants.stages] == ["postgres", "debezium", "kafka", "dbt"]  # dbt: from a finding
    assert merchants.stages[-1].status is Status.OK and merchants.watched
    refunds = tables[2]
    assert not refunds.watched and refunds.badge == "NOT WATCHED"


def test_results_of_checks_no_longer_configured_are_ignored() -> None:
    gone = {"old": result("old", Status.CRITICAL, "removed last week", {}, table=TX, stage="kafka")}
    [tx, *_] = build_status(CONFIG, {**LATEST, **gone}, [], NOW)
    assert next(s for s in tx.stages if s.stage == "kafka").note == NOT_WATCHED


def test_key_value_prefers_lag_or_age_and_reads_units() -> None:
    assert key_value({"lag_messages": 5.0, "lag_seconds": 75.0}) == "lag messages 5"
    assert key_value({"rows": 12.0, "age_seconds": 3700.0}) == "age 1h01m"
    assert key_value({"missing_rows": 1234.5, "missing_rows_critical_threshold": 10.0}) == "missing rows 1,234.50"
    assert key_value({}) == ""


def test_terminal_rendering_names_the_first_failing_stage() -> None:
    text = render_text(build_status(CONFIG, LATEST, [FIRING, SILENCED], NOW), color=False)
    assert "payments.transactions  [CRIT]  SLAs: transactions_freshness  dashboards: Executive Dashboard" in text
    assert "s3_sink[CRIT] -> s3[-] -> snowpipe[-] -> snowflake_raw[WARN] -> dbt[CRIT]" in text
    assert "FIRING critical s3_sink_lag since 02:53Z: s3 sink 25m behind  runbook: kafka-consumer-lag" in text
    assert "FIRING warning tx_fresh [silenced]: 14m old" in text
    assert "first failing stage: s3_sink (CRIT)" in text
    assert "    debezium       ?      no result yet (slot)" in text.splitlines()
    coloured = render_text(build_status(CONFIG, LATEST, [], NOW), color=True)
    assert "\x1b[31;1m" in coloured


def test_html_escapes_every_value_and_links_runbooks() -> None:
    evil = {"x": result("x", Status.CRITICAL, "<script>alert(1)</script> & more", {"lag_seconds": 5.0},
                        table="<b>t</b>", stage="kafka")}
    config = CONFIG.model_copy(update={"checks": [*CONFIG.checks, CONFIG.checks[0].model_copy(update={"id": "x"})]})
    page = render_html(build_status(config, {**LATEST, **evil}, [FIRING], NOW), now=NOW,
                       runbook_base_url="https://git.example/runbooks")
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in page
    assert "&lt;b&gt;t&lt;/b&gt;" in page
    assert '<a href="https://git.example/runbooks/kafka-consumer-lag.md">runbook</a>' in page
    assert 'data-stage="s3_sink" data-status="critical"' in page
    assert "First failing stage: <b>s3_sink</b>" in page


def test_a_shared_component_counts_at_the_stage_of_every_table_it_carries() -> None:
    # One Debezium slot carries several tables: its finding names them all, and each table's debezium stage shows it.
    config = SentinelConfig.model_validate({
        "checks": [{"id": "slot", "kind": "postgres_replication_slot", "labels": {"stage": "debezium"}}],
        "pipeline": {"stages": ["postgres", "debezium"], "tables": {TX: {}, "users.merchants": {}, "users.api_keys": {}}},
    })
    slot = result("slot", Status.WARN, "slot debezium_novapay inactive for 6m", {"retained_wal_bytes": 9e6},
                  findings=(Finding("slot/debezium_novapay", Status.WARN, "inactive for 6m", {"inactive_seconds": 360.0},
                                    {"slot": "debezium_novapay", "tables": f"{TX}, users.merchants"}),),
                  stage="debezium")
    firing = AlertState("fp9", "slot", "slot", "postgres_replication_slot",
                        {"stage": "debezium", "slot": "debezium_novapay", "tables": f"{TX}, users.merchants"},
                        phase=Phase.FIRING, severity=Severity.WARNING, summary="inactive for 6m",
                        runbook="debezium-replication-slot")
    by = {v.table: {s.stage: s for s in v.stages} for v in build_status(config, {"slot": slot}, [firing], NOW)}
    for table in (TX, "users.merchants"):
        assert by[table]["debezium"].status is Status.WARN and by[table]["debezium"].summary == "inactive for 6m"
        assert [a.rule_id for a in by[table]["debezium"].alerts] == ["slot"]
    assert by["users.api_keys"]["debezium"].note == NOT_WATCHED  # the slot does not carry it
