"""Snowpipe monitoring queries: INFORMATION_SCHEMA.COPY_HISTORY and SYSTEM$PIPE_STATUS.

Why this seam exists: the local Snowflake stand-in (fakesnow) has neither the COPY_HISTORY table function nor
SYSTEM$PIPE_STATUS. In production these classes run the real SQL below (its text is unit-tested). A stand-in
can instead name a table/view holding rows with exactly the real output shape:

- `copy_history_relation`: a table or view with the real COPY_HISTORY columns and types
  (FILE_NAME VARCHAR, STAGE_LOCATION VARCHAR, LAST_LOAD_TIME TIMESTAMP_LTZ, ROW_COUNT NUMBER, ROW_PARSED NUMBER,
  FILE_SIZE NUMBER, FIRST_ERROR_MESSAGE VARCHAR, ..., STATUS VARCHAR, TABLE_CATALOG_NAME, TABLE_SCHEMA_NAME,
  TABLE_NAME VARCHAR, PIPE_CATALOG_NAME, PIPE_SCHEMA_NAME, PIPE_NAME VARCHAR, PIPE_RECEIVED_TIME TIMESTAMP_LTZ);
  the table-function arguments (TABLE_NAME =>, START_TIME =>) become WHERE filters on the same columns.
- `pipe_status_relation`: a table with PIPE_NAME VARCHAR and PIPE_STATUS VARCHAR holding the JSON text that
  SYSTEM$PIPE_STATUS returns, with its real keys (executionState, pendingFileCount, lastIngestedTimestamp, ...).

Everything downstream of the query (parsing, the check's judgement) is the same code in both cases.
Sentinel sets these only via SENTINEL_SNOWFLAKE_COPY_HISTORY_RELATION / ..._PIPE_STATUS_RELATION; leave them
unset in production.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from sentinel.errors import SourceError

# Output columns of INFORMATION_SCHEMA.COPY_HISTORY that Sentinel reads (a subset of the real ones, same names).
COPY_HISTORY_COLUMNS = (
    "FILE_NAME",
    "STAGE_LOCATION",
    "LAST_LOAD_TIME",
    "ROW_COUNT",
    "ROW_PARSED",
    "FILE_SIZE",
    "FIRST_ERROR_MESSAGE",
    "FIRST_ERROR_LINE_NUMBER",
    "FIRST_ERROR_COLUMN_NAME",
    "ERROR_COUNT",
    "ERROR_LIMIT",
    "STATUS",
    "TABLE_CATALOG_NAME",
    "TABLE_SCHEMA_NAME",
    "TABLE_NAME",
    "PIPE_CATALOG_NAME",
    "PIPE_SCHEMA_NAME",
    "PIPE_NAME",
    "PIPE_RECEIVED_TIME",
)

# Snowflake DDL of a stand-in relation with the real column types (used by tests and the demo).
COPY_HISTORY_STANDIN_DDL = """CREATE TABLE IF NOT EXISTS {relation} (
    FILE_NAME VARCHAR, STAGE_LOCATION VARCHAR, LAST_LOAD_TIME TIMESTAMP_LTZ, ROW_COUNT NUMBER, ROW_PARSED NUMBER,
    FILE_SIZE NUMBER, FIRST_ERROR_MESSAGE VARCHAR, FIRST_ERROR_LINE_NUMBER NUMBER, FIRST_ERROR_CHARACTER_POS NUMBER,
    FIRST_ERROR_COLUMN_NAME VARCHAR, ERROR_COUNT NUMBER, ERROR_LIMIT NUMBER, STATUS VARCHAR,
    TABLE_CATALOG_NAME VARCHAR, TABLE_SCHEMA_NAME VARCHAR, TABLE_NAME VARCHAR,
    PIPE_CATALOG_NAME VARCHAR, PIPE_SCHEMA_NAME VARCHAR, PIPE_NAME VARCHAR, PIPE_RECEIVED_TIME TIMESTAMP_LTZ
)"""
PIPE_STATUS_STANDIN_DDL = "CREATE TABLE IF NOT EXISTS {relation} (PIPE_NAME VARCHAR, PIPE_STATUS VARCHAR)"

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")


class QueryRunner(Protocol):
    def query(self, sql: str, params: dict[str, Any] | None = None, *, timeout: float | None = None) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class TableName:
    """A Snowflake table name as configured: DATABASE.SCHEMA.TABLE or SCHEMA.TABLE (unquoted identifiers)."""

    database: str | None
    schema: str
    table: str

    @staticmethod
    def parse(text: str) -> TableName:
        parts = text.split(".")
        if len(parts) not in (2, 3) or not all(_IDENT.match(p) for p in parts):
            raise ValueError(f"expected SCHEMA.TABLE or DATABASE.SCHEMA.TABLE of plain identifiers, got {text!r}")
        up = [p.upper() for p in parts]
        return TableName(up[0], up[1], up[2]) if len(up) == 3 else TableName(None, up[0], up[1])

    def __str__(self) -> str:
        return ".".join(p for p in (self.database, self.schema, self.table) if p)


@dataclass(frozen=True)
class CopyHistoryRow:
    file_name: str
    stage_location: str | None
    last_load_at: datetime | None
    row_count: int
    row_parsed: int | None
    file_size: int | None
    first_error_message: str | None
    first_error_line_number: int | None
    first_error_column_name: str | None
    error_count: int
    status: str  # normalised: LOADED, LOAD_FAILED, PARTIALLY_LOADED, LOAD_IN_PROGRESS, LOAD_SKIPPED
    pipe_name: str | None
    pipe_received_at: datetime | None

    @staticmethod
    def from_row(row: dict[str, Any]) -> CopyHistoryRow:
        return CopyHistoryRow(
            file_name=str(row["FILE_NAME"]),
            stage_location=row.get("STAGE_LOCATION"),
            last_load_at=_aware(row.get("LAST_LOAD_TIME")),
            row_count=int(row.get("ROW_COUNT") or 0),
            row_parsed=None if row.get("ROW_PARSED") is None else int(row["ROW_PARSED"]),
            file_size=None if row.get("FILE_SIZE") is None else int(row["FILE_SIZE"]),
            first_error_message=row.get("FIRST_ERROR_MESSAGE"),
            first_error_line_number=None if row.get("FIRST_ERROR_LINE_NUMBER") is None else int(row["FIRST_ERROR_LINE_NUMBER"]),
            first_error_column_name=row.get("FIRST_ERROR_COLUMN_NAME"),
            error_count=int(row.get("ERROR_COUNT") or 0),
            status=normalise_status(str(row.get("STATUS") or "")),
            pipe_name=row.get("PIPE_NAME"),
            pipe_received_at=_aware(row.get("PIPE_RECEIVED_TIME")),
        )


def normalise_status(status: str) -> str:
    """COPY_HISTORY says 'Loaded' / 'Load failed' / 'Partially loaded'; LOAD_HISTORY says 'LOAD FAILED'. One form."""
    return re.sub(r"[\s-]+", "_", status.strip()).upper()


@dataclass(frozen=True)
class PipeStatus:
    """SYSTEM$PIPE_STATUS output. Keys absent from the JSON are None (Snowflake omits non-applicable ones)."""

    pipe: str
    execution_state: str
    pending_file_count: int
    last_ingested_at: datetime | None
    last_ingested_file_path: str | None
    last_received_message_at: datetime | None
    last_forwarded_message_at: datetime | None
    oldest_pending_file_path: str | None
    oldest_file_at: datetime | None
    last_pipe_error_at: datetime | None
    last_pipe_fault_at: datetime | None
    error: str | None
    fault: str | None
    raw: dict[str, Any]

    @staticmethod
    def parse(pipe: str, text: str) -> PipeStatus:
        try:
            data = json.loads(text)
        except (TypeError, ValueError) as exc:
            raise SourceError(
                f"SYSTEM$PIPE_STATUS({pipe}) returned text that is not JSON: {str(text)[:120]!r}",
                hint="check the pipe name; the Sentinel role needs MONITOR (or OWNERSHIP) on the pipe",
            ) from exc
        if not isinstance(data, dict) or "executionState" not in data:
            raise SourceError(
                f"SYSTEM$PIPE_STATUS({pipe}) has no executionState: {str(text)[:120]!r}",
                hint="check the pipe name; the Sentinel role needs MONITOR (or OWNERSHIP) on the pipe",
            )
        return PipeStatus(
            pipe=pipe,
            execution_state=str(data["executionState"]),
            pending_file_count=int(data.get("pendingFileCount") or 0),
            last_ingested_at=parse_snowflake_ts(data.get("lastIngestedTimestamp")),
            last_ingested_file_path=data.get("lastIngestedFilePath"),
            last_received_message_at=parse_snowflake_ts(data.get("lastReceivedMessageTimestamp")),
            last_forwarded_message_at=parse_snowflake_ts(data.get("lastForwardedMessageTimestamp")),
            oldest_pending_file_path=data.get("oldestPendingFilePath"),
            oldest_file_at=parse_snowflake_ts(data.get("oldestFileTimestamp")),
            last_pipe_error_at=parse_snowflake_ts(data.get("lastPipeErrorTimestamp")),
            last_pipe_fault_at=parse_snowflake_ts(data.get("lastPipeFaultTimestamp")),
            error=None if data.get("error") in (None, "") else str(data["error"]),
            fault=None if data.get("fault") in (None, "") else str(data["fault"]),
            raw=data,
        )


def parse_snowflake_ts(value: Any) -> datetime | None:
    """Pipe status timestamps look like '2025-01-15T00:10:02.123Z' (UTC)."""
    if value in (None, ""):
        return None
    if isinstance(value, int | float):  # epoch millis, seen in some fields
        return datetime.fromtimestamp(float(value) / 1000, tz=UTC)
    text = str(value).strip().replace("Z", "+00:00")
    try:
        return _aware(datetime.fromisoformat(text))
    except ValueError:
        return None


def _aware(value: Any) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise SourceError(f"expected a timestamp from Snowflake, got {type(value).__name__} {value!r}")
    if value.tzinfo is None:  # TIMESTAMP_NTZ: Snowflake's convention (and ours) is UTC
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


class SnowpipeQueries:
    """COPY_HISTORY and SYSTEM$PIPE_STATUS behind one small interface (see the module docstring for why)."""

    def __init__(self, runner: QueryRunner, *, copy_history_relation: str | None = None,
                 pipe_status_relation: str | None = None) -> None:
        self._runner = runner
        self.copy_history_relation = copy_history_relation
        self.pipe_status_relation = pipe_status_relation

    # COPY_HISTORY ------------------------------------------------------------------------------------------

    def copy_history_sql(self, table: TableName) -> str:
        cols = ", ".join(COPY_HISTORY_COLUMNS)
        if self.copy_history_relation:
            return (
                f"SELECT {cols} FROM IDENTIFIER(%(relation)s)"
                " WHERE TABLE_SCHEMA_NAME = %(schema)s AND TABLE_NAME = %(table)s"
                " AND (%(database)s IS NULL OR TABLE_CATALOG_NAME = %(database)s)"
                " AND LAST_LOAD_TIME >= %(start_time)s::TIMESTAMP_LTZ"
                " ORDER BY LAST_LOAD_TIME"
            )
        # The table function lives in each database's INFORMATION_SCHEMA and sees only that database's tables.
        info_schema = f"{table.database}.INFORMATION_SCHEMA" if table.database else "INFORMATION_SCHEMA"
        return (
            f"SELECT {cols} FROM TABLE({info_schema}.COPY_HISTORY("
            "TABLE_NAME => %(table_name)s, START_TIME => %(start_time)s::TIMESTAMP_LTZ))"
            " ORDER BY LAST_LOAD_TIME"
        )

    def copy_history_params(self, table: TableName, start: datetime) -> dict[str, Any]:
        params: dict[str, Any] = {"start_time": start.astimezone(UTC).isoformat()}
        if self.copy_history_relation:
            params.update(relation=self.copy_history_relation, schema=table.schema, table=table.table,
                          database=table.database)
        else:
            params["table_name"] = str(table)
        return params

    def copy_history(self, table: TableName, start: datetime, *, timeout: float | None = None) -> list[CopyHistoryRow]:
        rows = self._runner.query(self.copy_history_sql(table), self.copy_history_params(table, start), timeout=timeout)
        return [CopyHistoryRow.from_row(r) for r in rows]

    # SYSTEM$PIPE_STATUS ------------------------------------------------------------------------------------

    def pipe_status_sql(self) -> str:
        if self.pipe_status_relation:
            return "SELECT PIPE_STATUS FROM IDENTIFIER(%(relation)s) WHERE PIPE_NAME = %(pipe_name)s"
        return "SELECT SYSTEM$PIPE_STATUS(%(pipe_name)s) AS PIPE_STATUS"

    def pipe_status_params(self, pipe: str) -> dict[str, Any]:
        params: dict[str, Any] = {"pipe_name": pipe}
        if self.pipe_status_relation:
            params["relation"] = self.pipe_status_relation
        return params

    def pipe_status(self, pipe: str, *, timeout: float | None = None) -> PipeStatus:
        rows = self._runner.query(self.pipe_status_sql(), self.pipe_status_params(pipe), timeout=timeout)
        if not rows or rows[0].get("PIPE_STATUS") is None:
            raise SourceError(
                f"SYSTEM$PIPE_STATUS({pipe}) returned nothing",
                hint="check the pipe name (DB.SCHEMA.PIPE); the Sentinel role needs MONITOR on the pipe",
            )
        return PipeStatus.parse(pipe, str(rows[0]["PIPE_STATUS"]))
