"""Pure parts of dbt_results: artifact parsing and versions, findings from plain artifacts, tracking across runs.
(The same behaviour against artifacts written by real dbt is in tests/integration/test_dbt_results.py.)"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sentinel_checks.dbt_results import DbtResultsParams, evaluate, first_line, trim_sql

from sentinel.api import Status
from sentinel.sources.dbt_artifacts import DbtArtifacts
from sentinel.sources.dbt_manifest import parse_manifest
from sentinel.sources.dbt_parse import ArtifactError, parse_run_results, parse_sources

T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
SCHEMA = "https://schemas.getdbt.com/dbt/{}/v{}.json"


def meta(kind: str, version: int, at: datetime, invocation: str) -> dict[str, Any]:
    return {"dbt_schema_version": SCHEMA.format(kind, version), "dbt_version": "1.11.16",
            "generated_at": at.isoformat().replace("+00:00", "Z"), "invocation_id": invocation}


def node(uid: str, **extra: Any) -> dict[str, Any]:
    kind, _, name = uid.split(".", 2)
    return {"unique_id": uid, "name": name.split(".")[0], "resource_type": kind, "schema": "analytics",
            "alias": name, "config": {"severity": "ERROR" if kind == "test" else None}, "tags": [], "meta": {},
            "original_file_path": f"models/{name}.sql", **extra}


def manifest(*, child_map: bool = True) -> dict[str, Any]:
    nodes = {
        "model.p.stg_tx": node("model.p.stg_tx", config={"meta": {"owner": "payments@x"}}, group="payments"),
        "model.p.fct_tx": node("model.p.fct_tx", depends_on={"nodes": ["model.p.stg_tx"]}),
        "model.p.fct_daily": node("model.p.fct_daily", depends_on={"nodes": ["model.p.fct_tx"]}),
        "test.p.not_null_fct_tx_id.abc": node("test.p.not_null_fct_tx_id.abc", attached_node="model.p.fct_tx",
                                               depends_on={"nodes": ["model.p.fct_tx"]}),
        "unit_test.p.fct_tx.test_amounts": {"unique_id": "unit_test.p.fct_tx.test_amounts", "name": "test_amounts",
                                             "resource_type": "unit_test", "model": "fct_tx",
                                             "depends_on": {"nodes": ["model.p.fct_tx"]}},
        "operation.p.on-run-start-0": node("operation.p.on-run-start-0"),
    }
    data: dict[str, Any] = {
        "metadata": meta("manifest", 12, T0, "inv"), "nodes": nodes,
        "sources": {"source.p.payments.transactions": {
            "unique_id": "source.p.payments.transactions", "name": "transactions", "source_name": "payments",
            "resource_type": "source", "meta": {"owner": "platform@x"}, "tags": ["cdc"]}},
        "exposures": {"exposure.p.exec": {"name": "exec", "label": "Executive Dashboard", "type": "dashboard",
                                          "url": "https://looker/12", "owner": {"name": "Finance", "email": "f@x"},
                                          "depends_on": {"nodes": ["model.p.fct_daily"]}}},
        "groups": {"group.p.payments": {"name": "payments", "owner": {"name": "Payments", "email": "payments@x"}}},
        "macros": {"macro.dbt.x": {"a": 1}},
        "some_future_section": {"z": [1, 2]},
    }
    if child_map:
        data["parent_map"] = {
            "model.p.stg_tx": ["source.p.payments.transactions"], "model.p.fct_tx": ["model.p.stg_tx"],
            "model.p.fct_daily": ["model.p.fct_tx"], "test.p.not_null_fct_tx_id.abc": ["model.p.fct_tx"],
            "unit_test.p.fct_tx.test_amounts": ["model.p.fct_tx"],
        }
        data["child_map"] = {
            "source.p.payments.transactions": ["model.p.stg_tx"], "model.p.stg_tx": ["model.p.fct_tx"],
            "model.p.fct_tx": ["model.p.fct_daily", "test.p.not_null_fct_tx_id.abc"],
            "model.p.fct_daily": ["exposure.p.exec"],
        }
    return data


def result(uid: str, status: str, **extra: Any) -> dict[str, Any]:
    return {"unique_id": uid, "status": status, "message": None, "failures": None, "execution_time": 0.1,
            "compiled_code": None, "relation_name": None, "new_field_from_the_future": 1, **extra}


def run_results(at: datetime, invocation: str, results: list[dict[str, Any]], version: int = 6) -> dict[str, Any]:
    return {"metadata": meta("run-results", version, at, invocation), "results": results, "elapsed_time": 12.5,
            "args": {"which": "build"}}


def artifacts(rr: dict[str, Any], man: dict[str, Any] | None = None,
              sources: dict[str, Any] | None = None) -> DbtArtifacts:
    """Artifacts of one invocation, as dbt writes them: the manifest carries the run's invocation_id."""
    man = man or manifest()
    man["metadata"] = {**man["metadata"], "invocation_id": rr["metadata"]["invocation_id"]}
    return DbtArtifacts(
        "/dbt/target", "/dbt/target",
        parse_run_results(json.dumps(rr).encode(), "/dbt/target/run_results.json"),
        parse_manifest(json.dumps(man).encode(), "/dbt/target/manifest.json"),
        parse_sources(json.dumps(sources).encode(), "/dbt/target/sources.json") if sources else None,
    )


