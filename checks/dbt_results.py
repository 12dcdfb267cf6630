"""dbt_results: what the newest dbt run says failed, as one finding per problem, with owner, SQL and dashboards.

Reads run_results.json + manifest.json (+ sources.json) from a directory or s3://bucket/prefix/ (newest run) and reports
  - each failing (fail/error) or warning (warn) test, with the model it tests, failures count, dbt severity, and
    each test skipped because something upstream failed (its check did not run);
  - each model that failed to build and each model skipped because something upstream failed;
  - each source whose freshness (dbt source freshness) warns or errors, with max_loaded_at and thresholds; a job that
    only runs `dbt source freshness` (sources.json, no run_results.json) is read too;
  - "dbt stopped running" when the newest artifact is older than the cadence plus slack: every SLA downstream is at
    risk even if nothing failed; and the other run-level findings of _dbt_run_health (empty run, mixed artifacts,
    a clock ahead).
Finding keys are dbt unique_ids, so a test failing three runs in a row is one ongoing alert (see dbt_tracking).
Evaluation is pure: `evaluate(artifacts, params, now, previous_memory)`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import Field

from sentinel.api import (
    Check,
    CheckContext,
    CheckResult,
    Duration,
    Finding,
    Params,
    PositiveDuration,
    Status,
    format_duration,
)
from sentinel.sources.dbt_artifacts import DbtArtifacts
from sentinel.sources.dbt_manifest import Manifest, ManifestNode
from sentinel.sources.dbt_parse import FreshnessResult, NodeResult, SourcesResults

from ._dbt_run_health import CLOCK_TOLERANCE, not_running_finding, run_findings
from ._dbt_tracking import MEMORY_KEY, RunScope, track

TestStatus = Literal["fail", "error", "warn", "skipped"]
NodeStatus = Literal["error", "skipped", "partial success"]
FreshnessStatus = Literal["warn", "error", "runtime error"]

_TEST_TYPES = ("test", "unit_test")
_BUILD_TYPES = ("model", "seed", "snapshot", "operation", "function")
# A skipped test did not run (something upstream failed): its check is unknown, which is worth a warning.
_TEST_STATUS = {"fail": Status.CRITICAL, "error": Status.CRITICAL, "warn": Status.WARN, "skipped": Status.WARN}
_NODE_STATUS = {"error": Status.CRITICAL, "partial success": Status.WARN, "skipped": Status.WARN}
_FRESHNESS_STATUS = {"error": Status.CRITICAL, "runtime error": Status.CRITICAL, "warn": Status.WARN}
_ERROR_HEADER = re.compile(r"^[A-Za-z ]*Error in \w+ \S+ \(.*\)$")


class DbtResultsParams(Params):
    location: str = Field(min_length=1, description="directory of the dbt target/ or s3://bucket/prefix/")
    cadence: PositiveDuration = Field(timedelta(minutes=15), description="how often the dbt job runs")
    slack: Duration = Field(timedelta(minutes=10), description="extra time before 'dbt stopped running' fires")
    test_statuses: tuple[TestStatus, ...] = ("fail", "error", "warn", "skipped")
    node_statuses: tuple[NodeStatus, ...] = ("error", "partial success", "skipped")
    freshness_statuses: tuple[FreshnessStatus, ...] = ("warn", "error", "runtime error")
    sql_max_chars: int = Field(2000, ge=200, le=50_000, description="compiled SQL longer than this is trimmed")


@dataclass(frozen=True)
class Evaluation:
    status: Status
    summary: str
    findings: list[Finding]
    values: dict[str, float]
    details: dict[str, str]
    memory: dict[str, Any] = field(default_factory=dict)


def first_line(message: str | None, limit: int = 180) -> str:
    """The line of a dbt message that says what went wrong (skipping 'Runtime Error in model x (path)')."""
    lines = [ln.strip() for ln in (message or "").splitlines() if ln.strip()]
    if len(lines) > 1 and _ERROR_HEADER.match(lines[0]):
        lines = lines[1:]
    text = lines[0] if lines else ""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def trim_sql(sql: str | None, limit: int) -> str:
    if not sql:
        return ""
    sql = sql.strip()
    if len(sql) <= limit:
        return sql
    return sql[:limit].rstrip() + f"\n-- … trimmed {len(sql) - limit} more characters (see the compiled file)"


def _table(node: ManifestNode | None) -> str | None:
    if node is None:
        return None
    if node.resource_type == "source":
        return f"{node.source_name}.{node.name}" if node.source_name else node.name
    return f"{node.schema}.{node.alias or node.name}" if node.schema else node.alias or node.name


def _pipeline_table(manifest: Manifest, anchor: ManifestNode | None) -> tuple[str | None, str | None]:
    """(`table`, `source_tables`): the captured table ("payments.transactions") the node is built from, as the
    pipeline lineage names it, when there is exactly one; all of them otherwise."""
    if anchor is None:
        return None, None
    if anchor.resource_type == "source":
        return _table(anchor), None
    names = sorted({_table(n) or "" for uid in manifest.upstream_sources(anchor.unique_id)
                    if (n := manifest.node(uid)) is not None} - {""})
    return (names[0] if len(names) == 1 else None), (",".join(names) or None)


def _labels(manifest: Manifest, node: ManifestNode | None, uid: str, *, model: ManifestNode | None,
            stage: str) -> dict[str, str]:
    """Stable identity labels only (no counts or messages), so the alert key does not change between runs."""
    anchor = model or node
    labels = {"stage": stage, "dbt_node": node.name if node else uid.rsplit(".", maxsplit=1)[-1],
              "resource_type": node.resource_type if node else uid.split(".", 1)[0]}
    owner = (node.owner if node else None) or (model.owner if model else None) or \
        (node.group_owner if node else None) or (model.group_owner if model else None)
    group = (node.group if node else None) or (model.group if model else None)
    tags = list(dict.fromkeys([*(node.tags if node else ()), *(model.tags if model else ())]))
    table, source_tables = _pipeline_table(manifest, anchor)
    relation = _table(anchor) if anchor is not None and anchor.resource_type != "source" else None
    for name, value in (("table", table), ("source_tables", source_tables), ("relation", relation),
                        ("model", model.name if model else None), ("owner", owner),
                        ("group", group), ("tags", ",".join(tags)), ("dbt_severity", node.severity if node else None)):
        if value:
            labels[name] = value
    return labels


def _exposure_text(manifest: Manifest, start: list[str]) -> tuple[str, str]:
    exposures = manifest.downstream_exposures(start)
    if not exposures:
        return "", ""
    short = ", ".join(e.label for e in exposures[:3]) + (f" +{len(exposures) - 3} more" if len(exposures) > 3 else "")
    long = "\n".join(f"{e.label} ({e.type}{', ' + e.maturity + ' maturity' if e.maturity else ''})"
                     f"{' ' + e.url if e.url else ''}{'; owner ' + e.owner if e.owner else ''}" for e in exposures)
    return short, long


def _upstream_causes(uid: str, manifest: Manifest, results: dict[str, NodeResult], limit: int = 5000) -> list[str]:
    """Failed ancestors of a skipped node: models that errored and error-severity tests that failed on them."""
    causes: list[str] = []
    seen: set[str] = set()
    stack = manifest.parents(uid)
    while stack and len(seen) < limit:
        parent = stack.pop()
        if parent in seen:
            continue
        seen.add(parent)
        result = results.get(parent)
        if result is not None and result.status in ("error", "partial success"):
            causes.append(parent)
        for child in manifest.children(parent):
            test = results.get(child)
            if child.startswith("test.") and test is not None and test.status in ("fail", "error"):
                causes.append(child)
        if result is None or result.status not in ("error",):
            stack.extend(manifest.parents(parent))
    return sorted(set(causes))


# Messages show the first few details of an alert: what on-call needs first comes first.
_DETAIL_ORDER = ("message", "compiled_sql", "rerun", "upstream_failures", "exposures", "max_loaded_at", "thresholds",
                 "snapshotted_at", "filter", "owner", "file", "dbt_status")


def _ordered(details: dict[str, str]) -> dict[str, str]:
    rank = {name: i for i, name in enumerate(_DETAIL_ORDER)}
    return dict(sorted(details.items(), key=lambda kv: rank.get(kv[0], len(rank))))


def _skipped_summary(result: NodeResult, results: dict[str, NodeResult], manifest: Manifest, what: str,
                     owner: str) -> tuple[str, str]:
    """(summary, rerun command) of a skipped node: which upstream failure kept it from running."""
    causes = _upstream_causes(result.unique_id, manifest, results)
    cause_names = [c.split(".")[2] if c.count(".") >= 2 else c for c in causes]
    why = f"upstream {', '.join(cause_names[:3])} failed" if causes else \
        "no upstream failure in this run (fail-fast or an interrupted run?)"
    effect = "its check did not run" if what.startswith("test ") else "its data is stale"
    name = what.split(" ", 1)[1]
    rerun = f"dbt build --select {' '.join(n + '+' for n in cause_names[:3]) or name}"
    return f"dbt {what} was skipped: {why}; {effect} (owner {owner})", rerun


def _node_finding(result: NodeResult, artifacts: DbtArtifacts, params: DbtResultsParams,
                  results: dict[str, NodeResult]) -> Finding | None:
    manifest = artifacts.manifest
    kind = result.resource_type  # the unique_id prefix: decided before touching the manifest (5,000 nodes)
    is_test = kind in _TEST_TYPES
    if is_test:
        if result.status not in params.test_statuses:
            return None
        status = _TEST_STATUS[result.status]
    elif kind in _BUILD_TYPES:
        if result.status not in params.node_statuses:
            return None
        status = _NODE_STATUS[result.status]
    else:
        return None  # exposures, saved queries...: not built, nothing to alert on
    node = manifest.node(result.unique_id)

    name = node.name if node else result.unique_id.split(".")[-1]
    models = manifest.tested_models(node) if is_test and node else []
    model = manifest.node(models[0]) if models else None
    labels = _labels(manifest, node, result.unique_id, model=model, stage="dbt")
    owner = labels.get("owner", "no owner in dbt (set meta.owner or a group)")
    impacted = models if is_test else [result.unique_id]
    feeds, exposures = _exposure_text(manifest, impacted)
    # The first value is the one `sentinel check` shows in its VALUE column: failures for tests, else the streak.
    values: dict[str, float] = {"failures": float(result.failures or 0)} if is_test else {"consecutive_runs": 1.0}
    details: dict[str, str] = {"dbt_status": result.status, "owner": owner}

    if is_test and result.status == "skipped":
        summary, rerun = _skipped_summary(result, results, manifest, f"test {name}", owner)
        details["upstream_failures"] = "\n".join(_upstream_causes(result.unique_id, manifest, results)) or "none found"
        details["rerun"] = rerun
    elif is_test:
        on = f" on {model.name}" if model else ""
        failures = result.failures or 0
        verb = {"fail": "failed", "warn": "warns", "error": "errored"}[result.status]
        what = f"{failures:,} failing row{'s' if failures != 1 else ''}" if result.status != "error" \
            else first_line(result.message)
        severity = node.severity if node and node.severity else "error"  # dbt's default severity
        summary = f"dbt test {name}{on} {verb}: {what} (severity {severity}, owner {owner})"
        details["rerun"] = f"dbt test --select {name} --store-failures"
        if node and (node.warn_if or node.error_if):
            details["thresholds"] = f"warn_if {node.warn_if}, error_if {node.error_if}"
    elif result.status == "skipped":
        causes = _upstream_causes(result.unique_id, manifest, results)
        summary, details["rerun"] = _skipped_summary(result, results, manifest, f"{kind} {name}", owner)
        details["upstream_failures"] = "\n".join(causes) or "none found"
        values["upstream_failures"] = float(len(causes))
    else:
        summary = f"dbt {kind} {name} failed to build: {first_line(result.message)} (owner {owner})"
        details["rerun"] = f"dbt build --select {name}+"
    if feeds:
        summary += f"; feeds {feeds}"
        details["exposures"] = exposures
        values["exposures"] = float(exposures.count("\n") + 1)
    values["execution_seconds"] = result.execution_seconds
    if result.message:
        details["message"] = result.message.strip()[:4000]
    sql = result.compiled_code or (node.compiled_code if node else None)
    if sql:
        details["compiled_sql"] = trim_sql(sql, params.sql_max_chars)
    if node and node.original_file_path:
        details["file"] = node.original_file_path
    return Finding(key=result.unique_id, status=status, summary=summary, values=values, labels=labels,
                   details=_ordered(details))


def _freshness_finding(fr: FreshnessResult, manifest: Manifest, params: DbtResultsParams) -> Finding | None:
    if fr.status not in params.freshness_statuses:
        return None
    node = manifest.node(fr.unique_id)
    labels = _labels(manifest, node, fr.unique_id, model=None, stage="snowflake_raw")
    table = labels.get("table", fr.unique_id)
    owner = labels.get("owner", "no owner in dbt")
    values: dict[str, float] = {}
    details: dict[str, str] = {"dbt_status": fr.status, "owner": owner,
                               "rerun": f"dbt source freshness --select source:{table}"}
    limits = ", ".join(f"{n} after {format_duration(v)}" for n, v in (("warn", fr.warn_after), ("error", fr.error_after))
                       if v is not None)
    if fr.status == "runtime error":
        summary = f"dbt source freshness of {table} could not run: {first_line(fr.error)} (owner {owner})"
        details["message"] = (fr.error or "")[:4000]
    else:
        age = timedelta(seconds=fr.age_seconds or 0.0)
        loaded = f"{fr.max_loaded_at:%Y-%m-%d %H:%M} UTC" if fr.max_loaded_at else "never"
        summary = (f"source {table} is stale: newest row loaded {format_duration(age)} ago ({loaded}); "
                   f"{limits or 'no thresholds'} (dbt freshness {fr.status.upper()}, owner {owner})")
        values["age_seconds"] = age.total_seconds()
        details["max_loaded_at"] = fr.max_loaded_at.isoformat() if fr.max_loaded_at else ""
        details["snapshotted_at"] = fr.snapshotted_at.isoformat() if fr.snapshotted_at else ""
    for name, limit in (("warn_after_seconds", fr.warn_after), ("error_after_seconds", fr.error_after)):
        if limit is not None:
            values[name] = limit.total_seconds()
    details["thresholds"] = limits or "none configured"
    if fr.filter:
        details["filter"] = fr.filter
    feeds, exposures = _exposure_text(manifest, [fr.unique_id])
    if feeds:
        summary += f"; feeds {feeds}"
        details["exposures"] = exposures
    if node and node.original_file_path:
        details["file"] = node.original_file_path
    return Finding(key=fr.unique_id, status=_FRESHNESS_STATUS[fr.status], summary=summary, values=values,
                   labels=labels, details=_ordered(details))


def evaluate(artifacts: DbtArtifacts, params: DbtResultsParams, now: datetime,
             previous: dict[str, Any] | None = None) -> Evaluation:
    run, manifest, sources = artifacts.run_results, artifacts.manifest, artifacts.sources
    node_results = run.results if run is not None else ()
    results = {r.unique_id: r for r in node_results}
    problems = [f for r in node_results if (f := _node_finding(r, artifacts, params, results)) is not None]
    if sources is not None:
        problems += [f for fr in sources.results if (f := _freshness_finding(fr, manifest, params)) is not None]

    run_scope = RunScope(run.invocation_id, run.generated_at, frozenset(results)) if run is not None else None
    src_scope = RunScope(sources.invocation_id, sources.generated_at,
                         frozenset(r.unique_id for r in sources.results)) if sources else None

    def scope_of(key: str) -> RunScope | None:
        return src_scope if key.startswith("source.") else run_scope

    findings, memory = track(problems, scope_of=scope_of, still_defined=lambda k: k in manifest,
                             previous=previous, now=now)
    stale = not_running_finding(artifacts, params, now)
    findings[:0] = [stale, *run_findings(artifacts, now)]
    if run is not None:
        findings += passing_tables(node_results, manifest, findings, run.generated_at)
    count = _counts(node_results, sources)
    status = Status.worst(f.status for f in findings)
    summary = _headline(artifacts, stale, count, now)
    values = {name: float(n) for name, n in count.items()}
    values.update(run_age_seconds=stale.values["run_age_seconds"], nodes_total=float(len(node_results)),
                  run_elapsed_seconds=run.elapsed_seconds if run is not None else 0.0,
                  open_problems=float(sum(1 for f in findings if f.status is not Status.OK)))
    # Kept short: finding details follow these in a message, and messages show only the first few.
    details = {"dbt_run": f"{run.file} (dbt {run.dbt_version} {run.command or 'run'}, invocation {run.invocation_id})"
               if run is not None else f"no run_results.json under {artifacts.location} (a source-freshness-only job)",
               "dbt_sources": sources.file if sources else "no sources.json found"}
    return Evaluation(status, summary, findings, values, details, memory)


def passing_tables(node_results: tuple[NodeResult, ...], manifest: Manifest, findings: list[Finding],
                   run_at: datetime) -> list[Finding]:
    """One OK finding per captured table whose models in this run all passed, so its dbt stage shows as measured
    (a failing test names its table already; a passing run names none). A table with any open problem gets none."""
    troubled = set()
    for f in findings:
        if f.status is not Status.OK:
            troubled |= {f.labels.get("table", "")} | set(f.labels.get("source_tables", "").split(","))
    built: dict[str, int] = {}
    for r in node_results:
        if r.resource_type != "model":
            continue
        for uid in manifest.upstream_sources(r.unique_id):
            table = _table(manifest.node(uid))
            if table:
                built[table] = built.get(table, 0) + 1
    return [Finding(key=f"table:{table}", status=Status.OK, values={"models": float(n)},
                    labels={"stage": "dbt", "table": table},
                    summary=f"{table}: the {n} dbt model(s) built from it passed in the run of {run_at:%Y-%m-%d %H:%M} UTC")
            for table, n in sorted(built.items()) if table not in troubled]


def _counts(node_results: tuple[NodeResult, ...], sources: SourcesResults | None) -> dict[str, int]:
    count = {name: 0 for name in ("tests_failed", "tests_warned", "tests_skipped", "nodes_failed", "nodes_skipped",
                                  "sources_error", "sources_warn")}
    for r in node_results:
        kind = r.resource_type
        if kind in _TEST_TYPES and r.status in ("fail", "error"):
            count["tests_failed"] += 1
        elif kind in _TEST_TYPES and r.status == "warn":
            count["tests_warned"] += 1
        elif kind in _TEST_TYPES and r.status == "skipped":
            count["tests_skipped"] += 1
        elif kind in _BUILD_TYPES and r.status in ("error", "partial success"):
            count["nodes_failed"] += 1
        elif kind in _BUILD_TYPES and r.status == "skipped":
            count["nodes_skipped"] += 1
    for fr in sources.results if sources else ():
        if fr.status in ("error", "runtime error"):
            count["sources_error"] += 1
        elif fr.status == "warn":
            count["sources_warn"] += 1
    return count


def _headline(artifacts: DbtArtifacts, stale: Finding, count: dict[str, int], now: datetime) -> str:
    run = artifacts.run_results
    _, generated_at, _ = artifacts.newest()
    ahead = generated_at - now
    when = f"{format_duration(ahead)} in the future!" if ahead > CLOCK_TOLERANCE else \
        f"{format_duration(timedelta(seconds=stale.values['run_age_seconds']))} ago"
    what = "dbt run" if run is not None else "dbt source freshness (no run_results.json)"
    head = f"{what} of {generated_at:%Y-%m-%d %H:%M} UTC ({when})"
    parts = [f"{n} {one if n == 1 else many}" for one, many, n in (
        ("test failing", "tests failing", count["tests_failed"]),
        ("test warning", "tests warning", count["tests_warned"]),
        ("test skipped", "tests skipped", count["tests_skipped"]),
        ("model failed", "models failed", count["nodes_failed"]),
        ("skipped", "skipped", count["nodes_skipped"]),
        ("source stale (error)", "sources stale (error)", count["sources_error"]),
        ("source stale (warn)", "sources stale (warn)", count["sources_warn"])) if n]
    if parts:
        body = ", ".join(parts)
    elif run is not None and not run.results:
        body = "the run ran no nodes (nothing was tested)"
    elif run is not None:
        body = f"all {len(run.results)} nodes OK"
    else:
        sources = artifacts.sources
        body = f"all {len(sources.results) if sources else 0} sources fresh"
    if stale.status is Status.OK:
        return f"{head}: {body}"
    return f"dbt stopped running ({head}); {body}" + (" in that run" if parts else "")


class DbtResultsCheck(Check[DbtResultsParams]):
    kind = "dbt_results"
    Params = DbtResultsParams
    runbook = "dbt-test-failure"
    warm_imports = ("sentinel.sources.dbt_artifacts",)

    def describe(self) -> str:
        p = self.params
        return f"dbt artifacts at {p.location}, expected every {format_duration(p.cadence)} (+{format_duration(p.slack)})"

    def run(self, ctx: CheckContext) -> CheckResult:
        ctx.doing.current = f"dbt artifacts at {self.params.location}"  # named by a deadline error
        artifacts: DbtArtifacts = ctx.sources.dbt_artifacts(self.params.location).load(timeout=ctx.remaining_seconds())
        ev = evaluate(artifacts, self.params, ctx.now(), ctx.memory.load(MEMORY_KEY))
        ctx.memory.save(MEMORY_KEY, ev.memory)
        return ctx.result(self.kind, ev.status, ev.summary, values=ev.values, labels={"stage": "dbt"},
                          details=ev.details, findings=ev.findings)
