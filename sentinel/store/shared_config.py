"""The config the replicas share (a table group of SqlStateStore; meaningful with the PostgreSQL store): the last
valid alert_rules.yaml any replica loaded, with a version that grows by one per publication.

One row. A replica publishes the file it loaded (at start, on SIGHUP or /-/reload) when it differs from the row;
every replica adopts a newer version (sentinel.config_sync)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sentinel.store.sql import StoreTables, parse_ts, sql, ts


@dataclass(frozen=True)
class SharedConfig:
    version: int
    hash: str
    text: str
    published_by: str
    published_at: datetime


_READ = sql("SELECT version, hash, text, published_by, published_at FROM config_state WHERE id = 1")
_VERSION = sql("SELECT version FROM config_state WHERE id = 1")
_PUBLISH = sql(
    "INSERT INTO config_state (id, version, hash, text, published_by, published_at)"
    " VALUES (1, 1, :hash, :text, :published_by, :published_at) ON CONFLICT (id) DO UPDATE SET"
    " version = config_state.version + 1, hash = excluded.hash, text = excluded.text,"
    " published_by = excluded.published_by, published_at = excluded.published_at"
    " WHERE config_state.hash <> excluded.hash")


class SharedConfigTables(StoreTables):
    def shared_config(self) -> SharedConfig | None:
        rows = self._query(_READ)
        if not rows:
            return None
        version, digest, text, by, at = rows[0]
        return SharedConfig(int(version), str(digest), str(text), str(by), parse_ts(str(at)))

    def shared_config_publish(self, digest: str, text: str, by: str, at: datetime) -> int:
        """Record a config as the one the replicas run; returns its version (unchanged if it is already current)."""
        with self._tx(None) as tx:
            tx.execute(_PUBLISH, {"hash": digest, "text": text, "published_by": by, "published_at": ts(at)})
            row = tx.execute(_VERSION).fetchone()
        return int(row[0])

