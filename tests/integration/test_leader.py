"""Leader election on a real PostgreSQL: one leader at a time, a released or dead session hands over, a leader
whose session the server ended steps down on its next round instead of carrying on as a second leader, a leader
that stops renewing its lease (frozen, cut off) is replaced although its session lives, and outbox rows are
claimed per term so an ended term cannot send."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import psycopg
import pytest

from devstack.postgres import PostgresService
from sentinel.leader import LeaderElector
from sentinel.store.lease import Claim
from sentinel.store.postgres import PostgresStateStore

pytestmark = pytest.mark.integration
KEY = 0x7E57_0001  # a key of this test only, so the HA e2e test's lock is unaffected


@pytest.fixture
def dsn(postgres: PostgresService) -> str:
    with psycopg.connect(postgres.dsn(), autocommit=True) as conn:
        conn.execute('DROP DATABASE IF EXISTS "leader_election" WITH (FORCE)')
    url = postgres.create_database("leader_election")
    PostgresStateStore(url).close()  # the lease and outbox tables
    return url


def outbox_row(dsn: str) -> int:
    store = PostgresStateStore(dsn)
    try:
        now = datetime.now(UTC)
        assert store.outbox_add("slack", "k1", f"dedup-{now.timestamp()}", "fired", {"title": "t"}, now)
        return store.outbox_pending()[-1].seq
    finally:
        store.close()


def holders(postgres: PostgresService) -> int:
    with psycopg.connect(postgres.dsn(), autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = %s AND granted",
                           (KEY & 0xFFFFFFFF,)).fetchone()
        return int(row[0]) if row else 0


def test_one_leader_and_a_clean_handover(dsn: str, postgres: PostgresService) -> None:
    changes: list[tuple[str, bool]] = []
    a = LeaderElector(dsn, key=KEY, name="a", on_change=lambda leader: changes.append(("a", leader)))
    b = LeaderElector(dsn, key=KEY, name="b", on_change=lambda leader: changes.append(("b", leader)))
    try:
        assert a.step() is True and b.step() is False and b.step() is False
        assert (a.role, b.role) == ("leader", "follower") and holders(postgres) == 1
        assert a.step() is True  # a leader's round keeps the lock
        a.stop()  # graceful shutdown releases the lock at once
        assert b.step() is True and a.role == "follower"
        assert changes == [("a", True), ("a", False), ("b", True)]
    finally:
        a.stop()
        b.stop()
    assert holders(postgres) == 0


def test_a_leader_whose_session_died_steps_down_and_the_follower_takes_over(dsn: str, postgres: PostgresService) -> None:
    a = LeaderElector(dsn, key=KEY, name="victim")
    b = LeaderElector(dsn, key=KEY, name="standby")
    try:
        assert a.step() and not b.step()
        with psycopg.connect(postgres.dsn(), autocommit=True) as admin:  # the server ends the leader's session
            admin.execute("SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE application_name ="
                          " 'sentinel-leader victim'")
        assert b.step() is True  # the lock went with the session
        assert a.is_leader  # a has not looked yet ...
        assert a.confirm() is False and a.role == "follower"  # ... but checks before sending, and steps down
        assert a.last_error  # the exception type, for the log
        assert a.step() is False  # and stays a follower while b holds the lock
    finally:
        a.stop()
        b.stop()


def test_an_unreachable_database_means_follower_not_crash(postgres: PostgresService) -> None:
    dead = f"postgresql://postgres:{postgres.password}@127.0.0.1:1/none?connect_timeout=2"
    elector = LeaderElector(dead, key=KEY)
    assert elector.step() is False and elector.role == "follower" and elector.last_error
    assert postgres.password not in elector.last_error


def test_the_lock_session_bounds_statements_and_detects_a_dead_peer(dsn: str) -> None:
    a = LeaderElector(dsn, key=KEY, name="settings")
    try:
        assert a.step()
        conn = a._conn  # the lock session itself: these settings are what keeps a vanished host from holding it
        settings = {name: conn.execute(f"SHOW {name}").fetchone()[0] for name in
                    ("statement_timeout", "tcp_keepalives_idle", "tcp_keepalives_interval", "tcp_keepalives_count")}
        assert settings == {"statement_timeout": "5s", "tcp_keepalives_idle": "5", "tcp_keepalives_interval": "2",
                            "tcp_keepalives_count": "3"}
    finally:
        a.stop()


def test_a_leader_that_stops_renewing_is_replaced_although_its_session_lives(dsn: str, postgres: PostgresService) -> None:
    # a "frozen" leader: it took the lead, then its loop never runs again (its session stays open, like SIGSTOP)
    a = LeaderElector(dsn, key=KEY, name="frozen", lease_seconds=2.0)
    b = LeaderElector(dsn, key=KEY, name="standby", lease_seconds=2.0)
    try:
        assert a.step() and a.epoch >= 1
        assert b.step() is False  # the lease is fresh: the lock holder is alive as far as anyone can tell
        assert a.is_leader
        time.sleep(1.2)
        assert not a.is_leader  # it fenced itself: its own deadline (lease - 1 s margin) passed without renewal ...
        assert b.step() is False  # ... a second before the server-side lease ends
        time.sleep(1.0)
        assert b.step() is True and b.takeovers == 1  # b ended the frozen session and took the lock
        assert b.epoch == a.epoch + 1
        assert holders(postgres) == 1
        assert a.step() is False and a.role == "follower"  # a wakes up: its session is gone, it does not lead
    finally:
        a.stop()
        b.stop()


def test_outbox_rows_are_claimed_per_term_and_an_ended_term_cannot_send(dsn: str, postgres: PostgresService) -> None:
    seq = outbox_row(dsn)
    a = LeaderElector(dsn, key=KEY, name="old", claim_stale_seconds=1.0)
    b = LeaderElector(dsn, key=KEY, name="new", claim_stale_seconds=1.0)
    try:
        assert a.step()
        assert a.claim(seq) is Claim.CLAIMED  # about to send it ...
        assert b.claim(seq) is Claim.FENCED  # a follower never may
        with psycopg.connect(postgres.dsn(), autocommit=True) as admin:  # ... when its lock session is lost
            admin.execute("SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE application_name ="
                          " 'sentinel-leader old'")
        assert b.step() is True and b.epoch == a.epoch + 1
        assert a.claim(seq) is Claim.FENCED and a.role == "follower"  # the old term stops at once
        assert b.claim(seq) is Claim.BUSY  # the old term may still be sending it: the new one waits ...
        time.sleep(1.2)
        assert b.claim(seq) is Claim.CLAIMED  # ... until that claim is stale, then sends it itself
        with psycopg.connect(dsn, autocommit=True) as conn:
            row = conn.execute("SELECT claim_epoch FROM outbox WHERE seq = %s", (seq,)).fetchone()
        assert row is not None and row[0] == b.epoch
    finally:
        a.stop()
        b.stop()


def test_a_graceful_stop_ends_the_lease_so_the_follower_need_not_end_a_session(dsn: str) -> None:
    a = LeaderElector(dsn, key=KEY, name="leaving")
    b = LeaderElector(dsn, key=KEY, name="staying")
    try:
        assert a.step()
        a.stop()
        assert b.step() is True and b.takeovers == 0
    finally:
        a.stop()
        b.stop()
