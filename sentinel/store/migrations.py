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
]
