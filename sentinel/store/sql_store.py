"""The state store, written once for both engines: check results and per-check memory here, the alerting, SLA
and shared-config tables in their own modules. `SqliteStateStore` and `PostgresStateStore` only choose the engine."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sentinel.model import CheckResult
from sentinel.store.alert_tables import AlertTables
from sentinel.store.migrations import migrate
from sentinel.store.shared_config import SharedConfigTables
from sentinel.store.sla_tables import SlaTables
from sentinel.store.sql import Engine, sql, ts

_SAVE_RESULT = sql("INSERT INTO check_results (check_id, observed_at, status, payload)"
                   " VALUES (:check_id, :observed_at, :status, :payload)")
_LATEST = ("SELECT r.payload FROM check_results r JOIN (SELECT check_id, MAX(observed_at) AS at FROM check_results"
           "{where} GROUP BY check_id) m ON r.check_id = m.check_id AND r.observed_at = m.at")
_LATEST_NOW = sql(_LATEST.format(where=""))
_LATEST_AS_OF = sql(_LATEST.format(where=" WHERE observed_at <= :as_of"))
_BETWEEN = sql("SELECT payload FROM check_results WHERE check_id = :check_id AND observed_at >= :start"
               " AND observed_at < :end ORDER BY observed_at")
_RECENT = sql("SELECT payload FROM check_results WHERE check_id = :check_id ORDER BY observed_at DESC LIMIT :limit")
_PRUNE = sql("DELETE FROM check_results WHERE observed_at < :before")
_MEMORY_LOAD = sql("SELECT value FROM check_memory WHERE check_id = :check_id AND key = :key")
_MEMORY_SAVE = sql(
    "INSERT INTO check_memory (check_id, key, value, updated_at) VALUES (:check_id, :key, :value, :updated_at)"
    " ON CONFLICT (check_id, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at")
_SCHEMA_VERSION = sql("SELECT COALESCE(MAX(version), 0) FROM schema_version")


def _result(payload: str) -> CheckResult:
    return CheckResult.from_json(json.loads(payload))


class SqlStateStore(AlertTables, SlaTables, SharedConfigTables):
    """StateStore + AlertStore + SlaStore on any Engine; migrated to the newest schema on open."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        migrate(engine)

    def schema_version(self) -> int:
        return int(self._query(_SCHEMA_VERSION)[0][0])

    def close(self) -> None:
        self._engine.close()

    # -- results ----------------------------------------------------------------------------------
    def save_result(self, result: CheckResult) -> None:
        with self._tx(None) as tx:
            tx.execute(_SAVE_RESULT, {"check_id": result.check_id, "observed_at": ts(result.observed_at),
                                      "status": result.status.value, "payload": json.dumps(result.to_json())})

    def latest_results(self, as_of: datetime | None = None) -> dict[str, CheckResult]:
        """The newest result per check, or the newest at or before `as_of` (a look back at an incident)."""
        rows = self._query(_LATEST_NOW) if as_of is None else self._query(_LATEST_AS_OF, {"as_of": ts(as_of)})
        out: dict[str, CheckResult] = {}
        for (payload,) in rows:
            result = _result(payload)
            out[result.check_id] = result
        return out

    def results_between(self, check_id: str, start: datetime, end: datetime) -> list[CheckResult]:
        rows = self._query(_BETWEEN, {"check_id": check_id, "start": ts(start), "end": ts(end)})
        return [_result(p) for (p,) in rows]

    def recent_results(self, check_id: str, limit: int) -> list[CheckResult]:
        return [_result(p) for (p,) in self._query(_RECENT, {"check_id": check_id, "limit": limit})]

    def prune_results(self, older_than: datetime) -> int:
        with self._tx(None) as tx:
            return int(tx.execute(_PRUNE, {"before": ts(older_than)}).rowcount)

    # -- per-check memory -------------------------------------------------------------------------
    def memory_load(self, check_id: str, key: str) -> Any | None:
        rows = self._query(_MEMORY_LOAD, {"check_id": check_id, "key": key})
        return json.loads(rows[0][0]) if rows else None

    def memory_save(self, check_id: str, key: str, value: Any, at: datetime) -> None:
        with self._tx(None) as tx:
            tx.execute(_MEMORY_SAVE, {"check_id": check_id, "key": key, "value": json.dumps(value),
                                      "updated_at": ts(at)})
