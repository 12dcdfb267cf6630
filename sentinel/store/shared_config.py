"""The config the replicas share (mixed into SqliteStateStore; meaningful with the PostgreSQL store): the last
valid alert_rules.yaml any replica loaded, with a version that grows by one per publication.

One row. A replica publishes the file it loaded (at start, on SIGHUP or /-/reload) when it differs from the row;
every replica adopts a newer version (sentinel.config_sync)."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sentinel.store.sqlite_alerts import parse_ts, ts


@dataclass(frozen=True)
class SharedConfig:
    version: int
    hash: str
    text: str
    published_by: str
    published_at: datetime


class SharedConfigMixin:
    """Needs `transaction()` and `query(sql, params)` from the store class."""

    def transaction(self) -> AbstractContextManager[Any]:  # provided by the store class
        raise NotImplementedError

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def shared_config(self) -> SharedConfig | None:
        rows = self.query("SELECT version, hash, text, published_by, published_at FROM config_state WHERE id = 1")
        if not rows:
            return None
        version, digest, text, by, at = rows[0]
        return SharedConfig(int(version), str(digest), str(text), str(by), parse_ts(str(at)))

    def shared_config_publish(self, digest: str, text: str, by: str, at: datetime) -> int:
        """Record a config as the one the replicas run; returns its version (unchanged if it is already current)."""
        with self.transaction() as tx:
            tx.execute(
                "INSERT INTO config_state (id, version, hash, text, published_by, published_at)"
                " VALUES (1, 1, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET version = config_state.version + 1,"
                " hash = excluded.hash, text = excluded.text, published_by = excluded.published_by,"
                " published_at = excluded.published_at WHERE config_state.hash <> excluded.hash",
                (digest, text, by, ts(at)))
            row = tx.execute("SELECT version FROM config_state WHERE id = 1").fetchone()
        return int(row[0])
