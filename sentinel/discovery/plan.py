"""What `sentinel discover --write` would add to alert_rules.yaml (pure): lineage entries for discovered tables,
missing lineage fields of existing entries, the standard checks for hops nothing watches, with each kind's
defaults, and a warehouse_freshness target per raw table a dbt source reads (its loaded_at_field, with dbt's
freshness thresholds). Nothing here removes or changes what the config already says."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sentinel.config.spec import SentinelConfig
from sentinel.discovery.coverage import configured_entry, mapping, names_object, watchers
from sentinel.discovery.model import Discovery, TableLineage
from sentinel.durations import parse_duration

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


# Thresholds of a generated warehouse_freshness target when dbt declares no source freshness: named in the notes,
# so the person reviewing the diff sets the table's real SLA.
DEFAULT_FRESHNESS = ("1h", "2h")  # warn_after, critical_after
_PLAIN_COLUMN = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")


@dataclass(frozen=True)
class _Context:
    """What every per-hop adder needs besides the table."""

    checks: _Checks
    notes: list[str]
    dbt_location: str | None
    has_dbt_results: bool
    fresh_tables: frozenset[str]  # raw tables an enabled warehouse_freshness check already reads, upper case


def _debezium(t: TableLineage, cx: _Context) -> None:
    if t.connector:
        params = cx.checks.get("connectors", "kafka_connect_status", "debezium", "CDC connectors and tasks RUNNING",
                               {"connectors": []}, "1m")
        if t.connector not in params["connectors"]:
            params["connectors"].append(t.connector)


def _kafka(t: TableLineage, cx: _Context) -> None:
    if t.s3 is None or not t.topic:
        return
    params = cx.checks.get(f"lag {t.s3.group}", "kafka_consumer_lag", "s3_sink",
                           f"the S3 sink's group {t.s3.group} behind its topics",
                           {"groups": [t.s3.group], "topics": [], "window": "10m", "lag_warn_after": "5m",
                            "lag_critical_after": "15m"}, "1m")
    selection = t.s3.selection or re.escape(t.topic)
    if selection not in params["topics"]:  # the sink's own topics.regex: a topic added later is watched too
        params["topics"].append(selection)


def _s3(t: TableLineage, cx: _Context) -> None:
    if t.s3 is None:
        return
    if t.s3.layout is None:
        cx.notes.append(f"{t.table}: no s3_partition_arrival check for {t.s3.url}: its folders are not dt= partitions")
        return
    params = cx.checks.get(f"s3 {t.s3.bucket}", "s3_partition_arrival", "s3",
                           "today's dt= partition arrives and keeps receiving files",
                           {"bucket": t.s3.bucket, "prefixes": []})
    params["prefixes"].append(t.s3.prefix)
    if ".".join(t.s3.prefix.strip("/").split("/")[-2:]) != t.table:
        params.setdefault("table_labels", {})[t.s3.prefix] = t.table


def _snowpipe(t: TableLineage, cx: _Context) -> None:
    if t.pipe is not None:
        params = cx.checks.get("snowpipe", "snowpipe_load_history", "snowpipe", "Snowpipe loads and pipe health",
                               {"targets": []})
        params["targets"].append({"table": t.pipe.target, "pipe": t.pipe.pipe, "source_table": t.table})


def _dbt(t: TableLineage, cx: _Context) -> None:
    if cx.has_dbt_results:
        return
    if cx.dbt_location:
        cx.checks.get("dbt", "dbt_results", "dbt", "dbt tests, models and source freshness",
                      {"location": cx.dbt_location}, "2m")
    else:
        cx.notes.append("no dbt_results check added: the dbt artifacts location is unknown (--dbt-location)")


def _looker(t: TableLineage, cx: _Context) -> None:
    if not t.dashboards:
        return
    params = cx.checks.get("looker", "looker", "looker", "dashboards' PDTs, deliveries and content", {"dashboards": []})
    for title in t.dashboards:
        entry = next((d for d in params["dashboards"] if d["title"] == title), None)
        if entry is None:
            params["dashboards"].append({"title": title, "tables": [t.table]})
        elif t.table not in entry["tables"]:
            entry["tables"].append(t.table)


def freshness_target(t: TableLineage) -> tuple[dict[str, Any] | None, str | None]:
    """The warehouse_freshness target dbt's source declares for this table (its loaded_at_field, with dbt's
    warn_after / error_after, else DEFAULT_FRESHNESS), and a note for the reviewer; (None, why) when there is none."""
    source = t.dbt_source
    if source is None or not source.loaded_at_field:
        return None, None
    table = t.pipe.target if t.pipe is not None else source.relation  # the raw table Sentinel reads in Snowflake
    if not _PLAIN_COLUMN.fullmatch(source.loaded_at_field):
        return None, (f"{t.table}: no warehouse_freshness for {table}: dbt's loaded_at_field "
                      f"{source.loaded_at_field!r} is an expression, not a column")
    warn, critical = source.warn_after, source.error_after
    note = None
    if warn is None and critical is None:
        warn, critical = DEFAULT_FRESHNESS
        note = (f"{t.table}: dbt source {source.name} declares no freshness; warehouse_freshness on {table} uses the "
                f"defaults warn_after {warn}, critical_after {critical}: set the table's SLA")
    elif warn is not None and critical is not None and parse_duration(warn) > parse_duration(critical):
        note = (f"{t.table}: dbt source {source.name} warns after {warn}, later than its error_after {critical}; "
                f"warehouse_freshness uses critical_after {critical} only")
        warn = None
    target: dict[str, Any] = {"table": table, "column": source.loaded_at_field}
    target.update({k: v for k, v in (("warn_after", warn), ("critical_after", critical)) if v is not None})
    target.update({"source_table": t.table, "stage": "snowflake_raw"})
    return target, note


def _freshness(t: TableLineage, cx: _Context) -> None:
    target, note = freshness_target(t)
    if target is not None and names_object(target["table"], set(cx.fresh_tables)):
        return  # already watched: the note (defaults, dropped warning) is about nothing --write adds
    if note:
        cx.notes.append(note)
    if target is None:
        return
    params = cx.checks.get("freshness", "warehouse_freshness", "snowflake_raw",
                           "raw tables loaded recently (dbt sources' loaded_at_field and freshness)",
                           {"backend": "snowflake", "tables": []}, "1m")
    params["tables"].append(target)


# hop -> what --write adds when nothing watches that hop
_ADDERS = {"debezium": _debezium, "kafka": _kafka, "s3": _s3, "snowpipe": _snowpipe, "snowflake_raw": _snowpipe,
           "dbt": _dbt, "looker": _looker}


def _add_checks(t: TableLineage, missing: list[str], cx: _Context) -> None:
    done = set()
    for hop in missing:
        adder = _ADDERS.get(hop)
        if adder is not None and adder not in done:  # snowpipe and snowflake_raw: one target
            done.add(adder)
            adder(t, cx)
    _freshness(t, cx)  # the freshness of the raw table is its own question, even where a pipe check watches it


def _fresh_tables(spec: SentinelConfig) -> frozenset[str]:
    return frozenset(str(target.get("table", "")).upper() for c in spec.checks
                     if c.kind == "warehouse_freshness" and c.enabled for target in c.params.get("tables") or [])


def plan(found: Discovery, spec: SentinelConfig, *, dbt_location: str | None = None) -> Additions:
    out = Additions()
    checks = _Checks({c.id for c in spec.checks})
    cx = _Context(checks, out.notes, dbt_location, any(c.kind == "dbt_results" and c.enabled for c in spec.checks),
                  _fresh_tables(spec))
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
        _add_checks(t, missing, cx)
    out.checks = list(checks.by_id.values())
    return out
