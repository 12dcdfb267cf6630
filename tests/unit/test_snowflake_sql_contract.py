"""The exact SQL Sentinel sends to Snowflake, rendered from the production alert_rules.yaml, against Snowflake's
grammar (sqlglot's Snowflake dialect) and Snowflake's documented outputs. fakesnow runs on DuckDB and has neither
COPY_HISTORY nor SYSTEM$PIPE_STATUS, so this is where the production statements meet the contract.

Documentation the column and field lists below are copied from:
- COPY_HISTORY table function, https://docs.snowflake.com/en/sql-reference/functions/copy_history
  (arguments TABLE_NAME, START_TIME, END_TIME, PIPE_NAME; output columns as listed in DOCUMENTED_COPY_HISTORY)
- SYSTEM$PIPE_STATUS, https://docs.snowflake.com/en/sql-reference/functions/system_pipe_status
  (the JSON object's name/value pairs as listed in DOCUMENTED_PIPE_STATUS)
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import sqlglot
import yaml
from sentinel_checks.warehouse_freshness import snowflake_newest_sql
from sqlglot import exp

from sentinel.readonly_sql import check_read_only
from sentinel.sources import snowpipe
from sentinel.sources.snowflake import IDENTITY_SQL, OWNED_SQL
from sentinel.sources.snowpipe import SnowpipeQueries, TableName

ROOT = Path(__file__).resolve().parents[2]

DOCUMENTED_COPY_HISTORY = frozenset({
    "FILE_NAME", "STAGE_LOCATION", "LAST_LOAD_TIME", "ROW_COUNT", "ROW_PARSED", "FILE_SIZE", "FIRST_ERROR_MESSAGE",
    "FIRST_ERROR_LINE_NUMBER", "FIRST_ERROR_CHARACTER_POS", "FIRST_ERROR_COLUMN_NAME", "ERROR_COUNT", "ERROR_LIMIT",
    "STATUS", "TABLE_CATALOG_NAME", "TABLE_SCHEMA_NAME", "TABLE_NAME", "PIPE_CATALOG_NAME", "PIPE_SCHEMA_NAME",
    "PIPE_NAME", "PIPE_RECEIVED_TIME", "FIRST_COMMIT_TIME",
})
DOCUMENTED_COPY_HISTORY_ARGUMENTS = frozenset({"TABLE_NAME", "START_TIME", "END_TIME", "PIPE_NAME"})
DOCUMENTED_PIPE_STATUS = frozenset({
    "executionState", "oldestPendingFilePath", "oldestFileTimestamp", "pendingFileCount", "lastPipeErrorTimestamp",
    "lastPipeFaultTimestamp", "lastIngestedTimestamp", "lastIngestedFilePath", "notificationChannelName",
    "numOutstandingMessagesOnChannel", "lastReceivedMessageTimestamp", "lastForwardedMessageTimestamp", "error",
    "fault", "lastPulledFromChannelTimestamp", "lastForwardedFilePath", "loadHistoryRemainingEntriesToSync",
    "oldestPendingHistoryRefreshJobCreationTime", "pendingHistoryRefreshJobsCount",
})


def production_params(kind: str) -> list[dict[str, Any]]:
    checks = yaml.safe_load((ROOT / "alert_rules.yaml").read_text())["checks"]
    found = [c["params"] for c in checks if c["kind"] == kind]
    assert found, f"alert_rules.yaml has no {kind} check"
    return found


def bind(sql: str, params: dict[str, Any]) -> str:
    """The statement as the connector sends it: pyformat parameters become Snowflake literals."""
    return re.sub(r"%\((\w+)\)s", lambda m: exp.convert(params[m.group(1)]).sql("snowflake"), sql)


def parse(sql: str) -> exp.Expr:
    tree = sqlglot.parse_one(sql, read="snowflake")
    assert isinstance(tree, exp.Select)
    check_read_only(sql, "snowflake")
    return tree


def copy_history_statements() -> list[str]:
    from datetime import UTC, datetime

    queries = SnowpipeQueries(runner=None)  # type: ignore[arg-type] # renders only: production mode, no stand-in
    start = datetime(2026, 1, 1, tzinfo=UTC)  # any instant: the contract is the shape, not the value
    out = []
    for params in production_params("snowpipe_load_history"):
        for target in params["targets"]:
            table = TableName.parse(target["table"])
            out.append(bind(queries.copy_history_sql(table), queries.copy_history_params(table, start)))
    return out


@pytest.mark.parametrize("sql", copy_history_statements())
def test_copy_history_uses_only_documented_arguments_and_columns(sql: str) -> None:
    tree = parse(sql)
    function = next(a for a in tree.find_all(exp.Anonymous) if a.name.upper() == "COPY_HISTORY")
    # <database>.INFORMATION_SCHEMA.COPY_HISTORY: the function sees only its own database's tables
    assert function.parent is not None and "INFORMATION_SCHEMA" in function.parent.sql("snowflake").upper()
    arguments = {k.this.name.upper() for k in function.expressions if isinstance(k, exp.Kwarg)}
    assert {"TABLE_NAME", "START_TIME"} <= arguments <= DOCUMENTED_COPY_HISTORY_ARGUMENTS
    selected = {c.name.upper() for c in tree.expressions}
    ordered = {c.name.upper() for o in tree.find_all(exp.Ordered) for c in o.find_all(exp.Column)}
    assert selected | ordered <= DOCUMENTED_COPY_HISTORY, sorted((selected | ordered) - DOCUMENTED_COPY_HISTORY)


def test_copy_history_rows_are_read_by_documented_names_only() -> None:
    source = Path(snowpipe.__file__).read_text()
    read = set(re.findall(r'row(?:\.get\(|\[)"([A-Z_]+)"', source))
    assert read and read <= DOCUMENTED_COPY_HISTORY, sorted(read - DOCUMENTED_COPY_HISTORY)
    assert set(snowpipe.COPY_HISTORY_COLUMNS) <= DOCUMENTED_COPY_HISTORY


@pytest.mark.parametrize("pipe", [t["pipe"] for p in production_params("snowpipe_load_history") for t in p["targets"]])
def test_pipe_status_is_one_system_function_call(pipe: str) -> None:
    queries = SnowpipeQueries(runner=None)  # type: ignore[arg-type]
    tree = parse(bind(queries.pipe_status_sql(), queries.pipe_status_params(pipe)))
    [call] = [a for a in tree.find_all(exp.Anonymous)]
    assert call.name.upper() == "SYSTEM$PIPE_STATUS"
    assert [e.sql("snowflake") for e in call.expressions] == [f"'{pipe}'"]  # the whole name in single quotes


def test_pipe_status_json_is_read_by_documented_fields_only() -> None:
    source = Path(snowpipe.__file__).read_text()
    fields = set(re.findall(r'data\.get\("(\w+)"\)|data\["(\w+)"\]', source))
    names = {a or b for a, b in fields}
    assert names and names <= DOCUMENTED_PIPE_STATUS, sorted(names - DOCUMENTED_PIPE_STATUS)


@pytest.mark.parametrize("target", [t for p in production_params("warehouse_freshness") for t in p["tables"]])
def test_freshness_binds_identifiers_through_identifier(target: dict[str, str]) -> None:
    sql = bind(snowflake_newest_sql(), {"column": target["column"].upper(), "table": target["table"].upper()})
    parse(sql)
    assert sql.upper().count("IDENTIFIER(") == 2
    assert f"IDENTIFIER('{target['table'].upper()}')" in sql


@pytest.mark.parametrize("target", [t for p in production_params("warehouse_freshness") for t in p["tables"]])
def test_the_future_cutoff_freshness_statement_is_one_read_only_select(target: dict[str, str]) -> None:
    """Issue 20: when the newest value is in the future, a second MAX skips values past now + tolerance."""
    from datetime import UTC, datetime

    cutoff = datetime(2026, 1, 1, 0, 2, tzinfo=UTC).isoformat()  # the connector binds the datetime as a literal
    sql = bind(snowflake_newest_sql(cutoff=True),
               {"column": target["column"].upper(), "table": target["table"].upper(), "cutoff": cutoff})
    tree = parse(sql)
    assert sql.upper().count("IDENTIFIER(") == 3 and tree.args.get("where") is not None


def test_volume_and_schema_statements_parse_as_read_only_snowflake_selects() -> None:
    """volume_anomaly's bucket count and schema_drift's INFORMATION_SCHEMA read, as production binds them."""
    from datetime import UTC, datetime

    from sentinel_checks._volume_counts import SNOWFLAKE_COUNTS_SQL

    for params in production_params("volume_anomaly"):
        if params.get("backend") != "snowflake":
            continue
        for t in params["tables"]:
            sql = bind(SNOWFLAKE_COUNTS_SQL, {"column": t["timestamp_column"].upper(), "table": t["table"].upper(),
                                              "w": 3600, "start": datetime(2026, 1, 1, tzinfo=UTC).isoformat(),
                                              "end": datetime(2026, 1, 2, tzinfo=UTC).isoformat()})
            tree = parse(sql)
            assert "IDENTIFIER(" in tree.sql("snowflake").upper()
    assert production_params("schema_drift")


# https://docs.snowflake.com/en/sql-reference/info-schema/tables (the columns the ownership probe uses)
DOCUMENTED_TABLES_COLUMNS = frozenset({"TABLE_CATALOG", "TABLE_SCHEMA", "TABLE_NAME", "TABLE_OWNER", "TABLE_TYPE"})


@pytest.mark.parametrize("sql", [IDENTITY_SQL, OWNED_SQL])
def test_the_privilege_probes_are_snowflake_sql_on_documented_columns(sql: str) -> None:
    tree = parse(sql)
    columns = {c.name.upper() for c in tree.find_all(exp.Column)}
    assert columns <= DOCUMENTED_TABLES_COLUMNS, sorted(columns - DOCUMENTED_TABLES_COLUMNS)
    tables = {t.sql("snowflake").upper() for t in tree.find_all(exp.Table)}
    assert tables <= {"INFORMATION_SCHEMA.TABLES"}, tables
