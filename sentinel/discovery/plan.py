"""What `sentinel discover --write` would add to alert_rules.yaml (pure): lineage entries for discovered tables,
missing lineage fields of existing entries, and the standard checks for hops nothing watches, with each kind's
defaults. Nothing here removes or changes what the config already says."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sentinel.config.spec import SentinelConfig
from sentinel.discovery.coverage import configured_entry, mapping, watchers
from sentinel.discovery.model import Discovery, SinkRoute, TableLineage

# Discovered hops -> the pipeline stages they are (a stream's `stages:` list).
_STAGES = {"kafka": ["kafka"], "s3": ["s3_sink", "s3"], "snowpipe": ["snowpipe"], "snowflake_raw": ["snowflake_raw"],
           "dbt": ["dbt"], "analytics": ["analytics"], "looker": ["looker"]}


@dataclass
class Additions:
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)  # new pipeline.tables entries
    fields: dict[str, dict[str, Any]] = field(default_factory=dict)  # existing entry -> keys it lacks
    checks: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what was left out, and why

    def __bool__(self) -> bool:
        return bool(self.tables or self.fields or self.checks)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def _entry(t: TableLineage, known_stages: list[str]) -> dict[str, Any]:
    entry: dict[str, Any] = {k: v for k, v in mapping(t).items() if v is not None}
    if t.dashboards:
        entry["dashboards"] = list(t.dashboards)
    if t.connector is None:  # a stream: only the stages it passes through
        entry = {"stages": [s for hop in t.reached() for s in _STAGES.get(hop, []) if s in known_stages], **entry}
    return entry


class _Checks:
    """New checks, one per kind (or per group/bucket where a check reads only one), ids unique in the config."""

    def __init__(self, taken: set[str]) -> None:
        self.taken = taken
        self.by_id: dict[str, dict[str, Any]] = {}

    def get(self, name: str, kind: str, stage: str, description: str, params: dict[str, Any],
            every: str = "5m") -> dict[str, Any]:
        check_id = f"discovered_{_slug(name)}"
        if check_id not in self.by_id:
            base, n = check_id, 2
            while check_id in self.taken:
                check_id, n = f"{base}_{n}", n + 1
            self.taken.add(check_id)
            self.by_id[f"discovered_{_slug(name)}"] = {
                "id": check_id, "kind": kind, "description": f"{description} (sentinel discover)",
                "schedule": {"every": every}, "timeout": "60s", "labels": {"stage": stage}, "params": params}
        found: dict[str, Any] = self.by_id[f"discovered_{_slug(name)}"]["params"]
        return found


def _add_checks(t: TableLineage, missing: list[str], checks: _Checks, dbt_location: str | None,
                has_dbt_results: bool, notes: list[str]) -> None:
    if "debezium" in missing and t.connector:
        params = checks.get("connectors", "kafka_connect_status", "debezium", "CDC connectors and tasks RUNNING",
                            {"connectors": []}, "1m")
        if t.connector not in params["connectors"]:
            params["connectors"].append(t.connector)
    if "kafka" in missing and t.s3 is not None and t.topic:
        _add_lag_check(t.s3, t.topic, checks)
    if "s3" in missing and t.s3 is not None:
        if t.s3.layout is None:
            notes.append(f"{t.table}: no s3_partition_arrival check for {t.s3.url}: its folders are not dt= partitions")
        else:
            params = checks.get(f"s3 {t.s3.bucket}", "s3_partition_arrival", "s3",
                                "today's dt= partition arrives and keeps receiving files",
                                {"bucket": t.s3.bucket, "prefixes": []})
            params["prefixes"].append(t.s3.prefix)
            if ".".join(t.s3.prefix.strip("/").split("/")[-2:]) != t.table:
                params.setdefault("table_labels", {})[t.s3.prefix] = t.table
    if ("snowpipe" in missing or "snowflake_raw" in missing) and t.pipe is not None:
        params = checks.get("snowpipe", "snowpipe_load_history", "snowpipe", "Snowpipe loads and pipe health",
                            {"targets": []})
        params["targets"].append({"table": t.pipe.target, "pipe": t.pipe.pipe, "source_table": t.table})
    if "dbt" in missing and not has_dbt_results:
        if dbt_location:
            checks.get("dbt", "dbt_results", "dbt", "dbt tests, models and source freshness",
                       {"location": dbt_location}, "2m")
        else:
            notes.append("no dbt_results check added: the dbt artifacts location is unknown (--dbt-location)")
    if "looker" in missing and t.dashboards:
        _add_dashboards(t, checks)


def _add_lag_check(s3: SinkRoute, topic: str, checks: _Checks) -> None:
    """The S3 sink's consumer group behind this table's topic (one check per group, every topic it reads)."""
    params = checks.get(f"lag {s3.group}", "kafka_consumer_lag", "s3_sink",
                        f"the S3 sink's group {s3.group} behind its topics",
                        {"groups": [s3.group], "topics": [], "window": "10m", "lag_warn_after": "5m",
                         "lag_critical_after": "15m"}, "1m")
    selection = s3.selection or re.escape(topic)
    if selection not in params["topics"]:  # the sink's own topics.regex: a topic added later is watched too
        params["topics"].append(selection)


def _add_dashboards(t: TableLineage, checks: _Checks) -> None:
    """The table's dashboards on the one looker check, each listing the tables behind it."""
    params = checks.get("looker", "looker", "looker", "dashboards' PDTs, deliveries and content", {"dashboards": []})
    for title in t.dashboards:
        entry = next((d for d in params["dashboards"] if d["title"] == title), None)
        if entry is None:
            params["dashboards"].append({"title": title, "tables": [t.table]})
        elif t.table not in entry["tables"]:
            entry["tables"].append(t.table)


def plan(found: Discovery, spec: SentinelConfig, *, dbt_location: str | None = None) -> Additions:
    out = Additions()
    checks = _Checks({c.id for c in spec.checks})
    has_dbt_results = any(c.kind == "dbt_results" and c.enabled for c in spec.checks)
    for t in found.tables:
        if t.exists_at_source is False:
            out.notes.append(f"{t.table}: not added, PostgreSQL has no such table")
            continue
        wanted = _entry(t, spec.pipeline.stages)
        existing = configured_entry(t, spec.pipeline)
        if existing is None:
            out.tables[t.table] = wanted
        else:
            name, entry = existing
            lacking = {k: v for k, v in wanted.items()
                       if k not in entry.model_fields_set and k not in ("stages", "dashboards")}
            if lacking:
                out.fields[name] = lacking
        watched = watchers(t, spec.checks)
        missing = [hop for hop, by in watched.items() if not by]
        _add_checks(t, missing, checks, dbt_location, has_dbt_results, out.notes)
    out.checks = list(checks.by_id.values())
    return out
