"""The embedded default store: one SQLite file in WAL mode, safe across threads, migrated on open."""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import datetime
from pathlib import Path
from typing import Any

from sentinel.errors import StoreError
from sentinel.model import CheckResult
from sentinel.store.migrations import MIGRATIONS
from sentinel.store.shared_config import SharedConfigMixin
from sentinel.store.sqlite_alerts import SqliteAlertsMixin
from sentinel.store.sqlite_errors import BUSY_TIMEOUT_SECONDS, explain
from sentinel.store.sqlite_sla import SqliteSlaMixin

log = logging.getLogger(__name__)

class SqliteStateStore(SqliteAlertsMixin, SqliteSlaMixin, SharedConfigMixin):
    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = sqlite3.connect(self.path, check_same_thread=False, timeout=BUSY_TIMEOUT_SECONDS,
                                         isolation_level=None)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_SECONDS * 1000}")
        except sqlite3.Error as exc:
            raise explain(self.path, exc, opening=True) from None
        self._lock = threading.RLock()
        self._migrate()

    # -- plumbing ---------------------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; other modules (alerting, SLA) use it for their tables too. A locked, full or corrupt
        file raises StoreError naming the file and the way out."""
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise explain(self.path, exc) from None
            try:
                yield self._conn
                self._conn.execute("COMMIT")
            except BaseException as exc:
                with suppress(sqlite3.Error):  # SQLite may already have rolled back (a full disk does)
                    self._conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise explain(self.path, exc) from None
                raise

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return list(self._conn.execute(sql, params).fetchall())
            except sqlite3.Error as exc:
                raise explain(self.path, exc) from None

    # The PostgreSQL store overrides these three and inherits the migration procedure itself.
    VERSION_TABLE_DDL = (
        "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, description TEXT NOT NULL,"
        " applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)"
    )
    FRESH_STORE_HINT = "point SENTINEL_STATE_PATH at a fresh file"

    def _before_migrating(self, tx: Any) -> None:
        """Hook run first inside the migration transaction (PostgreSQL serialises replicas here)."""

    def _already_current(self, newest: int) -> bool:
        with suppress(StoreError):  # no schema_version table yet: a new file
            return int(self.query("SELECT COALESCE(MAX(version), 0) FROM schema_version")[0][0]) == newest
        return False

    def _migrate(self) -> None:
        # A store already at the newest schema is only read here: a `check --once` beside a daemon holding the
        # write lock still runs its checks and shows what it measured.
        if self._already_current(max(v for v, _, _ in MIGRATIONS)):
            return
        with self.transaction() as tx:
            self._before_migrating(tx)
            tx.execute(self.VERSION_TABLE_DDL)
            current = int(tx.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()[0])
            newest = max(v for v, _, _ in MIGRATIONS)
            if current > newest:
                raise StoreError(
                    f"state store {self.path} has schema version {current}, newer than this Sentinel knows ({newest}):"
                    f" run the newer Sentinel or {self.FRESH_STORE_HINT}"
                )
            for version, description, sql in sorted(MIGRATIONS):
                if version <= current:
                    continue
                for statement in (s.strip() for s in sql.split(";")):
                    if statement:
                        tx.execute(statement)
                tx.execute("INSERT INTO schema_version (version, description) VALUES (?, ?)", (version, description))
                log.info("state store %s migrated to v%d (%s)", self.path, version, description)

    def schema_version(self) -> int:
        return int(self.query("SELECT COALESCE(MAX(version), 0) FROM schema_version")[0][0])

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # -- results ----------------------------------------------------------------------------------
    def save_result(self, result: CheckResult) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO check_results (check_id, observed_at, status, payload) VALUES (?, ?, ?, ?)",
                (result.check_id, _ts(result.observed_at), result.status.value, json.dumps(result.to_json())),
            )

    def latest_results(self, as_of: datetime | None = None) -> dict[str, CheckResult]:
        """The newest result per check, or the newest at or before `as_of` (a look back at an incident)."""
        where, params = ("", ()) if as_of is None else (" WHERE observed_at <= ?", (_ts(as_of),))
        rows = self.query(
            "SELECT r.payload FROM check_results r JOIN (SELECT check_id, MAX(observed_at) AS at FROM check_results"
            f"{where} GROUP BY check_id) m ON r.check_id = m.check_id AND r.observed_at = m.at",
            params,
        )
        out: dict[str, CheckResult] = {}
        for (payload,) in rows:
            result = CheckResult.from_json(json.loads(payload))
            out[result.check_id] = result
        return out

    def results_between(self, check_id: str, start: datetime, end: datetime) -> list[CheckResult]:
        rows = self.query(
            "SELECT payload FROM check_results WHERE check_id = ? AND observed_at >= ? AND observed_at < ?"
            " ORDER BY observed_at",
            (check_id, _ts(start), _ts(end)),
        )
        return [CheckResult.from_json(json.loads(p)) for (p,) in rows]

    def recent_results(self, check_id: str, limit: int) -> list[CheckResult]:
        rows = self.query(
            "SELECT payload FROM check_results WHERE check_id = ? ORDER BY observed_at DESC LIMIT ?", (check_id, limit)
        )
        return [CheckResult.from_json(json.loads(p)) for (p,) in rows]

    def prune_results(self, older_than: datetime) -> int:
        with self.transaction() as conn:
            return conn.execute("DELETE FROM check_results WHERE observed_at < ?", (_ts(older_than),)).rowcount

    # -- per-check memory -------------------------------------------------------------------------
    def memory_load(self, check_id: str, key: str) -> Any | None:
        rows = self.query("SELECT value FROM check_memory WHERE check_id = ? AND key = ?", (check_id, key))
        return json.loads(rows[0][0]) if rows else None

    def memory_save(self, check_id: str, key: str, value: Any, at: datetime) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO check_memory (check_id, key, value, updated_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (check_id, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                (check_id, key, json.dumps(value), _ts(at)),
            )


def _ts(value: datetime) -> str:
    """Fixed-width UTC text so string order is time order."""
    from datetime import UTC

    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
