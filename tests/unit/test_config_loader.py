"""alert_rules.yaml validation: every problem at once, with line, path and a suggestion."""

from __future__ import annotations

from pathlib import Path

import pytest

from sentinel.config.loader import load_config
from sentinel.errors import ConfigErrors
from sentinel.plugins import check_registry


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "alert_rules.yaml"
    path.write_text(text)
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigErrors) as info:
        load_config(path, check_registry())
    return [str(p) for p in info.value.problems]


GOOD = """
checks:
  - id: slot_wal
    kind: sql_threshold
    schedule: {every: 1m}
    timeout: 10s
    labels: {table: payments.transactions, stage: debezium}
    params:
      query: SELECT 1
      value_name: retained_wal_bytes
      warning: 100
      critical: 1000
"""


def test_valid_config_loads_with_typed_params(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD), check_registry())
    assert [c.id for c in config.spec.checks] == ["slot_wal"]
    assert config.spec.checks[0].timeout.total_seconds() == 10
    assert config.params["slot_wal"].critical == 1000  # type: ignore[attr-defined]


def test_every_error_is_reported_at_once_with_line_and_path(tmp_path: Path) -> None:
    text = """checks:
  - id: a
    kind: sql_treshold
    params: {query: SELECT 1, warning: 1}
  - id: b
    kind: sql_threshold
    schedul: {every: 1m}
    params: {query: SELECT 1, warning: lots}
  - id: c
    kind: sql_threshold
    schedule: {cron: "0 0 30 2 *"}
    timeout: 30
    params: {query: SELECT 1, critical: 5}
"""
    found = problems(write(tmp_path, text))
    joined = "\n".join(found)
    assert len(found) == 5, joined
    assert 'alert_rules.yaml:3 at checks[0].kind: unknown check kind \'sql_treshold\' (did you mean "sql_threshold"?)' in joined
    assert "known kinds:" in joined
    assert "alert_rules.yaml:7 at checks[1].schedul: unknown key 'schedul' (did you mean \"schedule\"?)" in joined
    assert "alert_rules.yaml:8 at checks[1].params.warning: check 'b'" in joined and "'lots'" in joined
    assert "alert_rules.yaml:11 at checks[2].schedule" in joined and "never fires" in joined
    assert "alert_rules.yaml:12 at checks[2].timeout" in joined and "unit" in joined


def test_malformed_yaml_names_the_line(tmp_path: Path) -> None:
    found = problems(write(tmp_path, "checks:\n  - id: a\n    kind: [unclosed\n"))
    assert len(found) == 1
    assert "malformed YAML" in found[0] and "alert_rules.yaml:" in found[0]


def test_yaml_tags_that_construct_objects_are_refused(tmp_path: Path) -> None:
    found = problems(write(tmp_path, "checks: !!python/object/apply:os.system ['true']\n"))
    assert "malformed YAML" in found[0]


def test_duplicate_ids_and_dangling_references(tmp_path: Path) -> None:
    text = GOOD + """
  - id: slot_wal
    kind: sql_threshold
    params: {query: SELECT 1, warning: 1}
rules:
  - id: r1
    checks: [slot_wall]
    runbook: debezium-replication-slot
    route: pagr
routes:
  - name: page
    receivers: [slak]
"""
    joined = "\n".join(problems(write(tmp_path, text)))
    # The duplicate itself (line 14), not the `checks:` line; the dangling references are listed with it.
    assert "alert_rules.yaml:14 at checks[1].id: duplicate checks id 'slot_wal' (first defined at checks[0], line 3)" \
        in joined
    assert "unknown check id 'slot_wall'" in joined and "unknown route 'pagr'" in joined


def test_dangling_references_suggest_the_closest_name(tmp_path: Path) -> None:
    text = GOOD + """rules:
  - id: r1
    checks: [slot_wall]
    runbook: debezium-replication-slot
    route: pagr
notifiers:
  - {name: slack, kind: slack}
routes:
  - name: page
    receivers: [slak]
"""
    joined = "\n".join(problems(write(tmp_path, text)))
    assert "rules[0].checks[0]: unknown check id 'slot_wall' (did you mean \"slot_wal\"?)" in joined
    assert "rules[0].route: unknown route 'pagr' (did you mean \"page\"?)" in joined
    assert "routes[0].receivers[0]: unknown receiver 'slak' (did you mean \"slack\"?)" in joined


def test_a_check_reading_another_checks_memory_must_name_one_of_the_right_kind(tmp_path: Path) -> None:
    text = GOOD + """
  - id: volume
    kind: volume_anomaly
    params:
      tables:
        - {table: payments.transactions, reconciliation: {check: slot_wall}}
        - {table: payments.refunds, reconciliation: {check: slot_wal}}
"""
    joined = "\n".join(problems(write(tmp_path, text)))
    assert ("alert_rules.yaml:18 at checks[1].params.tables[0].reconciliation.check: unknown check id 'slot_wall' "
            "(did you mean \"slot_wal\"?)") in joined
    assert ("alert_rules.yaml:19 at checks[1].params.tables[1].reconciliation.check: check 'slot_wal' is a "
            "sql_threshold, not a row_reconciliation") in joined


def test_missing_file_is_one_clear_error(tmp_path: Path) -> None:
    found = problems(tmp_path / "nope.yaml")
    assert found == [f"{tmp_path / 'nope.yaml'}: file not found (set SENTINEL_CONFIG_FILE or pass the path)"]


