"""Ordered schema migrations. Append only: never edit a shipped migration, add the next version.

Each entry is (version, description, sql). SQL stays portable (SQLite and PostgreSQL): TEXT timestamps in
ISO-8601 UTC (they sort correctly as text), INTEGER/REAL numbers, no engine-specific types.
"""

from __future__ import annotations

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
