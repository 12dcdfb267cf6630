"""Read each system through the checks' own sources, grants and timeouts; read-only. A system that cannot be read
becomes an Unresolved with the source's message (which names the missing grant or setting), never an exception."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta

from sentinel.discovery.connectors import capture_rule, kind_of, sink_rule
from sentinel.discovery.model import Dashboard, DbtModel, DbtSource, Discovery, Observed, PipeLoad, Unresolved
from sentinel.discovery.stitch import stitch
from sentinel.errors import SourceError
from sentinel.sources import Sources
from sentinel.sources.dbt_manifest import Manifest

_SOURCE_TABLES = """SELECT n.nspname || '.' || c.relname FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_%'"""


def _reason(exc: SourceError) -> str:
    text = str(exc).split(" (hint:")[0]
    return f"{text} ({exc.hint})" if exc.hint else text


def _attempt(obs: Observed, hop: str, subject: str, read: Callable[[], None]) -> bool:
    try:
        read()
        return True
    except SourceError as exc:
        obs.unresolved.append(Unresolved(hop, subject, _reason(exc)))
        obs.unread.add(hop)
        return False


def read_connect(sources: Sources, obs: Observed, timeout: float) -> str:
    configs: dict[str, dict[str, str]] = {}

    def read() -> None:
        configs.update(sources.kafka_connect().connector_configs(timeout))

    if not _attempt(obs, "debezium", "Kafka Connect", read):
        return "Kafka Connect: not read"
    for name, config in sorted(configs.items()):
        kind = kind_of(config)
        if kind == "cdc":
            rule = capture_rule(name, config)
            if isinstance(rule, Unresolved):
                obs.unresolved.append(rule)
            else:
                obs.capture_rules.append(rule)
        elif kind == "s3_sink":
            sink, problems = sink_rule(name, config)
            obs.unresolved += problems
            if sink is not None:
                obs.sinks.append(sink)
    return f"Kafka Connect: {len(configs)} connector(s), {len(obs.capture_rules)} CDC, {len(obs.sinks)} S3 sink(s)"


def read_postgres(sources: Sources, obs: Observed, timeout: float, connection: str = "default") -> str:
    def read() -> None:
        rows = sources.postgres(connection).fetch_all(_SOURCE_TABLES, None, timedelta(seconds=timeout))
        obs.source_tables = {str(r[0]) for r in rows}

    if not _attempt(obs, "postgres", f"PostgreSQL {connection}", read):
        return "PostgreSQL: not read"
    return f"PostgreSQL {connection}: {len(obs.source_tables or ())} table(s)"


def read_kafka(sources: Sources, obs: Observed, timeout: float) -> str:
    def read() -> None:
        obs.topics = set(sources.kafka().topics(timeout))

    return f"Kafka: {len(obs.topics or ())} topic(s)" if _attempt(obs, "kafka", "Kafka", read) else "Kafka: not read"


def read_snowflake(sources: Sources, obs: Observed, timeout: float) -> str:
    def read() -> None:
        with sources.snowflake(timeout=timeout) as sf:
            catalog = sf.pipe_catalog()
            pipes, stages = catalog.pipes(timeout=timeout), catalog.stages(timeout=timeout)
        for pipe in pipes:
            if pipe.problem or pipe.target is None or pipe.stage is None:
                obs.unresolved.append(Unresolved("snowpipe", pipe.pipe, pipe.problem or "no target"))
                continue
            stage = stages.get(pipe.stage)
            if stage is None:
                obs.unresolved.append(Unresolved("snowpipe", pipe.pipe, f"its stage {pipe.stage} is not visible: it "
                                                 f"was dropped, or Sentinel's role lacks USAGE on it "
                                                 f"(GRANT USAGE ON STAGE {pipe.stage} TO ROLE <sentinel role>)"))
                continue
            if not stage.url.lower().startswith("s3://"):
                obs.unresolved.append(Unresolved("snowpipe", pipe.pipe, f"its stage {pipe.stage} has no s3:// URL "
                                                 f"({stage.url or 'internal stage'})"))
                continue
            bucket, _, root = stage.url[5:].partition("/")
            prefix = "/".join(p for p in (root.strip("/"), pipe.path.strip("/")) if p)
            obs.pipes.append(PipeLoad(pipe.pipe, pipe.target, bucket, f"{prefix}/" if prefix else ""))

    ok = _attempt(obs, "snowpipe", "Snowflake", read)
    return f"Snowflake: {len(obs.pipes)} pipe(s) with an S3 stage" if ok else "Snowflake: not read"


