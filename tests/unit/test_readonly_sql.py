"""Only one side-effect-free SELECT gets through, per dialect; each refusal says why."""

from __future__ import annotations

import pytest

from sentinel.readonly_sql import (
    POSTGRES_FUNCTIONS,
    POSTGRES_PREFIXES,
    SNOWFLAKE_FUNCTIONS,
    UnsafeSqlError,
    check_read_only,
)

ACCEPTED_POSTGRES = [
    "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn) FROM pg_replication_slots WHERE slot_name = %(slot)s",
    "SELECT count(*) FROM payments.transactions WHERE status = 'pending' AND created_at < now() - interval '10 minutes'",
    "WITH w AS (SELECT id FROM t WHERE x > %s) SELECT count(*) FROM w;",
    "SELECT 1 UNION ALL SELECT 2",
    "SELECT coalesce(max(x), 0)::float FROM t WHERE name LIKE 'a%%'",
    "SELECT 1 FROM pg_sleep(1)",  # bounded by statement_timeout; the tests use it to prove the timeout
]

REFUSED_POSTGRES = {
    "SELECT count(pg_drop_replication_slot(slot_name)) FROM pg_replication_slots": "drops a replication slot",
    "COPY (SELECT 1) TO PROGRAM 'touch /tmp/x'": "got COPY",
    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity": "kills another session",
    "SELECT pg_catalog.pg_cancel_backend(42)": "cancels another session",
    'SELECT "set_config"(\'statement_timeout\', \'0\', false)': "changes a setting",
    "SELECT pg_advisory_lock(1)": "advisory lock",
    "SELECT pg_try_advisory_xact_lock(1)": "advisory lock",
    "SELECT lo_export(123, '/tmp/x')": "large objects",
    "SELECT * FROM dblink('host=evil', 'DELETE FROM t') AS t(x int)": "another database",
    "SELECT pg_read_file('/etc/passwd')": "reads a server file",
    "SELECT pg_ls_dir('.')": "lists server directories",
    "SELECT count(*) FROM pg_logical_slot_get_changes('debezium', NULL, NULL)": "consumes or peeks",
    "SELECT nextval('payments.seq')": "advances a sequence",
    "SELECT query_to_xml('SELECT pg_drop_replication_slot(''x'')', true, true, '')": "runs SQL from a string",
    "WITH d AS (DELETE FROM t RETURNING *) SELECT count(*) FROM d": "writes data",
    "SELECT * INTO copy_of_t FROM t": "creates a table",
    "SELECT * FROM t FOR UPDATE": "row locks",
    "SELECT 1; SELECT 2": "exactly one statement, found 2",
    "DELETE FROM t": "got DELETE",
    "EXPLAIN ANALYZE DELETE FROM t": "got EXPLAIN",
    "SET statement_timeout = 0": "only a SELECT",
    "SELEC 1": "does not parse as postgres SQL",
    "": "exactly one statement, found 0",
}


@pytest.mark.parametrize("sql", ACCEPTED_POSTGRES)
def test_read_only_queries_pass(sql: str) -> None:
    check_read_only(sql, "postgres")


@pytest.mark.parametrize(("sql", "why"), REFUSED_POSTGRES.items())
def test_side_effects_are_refused_with_the_reason(sql: str, why: str) -> None:
    with pytest.raises(UnsafeSqlError, match=why.replace("(", r"\(")):
        check_read_only(sql, "postgres")


@pytest.mark.parametrize(("sql", "why"), [
    ("SELECT SYSTEM$CANCEL_ALL_QUERIES(123)", "cancels every query"),
    ("SELECT SYSTEM$PIPE_FORCE_RESUME('db.s.p')", "resumes a pipe"),
    ("CALL drop_everything()", "only a SELECT"),
    ("INSERT INTO t SELECT 1", "got INSERT"),
])
def test_snowflake_side_effects_are_refused(sql: str, why: str) -> None:
    with pytest.raises(UnsafeSqlError, match=why):
        check_read_only(sql, "snowflake")


def test_snowflake_monitoring_functions_pass() -> None:
    check_read_only("SELECT SYSTEM$PIPE_STATUS(%(pipe)s)", "snowflake")
    check_read_only("SELECT MAX(_loaded_at) FROM IDENTIFIER(%(table)s)", "snowflake")


def test_the_documented_lists_cover_what_issue_17_names() -> None:
    named = ["pg_drop_replication_slot", "pg_terminate_backend", "pg_cancel_backend", "set_config",
             "pg_read_file", "pg_read_binary_file"]
    assert all(n in POSTGRES_FUNCTIONS for n in named)
    assert {"pg_advisory_", "lo_", "dblink"} <= set(POSTGRES_PREFIXES)
    assert all(why for why in [*POSTGRES_FUNCTIONS.values(), *SNOWFLAKE_FUNCTIONS.values()])
