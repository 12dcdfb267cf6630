"""The discovered lineage as a person reads it (per table, per hop) and as JSON."""

from __future__ import annotations

import json
from dataclasses import asdict

from sentinel.discovery.model import HOPS, Discovery, TableLineage


def hop_values(t: TableLineage) -> dict[str, str | None]:
    """What each hop resolved to, in words; None where the table does not reach it."""
    s3 = None
    if t.s3 is not None:
        s3 = f"{t.s3.url} ({t.s3.layout or 'not dt= partitions'}; {t.s3.connector}, group {t.s3.group})"
    source = None
    if t.dbt_source is not None:
        fresh = f", loaded_at_field {t.dbt_source.loaded_at_field}" if t.dbt_source.loaded_at_field else ""
        source = f"source {t.dbt_source.name} ({t.dbt_source.relation}{fresh})"
    looker = ", ".join(t.dashboards) or None
    if t.exposures:
        looker = f"{looker or '-'}  (dbt exposures: {', '.join(t.exposures)})"
    postgres = None if t.connector is None else {True: t.table, False: f"{t.table} (NOT FOUND in PostgreSQL)",
                                                 None: f"{t.table} (PostgreSQL not read)"}[t.exists_at_source]
    return {
        "postgres": postgres,
        "debezium": f"connector {t.connector}" if t.connector else None,
        "kafka": f"topic {t.topic}" if t.topic else None,
        "s3": s3,
        "snowpipe": t.pipe.pipe if t.pipe else None,
        "snowflake_raw": t.pipe.target if t.pipe else None,
        "dbt": source,
        "analytics": ", ".join(t.models) or None,
        "looker": looker,
    }


def render_text(found: Discovery) -> str:
    lines = ["Read: " + "; ".join(found.systems), ""]
    for t in found.tables:
        kind = "" if t.connector else "  (a stream: reaches the lake from Kafka, not captured from PostgreSQL)"
        lines.append(f"{t.table}{kind}")
        values = hop_values(t)
        for hop in HOPS:
            if values[hop] is not None:
                lines.append(f"  {hop:<14}{values[hop]}")
        for u in t.unresolved:
            lines.append(f"  {u.hop:<14}UNRESOLVED: {u.reason}")
        lines.append("")
    if found.unresolved:
        lines.append("Unresolved (not tied to one table):")
        lines += [f"  {u.hop:<14}{u.subject}: {u.reason}" for u in found.unresolved]
    else:
        lines.append("Every hop resolved.")
    return "\n".join(lines)


def render_json(found: Discovery) -> str:
    return json.dumps({"systems": list(found.systems),
                       "tables": [{**asdict(t), "reached": t.reached()} for t in found.tables],
                       "unresolved": [asdict(u) for u in found.unresolved]}, indent=2, default=sorted)
