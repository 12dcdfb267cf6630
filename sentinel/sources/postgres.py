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

from sentinel.errors import SourceError

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
    def __init__(self, name: str, dsn: SecretStr) -> None:
        self.name = name
        self._dsn = dsn
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
    def connect(self, timeout: timedelta, *, read_only: bool = True) -> Iterator[psycopg.Connection[Any]]:
        """A session whose every statement is cut at `timeout`; read-only unless asked otherwise."""
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

    def fetch_all(self, query: Query, params: Params, timeout: timedelta) -> list[tuple[Any, ...]]:
        with self.connect(timeout) as conn:
            return list(conn.execute(query, params).fetchall())

    def fetch_one(self, query: Query, params: Params, timeout: timedelta) -> tuple[Any, ...] | None:
        with self.connect(timeout) as conn:
            row = conn.execute(query, params).fetchone()
            return tuple(row) if row is not None else None