def test_the_shipped_alert_rules_yaml_is_valid() -> None:
    root = Path(__file__).resolve().parents[2]
    config = load_config(root / "alert_rules.yaml", check_registry())
    assert config.spec.checks, "the production config defines checks"


def test_the_shipped_config_watches_the_lake_as_novapay_documents_it() -> None:
    """Issue 20: s3://novapay-data-lake with the documented prefixes; archive/ deliberately unwatched."""
    root = Path(__file__).resolve().parents[2]
    config = load_config(root / "alert_rules.yaml", check_registry())
    s3 = [c for c in config.spec.checks if c.kind == "s3_partition_arrival"]
    assert {c.params["bucket"] for c in s3} == {"novapay-data-lake"}
    prefixes = {p for c in s3 for p in c.params["prefixes"]}
    assert prefixes == {"raw/payments/transactions/", "raw/payments/refunds/", "raw/users/merchants/",
                        "raw/users/api_keys/", "raw/events/payment.events/", "processed/daily_transaction_summary/",
                        "processed/merchant_analytics/"}
    assert not any(p.startswith("archive/") for p in prefixes)
    assert "archive/" in (root / "alert_rules.yaml").read_text()  # the comment saying why it is not watched
    daily = next(c for c in s3 if "processed/daily_transaction_summary/" in c.params["prefixes"])
    assert daily.params["mode"] == "daily"
    sla = next(s for s in config.spec.slas if s.check == daily.id)
    assert sla.kind == "deadline" and sla.finding == "processed/daily_transaction_summary/"
    assert "events.payment_events" in config.spec.pipeline.tables


def test_the_shipped_looker_check_watches_every_dashboard_of_the_lineage() -> None:
    """Issue 20: the Looker findings name the dashboards the lineage says depend on each table."""
    root = Path(__file__).resolve().parents[2]
    config = load_config(root / "alert_rules.yaml", check_registry())
    (looker,) = [c for c in config.spec.checks if c.kind == "looker"]
    by_table: dict[str, set[str]] = {}
    for d in looker.params["dashboards"]:
        for table in d["tables"]:
            by_table.setdefault(table, set()).add(d["title"])
    lineage = {t: set(spec.dashboards) for t, spec in config.spec.pipeline.tables.items() if spec.dashboards}
    assert by_table == lineage
    assert "looker" in config.spec.pipeline.stages


def test_anchors_and_merge_keys_are_not_duplicates(tmp_path: Path) -> None:
    text = """checks:
  - &base
    id: a
    kind: sql_threshold
    timeout: 10s
    params: {query: SELECT 1, warning: 1}
  - <<: *base
    id: b
    timeout: 20s
"""
    config = load_config(write(tmp_path, text), check_registry())
    assert [(c.id, c.timeout.total_seconds()) for c in config.spec.checks] == [("a", 10), ("b", 20)]


def test_a_report_only_config_validates_but_check_once_refuses_to_run_nothing(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from sentinel.cli import main

    path = write(tmp_path, "checks: []\nreport: {to: [data@novapay.example]}\n")
    env = {"SENTINEL_CONFIG_FILE": str(path), "SENTINEL_STATE_PATH": str(tmp_path / "s.db"),
           "SENTINEL_SECRETS_DIR": str(tmp_path / "none")}
    validated = CliRunner().invoke(main, ["validate"], env=env)
    assert validated.exit_code == 0 and "note:" in validated.output and "no enabled checks" in validated.output
    ran = CliRunner().invoke(main, ["check", "--once", "--no-notify"], env=env)
    assert ran.exit_code == 4 and "has no enabled checks, so there is nothing to run" in ran.output


def test_integers_keep_yaml_1_1_meaning(tmp_path: Path) -> None:
    # Plain decimals take a short cut in the reader; octal, underscores, signs and sexagesimal must not.
    from sentinel.config.yaml_source import read_yaml

    path = tmp_path / "numbers.yaml"
    path.write_text("a: 0\nb: 12\nc: 012\nd: 1_000\ne: +5\nf: -7\ng: 1:30\nh: 0x1f\n")
    assert read_yaml(path).data == {"a": 0, "b": 12, "c": 10, "d": 1000, "e": 5, "f": -7, "g": 90, "h": 31}


def test_the_fast_reader_gives_the_node_readers_data_or_hands_over(tmp_path: Path) -> None:
    # A valid file is read straight from the parser's events; anything whose problems need line numbers (or that
    # only the node tree handles) goes to the node reader, so messages stay the same.
    from sentinel.config.yaml_source import read_yaml, read_yaml_fast

    path = tmp_path / "plain.yaml"
    path.write_text("a: 012\nb: 1:30\nc: 2026-11-25T10:00:00Z\nd: 'x'\ne: |\n  two\n  lines\nf: [1, {g: ~}]\n6: six\n"
                    "h: .inf\ni: No\n")
    fast = read_yaml_fast(path)
    assert fast is not None and fast.data == read_yaml(path).data and not fast.has_lines
    for text in ("a: 1\na: 2\n", "x: &v 1\ny: *v\n", "a: !!str 5\n", "token: abc\n", "- {b: 1\n", "a: 1\n---\nb: 2\n",
                 "dsn: postgresql://u:pw@h/db\n"):
        path.write_text(text)
        assert read_yaml_fast(path) is None, text
