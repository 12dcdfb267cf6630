"""SnowflakeSource session handling with a stand-in connector raising the connector's real exception types."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import SecretStr
from snowflake.connector import errors as sf_errors

from sentinel.errors import PrivilegedConnectionError, SourceError
from sentinel.sources.snowflake import IDENTITY_SQL, OWNED_SQL, SnowflakeConnectionSettings, SnowflakeSource

PASSWORD = "s3cr3t-Snowflake-pw"


class FakeCursor:
    def __init__(self, conn: FakeConn) -> None:
        self.conn = conn
        self.description: list[tuple[str, ...]] = [("N",)]
        self.rows: list[tuple[Any, ...]] = []

    def execute(self, sql: str, params: Any = None, timeout: int | None = None) -> None:
        if sql == IDENTITY_SQL:  # asked once per new session, before the check's statements
            self.conn.identity_asked += 1
            self.rows = [("SENTINEL_SVC", self.conn.role)]
            return
        if sql == OWNED_SQL:
            self.conn.owned_asked += 1
            self.rows = [(name,) for name in self.conn.owned]
            return
        self.rows = [(1,)]
        self.conn.executed.append((sql, timeout))
        if self.conn.fail_with is not None:
            exc, self.conn.fail_with = self.conn.fail_with, None
            raise exc

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self.rows

    def close(self) -> None:
        pass


class FakeConn:
    def __init__(self, fail_with: Exception | None, role: str = "SENTINEL_MONITOR", owned: tuple[str, ...] = ()) -> None:
        self.fail_with = fail_with
        self.role = role
        self.owned = owned
        self.owned_asked = 0
        self.identity_asked = 0
        self.executed: list[tuple[str, int | None]] = []
        self.closed = False

    def cursor(self) -> FakeCursor:
        return FakeCursor(self)

    def close(self) -> None:
        self.closed = True


def source(connector: Any, *, allow_privileged: bool = False, **settings: Any) -> SnowflakeSource:
    return SnowflakeSource(SnowflakeConnectionSettings(account="acme-eu1", user="SENTINEL_SVC",
                                                       password=SecretStr(PASSWORD), statement_timeout=30, **settings),
                           connector=connector, allow_privileged=allow_privileged)


def expired() -> sf_errors.ProgrammingError:
    return sf_errors.ProgrammingError(msg="Authentication token has expired.  The user must authenticate again.",
                                      errno=390114, sqlstate="08001")


def test_expired_session_reconnects_once_and_reruns_the_statement() -> None:
    conns: list[FakeConn] = []

    def connect(**kwargs: Any) -> FakeConn:
        conns.append(FakeConn(expired() if not conns else None))
        return conns[-1]

    src = source(connect)
    assert src.query("SELECT 1 AS N", timeout=12.2) == [{"N": 1}]
    assert len(conns) == 2  # logged in again exactly once
    assert conns[1].executed == [("SELECT 1 AS N", 13)]  # per-statement timeout, rounded up


def test_expired_twice_is_an_error_not_a_loop() -> None:
    calls = []

    def connect(**kwargs: Any) -> FakeConn:
        calls.append(1)
        return FakeConn(expired())

    with pytest.raises(SourceError, match="expired"):
        source(connect).query("SELECT 1")
    assert len(calls) == 2


def test_login_failure_has_a_hint_and_no_secret() -> None:
    def connect(**kwargs: Any) -> FakeConn:
        assert kwargs["password"] == PASSWORD  # the real value reaches the driver...
        assert kwargs["login_timeout"] == 20 and kwargs["network_timeout"] == 60
        assert kwargs["session_parameters"]["STATEMENT_TIMEOUT_IN_SECONDS"] == 30
        raise sf_errors.DatabaseError(msg=f"Failed to connect to DB. Incorrect username or password was specified. {PASSWORD}",
                                      errno=390100, sqlstate="08001")

    with pytest.raises(SourceError) as info:
        source(connect).query("SELECT 1")
    text = str(info.value)
    assert PASSWORD not in text  # ...but never the message
    assert "Snowflake login as 'SENTINEL_SVC' to acme-eu1.snowflakecomputing.com failed" in text
    assert "check SENTINEL_SNOWFLAKE_USER and the password secret" in info.value.hint


def test_other_query_errors_are_source_errors_with_a_hint() -> None:
    def connect(**kwargs: Any) -> FakeConn:
        return FakeConn(sf_errors.ProgrammingError(msg="Object 'X' does not exist or not authorized.", errno=2003))

    with pytest.raises(SourceError) as info:
        source(connect).query("SELECT 1")
    assert "does not exist" in str(info.value) and "USAGE/SELECT" in info.value.hint


@pytest.mark.parametrize("role", ["ACCOUNTADMIN", "SECURITYADMIN", "SYSADMIN", "ORGADMIN"])
def test_an_admin_role_is_refused_with_the_grants(role: str) -> None:
    conns: list[FakeConn] = []

    def connect(**kwargs: Any) -> FakeConn:
        conns.append(FakeConn(None, role=role))
        return conns[-1]

    with pytest.raises(PrivilegedConnectionError) as info:
        source(connect).query("SELECT 1")
    assert f"snowflake user SENTINEL_SVC (role {role}) uses the admin role {role}" in str(info.value)
    assert "GRANT MONITOR ON PIPE" in info.value.hint and "SENTINEL_SNOWFLAKE_ROLE" in info.value.hint
    assert conns[0].executed == [] and conns[0].closed  # nothing ran, the session was closed


def test_an_admin_role_marked_allow_privileged_runs() -> None:
    conn = FakeConn(None, role="SYSADMIN")
    assert source(lambda **kw: conn, allow_privileged=True).query("SELECT 1 AS N") == [{"N": 1}]
    assert conn.identity_asked == 0


def test_a_monitor_role_is_asked_once_per_session() -> None:
    conn = FakeConn(None)
    src = source(lambda **kw: conn)
    src.query("SELECT 1 AS N")
    src.query("SELECT 1 AS N")
    assert conn.identity_asked == 1


def test_a_role_that_owns_watched_tables_is_refused_even_if_it_is_not_an_admin_role() -> None:
    conn = FakeConn(None, role="NOVAPAY_LOADER", owned=("RAW.TRANSACTIONS", "RAW.REFUNDS"))
    with pytest.raises(PrivilegedConnectionError) as info:
        source(lambda **kw: conn, database="NOVAPAY").query("SELECT 1")
    text = str(info.value)
    assert "its role NOVAPAY_LOADER owns NOVAPAY.RAW.TRANSACTIONS (ownership allows DROP and ALTER)" in text
    assert "NOVAPAY.RAW.REFUNDS" in text and "SENTINEL_SNOWFLAKE_ROLE" in info.value.hint
    assert conn.executed == [] and conn.closed


def test_a_role_that_owns_nothing_runs_and_ownership_is_asked_once_per_session() -> None:
    conn = FakeConn(None, role="SENTINEL_MONITOR")
    src = source(lambda **kw: conn, database="NOVAPAY")
    src.query("SELECT 1 AS N")
    src.query("SELECT 1 AS N")
    assert conn.owned_asked == 1


def test_without_a_database_ownership_is_not_guessed() -> None:
    conn = FakeConn(None, role="SENTINEL_MONITOR", owned=("RAW.TRANSACTIONS",))
    source(lambda **kw: conn).query("SELECT 1 AS N")
    assert conn.owned_asked == 0
