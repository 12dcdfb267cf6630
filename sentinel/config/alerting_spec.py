"""The `rules:`, `routes:`, `notifiers:`, `maintenance:` and `pipeline:` sections of alert_rules.yaml."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from pydantic import Field, model_validator

from sentinel.config.base import Identifier, Matchers, RunbookName, Spec
from sentinel.durations import Duration, PositiveDuration
from sentinel.judge import ordered

Comparison = Literal[">", ">=", "<", "<="]


class ThresholdSpec(Spec):
    warning: float | None = None
    critical: float | None = None


class RuleSpec(Spec):
    """Judges results. Without `value`, the rule follows the check's own status (warn -> warning, critical -> critical)."""

    id: Identifier
    checks: list[str] = Field(default_factory=list, description="check ids this rule judges")
    match: Matchers = Field(default_factory=dict, description="label matchers (also `kind`)")
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
        warning, critical = self.thresholds.warning, self.thresholds.critical
        if self.value is not None and warning is None and critical is None:
            raise ValueError(f"rule on value {self.value!r} needs thresholds.warning and/or thresholds.critical")
        if self.value is None and (warning is not None or critical is not None):
            raise ValueError("thresholds need `value: <name>` (the result value they compare); without `value` a rule"
                             " follows the check's own status")
        if ordered(warning, critical, self.op) is not None:  # the order every check's params are held to
            raise ValueError(f"thresholds.critical ({critical:g}) must be at least as bad as thresholds.warning"
                             f" ({warning:g}) for op {self.op!r}")
        if self.repeat < timedelta(minutes=1):
            raise ValueError(f"`repeat` must be at least 1m (a reminder per result would flood the channel), got"
                             f" {self.repeat}")
        return self


class NotifierSpec(Spec):
    """A named receiver: `kind` is a `sentinel.notifiers` entry point; the rest is for that notifier."""

    name: Identifier
    kind: str
    options: dict[str, Any] = Field(default_factory=dict)


class RouteSpec(Spec):
    name: Identifier
    match: Matchers = Field(default_factory=dict)
    min_severity: Literal["warning", "critical"] = "warning"
    receivers: list[str] = Field(min_length=1, description="notifier names: slack, pager, console or `notifiers:`")
    group_by: list[str] = Field(default_factory=lambda: ["stage"])
    group_wait: Duration = timedelta(seconds=30)
    group_interval: PositiveDuration = timedelta(minutes=5)
    continue_: bool = Field(True, alias="continue")

    model_config = Spec.model_config | {"populate_by_name": True}


class MaintenanceSpec(Spec):
    """A recurring window (cron start + duration, UTC) during which matching alerts are silenced, not lost."""

    name: str
    match: Matchers = Field(default_factory=dict)
    cron: str
    duration: PositiveDuration
    comment: str = ""

    @model_validator(mode="after")
    def _cron_fires(self) -> MaintenanceSpec:
        if len(self.cron.split()) != 5:
            raise ValueError(f"cron {self.cron!r} needs 5 fields: minute hour day month day-of-week (crontab, UTC;"
                             " 0 or 7 = Sunday)")
        if self.duration <= timedelta(0):
            raise ValueError("a maintenance window needs a positive `duration`")
        from sentinel.config.checks_spec import check_cron

        check_cron(self.cron)
        return self


class TableLineageSpec(Spec):
    stages: list[str] | None = None
    slas: list[str] = Field(default_factory=list)
    dashboards: list[str] = Field(default_factory=list)
    # Where the table travels, as `sentinel discover --write` found it; the pipeline_coverage check reports a hop
    # whose mapping has since changed. All optional: a hand-written entry without them is compared by name only.
    topic: str | None = Field(None, description="Kafka topic, e.g. cdc.payments.transactions")
    s3_path: str | None = Field(None, description="s3://bucket/prefix/ the S3 sink writes the topic to")
    pipe: str | None = Field(None, description="the Snowpipe loading it, DATABASE.SCHEMA.PIPE")
    raw_table: str | None = Field(None, description="the Snowflake raw table, DATABASE.SCHEMA.TABLE")
    dbt_source: str | None = Field(None, description="the dbt source over the raw table, source_name.table")


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


