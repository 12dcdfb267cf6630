"""`sentinel doctor`'s discovery lines: each system discovery reads is ok or one problem naming the grant it lacks,
and a hop that a missing grant hides (a stage, an explore) is a problem too, not a quiet end of the lineage."""

from __future__ import annotations

from pathlib import Path

from sentinel.config.loader import load_config
from sentinel.discovery.model import Observed, PipeLoad, Unresolved
from sentinel.discovery.read import READ_ORDER
from sentinel.doctor.discovery import GRANTS, lines_for
from sentinel.doctor.needs import collect
from sentinel.plugins import check_registry

SYSTEMS = ("Kafka Connect: 3 connector(s) (0.1s)", "PostgreSQL default: not read (0.1s)", "Kafka: not read (0.0s)",
           "Snowflake: 1 pipe(s) with an S3 stage (0.2s)", "dbt: not read (0.0s)", "Looker: 2 dashboard(s) (0.1s)")
assert len(SYSTEMS) == len(READ_ORDER)


def observed() -> Observed:
    obs = Observed(pipes=[PipeLoad("NOVAPAY.RAW.TRANSACTIONS_PIPE", "NOVAPAY.RAW.TRANSACTIONS", "lake", "raw/")])
    obs.unresolved += [
        Unresolved("postgres", "PostgreSQL default", 'permission denied for database "novapay"'),
        Unresolved("kafka", "Kafka", "the broker did not answer in 10s"),
        Unresolved("dbt", "dbt", "no dbt artifacts location: give --dbt-location or configure a dbt_results check"),
        Unresolved("snowpipe", "NOVAPAY.RAW.OLD_PIPE", "its stage NOVAPAY.RAW.OLD_STAGE is not visible: it was dropped,"
                   " or Sentinel's role lacks USAGE on it (GRANT USAGE ON STAGE NOVAPAY.RAW.OLD_STAGE TO ROLE ...)"),
        Unresolved("looker", "Merchant Health: novapay::merchants", "HTTP 403 on GET /lookml_models (hint: see_lookml)"),
        Unresolved("snowpipe", "NOVAPAY.RAW.ADHOC_PIPE", "its definition is not COPY INTO <table> FROM @<stage>"),
    ]
    obs.unread |= {"postgres", "kafka", "dbt"}
    return obs


def test_each_system_read_is_an_ok_line_and_each_failed_read_a_problem_naming_the_grant() -> None:
    lines = lines_for(observed(), SYSTEMS, "alert_rules.yaml:12 (checks[3].params)")
    by_component = {(x.level, x.component): x for x in lines}
    assert [x.message for x in lines if x.level == "ok"] == [SYSTEMS[0], SYSTEMS[3], SYSTEMS[5]]
    pg = by_component[("problem", "discovery PostgreSQL")]
    assert 'permission denied for database "novapay"' in pg.message
    assert pg.fix.startswith("GRANT CONNECT ON DATABASE") and "deploy/grants/postgres.sql" in pg.fix
    assert by_component[("problem", "discovery Kafka")].fix == GRANTS["kafka"]
    assert by_component[("problem", "discovery dbt")].fix == "set dbt_location at alert_rules.yaml:12 (checks[3].params)"


def test_a_stage_or_explore_hidden_by_a_missing_grant_is_a_problem_with_the_exact_grant() -> None:
    lines = lines_for(observed(), SYSTEMS, "-")
    stage = next(x for x in lines if x.component == "discovery Snowflake")
    assert stage.level == "problem" and "NOVAPAY.RAW.OLD_PIPE" in stage.message
    assert stage.fix.startswith("GRANT USAGE ON STAGE NOVAPAY.RAW.OLD_STAGE TO ROLE SENTINEL_MONITOR")
    looker = next(x for x in lines if x.component == "discovery Looker")
    assert "HTTP 403" in looker.message and "see_lookml" in looker.fix
    assert not [x for x in lines if "ADHOC_PIPE" in x.message]  # not a grant: `sentinel discover` reports it


def test_no_visible_pipe_at_all_is_a_warning_naming_monitor_and_usage() -> None:
    obs = Observed()
    lines = lines_for(obs, SYSTEMS, "-")
    [warning] = [x for x in lines if x.level == "warning"]
    assert "SHOW PIPES lists no pipe" in warning.message and "GRANT MONITOR ON PIPE" in warning.fix
    assert all(x.level == "ok" for x in lines if x is not warning)


def test_a_coverage_check_makes_doctor_probe_discovery_with_the_dbt_location_discovery_reads(tmp_path: Path) -> None:
    path = tmp_path / "alert_rules.yaml"
    path.write_text("version: 1\nchecks:\n  - id: dbt\n    kind: dbt_results\n"
                    "    params: {location: s3://artifacts/prod/, cadence: 15m}\n"
                    "  - id: coverage\n    kind: pipeline_coverage\n    params: {}\n")
    [need] = collect(load_config(path, check_registry())).discovery
    assert (need.value, need.check_id, need.loc) == ("s3://artifacts/prod/", "coverage", ("checks", 1, "params"))
    path.write_text("version: 1\nchecks:\n  - id: dbt\n    kind: dbt_results\n"
                    "    params: {location: s3://artifacts/prod/, cadence: 15m}\n")
    assert collect(load_config(path, check_registry())).discovery == []  # no coverage check: nothing to probe
