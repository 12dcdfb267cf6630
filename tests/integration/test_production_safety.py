"""Issue 17 on a real PostgreSQL: the three statements that damaged a production-like database are refused by
`sentinel validate` (file:line) and at run time, even on a superuser connection marked allow_privileged, and the
database is unchanged: the Debezium slot is still there at the same position, the other session is alive, no file
was written. Privileged identities are refused with the GRANTs to use instead (exit 4)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pydantic import SecretStr
from sentinel_checks.sql_threshold import SqlThresholdCheck, SqlThresholdParams

from devstack.postgres import PostgresService
from sentinel.api import DictMemory, Status
from sentinel.clock import SystemClock
from sentinel.config.checks_spec import CheckSpec
from sentinel.config.connections_spec import ConnectionPolicySpec, ConnectionsSpec
from sentinel.config.settings import Settings
from sentinel.model import CheckResult
from sentinel.redact import Redactor
from sentinel.runner import CheckRunner, PlannedCheck
from sentinel.sources import Sources

pytestmark = pytest.mark.integration

SENTINEL = str(Path(sys.executable).parent / "sentinel")
SLOT = "debezium_novapay"
DB = "prod_safety"


def destructive(marker: Path) -> dict[str, str]:
    """The statements from issue 17, each of which did damage through a read-only transaction."""
    return {
        "drop_slot": f"SELECT count(pg_drop_replication_slot(slot_name)) FROM pg_replication_slots "
                     f"WHERE slot_name='{SLOT}'",
        "shell": f"COPY (SELECT 1) TO PROGRAM 'touch {marker}'",
        "kill_session": "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE application_name = 'victim'",
    }


@pytest.fixture(scope="module")
def db(postgres: PostgresService) -> Iterator[dict[str, Any]]:
    dsn = postgres.create_database(DB)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS payouts (id int)")
        if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = 'payments_app'").fetchone():
            conn.execute("CREATE ROLE payments_app LOGIN PASSWORD 'app-pw'")
        conn.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %s",
                     (SLOT,))
        conn.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (SLOT,))
    # a directory the server (running as `postgres`) could write to: a COPY TO PROGRAM that ran would leave a file
    shared = Path(tempfile.mkdtemp(prefix="sentinel-safety-"))
    shared.chmod(0o777)
    yield {"admin": dsn, "app": postgres.dsn(DB, user="payments_app", password="app-pw"),
           "monitor": postgres.monitor_dsn(DB, ["public.payouts"]), "marker": shared / "pwned"}
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %s",
                     (SLOT,))


@pytest.fixture
def victim(db: dict[str, Any]) -> Iterator[psycopg.Connection[Any]]:
    """The payments service's session (its own non-superuser role), which pg_terminate_backend would kill."""
    conn = psycopg.connect(db["app"], autocommit=True, application_name="victim")
    yield conn
    conn.close()


def slot_state(dsn: str) -> tuple[Any, ...] | None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute("SELECT slot_name, restart_lsn, confirmed_flush_lsn FROM pg_replication_slots "
                            "WHERE slot_name = %s", (SLOT,)).fetchone()


def run_unvalidated(sources: Sources, query: str) -> CheckResult:
    """Run sql_threshold with params that skipped validation, as if the config check were bypassed: what stops
    the statement now is the run-time guard alone."""
    params = SqlThresholdParams.model_construct(query=query, parameters={}, connection="default", value_name="value",
                                                op=">", warning=1.0, critical=None, no_row_value=None)
    spec = CheckSpec(id="careless", kind="sql_threshold", timeout=timedelta(seconds=10))
    runner = CheckRunner(sources, lambda _: DictMemory(), SystemClock(), Redactor.from_settings(sources.settings))
    return runner.run_one(PlannedCheck(spec, SqlThresholdCheck(params), "sql-threshold"))


def superuser_allowed(db: dict[str, Any]) -> Sources:
    return Sources(Settings(postgres_dsn=SecretStr(db["admin"])),
                   ConnectionsSpec(postgres={"default": ConnectionPolicySpec(allow_privileged=True)}))


def sentinel(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SENTINEL, *args], env=env, capture_output=True, text=True, timeout=60, check=False)


