"""dbt_results against real artifacts written by dbt-core 1.11 + dbt-duckdb (tests/plugins/dbt.py), read from a
local directory and from the moto S3 server."""

from __future__ import annotations

import json
import re
import shutil
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sentinel_checks.dbt_results import DbtResultsCheck, DbtResultsParams

from devstack.s3 import S3Service
from sentinel.api import CheckContext, CheckResult, DictMemory, Finding, Status
from sentinel.clock import FakeClock
from sentinel.config.checks_spec import CheckSpec
from sentinel.config.settings import Settings
from sentinel.model import AlertKey
from sentinel.redact import Redactor
from sentinel.runner import CheckRunner, PlannedCheck
from sentinel.sources import Sources
from sentinel.sources.dbt_artifacts import DbtArtifactsSource
from tests.plugins.dbt import DbtRuns

pytestmark = pytest.mark.integration

P = "novapay_analytics"
UNIQUE_MERCHANT = f"test.{P}.unique_dim_merchants_merchant_id.d36224ab97"
NOT_NULL_MERCHANT = f"test.{P}.not_null_fct_transactions_merchant_id.10549a762c"
RECONCILE = f"test.{P}.assert_daily_volume_reconciles"
SCORES = f"model.{P}.int_merchant_scores"
HEALTH = f"model.{P}.fct_merchant_health"
SRC_TX = f"source.{P}.payments.transactions"
SRC_EVENTS = f"source.{P}.users.merchant_events"
SKIPPED_TEST = f"test.{P}.unique_fct_merchant_health_merchant_id.41c2422f0f"


def generated_at(folder: Path) -> str:
    return str(json.loads((folder / "run_results.json").read_text())["metadata"]["generated_at"])


def run_check(location: str, clock: FakeClock, memory: DictMemory | None = None,
              settings: Settings | None = None, **params: object) -> CheckResult:
    check = DbtResultsCheck(DbtResultsParams(location=location, **params))
    ctx = CheckContext(check_id="dbt_prod", clock=clock, deadline_monotonic=clock.monotonic() + 30,
                       sources=Sources(settings or Settings()), memory=memory or DictMemory(),
                       labels={"stage": "dbt"})
    return check.run(ctx)


def clock_after(folder: Path, minutes: float) -> FakeClock:
    from datetime import datetime

    return FakeClock(datetime.fromisoformat(generated_at(folder)) + timedelta(minutes=minutes))


def by_key(result: CheckResult) -> dict[str, Finding]:
    return {f.key: f for f in result.findings}