PARAMS = DbtResultsParams(location="/dbt/target")


# ------------------------------------------------------------------ parsing and versions


@pytest.mark.parametrize(("kind", "parse", "version"), [
    ("run-results", parse_run_results, 5), ("run-results", parse_run_results, 7),
    ("manifest", parse_manifest, 11), ("sources", parse_sources, 2),
])
def test_unsupported_versions_name_the_file_and_the_version_found(kind: str, parse: Any, version: int) -> None:
    raw = json.dumps({"metadata": meta(kind, version, T0, "i"), "results": [], "nodes": {}}).encode()
    with pytest.raises(ArtifactError) as err:
        parse(raw, f"s3://b/p/{kind}.json")
    assert f"s3://b/p/{kind}.json" in str(err.value)
    assert f"unsupported version {kind} v{version} (dbt 1.11.16)" in str(err.value)


def test_malformed_json_and_wrong_artifacts_are_errors() -> None:
    with pytest.raises(ArtifactError, match=r"dbt artifact /t/run_results.json: malformed JSON .*version: unknown"):
        parse_run_results(b'{"metadata": {', "/t/run_results.json")
    with pytest.raises(ArtifactError, match=r"is not a dbt run-results artifact .*manifest/v12"):
        parse_run_results(json.dumps(manifest()).encode(), "/t/run_results.json")
    with pytest.raises(ArtifactError, match=r"no metadata\.dbt_schema_version"):
        parse_manifest(b"{}", "/t/manifest.json")
    with pytest.raises(ArtifactError, match="expected a JSON object"):
        parse_sources(b"[1]", "/t/sources.json")
    with pytest.raises(ArtifactError, match="generated_at is missing"):
        parse_run_results(json.dumps({"metadata": {"dbt_schema_version": SCHEMA.format("run-results", 6)}}).encode(),
                          "/t/run_results.json")


def test_sources_json_with_thresholds_and_runtime_errors() -> None:
    parsed = parse_sources(json.dumps({"metadata": meta("sources", 3, T0, "f"), "results": [
        {"unique_id": "source.p.payments.transactions", "status": "warn", "max_loaded_at": "2026-11-25T09:00:00",
         "snapshotted_at": "2026-11-25T10:00:00+00:00", "max_loaded_at_time_ago_in_s": 3600.0,
         "criteria": {"warn_after": {"count": 30, "period": "minute"}, "error_after": {"count": None, "period": None},
                      "filter": "dt > current_date - 1"}},
        {"unique_id": "source.p.users.merchants", "status": "runtime error", "error": "Database Error: no table"},
    ]}).encode(), "sources.json")
    warn, broken = parsed.results
    assert warn.warn_after == timedelta(minutes=30) and warn.error_after is None
    assert warn.max_loaded_at == datetime(2026, 11, 25, 9, tzinfo=UTC)  # naive means UTC
    assert broken.status == "runtime error" and broken.error == "Database Error: no table"


