"""looker: the last hop. Per table behind the dashboards named here (the lineage's `dashboards`), what in Looker
is broken for the people reading them:

- pdt:        PDT builds whose latest event in the PDT event log is an error, datagroups whose trigger check errors,
              and datagroups not triggered for `datagroup_stale_after` (the dashboards serve old data);
- schedules:  scheduled-plan deliveries whose latest run failed (an executive's morning email did not go out);
- content:    content-validator errors on the dashboards (a renamed dbt model or column breaks tiles silently).

One finding per (problem kind, table), labelled stage `looker` and the table, so an upstream alert of the same table
(a failing dbt model) inhibits it; the finding names the dashboards on-call must warn about. System Activity queries
carry a time filter (`lookback`) and a row limit; content validation is expensive on a big instance, so it runs at
most every `content_validation_every` and its last answer is kept in the check's memory. A part that cannot be
measured (no see_system_activity, say) is that part's ERROR finding; the other parts are still judged.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import Field

from sentinel.api import (
    Check,
    CheckContext,
    CheckResult,
    Duration,
    Finding,
    Params,
    Status,
    format_duration,
    judge,
    measured_status,
    target_error,
)
from sentinel.sources.looker import ContentError, DatagroupState

KINDS = ("pdt", "schedules", "content")
_TITLES = {"pdt": "PDTs/datagroups", "schedules": "scheduled deliveries", "content": "content validator"}


class LookerDashboard(Params):
    title: str = Field(min_length=1, description="the dashboard title as in Looker, e.g. Executive Dashboard")
    tables: list[str] = Field(min_length=1, description="pipeline tables behind it, e.g. payments.transactions")
    models: list[str] = Field(default_factory=list, description="LookML models its explores use (for PDTs/datagroups)")


class LookerParams(Params):
    dashboards: list[LookerDashboard] = Field(min_length=1)
    lookback: Duration = Field(default=timedelta(hours=24), description="System Activity time filter")
    row_limit: int = Field(500, ge=1, le=5000, description="System Activity row limit")
    datagroup_stale_after: Duration = Field(default=timedelta(hours=26))
    content_validation_every: Duration = Field(default=timedelta(minutes=10), ge=timedelta(minutes=1))
    pdt_failure_status: Status = Status.CRITICAL
    failed_delivery_status: Status = Status.WARN
    content_error_status: Status = Status.CRITICAL


@dataclass(frozen=True)
class Problem:
    dashboard: str
    text: str
    status: Status


def pdt_problems(p: LookerParams, events: Sequence[dict[str, Any]], groups: Sequence[DatagroupState],
                 now: datetime) -> list[Problem]:
    """Latest PDT event per (model, view) an error; datagroup trigger errors and staleness. Pure."""
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for row in sorted(events, key=lambda r: str(r.get("pdt_event_log.created_time") or "")):
        latest[(str(row.get("pdt_event_log.model_name")), str(row.get("pdt_event_log.view_name")))] = row
    out: list[Problem] = []
    for d in p.dashboards:
        for (model, view), row in sorted(latest.items()):
            if model in d.models and "error" in str(row.get("pdt_event_log.action", "")).lower():
                detail = " ".join(str(row.get("pdt_event_log.action_data") or "").split())[:160]
                out.append(Problem(d.title, f"PDT {model}.{view} failed to build at "
                                   f"{row.get('pdt_event_log.created_time')} UTC: {detail}", p.pdt_failure_status))
        for g in groups:
            if g.model not in d.models:
                continue
            if g.trigger_error:
                out.append(Problem(d.title, f"datagroup {g.model}::{g.name} trigger check fails: "
                                   f"{' '.join(g.trigger_error.split())[:160]}", p.pdt_failure_status))
            elif g.triggered_at is None or judge(now - g.triggered_at, warn=p.datagroup_stale_after, critical=None,
                                                 op=">=") is not Status.OK:
                age = "never" if g.triggered_at is None else f"{format_duration(now - g.triggered_at)} ago"
                out.append(Problem(d.title, f"datagroup {g.model}::{g.name} last triggered {age} (stale after "
                                   f"{format_duration(p.datagroup_stale_after)}): its PDTs serve old data", Status.WARN))
    return out


def schedule_problems(p: LookerParams, jobs: Sequence[dict[str, Any]]) -> list[Problem]:
    """Deliveries whose latest run (per plan) failed, for the dashboards watched. Pure."""
    latest: dict[str, dict[str, Any]] = {}
    for row in sorted(jobs, key=lambda r: str(r.get("scheduled_job.finalized_time") or "")):
        latest[str(row.get("scheduled_plan.id") or row.get("scheduled_plan.name"))] = row
    titles = {d.title for d in p.dashboards}
    return [Problem(str(row.get("dashboard.title")), f"scheduled delivery '{row.get('scheduled_plan.name')}' failed at "
                    f"{row.get('scheduled_job.finalized_time')} UTC: "
                    f"{' '.join(str(row.get('scheduled_job.status_detail') or 'no detail').split())[:160]}",
                    p.failed_delivery_status)
            for row in latest.values()
            if str(row.get("scheduled_job.status")) == "failure" and row.get("dashboard.title") in titles]


def content_problems(p: LookerParams, errors: Sequence[ContentError]) -> list[Problem]:
    titles = {d.title for d in p.dashboards}
    out = []
    for e in errors:
        if e.dashboard in titles:
            where = f"tile '{e.element}': " if e.element else ""
            explore = f" (explore {e.model}/{e.explore})" if e.model and e.explore else ""
            out.append(Problem(e.dashboard, f"{where}{e.message}{explore}", p.content_error_status))
    return out


def findings_for(p: LookerParams, kind: str, problems: Sequence[Problem]) -> list[Finding]:
    """One finding per table behind the dashboards: its problems of `kind`, naming the dashboards to warn."""
    out = []
    for table in sorted({t for d in p.dashboards for t in d.tables}):
        boards = [d.title for d in p.dashboards if table in d.tables]
        mine = [x for x in problems if x.dashboard in boards]
        labels = {"table": table, "stage": "looker", "dashboards": ", ".join(boards), "looker": kind}
        if not mine:
            out.append(Finding(f"{kind}:{table}", Status.OK, f"Looker {_TITLES[kind]}: no problems on "
                               f"{', '.join(boards)}", values={"problems": 0.0}, labels=labels))
            continue
        hit = sorted({x.dashboard for x in mine})
        first = mine[0]
        more = f" (+{len(mine) - 1} more)" if len(mine) > 1 else ""
        summary = (f"Looker {_TITLES[kind]}: {len(mine)} problem(s) on {', '.join(hit)}: {first.dashboard}: "
                   f"{first.text}{more}. Warn the readers of: {', '.join(hit)}")
        out.append(Finding(f"{kind}:{table}", Status.worst(x.status for x in mine), summary,
                           values={"problems": float(len(mine))}, labels=labels,
                           details={"problems": "\n".join(f"{x.dashboard}: {x.text}" for x in mine[:30])}))
    return out


class LookerCheck(Check[LookerParams]):
    kind = "looker"
    Params = LookerParams
    runbook = "looker-dashboard-broken"

    def describe(self) -> str:
        p = self.params
        return (f"{len(p.dashboards)} dashboards: PDTs/datagroups, scheduled deliveries (last "
                f"{format_duration(p.lookback)}), content validator every {format_duration(p.content_validation_every)}")

    def run(self, ctx: CheckContext) -> CheckResult:
        looker = ctx.sources.looker()
        now = ctx.now()
        p = self.params
        hours = max(1, int(p.lookback.total_seconds() // 3600))
        since = f"{hours} hours"

        def pdt() -> list[Problem]:
            with ctx.doing(f"Looker System Activity pdt_event_log on {looker.base_url}"):
                events = looker.system_activity(
                    "pdt_event_log", ["pdt_event_log.created_time", "pdt_event_log.action",
                                      "pdt_event_log.action_data", "pdt_event_log.model_name",
                                      "pdt_event_log.view_name"],
                    {"pdt_event_log.created_time": since, "pdt_event_log.action": "%error%,%complete%"},
                    limit=p.row_limit, sorts=["pdt_event_log.created_time desc"], timeout=ctx.remaining_seconds())
            with ctx.doing(f"Looker GET /datagroups on {looker.base_url}"):
                groups = looker.datagroups(timeout=ctx.remaining_seconds())
            return pdt_problems(p, events, groups, now)

        def schedules() -> list[Problem]:
            with ctx.doing(f"Looker System Activity scheduled_plan on {looker.base_url}"):
                jobs = looker.system_activity(
                    "scheduled_plan", ["scheduled_job.finalized_time", "scheduled_job.status",
                                       "scheduled_job.status_detail", "scheduled_plan.id", "scheduled_plan.name",
                                       "dashboard.title"],
                    {"scheduled_job.finalized_time": since, "scheduled_job.status": "success,failure"},
                    limit=p.row_limit, sorts=["scheduled_job.finalized_time desc"], timeout=ctx.remaining_seconds())
            return schedule_problems(p, jobs)

        def content() -> list[Problem]:
            return content_problems(p, self._content_errors(ctx, looker, now))

        findings: list[Finding] = []
        parts: dict[str, Callable[[], list[Problem]]] = {"pdt": pdt, "schedules": schedules, "content": content}
        for kind, measure in parts.items():
            try:
                findings.extend(findings_for(p, kind, measure()))
            except Exception as exc:  # this part only: the other parts are still judged
                findings.extend(target_error(f.key, exc, f.labels, what=f"Looker {_TITLES[kind]} on {looker.base_url}")
                                for f in findings_for(p, kind, []))
        bad = [f for f in findings if f.status is not Status.OK]
        summary = (f"{len(bad)} Looker problem(s): " + " | ".join(f.summary for f in bad[:3]) if bad
                   else f"Looker healthy for {len(p.dashboards)} dashboards (PDTs, deliveries, content)")
        return ctx.result(self.kind, measured_status(findings), summary, values={"problems": float(len(bad))},
                          labels={"stage": "looker"}, findings=findings,
                          details={"looker": looker.base_url, "logins": str(looker.logins)})

    def _content_errors(self, ctx: CheckContext, looker: Any, now: datetime) -> list[ContentError]:
        """The content validator's answer, at most once per `content_validation_every` (kept in the check memory)."""
        cached = ctx.memory.load("content_validation")
        if isinstance(cached, dict) and "at" in cached:
            age = now - datetime.fromisoformat(str(cached["at"]))
            if timedelta(0) <= age < self.params.content_validation_every:
                return [ContentError(**e) for e in cached.get("errors", [])]
        with ctx.doing(f"Looker GET /content_validation on {looker.base_url}"):
            errors: list[ContentError] = looker.content_validation(timeout=ctx.remaining_seconds())
        ctx.memory.save("content_validation", {"at": now.isoformat(), "errors": [e.__dict__ for e in errors]})
        return errors
