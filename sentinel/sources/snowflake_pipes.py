"""Snowpipe definitions and stages: SHOW PIPES and SHOW STAGES, and the COPY INTO statement a pipe runs.

Why a seam: the local Snowflake stand-in (fakesnow) has SHOW STAGES but not SHOW PIPES. In production
`show_pipes` runs `SHOW PIPES IN ACCOUNT`; a stand-in names a table with the documented SHOW PIPES output columns
(`show_pipes_relation`, set only through SENTINEL_SNOWFLAKE_SHOW_PIPES_RELATION, never in production). Parsing the
rows and the COPY INTO text is the same code either way.

SHOW lists only the objects the role has a privilege on (MONITOR on a pipe, USAGE on a stage), so a pipe whose
stage is missing from SHOW STAGES is reported as "not visible: grant USAGE", not as "no stage".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sentinel.sources.snowpipe import QueryRunner

# The documented columns of SHOW PIPES (https://docs.snowflake.com/en/sql-reference/sql/show-pipes).
SHOW_PIPES_COLUMNS = ("created_on", "name", "database_name", "schema_name", "definition", "owner",
                      "notification_channel", "comment", "integration", "pattern", "error_integration",
                      "owner_role_type", "invalid_reason", "kind")
SHOW_PIPES_STANDIN_DDL = """CREATE TABLE IF NOT EXISTS {relation} (
    created_on TIMESTAMP_LTZ, name VARCHAR, database_name VARCHAR, schema_name VARCHAR, definition VARCHAR,
    owner VARCHAR, notification_channel VARCHAR, comment VARCHAR, integration VARCHAR, pattern VARCHAR,
    error_integration VARCHAR, owner_role_type VARCHAR, invalid_reason VARCHAR, kind VARCHAR
)"""

_NAME = r'(?:"[^"]+"|[A-Za-z_][\w$]*)(?:\.(?:"[^"]+"|[A-Za-z_][\w$]*)){0,2}'
_COPY = re.compile(
    rf"COPY\s+INTO\s+(?P<table>{_NAME})(?:\s*\([^)]*\))?\s+FROM\s+\(?\s*(?:SELECT\b.*?\bFROM\s+)?"
    rf"@(?P<stage>{_NAME})(?P<path>/[^\s;)']*)?",
    re.IGNORECASE | re.DOTALL,
)


@dataclass(frozen=True, slots=True)
class PipeDefinition:
    pipe: str  # DATABASE.SCHEMA.PIPE
    target: str | None  # DATABASE.SCHEMA.TABLE, None when the definition could not be read
    stage: str | None  # DATABASE.SCHEMA.STAGE
    path: str  # the path after @stage, without the leading slash ("" for the stage root)
    pattern: str | None
    problem: str | None  # why target/stage are None


@dataclass(frozen=True, slots=True)
class StageInfo:
    name: str  # DATABASE.SCHEMA.STAGE
    url: str  # s3://bucket/prefix/ ("" for an internal stage)


def _ident(part: str) -> str:
    return part[1:-1] if part.startswith('"') else part.upper()


def qualify(name: str, database: str, schema: str) -> str:
    parts = [_ident(p) for p in re.findall(r'"[^"]+"|[^.]+', name)]
    if len(parts) == 1:
        parts = [database.upper(), schema.upper(), *parts]
    elif len(parts) == 2:
        parts = [database.upper(), *parts]
    return ".".join(parts)


def parse_pipe(row: dict[str, Any]) -> PipeDefinition:
    """One SHOW PIPES row (keys in either case) -> the table it loads and the stage path it reads."""
    r = {str(k).lower(): v for k, v in row.items()}
    db, schema = str(r.get("database_name") or ""), str(r.get("schema_name") or "")
    pipe = qualify(str(r.get("name") or "?"), db, schema)
    pattern = str(r["pattern"]) if r.get("pattern") else None
    definition = str(r.get("definition") or "")
    if r.get("invalid_reason"):
        return PipeDefinition(pipe, None, None, "", pattern, f"Snowflake marks the pipe invalid: {r['invalid_reason']}")
    match = _COPY.search(definition)
    if not match:
        return PipeDefinition(pipe, None, None, "", pattern,
                              f"cannot read `COPY INTO <table> FROM @<stage>` in its definition {definition[:120]!r}")
    path = (match.group("path") or "").lstrip("/")
    return PipeDefinition(pipe, qualify(match.group("table"), db, schema), qualify(match.group("stage"), db, schema),
                          path, pattern, None)


def parse_stage(row: dict[str, Any]) -> StageInfo:
    r = {str(k).lower(): v for k, v in row.items()}
    name = qualify(str(r.get("name") or "?"), str(r.get("database_name") or ""), str(r.get("schema_name") or ""))
    return StageInfo(name, str(r.get("url") or ""))


class PipeCatalog:
    """SHOW PIPES / SHOW STAGES on one session (see the module docstring for the stand-in)."""

    def __init__(self, runner: QueryRunner, *, show_pipes_relation: str | None = None) -> None:
        self._runner = runner
        self.show_pipes_relation = show_pipes_relation

    def show_pipes_sql(self) -> str:
        if self.show_pipes_relation:
            return f"SELECT {', '.join(SHOW_PIPES_COLUMNS)} FROM IDENTIFIER(%(relation)s)"
        return "SHOW PIPES IN ACCOUNT"

    def pipes(self, *, timeout: float) -> list[PipeDefinition]:
        params = {"relation": self.show_pipes_relation} if self.show_pipes_relation else None
        return [parse_pipe(row) for row in self._runner.query(self.show_pipes_sql(), params, timeout=timeout)]

    def stages(self, *, timeout: float) -> dict[str, StageInfo]:
        found = (parse_stage(row) for row in self._runner.query("SHOW STAGES IN ACCOUNT", None, timeout=timeout))
        return {s.name: s for s in found}