def manifest_lineage(manifest: Manifest, obs: Observed) -> None:
    """dbt sources (with relation and loaded_at_field), the models built on them, and exposures."""
    for uid in manifest.unique_ids("source"):
        node = manifest.node(uid)
        if node is None:
            continue
        relation = (node.relation_name or "").replace('"', "").replace("`", "").upper()
        obs.dbt_sources.append(DbtSource(uid, f"{node.source_name}.{node.name}", relation, node.loaded_at_field,
                                         node.owner, node.freshness_warn_after, node.freshness_error_after))
    for uid in manifest.unique_ids("model"):
        node = manifest.node(uid)
        if node is not None:
            relation = (node.relation_name or node.alias or node.name).replace('"', "").replace("`", "").upper()
            obs.dbt_models.append(DbtModel(uid, node.name, relation, manifest.upstream_sources(uid)))
    for exposure in manifest.exposures.values():
        found: set[str] = set()
        for parent in exposure.depends_on:
            found |= manifest.upstream_sources(parent)
        obs.exposures[exposure.label] = frozenset(found)


def read_dbt(sources: Sources, obs: Observed, location: str | None, timeout: float) -> str:
    if not location:
        obs.unresolved.append(Unresolved("dbt", "dbt", "no dbt artifacts location: give --dbt-location or configure "
                                                       "a dbt_results check"))
        obs.unread.add("dbt")
        return "dbt: not read"

    def read() -> None:
        manifest_lineage(sources.dbt_artifacts(location).load(timeout=timeout).manifest, obs)

    if not _attempt(obs, "dbt", f"dbt {location}", read):
        return "dbt: not read"
    return f"dbt {location}: {len(obs.dbt_sources)} source(s), {len(obs.dbt_models)} model(s)"


def read_looker(sources: Sources, obs: Observed, timeout: float) -> str:
    from sentinel.sources.looker import LookerLineage

    def read() -> None:
        lineage = LookerLineage(sources.looker())
        tables: dict[tuple[str, str], str | None] = {}
        for dash in lineage.dashboards(timeout=timeout):
            for model, explore in dash.explores:
                if (model, explore) not in tables:
                    tables[(model, explore)] = None
                    try:
                        tables[(model, explore)] = lineage.explore_table(model, explore, timeout=timeout)
                    except SourceError as exc:
                        obs.unresolved.append(Unresolved("looker", f"{dash.title}: {model}::{explore}", _reason(exc)))
            found = tuple(t.upper() for t in (tables[e] for e in dash.explores) if t)
            obs.dashboards.append(Dashboard(dash.title, found, tuple(sorted({m for m, _ in dash.explores}))))

    ok = _attempt(obs, "looker", "Looker", read)
    return f"Looker: {len(obs.dashboards)} dashboard(s)" if ok else "Looker: not read"


# The systems observe() reads, by the hop each one's failure is reported under, in the order of `systems`.
READ_ORDER = ("debezium", "postgres", "kafka", "snowpipe", "dbt", "looker")


def observe(sources: Sources, *, dbt_location: str | None, timeout: float = 10.0,
            connection: str = "default") -> tuple[Observed, tuple[str, ...]]:
    obs = Observed()
    reads: dict[str, Callable[[], str]] = {
        "debezium": lambda: read_connect(sources, obs, timeout),
        "postgres": lambda: read_postgres(sources, obs, timeout, connection),
        "kafka": lambda: read_kafka(sources, obs, timeout),
        "snowpipe": lambda: read_snowflake(sources, obs, timeout),
        "dbt": lambda: read_dbt(sources, obs, dbt_location, timeout),
        "looker": lambda: read_looker(sources, obs, timeout),
    }
    systems = []
    for hop in READ_ORDER:
        started = time.monotonic()
        said = reads[hop]()
        systems.append(f"{said} ({time.monotonic() - started:.1f}s)")  # where a slow discovery spends its time
    return obs, tuple(systems)


def discover(sources: Sources, *, dbt_location: str | None, timeout: float = 10.0,
             connection: str = "default") -> Discovery:
    """Read every system, then stitch: the whole of `sentinel discover` before printing or writing."""
    obs, systems = observe(sources, dbt_location=dbt_location, timeout=timeout, connection=connection)
    why = next((u.reason for u in obs.unresolved if u.hop == "postgres"), "PostgreSQL was not read")
    return stitch(obs, systems, why)
