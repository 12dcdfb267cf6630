"""Thin Snowflake client: one lazily opened session, a deadline on every statement, one reconnect on expiry.

- login_timeout / network_timeout bound the login and every HTTP round trip; each statement also gets the
  connector's per-statement `timeout` (the client cancels it) and STATEMENT_TIMEOUT_IN_SECONDS on the session
  (the server cancels it), whichever is shorter.
- A session whose token expired (390114, or 390112 "session expired") is reopened once and the statement re-run.
- Login failures become SourceError with a hint and without the password, key passphrase or token in the text.
- Config identifiers are bound through IDENTIFIER(%(name)s); values are bound parameters.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from sentinel.errors import PrivilegedConnectionError, SourceError
from sentinel.privileges import Identity, snowflake_grants_fix, snowflake_identity

if TYPE_CHECKING:
    from sentinel.sources.snowflake_pipes import PipeCatalog
    from sentinel.sources.snowpipe import SnowpipeQueries

# Snowflake GS error codes that mean "log in again".
SESSION_EXPIRED_CODES = frozenset({390112, 390114})
# 390100 wrong user/password, 390101 user disabled, 390102 user locked, 390144 bad JWT (key pair), 390190 bad OAuth
_LOGIN_HINTS = {
    390100: "Snowflake rejected the user name or password: check SENTINEL_SNOWFLAKE_USER and the password secret",
    390101: "the Snowflake user is disabled: ask the Snowflake admins to re-enable the service user",
    390102: "the Snowflake user is locked after failed logins: ask the admins to unlock it (ALTER USER ... UNSET "
    "MINS_TO_UNLOCK) and fix the secret first",
    390144: "Snowflake rejected the key-pair JWT: check the public key registered on the user matches "
    "SENTINEL_SNOWFLAKE_PRIVATE_KEY_FILE",
}
_COULD_NOT_CONNECT = 250001  # the connector's "Could not connect to Snowflake backend after N attempt(s)"
_DEFAULT_LOGIN_HINT = (
    "check SENTINEL_SNOWFLAKE_ACCOUNT / USER and the password or key secret, and that the account URL is reachable"
)

Connector = Callable[..., Any]


IDENTITY_SQL = "SELECT CURRENT_USER(), CURRENT_ROLE()"
# INFORMATION_SCHEMA.TABLES lists TABLE_OWNER (the owning role) for tables and views the session can see.
OWNED_SQL = ("SELECT TABLE_SCHEMA || '.' || TABLE_NAME FROM INFORMATION_SCHEMA.TABLES "
             "WHERE TABLE_OWNER = CURRENT_ROLE() AND TABLE_SCHEMA <> 'INFORMATION_SCHEMA' ORDER BY 1 LIMIT 20")


@dataclass(frozen=True)
class SnowflakeConnectionSettings:
    """Who logs in where, and how long each step may take. A password or a key file (optionally with its
    passphrase) authenticates; host/port/protocol override the account URL (a local stand-in in tests)."""

    account: str
    user: str
    password: SecretStr | None = None
    private_key_file: Path | None = None
    private_key_passphrase: SecretStr | None = None
    role: str | None = None
    warehouse: str | None = None
    database: str | None = None
    schema: str | None = None
    host: str | None = None
    port: int | None = None
    protocol: str = "https"
    login_timeout: float = 20.0
    network_timeout: float = 60.0
    statement_timeout: float = 60.0
    query_tag: str = "sentinel"

    @property
    def where(self) -> str:
        """host[:port] for messages (never a secret)."""
        return f"{self.host or self.account + '.snowflakecomputing.com'}" + (f":{self.port}" if self.port else "")

    def connect_kwargs(self) -> dict[str, Any]:
        """The connector's keyword arguments without the secrets (those are added at connect time only)."""
        plain: dict[str, Any] = {
            "account": self.account,
            "user": self.user,
            "role": self.role,
            "warehouse": self.warehouse,
            "database": self.database,
            "schema": self.schema,
            "host": self.host,
            "port": self.port,
            "protocol": self.protocol,
            "login_timeout": max(1, math.ceil(self.login_timeout)),
            "network_timeout": max(1, math.ceil(self.network_timeout)),
            "application": "sentinel",
            "session_parameters": {
                "STATEMENT_TIMEOUT_IN_SECONDS": max(1, math.ceil(self.statement_timeout)),
                "CLIENT_OUT_OF_BAND_TELEMETRY_ENABLED": False,
                "QUERY_TAG": self.query_tag,
            },
        }
        return {k: v for k, v in plain.items() if v is not None}