def cli_env(tmp_path: Path, dsn: str, config: str) -> dict[str, str]:
    (tmp_path / "alert_rules.yaml").write_text(config)
    return {**os.environ, "SENTINEL_CONFIG_FILE": str(tmp_path / "alert_rules.yaml"),
            "SENTINEL_STATE_PATH": str(tmp_path / "state.db"), "SENTINEL_POSTGRES_DSN": dsn,
            "SENTINEL_SECRETS_DIR": str(tmp_path / "none")}


def one_check(query: str, extra: str = "") -> str:
    return (f"checks:\n  - id: careless\n    kind: sql_threshold\n"
            f"    params:\n      query: \"{query}\"\n      warning: 1\n{extra}")


def test_validate_refuses_each_destructive_statement_with_its_line(db: dict[str, Any], tmp_path: Path) -> None:
    statements = destructive(db["marker"])
    checks = "".join(f"  - id: {name}\n    kind: sql_threshold\n    params:\n      warning: 1\n      query: \"{sql}\"\n"
                     for name, sql in statements.items())
    env = cli_env(tmp_path, db["monitor"], "version: 1\nchecks:\n" + checks)
    proc = sentinel(env, "validate")
    assert proc.returncode == 4, proc.stdout
    path = tmp_path / "alert_rules.yaml"
    # each check is five lines: its query is on line 7, 12 and 17 of the file
    assert f"{path}:7 at checks[0].params.query: check 'drop_slot': refused: pg_drop_replication_slot() drops a " \
           "replication slot" in proc.stderr
    assert f"{path}:12 at checks[1].params.query: check 'shell': only a SELECT or WITH ... SELECT is allowed, " \
           "got COPY" in proc.stderr
    assert f"{path}:17 at checks[2].params.query: check 'kill_session': refused: pg_terminate_backend() kills " \
           "another session" in proc.stderr


def test_at_run_time_they_are_refused_even_as_an_allowed_superuser(
        db: dict[str, Any], victim: psycopg.Connection[Any]) -> None:
    before = slot_state(db["admin"])
    assert before is not None
    sources = superuser_allowed(db)
    for name, sql in destructive(db["marker"]).items():
        result = run_unvalidated(sources, sql)
        assert result.status is Status.ERROR, (name, result.summary)
        assert "not run" in result.summary
    assert slot_state(db["admin"]) == before  # the slot is there, at the same position
    assert victim.execute("SELECT 1").fetchone() == (1,)  # the other session was not killed
    assert not db["marker"].exists()  # no shell command ran
    # the same superuser connection does run a harmless query: the refusal was the statement, not the connection
    assert run_unvalidated(sources, "SELECT count(*) FROM payouts").status is Status.OK


def test_the_copy_would_have_run_a_shell_had_it_reached_the_server(db: dict[str, Any]) -> None:
    """The control for the test above: without Sentinel the same COPY does write the file as `postgres`."""
    control = db["marker"].with_name("control")
    with psycopg.connect(db["admin"], autocommit=True) as conn:
        conn.execute(f"COPY (SELECT 1) TO PROGRAM 'touch {control}'")
    assert control.exists()
    control.unlink()


def test_a_superuser_dsn_is_refused_with_the_grants_and_exit_4(db: dict[str, Any], tmp_path: Path) -> None:
    env = cli_env(tmp_path, db["admin"], one_check("SELECT count(*) FROM payouts"))
    proc = sentinel(env, "check", "--once", "--no-notify")
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert "refusing PostgreSQL connection 'default' (127.0.0.1:" in proc.stderr
    assert "postgres user postgres is a superuser (SUPERUSER)" in proc.stderr
    assert "GRANT pg_monitor TO sentinel_monitor;" in proc.stderr
    assert f"GRANT CONNECT ON DATABASE {DB} TO sentinel_monitor;" in proc.stderr
    assert "allow_privileged: true" in proc.stderr
    assert "sentinel-test-pw" not in proc.stdout + proc.stderr  # the password in the DSN is never printed


def test_allow_privileged_runs_but_warns_at_start_and_in_status(db: dict[str, Any], tmp_path: Path) -> None:
    extra = "connections:\n  postgres:\n    default: {allow_privileged: true, reason: legacy RDS user until INC-9}\n"
    env = cli_env(tmp_path, db["admin"], one_check("SELECT count(*) FROM payouts", extra))
    proc = sentinel(env, "check", "--once", "--no-notify")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "connection postgres default is allowed to be privileged" in proc.stderr
    assert "(legacy RDS user until INC-9)" in proc.stderr
    status = sentinel(env, "status")
    assert "WARNING: connection postgres default runs with privileges beyond monitoring" in status.stdout


