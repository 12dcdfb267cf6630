"""Leader election on a real PostgreSQL: one leader at a time, a released or dead session hands over, and a leader
whose session the server ended steps down on its next round instead of carrying on as a second leader."""

from __future__ import annotations

import psycopg
import pytest

from devstack.postgres import PostgresService
from sentinel.leader import LeaderElector

pytestmark = pytest.mark.integration
KEY = 0x7E57_0001  # a key of this test only, so the HA e2e test's lock is unaffected


@pytest.fixture
def dsn(postgres: PostgresService) -> str:
    return postgres.create_database("leader_election")


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
