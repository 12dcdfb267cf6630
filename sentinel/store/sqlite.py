"""The embedded default store: one SQLite file in WAL mode, safe across threads, migrated on open.

`SqliteEngine` is the connection (pragmas, the write lock, errors in words); every query is SqlStateStore's."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from sentinel.store.sql import SQLITE, Dialect, Params, Statement, Tx
from sentinel.store.sql_store import SqlStateStore
from sentinel.store.sqlite_errors import BUSY_TIMEOUT_SECONDS, explain


class SqliteEngine:
    """One connection shared by the daemon's threads behind a lock; autocommit outside `transaction()`."""

    dialect: Dialect = SQLITE

    def __init__(self, path: Path | str) -> None:
        self.where = str(path)
        if self.where != ":memory:":
            Path(self.where).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = sqlite3.connect(self.where, check_same_thread=False, timeout=BUSY_TIMEOUT_SECONDS,
                                         isolation_level=None)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_SECONDS * 1000}")
        except sqlite3.Error as exc:
            raise explain(self.where, exc, opening=True) from None
        self._lock = threading.RLock()
        self._tx = Tx(SQLITE, self._execute, self._executemany)

    def _execute(self, text: str, params: tuple[Any, ...] | None) -> sqlite3.Cursor:
        return self._conn.execute(text, params or ())

    def _executemany(self, text: str, rows: list[tuple[Any, ...]]) -> None:
        self._conn.executemany(text, rows)

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        """BEGIN IMMEDIATE: the write lock is taken at the start, so a busy file fails here, not halfway through.
        A locked, full or corrupt file raises StoreError naming the file and the way out."""
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise explain(self.where, exc) from None
            try:
                yield self._tx
                self._conn.execute("COMMIT")
            except BaseException as exc:
                with suppress(sqlite3.Error):  # SQLite may already have rolled back (a full disk does)
                    self._conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise explain(self.where, exc) from None
                raise

    def query(self, stmt: Statement, params: Params | None = None) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return list(self._tx.execute(stmt, params).fetchall())
            except sqlite3.Error as exc:
                raise explain(self.where, exc) from None

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class SqliteStateStore(SqlStateStore):
    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        super().__init__(SqliteEngine(path))
