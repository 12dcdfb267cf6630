"""pipeline_coverage: discover the pipeline from the systems (as `sentinel discover` does) and compare it with the
configured lineage and checks. One finding per table: a captured table nothing watches at some hop, a configured
table that no longer exists, a hop whose mapping changed (the S3 sink's folder, a pipe's target). Daily is enough:
these change with deployments, not minute to minute."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field

from sentinel.api import Check, CheckContext, CheckResult, Finding, Params, PositiveDuration, Status
from sentinel.discovery.coverage import configured, coverage, dbt_location_of
from sentinel.discovery.read import discover

StatusName = Literal["ok", "warn", "critical"]
_STATUS = {"ok": Status.OK, "warn": Status.WARN, "critical": Status.CRITICAL}


class PipelineCoverageParams(Params):
    dbt_location: str | None = Field(None, description="dbt artifacts; default: the dbt_results check's location")
    call_timeout: PositiveDuration = Field(timedelta(seconds=10), description="per remote call")
    ignore: list[str] = Field(default_factory=list, description="tables (or stream topics) nobody needs to watch")
    unwatched_status: StatusName = Field("warn", description="a captured table with no check at some hop")
    gone_status: StatusName = Field("warn", description="a configured table that no longer exists")
    changed_status: StatusName = Field("warn", description="a hop whose mapping changed since the config was written")


class PipelineCoverageCheck(Check[PipelineCoverageParams]):
    kind = "pipeline_coverage"
    Params = PipelineCoverageParams
    runbook = "pipeline-coverage"
    warm_imports = ("sentinel.discovery.read", "sentinel.sources.kafka_connect", "sentinel.sources.snowflake")

    def describe(self) -> str:
        return "discovered lineage vs configured checks: unwatched, gone and changed tables"

    def run(self, ctx: CheckContext) -> CheckResult:
        p = self.params
        ctx.doing.current = "the configured lineage"
        checks, pipeline = configured(str(ctx.sources.settings.config_file))
        ctx.doing.current = "discovering the pipeline (Kafka Connect, PostgreSQL, Snowflake, dbt, Looker)"
        timeout = min(p.call_timeout.total_seconds(), ctx.remaining_seconds())
        found = discover(ctx.sources, dbt_location=p.dbt_location or dbt_location_of(checks), timeout=timeout)
        if "debezium" in found.unread:
            reason = next((u.reason for u in found.unresolved if u.hop == "debezium"), "Kafka Connect was not read")
            return ctx.result(self.kind, Status.ERROR, f"cannot discover the pipeline: {reason}")
        statuses = {"unwatched": p.unwatched_status, "gone": p.gone_status, "changed": p.changed_status}
        findings = [
            Finding(f.key, _STATUS[statuses[f.kind]], f.summary, labels={"table": f.table, "stage": "coverage"},
                    details={"problem": f.kind, "hops": ", ".join(f.hops) or "-"})
            for f in coverage(found, checks, pipeline, p.ignore)
        ]
        # A system that could not be read leaves part of the pipeline unseen: say so as its own finding.
        findings += [Finding(f"unread:{u.hop}", Status.ERROR, f"could not read {u.subject}: {u.reason}",
                             labels={"stage": "coverage"}) for u in found.unresolved if u.hop in found.unread]
        problems = [f for f in findings if f.status != Status.OK]
        summary = (f"{len(found.tables)} tables discovered, every hop watched" if not problems else
                   f"{len(problems)} coverage problem(s) in {len(found.tables)} discovered tables")
        return ctx.result(self.kind, Status.worst(f.status for f in findings), summary,
                          values={"tables_discovered": float(len(found.tables)),
                                  "unwatched_tables": float(sum(f.key.startswith("unwatched:") for f in findings))},
                          findings=findings)
