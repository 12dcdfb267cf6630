"""The shared store for two replicas: PostgreSQL, same tables and protocol as the SQLite store.

Chosen when SENTINEL_STATE_DSN is set. Every query of the SQLite store (results, memory, alerting tables) is
portable SQL with `?` placeholders; this store runs the same statements through psycopg (placeholders become
`%s`), so both engines share one implementation and one list of migrations (sentinel/store/migrations.py).

One connection guarded by a lock, autocommit outside `transaction()`. A broken connection (database restart,
failover) is replaced on the next call; the call that saw it fails with StoreError and is retried by its caller
(the scheduler logs it, the outbox keeps unsent messages). Every statement runs under a statement_timeout.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sentinel.errors import StoreError
from sentinel.store.sqlite import SqliteStateStore

log = logging.getLogger(__name__)

MIGRATION_LOCK_KEY = 0x5E471E01  # pg_advisory_xact_lock key: two replicas starting together migrate one at a time
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


def pg_sql(sql: str, params: Sequence[Any] | None) -> tuple[str, tuple[Any, ...] | None]:
    """`?` placeholders (the portable form used by the store queries) -> psycopg's `%s`. Without parameters
    psycopg does not parse the text, so a literal `%` stays as it is."""
    if not params:
        return sql, None
    return sql.replace("%", "%%").replace("?", "%s"), tuple(params)


class PgTx:
    """The slice of the sqlite3 connection API the store queries use (execute, executemany), on psycopg."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._conn.execute(*pg_sql(sql, params))

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> Any:
        cur = self._conn.cursor()
        cur.executemany(sql.replace("%", "%%").replace("?", "%s"), [tuple(r) for r in rows])
        return cur


def _redacted(dsn: str) -> str:
    """host:port/db of a DSN, never the password."""
    try:
        from psycopg.conninfo import conninfo_to_dict

        info = conninfo_to_dict(dsn)
        return f"{info.get('host', '?')}:{info.get('port', 5432)}/{info.get('dbname', '?')}"
    except Exception:
        return "<dsn>"


class PostgresStateStore(SqliteStateStore):
    """Reuses every query method of SqliteStateStore (they only call `transaction()` and `query()`)."""

    def __init__(self, dsn: str, *, statement_timeout_ms: int = STATEMENT_TIMEOUT_MS) -> None:
        self._dsn = dsn
        self.path = _redacted(dsn)
        self._statement_timeout_ms = statement_timeout_ms
        self._lock = threading.RLock()
        self._conn: Any = None
        self._closed = False
        self._connection()
        self._migrate()

    # -- plumbing ---------------------------------------------------------------------------------
    def _connection(self) -> Any:
        import psycopg

        if self._closed:
            raise StoreError(f"state store {self.path} is closed")
        if self._conn is not None and not self._conn.closed and not self._conn.broken:
            return self._conn
        if self._conn is not None:
            log.warning("state store connection to %s was lost; reconnecting", self.path)
        try:
            self._conn = psycopg.connect(
                self._dsn, autocommit=True, **CONNECT_KWARGS,
                options=f"-c statement_timeout={self._statement_timeout_ms} -c lock_timeout=10000",
            )
        except psycopg.Error as exc:
            self._conn = None
            raise StoreError(f"cannot connect to the state store {self.path}: {type(exc).__name__}"
                             " (check SENTINEL_STATE_DSN and that the database is reachable)") from None
        return self._conn

    @contextmanager
    def transaction(self) -> Iterator[PgTx]:  # type: ignore[override]
        import psycopg

        with self._lock:
            conn = self._connection()
            try:
                with conn.transaction():
                    yield PgTx(conn)
            except psycopg.OperationalError as exc:
                raise StoreError(f"state store {self.path}: {type(exc).__name__}: {_first_line(exc)}") from None

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        import psycopg

        with self._lock:
            conn = self._connection()
            try:
                return list(conn.execute(*pg_sql(sql, params)).fetchall())
            except psycopg.OperationalError as exc:
                raise StoreError(f"state store {self.path}: {type(exc).__name__}: {_first_line(exc)}") from None

    VERSION_TABLE_DDL = (
        "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, description TEXT NOT NULL,"
        " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
    )
    FRESH_STORE_HINT = "point SENTINEL_STATE_DSN at a fresh database"

    def _already_current(self, newest: int) -> bool:
        return False  # replicas serialise on the advisory lock inside the migration transaction instead

    def _before_migrating(self, tx: Any) -> None:
        # Two replicas starting together: the second waits here, then finds the schema current.
        tx.execute("SELECT pg_advisory_xact_lock(?)", (MIGRATION_LOCK_KEY,))

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._conn is not None:
                self._conn.close()


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
