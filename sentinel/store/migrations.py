"""Ordered schema migrations. Append only: never edit a shipped migration, add the next version.

Each entry is (version, description, sql). SQL stays portable (SQLite and PostgreSQL): TEXT timestamps in
ISO-8601 UTC (they sort correctly as text), INTEGER/REAL numbers, no engine-specific types.
"""

from __future__ import annotations

import logging
from contextlib import suppress

from sentinel.errors import StoreError
from sentinel.store.sql import Engine, sql

log = logging.getLogger(__name__)

MIGRATIONS: list[tuple[int, str, str]] = [
    (
        1,
        "check results history and per-check memory",
        """
        CREATE TABLE check_results (
            check_id    TEXT NOT NULL,
            observed_at TEXT NOT NULL,
            status      TEXT NOT NULL,
            payload     TEXT NOT NULL
        );
        CREATE INDEX check_results_by_check_time ON check_results (check_id, observed_at);
        CREATE TABLE check_memory (
            check_id   TEXT NOT NULL,
            key        TEXT NOT NULL,
            value      TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (check_id, key)
        );
        """,
    ),
    (
        2,
        "alerting: alert states, group buffer, threads, outbox, deliveries, receiver refs, silences",
        """
        CREATE TABLE alert_state (
            fingerprint TEXT PRIMARY KEY,
            rule_id     TEXT NOT NULL,
            check_id    TEXT NOT NULL,
            phase       TEXT NOT NULL,
            severity    TEXT NOT NULL,
            updated_at  TEXT NOT NULL,
            payload     TEXT NOT NULL
        );
        CREATE INDEX alert_state_by_phase ON alert_state (phase);
        CREATE INDEX alert_state_by_check ON alert_state (check_id);
        CREATE TABLE alert_pending (
            seq         INTEGER PRIMARY KEY,
            route       TEXT NOT NULL,
            group_key   TEXT NOT NULL,
            fingerprint TEXT NOT NULL,
            event       TEXT NOT NULL,
            event_at    TEXT NOT NULL,
            payload     TEXT NOT NULL
        );
        CREATE INDEX alert_pending_by_group ON alert_pending (route, group_key);
        CREATE TABLE alert_groups (
            route           TEXT NOT NULL,
            group_key       TEXT NOT NULL,
            last_flushed_at TEXT NOT NULL,
            PRIMARY KEY (route, group_key)
        );
        CREATE TABLE alert_threads (
            route       TEXT NOT NULL,
            fingerprint TEXT NOT NULL,
            thread_key  TEXT NOT NULL,
            created_at  TEXT NOT NULL,
            PRIMARY KEY (route, fingerprint)
        );
        CREATE INDEX alert_threads_by_thread ON alert_threads (route, thread_key);
        CREATE INDEX alert_threads_by_fingerprint ON alert_threads (fingerprint);
        CREATE TABLE outbox (
            seq             INTEGER PRIMARY KEY,
            receiver        TEXT NOT NULL,
            message_key     TEXT NOT NULL,
            dedup_id        TEXT NOT NULL UNIQUE,
            event           TEXT NOT NULL,
            created_at      TEXT NOT NULL,
            next_attempt_at TEXT NOT NULL,
            attempts        INTEGER NOT NULL,
            status          TEXT NOT NULL,
            last_error      TEXT NOT NULL,
            payload         TEXT NOT NULL
        );
        CREATE INDEX outbox_by_status ON outbox (status, receiver, seq);
        CREATE TABLE deliveries (
            outbox_seq  INTEGER NOT NULL,
            receiver    TEXT NOT NULL,
            message_key TEXT NOT NULL,
            event       TEXT NOT NULL,
            status      TEXT NOT NULL,
            attempt     INTEGER NOT NULL,
            at          TEXT NOT NULL,
            latency_ms  REAL NOT NULL,
            error       TEXT NOT NULL,
            remote_ref  TEXT
        );
        CREATE INDEX deliveries_by_time ON deliveries (at);
        CREATE TABLE receiver_refs (
            receiver    TEXT NOT NULL,
            message_key TEXT NOT NULL,
            ref         TEXT NOT NULL,
            updated_at  TEXT NOT NULL,
            PRIMARY KEY (receiver, message_key)
        );
        CREATE TABLE silences (
            id          TEXT PRIMARY KEY,
            matchers    TEXT NOT NULL,
            starts_at   TEXT NOT NULL,
            ends_at     TEXT NOT NULL,
            created_by  TEXT NOT NULL,
            comment     TEXT NOT NULL,
            created_at  TEXT NOT NULL,
            expired_at  TEXT
        );
        CREATE INDEX silences_by_end ON silences (ends_at);
        """,
    ),
    (
        3,
        "SLA ledger: observations per SLA, weekly report send log",
        """
        CREATE TABLE sla_observations (
            sla_id      TEXT NOT NULL,
            observed_at TEXT NOT NULL,
            state       TEXT NOT NULL,
            value       REAL,
            check_id    TEXT NOT NULL,
            summary     TEXT NOT NULL
        );
        CREATE INDEX sla_observations_by_sla_time ON sla_observations (sla_id, observed_at);
        CREATE TABLE sla_reports (
            week        TEXT PRIMARY KEY,
            status      TEXT NOT NULL,
            claimed_at  TEXT NOT NULL,
            sent_at     TEXT,
            recipients  TEXT NOT NULL,
            detail      TEXT NOT NULL
        );
        """,
    ),
    (
        4,
        "replicas: leader lease with epoch, outbox claims by epoch, the config the replicas run",
        # DOUBLE PRECISION: seconds since 1970 need more digits than PostgreSQL's 4-byte REAL keeps (~2 min steps)
        """
        CREATE TABLE leader_lease (
            id           INTEGER PRIMARY KEY,
            epoch        INTEGER NOT NULL,
            holder       TEXT NOT NULL,
            holder_pid   INTEGER NOT NULL,
            renewed_at_s DOUBLE PRECISION NOT NULL,
            expires_at_s DOUBLE PRECISION NOT NULL
        );
        ALTER TABLE outbox ADD COLUMN claim_epoch INTEGER;
        ALTER TABLE outbox ADD COLUMN claimed_at_s DOUBLE PRECISION;
        CREATE TABLE config_state (
            id           INTEGER PRIMARY KEY,
            version      INTEGER NOT NULL,
            hash         TEXT NOT NULL,
            text         TEXT NOT NULL,
            published_by TEXT NOT NULL,
            published_at TEXT NOT NULL
        );
        """,
    ),
]


