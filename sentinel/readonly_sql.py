"""Prove a user-supplied SQL statement read-only before it goes anywhere near a database.

`default_transaction_read_only` does not stop a SELECT from calling a function with side effects: in PostgreSQL
`SELECT pg_drop_replication_slot(...)`, `pg_terminate_backend(...)`, `set_config(...)` or `lo_export(...)` all run
inside a read-only transaction, and `COPY ... TO PROGRAM` runs a shell. So every statement from config is parsed
with sqlglot in the dialect of the database it is sent to and accepted only when:

1. it is exactly one statement, a SELECT or WITH ... SELECT (set operations of SELECTs included);
2. no part of it writes or locks: no DML anywhere (a data-modifying CTE `WITH d AS (DELETE ...)`), no DDL,
   no COPY, no `SELECT ... INTO`, no `FOR UPDATE/SHARE`, nothing sqlglot can only keep as an opaque command;
3. it calls none of the side-effect functions of its dialect, listed below with why each is there.

The lists are a second line of defence: the first is a connection without the privileges to do damage (see
`sentinel.privileges`). They cannot know functions defined in the monitored database itself, which is why the
privilege check exists and why `allow_privileged` never switches this check off.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterator
from typing import Literal

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

Dialect = Literal["postgres", "snowflake", "duckdb"]

# PostgreSQL functions that change state even in a read-only transaction, or reach outside the database.
# Exact names first, then prefixes (a family: every advisory-lock or large-object function).
POSTGRES_FUNCTIONS: dict[str, str] = {
    # replication slots and origins: dropping, advancing or consuming the Debezium slot loses CDC data
    "pg_drop_replication_slot": "drops a replication slot",
    "pg_create_logical_replication_slot": "creates a replication slot (retains WAL forever)",
    "pg_create_physical_replication_slot": "creates a replication slot (retains WAL forever)",
    "pg_copy_logical_replication_slot": "creates a replication slot",
    "pg_copy_physical_replication_slot": "creates a replication slot",
    "pg_replication_slot_advance": "advances a slot past changes Debezium has not read",
    "pg_logical_emit_message": "writes to the WAL",
    # other sessions and the server
    "pg_terminate_backend": "kills another session",
    "pg_cancel_backend": "cancels another session's query",
    "pg_reload_conf": "reloads the server configuration",
    "pg_rotate_logfile": "rotates the server log",
    "pg_promote": "promotes a standby",
    "pg_switch_wal": "forces a WAL switch",
    "pg_create_restore_point": "writes a restore point",
    "pg_backup_start": "starts a backup", "pg_backup_stop": "stops a backup",
    "pg_start_backup": "starts a backup", "pg_stop_backup": "stops a backup",
    "pg_log_backend_memory_contexts": "makes another backend log",
    "pg_import_system_collations": "creates collations",
    # settings, sequences, transaction ids, notifications: writes that read-only mode allows
    "set_config": "changes a setting (could lift statement_timeout)",
    "nextval": "advances a sequence", "setval": "sets a sequence",
    "txid_current": "assigns a transaction id", "pg_current_xact_id": "assigns a transaction id",
    "pg_notify": "sends a notification",
    "pg_stat_statements_reset": "erases query statistics",
    # files on the server
    "pg_read_file": "reads a server file", "pg_read_binary_file": "reads a server file",
    "pg_stat_file": "inspects a server file", "pg_file_write": "writes a server file",
    "pg_file_rename": "renames a server file", "pg_file_unlink": "deletes a server file",
    "loread": "reads a large object", "lowrite": "writes a large object",
    # run SQL given as a string, which the parser cannot see into
    "query_to_xml": "runs SQL from a string", "query_to_xmlschema": "runs SQL from a string",
    "query_to_xml_and_xmlschema": "runs SQL from a string", "cursor_to_xml": "reads a cursor",
}
POSTGRES_PREFIXES: dict[str, str] = {
    "pg_advisory_": "takes an advisory lock (and could block Sentinel's own HA leader lock)",
    "pg_try_advisory_": "takes an advisory lock",
    "lo_": "reads or writes large objects and server files (lo_import, lo_export, lo_unlink)",
    "dblink": "connects to another database and runs SQL there",
    "pg_ls_": "lists server directories",
    "pg_stat_reset": "erases statistics",
    "pg_replication_origin_": "changes replication origins",
    "pg_logical_slot_": "consumes or peeks at a slot's changes",
    "pg_wal_replay_": "pauses or resumes WAL replay",
}
# Snowflake: SYSTEM$ functions that act rather than report, plus the ones that run SQL or procedures.
SNOWFLAKE_FUNCTIONS: dict[str, str] = {
    "system$cancel_all_queries": "cancels every query of a session",
    "system$cancel_query": "cancels a query",
    "system$abort_session": "ends a session", "system$abort_transaction": "aborts a transaction",
    "system$pipe_force_resume": "resumes a pipe", "system$pipe_rebinding_with_notification_channel": "rebinds a pipe",
    "system$set_return_value": "sets a task's return value",
    "system$user_task_cancel_ongoing_executions": "cancels task runs",
    "system$task_force_resume": "resumes a task",
    "system$wait": "holds a warehouse doing nothing",
    "system$set_event_sharing_account_for_region": "changes account settings",
    "system$authorize_privatelink": "changes network settings", "system$revoke_privatelink": "changes network settings",
    "system$migrate_saml_idp_registration": "changes authentication",
    "system$global_account_set_parameter": "changes account parameters",
}
SNOWFLAKE_PREFIXES: dict[str, str] = {
    "system$set_": "changes a setting",
    "system$abort_": "aborts work",
    "system$cancel_": "cancels work",
}
# DuckDB: functions that read the local filesystem or the network from inside a query.
DUCKDB_FUNCTIONS: dict[str, str] = {
    "read_text": "reads a file", "read_blob": "reads a file", "glob": "lists files",
    "query": "runs SQL from a string", "query_table": "reads a table named by a string",
}
DUCKDB_PREFIXES: dict[str, str] = {
    "read_csv": "reads a file", "read_json": "reads a file", "read_parquet": "reads a file",
    "parquet_": "reads a file", "sniff_csv": "reads a file",
}

_FUNCTIONS: dict[str, tuple[dict[str, str], dict[str, str]]] = {
    "postgres": (POSTGRES_FUNCTIONS, POSTGRES_PREFIXES),
    "snowflake": (SNOWFLAKE_FUNCTIONS, SNOWFLAKE_PREFIXES),
    "duckdb": (DUCKDB_FUNCTIONS, DUCKDB_PREFIXES),
}

# Node types that write, lock or hide what they do; found anywhere in the tree they refuse the statement.
_FORBIDDEN_NODES: tuple[tuple[type[exp.Expr], str], ...] = (
    (exp.DML, "it writes data (INSERT/UPDATE/DELETE/MERGE/COPY)"),
    (exp.DDL, "it changes the schema"),
    (exp.Into, "SELECT ... INTO creates a table"),
    (exp.Lock, "FOR UPDATE/SHARE takes row locks"),
    (exp.Command, "it is a command, not a query"),
    (exp.Set, "it changes a setting"),
    (exp.Transaction, "it controls the transaction"),
    (exp.Commit, "it controls the transaction"),
    (exp.Rollback, "it controls the transaction"),
)

# psycopg / snowflake-connector pyformat placeholders; stand-ins for parsing only, never sent.
_PLACEHOLDER = re.compile(r"%\([A-Za-z_][A-Za-z0-9_]*\)s|%s")


class UnsafeSqlError(ValueError):
    """A statement that is not provably one read-only query. The message says why and what to do."""


def check_read_only(statement: str, dialect: Dialect) -> None:
    """Raise UnsafeSqlError unless `statement` is one read-only SELECT in `dialect`."""
    problem = _read_only_problem(statement, dialect)
    if problem is not None:
        raise UnsafeSqlError(problem)


@functools.lru_cache(maxsize=4096)
def _read_only_problem(statement: str, dialect: Dialect) -> str | None:
    """Why `statement` is refused, or None. Cached per distinct text: checks often share one query with different
    bound parameters, and parsing is what a large config's validation spends most on."""
    try:
        tree = _parse_one(statement, dialect)
    except UnsafeSqlError as exc:
        return str(exc)
    if not isinstance(tree, exp.Select | exp.SetOperation):
        return f"only a SELECT or WITH ... SELECT is allowed, got {_kind(tree)}: Sentinel never changes the database"
    # One breadth-first walk instead of one per forbidden type; the same node is reported as before: the first
    # (in walk order) of the first type listed in _FORBIDDEN_NODES, then the first refused function.
    first_of: dict[int, exp.Expr] = {}
    functions: list[exp.Func] = []
    for node in tree.walk():
        for index, (node_type, _) in enumerate(_FORBIDDEN_NODES):
            if isinstance(node, node_type) and index not in first_of:
                first_of[index] = node
        if isinstance(node, exp.Func):
            functions.append(node)
    if first_of:
        index = min(first_of)
        return f"refused: {_FORBIDDEN_NODES[index][1]} ({_kind(first_of[index])})"
    for name in _function_names(functions):
        reason = side_effect(name, dialect)
        if reason is not None:
            return (f"refused: {name}() {reason}; Sentinel only runs side-effect-free queries "
                    f"(see the list in sentinel/readonly_sql.py)")
    return None


