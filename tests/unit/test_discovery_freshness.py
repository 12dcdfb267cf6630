"""`sentinel discover --write` turns each dbt source's loaded_at_field into a warehouse_freshness target on the raw
table, with the thresholds dbt's source freshness declares, else named defaults the reviewer is told to replace."""

from __future__ import annotations

from pathlib import Path

import yaml

from sentinel.config.loader import load_config
from sentinel.config.spec import SentinelConfig
from sentinel.discovery.model import DbtSource, Discovery, PipeLoad, SinkRoute, TableLineage
from sentinel.discovery.plan import DEFAULT_FRESHNESS, plan
from sentinel.discovery.write import write_config
from sentinel.plugins import check_registry

DBT = "s3://novapay-dbt-artifacts/prod/"
CONFIG = f"""version: 1
checks:
  - id: dbt
    kind: dbt_results
    params: {{location: "{DBT}", cadence: 15m}}
"""


def lineage(table: str, *, loaded_at: str | None = "_loaded_at", warn: str | None = None,
            error: str | None = None) -> TableLineage:
    schema, name = table.split(".")
    route = SinkRoute("s3-sink", f"cdc.{table}", "novapay-data-lake", f"raw/{schema}/{name}/", "dt=YYYY-MM-DD",
                      "connect-s3-sink")
    pipe = PipeLoad(f"NOVAPAY.RAW.{name.upper()}_PIPE", f"NOVAPAY.RAW.{name.upper()}", route.bucket, route.prefix)
    # the dbt relation names another database (a dev target): the check reads the table the pipe loads
    source = DbtSource(f"source.novapay.{table}", table, f"DEV.RAW.{name.upper()}", loaded_at, None, warn, error)
    return TableLineage(table, f"debezium-{schema}", f"cdc.{table}", route, pipe, source, exists_at_source=True)


def targets(config: str, *tables: TableLineage) -> tuple[list[dict[str, object]], list[str]]:
    spec = SentinelConfig.model_validate(yaml.safe_load(config))
    added = plan(Discovery(tables, (), ()), spec, dbt_location=DBT)
    fresh = [c for c in added.checks if c.get("kind") == "warehouse_freshness"]
    return ([t for c in fresh for t in c["params"]["tables"]], added.notes)


def test_dbt_declared_freshness_becomes_the_thresholds_of_the_raw_table() -> None:
    [target], notes = targets(CONFIG, lineage("payments.transactions", warn="30m", error="2h"))
    assert target == {"table": "NOVAPAY.RAW.TRANSACTIONS", "column": "_loaded_at", "warn_after": "30m",
                      "critical_after": "2h", "source_table": "payments.transactions", "stage": "snowflake_raw"}
    assert not [n for n in notes if "freshness" in n]


def test_without_declared_freshness_the_defaults_are_used_and_named_for_the_reviewer() -> None:
    [target], notes = targets(CONFIG, lineage("users.merchants"))
    assert (target["warn_after"], target["critical_after"]) == DEFAULT_FRESHNESS
    [note] = notes
    assert "users.merchants" in note and "declares no freshness" in note
    assert f"warn_after {DEFAULT_FRESHNESS[0]}, critical_after {DEFAULT_FRESHNESS[1]}" in note


def test_only_error_after_declared_gives_only_the_critical_threshold() -> None:
    [target], _ = targets(CONFIG, lineage("payments.refunds", error="1d"))
    assert target["critical_after"] == "1d" and "warn_after" not in target


def test_a_warning_later_than_the_error_is_dropped_with_a_note_so_the_config_still_validates() -> None:
    [target], notes = targets(CONFIG, lineage("payments.refunds", warn="3h", error="1h"))
    assert target["critical_after"] == "1h" and "warn_after" not in target
    assert any("warns after 3h, later than its error_after 1h" in n for n in notes)


def test_no_loaded_at_field_or_an_expression_adds_no_target() -> None:
    found, notes = targets(CONFIG, lineage("users.api_keys", loaded_at=None),
                           lineage("users.merchants", loaded_at="convert_timezone('UTC', _loaded_at)"))
    assert found == []
    assert any("is an expression, not a column" in n for n in notes)


def test_a_raw_table_a_freshness_check_already_reads_gets_no_second_target() -> None:
    config = CONFIG + """  - id: fresh
    kind: warehouse_freshness
    params:
      tables: [{table: RAW.TRANSACTIONS, column: _loaded_at, critical_after: 15m}]
"""
    found, _ = targets(config, lineage("payments.transactions", warn="30m", error="2h"),
                       lineage("payments.refunds", warn="30m", error="2h"))
    assert [t["table"] for t in found] == ["NOVAPAY.RAW.REFUNDS"]


def test_written_freshness_checks_validate_and_a_second_run_adds_nothing(tmp_path: Path) -> None:
    path = tmp_path / "alert_rules.yaml"
    path.write_text(CONFIG)
    tables = (lineage("payments.transactions", warn="30m", error="2h"), lineage("users.merchants"))
    found = Discovery(tables, (), ())

    def write() -> str:
        spec = SentinelConfig.model_validate(yaml.safe_load(path.read_text()))
        return write_config(path, found, spec, dry_run=False, dbt_location=DBT)

    diff = write()
    assert "note: users.merchants: dbt source users.merchants declares no freshness" in diff
    config = load_config(path, check_registry())
    [fresh] = [c for c in config.spec.checks if c.kind == "warehouse_freshness"]
    assert [t["table"] for t in fresh.params["tables"]] == ["NOVAPAY.RAW.TRANSACTIONS", "NOVAPAY.RAW.MERCHANTS"]
    assert fresh.labels["stage"] == "snowflake_raw"
    again = write()
    assert "+" not in "".join(line[:1] for line in again.splitlines())  # only notes, no added line