def test_broken_run_gives_one_finding_per_problem_with_owner_sql_and_dashboards(dbt_runs: DbtRuns) -> None:
    result = run_check(str(dbt_runs.broken), clock_after(dbt_runs.broken, 3))
    found = by_key(result)

    assert result.status is Status.CRITICAL
    assert set(found) == {"dbt_not_running", UNIQUE_MERCHANT, NOT_NULL_MERCHANT, RECONCILE, SCORES, HEALTH,
                          SKIPPED_TEST, SRC_TX, SRC_EVENTS}, "passing tests and exposures are not findings"
    assert "2 tests failing, 1 test warning, 1 test skipped, 1 model failed, 1 skipped" in result.summary
    assert result.values["nodes_skipped"] == 1 and result.values["tests_failed"] == 2
    assert result.values["tests_skipped"] == 1

    # A test that did not run because its model errored upstream: its check is unknown, so it warns and says why.
    skipped_test = found[SKIPPED_TEST]
    assert skipped_test.status is Status.WARN
    assert "was skipped: upstream int_merchant_scores" in skipped_test.summary
    assert "its check did not run" in skipped_test.summary

    unique = found[UNIQUE_MERCHANT]
    assert unique.status is Status.CRITICAL
    assert unique.values["failures"] == 1
    assert unique.labels["model"] == "dim_merchants" and unique.labels["relation"] == "analytics.dim_merchants"
    assert unique.labels["table"] == "users.merchants", "`table` is the captured table, as the pipeline lineage names it"
    assert unique.labels["owner"] == "merchant-analytics@novapay.example"  # the model's meta.owner
    assert unique.labels["group"] == "merchant_analytics" and unique.labels["dbt_severity"] == "error"
    assert "having count(*) > 1" in unique.details["compiled_sql"]
    assert unique.details["rerun"] == "dbt test --select unique_dim_merchants_merchant_id --store-failures"
    assert "Merchant Health" in unique.summary

    warn = found[NOT_NULL_MERCHANT]
    assert warn.status is Status.WARN and warn.labels["dbt_severity"] == "warn"
    assert warn.values["failures"] == 2
    assert "warns: 2 failing rows" in warn.summary

    reconcile = found[RECONCILE]
    assert reconcile.labels["table"] == "payments.transactions"
    assert reconcile.labels["relation"] == "analytics.fct_daily_volume"
    assert reconcile.labels["model"] == "fct_daily_volume", "a singular test is about its most downstream model"
    assert reconcile.labels["owner"] == "finance-analytics@novapay.example"  # the test's own meta.owner
    assert "feeds Executive Dashboard" in reconcile.summary
    assert "https://looker.novapay.example/dashboards/12" in reconcile.details["exposures"]
    assert "finance" in reconcile.labels["tags"].split(",")

    scores = found[SCORES]
    assert scores.status is Status.CRITICAL
    assert "Conversion Error: Could not convert string 'settled' to INT32" in scores.summary
    assert "cast(status as integer)" in scores.details["compiled_sql"]
    assert scores.details["rerun"] == "dbt build --select int_merchant_scores+"

    skipped = found[HEALTH]
    assert skipped.status is Status.WARN
    assert "skipped: upstream int_merchant_scores" in skipped.summary
    assert skipped.details["upstream_failures"].splitlines() == [SCORES, UNIQUE_MERCHANT]
    assert "Merchant Health" in skipped.summary
    assert "table" not in skipped.labels and skipped.labels["source_tables"] == "payments.transactions,users.merchants"

    stale = found[SRC_TX]
    assert stale.status is Status.CRITICAL and stale.labels["table"] == "payments.transactions"
    assert stale.labels["stage"] == "snowflake_raw"
    assert stale.details["max_loaded_at"].startswith("2020-03-03T16:22:00")
    assert stale.values["error_after_seconds"] == 7200 and stale.values["warn_after_seconds"] == 1800
    events = found[SRC_EVENTS]
    assert events.status is Status.WARN
    assert 90 * 60 <= events.values["age_seconds"] < 100 * 60

    assert found["dbt_not_running"].status is Status.OK


def test_dbt_that_stopped_running_is_its_own_alert(dbt_runs: DbtRuns) -> None:
    on_time = run_check(str(dbt_runs.broken), clock_after(dbt_runs.broken, 24))
    assert by_key(on_time)["dbt_not_running"].status is Status.OK

    late = run_check(str(dbt_runs.broken), clock_after(dbt_runs.broken, 47))
    finding = by_key(late)["dbt_not_running"]
    assert finding.status is Status.CRITICAL
    # The newest artifact counts: here the sources.json of the `dbt source freshness` that ran after the build.
    assert re.match(r"dbt stopped running: newest sources\.json is 4[67]m old \(generated ", finding.summary), \
        finding.summary
    assert "expected every 15m + 10m slack" in finding.summary
    assert finding.values["max_age_seconds"] == 25 * 60
    assert late.summary.startswith("dbt stopped running")

    relaxed = run_check(str(dbt_runs.broken), clock_after(dbt_runs.broken, 47), cadence="1h", slack="5m")
    assert by_key(relaxed)["dbt_not_running"].status is Status.OK


def test_statuses_that_alert_are_configurable(dbt_runs: DbtRuns) -> None:
    result = run_check(str(dbt_runs.broken), clock_after(dbt_runs.broken, 3), test_statuses=["fail", "error"],
                       node_statuses=["error"], freshness_statuses=["error", "runtime error"])
    assert set(by_key(result)) == {"dbt_not_running", UNIQUE_MERCHANT, RECONCILE, SCORES, SRC_TX}


