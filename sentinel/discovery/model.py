"""Plain values of a discovered pipeline: what each system said, and the lineage stitched from it."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# Hops in data-flow order, named like the pipeline stages of alert_rules.yaml.
HOPS = ("postgres", "debezium", "kafka", "s3", "snowpipe", "snowflake_raw", "dbt", "analytics", "looker")
HOP_TITLES = {"postgres": "PostgreSQL", "debezium": "Debezium", "kafka": "Kafka", "s3": "S3",
              "snowpipe": "Snowpipe", "snowflake_raw": "Snowflake raw", "dbt": "dbt", "analytics": "dbt models",
              "looker": "Looker"}


@dataclass(frozen=True, slots=True)
class Unresolved:
    """A hop discovery could not follow, and why (no grant, an unparseable path format, a pipe without a stage)."""

    hop: str
    subject: str  # what it was following: a connector, a pipe, a dashboard, a table
    reason: str


@dataclass(frozen=True, slots=True)
class Capture:
    """One table a CDC (Debezium-style) source connector captures, and the topic it writes."""

    connector: str
    table: str  # schema.table
    topic: str


@dataclass(frozen=True, slots=True)
class CaptureRule:
    """A CDC source connector's selection: table.include.list patterns (regexes, full match) and the topic prefix."""

    connector: str
    prefix: str
    include: tuple[str, ...]
    exclude: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SinkRoute:
    """Where an S3 sink connector writes one topic."""

    connector: str
    topic: str
    bucket: str
    prefix: str  # raw/payments/transactions/ (always ends with /)
    layout: str | None  # "dt=YYYY-MM-DD" when the path format is daily dt= partitions; None otherwise
    group: str  # the sink's consumer group
    selection: str = ""  # the sink's topics.regex that matched, or the topic as a regex: what a lag check should read

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


@dataclass(frozen=True, slots=True)
class SinkRule:
    """An S3 sink's topic selection and layout, before it meets the topics."""

    connector: str
    topics: tuple[str, ...]
    topics_regex: str | None
    bucket: str
    topics_dir: str
    renames: tuple[tuple[str, str], ...]  # RegexRouter (regex, python replacement), applied in order
    layout: str | None
    group: str

    def route(self, topic: str) -> SinkRoute | None:
        by_regex = topic not in self.topics
        if by_regex and not (self.topics_regex and re.fullmatch(self.topics_regex, topic)):
            return None
        folder = topic
        for regex, replacement in self.renames:
            if re.fullmatch(regex, folder):
                folder = re.sub(f"^(?:{regex})$", replacement, folder)
        prefix = "/".join(p for p in (self.topics_dir.strip("/"), folder.strip("/")) if p) + "/"
        selection = self.topics_regex if by_regex and self.topics_regex else re.escape(topic)
        return SinkRoute(self.connector, topic, self.bucket, prefix, self.layout, self.group, selection)


@dataclass(frozen=True, slots=True)
class PipeLoad:
    """A pipe with its stage resolved: which lake location it loads into which raw table."""

    pipe: str
    target: str  # DATABASE.SCHEMA.TABLE
    bucket: str
    prefix: str  # "" = the bucket root


@dataclass(frozen=True, slots=True)
class DbtSource:
    unique_id: str
    name: str  # source_name.table
    relation: str  # database.schema.identifier, upper case
    loaded_at_field: str | None
    owner: str | None
    warn_after: str | None = None  # dbt's source freshness thresholds, as durations ("30m"); None = not declared
    error_after: str | None = None


@dataclass(frozen=True, slots=True)
class DbtModel:
    unique_id: str
    name: str
    relation: str  # as dbt names it, upper case, no quotes
    sources: frozenset[str]  # unique_ids of the dbt sources it reads, directly or not


@dataclass(frozen=True, slots=True)
class Dashboard:
    title: str
    tables: tuple[str, ...]  # warehouse tables behind its tiles (explores' sql_table_name), upper case
    models: tuple[str, ...]  # LookML models


@dataclass
class Observed:
    """Everything read from the systems, before stitching."""

    source_tables: set[str] | None = None  # schema.table in PostgreSQL; None = could not be read
    capture_rules: list[CaptureRule] = field(default_factory=list)
    sinks: list[SinkRule] = field(default_factory=list)
    topics: set[str] | None = None  # topics on the broker; None = not read
    pipes: list[PipeLoad] = field(default_factory=list)
    dbt_sources: list[DbtSource] = field(default_factory=list)
    dbt_models: list[DbtModel] = field(default_factory=list)
    exposures: dict[str, frozenset[str]] = field(default_factory=dict)  # exposure label -> source unique_ids
    dashboards: list[Dashboard] = field(default_factory=list)
    unresolved: list[Unresolved] = field(default_factory=list)
    unread: set[str] = field(default_factory=set)  # hops whose system could not be read (the reason is in unresolved)


@dataclass(frozen=True)
class TableLineage:
    """One captured table end to end. A hop it does not reach is None and, when known, has an Unresolved."""

    table: str
    connector: str | None
    topic: str | None
    s3: SinkRoute | None = None
    pipe: PipeLoad | None = None
    dbt_source: DbtSource | None = None
    models: tuple[str, ...] = ()
    exposures: tuple[str, ...] = ()
    dashboards: tuple[str, ...] = ()
    exists_at_source: bool | None = None  # None = PostgreSQL not read
    unresolved: tuple[Unresolved, ...] = ()

    def reached(self) -> list[str]:
        """The hops this table reaches, in order."""
        hops = {"postgres": self.exists_at_source is not False, "debezium": self.connector is not None,
                "kafka": self.topic is not None, "s3": self.s3 is not None, "snowpipe": self.pipe is not None,
                "snowflake_raw": self.pipe is not None, "dbt": self.dbt_source is not None,
                "analytics": bool(self.models), "looker": bool(self.dashboards)}
        return [h for h in HOPS if hops[h]]


@dataclass(frozen=True)
class Discovery:
    tables: tuple[TableLineage, ...]
    unresolved: tuple[Unresolved, ...]  # not tied to one table (a connector, a pipe, a system that did not answer)
    systems: tuple[str, ...]  # what was read, for the header ("Kafka Connect: 3 connectors", ...)
    unread: frozenset[str] = frozenset()  # hops whose system could not be read
