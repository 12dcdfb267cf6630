"""Coverage as plain values: discovered lineage vs the configured checks and pipeline (sentinel.discovery.coverage)."""

from __future__ import annotations

from pathlib import Path

import yaml

from sentinel.config.alerting_spec import PipelineSpec
from sentinel.config.checks_spec import CheckSpec
from sentinel.config.spec import SentinelConfig
from sentinel.discovery.coverage import coverage, dbt_location_of
from sentinel.discovery.model import DbtSource, Discovery, PipeLoad, SinkRoute, TableLineage

ROOT = Path(__file__).resolve().parents[2]


def lineage(table: str, *, dbt: bool = True, exists: bool | None = True, prefix: str | None = None) -> TableLineage:
    schema, name = table.split(".")
    route = SinkRoute("s3-sink", f"cdc.{table}", "novapay-data-lake", prefix or f"raw/{schema}/{name}/",
                      "dt=YYYY-MM-DD", "connect-s3-sink")
    pipe = PipeLoad(f"NOVAPAY.RAW.{name.upper()}_PIPE", f"NOVAPAY.RAW.{name.upper()}", route.bucket, route.prefix)
    source = DbtSource(f"source.novapay.{table}", table, f"NOVAPAY.RAW.{name.upper()}", "_loaded_at", None)
    return TableLineage(table, f"debezium-{schema}", f"cdc.{table}", route, pipe, source if dbt else None,
                        exists_at_source=exists)


def found(*tables: TableLineage, unread: frozenset[str] = frozenset()) -> Discovery:
    return Discovery(tables, (), (), unread)


def shipped() -> SentinelConfig:
    return SentinelConfig.model_validate(yaml.safe_load((ROOT / "alert_rules.yaml").read_text()))


def test_a_new_table_only_the_kafka_lag_regex_watches_is_unwatched_after_kafka() -> None:
    checks = [CheckSpec(id="lag", kind="kafka_consumer_lag", params={"groups": ["connect-s3-sink"],
                                                                     "topics": [r"cdc\..*"]})]
    [finding] = coverage(found(lineage("payments.disputes", dbt=False)), checks, PipelineSpec())
    assert finding.key == "unwatched:payments.disputes"
    assert finding.summary == ("payments.disputes reaches NOVAPAY.RAW.DISPUTES; not watched at Debezium, S3, "
                               "Snowpipe, Snowflake raw")
    checks.append(CheckSpec(id="connect", kind="kafka_connect_status", params={"connectors": ["debezium-.*"]}))
    [finding] = coverage(found(lineage("payments.disputes", dbt=False)), checks, PipelineSpec())
    assert finding.summary == "payments.disputes reaches NOVAPAY.RAW.DISPUTES; nothing watches it after Kafka"
    assert finding.hops == ("s3", "snowpipe", "snowflake_raw")


def test_the_shipped_config_watches_every_hop_of_the_captured_tables() -> None:
    spec = shipped()
    tables = [lineage(t) for t in ("payments.transactions", "payments.refunds", "users.merchants")]
    tables.append(lineage("users.api_keys", dbt=False))
    events = SinkRoute("s3-sink-events", "payment.events", "novapay-data-lake", "raw/events/payment.events/",
                       "dt=YYYY-MM-DD", "connect-s3-sink-events")
    tables.append(TableLineage("payment.events", None, "payment.events", events))  # the stream, by its topic
    # Every hop of every captured table and of the event stream is watched (the stream's topic too, by
    # s3_sink_lag_events and cdc_topic_arrival), so discovery finds no gap in the shipped config.
    assert [f.summary for f in coverage(found(*tables), spec.checks, spec.pipeline)] == []
    # the same config does not know payments.disputes
    findings = coverage(found(*tables, lineage("payments.disputes", dbt=False)), spec.checks, spec.pipeline)
    assert [f.summary for f in findings if f.table == "payments.disputes"] == [
        "payments.disputes reaches NOVAPAY.RAW.DISPUTES; nothing watches it after Kafka"]


def test_a_gap_in_the_middle_names_the_unwatched_hops() -> None:
    spec = shipped()
    checks = [c for c in spec.checks if c.kind != "snowpipe_load_history"]
    findings = coverage(found(lineage("payments.refunds")), checks, spec.pipeline, ignore=())
    refunds = [f for f in findings if f.table == "payments.refunds"]
    assert [f.summary for f in refunds] == ["payments.refunds reaches dbt source payments.refunds; not watched at "
                                            "Snowpipe"]


def test_a_changed_sink_folder_is_reported_against_the_recorded_lineage() -> None:
    pipeline = PipelineSpec.model_validate({"tables": {"payments.refunds": {
        "s3_path": "s3://novapay-data-lake/raw/payments/refunds/", "pipe": "NOVAPAY.RAW.REFUNDS_PIPE"}}})
    moved = lineage("payments.refunds", prefix="raw/payments/refunds_v2/")
    findings = coverage(found(moved), shipped().checks, pipeline)
    changed = [f for f in findings if f.kind == "changed"]
    assert [f.summary for f in changed] == [
        "payments.refunds: the pipeline changed under the config: s3_path was "
        "s3://novapay-data-lake/raw/payments/refunds/, is now s3://novapay-data-lake/raw/payments/refunds_v2/"]


def test_configured_tables_that_no_longer_exist_are_gone_unless_connect_was_not_read() -> None:
    pipeline = PipelineSpec.model_validate({"tables": {"payments.transactions": {}, "users.legacy": {}}})
    dropped = lineage("payments.transactions", exists=False)
    findings = {f.key: f.summary for f in coverage(found(dropped), shipped().checks, pipeline)}
    assert findings == {
        "gone:payments.transactions": "payments.transactions is captured by debezium-payments but PostgreSQL has no "
                                      "such table any more (dropped or renamed?)",
        "gone:users.legacy": "users.legacy is configured in the pipeline but no connector captures it and no sink "
                             "carries it any more",
    }
    assert coverage(found(unread=frozenset({"debezium"})), [], pipeline) == []


def test_discovery_reads_the_coverage_checks_own_dbt_location_before_the_dbt_results_one() -> None:
    def spec(kind: str, **params: str) -> CheckSpec:
        return CheckSpec.model_validate({"id": kind, "kind": kind, "params": params})

    dbt = spec("dbt_results", location="s3://artifacts/prod/")
    coverage_check = spec("pipeline_coverage", dbt_location="s3://artifacts/staging/")
    # found on the devstack: with only a coverage check, `sentinel discover` used to read no dbt at all
    assert dbt_location_of([coverage_check]) == "s3://artifacts/staging/"
    assert dbt_location_of([dbt, coverage_check]) == "s3://artifacts/staging/"
    assert dbt_location_of([dbt, spec("pipeline_coverage")]) == "s3://artifacts/prod/"
    assert dbt_location_of(shipped().checks) == "s3://novapay-dbt-artifacts/prod/"
    assert dbt_location_of([]) is None