def test_a_test_failing_three_runs_in_a_row_is_one_ongoing_alert_and_a_fix_resolves_it(
        dbt_runs: DbtRuns, tmp_path: Path) -> None:
    """The dbt job uploads each run to its own folder; the check reads the location after each run."""
    location = tmp_path / "target-archive"
    memory = DictMemory()
    seen: list[CheckResult] = []
    for folder in dbt_runs.in_order:
        shutil.copytree(folder, location / folder.name)  # copy2 keeps dbt's mtimes: the newest run is the last
        seen.append(run_check(str(location), clock_after(folder, 2), memory))
        seen.append(run_check(str(location), clock_after(folder, 4), memory))  # same dbt run read again

    reconcile = [by_key(r).get(RECONCILE) for r in seen]
    assert all(f is not None for f in reconcile)
    assert [f.status for f in reconcile if f] == [Status.CRITICAL] * 6 + [Status.OK] * 2
    assert [f.values["consecutive_runs"] for f in reconcile[:6] if f] == [1, 1, 2, 2, 3, 3]
    assert "3rd run in a row" in reconcile[5].summary  # type: ignore[union-attr]
    assert "passes again" in reconcile[6].summary  # type: ignore[union-attr]
    first_seen = {f.details["first_seen_at"] for f in reconcile[:6] if f}
    assert first_seen == {datetime_of(dbt_runs.broken)}

    # One alert: the alert identity (rule + labels + finding key) never changes across runs.
    keys = {AlertKey.of("dbt_prod", {**f.labels, "finding": f.key}).fingerprint for f in reconcile if f}
    assert len(keys) == 1

    # The partial runs (dbt test --select fct_daily_volume) did not re-run the other nodes: they stay open.
    last = by_key(seen[-1])
    assert last[SCORES].status is Status.CRITICAL and last[SCORES].details["carried_forward"] == "true"
    assert last[UNIQUE_MERCHANT].status is Status.CRITICAL
    # sources.json came from the first run only: the newest one under the location is used.
    assert last[SRC_TX].status is Status.CRITICAL and last[SRC_TX].values["consecutive_runs"] == 1
    assert seen[-1].status is Status.CRITICAL


def datetime_of(folder: Path) -> str:
    from datetime import datetime

    return datetime.fromisoformat(generated_at(folder)).isoformat()


def upload(s3: S3Service, bucket: str, prefix: str, folder: Path) -> None:
    client = s3.client()
    for path in sorted(folder.iterdir()):
        client.put_object(Bucket=bucket, Key=f"{prefix}{path.name}", Body=path.read_bytes())


def test_s3_prefix_reads_the_newest_run(dbt_runs: DbtRuns, s3_server: S3Service) -> None:
    client = s3_server.client()
    client.create_bucket(Bucket="novapay-dbt-artifacts")
    # The fixed run is uploaded first under a name that sorts last; the broken run a second later: newest wins.
    upload(s3_server, "novapay-dbt-artifacts", "prod/runs/zz-older/", dbt_runs.fixed)
    time.sleep(1.1)
    upload(s3_server, "novapay-dbt-artifacts", "prod/runs/aa-newer/", dbt_runs.broken)
    client.put_object(Bucket="novapay-dbt-artifacts", Key="prod/runs/aa-newer/compiled/run_results.json", Body=b"{")

    settings = Settings(aws_endpoint_url=s3_server.endpoint_url, aws_region=s3_server.region,
                        aws_access_key_id=s3_server.access_key_id,
                        aws_secret_access_key=s3_server.secret_access_key)
    artifacts = Sources(settings).dbt_artifacts("s3://novapay-dbt-artifacts/prod").load(timeout=20)
    assert artifacts.run_folder == "s3://novapay-dbt-artifacts/prod/runs/aa-newer"
    assert artifacts.sources is not None and artifacts.sources.file.endswith("aa-newer/sources.json")

    from_s3 = run_check("s3://novapay-dbt-artifacts/prod/", clock_after(dbt_runs.broken, 3), settings=settings)
    local = run_check(str(dbt_runs.broken), clock_after(dbt_runs.broken, 3))
    assert {f.key: f.status for f in from_s3.findings} == {f.key: f.status for f in local.findings}
    assert from_s3.details["dbt_run"].startswith("s3://novapay-dbt-artifacts/prod/runs/aa-newer/run_results.json (dbt 1.11")