def side_effect(function: str, dialect: Dialect) -> str | None:
    """Why `function` is refused in `dialect`, or None when it is not on the list."""
    name = function.lower()
    exact, prefixes = _FUNCTIONS[dialect]
    if name in exact:
        return exact[name]
    return next((why for prefix, why in prefixes.items() if name.startswith(prefix)), None)


def tables_read(statement: str, dialect: Dialect) -> list[str]:
    """schema.table (or table) of every relation a query reads, CTE names excluded; [] when it does not parse.
    `sentinel doctor` checks the role may SELECT each of them."""
    try:
        tree = _parse_one(statement, dialect)
    except UnsafeSqlError:
        return []
    ctes = {c.alias_or_name for c in tree.find_all(exp.CTE)}
    out: list[str] = []
    for t in tree.find_all(exp.Table):
        if not t.name or t.name in ctes or isinstance(t.this, exp.Func):
            continue
        name = f"{t.db}.{t.name}" if t.db else t.name
        if name not in out:
            out.append(name)
    return out


def _parse_one(statement: str, dialect: Dialect) -> exp.Expr:
    text = _PLACEHOLDER.sub("NULL", statement).replace("%%", "%")
    # sqlglot warns on the logger when it falls back to an opaque Command; that fallback is refused below anyway.
    sqlglot_logger = logging.getLogger("sqlglot")
    level = sqlglot_logger.level
    sqlglot_logger.setLevel(logging.ERROR)
    try:
        trees = [t for t in sqlglot.parse(text, read=dialect) if t is not None]
    except SqlglotError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UnsafeSqlError(f"does not parse as {dialect} SQL: {first[:200]}") from None
    finally:
        sqlglot_logger.setLevel(level)
    if len(trees) != 1:
        raise UnsafeSqlError(f"must be exactly one statement, found {len(trees)}")
    return trees[0]


def _function_names(functions: list[exp.Func]) -> Iterator[str]:
    for func in functions:
        if isinstance(func, exp.Anonymous):
            yield str(func.name)
        else:
            # a function sqlglot knows by type (COUNT, LEFT...): check every name it goes by
            yield func.sql_name()
            yield from getattr(type(func), "_sql_names", ())


def _kind(node: exp.Expr) -> str:
    if isinstance(node, exp.Command):
        return str(node.this).upper()
    return type(node).__name__.upper()