def test_message_first_line_and_sql_trimming() -> None:
    msg = "Runtime Error in model x (models/x.sql)\n  Conversion Error: bad int\n  \n  LINE 1: select"
    assert first_line(msg) == "Conversion Error: bad int"
    assert first_line("Got 3 results, configured to fail if != 0") == "Got 3 results, configured to fail if != 0"
    assert first_line(None) == ""
    sql = "select 1 -- " + "x" * 500
    trimmed = trim_sql(sql, 200)
    assert trimmed.startswith(sql[:200]) and "trimmed 312 more characters" in trimmed


# ------------------------------------------------------------------ findings


def test_findings_cover_unit_tests_hooks_test_errors_and_source_runtime_errors() -> None:
    rr = run_results(T0, "inv1", [
        result("operation.p.on-run-start-0", "error", message="Database Error in hook: permission denied"),
        result("unit_test.p.fct_tx.test_amounts", "fail", message="actual differs from expected", failures=2),
        result("test.p.not_null_fct_tx_id.abc", "error", message="Runtime Error in test x (a.yml)\n  column id missing",
               compiled_code="select id from fct_tx where id is null"),
        result("model.p.fct_tx", "success"), result("model.p.fct_daily", "skipped"),
        result("exposure.p.exec", "skipped"),
    ])
    src = {"metadata": meta("sources", 3, T0, "f1"), "results": [
        {"unique_id": "source.p.payments.transactions", "status": "runtime error", "error": "Database Error: gone"}]}
    ev = evaluate(artifacts(rr, sources=src), PARAMS, T0 + timedelta(minutes=1))
    found = {f.key: f for f in ev.findings}
    assert set(found) == {"dbt_not_running", "operation.p.on-run-start-0", "unit_test.p.fct_tx.test_amounts",
                          "test.p.not_null_fct_tx_id.abc", "model.p.fct_daily", "source.p.payments.transactions"}
    assert found["unit_test.p.fct_tx.test_amounts"].labels["model"] == "fct_tx"
    errored = found["test.p.not_null_fct_tx_id.abc"]
    assert errored.status is Status.CRITICAL and "errored: column id missing" in errored.summary
    assert "feeds Executive Dashboard" in errored.summary  # fct_tx -> fct_daily -> exposure, transitively
    assert errored.labels["table"] == "payments.transactions"  # fct_tx <- stg_tx <- source payments.transactions
    assert errored.labels["relation"] == "analytics.fct_tx"
    # fct_daily was skipped with no failed model upstream, but fct_tx's test errored: that is the cause.
    assert found["model.p.fct_daily"].details["upstream_failures"] == "test.p.not_null_fct_tx_id.abc"
    assert "could not run: Database Error: gone" in found["source.p.payments.transactions"].summary
    assert found["source.p.payments.transactions"].labels["owner"] == "platform@x"
    assert ev.status is Status.CRITICAL


def test_owner_falls_back_to_the_group_owner_and_graph_works_without_child_map() -> None:
    rr = run_results(T0, "inv1", [result("model.p.stg_tx", "error", message="boom")])
    man = manifest(child_map=False)
    man["nodes"]["model.p.stg_tx"]["config"]["meta"] = {}
    ev = evaluate(artifacts(rr, man), PARAMS, T0)
    stg = next(f for f in ev.findings if f.key == "model.p.stg_tx")
    assert stg.labels["owner"] == "Payments <payments@x>" and stg.labels["group"] == "payments"
    assert "feeds Executive Dashboard" in stg.summary


