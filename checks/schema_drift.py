"""schema_drift: does every column make it through every hop, and did any hop's columns change?

Someone adds payments.transactions.fee_currency. Debezium carries it, the S3 sink writes it into Parquet, and
Snowpipe's COPY ... MATCH_BY_COLUMN_NAME drops it silently because RAW.TRANSACTIONS has no such column. Every other
check stays green. Per table, this check reads the columns at each hop that has a schema (PostgreSQL
information_schema, the Debezium message schema on the CDC topic, the newest S3 partition's Parquet footer,
the Snowflake raw table, the dbt source) and reports:

- gaps (finding `<table>:gaps`, WARN, holds while the gap exists): a source column that stops at a hop
  ("fee_currency reaches S3 Parquet but not Snowflake RAW.TRANSACTIONS"), a column a dbt source declares that the
  raw table lacks (its models read NULLs or fail);
- changes since the baseline (finding `<table>:changes`, reported once): a column added or dropped at a hop, a type
  changed or narrowed, a nullability change. The baseline lives in check memory and moves to what was seen, so the
  next run is OK again; dropped and narrowed columns are CRITICAL, the rest WARN.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field, field_validator, model_validator

from sentinel.api import Check, CheckContext, CheckError, CheckResult, ConnectionName, Finding, Params, Status

from ._schema_diff import Change, describe_changes, diff_hop, gaps
from ._schemas import (
    Column,
    Columns,
    dbt_columns,
    kafka_columns,
    newest_parquet,
    parquet_columns,
    postgres_columns,
    snowflake_columns,
)

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")
DEBEZIUM_AND_LOAD_COLUMNS = ["__deleted", "__op", "__source_ts_ms", "__ts_ms", "__lsn", "__table", "_loaded_at"]


def _table_name(value: str, parts: tuple[int, ...]) -> str:
    pieces = value.split(".")
    if len(pieces) not in parts or not all(_IDENT.match(x) for x in pieces):
        raise ValueError(f"expected {' or '.join(str(p) for p in parts)} dotted plain identifiers, got {value!r}")
    return value


class DriftTable(Params):
    name: str = Field(description="pipeline table label, e.g. payments.transactions")
    postgres: str | None = Field(None, description="schema.table in PostgreSQL (the source)")
    kafka_topic: str | None = Field(None, description="CDC topic, e.g. cdc.payments.transactions (JSON with schemas)")
    s3_bucket: str | None = None
    s3_prefix: str | None = Field(None, description="e.g. raw/payments/transactions/ (holds dt=YYYY-MM-DD/)")
    snowflake: str | None = Field(None, description="[DATABASE.]SCHEMA.TABLE of the raw table")
    dbt_source: str | None = Field(None, description="source_name.table as in sources.yml")
    ignore_columns: list[str] = Field(default_factory=lambda: list(DEBEZIUM_AND_LOAD_COLUMNS))

    @field_validator("postgres")
    @classmethod
    def _pg(cls, value: str | None) -> str | None:
        return None if value is None else _table_name(value, (2,))

    @field_validator("snowflake")
    @classmethod
    def _sf(cls, value: str | None) -> str | None:
        return None if value is None else _table_name(value, (2, 3))

    @model_validator(mode="after")
    def _s3_pair(self) -> DriftTable:
        if (self.s3_bucket is None) != (self.s3_prefix is None):
            raise ValueError("set s3_bucket and s3_prefix together")
        hops = (self.postgres, self.kafka_topic, self.s3_prefix, self.snowflake, self.dbt_source)
        if sum(x is not None for x in hops) < 2:
            raise ValueError("name at least two hops to compare")
        return self


class SchemaDriftParams(Params):
    connection: ConnectionName = "default"
    dbt_location: str | None = Field(None, description="dbt artifacts directory or s3:// URL (for dbt_source)")
    tables: list[DriftTable] = Field(min_length=1)

    @model_validator(mode="after")
    def _dbt(self) -> SchemaDriftParams:
        if any(t.dbt_source for t in self.tables) and not self.dbt_location:
            raise ValueError("dbt_source needs dbt_location")
        return self


Hops = list[tuple[str, str, Columns]]  # (hop kind, where, columns) in pipeline order


class SchemaDriftCheck(Check[SchemaDriftParams]):
    kind = "schema_drift"
    Params = SchemaDriftParams
    runbook = "schema-drift"

    def describe(self) -> str:
        return f"{len(self.params.tables)} table(s) across PostgreSQL / S3 Parquet / Snowflake raw / dbt sources"

    def run(self, ctx: CheckContext) -> CheckResult:
        findings: list[Finding] = []
        for t in self.params.tables:
            try:
                findings.extend(self._table(ctx, t))
            except CheckError as exc:  # SourceError included: this table could not be read, the others can
                findings.extend(Finding(f"{t.name}:{part}", Status.ERROR, f"{t.name}: cannot compare schemas: {exc}",
                                        labels={"table": t.name, "stage": "schema"}, details={"error": str(exc)})
                                for part in ("gaps", "changes"))
        bad = [f for f in findings if f.status is not Status.OK]
        summary = (" | ".join(f.summary for f in bad[:3]) if bad
                   else f"{len(self.params.tables)} table(s): columns agree at every hop, no change since the baseline")
        return ctx.result(self.kind, Status.worst(f.status for f in findings), summary,
                          values={"drifted_tables": float(len({f.labels['table'] for f in bad}))}, findings=findings)

    def _hops(self, ctx: CheckContext, t: DriftTable) -> Hops:
        hops: Hops = []
        if t.postgres:
            hops.append(("postgres", f"PostgreSQL {t.postgres}", postgres_columns(ctx, self.params.connection, t.postgres)))
        if t.kafka_topic:
            message_columns = kafka_columns(ctx, t.kafka_topic)
            if message_columns is not None:
                hops.append(("kafka", f"Kafka {t.kafka_topic}", message_columns))
        if t.s3_bucket and t.s3_prefix:
            newest = newest_parquet(ctx, t.s3_bucket, t.s3_prefix)
            if newest is not None:
                partition, key = newest
                where = f"S3 Parquet {partition.rstrip('/').rsplit('/', 1)[-1]}"
                hops.append(("s3", where, parquet_columns(ctx, t.s3_bucket, key)))
        if t.snowflake:
            hops.append(("snowflake", f"Snowflake {t.snowflake.upper()}", snowflake_columns(ctx, t.snowflake)))
        if t.dbt_source and self.params.dbt_location:
            declared = dbt_columns(ctx, self.params.dbt_location, t.dbt_source)
            if declared is not None:
                hops.append(("dbt", f"dbt source {t.dbt_source}", declared))
        ignore = {c.lower() for c in t.ignore_columns}
        return [(k, w, {n: c for n, c in cols.items() if n not in ignore}) for k, w, cols in hops]

    def _table(self, ctx: CheckContext, t: DriftTable) -> list[Finding]:
        hops = self._hops(ctx, t)
        labels = {"table": t.name, "stage": "schema"}
        gap_lines = gaps(hops)
        gap = Finding(key=f"{t.name}:gaps", status=Status.WARN if gap_lines else Status.OK,
                      summary=f"{t.name}: " + ("; ".join(gap_lines) if gap_lines else "every column reaches every hop"),
                      values={"column_gaps": float(len(gap_lines))}, labels=labels,
                      details={"hops": " -> ".join(w for _, w, _ in hops)})
        key = f"baseline:{t.name}"
        baseline: dict[str, Any] = ctx.memory.load(key) or {}
        changes: list[Change] = []
        for kind, where, cols in hops:
            if kind in baseline:
                old = {n: Column(v[0], v[1]) for n, v in baseline[kind].items()}
                changes.extend(diff_hop(where, old, cols, hops))
        ctx.memory.save(key, {**baseline, **{k: {n: c.as_json() for n, c in cols.items()} for k, _, cols in hops}})
        status = Status.worst([c.status for c in changes] or [Status.OK])
        first = not baseline
        text = describe_changes(changes) if changes else (
            "baseline recorded at " + ", ".join(w for _, w, _ in hops) if first else "no change since the last run")
        change = Finding(key=f"{t.name}:changes", status=status, summary=f"{t.name}: {text}",
                         values={"schema_changes": float(len(changes))}, labels=labels)
        return [gap, change]