def test_s3_prefix_without_artifacts_and_unreadable_artifacts_are_errors(dbt_runs: DbtRuns, s3_server: S3Service) -> None:
    client = s3_server.client()
    client.create_bucket(Bucket="novapay-dbt-empty")
    settings = Settings(aws_endpoint_url=s3_server.endpoint_url, aws_region=s3_server.region,
                        aws_access_key_id=s3_server.access_key_id,
                        aws_secret_access_key=s3_server.secret_access_key)
    result = run_through_runner("s3://novapay-dbt-empty/prod/", settings)
    assert result.status is Status.ERROR
    assert "no run_results.json or sources.json under s3://novapay-dbt-empty/prod/" in result.summary

    old = json.loads((dbt_runs.broken / "manifest.json").read_text())
    old["metadata"]["dbt_schema_version"] = "https://schemas.getdbt.com/dbt/manifest/v10.json"
    old["metadata"]["dbt_version"] = "1.6.3"
    client.put_object(Bucket="novapay-dbt-empty", Key="old/run_results.json",
                      Body=(dbt_runs.broken / "run_results.json").read_bytes())
    client.put_object(Bucket="novapay-dbt-empty", Key="old/manifest.json", Body=json.dumps(old).encode())
    result = run_through_runner("s3://novapay-dbt-empty/old/", settings)
    assert result.status is Status.ERROR
    assert "s3://novapay-dbt-empty/old/manifest.json" in result.summary
    assert "unsupported version manifest v10 (dbt 1.6.3)" in result.summary
    assert s3_server.secret_access_key not in json.dumps(result.to_json())


def run_through_runner(location: str, settings: Settings) -> CheckResult:
    clock = FakeClock()
    spec = CheckSpec(id="dbt_prod", kind="dbt_results", timeout=timedelta(seconds=30), labels={"stage": "dbt"},
                     params={"location": location})
    check = DbtResultsCheck(DbtResultsParams(location=location))
    runner = CheckRunner(Sources(settings), lambda _id: DictMemory(), clock, Redactor.from_settings(settings))
    return runner.run_one(PlannedCheck(spec=spec, check=check, runbook="dbt-test-failure"))


