"""The whole alert_rules.yaml as one typed value."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field, model_validator

from sentinel.config.alerting_spec import (
    MaintenanceSpec,
    NotifierSpec,
    PipelineSpec,
    ReportSpec,
    RouteSpec,
    RuleSpec,
    SlaSpec,
)
from sentinel.config.base import Spec
from sentinel.config.checks_spec import CheckSpec
from sentinel.config.connections_spec import ConnectionsSpec
from sentinel.durations import Duration


class DefaultsSpec(Spec):
    error_threshold: int = Field(3, ge=1, description="consecutive ERROR results before a 'check broken' alert")
    resolve_after: Duration = timedelta(0)


class SentinelConfig(Spec):
    version: int = 1
    defaults: DefaultsSpec = Field(default_factory=DefaultsSpec)
    checks: list[CheckSpec] = Field(default_factory=list)
    rules: list[RuleSpec] = Field(default_factory=list)
    notifiers: list[NotifierSpec] = Field(default_factory=list)
    routes: list[RouteSpec] = Field(default_factory=list)
    maintenance: list[MaintenanceSpec] = Field(default_factory=list)
    slas: list[SlaSpec] = Field(default_factory=list)
    report: ReportSpec = Field(default_factory=ReportSpec)
    pipeline: PipelineSpec = Field(default_factory=PipelineSpec)
    connections: ConnectionsSpec = Field(default_factory=ConnectionsSpec)

    @model_validator(mode="after")
    def _unique_ids(self) -> SentinelConfig:
        for section, ids in (
            ("checks", [c.id for c in self.checks]),
            ("rules", [r.id for r in self.rules]),
            ("notifiers", [n.name for n in self.notifiers]),
            ("routes", [r.name for r in self.routes]),
            ("slas", [s.id for s in self.slas]),
        ):
            dupes = sorted({i for i in ids if ids.count(i) > 1})
            if dupes:
                raise ValueError(f"duplicate {section} id(s): {', '.join(dupes)}")
        return self

    def check(self, check_id: str) -> CheckSpec:
        for c in self.checks:
            if c.id == check_id:
                return c
        raise KeyError(check_id)
