"""Join what each system said into one lineage per table (pure: Observed in, Discovery out)."""

from __future__ import annotations

from dataclasses import replace

from sentinel.discovery.connectors import expand
from sentinel.discovery.model import (
    Capture,
    DbtModel,
    DbtSource,
    Discovery,
    Observed,
    PipeLoad,
    SinkRoute,
    TableLineage,
    Unresolved,
)


def _last(relation: str) -> str:
    return relation.rsplit(".", 1)[-1].upper()


def route_of(topic: str, obs: Observed) -> SinkRoute | None:
    for rule in obs.sinks:
        found = rule.route(topic)
        if found is not None:
            return found
    return None


class _Index:
    """Lookups built once per stitch, so each table costs the same at 500 tables and 5,000 dbt nodes as at 4."""

    def __init__(self, obs: Observed) -> None:
        self.pipes = {(p.bucket, p.prefix): p for p in obs.pipes}
        self.by_relation: dict[str, DbtSource] = {}
        self.by_tail: dict[str, DbtSource] = {}
        self.by_name: dict[str, DbtSource] = {}
        for src in obs.dbt_sources:
            self.by_relation.setdefault(src.relation, src)
            self.by_tail.setdefault(".".join(src.relation.split(".")[-2:]), src)
            self.by_name.setdefault(src.name.lower(), src)
        self.models_of: dict[str, list[DbtModel]] = {}
        for model in obs.dbt_models:
            for uid in model.sources:
                self.models_of.setdefault(uid, []).append(model)
        self.dashboards_on: dict[str, set[str]] = {}
        for dash in obs.dashboards:
            for table in dash.tables:
                self.dashboards_on.setdefault(_last(table), set()).add(dash.title)

    def pipe_of(self, route: SinkRoute) -> PipeLoad | None:
        """The pipe reading the sink's folder: same bucket, the longest stage path that contains the folder."""
        parts = route.prefix.strip("/").split("/")
        for n in range(len(parts), -1, -1):
            prefix = "/".join(parts[:n]) + "/" if n else ""
            if (route.bucket, prefix) in self.pipes:
                return self.pipes[(route.bucket, prefix)]
        return None

    def dbt_source_of(self, table: str, target: str) -> DbtSource | None:
        """The dbt source over a raw table: by relation, then schema.identifier (another database name in dev),
        then by name (the source `payments`, table `transactions` for payments.transactions)."""
        target = target.upper()
        tail = ".".join(target.split(".")[-2:])
        return self.by_relation.get(target) or self.by_tail.get(tail) or self.by_name.get(table.lower())

    def dashboards_of(self, models: list[DbtModel]) -> list[str]:
        names = {_last(m.relation) for m in models} | {m.name.upper() for m in models}
        return sorted(set().union(*(self.dashboards_on.get(n, set()) for n in names)))


def _stop(obs: Observed, system: str, hop: str, table: str, reason: str) -> Unresolved:
    """Where a table stops: because its system could not be read (said once, below), or because nothing follows."""
    if system in obs.unread:
        return Unresolved(hop, table, "not followed: that system could not be read (see the reason below)")
    return Unresolved(hop, table, reason)


def _lineage(table: str, capture: Capture | None, obs: Observed, index: _Index) -> TableLineage:
    problems: list[Unresolved] = []
    topic = capture.topic if capture else table
    exists = None if obs.source_tables is None or capture is None else table in obs.source_tables
    found = TableLineage(table, capture.connector if capture else None, topic, exists_at_source=exists)
    if obs.topics is not None and topic not in obs.topics:
        problems.append(Unresolved("kafka", table, f"topic {topic} is not on the broker yet (nothing captured since "
                                                   "the connector started, or Sentinel lacks Describe on it)"))
    found = _downstream(found, obs, index, problems)
    return replace(found, unresolved=tuple(problems))


def _downstream(found: TableLineage, obs: Observed, index: _Index, problems: list[Unresolved]) -> TableLineage:
    """Follow the table from its topic as far as the systems say, noting where and why it stops."""
    route = route_of(found.topic or found.table, obs)
    if route is None:
        problems.append(_stop(obs, "debezium", "s3", found.table, f"no S3 sink connector reads topic {found.topic}"))
        return found
    found = replace(found, s3=route)
    pipe = index.pipe_of(route)
    if pipe is None:
        problems.append(_stop(obs, "snowpipe", "snowpipe", found.table, f"no visible pipe loads {route.url} (none "
                              "exists, or Sentinel's role lacks MONITOR on it)"))
        return found
    # a dashboard whose explore reads the raw table itself (the event stream's Operational dashboard)
    direct = sorted(index.dashboards_on.get(_last(pipe.target), set()))
    found = replace(found, pipe=pipe, dashboards=tuple(direct))
    source = index.dbt_source_of(found.table, pipe.target)
    if source is None:
        problems.append(_stop(obs, "dbt", "dbt", found.table, f"no dbt source reads {pipe.target}"))
        return found
    models = index.models_of.get(source.unique_id, [])
    dashboards = sorted(set(index.dashboards_of(models)) | set(direct))
    if models and not dashboards and (obs.dashboards or "looker" in obs.unread):
        problems.append(_stop(obs, "looker", "looker", found.table,
                              "no Looker dashboard's explore reads a model built from it"))
    return replace(found, dbt_source=source, models=tuple(sorted(m.name for m in models)),
                   exposures=tuple(sorted(label for label, srcs in obs.exposures.items() if source.unique_id in srcs)),
                   dashboards=tuple(dashboards))


def stitch(obs: Observed, systems: tuple[str, ...] = (), why_unread: str = "PostgreSQL was not read") -> Discovery:
    captures: dict[str, Capture] = {}
    unresolved = list(obs.unresolved)
    for rule in obs.capture_rules:
        found, problems = expand(rule, obs.source_tables, why_unread)
        unresolved += problems
        for capture in found:
            captures.setdefault(capture.table, capture)
    index = _Index(obs)
    lineages = [_lineage(table, capture, obs, index) for table, capture in sorted(captures.items())]
    # Streams that reach the lake without a CDC connector (the payment event stream): named by their topic.
    cdc_topics = {c.topic for c in captures.values()}
    streams = {t for rule in obs.sinks for t in rule.topics}
    if obs.topics is not None:
        streams |= {t for t in obs.topics for rule in obs.sinks if rule.topics_regex and rule.route(t)}
    lineages += [_lineage(topic, None, obs, index) for topic in sorted(streams - cdc_topics)]
    models = {_last(m.relation) for m in obs.dbt_models} | {m.name.upper() for m in obs.dbt_models}
    models |= {_last(p.target) for p in obs.pipes}  # a raw table read by an explore is followed like a model
    for dash in obs.dashboards:
        for table in dash.tables:
            if obs.dbt_models and _last(table) not in models:
                unresolved.append(Unresolved("looker", dash.title, f"its explore reads {table}, which no dbt model "
                                                                   "builds"))
    return Discovery(tuple(lineages), tuple(unresolved), systems, frozenset(obs.unread))