def test_all_green_run_is_ok_with_a_plain_summary() -> None:
    rr = run_results(T0, "inv1", [result("model.p.fct_tx", "success"), result("test.p.not_null_fct_tx_id.abc", "pass")])
    ev = evaluate(artifacts(rr), PARAMS, T0 + timedelta(minutes=5))
    assert ev.status is Status.OK
    assert ev.summary == "dbt run of 2026-11-25 10:00 UTC (5m ago): all 2 nodes OK"
    # the captured table the model is built from is measured at the dbt stage (the status view shows it)
    assert [f.key for f in ev.findings] == ["dbt_not_running", "table:payments.transactions"]
    passing = ev.findings[1]
    assert passing.status is Status.OK and passing.labels == {"stage": "dbt", "table": "payments.transactions"}
    assert passing.summary == "payments.transactions: the 1 dbt model(s) built from it passed in the run of 2026-11-25 10:00 UTC"


def test_stopped_running_uses_cadence_plus_slack() -> None:
    rr = run_results(T0, "inv1", [result("model.p.fct_tx", "success")])
    assert evaluate(artifacts(rr), PARAMS, T0 + timedelta(minutes=25)).status is Status.OK
    late = evaluate(artifacts(rr), PARAMS, T0 + timedelta(minutes=25, seconds=1))
    assert late.status is Status.CRITICAL and late.summary.startswith("dbt stopped running")
    assert late.findings[0].details["runbook"] == "dbt-not-running"


def test_a_long_cadence_reports_the_age_it_accepts_not_that_dbt_is_running() -> None:
    rr = run_results(T0, "inv1", [result("model.p.fct_tx", "success")])
    relaxed = DbtResultsParams(location="/dbt/target", cadence="10d")
    ev = evaluate(artifacts(rr), relaxed, T0 + timedelta(days=8))
    assert ev.status is Status.OK
    stale = ev.findings[0]
    assert "dbt is running" not in stale.summary
    assert stale.summary.startswith("newest dbt artifact 8d00h old, within the 10d00h allowed")


def test_run_level_findings_are_separate_alerts() -> None:
    at = T0
    future = evaluate(artifacts(run_results(at + timedelta(hours=2), "inv1", [result("model.p.fct_tx", "success")])),
                      PARAMS, at)
    assert {f.key for f in future.findings} == {"dbt_not_running", "dbt_clock_ahead", "table:payments.transactions"}
    assert "(2h00m in the future!)" in future.summary and future.status is Status.WARN
    slightly_ahead = evaluate(artifacts(run_results(at + timedelta(minutes=2), "inv1",
                                                    [result("model.p.fct_tx", "success")])), PARAMS, at)
    assert slightly_ahead.status is Status.OK, "a dbt host a little ahead (NTP drift) is not a problem"

    man = manifest()
    mixed = artifacts(run_results(at, "inv1", [result("model.p.fct_tx", "success")]), man)
    mixed.manifest.invocation_id = "inv-other"
    ev = evaluate(mixed, PARAMS, at + timedelta(minutes=1))
    assert [f.key for f in ev.findings if f.status is not Status.OK] == ["dbt_artifacts_mixed"]

    empty = evaluate(artifacts(run_results(at, "inv1", [])), PARAMS, at + timedelta(minutes=1))
    assert empty.status is Status.WARN and "all 0 nodes OK" not in empty.summary
    assert empty.values["nodes_total"] == 0


def test_a_freshness_only_job_is_judged_on_its_sources() -> None:
    sources = parse_sources(json.dumps({"metadata": meta("sources", 3, T0, "fresh"), "results": [
        {"unique_id": "source.p.payments.transactions", "status": "pass", "max_loaded_at_time_ago_in_s": 60.0,
         "criteria": {}}]}).encode(), "/dbt/target/sources.json")
    man = manifest()
    man["metadata"]["invocation_id"] = "fresh"  # `dbt source freshness` wrote both
    only = DbtArtifacts("/dbt/target", "/dbt/target", None,
                        parse_manifest(json.dumps(man).encode(), "/dbt/target/manifest.json"), sources)
    ev = evaluate(only, PARAMS, T0 + timedelta(minutes=5))
    assert ev.status is Status.OK
    assert ev.summary == "dbt source freshness (no run_results.json) of 2026-11-25 10:00 UTC (5m ago): all 1 sources fresh"
    assert ev.details["dbt_run"].startswith("no run_results.json under /dbt/target")


# ------------------------------------------------------------------ across runs


