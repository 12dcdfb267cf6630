"""Kafka Connect connector configs -> what a CDC source captures and where an S3 sink writes (pure functions).

A connector is recognised by its configuration, the contract both sides keep, rather than by its class name alone:
a source with `table.include.list` is Debezium-style CDC (topic = <topic.prefix>.<schema>.<table>), a sink with
`s3.bucket.name` is the Confluent S3 sink (folder = <topics.dir>/<topic after RegexRouter>/<path.format>).
"""

from __future__ import annotations

import re

from sentinel.discovery.model import Capture, CaptureRule, SinkRule, Unresolved

DAILY_DT = "dt=YYYY-MM-DD"


def kind_of(config: dict[str, str]) -> str | None:
    cls = config.get("connector.class", "")
    if "table.include.list" in config or cls.startswith("io.debezium.connector."):
        return "cdc"
    if "s3.bucket.name" in config or cls.endswith(".S3SinkConnector"):
        return "s3_sink"
    return None


def _list(value: str | None) -> tuple[str, ...]:
    return tuple(p.strip() for p in (value or "").split(",") if p.strip())


def capture_rule(name: str, config: dict[str, str]) -> CaptureRule | Unresolved:
    prefix = config.get("topic.prefix") or config.get("database.server.name")  # the latter before Debezium 2.0
    if not prefix:
        return Unresolved("debezium", name, "the connector has no topic.prefix, so its topics cannot be named")
    include = _list(config.get("table.include.list"))
    if not include:
        return Unresolved("debezium", name, "no table.include.list: it captures every table, which discovery does "
                          "not guess; list the tables in the connector")
    return CaptureRule(name, prefix, include, _list(config.get("table.exclude.list")))


_LITERAL = re.compile(r"[A-Za-z0-9_$]+(?:\\?\.[A-Za-z0-9_$]+)")


def expand(rule: CaptureRule, source_tables: set[str] | None, why_unread: str) -> tuple[list[Capture], list[Unresolved]]:
    """The captured tables: include patterns matched against PostgreSQL's tables (when read), minus excludes.
    A plain name is looked up, a regex compiled once and run over the tables: 500 names against 500 tables must not
    be 250,000 regex matches."""
    captures: dict[str, Capture] = {}
    problems = []
    by_lower = {t.lower(): t for t in source_tables} if source_tables is not None else None
    excludes = [_compiled(x) for x in rule.exclude]
    for pattern in rule.include:
        literal = _LITERAL.fullmatch(pattern) is not None
        name = pattern.replace("\\.", ".")
        if by_lower is None:
            if not literal:
                problems.append(Unresolved("postgres", f"{rule.connector}: {pattern}",
                                           f"a table.include.list regex needs PostgreSQL's table list: {why_unread}"))
                continue
            matched = [name]
        elif literal:
            matched = [by_lower[name.lower()]] if name.lower() in by_lower else []
        else:
            regex = _compiled(pattern)
            matched = sorted(t for t in by_lower.values() if regex.fullmatch(t))
        if by_lower is not None and not matched:
            problems.append(Unresolved("postgres", f"{rule.connector}: {pattern}",
                                       "table.include.list names it but PostgreSQL has no such table "
                                       "(dropped or renamed, or Sentinel's role cannot see it)"))
            if literal:  # a named table that is gone is still part of the pipeline
                matched = [name]
        for table in matched:
            if not any(x.fullmatch(table) for x in excludes):
                captures[table] = Capture(rule.connector, table, f"{rule.prefix}.{table}")
    return list(captures.values()), problems


def _compiled(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern, re.IGNORECASE)
    except re.error:
        return re.compile(re.escape(pattern), re.IGNORECASE)


def _java_replacement(text: str) -> str:
    return re.sub(r"\$(\d+)", r"\\g<\1>", text)


def daily_layout(config: dict[str, str]) -> tuple[str | None, str | None]:
    """(layout, problem): "dt=YYYY-MM-DD" when the sink writes one dt= folder per day, else why not."""
    partitioner = config.get("partitioner.class", "")
    fmt = config.get("path.format")
    if not partitioner or partitioner.endswith(".DefaultPartitioner"):
        return None, "the default partitioner writes partition=<n>/ folders, not dt=YYYY-MM-DD/"
    if partitioner.endswith(".DailyPartitioner"):
        return None, "DailyPartitioner writes year=/month=/day= folders, not dt=YYYY-MM-DD/"
    if fmt is None:
        return None, f"{partitioner.rsplit('.', 1)[-1]} without path.format"
    if fmt.count("'") % 2:
        return None, f"path.format {fmt!r} cannot be parsed (an unclosed quote)"
    literal = re.sub(r"'([^']*)'", lambda m: m.group(1).upper(), fmt)  # quoted text is literal in Joda patterns
    if literal.replace("dd", "DD").replace("yyyy", "YYYY") == "DT=YYYY-MM-DD":
        return DAILY_DT, None
    if not re.search(r"Y{2,4}|y{2,4}", fmt):
        return None, f"path.format {fmt!r} cannot be parsed as a date pattern"
    return None, f"path.format {fmt!r} is not 'dt'=YYYY-MM-dd (s3_partition_arrival reads dt=YYYY-MM-DD folders)"


def sink_rule(name: str, config: dict[str, str]) -> tuple[SinkRule | None, list[Unresolved]]:
    bucket = config.get("s3.bucket.name")
    if not bucket:
        return None, [Unresolved("s3", name, "no s3.bucket.name in the sink's config")]
    problems: list[Unresolved] = []
    renames = []
    for transform in _list(config.get("transforms")):
        kind = config.get(f"transforms.{transform}.type", "")
        if kind.endswith("RegexRouter"):
            regex, replacement = config.get(f"transforms.{transform}.regex"), config.get(f"transforms.{transform}.replacement")
            if regex is None or replacement is None:
                problems.append(Unresolved("s3", name, f"transform {transform!r} (RegexRouter) lacks regex or replacement"))
                continue
            renames.append((regex, _java_replacement(replacement)))
        elif kind.endswith(("TimestampRouter", "TopicNameMatches")) or "Router" in kind:
            problems.append(Unresolved("s3", name, f"transform {transform!r} ({kind.rsplit('.', 1)[-1]}) renames "
                                       "topics in a way discovery does not follow; folders may differ"))
    layout, why = daily_layout(config)
    if why:
        problems.append(Unresolved("s3", name, why))
    group = config.get("consumer.override.group.id") or f"connect-{name}"
    rule = SinkRule(name, _list(config.get("topics")), config.get("topics.regex"), bucket,
                    config.get("topics.dir", "topics"), tuple(renames), layout, group)
    return rule, problems