NEWEST = max(v for v, _, _ in MIGRATIONS)
_CURRENT = sql("SELECT COALESCE(MAX(version), 0) FROM schema_version")
_RECORD = sql("INSERT INTO schema_version (version, description) VALUES (:version, :description)")


def _already_current(engine: Engine) -> bool:
    with suppress(StoreError):  # no schema_version table yet: a new store
        return int(engine.query(_CURRENT)[0][0]) == NEWEST
    return False


def migrate(engine: Engine) -> None:
    """Bring the store to the newest schema in one transaction; refuse a store from a newer Sentinel."""
    dialect = engine.dialect
    # A store already at the newest schema is only read here (where the dialect allows it): a `check --once`
    # beside a daemon holding SQLite's write lock still runs its checks and shows what it measured.
    if dialect.reads_version_first and _already_current(engine):
        return
    with engine.transaction() as tx:
        if dialect.migration_lock is not None:
            tx.execute(dialect.migration_lock)  # a second replica waits here, then finds the schema current
        tx.ddl(dialect.version_table_ddl)
        current = int(tx.execute(_CURRENT).fetchone()[0])
        if current > NEWEST:
            raise StoreError(
                f"state store {engine.where} has schema version {current}, newer than this Sentinel knows ({NEWEST}):"
                f" run the newer Sentinel or {dialect.fresh_store_hint}"
            )
        for version, description, text in sorted(MIGRATIONS):
            if version <= current:
                continue
            for statement in (s.strip() for s in text.split(";")):
                if statement:
                    tx.ddl(statement)
            tx.execute(_RECORD, {"version": version, "description": description})
            log.info("state store %s migrated to v%d (%s)", engine.where, version, description)
