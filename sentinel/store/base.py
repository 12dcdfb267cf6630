"""The StateStore protocol. SqlStateStore (sentinel/store/sql_store.py) implements it once for both engines:
SqliteStateStore (embedded, default) and PostgresStateStore (two replicas) only choose the connection."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from sentinel.model import CheckResult


class StateStore(Protocol):
    def save_result(self, result: CheckResult) -> None: ...

    def latest_results(self, as_of: datetime | None = None) -> dict[str, CheckResult]:
        """The newest result of every check, by check id; with `as_of`, the newest at or before that moment."""
        ...

    def results_between(self, check_id: str, start: datetime, end: datetime) -> list[CheckResult]: ...

    def recent_results(self, check_id: str, limit: int) -> list[CheckResult]:
        """Newest first."""
        ...

    def memory_load(self, check_id: str, key: str) -> Any | None: ...

    def memory_save(self, check_id: str, key: str, value: Any, at: datetime) -> None: ...

    def prune_results(self, older_than: datetime) -> int: ...

    def schema_version(self) -> int: ...

    def close(self) -> None: ...


class StoreMemory:
    """CheckMemory for one check, backed by a StateStore."""

    def __init__(self, store: StateStore, check_id: str, clock: Any) -> None:
        self._store = store
        self._check_id = check_id
        self._clock = clock

    def load(self, key: str) -> Any | None:
        return self._store.memory_load(self._check_id, key)

    def save(self, key: str, value: Any) -> None:
        self._store.memory_save(self._check_id, key, value, self._clock.now())

    def load_from(self, check_id: str, key: str) -> Any | None:
        return self._store.memory_load(check_id, key)

