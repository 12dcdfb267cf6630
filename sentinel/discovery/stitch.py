"""Join what each system said into one lineage per table (pure: Observed in, Discovery out)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from sentinel.discovery.connectors import expand
from sentinel.discovery.model import (
    Capture,
    Dashboard,
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


def pipe_of(route: SinkRoute, pipes: Iterable[PipeLoad]) -> PipeLoad | None:
    """The pipe reading the sink's folder: same bucket, the longest stage path that contains the folder."""
    candidates = [p for p in pipes if p.bucket == route.bucket and route.prefix.startswith(p.prefix)]
    return max(candidates, key=lambda p: len(p.prefix)) if candidates else None


def dbt_source_of(table: str, target: str, sources: list[DbtSource]) -> DbtSource | None:
    """The dbt source over a raw table: by relation, then schema.identifier (another database name in dev),
    then by name (the source `payments`, table `transactions` for payments.transactions)."""
    target = target.upper()
    tail = target.split(".", 1)[1] if target.count(".") == 2 else target
    by_relation = [s for s in sources if s.relation == target]
    by_tail = [s for s in sources if s.relation.endswith("." + tail)]
    by_name = [s for s in sources if s.name.lower() == table.lower()]
    return next(iter(by_relation or by_tail or by_name), None)


def dashboards_of(models: list[DbtModel], dashboards: list[Dashboard]) -> list[str]:
    names = {_last(m.relation) for m in models} | {m.name.upper() for m in models}
    return sorted(d.title for d in dashboards if any(_last(t) in names for t in d.tables))


def _stop(obs: Observed, system: str, hop: str, table: str, reason: str) -> Unresolved:
    """Where a table stops: because its system could not be read (said once, below), or because nothing follows."""
    if system in obs.unread:
        return Unresolved(hop, table, "not followed: that system could not be read (see the reason below)")
    return Unresolved(hop, table, reason)


def _lineage(table: str, capture: Capture | None, obs: Observed) -> TableLineage:
    problems: list[Unresolved] = []
    topic = capture.topic if capture else table
    exists = None if obs.source_tables is None or capture is None else table in obs.source_tables
    found = TableLineage(table, capture.connector if capture else None, topic, exists_at_source=exists)
    if obs.topics is not None and topic not in obs.topics:
        problems.append(Unresolved("kafka", table, f"topic {topic} is not on the broker yet (nothing captured since "
                                                   "the connector started, or Sentinel lacks Describe on it)"))
    found = _downstream(found, obs, problems)
    return replace(found, unresolved=tuple(problems))


def _downstream(found: TableLineage, obs: Observed, problems: list[Unresolved]) -> TableLineage:
    """Follow the table from its topic as far as the systems say, noting where and why it stops."""
    route = route_of(found.topic or found.table, obs)
    if route is None:
        problems.append(_stop(obs, "debezium", "s3", found.table, f"no S3 sink connector reads topic {found.topic}"))
        return found
    found = replace(found, s3=route)
    pipe = pipe_of(route, obs.pipes)
    if pipe is None:
        problems.append(_stop(obs, "snowpipe", "snowpipe", found.table, f"no visible pipe loads {route.url} (none "
                              "exists, or Sentinel's role lacks MONITOR on it)"))
        return found
    found = replace(found, pipe=pipe)
    source = dbt_source_of(found.table, pipe.target, obs.dbt_sources)
    if source is None:
        problems.append(_stop(obs, "dbt", "dbt", found.table, f"no dbt source reads {pipe.target}"))
        return found
    models = [m for m in obs.dbt_models if source.unique_id in m.sources]
    dashboards = dashboards_of(models, obs.dashboards)
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
    lineages = [_lineage(table, capture, obs) for table, capture in sorted(captures.items())]
    # Streams that reach the lake without a CDC connector (the payment event stream): named by their topic.
    cdc_topics = {c.topic for c in captures.values()}
    streams = {t for rule in obs.sinks for t in rule.topics}
    if obs.topics is not None:
        streams |= {t for t in obs.topics for rule in obs.sinks if rule.topics_regex and rule.route(t)}
    lineages += [_lineage(topic, None, obs) for topic in sorted(streams - cdc_topics)]
    models = {_last(m.relation) for m in obs.dbt_models} | {m.name.upper() for m in obs.dbt_models}
    for dash in obs.dashboards:
        for table in dash.tables:
            if obs.dbt_models and _last(table) not in models:
                unresolved.append(Unresolved("looker", dash.title, f"its explore reads {table}, which no dbt model "
                                                                   "builds"))
    return Discovery(tuple(lineages), tuple(unresolved), systems, frozenset(obs.unread))
