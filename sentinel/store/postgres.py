"""The shared store for two replicas: PostgreSQL, same tables and protocol as the SQLite store.

Chosen when SENTINEL_STATE_DSN is set. `PostgresEngine` is only the connection; every query and the migrations
are SqlStateStore's, rendered in the POSTGRES dialect (sentinel/store/sql.py).

One connection guarded by a lock, autocommit outside `transaction()`. A broken connection (database restart,
failover) is replaced on the next call; the call that saw it fails with StoreError and is retried by its caller
(the scheduler logs it, the outbox keeps unsent messages). Every statement runs under a statement_timeout.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from sentinel.errors import StoreError
from sentinel.store.sql import POSTGRES, Dialect, Params, Statement, Tx
from sentinel.store.sql_store import SqlStateStore

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger(__name__)

STATEMENT_TIMEOUT_MS = 15_000

# libpq keepalives: a dead peer is noticed within ~20 s instead of the kernel's two hours.
CONNECT_KWARGS: dict[str, Any] = {
    "connect_timeout": 5,
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 3,
    "tcp_user_timeout": 10_000,
    "application_name": "sentinel",
}


def _redacted(dsn: str) -> str:
    """host:port/db of a DSN, never the password."""
    try:
        from psycopg.conninfo import conninfo_to_dict

        info = conninfo_to_dict(dsn)
        return f"{info.get('host', '?')}:{info.get('port', 5432)}/{info.get('dbname', '?')}"
    except Exception:
        return "<dsn>"


class PostgresEngine:
    dialect: Dialect = POSTGRES

    def __init__(self, dsn: str, *, statement_timeout_ms: int = STATEMENT_TIMEOUT_MS) -> None:
        self._dsn = dsn
        self.where = _redacted(dsn)
        self._statement_timeout_ms = statement_timeout_ms
        self._lock = threading.RLock()
        self._conn: psycopg.Connection[Any] | None = None
        self._closed = False
        self._connection()

    def _connection(self) -> psycopg.Connection[Any]:
        import psycopg

        if self._closed:
            raise StoreError(f"state store {self.where} is closed")
        if self._conn is not None and not self._conn.closed and not self._conn.broken:
            return self._conn
        if self._conn is not None:
            log.warning("state store connection to %s was lost; reconnecting", self.where)
        try:
            self._conn = psycopg.connect(
                self._dsn, autocommit=True, **CONNECT_KWARGS,
                options=f"-c statement_timeout={self._statement_timeout_ms} -c lock_timeout=10000",
            )
        except psycopg.Error as exc:
            self._conn = None
            raise StoreError(f"cannot connect to the state store {self.where}: {type(exc).__name__}"
                             " (check SENTINEL_STATE_DSN and that the database is reachable)") from None
        return self._conn

    @staticmethod
    def _tx(conn: psycopg.Connection[Any]) -> Tx:
        def execute(text: str, params: tuple[Any, ...] | None) -> psycopg.Cursor[Any]:
            return conn.execute(text, params)

        def executemany(text: str, rows: list[tuple[Any, ...]]) -> None:
            conn.cursor().executemany(text, rows)

        return Tx(POSTGRES, execute, executemany)

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        import psycopg

        with self._lock:
            conn = self._connection()
            try:
                with conn.transaction():
                    yield self._tx(conn)
            except psycopg.OperationalError as exc:
                raise StoreError(f"state store {self.where}: {type(exc).__name__}: {_first_line(exc)}") from None

    def query(self, stmt: Statement, params: Params | None = None) -> list[tuple[Any, ...]]:
        import psycopg

        with self._lock:
            conn = self._connection()
            try:
                return list(self._tx(conn).execute(stmt, params).fetchall())
            except psycopg.OperationalError as exc:
                raise StoreError(f"state store {self.where}: {type(exc).__name__}: {_first_line(exc)}") from None

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._conn is not None:
                self._conn.close()


class PostgresStateStore(SqlStateStore):
    def __init__(self, dsn: str, *, statement_timeout_ms: int = STATEMENT_TIMEOUT_MS) -> None:
        engine = PostgresEngine(dsn, statement_timeout_ms=statement_timeout_ms)
        self.path = engine.where
        super().__init__(engine)


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
