"""Findings about the dbt run as a whole, before any node is judged: is dbt still running, did the run do
anything, do the artifacts belong together, and can their timestamps be trusted.

Each is its own finding with a stable key, so it alerts (and resolves) on its own:
  dbt_not_running      the newest artifact is older than cadence + slack                         CRITICAL
  dbt_empty_run        run_results.json lists no node: the job selected nothing, nothing was tested   WARN
  dbt_artifacts_mixed  manifest.json comes from another invocation than the results beside it       WARN
  dbt_clock_ahead      generated_at lies in the future: the dbt host's clock or time zone is wrong   WARN
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from sentinel.api import Finding, Status, format_duration, judge
from sentinel.sources.dbt_artifacts import DbtArtifacts

NOT_RUNNING_KEY = "dbt_not_running"
EMPTY_RUN_KEY = "dbt_empty_run"
MIXED_KEY = "dbt_artifacts_mixed"
CLOCK_AHEAD_KEY = "dbt_clock_ahead"
# A dbt host a little ahead of Sentinel's clock is normal (NTP drift); beyond this the age is not believable.
CLOCK_TOLERANCE = timedelta(minutes=5)
_LABELS = {"stage": "dbt", "dbt_node": "dbt job"}


class RunTiming(Protocol):
    @property
    def cadence(self) -> timedelta: ...

    @property
    def slack(self) -> timedelta: ...


def not_running_finding(artifacts: DbtArtifacts, params: RunTiming, now: datetime) -> Finding:
    file, generated_at, invocation = artifacts.newest()
    age = max(timedelta(0), now - generated_at)
    limit = params.cadence + params.slack
    status = judge(age, warn=None, critical=limit)
    late = status is not Status.OK
    expected = f"expected every {format_duration(params.cadence)} + {format_duration(params.slack)} slack"
    summary = (
        f"dbt stopped running: newest {file.rsplit('/', 1)[-1]} is {format_duration(age)} old (generated "
        f"{generated_at:%Y-%m-%d %H:%M} UTC), {expected}; every model downstream is going stale"
        if late else
        # Says what was measured, not "dbt is running": with a long cadence an old run is merely within limits.
        f"newest dbt artifact {format_duration(age)} old, within the {format_duration(limit)} allowed ({expected})"
    )
    return Finding(
        key=NOT_RUNNING_KEY, status=status, summary=summary,
        values={"run_age_seconds": age.total_seconds(), "max_age_seconds": limit.total_seconds()},
        labels=dict(_LABELS),
        details={"run_results": file, "generated_at": generated_at.isoformat(), "invocation_id": invocation,
                 "location": artifacts.location, "runbook": "dbt-not-running"},
    )


def empty_run_finding(artifacts: DbtArtifacts) -> Finding | None:
    run = artifacts.run_results
    if run is None or run.results:
        return None
    return Finding(
        key=EMPTY_RUN_KEY, status=Status.WARN,
        summary=f"dbt {run.command or 'run'} of {run.generated_at:%Y-%m-%d %H:%M} UTC ran no nodes: nothing was built or "
                "tested; check the job's --select/--exclude (or a state:modified selection that matched nothing)",
        values={"nodes_total": 0.0}, labels=dict(_LABELS),
        details={"run_results": run.file, "invocation_id": run.invocation_id, "location": artifacts.location},
    )


def mixed_artifacts_finding(artifacts: DbtArtifacts) -> Finding | None:
    """The manifest must come from the invocation of the results or of the freshness run beside it (`dbt build`
    then `dbt source freshness` rewrites manifest.json, which is fine); anything else is a half-uploaded target/,
    and owners, SQL and lineage in the alerts may then be wrong."""
    manifest = artifacts.manifest
    own = {a.invocation_id for a in (artifacts.run_results, artifacts.sources) if a is not None and a.invocation_id}
    if not manifest.invocation_id or not own or manifest.invocation_id in own:
        return None
    return Finding(
        key=MIXED_KEY, status=Status.WARN,
        summary=f"{manifest.file} is from another dbt invocation ({manifest.invocation_id}) than the results beside it "
                f"({', '.join(sorted(own))}): owners, SQL and lineage may be wrong; upload each run's target/ as a whole",
        values={}, labels=dict(_LABELS),
        details={"manifest": manifest.file, "manifest_invocation_id": manifest.invocation_id,
                 "results_invocation_ids": ", ".join(sorted(own)), "location": artifacts.location},
    )


def clock_ahead_finding(artifacts: DbtArtifacts, now: datetime) -> Finding | None:
    ahead = [(a.file, a.generated_at) for a in (artifacts.run_results, artifacts.sources)
             if a is not None and a.generated_at - now > CLOCK_TOLERANCE]
    if not ahead:
        return None
    file, generated_at = max(ahead, key=lambda a: a[1])
    return Finding(
        key=CLOCK_AHEAD_KEY, status=Status.WARN,
        summary=f"{file} says it was generated at {generated_at:%Y-%m-%d %H:%M} UTC, "
                f"{format_duration(generated_at - now)} in the future: the dbt host's clock is ahead or its time zone "
                "is not UTC, so how old the run is cannot be judged",
        values={"seconds_ahead": (generated_at - now).total_seconds()}, labels=dict(_LABELS),
        details={"file": file, "generated_at": generated_at.isoformat(), "checked_at": now.isoformat()},
    )


def run_findings(artifacts: DbtArtifacts, now: datetime) -> list[Finding]:
    """The run-level problems other than "not running" (that one is always reported, OK or not)."""
    found = (empty_run_finding(artifacts), mixed_artifacts_finding(artifacts), clock_ahead_finding(artifacts, now))
    return [f for f in found if f is not None]
