"""`sentinel discover --write` on files: adds lineage and checks as new lines only, keeps every comment and line a
person wrote, validates like `sentinel validate`, and a second run adds nothing."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest
import yaml

from sentinel.config.loader import load_config
from sentinel.config.spec import SentinelConfig
from sentinel.discovery.model import DbtSource, Discovery, PipeLoad, SinkRoute, TableLineage
from sentinel.discovery.write import WriteRefused, write_config
from sentinel.plugins import check_registry

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = (ROOT / "alert_rules.yaml").read_text()
NO_LINEAGE = SHIPPED[: SHIPPED.index("# `processed` is the lake's")]


def lineage(table: str, *, dbt: bool = True, dashboards: tuple[str, ...] = ()) -> TableLineage:
    schema, name = table.split(".")
    route = SinkRoute("s3-sink", f"cdc.{table}", "novapay-data-lake", f"raw/{schema}/{name}/", "dt=YYYY-MM-DD",
                      "connect-s3-sink")
    pipe = PipeLoad(f"NOVAPAY.RAW.{name.upper()}_PIPE", f"NOVAPAY.RAW.{name.upper()}", route.bucket, route.prefix)
    source = DbtSource(f"source.novapay.{table}", table, f"NOVAPAY.RAW.{name.upper()}", "_loaded_at", None)
    return TableLineage(table, f"debezium-{schema}", f"cdc.{table}", route, pipe, source if dbt else None,
                        models=("fct_x",) if dbt else (), dashboards=dashboards, exists_at_source=True)


NOVAPAY = Discovery((
    lineage("payments.transactions", dashboards=("Executive Dashboard", "Payments Operations")),
    lineage("payments.refunds", dashboards=("Executive Dashboard", "Payments Operations")),
    lineage("users.merchants", dashboards=("Merchant Health",)),
    lineage("users.api_keys", dbt=False),
), (), ())


def only_added(old: str, new: str) -> bool:
    """Every line of `old` is in `new`, unchanged and in order; `new` only has more lines."""
    ops = difflib.SequenceMatcher(a=old.splitlines(), b=new.splitlines(), autojunk=False).get_opcodes()
    return all(tag in ("equal", "insert") for tag, *_ in ops)


def write(path: Path, found: Discovery, *, dry_run: bool = False) -> str:
    spec = SentinelConfig.model_validate(yaml.safe_load(path.read_text()))
    return write_config(path, found, spec, dry_run=dry_run, dbt_location="s3://novapay-dbt-artifacts/prod/")


def test_write_adds_the_lineage_to_a_config_without_it_keeping_every_line_and_comment(tmp_path: Path) -> None:
    path = tmp_path / "alert_rules.yaml"
    path.write_text(NO_LINEAGE)
    diff = write(path, NOVAPAY)
    new = path.read_text()
    assert only_added(NO_LINEAGE, new)
    assert not [line for line in diff.splitlines()[2:] if line.startswith("-")]
    tables = load_config(path, check_registry()).spec.pipeline.tables
    assert set(tables) == {"payments.transactions", "payments.refunds", "users.merchants", "users.api_keys"}
    tx = tables["payments.transactions"]
    assert (tx.topic, tx.s3_path, tx.pipe, tx.raw_table, tx.dbt_source) == (
        "cdc.payments.transactions", "s3://novapay-data-lake/raw/payments/transactions/",
        "NOVAPAY.RAW.TRANSACTIONS_PIPE", "NOVAPAY.RAW.TRANSACTIONS", "payments.transactions")
    assert tx.dashboards == ["Executive Dashboard", "Payments Operations"]
    # every hop of these tables is already watched by the shipped checks: no check is added
    assert "discovered_" not in new
    # a second run finds nothing missing
    assert write(path, NOVAPAY) == ""


def test_a_new_table_gets_its_entry_and_the_standard_checks_of_its_unwatched_hops(tmp_path: Path) -> None:
    path = tmp_path / "alert_rules.yaml"
    path.write_text(SHIPPED)
    found = Discovery((*NOVAPAY.tables, lineage("payments.disputes", dbt=False)), (), ())
    preview = write(path, found, dry_run=True)
    assert path.read_text() == SHIPPED  # --diff writes nothing
    assert write(path, found) == preview
    new = path.read_text()
    assert only_added(SHIPPED, new)
    config = load_config(path, check_registry())
    assert config.spec.pipeline.tables["payments.disputes"].raw_table == "NOVAPAY.RAW.DISPUTES"
    added = {c.id: c for c in config.spec.checks if c.id.startswith("discovered_")}
    assert added["discovered_snowpipe"].params["targets"] == [
        {"table": "NOVAPAY.RAW.DISPUTES", "pipe": "NOVAPAY.RAW.DISPUTES_PIPE", "source_table": "payments.disputes"}]
    assert added["discovered_s3_novapay_data_lake"].params == {"bucket": "novapay-data-lake",
                                                               "prefixes": ["raw/payments/disputes/"]}
    assert set(added) == {"discovered_snowpipe", "discovered_s3_novapay_data_lake"}  # Kafka and Connect: watched
    assert "# Sentinel production configuration" in new and "# The payment event stream is not captured" in new


def test_a_value_a_person_wrote_is_never_rewritten(tmp_path: Path) -> None:
    path = tmp_path / "alert_rules.yaml"
    path.write_text(NO_LINEAGE + "pipeline:\n  tables:\n    payments.refunds:\n      topic: cdc.payments.refunds_v1"
                                 "   # set by hand\n")
    write(path, NOVAPAY)
    text = path.read_text()
    assert "      topic: cdc.payments.refunds_v1   # set by hand\n" in text
    refunds = load_config(path, check_registry()).spec.pipeline.tables["payments.refunds"]
    assert refunds.topic == "cdc.payments.refunds_v1" and refunds.pipe == "NOVAPAY.RAW.REFUNDS_PIPE"


def test_a_result_that_would_not_validate_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    path = tmp_path / "alert_rules.yaml"
    # a hand-written check naming a runbook that does not exist: any result is invalid, so nothing is written
    path.write_text(NO_LINEAGE.replace("runbook: freshness-sla-breach", "runbook: no-such-runbook", 1))
    with pytest.raises(WriteRefused, match="would not validate"):
        write(path, NOVAPAY)
    assert "pipeline:" not in path.read_text()


def test_checks_and_a_new_pipeline_section_both_added_at_the_end_of_the_file_keep_their_order(tmp_path: Path) -> None:
    path = tmp_path / "alert_rules.yaml"
    path.write_text("version: 1\nchecks:\n  # watched by hand\n  - id: dbt\n    kind: dbt_results\n"
                    "    params: {location: s3://novapay-dbt-artifacts/prod/, cadence: 15m}\n")
    write(path, NOVAPAY)
    config = load_config(path, check_registry())
    assert {c.id for c in config.spec.checks} >= {"dbt", "discovered_snowpipe", "discovered_connectors"}
    assert len(config.spec.pipeline.tables) == 4
    assert path.read_text().index("discovered_snowpipe") < path.read_text().index("pipeline:")


EVENTS = TableLineage("payment.events", None, "payment.events",
                      SinkRoute("s3-sink-events", "payment.events", "novapay-data-lake", "raw/events/payment.events/",
                                "dt=YYYY-MM-DD", "connect-s3-sink-events", r"payment\.events"))


def test_from_the_shipped_config_without_lineage_the_result_matches_it_up_to_the_explained_differences(
        tmp_path: Path) -> None:
    path = tmp_path / "alert_rules.yaml"
    path.write_text(NO_LINEAGE)
    write(path, Discovery((*NOVAPAY.tables, EVENTS), (), ()))
    got = load_config(path, check_registry()).spec.pipeline.tables
    want = SentinelConfig.model_validate(yaml.safe_load(SHIPPED)).pipeline.tables
    # the stream is named by its topic: no system calls it events.payment_events
    assert set(got) ^ set(want) == {"payment.events", "events.payment_events"}
    for name in set(got) & set(want):
        assert got[name].dashboards == want[name].dashboards, name
        assert got[name].slas == [] and got[name].stages is None  # SLAs are promises, not facts a system holds
    assert got["payment.events"].stages == ["kafka", "s3_sink", "s3"]  # no pipe loads it on this stack


def test_an_existing_stream_entry_is_recognised_by_its_topic_and_only_gains_the_lineage_fields(tmp_path: Path) -> None:
    path = tmp_path / "alert_rules.yaml"
    path.write_text(SHIPPED)
    write(path, Discovery((*NOVAPAY.tables, EVENTS), (), ()))
    tables = load_config(path, check_registry()).spec.pipeline.tables
    assert "payment.events" not in tables
    events = tables["events.payment_events"]
    assert (events.topic, events.s3_path) == ("payment.events", "s3://novapay-data-lake/raw/events/payment.events/")
    assert events.stages == ["kafka", "s3_sink", "s3", "looker"]  # as the person wrote it
