"""Read one table's columns at each hop of the pipeline, for schema_drift.

Each reader returns {column name (lowercase): Column}. Types are kept as each system spells them (numeric(18,2),
decimal128(18, 2), NUMBER(18,2)): comparing a type across hops would need Debezium's encodings (a timestamp becomes
an int64 of microseconds), so types are compared within one hop over time, and presence is compared across hops.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from typing import Any

from sentinel.api import CheckContext, SourceError


@dataclass(frozen=True)
class Column:
    type: str
    nullable: bool | None  # None: the hop does not say (dbt sources)

    def as_json(self) -> list[Any]:
        return [self.type, self.nullable]


Columns = dict[str, Column]


def _sized(base: str, length: Any, precision: Any, scale: Any) -> str:
    if length:
        return f"{base}({int(length)})"
    if precision and base.lower() in ("numeric", "number", "decimal"):
        return f"{base}({int(precision)},{int(scale or 0)})"
    return base


def postgres_columns(ctx: CheckContext, connection: str, table: str) -> Columns:
    schema, name = table.split(".")
    rows = ctx.sources.postgres(connection).fetch_all(
        "SELECT column_name, data_type, character_maximum_length, numeric_precision, numeric_scale, is_nullable "
        "FROM information_schema.columns WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
        (schema, name), ctx.remaining())
    if not rows:
        raise SourceError(f"PostgreSQL table {table} has no columns visible to Sentinel",
                          hint=f"does {table} exist, and does the monitor role have SELECT on it?")
    return {str(r[0]).lower(): Column(_sized(r[1], r[2], r[3] if r[1] == "numeric" else None, r[4]), r[5] == "YES")
            for r in rows}


_DB = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")


def snowflake_columns(ctx: CheckContext, table: str) -> Columns:
    parts = table.upper().split(".")
    schema, name = parts[-2], parts[-1]
    # The database is a validated plain identifier (VolumeTable-style check in Params); the rest are bound values.
    catalog = f"{parts[0]}.INFORMATION_SCHEMA.COLUMNS" if len(parts) == 3 and _DB.match(parts[0]) else \
        "INFORMATION_SCHEMA.COLUMNS"
    sql = (f"SELECT COLUMN_NAME, DATA_TYPE, CHARACTER_MAXIMUM_LENGTH, NUMERIC_PRECISION, NUMERIC_SCALE, IS_NULLABLE "
           f"FROM {catalog} WHERE TABLE_SCHEMA = %(schema)s AND TABLE_NAME = %(table)s ORDER BY ORDINAL_POSITION")
    with ctx.sources.snowflake(timeout=ctx.remaining_seconds()) as sf:
        rows = sf.query(sql, {"schema": schema, "table": name}, timeout=ctx.remaining_seconds())
    if not rows:
        raise SourceError(f"Snowflake table {table} has no columns visible to Sentinel",
                          hint=f"does {table} exist, and does Sentinel's role have SELECT on it?")
    return {str(r["COLUMN_NAME"]).lower(): Column(
        _sized(str(r["DATA_TYPE"]), r["CHARACTER_MAXIMUM_LENGTH"] if str(r["DATA_TYPE"]).upper() != "TEXT" else None,
               r["NUMERIC_PRECISION"], r["NUMERIC_SCALE"]), r["IS_NULLABLE"] == "YES") for r in rows}


def newest_parquet(ctx: CheckContext, bucket: str, prefix: str) -> tuple[str, str] | None:
    """(partition prefix, key) of the newest Parquet file in the newest dt= partition, or None when there is none."""
    s3 = ctx.sources.s3()
    partitions = sorted(p for p in s3.list_prefixes(bucket, prefix, timeout=ctx.remaining_seconds()) if "dt=" in p)
    for partition in reversed(partitions[-2:]):  # today's may be empty just after midnight
        files = [o for o in s3.list_objects(bucket, partition, timeout=ctx.remaining_seconds())
                 if o.key.endswith(".parquet") and o.size > 12]
        if files:
            return partition, max(files, key=lambda o: (o.last_modified, o.key)).key
    return None


def parquet_columns(ctx: CheckContext, bucket: str, key: str) -> Columns:
    """The schema from the file's footer only: two ranged GETs, never the whole file."""
    try:  # imported on use: it is heavy, and only this hop needs it
        import pyarrow as pa  # type: ignore[import-untyped]
        import pyarrow.parquet as pq  # type: ignore[import-untyped]
    except ImportError:
        raise SourceError("pyarrow is not installed, so Parquet schemas cannot be read",
                          hint="install pyarrow in Sentinel's image, or drop s3_bucket/s3_prefix from the table") from None

    s3 = ctx.sources.s3()
    tail = s3.read_tail(bucket, key, 8)
    if len(tail) != 8 or tail[4:] != b"PAR1":
        raise SourceError(f"s3://{bucket}/{key} is not a Parquet file (no PAR1 footer)",
                          hint="is the S3 sink writing Parquet (format.class ParquetFormat)?")
    footer = s3.read_tail(bucket, key, struct.unpack("<I", tail[:4])[0] + 8)
    schema = pq.read_schema(pa.BufferReader(b"PAR1" + footer))
    return {f.name.lower(): Column(str(f.type), f.nullable) for f in schema}


def dbt_columns(ctx: CheckContext, location: str, source: str) -> Columns | None:
    """Columns the dbt source declares (None: it declares none, so it has nothing to compare)."""
    source_name, table = source.split(".", 1)
    manifest = ctx.sources.dbt_artifacts(location).load(ctx.remaining_seconds()).manifest
    declared = manifest.source_columns(source_name, table)
    if declared is None:
        raise SourceError(f"dbt source {source} is not in {manifest.file}",
                          hint="check params dbt_source (source_name.table as in sources.yml)")
    return {k.lower(): Column(v or "", None) for k, v in declared.items()} or None


def kafka_columns(ctx: CheckContext, topic: str) -> Columns | None:
    """Columns of the newest CDC message's schema (JsonConverter with schemas.enable=true), None if the topic is empty.

    A Debezium envelope describes the row in its `after` field; a flattened topic (ExtractNewRecordState) describes
    it at the top. Logical types keep their name (org.apache.kafka.connect.data.Decimal -> Decimal).
    """
    import json

    messages = ctx.sources.kafka().newest_values(topic, ctx.remaining_seconds())
    if not messages:
        return None
    _, value = max(messages, key=lambda m: m[0].timestamp() if m[0] else 0.0)
    try:
        schema = json.loads(value).get("schema")
    except (ValueError, AttributeError):
        raise SourceError(f"the newest message on {topic} is not JSON",
                          hint="schema_drift reads JsonConverter messages; drop kafka_topic for Avro/Protobuf topics") from None
    if not isinstance(schema, dict):
        raise SourceError(f"messages on {topic} carry no schema",
                          hint="set value.converter.schemas.enable=true on the connector, or drop kafka_topic")
    fields = schema.get("fields") or []
    after = next((f for f in fields if isinstance(f, dict) and f.get("field") == "after"), None)
    row = (after or {}).get("fields") if after else fields
    return {str(f["field"]).lower(): Column(_connect_type(f), bool(f.get("optional")))
            for f in row or [] if isinstance(f, dict) and "field" in f}


def _connect_type(field: dict[str, Any]) -> str:
    name = field.get("name")
    if not name:
        return str(field.get("type"))
    params = field.get("parameters") or {}
    args = ",".join(f"{k}={v}" for k, v in sorted(params.items()) if not k.startswith("connect.decimal.precision"))
    short = str(name).rsplit(".", 1)[-1]
    return f"{short}({args})" if args else short
