"""Who a connection is and whether it can do more than monitor.

Parsing SQL (sentinel.readonly_sql) cannot know functions defined in the monitored database, and a careless DSN
(the RDS master user, a Debezium replication user) turns any slip into an outage. So before a check uses a
connection Sentinel asks the database what the identity may do, and refuses identities that could drop the slot,
kill sessions, run programs or write files, unless the connection is marked `allow_privileged: true` in
alert_rules.yaml (`connections:`), which then warns at every start and in `sentinel status`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Predefined roles that give a PostgreSQL login more than monitoring (PostgreSQL 15 "Predefined Roles";
# the managed-service admin roles of RDS, Cloud SQL and Azure). pg_monitor and pg_read_all_stats are what
# Sentinel needs and are not here.
POSTGRES_PRIVILEGED_ROLES: dict[str, str] = {
    "pg_execute_server_program": "can run programs on the server (COPY ... TO PROGRAM)",
    "pg_write_server_files": "can write files on the server",
    "pg_read_server_files": "can read any file on the server",
    "pg_signal_backend": "can cancel and terminate other sessions",
    "pg_write_all_data": "can write every table",
    "pg_checkpoint": "can force checkpoints",
    "pg_create_subscription": "can create subscriptions",
    "rds_superuser": "is the RDS admin role",
    "rds_replication": "can manage replication slots (RDS)",
    "cloudsqlsuperuser": "is the Cloud SQL admin role",
    "azure_pg_admin": "is the Azure admin role",
}
POSTGRES_PRIVILEGED_ATTRIBUTES: dict[str, str] = {
    "rolsuper": "is a superuser (SUPERUSER)",
    "rolreplication": "can create and drop replication slots (REPLICATION)",
    "rolbypassrls": "bypasses row-level security (BYPASSRLS)",
    "rolcreaterole": "can create roles and grant itself more (CREATEROLE)",
}
SNOWFLAKE_ADMIN_ROLES = ("ACCOUNTADMIN", "SECURITYADMIN", "SYSADMIN", "ORGADMIN", "USERADMIN")

POSTGRES_IDENTITY_SQL = """
SELECT session_user, current_user, r.rolsuper, r.rolreplication, r.rolbypassrls, r.rolcreaterole,
       ARRAY(SELECT m.rolname::text FROM pg_roles m
             WHERE m.rolname = ANY(%(privileged)s) AND pg_has_role(current_user, m.oid, 'MEMBER')
             ORDER BY m.rolname) AS privileged_roles,
       pg_has_role(current_user, 'pg_monitor', 'USAGE') AS has_pg_monitor
FROM pg_roles r WHERE r.rolname = current_user
"""

MONITOR_ROLE = "sentinel_monitor"


@dataclass(frozen=True)
class Identity:
    """Who a connection logged in as, and every reason it is more powerful than a monitor should be."""

    system: str  # "postgres" | "snowflake"
    user: str
    role: str
    excessive: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())

    @property
    def privileged(self) -> bool:
        return bool(self.excessive)

    def describe(self) -> str:
        who = self.user if self.user == self.role else f"{self.user} (role {self.role})"
        return f"{self.system} user {who}"


def postgres_identity(conn: Any) -> Identity:
    """Ask PostgreSQL what the logged-in role may do (one catalog query, nothing changed)."""
    row = conn.execute(POSTGRES_IDENTITY_SQL, {"privileged": list(POSTGRES_PRIVILEGED_ROLES)}).fetchone()
    session_user, current_user, *flags, roles, has_monitor = row
    excessive = [why for (attr, why), on in zip(POSTGRES_PRIVILEGED_ATTRIBUTES.items(), flags, strict=True) if on]
    if not flags[0]:  # a superuser is a member of every role; listing them all would bury the one line that matters
        excessive += [f"is a member of {name} ({POSTGRES_PRIVILEGED_ROLES.get(name, 'privileged')})" for name in roles]
    notes = () if has_monitor or flags[0] else ("is not a member of pg_monitor (slot and WAL figures need it)",)
    return Identity("postgres", str(session_user), str(current_user), tuple(excessive), notes)


def snowflake_identity(user: str, role: str | None, owned: list[str] | None = None) -> Identity:
    """Judge a Snowflake session from CURRENT_USER() / CURRENT_ROLE() and the monitored objects its role owns."""
    current = (role or "").upper()
    excessive = [f"uses the admin role {current}"] if current in SNOWFLAKE_ADMIN_ROLES else []
    excessive += [f"its role {current} owns {name} (ownership allows DROP and ALTER)" for name in owned or []]
    return Identity("snowflake", user, current or "(none)", tuple(excessive))


def postgres_grants_fix(database: str, tables: list[str] | None = None) -> str:
    """The statements to give Sentinel its own least-privilege role instead (deploy/grants/postgres.sql)."""
    listed = ", ".join(tables) if tables else "<schema>.<table>, ..."
    return (
        f"create a monitoring role instead (deploy/grants/postgres.sql), as an admin in {database}:\n"
        f"    CREATE ROLE {MONITOR_ROLE} LOGIN PASSWORD '...' NOSUPERUSER NOREPLICATION NOBYPASSRLS NOCREATEROLE;\n"
        f"    GRANT pg_monitor TO {MONITOR_ROLE};\n"
        f"    GRANT CONNECT ON DATABASE {database} TO {MONITOR_ROLE};\n"
        f"    GRANT USAGE ON SCHEMA <schema> TO {MONITOR_ROLE};\n"
        f"    GRANT SELECT ON {listed} TO {MONITOR_ROLE};\n"
        f"  and put its DSN in SENTINEL_POSTGRES_DSN, or mark the connection `allow_privileged: true` under "
        f"`connections:` in alert_rules.yaml if you accept the risk"
    )


def snowflake_grants_fix() -> str:
    return (
        "use a role of its own instead (deploy/grants/snowflake.sql):\n"
        "    CREATE ROLE SENTINEL_MONITOR;\n"
        "    GRANT USAGE ON WAREHOUSE <wh> TO ROLE SENTINEL_MONITOR;\n"
        "    GRANT USAGE ON DATABASE <db> TO ROLE SENTINEL_MONITOR;\n"
        "    GRANT USAGE ON SCHEMA <db>.<schema> TO ROLE SENTINEL_MONITOR;\n"
        "    GRANT SELECT ON ALL TABLES IN SCHEMA <db>.<schema> TO ROLE SENTINEL_MONITOR;\n"
        "    GRANT MONITOR ON PIPE <db>.<schema>.<pipe> TO ROLE SENTINEL_MONITOR;\n"
        "    GRANT ROLE SENTINEL_MONITOR TO USER <sentinel user>;\n"
        "  and set SENTINEL_SNOWFLAKE_ROLE=SENTINEL_MONITOR, or mark `connections: snowflake: allow_privileged: true`"
    )