class BurnWindowSpec(Spec):
    """One multi-window burn-rate alert: fire when the error budget burns `factor` times faster than the
    objective allows over both the `long` and the `short` window (the short one makes it resolve quickly)."""

    name: Identifier
    long: PositiveDuration
    short: PositiveDuration
    factor: float = Field(gt=0)
    severity: Literal["warning", "critical"] = "warning"

    @model_validator(mode="after")
    def _short_is_shorter(self) -> BurnWindowSpec:
        if self.short >= self.long:
            raise ValueError(f"burn window {self.name!r}: short ({self.short}) must be shorter than long ({self.long})")
        return self


def default_burn_windows() -> list[BurnWindowSpec]:
    """Fast burn pages, slow burn goes to Slack. The factors are the common 30-day ones (2% of the budget in 1 h,
    5% in 6 h); against Sentinel's one-week budget they mean 8.6% in 1 h and 21.4% in 6 h (see README)."""
    return [
        BurnWindowSpec(name="fast", long=timedelta(hours=1), short=timedelta(minutes=5), factor=14.4,
                       severity="critical"),
        BurnWindowSpec(name="slow", long=timedelta(hours=6), short=timedelta(minutes=30), factor=6.0,
                       severity="warning"),
    ]


class SlaSpec(Spec):
    """A service level: what "met" means at one instant, the check value that measures it, and the objective.

    freshness: met while `value` (default age_seconds) < `threshold` ("15m").
    deadline:  met unless the day's row is missing past its deadline (the check reports `seconds_past_deadline`
               > 0 or a CRITICAL status); `deadline` is the documented time after midnight UTC.
    The measuring check may report findings (one per table): `finding` (the finding key) or `table` (its
    `table` label) picks the one this SLA follows. Between two observations the earlier one holds for at most
    `max_gap`; time not covered by an observation is unknown, shown, and never counted as met.
    """

    id: Identifier
    description: str = ""
    kind: Literal["freshness", "deadline"] = "freshness"
    check: str
    finding: str | None = None
    table: str | None = None
    value: str | None = None
    threshold: PositiveDuration | None = None
    deadline: Duration | None = None
    objective: float = Field(0.995, gt=0, lt=1)
    owner: str = "data-platform"
    max_gap: PositiveDuration = timedelta(minutes=15)
    burn_rate: list[BurnWindowSpec] = Field(default_factory=default_burn_windows)

    @model_validator(mode="after")
    def _kind_fields(self) -> SlaSpec:
        if self.kind == "freshness" and self.threshold is None:
            raise ValueError(f"freshness SLA {self.id!r} needs threshold (e.g. '15m')")
        if self.kind == "deadline" and self.deadline is None:
            raise ValueError(f"deadline SLA {self.id!r} needs deadline (e.g. '1h' after midnight UTC)")
        return self

    @property
    def value_name(self) -> str:
        return self.value or ("age_seconds" if self.kind == "freshness" else "seconds_past_deadline")

    @property
    def period_budget_fraction(self) -> float:
        return 1.0 - self.objective


class ReportSpec(Spec):
    """The weekly SLA report: who gets it and when (UTC). `transport: ses` sends through Amazon SES."""

    to: list[str] = Field(default_factory=list)
    cc: list[str] = Field(default_factory=list)
    sender: str | None = Field(None, alias="from")
    subject: str = "Sentinel weekly SLA report {week}"
    weekday: Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"] = "monday"
    at: str = Field("09:00", pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
    transport: Literal["smtp", "ses"] = "smtp"
    noisiest: int = Field(5, ge=1, le=50)

    model_config = Spec.model_config | {"populate_by_name": True}

    @model_validator(mode="after")
    def _addresses(self) -> ReportSpec:
        for addr in (*self.to, *self.cc, *([self.sender] if self.sender else [])):
            if "@" not in addr or any(c in addr for c in "\r\n,;"):
                raise ValueError(f"not a single email address: {addr!r}")
        return self