@pytest.mark.parametrize(("grant", "reason"), [
    ("ALTER ROLE {role} REPLICATION", "can create and drop replication slots (REPLICATION)"),
    ("GRANT pg_signal_backend TO {role}", "is a member of pg_signal_backend (can cancel and terminate other sessions)"),
    ("GRANT pg_execute_server_program TO {role}", "is a member of pg_execute_server_program"),
    ("ALTER ROLE {role} BYPASSRLS", "bypasses row-level security (BYPASSRLS)"),
])
def test_a_role_with_one_dangerous_privilege_is_refused(db: dict[str, Any], postgres: PostgresService,
                                                        grant: str, reason: str) -> None:
    role = "sentinel_too_strong"
    with psycopg.connect(db["admin"], autocommit=True) as conn:
        conn.execute(f"DROP ROLE IF EXISTS {role}")
        conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'strong-pw' IN ROLE pg_monitor")
        conn.execute(grant.format(role=role))
    try:
        dsn = postgres.dsn(DB, user=role, password="strong-pw")
        result = run_unvalidated(Sources(Settings(postgres_dsn=SecretStr(dsn))), "SELECT 1")
        assert result.status is Status.ERROR
        assert result.details["error_kind"] == "privileged_connection"
        assert reason in result.summary
        assert "GRANT pg_monitor TO sentinel_monitor;" in result.details["fix"]
    finally:
        with psycopg.connect(db["admin"], autocommit=True) as conn:
            conn.execute(f"DROP ROLE IF EXISTS {role}")


def test_the_shipped_monitor_role_is_accepted_and_cannot_do_damage(db: dict[str, Any],
                                                                   victim: psycopg.Connection[Any]) -> None:
    sources = Sources(Settings(postgres_dsn=SecretStr(db["monitor"])))
    identity = sources.postgres().identity(timedelta(seconds=5))
    assert (identity.user, identity.excessive, identity.notes) == ("sentinel_monitor", (), ())
    before = slot_state(db["admin"])
    # even if the parser missed a statement, the role itself cannot drop the slot or kill the session
    with psycopg.connect(db["monitor"], autocommit=True) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(f"SELECT pg_drop_replication_slot('{SLOT}')")
    with psycopg.connect(db["monitor"], autocommit=True) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'victim'")
    assert slot_state(db["admin"]) == before
    assert victim.execute("SELECT 1").fetchone() == (1,)


def test_a_credential_in_query_output_reaches_no_output_and_not_the_state_db(db: dict[str, Any],
                                                                            tmp_path: Path) -> None:
    """A query whose text output is a DSN (a careless `SELECT conninfo ...`) fails as 'not a number' and quotes
    the value: the password in it is masked in the table, the JSON, the logs and the stored result."""
    leaked = "leaked-pw-7f3a9"
    # built in SQL: written as one literal, `validate` would already refuse it as a secret in the config
    query = f"SELECT 'postgresql://replicator:' || '{leaked}' || '@primary:5432/novapay'"
    env = cli_env(tmp_path, db["monitor"], one_check(query))
    table = sentinel(env, "-vv", "check", "--once", "--no-notify")
    as_json = sentinel(env, "check", "--once", "--no-notify", "--format", "json")
    assert table.returncode == 3 and "not a number" in table.stdout
    assert "postgresql://replicator:[redacted]@primary" in table.stdout
    for out in (table.stdout, table.stderr, as_json.stdout, as_json.stderr):
        assert leaked not in out
    assert "sentinel-monitor-test-pw" not in table.stderr  # the configured DSN's password, even at -vv
    assert leaked.encode() not in (tmp_path / "state.db").read_bytes()


def test_the_daemon_refuses_to_start_on_a_superuser_dsn(db: dict[str, Any], tmp_path: Path) -> None:
    env = cli_env(tmp_path, db["admin"], one_check("SELECT count(*) FROM payouts"))
    proc = subprocess.run([SENTINEL, "run", "--http-port", "0", "--http-host", "127.0.0.1"], env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 4, proc.stderr
    assert "refusing PostgreSQL connection 'default'" in proc.stderr
    assert f"GRANT CONNECT ON DATABASE {DB} TO sentinel_monitor;" in proc.stderr
    assert "sentinel-test-pw" not in proc.stderr