@pytest.mark.parametrize(("artifact", "mutate", "expected"), [
    ("run_results.json", lambda raw: raw[: len(raw) // 2], "run_results.json: malformed JSON"),
    ("run_results.json",
     lambda raw: raw.replace(b"/run-results/v6.json", b"/run-results/v4.json"), "unsupported version run-results v4"),
    ("manifest.json", lambda raw: raw.replace(b"/manifest/v12.json", b"/manifest/v13.json"),
     "unsupported version manifest v13"),
    ("sources.json", lambda raw: raw.replace(b"/sources/v3.json", b"/sources/v2.json"),
     "unsupported version sources v2"),
    ("sources.json", lambda raw: b"", "sources.json: malformed JSON"),
])
def test_malformed_or_old_artifacts_are_errors_naming_file_and_version(
        dbt_runs: DbtRuns, tmp_path: Path, artifact: str, mutate: object, expected: str) -> None:
    folder = tmp_path / "target"
    shutil.copytree(dbt_runs.broken, folder)
    path = folder / artifact
    path.write_bytes(mutate(path.read_bytes()))  # type: ignore[operator]
    result = run_through_runner(str(folder), Settings())
    assert result.status is Status.ERROR
    assert expected in result.summary
    assert str(path) in result.summary


def test_unknown_fields_in_real_artifacts_are_tolerated(dbt_runs: DbtRuns, tmp_path: Path) -> None:
    folder = tmp_path / "target"
    shutil.copytree(dbt_runs.broken, folder)
    for name in ("run_results.json", "manifest.json", "sources.json"):
        data = json.loads((folder / name).read_text())
        data["added_in_dbt_1_12"] = {"anything": [1, 2, 3]}
        data["metadata"]["new_metadata_field"] = True
        for item in data.get("results", []):
            item["new_result_field"] = {"x": 1}
        for node in data.get("nodes", {}).values():
            node["new_node_field"] = None
        (folder / name).write_text(json.dumps(data))
    artifacts = DbtArtifactsSource(str(folder)).load()
    assert len(artifacts.run_results.results) == 20
    result = run_check(str(folder), clock_after(dbt_runs.broken, 3))
    assert len(result.findings) == 9


def test_pointing_at_the_dbt_target_dir_itself(dbt_runs: DbtRuns) -> None:
    """target/ after the last run: its run_results.json (the fixing build), sources.json left by the freshness
    step, and thousands of compiled/run SQL files that must not be mistaken for runs."""
    target = dbt_runs.project_dir / "target"
    assert (target / "compiled").is_dir() and (target / "run").is_dir()
    artifacts = DbtArtifactsSource(str(target)).load()
    assert artifacts.run_folder == str(target)
    assert artifacts.run_results.command == "build"
    assert {r.unique_id for r in artifacts.run_results.results} >= {RECONCILE, f"model.{P}.fct_daily_volume"}
    assert artifacts.sources is not None and artifacts.sources.file == str(target / "sources.json")

    result = run_check(str(target), clock_after(dbt_runs.fixed, 1))
    assert {f.key for f in result.findings} == {"dbt_not_running", SRC_TX, SRC_EVENTS}
    assert result.summary.endswith("source stale (error), 1 source stale (warn)")


def test_through_rules_and_the_alert_lifecycle_the_failing_test_fires_once_and_resolves_once(
        dbt_runs: DbtRuns, tmp_path: Path) -> None:
    """The same four real dbt runs, judged by the implicit rule and stepped through the alert state machine."""
    from sentinel.alerting.lifecycle import step
    from sentinel.alerting.types import AlertState, EventKind
    from sentinel.rules import RuleBook, evaluate

    book = RuleBook(kind_runbooks={"dbt_results": "dbt-test-failure"})
    states: dict[str, AlertState] = {}
    events: list[tuple[str, EventKind, str]] = []
    location, memory = tmp_path / "archive", DictMemory()
    for run_no, folder in enumerate(dbt_runs.in_order, start=1):
        shutil.copytree(folder, location / folder.name)
        for minutes in (2, 4):
            clock = clock_after(folder, minutes)
            result = run_check(str(location), clock, memory)
            rule = book.implicit_rule(result)
            for verdict in evaluate(rule, result):
                state, new = step(states.get(verdict.fingerprint), verdict, rule, clock.now())
                states[verdict.fingerprint] = state
                events += [(e.state.labels.get("dbt_node", ""), e.kind, f"run {run_no}") for e in new]

    reconcile = [(kind, when) for node, kind, when in events if node == "assert_daily_volume_reconciles"]
    assert reconcile == [(EventKind.FIRED, "run 1"), (EventKind.RESOLVED, "run 4")]
    fired_in_run_1 = {node for node, kind, when in events if kind is EventKind.FIRED and when == "run 1"}
    assert fired_in_run_1 == {"unique_dim_merchants_merchant_id", "not_null_fct_transactions_merchant_id",
                              "assert_daily_volume_reconciles", "int_merchant_scores", "fct_merchant_health",
                              "unique_fct_merchant_health_merchant_id", "transactions", "merchant_events"}
    assert [e for e in events if e[2] != "run 1" and e[1] is EventKind.FIRED] == []
