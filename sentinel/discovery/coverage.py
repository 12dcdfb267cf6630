"""Discovered vs configured lineage (pure): a captured table nothing watches at some hop, a configured table that no
longer exists, a hop whose mapping changed. The pipeline_coverage check turns these into alerts.

"Watched" is read from the checks' params without knowing each kind: a hop of a table is watched when some enabled
check names its identifier (the topic, by name or by a regex that matches it; the S3 prefix; the pipe; the raw
table; the dbt source; a model; the dashboard title). The dbt hop is watched by any dbt_results check (it reads
every test and source freshness of the project).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sentinel.config.alerting_spec import PipelineSpec, TableLineageSpec
from sentinel.config.checks_spec import CheckSpec
from sentinel.discovery.model import HOP_TITLES, Discovery, TableLineage

WATCHED_HOPS = ("debezium", "kafka", "s3", "snowpipe", "snowflake_raw", "dbt", "looker")


@dataclass(frozen=True, slots=True)
class CoverageFinding:
    kind: Literal["unwatched", "gone", "changed"]
    table: str
    summary: str  # one line for a person at 3 a.m.
    hops: tuple[str, ...]  # the unwatched or changed hops

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.table}"


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for k, v in value.items():
            yield str(k)
            yield from _strings(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _strings(v)


def _regex_match(pattern: str, text: str) -> bool:
    try:
        return re.fullmatch(pattern, text) is not None
    except re.error:
        return False


def names_object(value: str, named: set[str]) -> bool:
    """A Snowflake object named fully or by its SCHEMA.NAME tail (configs often leave out the database)."""
    up = value.upper()
    return up in named or any(up.endswith("." + n) or n.endswith("." + up) for n in named if "." in n)


def identifiers(t: TableLineage) -> dict[str, str]:
    ids = {"debezium": t.connector, "kafka": t.topic, "s3": t.s3.prefix if t.s3 else None,
           "snowpipe": t.pipe.pipe if t.pipe else None, "snowflake_raw": t.pipe.target if t.pipe else None,
           "dbt": t.dbt_source.name if t.dbt_source else None, "looker": ", ".join(t.dashboards) or None}
    return {hop: v for hop, v in ids.items() if v}


def watchers(t: TableLineage, checks: Sequence[CheckSpec]) -> dict[str, list[str]]:
    """hop -> ids of the enabled checks that watch this table there."""
    found: dict[str, list[str]] = {hop: [] for hop in identifiers(t)}
    for check in (c for c in checks if c.enabled):
        strings = list(_strings(check.params))
        upper = {s.upper() for s in strings}
        plain = set(strings)
        hits = {
            "debezium": t.connector is not None and any(_regex_match(s, t.connector) for s in plain),
            "kafka": t.topic is not None and any(_regex_match(s, t.topic) for s in plain),
            "s3": t.s3 is not None and (t.s3.prefix in plain or t.s3.prefix.rstrip("/") in plain or t.s3.url in plain),
            "snowpipe": t.pipe is not None and names_object(t.pipe.pipe, upper),
            "snowflake_raw": t.pipe is not None and names_object(t.pipe.target, upper),
            "dbt": t.dbt_source is not None and (check.kind == "dbt_results" or t.dbt_source.name in plain),
            "looker": bool(t.dashboards) and any(d in plain for d in t.dashboards),
        }
        for hop, hit in hits.items():
            if hit and hop in found:
                found[hop].append(check.id)
    return found


def _unwatched(t: TableLineage, checks: Sequence[CheckSpec]) -> CoverageFinding | None:
    watched = watchers(t, checks)
    missing = [hop for hop in WATCHED_HOPS if hop in watched and not watched[hop]]
    if not missing:
        return None
    furthest = _where(t, t.reached()[-1])
    covered = [hop for hop in WATCHED_HOPS if watched.get(hop)]
    last_covered = max((WATCHED_HOPS.index(h) for h in covered), default=-1)
    if all(WATCHED_HOPS.index(h) > last_covered for h in missing):
        gap = f"nothing watches it after {HOP_TITLES[WATCHED_HOPS[last_covered]]}" if covered else "nothing watches it"
    else:
        gap = "not watched at " + ", ".join(HOP_TITLES[h] for h in missing)
    return CoverageFinding("unwatched", t.table, f"{t.table} reaches {furthest}; {gap}", tuple(missing))


def _where(t: TableLineage, hop: str) -> str:
    """The furthest point a table reaches, as a person names it."""
    names = {"debezium": f"connector {t.connector}", "kafka": f"topic {t.topic}", "s3": t.s3.url if t.s3 else "",
             "snowpipe": t.pipe.target if t.pipe else "", "snowflake_raw": t.pipe.target if t.pipe else "",
             "dbt": f"dbt source {t.dbt_source.name}" if t.dbt_source else "",
             "analytics": f"dbt models {', '.join(t.models)}", "looker": f"Looker ({', '.join(t.dashboards)})"}
    return names.get(hop) or t.table


def _squash(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def configured_entry(t: TableLineage, pipeline: PipelineSpec) -> tuple[str, TableLineageSpec] | None:
    """The configured entry for a discovered table: by name, by its recorded topic, or (for a stream named after
    its topic) by the entry whose table part spells the topic: events.payment_events for payment.events."""
    if t.table in pipeline.tables:
        return t.table, pipeline.tables[t.table]
    for name, entry in pipeline.tables.items():
        if entry.topic and entry.topic == t.topic:
            return name, entry
    if t.connector is None:
        for name, entry in pipeline.tables.items():
            if _squash(name.rsplit(".", 1)[-1]) == _squash(t.table):
                return name, entry
    return None


def mapping(t: TableLineage) -> dict[str, str | None]:
    """What discovery found, in the lineage fields of alert_rules.yaml."""
    return {"topic": t.topic, "s3_path": t.s3.url if t.s3 else None, "pipe": t.pipe.pipe if t.pipe else None,
            "raw_table": t.pipe.target if t.pipe else None, "dbt_source": t.dbt_source.name if t.dbt_source else None}


def _changed(t: TableLineage, name: str, entry: TableLineageSpec) -> CoverageFinding | None:
    now = mapping(t)
    changes = []
    for field, value in now.items():
        configured = getattr(entry, field)
        if configured is not None and value is not None and configured.upper() != value.upper():
            changes.append((field, f"{field} was {configured}, is now {value}"))
    if not changes:
        return None
    return CoverageFinding("changed", name, f"{name}: the pipeline changed under the config: "
                           + "; ".join(text for _, text in changes), tuple(f for f, _ in changes))


def coverage(found: Discovery, checks: Sequence[CheckSpec], pipeline: PipelineSpec,
             ignore: Sequence[str] = ()) -> list[CoverageFinding]:
    findings: list[CoverageFinding] = []
    matched: set[str] = set()
    for t in found.tables:
        if t.table in ignore:
            continue
        entry = configured_entry(t, pipeline)
        if entry is not None:
            matched.add(entry[0])
            changed = _changed(t, *entry)
            if changed:
                findings.append(changed)
        if t.exists_at_source is False:
            findings.append(CoverageFinding("gone", t.table, f"{t.table} is captured by {t.connector} but "
                                            "PostgreSQL has no such table any more (dropped or renamed?)", ("postgres",)))
            continue
        unwatched = _unwatched(t, checks)
        if unwatched:
            findings.append(unwatched)
    if "debezium" in found.unread:  # without the connectors, "no longer captured" cannot be told apart
        return findings
    for name in pipeline.tables:
        if name not in matched and name not in ignore:
            findings.append(CoverageFinding("gone", name, f"{name} is configured in the pipeline but no connector "
                                            "captures it and no sink carries it any more", ()))
    return findings


def configured(path: str) -> tuple[list[CheckSpec], PipelineSpec]:
    """The running config's checks and pipeline, read again (a reload may have changed them since the last run).
    The daemon validated the file before using it; a file broken since is this check's ERROR, not a crash."""
    import yaml

    from sentinel.config.spec import SentinelConfig
    from sentinel.errors import SourceError

    try:
        with open(path, encoding="utf-8") as fh:
            spec = SentinelConfig.model_validate(yaml.safe_load(fh) or {})
    except (OSError, yaml.YAMLError, ValueError) as exc:
        raise SourceError(f"cannot read the configured lineage from {path}: {str(exc)[:300]}",
                          hint=f"run `sentinel validate {path}`") from None
    return list(spec.checks), spec.pipeline


def dbt_location_of(checks: Sequence[CheckSpec]) -> str | None:
    """The dbt artifacts discovery reads: the pipeline_coverage check's own dbt_location, else the run the config's
    dbt_results or schema_drift check reads, so `sentinel discover` and the coverage check see the same run."""
    kinds = ("pipeline_coverage", "dbt_results", "schema_drift")
    found = sorted(((kinds.index(c.kind), value) for c in checks if c.kind in kinds
                    for value in (c.params.get("location"), c.params.get("dbt_location")) if isinstance(value, str)),
                   key=lambda kv: kv[0])
    return found[0][1] if found else None
