"""`sentinel doctor` for one PostgreSQL connection: reachable, who it is, privileges neither short nor excessive,
and every slot, table and query the checks use."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sentinel.doctor.needs import Need
from sentinel.doctor.report import DoctorLine, Level
from sentinel.errors import SourceError
from sentinel.privileges import MONITOR_ROLE, Identity, postgres_identity
from sentinel.sources.postgres import PostgresSource

TIMEOUT = timedelta(seconds=10)
ConfigAt = Callable[[Need], str]  # "alert_rules.yaml:12 (checks[3].params.slots[0])"


def probe(source: PostgresSource, needs: list[Need], config_at: ConfigAt) -> list[DoctorLine]:
    component = f"postgres {source.name}"
    try:
        with source.connect(TIMEOUT, verify=False) as conn:
            identity = postgres_identity(conn)
            lines = _identity_lines(component, source, identity, str(conn.info.dbname))
            role = identity.role
            failed: set[str] = set()  # checks with a table problem: their query would only fail the same way
            for need in needs:
                if need.what == "query" and need.check_id in failed:
                    continue
                line = _need_line(conn, component, role, need, config_at)
                if line is not None:
                    lines.append(line)
                    if line.level == "problem":
                        failed.add(need.check_id)
            return lines
    except SourceError as exc:
        return [DoctorLine("problem", component, str(exc).split(" (hint:")[0],
                           exc.hint or "check the host, port and credentials in SENTINEL_POSTGRES_DSN(S)")]


def _identity_lines(component: str, source: PostgresSource, identity: Identity, db: str) -> list[DoctorLine]:
    lines = [DoctorLine("ok", component, f"connected to {source.where} as {identity.describe()}")]
    if identity.privileged:
        reasons = "; ".join(identity.excessive)
        if source.allow_privileged:
            lines.append(DoctorLine("warning", component, f"privileged but allowed (allow_privileged): {reasons}",
                                    "connect as the role of deploy/grants/postgres.sql and drop allow_privileged"))
        else:
            lines.append(DoctorLine(
                "refused", component, f"Sentinel will not run as this identity: {reasons}",
                f"psql -v password=... -v schemas=... -v tables=... -f deploy/grants/postgres.sql in {db}, then put "
                f"{MONITOR_ROLE}'s DSN in SENTINEL_POSTGRES_DSN (or mark the connection allow_privileged: true)"))
    for note in identity.notes:
        lines.append(DoctorLine("problem", component, f"{identity.role} {note}",
                                f"GRANT pg_monitor TO {identity.role};"))
    return lines


def _need_line(conn: Any, component: str, role: str, need: Need, config_at: ConfigAt) -> DoctorLine | None:
    if need.what == "slot":
        return _slot(conn, component, need, config_at)
    if need.what == "table":
        return _table(conn, component, role, need, config_at)
    if need.what == "query":
        return _query(conn, component, need, config_at)
    return None


def _slot(conn: Any, component: str, need: Need, config_at: ConfigAt) -> DoctorLine:
    if not need.value:
        n = conn.execute("SELECT count(*) FROM pg_replication_slots WHERE slot_type = 'logical'").fetchone()[0]
        level: Level = "ok" if n else "problem"
        return DoctorLine(level, component, f"{n} logical replication slot(s) ({need.check_id})",
                          "" if n else "no Debezium slot exists: is the connector deployed against this database?")
    row = conn.execute("SELECT active FROM pg_replication_slots WHERE slot_name ~ %s",
                       (f"^(?:{need.value})$",)).fetchone()
    if row is None:
        return DoctorLine("problem", component, f"replication slot {need.value!r} does not exist ({need.check_id})",
                          f"start the Debezium connector that creates it, or fix the slot name at {config_at(need)}")
    return DoctorLine("ok", component, f"replication slot {need.value} exists ({'active' if row[0] else 'inactive'})")


def _table(conn: Any, component: str, role: str, need: Need, config_at: ConfigAt) -> DoctorLine:
    exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (need.value,)).fetchone()[0]
    if not exists:
        return DoctorLine("problem", component, f"table {need.value} does not exist ({need.check_id})",
                          f"fix the table name at {config_at(need)}")
    allowed = conn.execute("SELECT has_table_privilege(%s, 'SELECT')", (need.value,)).fetchone()[0]
    if not allowed:
        return DoctorLine("problem", component, f"{role} cannot SELECT {need.value} ({need.check_id})",
                          f"GRANT SELECT ON {need.value} TO {role};")
    return DoctorLine("ok", component, f"{role} can SELECT {need.value}")


def _query(conn: Any, component: str, need: Need, config_at: ConfigAt) -> DoctorLine | None:
    """EXPLAIN plans the check's SELECT (columns, types, functions, privileges) without running it."""
    import psycopg

    try:
        conn.execute("EXPLAIN " + need.value, need.parameters or None)
    except psycopg.errors.InsufficientPrivilege as exc:
        return DoctorLine("problem", component, f"query of {need.check_id}: {str(exc).strip()}",
                          "grant SELECT on what it reads (see the table lines) or change the query at "
                          f"{config_at(need)}")
    except psycopg.Error as exc:
        return DoctorLine("problem", component, f"query of {need.check_id} does not plan: {str(exc).strip()}",
                          f"fix the query at {config_at(need)}")
    return None
