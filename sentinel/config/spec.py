"""The whole alert_rules.yaml as one typed value."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field, field_validator

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


SUPPORTED_VERSION = 1


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

    # Unique ids and names, and references between sections, are checked by the loader
    # (sentinel/config/references.py) on the raw YAML, with the line of the duplicate.

    @field_validator("version", mode="before")
    @classmethod
    def _known_version(cls, value: object) -> object:
        if value != SUPPORTED_VERSION or isinstance(value, bool):
            raise ValueError(f"unsupported version {value!r}: this Sentinel reads `version: {SUPPORTED_VERSION}`"
                             " files (remove the key or set it to 1)")
        return value

    def check(self, check_id: str) -> CheckSpec:
        for c in self.checks:
            if c.id == check_id:
                return c
        raise KeyError(check_id)
