"""PostgreSQL thin client: read-only sessions with connect and statement timeouts, bound parameters only."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import psycopg
from psycopg import sql
from pydantic import SecretStr

from sentinel.errors import PrivilegedConnectionError, SourceError
from sentinel.privileges import Identity, postgres_grants_fix, postgres_identity

Query = str | sql.SQL | sql.Composed
Params = Sequence[Any] | dict[str, Any] | None


def _describe(dsn: str) -> str:
    """host:port/db of a DSN with no user or password, for messages."""
    try:
        parts = urlsplit(dsn)
        if parts.scheme.startswith("postgres"):
            return f"{parts.hostname}:{parts.port or 5432}{parts.path}"
    except ValueError:
        pass
    info = psycopg.conninfo.conninfo_to_dict(dsn)
    return f"{info.get('host', 'localhost')}:{info.get('port', 5432)}/{info.get('dbname', '')}"


class PostgresSource:
    def __init__(self, name: str, dsn: SecretStr, *, allow_privileged: bool = False) -> None:
        self.name = name
        self._dsn = dsn
        self.allow_privileged = allow_privileged
        try:
            self.where = _describe(dsn.get_secret_value())
        except Exception:
            self.where = "(unparseable DSN)"

    def __repr__(self) -> str:
        return f"PostgresSource({self.name!r}, {self.where})"

    def _scrub(self, text: str) -> str:
        secret = self._dsn.get_secret_value()
        with contextlib.suppress(Exception):
            pw = psycopg.conninfo.conninfo_to_dict(secret).get("password")
            if pw:
                text = text.replace(str(pw), "***")
        return text.replace(secret, "***")

    @contextlib.contextmanager
    def connect(self, timeout: timedelta, *, read_only: bool = True, verify: bool = True,
                ) -> Iterator[psycopg.Connection[Any]]:
        """A read-only session whose every statement is cut at `timeout`, refused when its identity is privileged
        (unless allow_privileged; `verify=False` only for asking who it is)."""
        seconds = max(1, int(timeout.total_seconds()))
        try:
            conn = psycopg.connect(
                self._dsn.get_secret_value(),
                connect_timeout=min(seconds, 10),
                autocommit=True,
                options=f"-c statement_timeout={seconds * 1000} -c lock_timeout={min(seconds, 5) * 1000}"
                f" -c idle_in_transaction_session_timeout={seconds * 1000}"
                + (" -c default_transaction_read_only=on" if read_only else ""),
                application_name="sentinel",
            )
        except psycopg.OperationalError as exc:
            raise SourceError(
                f"cannot connect to PostgreSQL {self.name!r} at {self.where}: {self._scrub(str(exc)).strip()}",
                hint="check the host resolves and accepts connections, and the credentials in SENTINEL_POSTGRES_DSN",
            ) from None
        try:
            if verify:
                self._refuse_if_privileged(conn)
            yield conn
        except psycopg.errors.QueryCanceled:
            raise SourceError(
                f"query on PostgreSQL {self.name!r} ({self.where}) exceeded its {seconds}s statement_timeout",
                hint="the database is slow or locked; raise the check timeout only if the query is known to be heavy",
            ) from None
        except psycopg.Error as exc:
            raise SourceError(f"PostgreSQL {self.name!r} ({self.where}): {self._scrub(str(exc)).strip()}") from None
        finally:
            conn.close()

    def identity(self, timeout: timedelta) -> Identity:
        """Who this connection logs in as and what it may do beyond monitoring (checked on every connect)."""
        with self.connect(timeout, verify=False) as conn:
            return postgres_identity(conn)

    def _refuse_if_privileged(self, conn: psycopg.Connection[Any]) -> None:
        # Checked on every session, not once: a role can be granted more while the daemon runs.
        identity = postgres_identity(conn)
        if identity.privileged and not self.allow_privileged:
            dbname = str(conn.info.dbname)
            raise PrivilegedConnectionError(
                f"refusing PostgreSQL connection {self.name!r} ({self.where}): {identity.describe()} "
                + "; ".join(identity.excessive),
                hint=postgres_grants_fix(dbname),
            )

    def fetch_all(self, query: Query, params: Params, timeout: timedelta) -> list[tuple[Any, ...]]:
        with self.connect(timeout) as conn:
            return list(conn.execute(query, params).fetchall())

    def fetch_one(self, query: Query, params: Params, timeout: timedelta) -> tuple[Any, ...] | None:
        with self.connect(timeout) as conn:
            row = conn.execute(query, params).fetchone()
            return tuple(row) if row is not None else None

    def fetch_user_query(self, query: str, params: Params, timeout: timedelta) -> tuple[Any, ...] | None:
        """First row of a statement written by a user (config), refused before connecting unless it is one
        side-effect-free SELECT: config validation checks it too, this is the run-time guard."""
        from sentinel.readonly_sql import UnsafeSqlError, check_read_only

        try:
            check_read_only(query, "postgres")
        except UnsafeSqlError as exc:
            raise SourceError(f"query for PostgreSQL {self.name!r} not run: {exc}",
                              hint="write one SELECT without side-effect functions") from None
        return self.fetch_one(query, params, timeout)
