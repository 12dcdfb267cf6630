"""postgres_replication_slot against the real PostgreSQL (wal_level=logical): a Debezium-style logical slot that
is consumed (active, OK), then left inactive while writes grow its retained WAL: warning, then critical."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from pydantic import SecretStr
from sentinel_checks.postgres_replication_slot import PostgresReplicationSlotCheck, PostgresReplicationSlotParams

from devstack.postgres import PostgresService
from sentinel.api import Status
from sentinel.config.settings import Settings
from tests.integration.kafka_util import Harness

pytestmark = pytest.mark.integration

SLOT = "debezium_payments_test"


@pytest.fixture(scope="module")
def slot_db(postgres: PostgresService) -> Iterator[str]:
    dsn = postgres.create_database("slot_check")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS transactions (id bigserial PRIMARY KEY, payload text)")
        if not conn.execute("SELECT 1 FROM pg_publication WHERE pubname = 'dbz_publication'").fetchone():
            conn.execute("CREATE PUBLICATION dbz_publication FOR TABLE transactions")
        conn.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %s",
                     (SLOT,))
        conn.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (SLOT,))
    yield dsn
    # an abandoned slot would pin WAL for every later test on this cluster
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %s",
                     (SLOT,))


@pytest.fixture(scope="module")
def monitor_dsn(postgres: PostgresService, slot_db: str) -> str:
    """The check connects as deploy/grants/postgres.sql's role: pg_monitor is enough to read slots and WAL."""
    return postgres.monitor_dsn("slot_check", ["public.transactions"])


def write_wal(dsn: str, megabytes: int) -> None:
    """Insert rows until the server has written at least `megabytes` of new WAL."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        start = conn.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
        while True:
            conn.execute("INSERT INTO transactions (payload) SELECT repeat(md5(g::text), 30) "
                         "FROM generate_series(1, 2000) g")
            done = conn.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s::pg_lsn)", (start,)).fetchone()[0]
            if done >= megabytes * 1_000_000:
                return


def slot_check(**params: Any) -> PostgresReplicationSlotCheck:
    return PostgresReplicationSlotCheck(PostgresReplicationSlotParams(**params))


def test_inactive_slot_with_growing_wal_warns_then_pages(slot_db: str, monitor_dsn: str) -> None:
    h = Harness(slot_check(slots=[SLOT], retained_warn="4MB", retained_critical="40MB", inactive_warn_after="30m",
                           flush_lag_warn="1GB"),
                Settings(postgres_dsn=SecretStr(monitor_dsn)), labels={"stage": "debezium", "table": "payments.transactions"})
    write_wal(slot_db, 6)
    warn = h.run()
    [f] = warn.findings
    assert warn.status is Status.WARN, f.summary
    assert f.values["active"] == 0.0 and f.values["retained_wal_bytes"] > 4e6
    assert f.summary.startswith(f"slot {SLOT} INACTIVE, retaining ")
    assert "(retained WAL > 4.0 MB)" in f.summary
    h.advance(35 * 60)
    write_wal(slot_db, 45)
    crit = h.run()
    [g] = crit.findings
    assert crit.status is Status.CRITICAL
    assert g.values["retained_wal_bytes"] > 40e6 and g.values["inactive_seconds"] == 35 * 60
    assert f"slot {SLOT} INACTIVE for at least 35m" in g.summary
    assert "retained WAL > 40.0 MB" in g.summary and "inactive >= 30m" in g.summary
    assert crit.labels["stage"] == "debezium"


def test_active_slot_is_ok_and_a_missing_slot_pages(postgres: PostgresService, slot_db: str, monitor_dsn: str) -> None:
    recv = subprocess.Popen(
        [str(postgres.bin_dir / "pg_recvlogical"), "-d", slot_db.split("?")[0], "--slot", SLOT, "--start",
         "-o", "proto_version=1", "-o", "publication_names=dbz_publication", "-f", "/dev/null", "-s", "1", "-F", "1"],
        env={**os.environ, "PGPASSWORD": postgres.password}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        h = Harness(slot_check(slots=[SLOT, "debezium_missing"], retained_warn="1GB"),
                    Settings(postgres_dsn=SecretStr(monitor_dsn)))
        deadline = time.monotonic() + 20
        while True:
            result = h.run()
            by_key = {f.key: f for f in result.findings}
            if by_key[f"slot/{SLOT}"].values["active"] == 1.0 or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        active = by_key[f"slot/{SLOT}"]
        assert active.status is Status.OK, (active.summary, recv.poll())
        assert active.summary.startswith(f"slot {SLOT} active, retaining ")
        missing = by_key["slot/debezium_missing"]
        assert missing.status is Status.CRITICAL and "does not exist" in missing.summary
        assert result.status is Status.CRITICAL
    finally:
        recv.terminate()
        recv.wait(10)


def test_a_slot_names_the_captured_tables_it_carries(slot_db: str, monitor_dsn: str) -> None:
    # One alert per slot, labelled with every table it carries (the status view shows it at each table's stage);
    # a missing slot is named for its tables too.
    carried = ["payments.transactions", "payments.refunds", "users.merchants", "users.api_keys"]
    h = Harness(slot_check(slots=[SLOT, "debezium_users"], slot_tables={SLOT: carried, "debezium_users": carried[2:]}),
                Settings(postgres_dsn=SecretStr(monitor_dsn)), labels={"stage": "debezium"})
    by_key = {f.key: f for f in h.run().findings}
    assert set(by_key) == {f"slot/{SLOT}", "slot/debezium_users"}  # still one finding (one alert) per slot
    assert by_key[f"slot/{SLOT}"].labels == {"slot": SLOT, "tables": ", ".join(carried)}
    assert by_key["slot/debezium_users"].labels == {"slot": "debezium_users", "tables": "users.merchants, users.api_keys"}


def test_unreachable_database_is_an_error_without_the_password() -> None:
    from sentinel.api import DictMemory
    from sentinel.clock import SystemClock
    from sentinel.config.checks_spec import CheckSpec
    from sentinel.redact import Redactor
    from sentinel.runner import CheckRunner, PlannedCheck
    from sentinel.sources import Sources

    settings = Settings(postgres_dsn=SecretStr("postgresql://debezium:slot-pw-s3cr3t@127.0.0.1:1/payments"))
    runner = CheckRunner(Sources(settings), lambda _: DictMemory(), SystemClock(), Redactor.from_settings(settings))
    spec = CheckSpec(id="slot", kind="postgres_replication_slot", timeout=timedelta(seconds=5))
    result = runner.run_one(PlannedCheck(spec, slot_check(), "debezium-replication-slot"))
    assert result.status is Status.ERROR
    assert "127.0.0.1:1/payments" in result.summary and "slot-pw-s3cr3t" not in str(result.to_json())