def test_streaks_count_dbt_runs_not_check_runs_and_fixed_tests_resolve() -> None:
    memory: dict[str, Any] | None = None
    failing = [result("test.p.not_null_fct_tx_id.abc", "fail", failures=4, message="Got 4 results")]
    statuses, streaks = [], []
    for i, results in enumerate([failing, failing, failing, failing,
                                 [result("test.p.not_null_fct_tx_id.abc", "pass")]]):
        at = T0 + timedelta(minutes=15 * (i // 2 * 2 if i < 4 else 60))
        invocation = f"inv{i // 2}" if i < 4 else "inv-fixed"
        ev = evaluate(artifacts(run_results(at, invocation, results)), PARAMS, at + timedelta(minutes=1), memory)
        memory = ev.memory
        test = next(f for f in ev.findings if f.key == "test.p.not_null_fct_tx_id.abc")
        statuses.append(test.status)
        streaks.append(test.values["consecutive_runs"])
    assert statuses == [Status.CRITICAL] * 4 + [Status.OK]
    assert streaks == [1, 1, 2, 2, 0]
    assert memory is not None and "test.p.not_null_fct_tx_id.abc" not in memory["open"]

    # The fixed run read again still says OK; a newer run forgets it.
    fixed_at = T0 + timedelta(minutes=15 * 60)
    again = evaluate(artifacts(run_results(fixed_at, "inv-fixed", [result("model.p.fct_tx", "success")])),
                     PARAMS, fixed_at + timedelta(minutes=3), memory)
    assert any(f.key == "test.p.not_null_fct_tx_id.abc" and f.status is Status.OK for f in again.findings)
    later = evaluate(artifacts(run_results(fixed_at + timedelta(minutes=15), "inv-next",
                                           [result("model.p.stg_tx", "success")])), PARAMS,
                     fixed_at + timedelta(minutes=16), again.memory)
    assert [f.key for f in later.findings] == ["dbt_not_running", "table:payments.transactions"]  # the test is fixed


def test_a_problem_not_in_the_newest_run_is_carried_and_a_removed_node_resolves() -> None:
    first = evaluate(artifacts(run_results(T0, "inv1", [result("model.p.fct_daily", "error", message="boom")])),
                     PARAMS, T0)
    partial = evaluate(artifacts(run_results(T0 + timedelta(minutes=15), "inv2", [result("model.p.stg_tx", "success")])),
                       PARAMS, T0 + timedelta(minutes=16), first.memory)
    carried = next(f for f in partial.findings if f.key == "model.p.fct_daily")
    assert carried.status is Status.CRITICAL and carried.details["carried_forward"] == "true"
    assert "not re-run since" in carried.summary

    man = manifest()
    del man["nodes"]["model.p.fct_daily"]
    gone = evaluate(artifacts(run_results(T0 + timedelta(minutes=30), "inv3", []), man), PARAMS,
                    T0 + timedelta(minutes=31), partial.memory)
    resolved = next(f for f in gone.findings if f.key == "model.p.fct_daily")
    assert resolved.status is Status.OK and "removed from the dbt project" in resolved.summary


def test_params_reject_unknown_statuses_and_keys() -> None:
    with pytest.raises(ValueError, match="test_statuses"):
        DbtResultsParams(location="/x", test_statuses=["pass"])
    with pytest.raises(ValueError, match="Extra inputs"):
        DbtResultsParams(location="/x", cadense="15m")  # type: ignore[call-arg]
    assert DbtResultsParams(location="/x", cadence="30m").cadence == timedelta(minutes=30)


def test_a_table_with_a_failing_test_is_not_also_reported_as_passing() -> None:
    rr = run_results(T0, "inv1", [result("model.p.fct_tx", "success"),
                                  result("test.p.not_null_fct_tx_id.abc", "fail", failures=2)])
    ev = evaluate(artifacts(rr), PARAMS, T0 + timedelta(minutes=5))
    keys = [f.key for f in ev.findings]
    assert "test.p.not_null_fct_tx_id.abc" in keys and "table:payments.transactions" not in keys