@dataclass(frozen=True)
class SnowpipeRelations:
    """Where the Snowpipe queries read COPY_HISTORY, SYSTEM$PIPE_STATUS and SHOW PIPES from; None = Snowflake's own.
    Tests point them at tables of the real column names (fakesnow has none of the three)."""

    copy_history: str | None = None
    pipe_status: str | None = None
    show_pipes: str | None = None


class SnowflakeSource:
    def __init__(
        self,
        settings: SnowflakeConnectionSettings,
        *,
        relations: SnowpipeRelations = SnowpipeRelations(),  # frozen: one shared default is safe
        connector: Connector | None = None,
        allow_privileged: bool = False,
    ) -> None:
        self.settings = settings
        self.account = settings.account
        self.user = settings.user
        self.database = settings.database
        self.where = settings.where
        self.statement_timeout = settings.statement_timeout
        self.copy_history_relation = relations.copy_history
        self.pipe_status_relation = relations.pipe_status
        self.show_pipes_relation = relations.show_pipes
        self._secrets = [s.get_secret_value() for s in (settings.password, settings.private_key_passphrase)
                         if s is not None]
        self._connector = connector
        self._conn: Any = None
        self.allow_privileged = allow_privileged

    def __repr__(self) -> str:
        return f"SnowflakeSource({self.user}@{self.where})"

    # --- session -------------------------------------------------------------------------------------------

    def _connect(self) -> Any:
        from snowflake.connector import errors as sf_errors

        connector = self._connector
        if connector is None:
            import snowflake.connector

            connector = snowflake.connector.connect
        settings = self.settings
        kwargs = settings.connect_kwargs()
        if settings.password is not None:
            kwargs["password"] = settings.password.get_secret_value()
        if settings.private_key_file is not None:
            kwargs["private_key_file"] = str(settings.private_key_file)
            if settings.private_key_passphrase is not None:
                kwargs["private_key_file_pwd"] = settings.private_key_passphrase.get_secret_value()
        try:
            return connector(**kwargs)
        except sf_errors.Error as exc:
            code = _gs_code(exc)
            unreachable = self._why_unreachable() if getattr(exc, "errno", None) == _COULD_NOT_CONNECT else None
            if unreachable:  # a dead server is not a credentials problem: say which network failure it is
                raise SourceError(f"Snowflake login as {self.user!r} to {self.where} failed: {unreachable}",
                                  hint="check that the account URL is reachable from Sentinel (DNS, network "
                                  "policy, proxy) and Snowflake's status page") from None
            raise SourceError(
                f"Snowflake login as {self.user!r} to {self.where} failed: {self._scrub(_message(exc))}",
                hint=_LOGIN_HINTS.get(code, _DEFAULT_LOGIN_HINT),
            ) from None
        except Exception as exc:  # the connector raises plain OSErrors for some network failures
            raise SourceError(
                f"Snowflake login as {self.user!r} to {self.where} failed: {type(exc).__name__}: {self._scrub(str(exc))}",
                hint=_DEFAULT_LOGIN_HINT,
            ) from None

    def _why_unreachable(self) -> str | None:
        from sentinel.sources.reach import probe

        server = self.where if ":" in self.where else f"{self.where}:443"
        reachable, why = probe(server)
        return None if reachable else why

    def _session(self) -> Any:
        if self._conn is None:
            conn = self._connect()
            try:
                self._refuse_if_privileged(conn)
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    def identity(self) -> Identity:
        """CURRENT_USER() / CURRENT_ROLE() of a new session, judged against the admin roles."""
        conn = self._connect()
        try:
            return self._identity(conn)
        finally:
            conn.close()

    def _identity(self, conn: Any) -> Identity:
        rows = self._ask(conn, IDENTITY_SQL)
        row: tuple[Any, ...] = tuple(rows[0]) if rows else ()
        user, role = (*row, None, None)[:2]
        # A role that owns tables in the database it watches can DROP and ALTER them, admin role or not. Only the
        # session's database is looked at: that is where the checks read.
        owned = [f"{self.database}.{r[0]}" for r in self._ask(conn, OWNED_SQL)] if self.database else []
        return snowflake_identity(str(user or self.user), str(role) if role else None, owned)

    def _ask(self, conn: Any, statement: str) -> list[tuple[Any, ...]]:
        cur = conn.cursor()
        try:
            cur.execute(statement, None, timeout=max(1, math.ceil(self.statement_timeout)))
            return [tuple(r) for r in cur.fetchall()]
        finally:
            cur.close()

    def _refuse_if_privileged(self, conn: Any) -> None:
        # Each new session: the role is the session's (a default role can change between logins).
        # The connector's errors propagate: query() treats them like its own statement's (reconnect on expiry).
        if self.allow_privileged:
            return
        identity = self._identity(conn)
        if identity.privileged:
            raise PrivilegedConnectionError(
                f"refusing Snowflake connection to {self.where}: {identity.describe()} " + "; ".join(identity.excessive),
                hint=snowflake_grants_fix(),
            )

    def close(self) -> None:
        if self._conn is not None:
            # closing an expired session may fail; there is nothing to do about it
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None

    def __enter__(self) -> SnowflakeSource:
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    # --- queries -------------------------------------------------------------------------------------------

    def snowpipe(self) -> SnowpipeQueries:
        """COPY_HISTORY / SYSTEM$PIPE_STATUS queries on this session (see sentinel.sources.snowpipe for the seam)."""
        from sentinel.sources.snowpipe import SnowpipeQueries

        return SnowpipeQueries(self, copy_history_relation=self.copy_history_relation,
                               pipe_status_relation=self.pipe_status_relation)

    def pipe_catalog(self) -> PipeCatalog:
        """SHOW PIPES / SHOW STAGES on this session (see sentinel.sources.snowflake_pipes for the seam)."""
        from sentinel.sources.snowflake_pipes import PipeCatalog

        return PipeCatalog(self, show_pipes_relation=self.show_pipes_relation)

    def query(self, sql: str, params: Mapping[str, Any] | None = None, *, timeout: float | None = None) -> list[dict[str, Any]]:
        """Run one statement; rows as dicts keyed by UPPER-case column name. Reconnects once on session expiry."""
        from snowflake.connector import errors as sf_errors

        seconds = max(1, math.ceil(min(timeout or self.statement_timeout, self.statement_timeout)))
        for attempt in (1, 2):
            try:
                conn = self._session()
                cur = conn.cursor()
                try:
                    cur.execute(sql, dict(params) if params else None, timeout=seconds)
                    names = [str(d[0]).upper() for d in (cur.description or [])]
                    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
                finally:
                    cur.close()
            except sf_errors.Error as exc:
                code = _gs_code(exc)
                if code in SESSION_EXPIRED_CODES and attempt == 1:
                    # The session token expired (long-lived daemon): log in again once and re-run.
                    self._conn = None
                    continue
                if code == 604 or "cancel" in _message(exc).lower():
                    raise SourceError(
                        f"Snowflake statement on {self.where} exceeded its {seconds}s timeout and was cancelled",
                        hint="the warehouse may be suspended or queued; check WAREHOUSE_LOAD_HISTORY, raise the check timeout",
                    ) from None
                raise SourceError(
                    f"Snowflake query on {self.where} failed: {self._scrub(_message(exc))}",
                    hint=_query_hint(code),
                ) from None
        raise SourceError(f"Snowflake session on {self.where} expired twice in a row", hint=_DEFAULT_LOGIN_HINT)

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            if secret:
                text = text.replace(secret, "***")
        return text


def _gs_code(exc: BaseException) -> int:
    errno = getattr(exc, "errno", None)
    try:
        return int(errno) if errno is not None else -1
    except (TypeError, ValueError):
        return -1


def _message(exc: BaseException) -> str:
    msg = getattr(exc, "raw_msg", None) or getattr(exc, "msg", None) or str(exc)
    code = _gs_code(exc)
    return f"{msg} (code {code})" if code > 0 else str(msg)


def _query_hint(code: int) -> str:
    if code == 2003:
        return "the object does not exist or the Sentinel role lacks USAGE/SELECT (or MONITOR on the pipe) on it"
    if code == 1003:
        return "SQL syntax error: check the table/column names in the check params"
    return "see the Snowflake query history for this statement (QUERY_TAG = 'sentinel')"
