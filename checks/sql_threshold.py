"""sql_threshold: run a read-only query on a named PostgreSQL connection and compare its one number to thresholds.

Example: retained WAL of the Debezium slot,
    SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn) FROM pg_replication_slots WHERE slot_name = %(slot)s
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Literal

from pydantic import Field, field_validator, model_validator

from sentinel.api import (
    Check,
    CheckContext,
    CheckResult,
    ConnectionName,
    Params,
    SourceError,
    Status,
    check_read_only,
    crossed,
    ordered,
)

Op = Literal[">", ">=", "<", "<="]


class SqlThresholdParams(Params):
    connection: ConnectionName = "default"
    query: str = Field(min_length=1)
    parameters: dict[str, str | int | float | bool] = Field(default_factory=dict)
    value_name: str = Field("value", pattern=r"^[a-z][a-z0-9_]*$", description="name with its unit, e.g. retained_wal_bytes")
    op: Op = ">"
    warning: float | None = None
    critical: float | None = None
    no_row_value: float | None = Field(None, description="value to use when the query returns no row; unset = ERROR")

    @field_validator("query")
    @classmethod
    def _read_only(cls, query: str) -> str:
        # Refused here so `validate` reports it with file:line; the source refuses it again before running it.
        check_read_only(query, "postgres")
        return query.strip().rstrip(";").rstrip()

    @model_validator(mode="after")
    def _has_threshold(self) -> SqlThresholdParams:
        if self.warning is None and self.critical is None:
            raise ValueError("set `warning` and/or `critical`")
        if self.warning is not None and self.critical is not None and ordered(self.warning, self.critical, self.op):
            # Otherwise the critical threshold is crossed first and the warning never shows.
            raise ValueError(f"critical ({_fmt(self.critical)}) must be at least as bad as warning "
                             f"({_fmt(self.warning)}) for op {self.op!r}: swap them, or change `op`")
        return self


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.3f}"


class SqlThresholdCheck(Check[SqlThresholdParams]):
    kind = "sql_threshold"
    Params = SqlThresholdParams
    runbook = "sql-threshold"
    warm_imports = ("sentinel.sources.postgres", "sentinel.readonly_sql", "sqlglot")

    def describe(self) -> str:
        p = self.params
        parts = [f"warn {p.op} {_fmt(p.warning)}" if p.warning is not None else "",
                 f"crit {p.op} {_fmt(p.critical)}" if p.critical is not None else ""]
        return f"{p.value_name} on {p.connection}: " + ", ".join(x for x in parts if x)

    def run(self, ctx: CheckContext) -> CheckResult:
        p = self.params
        source = ctx.sources.postgres(p.connection)
        with ctx.doing(f"PostgreSQL query on {source.name!r} ({source.where})"):
            row = source.fetch_user_query(p.query, p.parameters or None, ctx.remaining())
        if row is None or len(row) == 0:
            if p.no_row_value is None:
                raise SourceError(
                    f"query on {p.connection!r} returned no row",
                    hint="make the query return exactly one number, or set params.no_row_value",
                )
            value = p.no_row_value
        else:
            raw = row[0]
            if isinstance(raw, bool) or not isinstance(raw, int | float | Decimal):
                raise SourceError(
                    f"query on {p.connection!r} returned {type(raw).__name__} {str(raw)[:60]!r}, not a number",
                    hint="cast the first column to a number in SQL",
                )
            value = float(raw)
            if math.isnan(value):
                raise SourceError(f"query on {p.connection!r} returned NaN", hint="coalesce the value in SQL")
        status, threshold = crossed(value, warn=p.warning, critical=p.critical, op=p.op)
        if status is not Status.OK and threshold is not None:
            summary = f"{p.value_name} = {_fmt(value)} ({p.op} {status.value} threshold {_fmt(threshold)})"
        else:
            summary = f"{p.value_name} = {_fmt(value)} (within thresholds)"
        values = {p.value_name: value}
        if p.warning is not None:
            values[f"{p.value_name}_warning_threshold"] = p.warning
        if p.critical is not None:
            values[f"{p.value_name}_critical_threshold"] = p.critical
        return ctx.result(self.kind, status, summary, values=values,
                          details={"query": p.query, "connection": f"{p.connection} ({source.where})"})
