"""The `rules:`, `routes:`, `notifiers:`, `maintenance:` and `pipeline:` sections of alert_rules.yaml."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from pydantic import Field, model_validator

from sentinel.config.base import Identifier, RunbookName, Spec
from sentinel.durations import Duration

Comparison = Literal[">", ">=", "<", "<="]


class ThresholdSpec(Spec):
    warning: float | None = None
    critical: float | None = None


class RuleSpec(Spec):
    """Judges results. Without `value`, the rule follows the check's own status (warn -> warning, critical -> critical)."""

    id: Identifier
    checks: list[str] = Field(default_factory=list, description="check ids this rule judges")
    match: dict[str, str] = Field(default_factory=dict, description="label matchers (also `kind`)")
    value: str | None = None
    op: Comparison = ">"
    thresholds: ThresholdSpec = Field(default_factory=ThresholdSpec)
    for_: Duration = Field(timedelta(0), alias="for")
    repeat: Duration = timedelta(hours=4)
    clear_for: Duration = timedelta(0)
    route: str | None = None
    runbook: RunbookName
    labels: dict[str, str] = Field(default_factory=dict)
    summary: str | None = None

    model_config = Spec.model_config | {"populate_by_name": True}

    @model_validator(mode="after")
    def _selects_something(self) -> RuleSpec:
        if not self.checks and not self.match:
            raise ValueError("a rule needs `checks: [ids]` or `match: {label: value}` to know what it judges")
        if self.value is not None and self.thresholds.warning is None and self.thresholds.critical is None:
            raise ValueError(f"rule on value {self.value!r} needs thresholds.warning and/or thresholds.critical")
        return self


class NotifierSpec(Spec):
    """A named receiver: `kind` is a `sentinel.notifiers` entry point; the rest is for that notifier."""

    name: Identifier
    kind: str
    options: dict[str, Any] = Field(default_factory=dict)


class RouteSpec(Spec):
    name: Identifier
    match: dict[str, str] = Field(default_factory=dict)
    min_severity: Literal["warning", "critical"] = "warning"
    receivers: list[str]
    group_by: list[str] = Field(default_factory=lambda: ["stage"])
    group_wait: Duration = timedelta(seconds=30)
    group_interval: Duration = timedelta(minutes=5)
    continue_: bool = Field(True, alias="continue")

    model_config = Spec.model_config | {"populate_by_name": True}


class MaintenanceSpec(Spec):
    """A recurring window (cron start + duration, UTC) during which matching alerts are silenced, not lost."""

    name: str
    match: dict[str, str] = Field(default_factory=dict)
    cron: str
    duration: Duration
    comment: str = ""

    @model_validator(mode="after")
    def _cron_fires(self) -> MaintenanceSpec:
        from sentinel.config.checks_spec import check_cron

        check_cron(self.cron)
        return self


class TableLineageSpec(Spec):
    stages: list[str] | None = None
    slas: list[str] = Field(default_factory=list)
    dashboards: list[str] = Field(default_factory=list)


class PipelineSpec(Spec):
    """Stages in data-flow order; per table, the SLAs and dashboards that depend on it."""

    stages: list[str] = Field(
        default_factory=lambda: [
            "postgres", "debezium", "kafka", "s3_sink", "s3", "snowpipe", "snowflake_raw", "dbt", "analytics", "looker",
        ]
    )
    tables: dict[str, TableLineageSpec] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known_stages(self) -> PipelineSpec:
        known = set(self.stages)
        for table, lineage in self.tables.items():
            unknown = [s for s in lineage.stages or [] if s not in known]
            if unknown:
                raise ValueError(f"table {table!r} names unknown stage(s) {unknown}; known: {self.stages}")
        return self

    def upstream_of(self, stage: str, table: str | None = None) -> list[str]:
        order = self.stages
        if table and table in self.tables and self.tables[table].stages:
            order = self.tables[table].stages or order
        return order[: order.index(stage)] if stage in order else []


class SlaSpec(Spec):
    id: Identifier
    description: str = ""
    kind: Literal["freshness", "deadline"] = "freshness"
    check: str
    value: str = "age_seconds"
    threshold: float | None = None
    deadline: Duration | None = None
    objective: float = Field(0.995, gt=0, lt=1)
    owner: str = "data-platform"
    table: str | None = None
