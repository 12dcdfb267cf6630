"""What the configured checks need from each system, read from alert_rules.yaml, with where each need is
configured (so a fix can name the line)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Literal

from sentinel.config.loader import LoadedConfig
from sentinel.readonly_sql import tables_read

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class Need:
    what: Literal["table", "slot", "query", "bucket_prefix", "connector", "dbt_artifacts", "pipe", "dashboard", "topic",
                  "consumer_group", "discovery"]
    value: str
    check_id: str
    loc: Loc
    parameters: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


@dataclass
class Needs:
    postgres: dict[str, list[Need]] = field(default_factory=lambda: defaultdict(list))
    s3: list[Need] = field(default_factory=list)  # value: "bucket/prefix"
    connectors: list[Need] = field(default_factory=list)
    dbt: list[Need] = field(default_factory=list)
    snowflake: list[Need] = field(default_factory=list)
    kafka: list[Need] = field(default_factory=list)  # topics and consumer groups (names or regexes)
    looker: list[Need] = field(default_factory=list)  # value: a dashboard title
    discovery: list[Need] = field(default_factory=list)  # value: the dbt artifacts location discovery reads ("" none)


def collect(config: LoadedConfig) -> Needs:
    needs = Needs()
    for index, spec in enumerate(config.spec.checks):
        if not spec.enabled:
            continue
        at: Loc = ("checks", index, "params")
        handler = _BY_KIND.get(spec.kind)
        if handler is not None:
            handler(needs, spec.id, spec.params, at)
        if spec.kind == "pipeline_coverage":  # discovery reads every system, with the grants doctor checks
            location = spec.params.get("dbt_location") or _dbt_location(config)
            needs.discovery.append(Need("discovery", str(location or ""), spec.id, at))
    return needs


def _dbt_location(config: LoadedConfig) -> str | None:
    from sentinel.discovery.coverage import dbt_location_of

    return dbt_location_of(config.spec.checks)


def _sql_threshold(needs: Needs, cid: str, p: dict[str, Any], at: Loc) -> None:
    conn = str(p.get("connection", "default"))
    # tables first: when one is not granted, that line (with its GRANT) says it, not a second EXPLAIN error
    for table in tables_read(str(p["query"]), "postgres"):
        needs.postgres[conn].append(Need("table", table, cid, (*at, "query")))
    needs.postgres[conn].append(Need("query", str(p["query"]), cid, (*at, "query"), dict(p.get("parameters") or {})))


def _slot(needs: Needs, cid: str, p: dict[str, Any], at: Loc) -> None:
    conn = str(p.get("connection", "default"))
    for i, slot in enumerate(p.get("slots") or []):
        needs.postgres[conn].append(Need("slot", str(slot), cid, (*at, "slots", i)))
    if not p.get("slots"):
        needs.postgres[conn].append(Need("slot", "", cid, at))  # any logical slot


def _freshness(needs: Needs, cid: str, p: dict[str, Any], at: Loc) -> None:
    for i, t in enumerate(p.get("tables") or []):
        loc = (*at, "tables", i, "table")
        if p.get("backend", "snowflake") == "postgres":
            needs.postgres[str(p.get("connection", "default"))].append(Need("table", str(t["table"]), cid, loc))
        else:
            needs.snowflake.append(Need("table", str(t["table"]), cid, loc))


def _reconciliation(needs: Needs, cid: str, p: dict[str, Any], at: Loc) -> None:
    for i, pair in enumerate(p.get("pairs") or []):
        for side in ("source", "target"):
            t = pair.get(side) or {}
            loc = (*at, "pairs", i, side, "table")
            if t.get("engine") == "postgres":
                needs.postgres[str(t.get("connection", "default"))].append(Need("table", str(t["table"]), cid, loc))
            elif t.get("engine") == "snowflake":
                needs.snowflake.append(Need("table", str(t["table"]), cid, loc))


def _s3(needs: Needs, cid: str, p: dict[str, Any], at: Loc) -> None:
    for i, prefix in enumerate(p.get("prefixes") or []):
        needs.s3.append(Need("bucket_prefix", f"{p['bucket']}/{prefix}", cid, (*at, "prefixes", i)))


def _connect(needs: Needs, cid: str, p: dict[str, Any], at: Loc) -> None:
    for i, name in enumerate(p.get("connectors") or []):
        needs.connectors.append(Need("connector", str(name), cid, (*at, "connectors", i)))
    if not p.get("connectors"):
        needs.connectors.append(Need("connector", "", cid, at))


def _dbt(needs: Needs, cid: str, p: dict[str, Any], at: Loc) -> None:
    needs.dbt.append(Need("dbt_artifacts", str(p.get("location", "")), cid, (*at, "location")))


def _snowpipe(needs: Needs, cid: str, p: dict[str, Any], at: Loc) -> None:
    for i, t in enumerate(p.get("targets") or []):
        needs.snowflake.append(Need("table", str(t.get("table")), cid, (*at, "targets", i, "table")))
        if t.get("pipe"):
            needs.snowflake.append(Need("pipe", str(t["pipe"]), cid, (*at, "targets", i, "pipe")))


def _looker(needs: Needs, cid: str, p: dict[str, Any], at: Loc) -> None:
    for i, d in enumerate(p.get("dashboards") or []):
        needs.looker.append(Need("dashboard", str(d.get("title")), cid, (*at, "dashboards", i, "title")))


def _kafka_lag(needs: Needs, cid: str, p: dict[str, Any], at: Loc) -> None:
    pairs: tuple[tuple[str, Literal["consumer_group", "topic"]], ...] = (("groups", "consumer_group"), ("topics", "topic"))
    for key, what in pairs:
        for i, name in enumerate(p.get(key) or []):
            needs.kafka.append(Need(what, str(name), cid, (*at, key, i)))


_BY_KIND = {
    "sql_threshold": _sql_threshold,
    "postgres_replication_slot": _slot,
    "warehouse_freshness": _freshness,
    "row_reconciliation": _reconciliation,
    "s3_partition_arrival": _s3,
    "kafka_connect_status": _connect,
    "dbt_results": _dbt,
    "snowpipe_load_history": _snowpipe,
    "looker": _looker,
    "kafka_consumer_lag": _kafka_lag,
}
